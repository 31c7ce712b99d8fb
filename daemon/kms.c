/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "kms.h"

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <time.h>

#include "creds.h"
#include "dns-cache.h"
#include "endpoint.h"
#include "http.h"
#include "kms-error.h"
#include "log.h"
#include "proxy.h"
#include "ratelimit.h"
#include "sigv4.h"
#include "tls.h"
#include "url.h"
#include "wipe.h"

#define KMS_SERVICE "kms"
#define KMS_CONTENT_TYPE "application/x-amz-json-1.1"
#define KMS_TARGET_PREFIX "TrentService."
/* How often a call waiting for room in a full endpoint queue looks again. */
#define KMS_QUEUE_FULL_WAIT_MS 20
#define USER_AGENT "kmscanceld/" PACKAGE_VERSION
/* Below this, an InvalidSignatureException is a bad signature, not our clock
 * (Java v2 uses the same threshold, AWS.md §3.4). */
#define CLOCK_SKEW_MIN_SEC (4 * 60)

/* How much later than the call's deadline an attempt's own timeout fires. */
#define KMS_DEADLINE_SLACK_MS 1000

static const char *const operation_names[_KMS_OP_MAX] = {
	[KMS_OP_CANCEL_KEY_DELETION] = "CancelKeyDeletion",
	[KMS_OP_DESCRIBE_KEY] = "DescribeKey",
	[KMS_OP_ENABLE_KEY] = "EnableKey",
};

const char *kms_operation_to_string(enum kms_operation op)
{
	return op < _KMS_OP_MAX ? operation_names[op] : "unknown";
}

/* One HTTPS pool per endpoint URL and account, made on first use: like
 * KMS's quotas, one account's queue and retry quota never hold up
 * another's.  A pool made before its account was known (Prewarm=) goes to
 * the first account that uses its URL.
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
 * pools alone (endpoint_pool_uid_limit), so one caller kept slow in many
 * regions cannot leave every other uid without room for a new one.  A
 * pool counts against its first holder (solo_uid) while every call holding
 * it is that uid's (solo_refs == refs); once another uid's call holds it
 * too, or the first holder let go while others hold on, it counts against
 * nobody. */
struct endpoint_pool {
	struct endpoint_pool *next;
	unsigned refs;          /* calls using it (kms_call.endpoint) */
	uid_t solo_uid;         /* the uid whose call took it when refs was 0 */
	unsigned solo_refs;     /* of refs, solo_uid's calls */
	uint64_t last_used_ms;  /* CLOCK_MONOTONIC, when the last call let go of it */
	char account[13]; /* "" while unclaimed */
	char *url;
	struct url parsed;
	struct https_pool *pool;
	unsigned retry_tokens; /* the retry quota, KMS_RETRY_QUOTA_CAPACITY when healthy */
};

/*
 * The signing key of the last request.  Requests one after another nearly
 * always sign with the same credentials, day and region, and finding the key
 * in the sigv4 cache means hashing the secret again (~6,000 instructions, 4 %
 * of a cancel).  The memo holds a reference to the credentials the key was
 * derived from, so the same pointer means the same secret (and keeps those
 * credentials, in the secure heap, until a request signs with others).  The
 * key is secret: the memo lives in the secure heap and is wiped when replaced.
 */
#define MEMO_REGION_MAX 63 /* longer regions (none exist) skip the memo */

struct signing_memo {
	struct aws_credentials *creds; /* a reference; NULL: empty */
	char date8[9];
	char region[MEMO_REGION_MAX + 1];
	uint8_t key[SIGV4_KEY_SIZE];
};

struct kms_client {
	struct event_base *base;
	struct evdns_base *dns;
	struct tls_context *tls;
	struct dns_cache *resolver;  /* NULL without an evdns_base */
	struct proxy_config *proxy;  /* NULL: direct */
	struct sigv4_key_cache *keys;
	struct signing_memo *memo; /* secure heap */
	struct json_tokener *json; /* reused for every response body: a new one costs two callocs */
	char *endpoint_url;
	bool fips;
	bool dualstack;
	unsigned max_attempts;
	unsigned retry_base_ms;
	unsigned attempt_timeout_ms; /* 0: none */
	struct https_pool_options pool_options;
	struct endpoint_pool *pools;
	unsigned n_pools, max_pools;
	unsigned long pools_evicted, pools_refused;
	struct event *evict_timer; /* frees pools unused for the idle timeout */
	long clock_offset; /* seconds to add to our clock, learned from AWS's Date */
	struct ratelimit *limiter; /* NULL: RateLimit=no */
	LIST_HEAD(, kms_call) pending; /* every call not yet completed */
	bool shutting_down;
	double rates[_KMS_OP_MAX];
	unsigned long calls, attempts, retries, throttled, retry_quota_out, rate_limited, rate_rejected;
	unsigned long in_flight; /* calls started and not yet freed */
};

/* Empties the memo: drops its reference and wipes the key. */
static void memo_clear(struct signing_memo *m)
{
	if (!m)
		return;
	aws_credentials_unref(m->creds);
	OPENSSL_cleanse(m, sizeof(*m));
}

enum call_state {
	CALL_STARTING, /* made, first attempt not yet begun */
	CALL_QUEUED,   /* waiting for a token of the rate limiter */
	CALL_SENDING,  /* an HTTP attempt is in flight */
	CALL_BACKOFF,  /* waiting before the next attempt */
	_CALL_STATE_MAX,
};

static const char *const call_state_names[_CALL_STATE_MAX] = {
	[CALL_STARTING] = "starting",
	[CALL_QUEUED] = "queued",
	[CALL_SENDING] = "sending",
	[CALL_BACKOFF] = "backoff",
};

