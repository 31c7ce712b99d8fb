/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "kms.h"

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "creds.h"
#include "endpoint.h"
#include "http.h"
#include "kms-error.h"
#include "kms-https.h"
#include "kms-pools.h"
#include "kms-retry.h"
#include "kms-wire.h"
#include "errorf.h"
#include "log.h"
#include "monotime.h"
#include "ratelimit-adaptive.h"
#include "ratelimit.h"
#include "url.h"

/* How often a call waiting for room in a full endpoint queue looks again. */
#define KMS_QUEUE_FULL_WAIT_MS 20

/* How much later than the call's deadline an attempt's own timeout fires. */
#define KMS_DEADLINE_SLACK_MS 1000

static const char *const operation_names[_KMS_OP_MAX] = {
	[KMS_OP_CANCEL_KEY_DELETION] = "CancelKeyDeletion",
	[KMS_OP_DESCRIBE_KEY] = "DescribeKey",
	[KMS_OP_ENABLE_KEY] = "EnableKey",
	[KMS_OP_LIST_KEYS] = "ListKeys",
	[KMS_OP_LIST_ALIASES] = "ListAliases",
};

const char *kms_operation_to_string(enum kms_operation op)
{
	return op < _KMS_OP_MAX ? operation_names[op] : "unknown";
}

struct kms_client {
	struct event_base *base;
	const struct kms_transport *transport;
	struct kms_transport *own_transport; /* the default one, made here; NULL: borrowed */
	struct kms_clock clock;
	struct kms_signer *signer;
	struct json_tokener *json; /* reused for every response body: a new one costs two callocs */
	char *endpoint_url;
	bool fips;
	bool dualstack;
	unsigned max_attempts;
	unsigned retry_base_ms;
	enum aws_retry_mode retry_mode;
	unsigned attempt_timeout_ms; /* 0: none */
	struct kms_pools *pools;
	unsigned long pools_refused;
	long clock_offset; /* seconds to add to our clock, learned from AWS's Date */
	struct ratelimit *limiter;     /* NULL: RateLimit=no and not adaptive */
	bool rate_limit;               /* RateLimit=: the per-operation buckets */
	LIST_HEAD(, kms_call) pending; /* every call not yet completed */
	bool shutting_down;
	double rates[_KMS_OP_MAX];
	unsigned long calls, attempts, retries, throttled, retry_quota_out, rate_limited, rate_rejected;
	unsigned long adaptive_waited;
	unsigned long in_flight; /* calls started and not yet freed */
};

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
	struct kms_pool *endpoint;
	char *body;
	uint64_t deadline_ms; /* on the client's monotonic clock */
	unsigned attempts;
	unsigned last_retry_cost; /* retry quota taken for the latest retry, refunded on success */
	bool response_lost;       /* see kms_result.response_lost */
	char *rate_key;           /* "account/region/operation" */
	uid_t caller;
	struct ratelimit_wait *wait;
	void *http;                   /* the transport's request in flight */
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

int kms_client_new(struct event_base *base, struct evdns_base *dns, const struct kms_client_options *o,
		   struct kms_client **ret, char **ret_error)
{
	struct kms_client *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->base = base;
	c->clock = o->clock ? *o->clock : kms_clock_real;
	c->fips = o->fips;
	c->dualstack = o->dualstack;
	c->retry_mode = o->retry_mode;
	c->max_attempts = o->max_attempts ? o->max_attempts : aws_retry_mode_default_attempts(o->retry_mode);
	c->retry_base_ms = o->retry_base_ms;
	c->attempt_timeout_ms = o->attempt_timeout_ms;
	c->rates[KMS_OP_CANCEL_KEY_DELETION] = KMS_DEFAULT_CANCEL_RATE;
	c->rates[KMS_OP_ENABLE_KEY] = KMS_DEFAULT_ENABLE_RATE;
	c->rates[KMS_OP_DESCRIBE_KEY] = KMS_DEFAULT_DESCRIBE_RATE;
	c->rates[KMS_OP_LIST_KEYS] = KMS_DEFAULT_LIST_RATE;
	c->rates[KMS_OP_LIST_ALIASES] = KMS_DEFAULT_LIST_RATE;
	for (int i = 0; i < _KMS_OP_MAX; i++)
		if (o->rates[i] > 0)
			c->rates[i] = o->rates[i];
	c->rate_limit = o->rate_limit;
	if (o->rate_limit || o->retry_mode == AWS_RETRY_MODE_ADAPTIVE) {
		c->limiter = ratelimit_new(base, o->max_queued);
		if (!c->limiter) {
			kms_client_free(c);
			return -ENOMEM;
		}
	}

