/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "ratelimit.h"

#include <assert.h>
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "log.h"
#include "monotime.h"

struct ratelimit_wait {
	struct rl_flow *flow;
	ratelimit_fn fn;
	void *userdata;
	TAILQ_ENTRY(ratelimit_wait) link;
};

/* One caller's requests in one bucket.  A flow with nothing waiting is kept
 * a while (idle) so that a caller who was just served is not mistaken for a
 * newcomer and put ahead of everyone again. */
struct rl_flow {
	struct rl_bucket *bucket;
	uid_t uid;
	TAILQ_HEAD(, ratelimit_wait) waits;
	unsigned n_waits;
	uint64_t last_grant; /* bucket->grants when last served; 0: never */
	bool active;         /* in the rotation (has waits) */
	bool fresh;          /* active and not yet served since it arrived */
	TAILQ_ENTRY(rl_flow) rotation;
	LIST_ENTRY(rl_flow) link;
};

struct rl_bucket {
	struct ratelimit *rl;
	char *key;
	double rate;      /* tokens per second */
	double burst_sec; /* capacity in seconds' worth of tokens */
	double capacity;  /* burst: rate × burst_sec, at least 1 */
	double tokens;
	int64_t refilled_us; /* CLOCK_MONOTONIC */
	uint64_t grants;
	unsigned n_waiting;
	unsigned n_active; /* flows in the rotation */
	unsigned n_fresh;  /* of which fresh, all at its head */
	unsigned n_idle;
	bool dispatching;
	TAILQ_HEAD(, rl_flow) rotation;
	LIST_HEAD(, rl_flow) flows;
	struct event *timer;
	LIST_ENTRY(rl_bucket) link;
};

struct ratelimit {
	struct event_base *base;
	unsigned max_queued;
	LIST_HEAD(, rl_bucket) buckets;
	unsigned n_buckets;
	struct ratelimit_stats stats;
};

static int64_t now_us(void)
{
	return (int64_t)monotime_usec();
}

struct ratelimit *ratelimit_new(struct event_base *base, unsigned max_queued)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return NULL;
	rl->base = base;
	rl->max_queued = max_queued ? max_queued : RATELIMIT_DEFAULT_MAX_QUEUED;
	LIST_INIT(&rl->buckets);
	return rl;
}

static void flow_free(struct rl_flow *f)
{
	struct ratelimit_wait *w;

	while ((w = TAILQ_FIRST(&f->waits))) {
		TAILQ_REMOVE(&f->waits, w, link);
		free(w);
	}
	LIST_REMOVE(f, link);
	free(f);
}

static void bucket_free(struct rl_bucket *b)
{
	struct rl_flow *f;

	while ((f = LIST_FIRST(&b->flows)))
		flow_free(f);
	if (b->timer)
		event_free(b->timer);
	LIST_REMOVE(b, link);
	b->rl->n_buckets--;
	free(b->key);
	free(b);
}

struct ratelimit *ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return NULL;
	while (!LIST_EMPTY(&rl->buckets))
		bucket_free(LIST_FIRST(&rl->buckets));
	free(rl);
	return NULL;
}

static void bucket_refill(struct rl_bucket *b)
{
	int64_t now = now_us();

	b->tokens += (double)(now - b->refilled_us) * b->rate / 1e6;
	if (b->tokens > b->capacity)
		b->tokens = b->capacity;
	b->refilled_us = now;
}

static void bucket_set_rate(struct rl_bucket *b, double rate, double burst_sec)
{
	if (b->rate == rate && b->burst_sec == burst_sec)
		return;
	bucket_refill(b);
	b->rate = rate;
	b->burst_sec = burst_sec;
	b->capacity = rate * burst_sec;
	if (b->capacity < 1)
		b->capacity = 1;
	if (b->tokens > b->capacity)
		b->tokens = b->capacity;
}

/* Arms the timer for the moment the next token is due, if anyone waits. */
static void bucket_schedule(struct rl_bucket *b)
{
	double missing = 1.0 - b->tokens;
	int64_t us = missing > 0 ? (int64_t)(missing * 1e6 / b->rate) + 1 : 0;
	struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};

	if (b->n_waiting == 0) {
		evtimer_del(b->timer);
		return;
	}
	evtimer_add(b->timer, &tv);
}

static void flow_deactivate(struct rl_flow *f)
{
	struct rl_bucket *b = f->bucket;

	if (!f->active)
		return;
	TAILQ_REMOVE(&b->rotation, f, rotation);
	b->n_active--;
	if (f->fresh)
		b->n_fresh--;
	f->active = f->fresh = false;
	b->n_idle++;
}