struct kms_call {
	struct kms_client *client;
	enum call_state state;
	enum kms_operation op;
	char *key_id;
	char *region;
	char *partition;
	struct aws_credentials *credentials;
	struct endpoint_pool *endpoint;
	char *body;
	struct timespec deadline; /* CLOCK_MONOTONIC */
	unsigned attempts;
	unsigned last_retry_cost; /* retry quota taken for the latest retry, refunded on success */
	bool response_lost;       /* see kms_result.response_lost */
	char *rate_key;           /* "account/region/operation" */
	uid_t caller;
	struct ratelimit_wait *wait;
	struct https_request *http;
	struct event *timer;          /* first attempt, then backoff */
	struct event *deadline_timer; /* the call's deadline */
	LIST_ENTRY(kms_call) link;
	kms_done_fn done;
	void *userdata;
	/* the last failure, reported if no attempt is left */
	kmscancel_error last_error;
	char *last_code;
	char *last_message;
	char *last_request_id;
};

static struct endpoint_pool *endpoint_pool_free(struct endpoint_pool *e)
{
	if (!e)
		return NULL;
	https_pool_free(e->pool);
	url_done(&e->parsed);
	free(e->url);
	free(e);
	return NULL;
}

/* The DNS cache (with connect_to overrides) and the proxy, shared by every
 * endpoint's pool. */
static int network_setup(struct kms_client *c, const struct kms_client_options *o, char **ret_error)
{
	int r;

	if (c->dns) {
		c->resolver = dns_cache_new(c->base, c->dns);
		if (!c->resolver)
			return -ENOMEM;
		c->pool_options.resolver = c->resolver;
	}
	if (o->connect_to) {
		r = c->resolver ? dns_cache_add_overrides(c->resolver, o->connect_to) : -EINVAL;
		if (r < 0) {
			if (asprintf(ret_error, "cannot use connect-to '%s': expected HOST:PORT=ADDR:PORT,…",
				     o->connect_to) < 0)
				*ret_error = NULL;
			return r;
		}
	}
	if (o->getenv) {
		r = proxy_config_from_env(o->getenv, &c->proxy, ret_error);
		if (r < 0)
			return r;
		c->pool_options.proxy = c->proxy;
		if (c->proxy)
			log_info("kms: HTTPS proxy %s:%u%s%s", c->proxy->host, (unsigned)c->proxy->port,
				 c->proxy->no_proxy ? ", except for " : "", c->proxy->no_proxy ? c->proxy->no_proxy : "");
	}
	return 0;
}

static void evict_idle_pools(evutil_socket_t fd, short what, void *userdata);

int kms_client_new(struct event_base *base, struct evdns_base *dns, const struct kms_client_options *o,
		   struct kms_client **ret, char **ret_error)
{
	struct kms_client *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->base = base;
	c->dns = dns;
	c->fips = o->fips;
	c->dualstack = o->dualstack;
	c->max_attempts = o->max_attempts ? o->max_attempts : KMS_DEFAULT_MAX_ATTEMPTS;
	c->retry_base_ms = o->retry_base_ms;
	c->attempt_timeout_ms = o->attempt_timeout_ms;
	c->pool_options = o->pool;
	c->max_pools = o->max_pools ? o->max_pools : KMS_DEFAULT_MAX_POOLS;
	c->rates[KMS_OP_CANCEL_KEY_DELETION] = KMS_DEFAULT_CANCEL_RATE;
	c->rates[KMS_OP_ENABLE_KEY] = KMS_DEFAULT_ENABLE_RATE;
	c->rates[KMS_OP_DESCRIBE_KEY] = KMS_DEFAULT_DESCRIBE_RATE;
	for (int i = 0; i < _KMS_OP_MAX; i++)
		if (o->rates[i] > 0)
			c->rates[i] = o->rates[i];
	if (o->rate_limit) {
		c->limiter = ratelimit_new(base, o->max_queued);
		if (!c->limiter) {
			kms_client_free(c);
			return -ENOMEM;
		}
	}