	if (o->endpoint_url) {
		struct url probe;

		if (url_parse(o->endpoint_url, &probe) < 0) {
			kms_client_free(c);
			return errorf(ret_error, -EINVAL, "invalid KMS endpoint URL '%s'", o->endpoint_url);
		}
		url_done(&probe);
		c->endpoint_url = strdup(o->endpoint_url);
	}
	c->signer = kms_signer_new();
	c->json = json_tokener_new();
	if ((o->endpoint_url && !c->endpoint_url) || !c->signer || !c->json) {
		kms_client_free(c);
		return -ENOMEM;
	}
	c->transport = o->transport;
	if (!c->transport) {
		r = kms_https_transport_new(base, dns, o, &c->own_transport, ret_error);
		if (r < 0) {
			kms_client_free(c);
			return r;
		}
		c->transport = c->own_transport;
	}
	c->pools = kms_pools_new(base, c->transport, &c->clock, o->max_pools, o->pool.idle_timeout_ms,
				 o->pool.max_connections);
	if (!c->pools) {
		kms_client_free(c);
		return -ENOMEM;
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
			c->transport->ops->abandon(call->http);
			call->http = NULL;
		}
		call_fail(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL, "kmscanceld is shutting down", NULL);
	}
	kms_pools_free(c->pools);
	ratelimit_free(c->limiter);
	if (c->own_transport)
		c->own_transport->ops->free(c->own_transport->impl);
	kms_signer_free(c->signer);
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
		.adaptive_waited = c->adaptive_waited,
		.clock_offset_sec = c->clock_offset,
		.in_flight = c->in_flight,
		.pools_refused = c->pools_refused,
	};

	if (c->limiter) {
		struct ratelimit_stats rs;

		ratelimit_get_stats(c->limiter, &rs);
		s.rate_waiting = rs.waiting;
	}
	kms_pools_add_stats(c->pools, &s);
	*ret = s;
}

long kms_client_list_endpoints(const struct kms_client *c, struct kms_endpoint_stats *ret, size_t max)
{
	return kms_pools_list(c->pools, ret, max);
}

/* The regional endpoints' variant: kms-fips, the dual-stack suffix. */
static unsigned endpoint_variant(const struct kms_client *c)
{
	return (c->fips ? ENDPOINT_FIPS : 0) | (c->dualstack ? ENDPOINT_DUALSTACK : 0);
}

/* The endpoint URL for region of partition (NULL: the region's): the
 * override, if any. */
static int endpoint_url(const struct kms_client *c, const char *partition, const char *region, char **ret)
{
	if (c->endpoint_url) {
		*ret = strdup(c->endpoint_url);
		return *ret ? 0 : -ENOMEM;
	}
	return endpoint_kms_url_variant(partition, region, endpoint_variant(c), ret);
}

