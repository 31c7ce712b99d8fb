/* SPDX-License-Identifier: MIT */
/* The client-side rate limiter: burst then rate, the fair per-caller queue
 * (a newcomer is served next, a caller just served waits its turn), the
 * per-caller bound, withdrawal, a rate changed under waiting requests.
 * Runs a real event loop at high rates, so it takes a fraction of a second.
 * Then the adaptive retry mode's send rate (ratelimit-adaptive.c) against
 * botocore's own numbers (adaptive-botocore.h, made by
 * adaptive-botocore.py from botocore's ClientRateLimiter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "monotime.h"
#include "ratelimit-adaptive.h"
#include "ratelimit.h"

#define KEY        "111122223333/us-east-1/CancelKeyDeletion"
#define MAX_GRANTS 64

struct recorder {
	struct ratelimit *rl;
	double rate;
	uid_t order[MAX_GRANTS];
	int64_t at_us[MAX_GRANTS];
	size_t n;
	/* a caller that comes with one request after grant #join_after,
	 * and comes back right after being served, rejoin times */
	size_t join_after;
	uid_t joiner;
	unsigned rejoin;
};

struct ticket {
	struct recorder *rec;
	uid_t uid;
};

static int64_t now_us(void)
{
	return (int64_t)monotime_usec();
}

static void enqueue(struct recorder *rec, uid_t uid);

static void granted(void *userdata)
{
	struct ticket *t = userdata;
	struct recorder *rec = t->rec;

	assert_true(rec->n < MAX_GRANTS);
	rec->at_us[rec->n] = now_us();
	rec->order[rec->n++] = t->uid;
	if (rec->joiner && rec->n == rec->join_after)
		enqueue(rec, rec->joiner);
	else if (rec->joiner && t->uid == rec->joiner && rec->rejoin > 0) {
		rec->rejoin--;
		enqueue(rec, rec->joiner);
	}
	free(t);
}

static void enqueue(struct recorder *rec, uid_t uid)
{
	struct ticket *t = calloc(1, sizeof(*t));
	struct ratelimit_wait *w = NULL;

	assert_non_null(t);
	t->rec = rec;
	t->uid = uid;
	assert_int_equal(ratelimit_acquire(rec->rl, KEY, rec->rate, uid, granted, t, &w), 0);
	assert_non_null(w);
}

/* Uses up the burst, so that what follows has to wait. */
static void drain_burst(struct recorder *rec)
{
	struct ratelimit_wait *w;
	int r;

	while ((r = ratelimit_acquire(rec->rl, KEY, rec->rate, 0, granted, NULL, &w)) == 1)
		assert_null(w);
	assert_int_equal(r, 0);
	ratelimit_wait_cancel(w);
}

static void test_burst_then_rate(void **state)
{
	struct event_base *base = event_base_new();
	struct recorder rec = {.rl = ratelimit_new(base, 100), .rate = 200};
	struct ratelimit_wait *w;
	struct ratelimit_stats st;
	int64_t t0;

	/* 200/s: a burst of RATELIMIT_BURST_MS worth, 20 tokens. */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(ratelimit_acquire(rec.rl, KEY, rec.rate, 1, granted, NULL, &w), 1);
		assert_null(w);
	}
	t0 = now_us();
	for (int i = 0; i < 10; i++)
		enqueue(&rec, 1);
	event_base_dispatch(base);
	assert_int_equal(rec.n, 10);
	/* 10 tokens at 200/s: 50 ms, one every 5 ms. */
	assert_true(rec.at_us[9] - t0 >= 45000);
	assert_true(rec.at_us[9] - t0 < 500000);
	assert_true(rec.at_us[0] - t0 >= 4000);
	ratelimit_get_stats(rec.rl, &st);
	assert_int_equal(st.granted_at_once, 20);
	assert_int_equal(st.granted_queued, 10);
	assert_int_equal(st.waiting, 0);
	assert_int_equal(st.buckets, 1);
	ratelimit_free(rec.rl);
	event_base_free(base);
}

