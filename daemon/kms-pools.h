/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The KMS client's connection pools: one transport pool per endpoint URL and
 * account, made on first use and bounded in number (MaxPools=), each with
 * the standard retry mode's retry quota.  Everything runs on the thread of
 * the event_base.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kms-transport.h"
#include "ratelimit-adaptive.h"
#include "url.h"

struct event_base;
struct kms_client_stats;
struct kms_endpoint_stats;

/* One endpoint and account's pool.  Calls read url, parsed, pool and
 * retry_tokens, spend or credit retry_tokens (kms-retry.h) and update
 * adaptive (ratelimit-adaptive.h); the rest is this module's. */
struct kms_pool {
	struct kms_pool *next;
	unsigned refs;         /* calls holding it (kms_pool_hold) */
	uid_t solo_uid;        /* the uid whose call took it when refs was 0 */
	unsigned solo_refs;    /* of refs, solo_uid's calls */
	uint64_t last_used_ms; /* on the monotonic clock, when the last call let go of it */
	char account[13];      /* "" while unclaimed */
	char *url;
	struct url parsed;
	void *pool;            /* the transport's */
	unsigned retry_tokens; /* the retry quota, KMS_RETRY_QUOTA_CAPACITY when healthy */
	struct adaptive_rate adaptive; /* the adaptive mode's send rate (kms.c) */
};

struct kms_pools;

/* transport and clock are borrowed and must outlive the set.  max_pools,
 * idle_timeout_ms, max_connections: 0 for their defaults (KMS_DEFAULT_MAX_POOLS,
 * the https-pool ones).  NULL when out of memory. */
struct kms_pools *kms_pools_new(struct event_base *base, const struct kms_transport *transport,
				const struct kms_clock *clock, unsigned max_pools, unsigned idle_timeout_ms,
				unsigned max_connections);
/* Frees every pool (their pending requests fail with HTTPS_E_SHUTDOWN).
 * NULL-safe, returns NULL. */
struct kms_pools *kms_pools_free(struct kms_pools *ps);

/* Finds or makes the pool for url and account (NULL: not known) for a call
 * of uid; the caller then holds it with kms_pool_hold.  Returns 0, -EDQUOT
 * when a new pool is needed and uid's calls alone hold their share already
 * (kms_pools_uid_limit), -EBUSY when MaxPools= pools exist and calls hold
 * every one, -EINVAL for a bad URL, -ENOMEM. */
int kms_pools_get(struct kms_pools *ps, const char *url, const char *account, uid_t uid, struct kms_pool **ret);
/* A call of uid takes p / lets go of it (NULL-safe).  An unheld pool is
 * freed once idle for the idle timeout, or earlier to make room. */
void kms_pool_hold(struct kms_pool *p, uid_t uid);
void kms_pool_release(struct kms_pools *ps, struct kms_pool *p, uid_t uid);
/* Opens one connection in the pool for url ahead of the first call
 * ([KMS] Prewarm=); the pool counts against no uid.  0 or a negative errno. */
int kms_pools_prewarm(struct kms_pools *ps, const char *url);
/* Whether p's transport queue is full (HTTPS_POOL_MAX_QUEUED waiting). */
bool kms_pool_queue_full(const struct kms_pools *ps, const struct kms_pool *p);

/* The most pools one uid's calls may hold alone: a quarter of MaxPools=,
 * at least one. */
unsigned kms_pools_uid_limit(const struct kms_pools *ps);
/* Why kms_pools_get refused a pool (r: -EDQUOT or -EBUSY), for the caller,
 * into buf. */
void kms_pools_refusal(const struct kms_pools *ps, int r, char *buf, size_t size);

/* Adds the pools' counters to ret (pools, n_pools, max_pools,
 * pools_evicted). */
void kms_pools_add_stats(const struct kms_pools *ps, struct kms_client_stats *ret);
/* See kms_client_list_endpoints. */
long kms_pools_list(const struct kms_pools *ps, struct kms_endpoint_stats *ret, size_t max);