/*
 * Puts a flow that just got its first waiting request into the rotation.
 * A newcomer — never served, or not served for a full round — goes ahead of
 * the flows being served in turn (after other newcomers, in arrival order);
 * a caller served within the current round queues at the tail, so sending
 * one request at a time cannot jump the queue over and over.
 */
static void flow_activate(struct rl_flow *f)
{
	struct rl_bucket *b = f->bucket;
	bool fresh = f->last_grant == 0 || b->grants - f->last_grant > b->n_active;

	b->n_idle--;
	f->active = true;
	if (!fresh || b->n_fresh == 0) {
		if (fresh)
			TAILQ_INSERT_HEAD(&b->rotation, f, rotation);
		else
			TAILQ_INSERT_TAIL(&b->rotation, f, rotation);
	} else {
		struct rl_flow *after = TAILQ_FIRST(&b->rotation);

		for (unsigned i = 1; i < b->n_fresh; i++)
			after = TAILQ_NEXT(after, rotation);
		TAILQ_INSERT_AFTER(&b->rotation, after, f, rotation);
	}
	if (fresh) {
		f->fresh = true;
		b->n_fresh++;
	}
	b->n_active++;
}

/* Forgets callers with nothing waiting once there are many of them; they
 * count as newcomers when they come back. */
static void bucket_forget_idle_flows(struct rl_bucket *b)
{
	struct rl_flow *f, *next;

	if (b->n_idle < RATELIMIT_MAX_IDLE_FLOWS)
		return;
	for (f = LIST_FIRST(&b->flows); f; f = next) {
		next = LIST_NEXT(f, link);
		if (!f->active) {
			flow_free(f);
			b->n_idle--;
		}
	}
}

static struct rl_flow *flow_get(struct rl_bucket *b, uid_t uid)
{
	struct rl_flow *f;

	LIST_FOREACH(f, &b->flows, link)
	if (f->uid == uid)
		return f;
	bucket_forget_idle_flows(b);
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->bucket = b;
	f->uid = uid;
	TAILQ_INIT(&f->waits);
	LIST_INSERT_HEAD(&b->flows, f, link);
	b->n_idle++;
	return f;
}

/* Hands out the tokens that are due, one callback at a time: a callback may
 * queue or withdraw requests, so the rotation is re-read after each. */
static void bucket_dispatch(evutil_socket_t fd, short what, void *userdata)
{
	struct rl_bucket *b = userdata;

	b->dispatching = true;
	bucket_refill(b);
	while (b->tokens >= 1 && b->n_waiting > 0) {
		struct rl_flow *f = TAILQ_FIRST(&b->rotation);
		struct ratelimit_wait *w = TAILQ_FIRST(&f->waits);
		ratelimit_fn fn = w->fn;
		void *userdata2 = w->userdata;

		TAILQ_REMOVE(&f->waits, w, link);
		f->n_waits--;
		b->n_waiting--;
		b->rl->stats.waiting--;
		b->rl->stats.granted_queued++;
		b->tokens -= 1;
		f->last_grant = ++b->grants;
		if (f->fresh) {
			f->fresh = false;
			b->n_fresh--;
		}
		TAILQ_REMOVE(&b->rotation, f, rotation);
		if (f->n_waits > 0) {
			TAILQ_INSERT_TAIL(&b->rotation, f, rotation);
		} else {
			f->active = false;
			b->n_active--;
			b->n_idle++;
		}
		free(w);
		fn(userdata2);
	}
	b->dispatching = false;
	bucket_schedule(b);
}

/*
 * Once there are RATELIMIT_MAX_BUCKETS buckets, drops those nobody waits
 * on that are full again (they would be made anew identical).  If that is
 * not enough — a caller naming a new region at every call keeps recently
 * used buckets short of full — it drops every bucket nobody waits on: such
 * a bucket, made again later, starts full, so at most one burst
 * (RATELIMIT_BURST_MS of the quota) more may go out for its key.  Buckets
 * with waiters stay; each waiter is a call in flight, which the server
 * bounds per user.
 */
static void ratelimit_forget_idle_buckets(struct ratelimit *rl)
{
	struct rl_bucket *b, *next;

	for (int pass = 0; pass < 2 && rl->n_buckets >= RATELIMIT_MAX_BUCKETS; pass++)
		for (b = LIST_FIRST(&rl->buckets); b; b = next) {
			next = LIST_NEXT(b, link);
			if (b->dispatching || b->n_waiting > 0)
				continue;
			bucket_refill(b);
			if (pass == 1 || b->tokens >= b->capacity)
				bucket_free(b);
		}
}