/* Two callers with batches, a third with a single request arriving after
 * two grants: the single one is served next; served, it comes back at
 * once and must then wait its turn behind the batches. */
static void test_fair_queue(void **state)
{
	struct event_base *base = event_base_new();
	struct recorder rec = {
	    .rl = ratelimit_new(base, 100),
	    .rate = 500,
	    .join_after = 2,
	    .joiner = 3,
	    .rejoin = 1,
	};
	static const uid_t expected[] = {1, 2, 3, 1, 2, 3, 1, 2, 1, 2, 1, 2};

	drain_burst(&rec);
	for (int i = 0; i < 5; i++)
		enqueue(&rec, 1);
	for (int i = 0; i < 5; i++)
		enqueue(&rec, 2);
	event_base_dispatch(base);
	assert_int_equal(rec.n, sizeof(expected) / sizeof(expected[0]));
	for (size_t i = 0; i < rec.n; i++)
		assert_int_equal(rec.order[i], expected[i]);
	ratelimit_free(rec.rl);
	event_base_free(base);
}

static void test_bound_per_caller(void **state)
{
	struct event_base *base = event_base_new();
	struct recorder rec = {.rl = ratelimit_new(base, 3), .rate = 1000};
	struct ratelimit_wait *w = NULL;
	struct ratelimit_stats st;

	drain_burst(&rec);
	for (int i = 0; i < 3; i++)
		enqueue(&rec, 1);
	assert_int_equal(ratelimit_acquire(rec.rl, KEY, rec.rate, 1, granted, NULL, &w), -EBUSY);
	/* Another caller still gets in line. */
	enqueue(&rec, 2);
	assert_int_equal(ratelimit_acquire(rec.rl, KEY, 0, 1, granted, NULL, &w), -EINVAL);
	ratelimit_get_stats(rec.rl, &st);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(st.waiting, 4);
	event_base_dispatch(base);
	assert_int_equal(rec.n, 4);
	assert_int_equal(rec.order[0], 1);
	assert_int_equal(rec.order[1], 2);
	ratelimit_free(rec.rl);
	event_base_free(base);
}

static void test_withdraw(void **state)
{
	struct event_base *base = event_base_new();
	/* 50/s: a token every 20 ms, so that under valgrind none comes back
	 * between draining the burst and the requests that must wait. */
	struct recorder rec = {.rl = ratelimit_new(base, 10), .rate = 50};
	struct ratelimit_wait *w1 = NULL, *w2 = NULL;
	struct ticket *t1 = calloc(1, sizeof(*t1)), *t2 = calloc(1, sizeof(*t2));

	drain_burst(&rec);
	t1->rec = t2->rec = &rec;
	t1->uid = 1;
	t2->uid = 2;
	assert_int_equal(ratelimit_acquire(rec.rl, KEY, rec.rate, 1, granted, t1, &w1), 0);
	assert_int_equal(ratelimit_acquire(rec.rl, KEY, rec.rate, 2, granted, t2, &w2), 0);
	ratelimit_wait_cancel(w1);
	free(t1);
	event_base_dispatch(base);
	assert_int_equal(rec.n, 1);
	assert_int_equal(rec.order[0], 2);

	/* Withdrawing the last waiter stops the timer: the loop ends. */
	drain_burst(&rec);
	t1 = calloc(1, sizeof(*t1));
	assert_int_equal(ratelimit_acquire(rec.rl, KEY, rec.rate, 1, granted, t1, &w1), 0);
	ratelimit_wait_cancel(w1);
	free(t1);
	event_base_dispatch(base);
	assert_int_equal(rec.n, 1);
	/* Freeing with waiters drops them without callbacks. */
	drain_burst(&rec);
	t1 = calloc(1, sizeof(*t1));
	assert_int_equal(ratelimit_acquire(rec.rl, KEY, rec.rate, 1, granted, t1, &w1), 0);
	ratelimit_free(rec.rl);
	free(t1);
	assert_null(ratelimit_free(NULL));
	event_base_free(base);
}

