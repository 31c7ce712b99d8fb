/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Client-side rate limiting: one token bucket per key (the KMS client uses
 * "account/region/operation", since KMS counts its request quota per
 * account, Region and operation, AWS.md §4), so a batch of a thousand
 * cancels flows at the quota instead of provoking ThrottlingException.
 *
 * A bucket refills at `rate` tokens per second up to a small burst
 * (RATELIMIT_BURST_MS worth of tokens, at least one): the daemon is rarely
 * the account's only KMS client, so it spends the quota evenly rather than
 * in bursts.
 *
 * Requests that find no token wait in a fair queue: one FIFO per caller
 * (uid), served round-robin, and a caller that arrives with nothing queued
 * goes ahead of callers who are already being served in rotation — so one
 * user's batch of a thousand cannot delay another user's single cancel by
 * more than one token interval.  Each caller may have at most max_queued
 * requests waiting per bucket; beyond that the request is refused at once
 * (-EBUSY), never queued without bound.
 *
 * Everything runs on the event loop's thread.  Grants run their callback
 * from the loop, never from inside ratelimit_acquire().
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;

/* How much of the quota may go out at once: a tenth of a second's worth. */
#define RATELIMIT_BURST_MS 100
/* Default bound on the requests one caller may have waiting per bucket. */
#define RATELIMIT_DEFAULT_MAX_QUEUED 1000
/* Buckets kept before idle ones are dropped: full ones first, then, if
 * needed, any nobody waits on (see ratelimit_forget_idle_buckets). */
#define RATELIMIT_MAX_BUCKETS 1024
/* Per bucket: callers with nothing queued remembered for fairness before
 * they are forgotten. */
#define RATELIMIT_MAX_IDLE_FLOWS 64

struct ratelimit;
struct ratelimit_wait;

/* A queued request got its token.  The wait handle is gone by then. */
typedef void (*ratelimit_fn)(void *userdata);

/* max_queued: per caller and bucket, >= 1.  base is borrowed.  NULL when out
 * of memory. */
struct ratelimit *ratelimit_new(struct event_base *base, unsigned max_queued);
/* Drops every waiting request without running its callback (their owners
 * must be gone, or not care).  NULL-safe, returns NULL. */
struct ratelimit *ratelimit_free(struct ratelimit *rl);

/*
 * Takes one token from bucket key (made on first use with the given rate,
 * in requests per second; a later call with another rate updates it).
 *
 * Returns 1 when the token was available and nobody was waiting: the caller
 * goes ahead now and *ret_wait is NULL.  Returns 0 when the request was
 * queued: fn(userdata) runs later from the loop, unless the caller gives up
 * with ratelimit_wait_cancel(*ret_wait).  Returns -EBUSY when caller already
 * has max_queued requests waiting in this bucket, -ENOMEM, or -EINVAL for a
 * rate <= 0.
 */
int ratelimit_acquire(struct ratelimit *rl, const char *key, double rate, uid_t caller, ratelimit_fn fn, void *userdata,
		      struct ratelimit_wait **ret_wait);

/* The same with a burst of burst_sec seconds' worth of tokens (at least
 * one) instead of RATELIMIT_BURST_MS: the adaptive retry mode's bucket
 * (ratelimit-adaptive.h) holds a second's worth, as the SDKs' does.
 * -EINVAL also for burst_sec <= 0. */
int ratelimit_acquire_burst(struct ratelimit *rl, const char *key, double rate, double burst_sec, uid_t caller,
			    ratelimit_fn fn, void *userdata, struct ratelimit_wait **ret_wait);

/* Changes the rate (and burst) of bucket key, if it exists, now rather than
 * at its next acquire: requests already waiting are served at the new rate
 * from here on.  Tokens earned so far are kept (capped to the new burst).
 * Returns 0, -ENOENT when there is no such bucket (nothing to change: it
 * is made with the rate of its first acquire), -EINVAL for a rate <= 0. */
int ratelimit_set_rate(struct ratelimit *rl, const char *key, double rate, double burst_sec);

/* The per-caller bound in force. */
unsigned ratelimit_max_queued(const struct ratelimit *rl);

/* The waiting request is withdrawn; its callback will not run.  NULL-safe. */
void ratelimit_wait_cancel(struct ratelimit_wait *w);

struct ratelimit_stats {
	unsigned long granted_at_once; /* acquired without waiting */
	unsigned long granted_queued;  /* acquired after waiting */
	unsigned long rejected;        /* refused: the caller's queue was full */
	unsigned waiting;              /* requests waiting now, all buckets */
	unsigned buckets;
};
void ratelimit_get_stats(const struct ratelimit *rl, struct ratelimit_stats *ret);