static struct rl_bucket *bucket_find(const struct ratelimit *rl, const char *key)
{
	struct rl_bucket *b;

	LIST_FOREACH(b, &rl->buckets, link)
	if (strcmp(b->key, key) == 0)
		return b;
	return NULL;
}

static struct rl_bucket *bucket_get(struct ratelimit *rl, const char *key, double rate, double burst_sec)
{
	struct rl_bucket *b = bucket_find(rl, key);

	if (b) {
		bucket_set_rate(b, rate, burst_sec);
		return b;
	}
	ratelimit_forget_idle_buckets(rl);
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->rl = rl;
	b->key = strdup(key);
	b->timer = evtimer_new(rl->base, bucket_dispatch, b);
	if (!b->key || !b->timer) {
		if (b->timer)
			event_free(b->timer);
		free(b->key);
		free(b);
		return NULL;
	}
	TAILQ_INIT(&b->rotation);
	LIST_INIT(&b->flows);
	bucket_set_rate(b, rate, burst_sec);
	b->tokens = b->capacity;
	b->refilled_us = now_us();
	LIST_INSERT_HEAD(&rl->buckets, b, link);
	rl->n_buckets++;
	log_debug("ratelimit: bucket %s at %.3g/s, burst %.3g", key, b->rate, b->capacity);
	return b;
}

int ratelimit_acquire(struct ratelimit *rl, const char *key, double rate, uid_t caller, ratelimit_fn fn, void *userdata,
		      struct ratelimit_wait **ret_wait)
{
	return ratelimit_acquire_burst(rl, key, rate, RATELIMIT_BURST_MS / 1000.0, caller, fn, userdata, ret_wait);
}

int ratelimit_acquire_burst(struct ratelimit *rl, const char *key, double rate, double burst_sec, uid_t caller,
			    ratelimit_fn fn, void *userdata, struct ratelimit_wait **ret_wait)
{
	struct rl_bucket *b;
	struct rl_flow *f;
	struct ratelimit_wait *w;

	assert(rl && key && fn);
	if (!(rate > 0) || !(burst_sec > 0))
		return -EINVAL;
	b = bucket_get(rl, key, rate, burst_sec);
	if (!b)
		return -ENOMEM;
	bucket_refill(b);
	if (b->n_waiting == 0 && b->tokens >= 1) {
		b->tokens -= 1;
		b->grants++;
		rl->stats.granted_at_once++;
		*ret_wait = NULL;
		return 1;
	}
	f = flow_get(b, caller);
	if (!f)
		return -ENOMEM;
	if (f->n_waits >= rl->max_queued) {
		rl->stats.rejected++;
		return -EBUSY;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->flow = f;
	w->fn = fn;
	w->userdata = userdata;
	TAILQ_INSERT_TAIL(&f->waits, w, link);
	f->n_waits++;
	if (!f->active)
		flow_activate(f);
	b->n_waiting++;
	rl->stats.waiting++;
	if (!b->dispatching)
		bucket_schedule(b);
	*ret_wait = w;
	return 0;
}

void ratelimit_wait_cancel(struct ratelimit_wait *w)
{
	struct rl_flow *f;
	struct rl_bucket *b;

	if (!w)
		return;
	f = w->flow;
	b = f->bucket;
	TAILQ_REMOVE(&f->waits, w, link);
	f->n_waits--;
	b->n_waiting--;
	b->rl->stats.waiting--;
	free(w);
	if (f->n_waits == 0)
		flow_deactivate(f);
	if (!b->dispatching)
		bucket_schedule(b);
}

int ratelimit_set_rate(struct ratelimit *rl, const char *key, double rate, double burst_sec)
{
	struct rl_bucket *b = bucket_find(rl, key);

	if (!(rate > 0) || !(burst_sec > 0))
		return -EINVAL;
	if (!b)
		return -ENOENT;
	bucket_set_rate(b, rate, burst_sec);
	if (!b->dispatching)
		bucket_schedule(b);
	return 0;
}

unsigned ratelimit_max_queued(const struct ratelimit *rl)
{
	return rl->max_queued;
}

void ratelimit_get_stats(const struct ratelimit *rl, struct ratelimit_stats *ret)
{
	*ret = rl->stats;
	ret->buckets = rl->n_buckets;
}