/* A caller naming a new key (region) at every request: buckets used once
 * are not full again for a while, yet their number stays bounded. */
static void test_buckets_bounded(void **state)
{
	struct event_base *base = event_base_new();
	struct ratelimit *rl = ratelimit_new(base, 10);
	struct ratelimit_wait *w;
	struct ratelimit_stats st;
	char key[64];

	for (int i = 0; i < 3 * RATELIMIT_MAX_BUCKETS; i++) {
		snprintf(key, sizeof(key), "111122223333/xx-spray-%d/CancelKeyDeletion", i);
		/* 1/s: a burst of one token, gone for a second once taken. */
		assert_int_equal(ratelimit_acquire(rl, key, 1, 1, granted, NULL, &w), 1);
	}
	ratelimit_get_stats(rl, &st);
	assert_true(st.buckets <= RATELIMIT_MAX_BUCKETS);
	ratelimit_free(rl);
	event_base_free(base);
}

/* A longer burst (the adaptive bucket's second's worth), and a rate
 * changed while requests wait: they are served at the new rate at once,
 * not when the next request comes. */
static void test_burst_and_set_rate(void **state)
{
	struct event_base *base = event_base_new();
	struct recorder rec = {.rl = ratelimit_new(base, 100), .rate = 2};
	struct ratelimit_wait *w;
	int64_t t0;
	int n = 0;

	/* 20/s with a second's burst: 20 at once; at 2/s, 2. */
	while (ratelimit_acquire_burst(rec.rl, "a", 20, 1.0, 1, granted, NULL, &w) == 1)
		n++;
	assert_int_equal(n, 20);
	ratelimit_wait_cancel(w);
	n = 0;
	while (ratelimit_acquire_burst(rec.rl, "b", 2, 1.0, 1, granted, NULL, &w) == 1)
		n++;
	assert_int_equal(n, 2);
	ratelimit_wait_cancel(w);
	assert_int_equal(ratelimit_acquire_burst(rec.rl, "b", 2, 0, 1, granted, NULL, &w), -EINVAL);

	/* Five wait in "b" at 2/s (2.5 s); raised to 500/s they are all
	 * served within a few milliseconds. */
	t0 = now_us();
	for (int i = 0; i < 5; i++) {
		struct ticket *t = calloc(1, sizeof(*t));

		assert_non_null(t);
		t->rec = &rec;
		t->uid = 1;
		assert_int_equal(ratelimit_acquire_burst(rec.rl, "b", 2, 1.0, 1, granted, t, &w), 0);
	}
	assert_int_equal(ratelimit_set_rate(rec.rl, "b", 500, 1.0), 0);
	assert_int_equal(ratelimit_set_rate(rec.rl, "nothing", 500, 1.0), -ENOENT);
	assert_int_equal(ratelimit_set_rate(rec.rl, "b", 0, 1.0), -EINVAL);
	event_base_dispatch(base);
	assert_int_equal(rec.n, 5);
	assert_true(rec.at_us[4] - t0 < 400000);
	ratelimit_free(rec.rl);
	event_base_free(base);
}

/* ---- the adaptive mode's send rate ------------------------------------------ */

struct botocore_step {
	double t;
	int throttled;
	double fill_rate, measured;
	int enabled;
};

static const struct botocore_step botocore_steps[] = {
#include "adaptive-botocore.h"
};

static void assert_close(double got, double want, size_t step)
{
	if (fabs(got - want) > 1e-9 * (fabs(want) > 1 ? fabs(want) : 1))
		fail_msg("step %zu: %.17g, botocore %.17g", step, got, want);
}

