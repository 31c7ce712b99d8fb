/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "kms-retry.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "http.h"
#include "kms.h"
#include "monotime.h"

uint64_t kms_backoff_ceiling_ms(enum aws_retry_mode mode, unsigned base_ms, unsigned retry)
{
	uint64_t ceiling = (uint64_t)base_ms << (retry > 16 ? 16 : retry - 1);

	if (mode == AWS_RETRY_MODE_LEGACY)
		return ceiling;
	return ceiling > KMS_MAX_BACKOFF_MS ? KMS_MAX_BACKOFF_MS : ceiling;
}

unsigned kms_backoff_ms(enum aws_retry_mode mode, unsigned base_ms, unsigned retry, uint32_t rnd)
{
	uint64_t ms = (uint64_t)rnd * kms_backoff_ceiling_ms(mode, base_ms, retry) >> 32;

	return ms > UINT_MAX ? UINT_MAX : (unsigned)ms;
}

bool kms_legacy_retryable(const char *code, int status)
{
	static const char *const throttling_400[] = {
	    "Throttling",
	    "ThrottlingException",
	    "ThrottledException",
	    "RequestThrottledException",
	    "ProvisionedThroughputExceededException",
	};

	switch (status) {
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
	case 509:
		return true;
	case 400:
		for (size_t i = 0; code && i < sizeof(throttling_400) / sizeof(*throttling_400); i++)
			if (strcmp(code, throttling_400[i]) == 0)
				return true;
		return false;
	default:
		return false;
	}
}

void kms_retry_quota_credit(unsigned *tokens, unsigned attempts, unsigned last_retry_cost)
{
	*tokens += attempts > 1 ? last_retry_cost : KMS_RETRY_QUOTA_SUCCESS_BONUS;
	if (*tokens > KMS_RETRY_QUOTA_CAPACITY)
		*tokens = KMS_RETRY_QUOTA_CAPACITY;
}

/*
 * Retrying after a timeout is safe for every operation here:
 * CancelKeyDeletion, EnableKey and DescribeKey are idempotent (a repeat
 * leaves the key as the first left it), and a repeat that finds its own
 * earlier effect (KMSInvalidStateException after a cancel that went
 * through) is resolved by the caller with DescribeKey, thanks to
 * response_lost.
 */
unsigned kms_attempt_timeout_ms(enum aws_retry_mode mode, unsigned timeout_ms, unsigned attempts, unsigned max_attempts,
				unsigned tokens, unsigned base_ms, long left)
{
	if (!timeout_ms || attempts >= max_attempts)
		return 0;
	if (kms_retry_quota_used(mode) && tokens < KMS_RETRY_COST_TIMEOUT)
		return 0;
	if ((uint64_t)timeout_ms + kms_backoff_ceiling_ms(mode, base_ms, attempts) >= (uint64_t)left)
		return 0;
	return timeout_ms;
}

/* AWS's clock, from the RFC 1123 Date header; -1 if absent or unusable. */
static time_t response_date(const struct http_response *resp)
{
	const char *date = http_response_header(resp, "date");
	struct tm tm = { 0 };
	const char *end;

	if (!date)
		return -1;
	end = strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	return timegm(&tm);
}

bool kms_clock_skew(const struct http_response *resp, time_t now, long offset, long *ret_offset)
{
	time_t server = response_date(resp);
	long skew;

	if (server < 0)
		return false;
	skew = (long)(server - now);
	if (labs(skew - offset) < KMS_CLOCK_SKEW_MIN_SEC)
		return false;
	*ret_offset = skew;
	return true;
}

static time_t real_now_wall(void *ctx)
{
	(void)ctx;
	return time(NULL);
}

static uint64_t real_now_mono_ms(void *ctx)
{
	(void)ctx;
	return monotime_msec();
}

static uint32_t real_random(void *ctx)
{
	uint32_t rnd;

	(void)ctx;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)rand();
	return rnd;
}

const struct kms_clock kms_clock_real = {
	.now_wall = real_now_wall,
	.now_mono_ms = real_now_mono_ms,
	.random = real_random,
};