	if (o->endpoint_url) {
		struct url probe;

		if (url_parse(o->endpoint_url, &probe) < 0) {
			if (asprintf(ret_error, "invalid KMS endpoint URL '%s'", o->endpoint_url) < 0)
				*ret_error = NULL;
			kms_client_free(c);
			return -EINVAL;
		}
		url_done(&probe);
		c->endpoint_url = strdup(o->endpoint_url);
	}
	c->keys = sigv4_key_cache_new();
	c->memo = OPENSSL_secure_zalloc(sizeof(*c->memo));
	c->json = json_tokener_new();
	c->evict_timer = evtimer_new(base, evict_idle_pools, c);
	if ((o->endpoint_url && !c->endpoint_url) || !c->keys || !c->memo || !c->json || !c->evict_timer) {
		kms_client_free(c);
		return -ENOMEM;
	}
	r = tls_context_new(o->ca_bundle, &c->tls, ret_error);
	if (r >= 0)
		r = network_setup(c, o, ret_error);
	if (r < 0) {
		kms_client_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

static void call_fail(struct kms_call *call, kmscancel_error error, const char *code, const char *message,
		      const char *request_id);

struct kms_client *kms_client_free(struct kms_client *c)
{
	struct kms_call *call;

	if (!c)
		return NULL;
	/* Every call still pending gets its answer now, wherever it is;
	 * callbacks cannot start new calls from here. */
	c->shutting_down = true;
	while ((call = LIST_FIRST(&c->pending))) {
		if (call->http) {
			https_request_abandon(call->http);
			call->http = NULL;
		}
		call_fail(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL, "kmscanceld is shutting down", NULL);
	}
	while (c->pools) {
		struct endpoint_pool *next = c->pools->next;
		endpoint_pool_free(c->pools);
		c->pools = next;
	}
	if (c->evict_timer)
		event_free(c->evict_timer);
	ratelimit_free(c->limiter);
	tls_context_free(c->tls);
	dns_cache_free(c->resolver);
	proxy_config_free(c->proxy);
	sigv4_key_cache_free(c->keys);
	if (c->memo) {
		memo_clear(c->memo);
		OPENSSL_secure_clear_free(c->memo, sizeof(*c->memo));
	}
	if (c->json)
		json_tokener_free(c->json);
	free(c->endpoint_url);
	free(c);
	return NULL;
}

void kms_client_get_stats(const struct kms_client *c, struct kms_client_stats *ret)
{
	struct kms_client_stats s = {
		.calls = c->calls,
		.attempts = c->attempts,
		.retries = c->retries,
		.throttled = c->throttled,
		.retry_quota_out = c->retry_quota_out,
		.rate_limited = c->rate_limited,
		.rate_rejected = c->rate_rejected,
		.clock_offset_sec = c->clock_offset,
		.in_flight = c->in_flight,
		.max_pools = c->max_pools,
		.pools_evicted = c->pools_evicted,
		.pools_refused = c->pools_refused,
	};

	if (c->limiter) {
		struct ratelimit_stats rs;

		ratelimit_get_stats(c->limiter, &rs);
		s.rate_waiting = rs.waiting;
	}

	for (struct endpoint_pool *e = c->pools; e; e = e->next) {
		struct https_pool_stats p;

		https_pool_get_stats(e->pool, &p);
		s.pools.connections_opened += p.connections_opened;
		s.pools.tls_handshakes += p.tls_handshakes;
		s.pools.tls_resumed += p.tls_resumed;
		s.pools.requests += p.requests;
		s.pools.reused += p.reused;
		s.pools.retried += p.retried;
		s.pools.connections_open += p.connections_open;
		s.pools.connections_idle += p.connections_idle;
		s.pools.queued += p.queued;
		s.n_pools++;
	}
	*ret = s;
}

static void endpoint_stats(const struct kms_client *c, const struct endpoint_pool *e, struct kms_endpoint_stats *ret)
{
	ret->url = e->url;
	ret->account = e->account[0] ? e->account : NULL;
	ret->max_connections =
		c->pool_options.max_connections ? c->pool_options.max_connections : HTTPS_POOL_DEFAULT_MAX_CONNECTIONS;
	https_pool_get_stats(e->pool, &ret->pool);
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

long kms_client_list_endpoints(const struct kms_client *c, struct kms_endpoint_stats *ret, size_t max)
{
	struct kms_endpoint_stats *all;
	size_t n = 0;

	if (c->n_pools == 0)
		return 0;
	all = calloc(c->n_pools, sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (const struct endpoint_pool *e = c->pools; e && n < c->n_pools; e = e->next)
		endpoint_stats(c, e, &all[n++]);
	qsort(all, n, sizeof(*all), endpoint_stats_cmp);
	memcpy(ret, all, (n < max ? n : max) * sizeof(*all));
	free(all);
	return (long)n;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000U + (uint64_t)ts.tv_nsec / 1000000U;
}

static unsigned pool_idle_timeout_ms(const struct kms_client *c)
{
	return c->pool_options.idle_timeout_ms ? c->pool_options.idle_timeout_ms : HTTPS_POOL_DEFAULT_IDLE_TIMEOUT_MS;
}

/* Unlinks and frees e, which no call holds. */
static void endpoint_pool_evict(struct kms_client *c, struct endpoint_pool *e, const char *why)
{
	struct endpoint_pool **p;

	for (p = &c->pools; *p && *p != e; p = &(*p)->next)
		;
	if (!*p)
		return;
	*p = e->next;
	c->n_pools--;
	c->pools_evicted++;
	log_debug("kms: connection pool for %s%s%s freed: %s", e->url, e->account[0] ? ", account " : "", e->account,
		  why);
	endpoint_pool_free(e);
}

/* Arms the idle sweep if some pool is unheld and it is not armed yet. */
static void evict_timer_arm(struct kms_client *c)
{
	unsigned ms = pool_idle_timeout_ms(c);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (!evtimer_pending(c->evict_timer, NULL))
		evtimer_add(c->evict_timer, &tv);
}

/* The idle sweep: frees every pool no call has held for the idle timeout. */
static void evict_idle_pools(evutil_socket_t fd, short what, void *userdata)
{
	struct kms_client *c = userdata;
	uint64_t now = now_ms(), idle = pool_idle_timeout_ms(c);
	bool unheld = false;

	for (struct endpoint_pool *e = c->pools, *next; e; e = next) {
		next = e->next;
		if (e->refs > 0)
			continue;
		if (now - e->last_used_ms >= idle)
			endpoint_pool_evict(c, e, "unused for the idle timeout");
		else
			unheld = true;
	}
	if (unheld)
		evict_timer_arm(c);
}

/* A call of uid takes e / lets go of it. */
static void endpoint_pool_hold(struct endpoint_pool *e, uid_t uid)
{
	if (e->refs++ == 0) {
		e->solo_uid = uid;
		e->solo_refs = 0;
	}
	if (uid == e->solo_uid)
		e->solo_refs++;
}

static void endpoint_pool_release(struct kms_client *c, struct endpoint_pool *e, uid_t uid)
{
	if (!e)
		return;
	if (uid == e->solo_uid && e->solo_refs > 0)
		e->solo_refs--;
	if (--e->refs > 0)
		return;
	e->last_used_ms = now_ms();
	evict_timer_arm(c);
}

/* The most pools one uid's calls may hold alone: a quarter of MaxPools=,
 * at least one. */
static unsigned endpoint_pool_uid_limit(const struct kms_client *c)
{
	return c->max_pools >= 4 ? c->max_pools / 4 : 1;
}

/* Whether uid's calls alone already hold as many pools as one uid may:
 * then uid gets no new pool (O(pools), only when a new one is needed). */
static bool endpoint_pool_uid_full(const struct kms_client *c, uid_t uid)
{
	unsigned n = 0;

	for (const struct endpoint_pool *e = c->pools; e; e = e->next)
		if (e->refs > 0 && e->solo_uid == uid && e->solo_refs == e->refs)
			n++;
	return n >= endpoint_pool_uid_limit(c);
}

/* Room for one more pool: frees the least recently used one no call holds.
 * -EBUSY when every pool is held. */
static int endpoint_pool_make_room(struct kms_client *c)
{
	struct endpoint_pool *victim = NULL;

	if (c->n_pools < c->max_pools)
		return 0;
	for (struct endpoint_pool *e = c->pools; e; e = e->next)
		if (e->refs == 0 && (!victim || e->last_used_ms < victim->last_used_ms))
			victim = e;
	if (!victim)
		return -EBUSY;
	endpoint_pool_evict(c, victim, "room for another endpoint (MaxPools=)");
	return 0;
}

/* Finds or makes the pool for url and account (NULL: not known) for a
 * call of uid.  -EDQUOT when a new pool is needed and uid's calls alone
 * hold their share already (endpoint_pool_uid_full); -EBUSY when MaxPools=
 * pools exist and calls hold every one. */
static int endpoint_pool_get(struct kms_client *c, const char *url, const char *account, uid_t uid,
			     struct endpoint_pool **ret)
{
	struct endpoint_pool *e, *unclaimed = NULL;
	int r;

	if (!account)
		account = "";
	for (e = c->pools; e; e = e->next) {
		if (strcmp(e->url, url) != 0)
			continue;
		if (strcmp(e->account, account) == 0) {
			*ret = e;
			return 0;
		}
		if (!e->account[0])
			unclaimed = e;
	}
	if (unclaimed) {
		snprintf(unclaimed->account, sizeof(unclaimed->account), "%s", account);
		*ret = unclaimed;
		return 0;
	}

	if (endpoint_pool_uid_full(c, uid))
		return -EDQUOT;
	r = endpoint_pool_make_room(c);
	if (r < 0)
		return r;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->url = strdup(url);
	if (!e->url) {
		free(e);
		return -ENOMEM;
	}
	if (url_parse(url, &e->parsed) < 0) {
		free(e->url);
		free(e);
		return -EINVAL;
	}
	e->pool = https_pool_new(c->base, c->dns, e->parsed.tls ? c->tls : NULL, e->parsed.host, e->parsed.port,
				 &c->pool_options);
	if (!e->pool) {
		endpoint_pool_free(e);
		return -ENOMEM;
	}
	e->retry_tokens = KMS_RETRY_QUOTA_CAPACITY;
	e->last_used_ms = now_ms();
	snprintf(e->account, sizeof(e->account), "%s", account);
	e->next = c->pools;
	c->pools = e;
	c->n_pools++;
	log_debug("kms: new connection pool for %s%s%s", url, account[0] ? ", account " : "", account);
	*ret = e;
	return 0;
}

/* The regional endpoints' variant: kms-fips, the dual-stack suffix. */
static unsigned endpoint_variant(const struct kms_client *c)
{
	return (c->fips ? ENDPOINT_FIPS : 0) | (c->dualstack ? ENDPOINT_DUALSTACK : 0);
}

int kms_client_prewarm(struct kms_client *c, const char *region)
{
	struct endpoint_pool *e;
	char *url = NULL;
	int r;

	r = c->endpoint_url ? ((url = strdup(c->endpoint_url)) ? 0 : -ENOMEM)
			    : endpoint_kms_url_variant(NULL, region, endpoint_variant(c), &url);
	if (r >= 0)
		r = endpoint_pool_get(c, url, NULL, (uid_t)-1, &e); /* no call's: counts against nobody */
	if (r >= 0) {
		log_debug("kms: prewarming a connection to %s", url);
		r = https_pool_prewarm(e->pool, 1);
		if (e->refs == 0)
			evict_timer_arm(c);
	}
	free(url);
	return r;
}

static void call_set_state(struct kms_call *call, enum call_state s)
{
	if (call->state != s)
		log_debug("kms: %s %s: %s -> %s", operation_names[call->op], call->key_id,
			  call_state_names[call->state], call_state_names[s]);
	call->state = s;
}

static void call_free(struct kms_call *call)
{
	call->client->in_flight--;
	LIST_REMOVE(call, link);
	if (call->http)
		https_request_abandon(call->http);
	endpoint_pool_release(call->client, call->endpoint, call->caller);
	ratelimit_wait_cancel(call->wait);
	if (call->timer)
		event_free(call->timer);
	if (call->deadline_timer)
		event_free(call->deadline_timer);
	aws_credentials_unref(call->credentials);
	free(call->rate_key);
	free(call->key_id);
	free(call->region);
	free(call->partition);
	free(call->body);
	free(call->last_code);
	free(call->last_message);
	free(call->last_request_id);
	free(call);
}

void kms_call_abandon(struct kms_call *call)
{
	if (call)
		call_free(call);
}

static long remaining_ms(const struct kms_call *call)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (call->deadline.tv_sec - now.tv_sec) * 1000L + (call->deadline.tv_nsec - now.tv_nsec) / 1000000L;
}

/* Runs the callback with r, then frees the call: r may point into the
 * call (its last error), so the call outlives the callback. */
static void call_finish(struct kms_call *call, const struct kms_result *r)
{
	call->http = NULL;
	call->done(r, call->userdata);
	call_free(call);
}

static void call_fail(struct kms_call *call, kmscancel_error error, const char *code, const char *message,
		      const char *request_id)
{
	struct kms_result r = {
		.error = error,
		.error_code = code,
		.message = message,
		.request_id = request_id,
		.attempts = call->attempts,
		.response_lost = call->response_lost,
	};

	call_finish(call, &r);
}

/* Remembers the latest failure so the one reported after the last attempt is
 * the real one, not a generic "gave up". */
static void call_note_failure(struct kms_call *call, kmscancel_error error, const char *code, const char *message,
			      const char *request_id)
{
	free(call->last_code);
	free(call->last_message);
	free(call->last_request_id);
	call->last_error = error;
	call->last_code = code ? strdup(code) : NULL;
	call->last_message = message ? strdup(message) : NULL;
	call->last_request_id = request_id ? strdup(request_id) : NULL;
}

static void call_fail_last(struct kms_call *call)
{
	char *message = call->last_message;

	call_fail(call, call->last_error, call->last_code, message ? message : "request failed",
		  call->last_request_id);
}

static void attempt_begin(struct kms_call *call);

static void backoff_done(evutil_socket_t fd, short what, void *userdata)
{
	attempt_begin(userdata);
}

/* The longest backoff before retry number retry (1 for the first):
 * min(base × 2^(retry-1), cap). */
static uint64_t backoff_ceiling_ms(const struct kms_client *c, unsigned retry)
{
	uint64_t ceiling = (uint64_t)c->retry_base_ms << (retry > 16 ? 16 : retry - 1);

	return ceiling > KMS_MAX_BACKOFF_MS ? KMS_MAX_BACKOFF_MS : ceiling;
}

/* Full-jitter exponential backoff (AWS.md §3.2): rand[0,1) × min(base × 2^(i-1), cap). */
static unsigned backoff_ms(const struct kms_call *call)
{
	/* the retry about to happen: 1 after the first attempt */
	uint64_t ceiling = backoff_ceiling_ms(call->client, call->attempts);
	uint32_t rnd;

	if (ceiling == 0)
		return 0;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)rand();
	return (unsigned)((uint64_t)rnd * ceiling >> 32);
}

/* Schedules another attempt if one is allowed, the endpoint's retry quota
 * has cost tokens left, and the backoff fits in the deadline; otherwise
 * reports the last failure.  cost: KMS_RETRY_COST, or
 * KMS_RETRY_COST_TIMEOUT after a timeout (AWS.md §3.2). */
static void call_retry_or_fail(struct kms_call *call, unsigned cost)
{
	struct endpoint_pool *e = call->endpoint;
	unsigned delay;
	struct timeval tv;

	if (call->attempts >= call->client->max_attempts) {
		call_fail_last(call);
		return;
	}
	if (e->retry_tokens < cost) {
		call->client->retry_quota_out++;
		log_warning("kms: %s: retry quota exhausted (too many failures); not retrying %s %s", e->url,
			    operation_names[call->op], call->key_id);
		call_fail_last(call);
		return;
	}
	delay = backoff_ms(call);
	if ((long)delay >= remaining_ms(call)) {
		call_fail_last(call);
		return;
	}
	e->retry_tokens -= cost;
	call->last_retry_cost = cost;
	call->client->retries++;
	log_debug("kms: %s %s: attempt %u failed (%s), retrying in %u ms", operation_names[call->op], call->key_id,
		  call->attempts, call->last_code ? call->last_code : "?", delay);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	call_set_state(call, CALL_BACKOFF);
	evtimer_add(call->timer, &tv);
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

/* A skew-class error: if AWS's Date is far from ours, correct our clock for
 * all later signatures and say the attempt is worth repeating. */
static bool clock_skew_adjust(struct kms_client *c, const struct http_response *resp)
{
	time_t server = response_date(resp);
	long skew;

	if (server < 0)
		return false;
	skew = (long)(server - time(NULL));
	if (labs(skew - c->clock_offset) < CLOCK_SKEW_MIN_SEC)
		return false;
	log_warning("kms: local clock is %+ld s off AWS's; signing with AWS's time from now on", -skew);
	c->clock_offset = skew;
	sigv4_key_cache_clear(c->keys);
	memo_clear(c->memo);
	return true;
}

static void handle_error_response(struct kms_call *call, struct http_response *resp, const char *request_id)
{
	char *code = NULL, *message = NULL;
	enum kms_error_class cls;
	kmscancel_error error;

	if (kms_error_decode(resp, &code, &message) < 0) {
		call_fail(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL, "out of memory", request_id);
		return;
	}
	error = kms_error_to_kmscancel(code);
	cls = kms_error_classify(code, resp->status);
	log_debug("kms: %s %s: HTTP %d %s (%s): %s", operation_names[call->op], call->key_id, resp->status, code,
		  kms_error_class_to_string(cls), message);
	call_note_failure(call, error, code, message, request_id);

	if (cls == KMS_ERROR_THROTTLING)
		call->client->throttled++;
	if (cls == KMS_ERROR_CLOCK_SKEW && clock_skew_adjust(call->client, resp))
		cls = KMS_ERROR_TRANSIENT;
	free(code);
	free(message);
	if (cls == KMS_ERROR_TRANSIENT || cls == KMS_ERROR_THROTTLING)
		call_retry_or_fail(call, KMS_RETRY_COST);
	else
		call_fail_last(call);
}

static void handle_success(struct kms_call *call, struct http_response *resp, const char *request_id)
{
	struct json_object *body = NULL;
	struct endpoint_pool *e = call->endpoint;
	struct kms_result r = {
		.error = KMSCANCEL_OK,
		.request_id = request_id,
		.attempts = call->attempts,
		.response_lost = call->response_lost,
	};

	if (resp->body_len > 0) {
		struct json_tokener *tok = call->client->json;

		json_tokener_reset(tok); /* whatever the last body left in it */
		if (resp->body_len <= INT32_MAX)
			body = json_tokener_parse_ex(tok, resp->body, (int)resp->body_len);
		if (body && (json_tokener_get_error(tok) != json_tokener_success ||
			     !json_object_is_type(body, json_type_object))) {
			json_object_put(body);
			body = NULL;
		}
		if (!body) {
			/* A 200 with a body that is not a JSON object is not an
			 * answer we can trust; treat it like a garbled response. */
			call_note_failure(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL,
					  "KMS answered HTTP 200 with a body that is not a JSON object", request_id);
			call->response_lost = true; /* KMS did act on it */
			call_retry_or_fail(call, KMS_RETRY_COST);
			return;
		}
	} else {
		body = json_object_new_object();
	}
	/* The retry quota: a success refunds the retry that led to it, a
	 * first-time success adds a little (AWS.md §3.2). */
	e->retry_tokens += call->attempts > 1 ? call->last_retry_cost : KMS_RETRY_QUOTA_SUCCESS_BONUS;
	if (e->retry_tokens > KMS_RETRY_QUOTA_CAPACITY)
		e->retry_tokens = KMS_RETRY_QUOTA_CAPACITY;
	r.body = body;
	call_finish(call, &r);
	json_object_put(body);
}

static void http_done(const struct https_outcome *o, struct http_response *resp, void *userdata)
{
	struct kms_call *call = userdata;
	char *request_id = NULL;

	call->http = NULL;
	if (o->error != HTTPS_OK) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s: %s%s%s", call->endpoint->url, https_error_to_string(o->error),
			 o->detail ? ": " : "", o->detail ? o->detail : "");
		log_debug("kms: %s %s: attempt %u: %s", operation_names[call->op], call->key_id, call->attempts, msg);
		/* Sent in full but unanswered: KMS may have carried it out. */
		if (o->request_sent || o->resent)
			call->response_lost = true;
		if (o->error == HTTPS_E_TIMEOUT && remaining_ms(call) <= 0) {
			call_fail(call, KMSCANCEL_E_TIMEOUT, NULL, "the call's deadline passed before KMS answered",
				  NULL);
			return;
		}
		if (o->error == HTTPS_E_TIMEOUT)
			log_info("kms: %s %s: attempt %u: %s (AttemptTimeout=)", operation_names[call->op],
				 call->key_id, call->attempts, o->detail ? o->detail : "timed out");
		call_note_failure(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL, msg, NULL);
		/* A certificate that fails verification will fail again: fail closed at once. */
		if (o->error == HTTPS_E_TLS || o->error == HTTPS_E_SHUTDOWN || o->error == HTTPS_E_NOMEM)
			call_fail_last(call);
		else
			/* A connect or handshake that timed out is priced as a
			 * timeout too (AWS.md §3.2: "10 after a connect/read timeout"). */
			call_retry_or_fail(call, o->timed_out ? KMS_RETRY_COST_TIMEOUT : KMS_RETRY_COST);
		return;
	}
	if (o->resent)
		call->response_lost = true;

	if (http_response_header(resp, "x-amzn-requestid"))
		request_id = strdup(http_response_header(resp, "x-amzn-requestid"));
	if (resp->status >= 200 && resp->status < 300)
		handle_success(call, resp, request_id);
	else
		handle_error_response(call, resp, request_id);
	free(request_id);
	http_response_free(resp);
}

/* Finds the signing key for these credentials, day and region: from the
 * memo, else from the sigv4 cache (deriving it on a miss), and remembers it.
 * ret_key is secret: the caller wipes it. */
static int signing_key(struct kms_client *c, struct aws_credentials *cr, const char *date8, const char *region,
		       uint8_t ret_key[SIGV4_KEY_SIZE])
{
	struct signing_memo *m = c->memo;
	int r;

	if (m->creds == cr && strcmp(m->date8, date8) == 0 && strcmp(m->region, region) == 0) {
		memcpy(ret_key, m->key, SIGV4_KEY_SIZE);
		return 0;
	}
	r = sigv4_key_cache_get(c->keys, cr->secret_access_key, date8, region, KMS_SERVICE, ret_key);
	if (r < 0 || strlen(date8) >= sizeof(m->date8) || strlen(region) >= sizeof(m->region))
		return r;
	memo_clear(m);
	m->creds = aws_credentials_ref(cr);
	strcpy(m->date8, date8);
	strcpy(m->region, region);
	memcpy(m->key, ret_key, SIGV4_KEY_SIZE);
	return 0;
}

/* Builds, signs and serialises one attempt.  Signed per attempt because
 * X-Amz-Date must be fresh and the clock offset may have changed. */
static int request_build(struct kms_call *call, char **ret, size_t *ret_len)
{
	struct kms_client *c = call->client;
	struct aws_credentials *cr = call->credentials;
	const struct url *u = &call->endpoint->parsed;
	char amz_date[SIGV4_AMZ_DATE_SIZE], date8[9], target[64];
	uint8_t key[SIGV4_KEY_SIZE];
	char *authorization = NULL;
	size_t n_signed = 4;
	int r;

	sigv4_format_amz_date(time(NULL) + c->clock_offset, amz_date);
	memcpy(date8, amz_date, 8);
	date8[8] = '\0';
	snprintf(target, sizeof(target), KMS_TARGET_PREFIX "%s", operation_names[call->op]);

	/* Sorted by name already, though the signer does not rely on it. */
	struct sigv4_header signed_headers[5] = {
		{ "Content-Type", KMS_CONTENT_TYPE },
		{ "Host", u->host_header },
		{ "X-Amz-Date", amz_date },
		{ "X-Amz-Target", target },
	};
	if (cr->session_token)
		signed_headers[n_signed++] = (struct sigv4_header){ "X-Amz-Security-Token", cr->session_token };

	struct sigv4_request req = {
		.method = "POST",
		.path = u->path,
		.headers = signed_headers,
		.n_headers = n_signed,
		.payload = call->body,
		.payload_len = strlen(call->body),
		.normalize_path = true,
	};

	r = signing_key(c, cr, date8, call->region, key);
	if (r < 0)
		return r;
	r = sigv4_authorization(&req, cr->access_key_id, key, amz_date, call->region, KMS_SERVICE, &authorization);
	explicit_bzero(key, sizeof(key));
	if (r < 0)
		return r;

	struct http_request_header headers[] = {
		{ "Content-Type", KMS_CONTENT_TYPE },
		{ "X-Amz-Date", amz_date },
		{ "X-Amz-Target", target },
		{ "Authorization", authorization },
		{ "User-Agent", USER_AGENT },
		{ "X-Amz-Security-Token", cr->session_token },
	};
	r = http_request_format("POST", u->path, u->host_header, headers, cr->session_token ? 6 : 5, call->body,
				strlen(call->body), ret, ret_len);
	free(authorization);
	return r;
}

/* The endpoint's pool refuses requests once HTTPS_POOL_MAX_QUEUED wait for a
 * connection.  That is load, not a failure of this call: it waits its turn
 * (within its deadline, rate-limit token in hand) instead of failing or
 * using up an attempt. */
static bool endpoint_queue_full(const struct kms_call *call)
{
	struct https_pool_stats s;

	https_pool_get_stats(call->endpoint->pool, &s);
	return s.queued >= HTTPS_POOL_MAX_QUEUED;
}

static void attempt_send(struct kms_call *call);

static void queue_wait_done(evutil_socket_t fd, short what, void *userdata)
{
	struct kms_call *call = userdata;

	evtimer_assign(call->timer, call->client->base, backoff_done, call);
	attempt_send(call);
}

/*
 * The attempt timeout for the attempt just counted, left ms before the
 * deadline: the client's, if a retry could follow it (an attempt left, the
 * retry quota's timeout cost available, and the timeout plus the longest
 * backoff within the deadline), else 0.  Cutting short an attempt nothing
 * can follow would only turn a late answer into none; the deadline ends it.
 *
 * Retrying after a timeout is safe for every operation here: CancelKeyDeletion,
 * EnableKey and DescribeKey are idempotent (a repeat leaves the key as the
 * first left it), and a repeat that finds its own earlier effect
 * (KMSInvalidStateException after a cancel that went through) is resolved by
 * the caller with DescribeKey, thanks to response_lost.
 */
static unsigned attempt_timeout_ms(const struct kms_call *call, long left)
{
	const struct kms_client *c = call->client;

	if (!c->attempt_timeout_ms || call->attempts >= c->max_attempts ||
	    call->endpoint->retry_tokens < KMS_RETRY_COST_TIMEOUT)
		return 0;
	if ((uint64_t)c->attempt_timeout_ms + backoff_ceiling_ms(c, call->attempts) >= (uint64_t)left)
		return 0;
	return c->attempt_timeout_ms;
}

/* Sends one attempt, its rate-limit token in hand. */
static void attempt_send(struct kms_call *call)
{
	long left = remaining_ms(call);
	char *request;
	size_t len;
	int r;

	if (left <= 0) {
		call_fail(call, KMSCANCEL_E_TIMEOUT, NULL, "the call's deadline passed before KMS answered", NULL);
		return;
	}
	if (endpoint_queue_full(call)) {
		struct timeval tv = { 0, KMS_QUEUE_FULL_WAIT_MS * 1000 };

		call_set_state(call, CALL_BACKOFF);
		evtimer_assign(call->timer, call->client->base, queue_wait_done, call);
		evtimer_add(call->timer, &tv);
		return;
	}
	r = request_build(call, &request, &len);
	if (r < 0) {
		call_fail(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL, "could not build the request", NULL);
		return;
	}
	call->attempts++;
	call->client->attempts++;
	call_set_state(call, CALL_SENDING);
	/* The call's own deadline timer answers Timeout and abandons the
	 * request; the request's timeout only backs it up, so it is set a
	 * little later, or a tie under load would end as EndpointUnavailable. */
	call->http = https_pool_submit(call->endpoint->pool, request, len, (unsigned)left + KMS_DEADLINE_SLACK_MS,
				       http_done, call);
	wipe_free(request, len); /* it carries the session token */
	if (!call->http) {
		call_fail(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL, "out of memory", NULL);
		return;
	}
	/* A silent connection fails this attempt, not the whole call: the
	 * pool closes it and http_done retries on another. */
	https_request_set_response_timeout(call->http, attempt_timeout_ms(call, left));
}

static void token_granted(void *userdata)
{
	struct kms_call *call = userdata;

	call->wait = NULL;
	attempt_send(call);
}

/* Starts an attempt once the rate limiter allows: at once, or queued until
 * a token is due (the deadline timer covers the wait). */
static void attempt_begin(struct kms_call *call)
{
	struct kms_client *c = call->client;
	int r;

	if (!c->limiter) {
		attempt_send(call);
		return;
	}
	r = ratelimit_acquire(c->limiter, call->rate_key, c->rates[call->op], call->caller, token_granted, call,
			      &call->wait);
	if (r > 0) {
		attempt_send(call);
	} else if (r == 0) {
		c->rate_limited++;
		call_set_state(call, CALL_QUEUED);
	} else if (r == -EBUSY) {
		char msg[256];

		c->rate_rejected++;
		snprintf(msg, sizeof(msg),
			 "kmscanceld: this caller already has the most %s requests allowed waiting for the KMS "
			 "request quota (%.6g/s; [KMS] MaxQueued=%u); try again later",
			 operation_names[call->op], c->rates[call->op], ratelimit_max_queued(c->limiter));
		call_fail(call, KMSCANCEL_E_THROTTLING, NULL, msg, NULL);
	} else {
		call_fail(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL, "out of memory", NULL);
	}
}

static void first_attempt(evutil_socket_t fd, short what, void *userdata)
{
	struct kms_call *call = userdata;

	evtimer_assign(call->timer, call->client->base, backoff_done, call);
	if (!call->endpoint) {
		call_fail_last(call);
		return;
	}
	attempt_begin(call);
}

/* The deadline, wherever the call is: waiting for a token, backing off, or
 * with a request in flight, which is abandoned (its connection closed, as
 * its answer could no longer be matched). */
static void deadline_reached(evutil_socket_t fd, short what, void *userdata)
{
	struct kms_call *call = userdata;

	log_debug("kms: %s %s: deadline reached while %s", operation_names[call->op], call->key_id,
		  call_state_names[call->state]);
	if (call->http) {
		https_request_abandon(call->http);
		call->http = NULL;
		call->response_lost = true;
	}
	call_fail(call, KMSCANCEL_E_TIMEOUT, NULL, "the call's deadline passed before KMS answered",
		  call->last_request_id);
}

/* True if s goes into a JSON string as it is: printable ASCII without '"'
 * or '\\' (json-c leaves '/' alone with JSON_C_TO_STRING_NOSLASHESCAPE). */
static bool json_plain(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f || *s == '"' || *s == '\\')
			return false;
	return true;
}