/* Every answer of the script moves the rate exactly as botocore's limiter
 * does: off until the first throttle, cut to 0.7 × the measured rate, back
 * along the CUBIC curve, capped at twice the measured rate, never below
 * 0.5/s. */
static void test_adaptive_matches_botocore(void **state)
{
	struct adaptive_rate a;
	size_t n = sizeof(botocore_steps) / sizeof(botocore_steps[0]);

	assert_true(n > 100);
	adaptive_rate_init(&a, 1000.0);
	for (size_t i = 0; i < n; i++) {
		const struct botocore_step *s = &botocore_steps[i];

		adaptive_rate_update(&a, s->t, s->throttled);
		assert_int_equal(a.enabled, s->enabled);
		assert_close(a.measured, s->measured, i);
		assert_close(a.fill_rate, s->fill_rate, i);
	}
}

/* The shape, in numbers one can check by hand: at 20 answers/s a throttle
 * cuts the rate to 14/s; the curve is back at 20/s after K = ∛(20 × 0.3 /
 * 0.4) ≈ 2.47 s and grows past it after; a throttle while paced counts from
 * the rate in force, not the (higher) measured one. */
static void test_adaptive_slows_and_recovers(void **state)
{
	struct adaptive_rate a;
	double t = 100.0, k;

	adaptive_rate_init(&a, t);
	for (int i = 1; i <= 60; i++)
		adaptive_rate_update(&a, t + i * 0.05, false);
	t += 3.0;
	assert_false(a.enabled);
	assert_true(fabs(a.measured - 20) < 0.01);
	adaptive_rate_update(&a, t, true);
	assert_true(a.enabled);
	assert_true(fabs(a.fill_rate - 0.7 * a.w_max) < 1e-9);
	assert_true(fabs(a.w_max - a.measured) < 1e-9);
	k = cbrt(a.w_max * 0.3 / 0.4);
	assert_true(fabs(a.k - k) < 1e-9);
	assert_true(fabs(adaptive_rate_curve(&a, t + k) - a.w_max) < 1e-9);
	assert_true(adaptive_rate_curve(&a, t + k / 2) < a.w_max);
	assert_true(adaptive_rate_curve(&a, t + k + 1) > a.w_max);
	/* paced at fill_rate < measured: the next throttle starts from it */
	{
		double paced = a.fill_rate;

		adaptive_rate_update(&a, t + 0.01, true);
		assert_true(fabs(a.w_max - paced) < 1e-9);
		assert_true(fabs(a.fill_rate - 0.7 * paced) < 1e-9);
	}
	/* throttled without answers to measure: the floor */
	adaptive_rate_init(&a, 200.0);
	adaptive_rate_update(&a, 200.1, true);
	assert_true(a.enabled);
	assert_true(a.fill_rate == ADAPTIVE_MIN_RATE);
}

/* The constants are botocore's (retries/adaptive.py, throttling.py,
 * bucket.py). */
static void test_adaptive_constants(void **state)
{
	assert_true(ADAPTIVE_MIN_RATE == 0.5);
	assert_true(ADAPTIVE_BETA == 0.7);
	assert_true(ADAPTIVE_SCALE == 0.4);
	assert_true(ADAPTIVE_SMOOTHING == 0.8);
	assert_true(ADAPTIVE_TIME_BUCKET == 0.5);
	assert_true(ADAPTIVE_MAX_RATE_SCALE == 2.0);
	assert_true(ADAPTIVE_BURST_SEC == 1.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_rate),           cmocka_unit_test(test_fair_queue),
	    cmocka_unit_test(test_bound_per_caller),          cmocka_unit_test(test_withdraw),
	    cmocka_unit_test(test_buckets_bounded),           cmocka_unit_test(test_burst_and_set_rate),
	    cmocka_unit_test(test_adaptive_matches_botocore), cmocka_unit_test(test_adaptive_slows_and_recovers),
	    cmocka_unit_test(test_adaptive_constants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