int kms_client_prewarm(struct kms_client *c, const char *region)
{
	char *url = NULL;
	int r;

	r = endpoint_url(c, NULL, region, &url);
	if (r >= 0)
		r = kms_pools_prewarm(c->pools, url);
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
		call->client->transport->ops->abandon(call->http);
	kms_pool_release(call->client->pools, call->endpoint, call->caller);
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
	const struct kms_clock *clock = &call->client->clock;

	return (long)(int64_t)(call->deadline_ms - clock->now_mono_ms(clock->ctx));
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

/* Full-jitter exponential backoff (AWS.md §3.2): rand[0,1) × min(base × 2^(i-1), cap). */
static unsigned backoff_ms(const struct kms_call *call)
{
	/* the retry about to happen: 1 after the first attempt */
	const struct kms_client *c = call->client;

	if (kms_backoff_ceiling_ms(c->retry_mode, c->retry_base_ms, call->attempts) == 0)
		return 0;
	return kms_backoff_ms(c->retry_mode, c->retry_base_ms, call->attempts, c->clock.random(c->clock.ctx));
}

/* Schedules another attempt if one is allowed, the endpoint's retry quota
 * has cost tokens left (in the modes that keep one), and the backoff fits
 * in the deadline; otherwise reports the last failure.  cost:
 * KMS_RETRY_COST, or KMS_RETRY_COST_TIMEOUT after a timeout (AWS.md §3.2). */
static void call_retry_or_fail(struct kms_call *call, unsigned cost)
{
	struct kms_pool *e = call->endpoint;
	unsigned delay;
	struct timeval tv;

	if (call->attempts >= call->client->max_attempts) {
		call_fail_last(call);
		return;
	}
	if (!kms_retry_quota_used(call->client->retry_mode))
		cost = 0;
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
	tv = timeval_from_msec(delay);
	call_set_state(call, CALL_BACKOFF);
	evtimer_add(call->timer, &tv);
}

/* The endpoint's adaptive bucket: one per pool (endpoint and account). */
static void adaptive_key(const struct kms_pool *e, char *buf, size_t size)
{
	snprintf(buf, size, "adaptive %s %s", e->url, e->account);
}

/* The adaptive mode's account of an answer on call's endpoint (throttled:
 * a throttling error; anything else counts as a success, as in the SDKs):
 * the endpoint's send rate moves, and requests already waiting for it are
 * paced at the new rate. */
static void adaptive_note(struct kms_call *call, bool throttled)
{
	struct kms_client *c = call->client;
	struct adaptive_rate *a = &call->endpoint->adaptive;
	char key[512];

	if (c->retry_mode != AWS_RETRY_MODE_ADAPTIVE)
		return;
	adaptive_rate_update(a, (double)c->clock.now_mono_ms(c->clock.ctx) / 1000.0, throttled);
	if (!a->enabled)
		return;
	if (throttled)
		log_debug("kms: %s: throttled; adaptive send rate %.3g/s (measured %.3g/s)", call->endpoint->url,
			  a->fill_rate, a->measured);
	adaptive_key(call->endpoint, key, sizeof(key));
	(void)ratelimit_set_rate(c->limiter, key, a->fill_rate, ADAPTIVE_BURST_SEC);
}

/* Whether an error answer of class cls is retried in the client's mode
 * (kms-retry.h): the legacy mode has its own list. */
static bool error_retryable(const struct kms_client *c, enum kms_error_class cls, const char *code, int status)
{
	if (c->retry_mode == AWS_RETRY_MODE_LEGACY)
		return kms_legacy_retryable(code, status);
	return cls == KMS_ERROR_TRANSIENT || cls == KMS_ERROR_THROTTLING;
}

/* A skew-class error: if AWS's Date is far from ours, correct our clock for
 * all later signatures and say the attempt is worth repeating. */
static bool clock_skew_adjust(struct kms_client *c, const struct http_response *resp)
{
	long skew;

	if (!kms_clock_skew(resp, c->clock.now_wall(c->clock.ctx), c->clock_offset, &skew))
		return false;
	log_warning("kms: local clock is %+ld s off AWS's; signing with AWS's time from now on", -skew);
	c->clock_offset = skew;
	kms_signer_forget(c->signer);
	return true;
}

static void handle_error_response(struct kms_call *call, struct http_response *resp, const char *request_id)
{
	char *code = NULL, *message = NULL;
	enum kms_error_class cls;
	kmscancel_error error;
	bool retry;

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
	adaptive_note(call, cls == KMS_ERROR_THROTTLING);
	/* A clock corrected is worth another attempt in every mode (daemon
	 * policy, like the correction itself). */
	if (cls == KMS_ERROR_CLOCK_SKEW && clock_skew_adjust(call->client, resp))
		retry = true;
	else
		retry = error_retryable(call->client, cls, code, resp->status);
	free(code);
	free(message);
	if (retry)
		call_retry_or_fail(call, KMS_RETRY_COST);
	else
		call_fail_last(call);
}

static void handle_success(struct kms_call *call, struct http_response *resp, const char *request_id)
{
	struct json_object *body = NULL;
	struct kms_pool *e = call->endpoint;
	struct kms_result r = {
		.error = KMSCANCEL_OK,
		.request_id = request_id,
		.attempts = call->attempts,
		.response_lost = call->response_lost,
	};

	adaptive_note(call, false);
	if (resp->body_len > 0) {
		body = kms_response_body(call->client->json, resp);
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
	if (kms_retry_quota_used(call->client->retry_mode))
		kms_retry_quota_credit(&e->retry_tokens, call->attempts, call->last_retry_cost);
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
		adaptive_note(call, false);
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

/* The attempt timeout for the attempt just counted, left ms before the
 * deadline (see kms_attempt_timeout_ms). */
static unsigned attempt_timeout_ms(const struct kms_call *call, long left)
{
	const struct kms_client *c = call->client;

	return kms_attempt_timeout_ms(c->retry_mode, c->attempt_timeout_ms, call->attempts, c->max_attempts,
				      call->endpoint->retry_tokens, c->retry_base_ms, left);
}

/* Hands the signed attempt to the transport, left ms before the deadline. */
static void *request_submit(struct kms_call *call, const struct kms_signature *sig, long left)
{
	const struct kms_transport *t = call->client->transport;
	const struct url *u = &call->endpoint->parsed;
	struct http_request_header headers[KMS_REQUEST_HEADERS_MAX];
	struct kms_http_request req = {
		.method = "POST",
		.path = u->path,
		.host_header = u->host_header,
		.headers = headers,
		.n_headers = kms_request_headers(sig, call->credentials->session_token, headers),
		.body = call->body,
		.body_len = strlen(call->body),
		/* The call's own deadline timer answers Timeout and abandons
		 * the request; the request's timeout only backs it up, so it is
		 * set a little later, or a tie under load would end as
		 * EndpointUnavailable. */
		.timeout_ms = (unsigned)left + KMS_DEADLINE_SLACK_MS,
		/* A silent connection fails this attempt, not the whole call:
		 * the pool closes it and http_done retries on another. */
		.response_timeout_ms = attempt_timeout_ms(call, left),
	};

	return t->ops->submit(call->endpoint->pool, &req, http_done, call);
}

static void attempt_send(struct kms_call *call);

static void queue_wait_done(evutil_socket_t fd, short what, void *userdata)
{
	struct kms_call *call = userdata;

	evtimer_assign(call->timer, call->client->base, backoff_done, call);
	attempt_send(call);
}

/* Sends one attempt, its rate-limit token in hand. */
static void attempt_send(struct kms_call *call)
{
	struct kms_client *c = call->client;
	long left = remaining_ms(call);
	struct kms_signature sig = { .authorization = NULL };
	int r;

	if (left <= 0) {
		call_fail(call, KMSCANCEL_E_TIMEOUT, NULL, "the call's deadline passed before KMS answered", NULL);
		return;
	}
	/* The endpoint's pool refuses requests once HTTPS_POOL_MAX_QUEUED
	 * wait for a connection.  That is load, not a failure of this call:
	 * it waits its turn (within its deadline, rate-limit token in hand)
	 * instead of failing or using up an attempt. */
	if (kms_pool_queue_full(c->pools, call->endpoint)) {
		struct timeval tv = { 0, KMS_QUEUE_FULL_WAIT_MS * 1000 };

		call_set_state(call, CALL_BACKOFF);
		evtimer_assign(call->timer, c->base, queue_wait_done, call);
		evtimer_add(call->timer, &tv);
		return;
	}
	r = kms_sign(c->signer, call->credentials, operation_names[call->op], &call->endpoint->parsed, call->region,
		     call->body, c->clock.now_wall(c->clock.ctx) + c->clock_offset, &sig);
	if (r < 0) {
		call_fail(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL, "could not build the request", NULL);
		return;
	}
	call->attempts++;
	c->attempts++;
	call_set_state(call, CALL_SENDING);
	call->http = request_submit(call, &sig, left);
	free(sig.authorization);
	if (!call->http)
		call_fail(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL, "out of memory", NULL);
}

/* A token refused (r < 0) by a bucket of rate what/s: the call ends. */
static void token_refused(struct kms_call *call, int r, const char *what, double rate)
{
	struct kms_client *c = call->client;
	char msg[256];

	if (r != -EBUSY) {
		call_fail(call, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL, "out of memory", NULL);
		return;
	}
	c->rate_rejected++;
	snprintf(msg, sizeof(msg),
		 "kmscanceld: this caller already has the most %s requests allowed waiting for the %s (%.6g/s; "
		 "[KMS] MaxQueued=%u); try again later",
		 operation_names[call->op], what, rate, ratelimit_max_queued(c->limiter));
	call_fail(call, KMSCANCEL_E_THROTTLING, NULL, msg, NULL);
}

static void adaptive_granted(void *userdata)
{
	struct kms_call *call = userdata;

	call->wait = NULL;
	attempt_send(call);
}

/* Second gate, after the RateLimit= token: in adaptive mode, once the
 * endpoint has been throttled, a token at its adaptive send rate too, so a
 * request waits for both (ratelimit-adaptive.h). */
static void adaptive_begin(struct kms_call *call)
{
	struct kms_client *c = call->client;
	const struct adaptive_rate *a = &call->endpoint->adaptive;
	char key[512];
	int r;

	if (c->retry_mode != AWS_RETRY_MODE_ADAPTIVE || !a->enabled) {
		attempt_send(call);
		return;
	}
	adaptive_key(call->endpoint, key, sizeof(key));
	r = ratelimit_acquire_burst(c->limiter, key, a->fill_rate, ADAPTIVE_BURST_SEC, call->caller, adaptive_granted,
				    call, &call->wait);
	if (r > 0) {
		attempt_send(call);
	} else if (r == 0) {
		c->adaptive_waited++;
		call_set_state(call, CALL_QUEUED);
	} else {
		token_refused(call, r, "adaptive send rate after throttling", a->fill_rate);
	}
}

static void token_granted(void *userdata)
{
	struct kms_call *call = userdata;

	call->wait = NULL;
	adaptive_begin(call);
}

/* Starts an attempt once the rate limiter allows: at once, or queued until
 * a token is due (the deadline timer covers the wait). */
static void attempt_begin(struct kms_call *call)
{
	struct kms_client *c = call->client;
	int r;

	if (!c->rate_limit) {
		adaptive_begin(call);
		return;
	}
	r = ratelimit_acquire(c->limiter, call->rate_key, c->rates[call->op], call->caller, token_granted, call,
			      &call->wait);
	if (r > 0) {
		adaptive_begin(call);
	} else if (r == 0) {
		c->rate_limited++;
		call_set_state(call, CALL_QUEUED);
	} else {
		token_refused(call, r, "KMS request quota", c->rates[call->op]);
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
		call->client->transport->ops->abandon(call->http);
		call->http = NULL;
		call->response_lost = true;
	}
	call_fail(call, KMSCANCEL_E_TIMEOUT, NULL, "the call's deadline passed before KMS answered",
		  call->last_request_id);
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
	/* key_id names the call in logs: a listing names its page. */
	call->key_id = req->key_id && req->op != KMS_OP_LIST_ALIASES ? strdup(req->key_id)
		       : strdup(req->marker ? "(next page)" : "(first page)");
	call->region = strdup(req->region);
	call->partition = req->partition ? strdup(req->partition) : NULL;
	if (req->op == KMS_OP_LIST_KEYS || req->op == KMS_OP_LIST_ALIASES)
		call->body = kms_request_body_list(req->key_id, req->limit, req->marker);
	else
		call->body = req->key_id ? kms_request_body(req->key_id) : NULL;
	call->caller = req->caller;
	call->timer = evtimer_new(c->base, first_attempt, call);
	call->deadline_timer = evtimer_new(c->base, deadline_reached, call);
	if (asprintf(&call->rate_key, "%s/%s/%s", req->account ? req->account : "-", req->region,
		     operation_names[req->op]) < 0)
		call->rate_key = NULL;
	call->deadline_ms = c->clock.now_mono_ms(c->clock.ctx) + req->timeout_ms;
	if (!call->key_id || !call->region || (req->partition && !call->partition) || !call->body || !call->timer ||
	    !call->deadline_timer || !call->rate_key) {
		call_free(call);
		return NULL;
	}
	c->calls++;

	/* Endpoint problems are reported through the callback like any other
	 * failure; the first attempt always starts from the loop, so done never
	 * runs inside this function. */
	r = endpoint_url(c, req->partition, req->region, &url);
	if (r >= 0)
		r = kms_pools_get(c->pools, url, req->account, req->caller, &call->endpoint);
	if (r >= 0) {
		kms_pool_hold(call->endpoint, call->caller);
	} else if (r == -EDQUOT || r == -EBUSY) {
		char msg[256];

		c->pools_refused++;
		kms_pools_refusal(c->pools, r, msg, sizeof(msg));
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