/* {"KeyId":"<key_id>"}, malloc'ed.  Key IDs and ARNs are plain ASCII, so
 * the body is written by hand, as json-c would write it: its object,
 * printbuf and copy cost ~3,000 instructions.  Anything else goes through
 * json-c, which escapes it. */
static char *request_body(const char *key_id)
{
	static const char head[] = "{\"KeyId\":\"", tail[] = "\"}";
	struct json_object *o;
	char *s = NULL;

	if (json_plain(key_id)) {
		size_t n = strlen(key_id);

		s = malloc(strlen(head) + n + sizeof(tail));
		if (s) {
			memcpy(s, head, strlen(head));
			memcpy(s + strlen(head), key_id, n);
			memcpy(s + strlen(head) + n, tail, sizeof(tail));
		}
		return s;
	}
	o = json_object_new_object();
	if (!o)
		return NULL;
	if (json_object_object_add(o, "KeyId", json_object_new_string(key_id)) == 0)
		s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

static int call_endpoint_url(const struct kms_client *c, const struct kms_request *req, char **ret)
{
	if (c->endpoint_url) {
		*ret = strdup(c->endpoint_url);
		return *ret ? 0 : -ENOMEM;
	}
	return endpoint_kms_url_variant(req->partition, req->region, endpoint_variant(c), ret);
}

struct kms_call *kms_call_start(struct kms_client *c, const struct kms_request *req, kms_done_fn done,
				void *userdata)
{
	struct kms_call *call;
	char *url = NULL;
	struct timeval now = { 0, 0 };
	int r;

	if (c->shutting_down)
		return NULL;
	call = calloc(1, sizeof(*call));
	if (!call)
		return NULL;
	call->client = c;
	c->in_flight++;
	LIST_INSERT_HEAD(&c->pending, call, link);
	call->op = req->op;
	call->done = done;
	call->userdata = userdata;
	call->credentials = aws_credentials_ref(req->credentials);
	call->key_id = strdup(req->key_id);
	call->region = strdup(req->region);
	call->partition = req->partition ? strdup(req->partition) : NULL;
	call->body = request_body(req->key_id);
	call->caller = req->caller;
	call->timer = evtimer_new(c->base, first_attempt, call);
	call->deadline_timer = evtimer_new(c->base, deadline_reached, call);
	if (asprintf(&call->rate_key, "%s/%s/%s", req->account ? req->account : "-", req->region,
		     operation_names[req->op]) < 0)
		call->rate_key = NULL;
	clock_gettime(CLOCK_MONOTONIC, &call->deadline);
	call->deadline.tv_sec += req->timeout_ms / 1000;
	call->deadline.tv_nsec += (long)(req->timeout_ms % 1000) * 1000000L;
	if (call->deadline.tv_nsec >= 1000000000L) {
		call->deadline.tv_sec++;
		call->deadline.tv_nsec -= 1000000000L;
	}
	if (!call->key_id || !call->region || (req->partition && !call->partition) || !call->body || !call->timer ||
	    !call->deadline_timer || !call->rate_key) {
		call_free(call);
		return NULL;
	}
	c->calls++;

	/* Endpoint problems are reported through the callback like any other
	 * failure; the first attempt always starts from the loop, so done never
	 * runs inside this function. */
	r = call_endpoint_url(c, req, &url);
	if (r >= 0)
		r = endpoint_pool_get(c, url, req->account, req->caller, &call->endpoint);
	if (r >= 0) {
		endpoint_pool_hold(call->endpoint, call->caller);
	} else if (r == -EDQUOT) {
		char msg[256];

		c->pools_refused++;
		snprintf(msg, sizeof(msg),
			 "kmscanceld: this caller's calls already hold %u KMS connection pools, the most one uid "
			 "may (a quarter of [KMS] MaxPools=%u), one per endpoint and account; try again later",
			 endpoint_pool_uid_limit(c), c->max_pools);
		call_note_failure(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL, msg, NULL);
	} else if (r == -EBUSY) {
		char msg[256];

		c->pools_refused++;
		snprintf(msg, sizeof(msg),
			 "kmscanceld: calls hold all %u KMS connection pools ([KMS] MaxPools=), one per endpoint "
			 "and account; try again later",
			 c->max_pools);
		call_note_failure(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL, msg, NULL);
	} else {
		call_note_failure(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL,
				  "no usable KMS endpoint for this region", NULL);
	}
	free(url);
	evtimer_add(call->timer, &now);
	{
		struct timeval limit = { req->timeout_ms / 1000, (req->timeout_ms % 1000) * 1000 };

		evtimer_add(call->deadline_timer, &limit);
	}
	return call;
}
