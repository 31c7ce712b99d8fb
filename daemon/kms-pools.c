/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "kms-pools.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms.h"
#include "log.h"

/* One pool per endpoint URL and account, made on first use: like KMS's
 * quotas, one account's queue and retry quota never hold up another's.  A
 * pool made before its account was known (Prewarm=) goes to the first
 * account that uses its URL.
 *
 * The region comes from the caller's key ARN, so the number of pools is
 * bounded (MaxPools=): a pool no call holds (refs == 0) is freed once it
 * has been unused for the pool's idle timeout (its connections would have
 * closed by then anyway), or earlier, least recently used first, to make
 * room for another; when every pool is held by a call, a call that needs a
 * new one fails with EndpointUnavailable.  A freed pool's retry quota goes
 * with it: it only matters while calls are failing, and those hold it.
 *
 * Fairness: one uid's calls may not hold more than a quarter of MaxPools=
 * pools alone (kms_pools_uid_limit), so one caller kept slow in many
 * regions cannot leave every other uid without room for a new one.  A
 * pool counts against its first holder (solo_uid) while every call holding
 * it is that uid's (solo_refs == refs); once another uid's call holds it
 * too, or the first holder let go while others hold on, it counts against
 * nobody. */
struct kms_pools {
	const struct kms_transport *transport;
	const struct kms_clock *clock;
	struct kms_pool *pools;
	unsigned n_pools, max_pools;
	unsigned idle_timeout_ms, max_connections;
	unsigned long pools_evicted;
	struct event *evict_timer; /* frees pools unused for the idle timeout */
};

static void evict_idle_pools(evutil_socket_t fd, short what, void *userdata);

struct kms_pools *kms_pools_new(struct event_base *base, const struct kms_transport *transport,
				const struct kms_clock *clock, unsigned max_pools, unsigned idle_timeout_ms,
				unsigned max_connections)
{
	struct kms_pools *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return NULL;
	ps->transport = transport;
	ps->clock = clock;
	ps->max_pools = max_pools ? max_pools : KMS_DEFAULT_MAX_POOLS;
	ps->idle_timeout_ms = idle_timeout_ms ? idle_timeout_ms : HTTPS_POOL_DEFAULT_IDLE_TIMEOUT_MS;
	ps->max_connections = max_connections ? max_connections : HTTPS_POOL_DEFAULT_MAX_CONNECTIONS;
	ps->evict_timer = evtimer_new(base, evict_idle_pools, ps);
	if (!ps->evict_timer) {
		free(ps);
		return NULL;
	}
	return ps;
}

static struct kms_pool *pool_free(const struct kms_transport *t, struct kms_pool *p)
{
	if (!p)
		return NULL;
	if (p->pool)
		t->ops->pool_free(p->pool);
	url_done(&p->parsed);
	free(p->url);
	free(p);
	return NULL;
}

struct kms_pools *kms_pools_free(struct kms_pools *ps)
{
	if (!ps)
		return NULL;
	while (ps->pools) {
		struct kms_pool *next = ps->pools->next;

		pool_free(ps->transport, ps->pools);
		ps->pools = next;
	}
	event_free(ps->evict_timer);
	free(ps);
	return NULL;
}

static uint64_t now_ms(const struct kms_pools *ps)
{
	return ps->clock->now_mono_ms(ps->clock->ctx);
}

/* Unlinks and frees p, which no call holds. */
static void pool_evict(struct kms_pools *ps, struct kms_pool *p, const char *why)
{
	struct kms_pool **pp;

	for (pp = &ps->pools; *pp && *pp != p; pp = &(*pp)->next)
		;
	if (!*pp)
		return;
	*pp = p->next;
	ps->n_pools--;
	ps->pools_evicted++;
	log_debug("kms: connection pool for %s%s%s freed: %s", p->url, p->account[0] ? ", account " : "", p->account,
		  why);
	pool_free(ps->transport, p);
}

/* Arms the idle sweep if some pool is unheld and it is not armed yet. */
static void evict_timer_arm(struct kms_pools *ps)
{
	struct timeval tv = { ps->idle_timeout_ms / 1000, (ps->idle_timeout_ms % 1000) * 1000 };

	if (!evtimer_pending(ps->evict_timer, NULL))
		evtimer_add(ps->evict_timer, &tv);
}

