/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The arithmetic of the retry modes (AWS.md §3.2) and of clock-skew
 * correction (§3.4), apart from the calls they apply to: full-jitter
 * backoff, the retry quota's credit, the attempt timeout an attempt gets,
 * what the legacy mode retries, and the offset learned from AWS's Date.
 * Pure functions of their arguments; the clocks and the randomness come
 * from struct kms_clock.
 *
 * The modes, as botocore 1.43 runs them (AWS_RETRY_MODE / retry_mode):
 *   standard  retries transient, throttling and modeled-retryable errors
 *             (kms-error.h), 3 attempts by default, backoff
 *             rand × min(base × 2^(i-1), 20 s), a retry quota per endpoint.
 *   adaptive  standard, plus a client-side send rate that slows on
 *             throttling (ratelimit-adaptive.h).
 *   legacy    botocore's _retry.json: 5 attempts by default, backoff
 *             rand × base × 2^(i-1) without a cap, no retry quota, and only
 *             HTTP 429, 500, 502, 503, 504, 509, the throttling codes of
 *             kms_legacy_retryable with HTTP 400, and connection failures.
 * In every mode the daemon's own rules stay: clock skew is corrected and
 * the attempt repeated, a TLS verification failure is never retried, an
 * answer lost or garbled is retried (and resolved with DescribeKey), and
 * the call's deadline bounds everything.
 */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "aws-settings.h"
#include "kms-transport.h"

struct http_response;

/* Below this, an InvalidSignatureException is a bad signature, not our clock
 * (Java v2 uses the same threshold, AWS.md §3.4). */
#define KMS_CLOCK_SKEW_MIN_SEC (4 * 60)

/* The longest backoff before retry number retry (1 for the first):
 * min(base × 2^(retry-1), KMS_MAX_BACKOFF_MS); in legacy mode without the
 * cap (but at most base × 2^16, past any deadline). */
uint64_t kms_backoff_ceiling_ms(enum aws_retry_mode mode, unsigned base_ms, unsigned retry);
/* Full jitter: rnd / 2^32 × the ceiling, rnd uniform over 32 bits. */
unsigned kms_backoff_ms(enum aws_retry_mode mode, unsigned base_ms, unsigned retry, uint32_t rnd);

/* Whether mode keeps a retry quota (standard and adaptive do, legacy not). */
static inline bool kms_retry_quota_used(enum aws_retry_mode mode)
{
	return mode != AWS_RETRY_MODE_LEGACY;
}

/* Whether the legacy mode retries an error answer: botocore's _retry.json
 * __default__ policies (KMS has no entry of its own), HTTP 429, 500, 502,
 * 503, 504, 509, or HTTP 400 with Throttling, ThrottlingException,
 * ThrottledException, RequestThrottledException or
 * ProvisionedThroughputExceededException. */
bool kms_legacy_retryable(const char *code, int status);

/* A 2xx answer's credit to the retry quota *tokens: the last retry's cost
 * back if the call was retried (attempts > 1), else
 * KMS_RETRY_QUOTA_SUCCESS_BONUS; never above KMS_RETRY_QUOTA_CAPACITY. */
void kms_retry_quota_credit(unsigned *tokens, unsigned attempts, unsigned last_retry_cost);

/* The attempt timeout for attempt number attempts (just counted), left ms
 * before the call's deadline: timeout_ms if a retry could follow it (an
 * attempt left, the quota's timeout cost available (in modes with a quota),
 * and the timeout plus the
 * longest backoff within the deadline), else 0: cutting short an attempt
 * nothing can follow would only turn a late answer into none. */
unsigned kms_attempt_timeout_ms(enum aws_retry_mode mode, unsigned timeout_ms, unsigned attempts, unsigned max_attempts,
				unsigned tokens, unsigned base_ms, long left);

/* After a skew-class error: AWS's clock from resp's Date, minus now.
 * Returns true with *ret_offset when that differs from offset (the one in
 * use) by KMS_CLOCK_SKEW_MIN_SEC or more; false when there is no usable
 * Date or the clock in use is close enough (then the error is a plain bad
 * signature). */
bool kms_clock_skew(const struct http_response *resp, time_t now, long offset, long *ret_offset);
