/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The adaptive retry mode's client-side send rate (AWS_RETRY_MODE=adaptive),
 * computed as the AWS SDKs compute it (botocore retries/adaptive.py,
 * throttling.py, bucket.py; AWS SDK reference "Retry behavior"):
 *
 *   - off until the first throttling answer: until then requests go out
 *     as fast as the rest of the daemon lets them;
 *   - the send rate is measured from the answers: a count per half second,
 *     exponentially smoothed (0.8 new, 0.2 old), updated when an answer
 *     falls in a later half second than the last update;
 *   - a throttling answer cuts the rate to BETA (0.7) × the measured rate
 *     (or the rate in force, if lower) and starts a CUBIC curve there;
 *   - every other answer (success, other errors, transport failures) moves
 *     the rate along the curve SCALE × (t − K)³ + W_max, where W_max is the
 *     rate throttled at, t the time since, and K = ∛(W_max × (1 − BETA) /
 *     SCALE) the point where the curve gets back to W_max;
 *   - the rate in force is never above twice the measured rate nor below
 *     ADAPTIVE_MIN_RATE; requests take one token each of a bucket filled
 *     at that rate, holding at most one second's worth (at least one).
 *
 * Pure arithmetic over times in seconds given by the caller.  kms.c keeps
 * one per endpoint and account (the scope of one SDK client) and makes every
 * attempt there wait for a token at this rate besides its RateLimit= token
 * (ratelimit.h): a request waits for both.
 */
#include <stdbool.h>

#define ADAPTIVE_MIN_RATE       0.5 /* tokens per second, botocore TokenBucket._MIN_RATE */
#define ADAPTIVE_BETA           0.7 /* CubicCalculator._BETA */
#define ADAPTIVE_SCALE          0.4 /* CubicCalculator._SCALE_CONSTANT */
#define ADAPTIVE_SMOOTHING      0.8 /* RateClocker._DEFAULT_SMOOTHING */
#define ADAPTIVE_TIME_BUCKET    0.5 /* RateClocker._TIME_BUCKET_RANGE, seconds */
#define ADAPTIVE_MAX_RATE_SCALE 2.0 /* ClientRateLimiter._MAX_RATE_ADJUST_SCALE */
#define ADAPTIVE_BURST_SEC      1.0 /* the bucket holds max(rate, 1) tokens */

struct adaptive_rate {
	bool enabled;     /* a throttling answer was seen: requests wait for tokens */
	double fill_rate; /* tokens per second in force, >= ADAPTIVE_MIN_RATE */
	/* the CUBIC curve */
	double w_max;     /* the rate throttled at */
	double k;         /* seconds from last_fail back to w_max */
	double last_fail; /* when the last throttling answer came */
	/* the measured rate */
	double measured;    /* answers per second, smoothed */
	double last_bucket; /* start of the half second last counted */
	unsigned long count;
};

/* A fresh state at time now (seconds): disabled, as an SDK client starts. */
void adaptive_rate_init(struct adaptive_rate *a, double now);

/* One answer at time now: throttled if it was a throttling error.  Updates
 * the measured rate, the curve and fill_rate (botocore's
 * ClientRateLimiter.on_receiving_response). */
void adaptive_rate_update(struct adaptive_rate *a, double now, bool throttled);

/* The rate the curve gives at time now, before the caps (what the next
 * non-throttling answer would set, bar the 2 × measured cap). */
double adaptive_rate_curve(const struct adaptive_rate *a, double now);