/* The idle sweep: frees every pool no call has held for the idle timeout. */
static void evict_idle_pools(evutil_socket_t fd, short what, void *userdata)
{
	struct kms_pools *ps = userdata;
	uint64_t now = now_ms(ps);
	bool unheld = false;

	for (struct kms_pool *p = ps->pools, *next; p; p = next) {
		next = p->next;
		if (p->refs > 0)
			continue;
		if (now - p->last_used_ms >= ps->idle_timeout_ms)
			pool_evict(ps, p, "unused for the idle timeout");
		else
			unheld = true;
	}
	if (unheld)
		evict_timer_arm(ps);
}

void kms_pool_hold(struct kms_pool *p, uid_t uid)
{
	if (p->refs++ == 0) {
		p->solo_uid = uid;
		p->solo_refs = 0;
	}
	if (uid == p->solo_uid)
		p->solo_refs++;
}

void kms_pool_release(struct kms_pools *ps, struct kms_pool *p, uid_t uid)
{
	if (!p)
		return;
	if (uid == p->solo_uid && p->solo_refs > 0)
		p->solo_refs--;
	if (--p->refs > 0)
		return;
	p->last_used_ms = now_ms(ps);
	evict_timer_arm(ps);
}

unsigned kms_pools_uid_limit(const struct kms_pools *ps)
{
	return ps->max_pools >= 4 ? ps->max_pools / 4 : 1;
}

void kms_pools_refusal(const struct kms_pools *ps, int r, char *buf, size_t size)
{
	if (r == -EDQUOT)
		snprintf(buf, size,
			 "kmscanceld: this caller's calls already hold %u KMS connection pools, the most one uid "
			 "may (a quarter of [KMS] MaxPools=%u), one per endpoint and account; try again later",
			 kms_pools_uid_limit(ps), ps->max_pools);
	else
		snprintf(buf, size,
			 "kmscanceld: calls hold all %u KMS connection pools ([KMS] MaxPools=), one per endpoint "
			 "and account; try again later",
			 ps->max_pools);
}

/* Whether uid's calls alone already hold as many pools as one uid may:
 * then uid gets no new pool (O(pools), only when a new one is needed). */
static bool uid_full(const struct kms_pools *ps, uid_t uid)
{
	unsigned n = 0;

	for (const struct kms_pool *p = ps->pools; p; p = p->next)
		if (p->refs > 0 && p->solo_uid == uid && p->solo_refs == p->refs)
			n++;
	return n >= kms_pools_uid_limit(ps);
}

/* Room for one more pool: frees the least recently used one no call holds.
 * -EBUSY when every pool is held. */
static int make_room(struct kms_pools *ps)
{
	struct kms_pool *victim = NULL;

	if (ps->n_pools < ps->max_pools)
		return 0;
	for (struct kms_pool *p = ps->pools; p; p = p->next)
		if (p->refs == 0 && (!victim || p->last_used_ms < victim->last_used_ms))
			victim = p;
	if (!victim)
		return -EBUSY;
	pool_evict(ps, victim, "room for another endpoint (MaxPools=)");
	return 0;
}

/* A new pool for url and account (never NULL: "" when not known). */
static int pool_new(struct kms_pools *ps, const char *url, const char *account, struct kms_pool **ret)
{
	struct kms_pool *p;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->url = strdup(url);
	if (!p->url) {
		free(p);
		return -ENOMEM;
	}
	if (url_parse(url, &p->parsed) < 0) {
		free(p->url);
		free(p);
		return -EINVAL;
	}
	p->pool = ps->transport->ops->pool_new(ps->transport->impl, &p->parsed);
	if (!p->pool) {
		pool_free(ps->transport, p);
		return -ENOMEM;
	}
	p->retry_tokens = KMS_RETRY_QUOTA_CAPACITY;
	p->last_used_ms = now_ms(ps);
	adaptive_rate_init(&p->adaptive, (double)p->last_used_ms / 1000.0);
	snprintf(p->account, sizeof(p->account), "%s", account);
	*ret = p;
	return 0;
}

