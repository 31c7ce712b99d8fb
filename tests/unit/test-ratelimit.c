/* SPDX-License-Identifier: MIT */
/* The client-side rate limiter: burst then rate, the fair per-caller queue
 * (a newcomer is served next, a caller just served waits its turn), the
 * per-caller bound, withdrawal.  Runs a real event loop at high rates, so it
 * takes a fraction of a second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "monotime.h"
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
	struct recorder rec = {.rl = ratelimit_new(base, 10), .rate = 1000};
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_rate),
	    cmocka_unit_test(test_fair_queue),
	    cmocka_unit_test(test_bound_per_caller),
	    cmocka_unit_test(test_withdraw),
	    cmocka_unit_test(test_buckets_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
