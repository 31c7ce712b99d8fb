/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "ratelimit-adaptive.h"

#include <math.h>

void adaptive_rate_init(struct adaptive_rate *a, double now)
{
	*a = (struct adaptive_rate){
	    .fill_rate = 1.0, /* TokenBucket(max_rate=1) */
	    .last_fail = now,
	    .last_bucket = floor(now),
	};
}

/* Counts one answer and returns the smoothed rate (RateClocker.record):
 * the count so far is turned into a rate once an answer falls in a later
 * half second, over the time since the last such update. */
static double measure(struct adaptive_rate *a, double now)
{
	double bucket = floor(now / ADAPTIVE_TIME_BUCKET) * ADAPTIVE_TIME_BUCKET;

	a->count++;
	if (bucket > a->last_bucket) {
		double current = (double)a->count / (bucket - a->last_bucket);

		a->measured = current * ADAPTIVE_SMOOTHING + a->measured * (1 - ADAPTIVE_SMOOTHING);
		a->count = 0;
		a->last_bucket = bucket;
	}
	return a->measured;
}

double adaptive_rate_curve(const struct adaptive_rate *a, double now)
{
	double x = now - a->last_fail - a->k;

	return ADAPTIVE_SCALE * x * x * x + a->w_max;
}

/* CubicCalculator.error_received: a new W_max where we were throttled. */
static double throttled_at(struct adaptive_rate *a, double rate, double now)
{
	a->w_max = rate;
	a->k = cbrt(rate * (1 - ADAPTIVE_BETA) / ADAPTIVE_SCALE);
	a->last_fail = now;
	return rate * ADAPTIVE_BETA;
}

void adaptive_rate_update(struct adaptive_rate *a, double now, bool throttled)
{
	double measured = measure(a, now);
	double rate;

	if (!throttled) {
		rate = adaptive_rate_curve(a, now);
	} else {
		rate = throttled_at(a, a->enabled && a->fill_rate < measured ? a->fill_rate : measured, now);
		a->enabled = true;
	}
	if (rate > ADAPTIVE_MAX_RATE_SCALE * measured)
		rate = ADAPTIVE_MAX_RATE_SCALE * measured;
	a->fill_rate = rate > ADAPTIVE_MIN_RATE ? rate : ADAPTIVE_MIN_RATE;
}