int kms_pools_get(struct kms_pools *ps, const char *url, const char *account, uid_t uid, struct kms_pool **ret)
{
	struct kms_pool *p, *unclaimed = NULL;
	int r;

	if (!account)
		account = "";
	for (p = ps->pools; p; p = p->next) {
		if (strcmp(p->url, url) != 0)
			continue;
		if (strcmp(p->account, account) == 0) {
			*ret = p;
			return 0;
		}
		if (!p->account[0])
			unclaimed = p;
	}
	if (unclaimed) {
		snprintf(unclaimed->account, sizeof(unclaimed->account), "%s", account);
		*ret = unclaimed;
		return 0;
	}

	if (uid_full(ps, uid))
		return -EDQUOT;
	r = make_room(ps);
	if (r >= 0)
		r = pool_new(ps, url, account, &p);
	if (r < 0)
		return r;
	p->next = ps->pools;
	ps->pools = p;
	ps->n_pools++;
	log_debug("kms: new connection pool for %s%s%s", url, account[0] ? ", account " : "", account);
	*ret = p;
	return 0;
}

int kms_pools_prewarm(struct kms_pools *ps, const char *url)
{
	struct kms_pool *p;
	int r;

	r = kms_pools_get(ps, url, NULL, (uid_t)-1, &p); /* no call's: counts against nobody */
	if (r < 0)
		return r;
	log_debug("kms: prewarming a connection to %s", url);
	r = ps->transport->ops->prewarm(p->pool, 1);
	if (p->refs == 0)
		evict_timer_arm(ps);
	return r;
}

/* The transport refuses requests once HTTPS_POOL_MAX_QUEUED wait for a
 * connection. */
bool kms_pool_queue_full(const struct kms_pools *ps, const struct kms_pool *p)
{
	struct https_pool_stats s;

	ps->transport->ops->get_stats(p->pool, &s);
	return s.queued >= HTTPS_POOL_MAX_QUEUED;
}

void kms_pools_add_stats(const struct kms_pools *ps, struct kms_client_stats *ret)
{
	ret->max_pools = ps->max_pools;
	ret->pools_evicted = ps->pools_evicted;
	for (const struct kms_pool *p = ps->pools; p; p = p->next) {
		struct https_pool_stats s;

		ps->transport->ops->get_stats(p->pool, &s);
		ret->pools.connections_opened += s.connections_opened;
		ret->pools.tls_handshakes += s.tls_handshakes;
		ret->pools.tls_resumed += s.tls_resumed;
		ret->pools.requests += s.requests;
		ret->pools.reused += s.reused;
		ret->pools.retried += s.retried;
		ret->pools.connections_open += s.connections_open;
		ret->pools.connections_idle += s.connections_idle;
		ret->pools.queued += s.queued;
		ret->n_pools++;
	}
}

static void endpoint_stats(const struct kms_pools *ps, const struct kms_pool *p, struct kms_endpoint_stats *ret)
{
	ret->url = p->url;
	ret->account = p->account[0] ? p->account : NULL;
	ret->max_connections = ps->max_connections;
	ret->adaptive_paced = p->adaptive.enabled;
	ret->send_rate = p->adaptive.enabled ? p->adaptive.fill_rate : 0;
	ps->transport->ops->get_stats(p->pool, &ret->pool);
}

/* Busiest first: connections in use plus queued requests, then requests sent. */
static int endpoint_stats_cmp(const void *a, const void *b)
{
	const struct kms_endpoint_stats *x = a, *y = b;
	unsigned long bx = x->pool.connections_open - x->pool.connections_idle + x->pool.queued;
	unsigned long by = y->pool.connections_open - y->pool.connections_idle + y->pool.queued;

	if (bx != by)
		return bx > by ? -1 : 1;
	if (x->pool.requests != y->pool.requests)
		return x->pool.requests > y->pool.requests ? -1 : 1;
	return 0;
}

long kms_pools_list(const struct kms_pools *ps, struct kms_endpoint_stats *ret, size_t max)
{
	struct kms_endpoint_stats *all;
	size_t n = 0;

	if (ps->n_pools == 0)
		return 0;
	all = calloc(ps->n_pools, sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (const struct kms_pool *p = ps->pools; p && n < ps->n_pools; p = p->next)
		endpoint_stats(ps, p, &all[n++]);
	qsort(all, n, sizeof(*all), endpoint_stats_cmp);
	memcpy(ret, all, (n < max ? n : max) * sizeof(*all));
	free(all);
	return (long)n;
}
