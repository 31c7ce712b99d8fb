/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The arithmetic of the standard retry mode (AWS.md §3.2) and of clock-skew
 * correction (§3.4), apart from the calls they apply to: full-jitter
 * backoff, the retry quota's credit, the attempt timeout an attempt gets,
 * and the offset learned from AWS's Date.  Pure functions of their
 * arguments; the clocks and the randomness come from struct kms_clock.
 */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "kms-transport.h"

struct http_response;

/* Below this, an InvalidSignatureException is a bad signature, not our clock
 * (Java v2 uses the same threshold, AWS.md §3.4). */
#define KMS_CLOCK_SKEW_MIN_SEC (4 * 60)

/* The longest backoff before retry number retry (1 for the first):
 * min(base × 2^(retry-1), KMS_MAX_BACKOFF_MS). */
uint64_t kms_backoff_ceiling_ms(unsigned base_ms, unsigned retry);
/* Full jitter: rnd / 2^32 × the ceiling, rnd uniform over 32 bits. */
unsigned kms_backoff_ms(unsigned base_ms, unsigned retry, uint32_t rnd);

/* A 2xx answer's credit to the retry quota *tokens: the last retry's cost
 * back if the call was retried (attempts > 1), else
 * KMS_RETRY_QUOTA_SUCCESS_BONUS; never above KMS_RETRY_QUOTA_CAPACITY. */
void kms_retry_quota_credit(unsigned *tokens, unsigned attempts, unsigned last_retry_cost);

/* The attempt timeout for attempt number attempts (just counted), left ms
 * before the call's deadline: timeout_ms if a retry could follow it (an
 * attempt left, the quota's timeout cost available, and the timeout plus the
 * longest backoff within the deadline), else 0: cutting short an attempt
 * nothing can follow would only turn a late answer into none. */
unsigned kms_attempt_timeout_ms(unsigned timeout_ms, unsigned attempts, unsigned max_attempts, unsigned tokens,
				unsigned base_ms, long left);

/* After a skew-class error: AWS's clock from resp's Date, minus now.
 * Returns true with *ret_offset when that differs from offset (the one in
 * use) by KMS_CLOCK_SKEW_MIN_SEC or more; false when there is no usable
 * Date or the clock in use is close enough (then the error is a plain bad
 * signature). */
bool kms_clock_skew(const struct http_response *resp, time_t now, long offset, long *ret_offset);
