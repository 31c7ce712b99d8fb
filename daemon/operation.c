/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "operation.h"

#include <assert.h>
#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "coalesce.h"
#include "conf.h"
#include "creds.h"
#include "error-names.h"
#include "kms-error.h"
#include "kms.h"
#include "log.h"
#include "methods-context.h"
#include "monotime.h"
#include "operation-internal.h"
#include "policy.h"
#include "varlink-service.h"

static const char *const state_names[_OPERATION_STATE_MAX] = {
    [OPERATION_AUTHORIZING] = "authorizing",
    [OPERATION_ROUTING] = "routing",
    [OPERATION_AWAITING_CREDENTIALS] = "awaiting-credentials",
    [OPERATION_CALLING_KMS] = "calling-kms",
    [OPERATION_SETTLING] = "settling",
    [OPERATION_FOLLOWING] = "following",
    [OPERATION_DONE] = "done",
};

const char *operation_state_to_string(enum operation_state s)
{
	return (unsigned)s < _OPERATION_STATE_MAX ? state_names[s] : NULL;
}

static const char *const step_names[_OPERATION_STEP_MAX] = {
    [OPERATION_STEP_NONE] = "none",         [OPERATION_STEP_RESOLVE_ALIAS] = "resolve-alias",
    [OPERATION_STEP_DESCRIBE] = "describe", [OPERATION_STEP_DRY_RUN] = "dry-run",
    [OPERATION_STEP_CANCEL] = "cancel",     [OPERATION_STEP_RESOLVE] = "resolve",
    [OPERATION_STEP_ENABLE] = "enable",
};

const char *operation_step_to_string(enum operation_step s)
{
	return (unsigned)s < _OPERATION_STEP_MAX ? step_names[s] : NULL;
}

static void operation_set_state(struct operation *op, enum operation_state s)
{
	if (op->state == s)
		return;
	log_debug("%s %s: %s -> %s (%s)", op->verb, op->key_id, state_names[op->state], state_names[s],
		  step_names[op->step]);
	if (op->ctx->trace)
		op->ctx->trace(op->ctx->trace_userdata, op->key_id, op->state, s, op->step);
	op->state = s;
}

static void credentials_ready(int r, struct aws_credentials *c, const char *error, void *userdata);

static struct operation *operation_free(struct operation *op)
{
	if (!op)
		return NULL;
	assert(!op->leading); /* operation_finish() closes it first */
	if (op->prev_live)
		op->prev_live->next_live = op->next_live;
	else if (op->ctx->operations == op)
		op->ctx->operations = op->next_live;
	if (op->next_live)
		op->next_live->prev_live = op->prev_live;
	if (op->following)
		flight_leave(op->following, op);
	kms_call_abandon(op->kms);
	accounts_wait_cancel(op->ctx->accounts, op->route_wait);
	if (op->creds_waiting)
		account_credentials_cancel(op->route_acct, credentials_ready, op);
	account_unref(op->route_acct);
	free(op->credentials_label);
	if (op->timer)
		event_free(op->timer);
	aws_credentials_unref(op->credentials);
	free(op->key_id);
	free(op->key_arn);
	free(op->cancel_request_id);
	free(op->resolved_arn);
	free(op->region);
	free(op->ambiguous_message);
	free(op->ambiguous_request_id);
	free(op);
	return NULL;
}

/* Milliseconds since since_ms, on the context's clock. */
static long elapsed_ms(const struct operation *op, uint64_t since_ms)
{
	return (long)(int64_t)(methods_now_ms(op->ctx) - since_ms);
}

static long operation_remaining_ms(const struct operation *op)
{
	return (long)op->timeout_ms - elapsed_ms(op, op->started_ms);
}

const char *operation_name(const struct operation *op)
{
	if (op->dry_run)
		return op->enable_key ? "cancel+enable-dry-run" : "cancel-dry-run";
	return op->enable_key ? "cancel+enable" : op->verb;
}

/* The audit record of op's answer (audit.h).  key_state on success, error
 * (a short name, never a message: messages may quote anything) on failure. */
static void audit_outcome(const struct operation *op, const char *key_state, const char *error, const char *request_id)
{
	struct audit_record r = {
	    .event = AUDIT_OUTCOME,
	    .caller = &op->peer,
	    .operation = operation_name(op),
	    .key = op->key_id,
	    .key_arn = op->resolved_arn,
	    .success = error == NULL,
	    .key_state = error ? NULL : key_state,
	    .error = error,
	    .request_id = request_id && *request_id ? request_id : NULL,
	    .attempts = op->attempts,
	    .latency_ms = elapsed_ms(op, op->started_ms),
	    .region = op->region,
	    .account = op->account[0] ? op->account : NULL,
	    .credentials = op->credentials_label,
	};

	/* A refused call's outcome is left out with its refusal: else a uid
	 * no rule allows would write one record per call past the rate. */
	if (!op->refusal_left_out && !(op->origin.done && op->origin.quiet))
		audit_log(&r);
}

/* --- the answer -------------------------------------------------------------------------------- */

/* An internal origin's share of an outcome (operation_start_internal()):
 * what it is told.  leader is the operation that made the KMS requests (op
 * itself, or the leader op followed). */
static void operation_tell(struct operation *op, const struct operation *leader, const struct operation_outcome *o,
			   struct json_object *params)
{
	bool ok = o->error == KMSCANCEL_OK;
	const char *arn = leader->key_arn ? leader->key_arn : leader->resolved_arn;

	op->origin.done(op->origin.userdata,
			&(struct operation_result){
			    .error = o->error,
			    .aws_code = o->aws_code,
			    .message = o->message,
			    .request_id = o->request_id,
			    .cancel_request_id = leader->cancel_request_id,
			    .key_state = ok ? o->key_state : NULL,
			    .key_arn = arn,
			    .account = leader->account[0] ? leader->account : NULL,
			    .region = leader->region,
			    /* A failure after the cancel (its EnableKey) still cancelled it. */
			    .cancelled = op->cancel && !op->dry_run && (ok || leader->step == OPERATION_STEP_ENABLE),
			    .attempts = op->attempts,
			    .params = ok && !o->written ? params : NULL,
			});
}

/* One call's share of an outcome: the audit record, the counters, the
 * reply (params borrowed), or the internal origin's callback; frees op. */
static void operation_answer(struct operation *op, const struct operation *leader, const struct operation_outcome *o,
			     struct json_object *params)
{
	const char *error = NULL;

	operation_set_state(op, OPERATION_DONE);
	if (o->error != KMSCANCEL_OK)
		error = o->aws_code ? o->aws_code : kmscancel_error_short_name(o->error);
	audit_outcome(op, o->key_state, error, o->request_id);
	if (!op->call)
		operation_tell(op, leader, o, params);
	else {
		methods_count(op->ctx, o->error);
		if (o->written)
			call_reply_written(op->call, o->written);
		else if (o->error != KMSCANCEL_OK)
			call_reply_error(op->call, kmscancel_error_to_varlink(o->error), json_object_get(params));
		else
			call_reply(op->call, json_object_get(params));
	}
	operation_free(op);
}

static void flights_rerun(struct operation **followers, size_t n);

void operation_finish(struct operation *op, const struct operation_outcome *o)
{
	struct json_object *params = o->params;
	struct operation **followers = NULL;
	size_t n = flight_close(&op->ctx->flights, op->leading, &followers);
	bool rerun;

	op->leading = NULL;
	/* The leader's own deadline is not its followers': those with time
	 * left make the cancel themselves.  Nor is the daemon's refusal of the
	 * leader's caller, whose rate-limit queue was full (Throttling without
	 * an AWS code; AWS's ThrottlingException always has one and is
	 * everyone's answer). */
	rerun = o->error == KMSCANCEL_E_TIMEOUT || (o->error == KMSCANCEL_E_THROTTLING && !o->aws_code);
	if (o->error != KMSCANCEL_OK && !o->written) {
		params = json_object_new_object();
		json_object_object_add(params, "message", json_object_new_string(o->message ? o->message : ""));
		if (o->request_id)
			json_object_object_add(params, "requestId", json_object_new_string(o->request_id));
		if (o->error == KMSCANCEL_E_KMS)
			json_object_object_add(params, "type",
					       json_object_new_string(o->aws_code ? o->aws_code : "Unknown"));
	}
	for (size_t i = 0; !rerun && i < n; i++) {
		followers[i]->following = NULL;
		followers[i]->attempts = op->attempts;
		operation_answer(followers[i], op, o, params);
	}
	operation_answer(op, op, o, params);
	json_object_put(params);
	if (rerun)
		flights_rerun(followers, n);
	free(followers);
}

void operation_fail(struct operation *op, kmscancel_error error, const char *aws_code, const char *message,
		    const char *request_id)
{
	operation_finish(op, &(struct operation_outcome){
				 .error = error,
				 .aws_code = aws_code,
				 .message = message,
				 .request_id = request_id,
			     });
}

/* --- routing ---------------------------------------------------------------------------------- */

/* The first step once routed: an alias's resolution, or the call's own. */
static void operation_routed(struct operation *op)
{
	if (op->by_alias && !op->resolved_arn) {
		operation_next_step(op, OPERATION_STEP_RESOLVE_ALIAS);
	} else if (!op->cancel) {
		operation_next_step(op, OPERATION_STEP_DESCRIBE);
	} else if (op->dry_run) {
		op->verb = "cancel-dry-run"; /* its outcome changed nothing */
		operation_next_step(op, OPERATION_STEP_DRY_RUN);
	} else {
		operation_cancel(op);
	}
}

static void route_done(int r, const struct account_route *route, const char *error, void *userdata)
{
	struct operation *op = userdata;

	op->route_wait = NULL;
	/* Undecided before routing: decided now with the account routing
	 * learnt, or without it (a deny) when it failed.  Either way before
	 * any routing error reaches the caller. */
	if (op->policy_pending) {
		op->policy_pending = false;
		if (operation_authorize(op, r == 0 && route->account[0] ? route->account : NULL, true) < 0)
			return;
	}
	if (r == -EPERM) {
		/* CancelKeyDeletion never crosses accounts: refused here
		 * rather than sent with another account's credentials. */
		op->refusal_left_out = !audit_log(&(struct audit_record){
		    .event = AUDIT_REJECT,
		    .caller = &op->peer,
		    .operation = operation_name(op),
		    .key = op->key_id,
		    .reason = "no credentials for the key's account",
		    .account = op->key.account,
		});
		operation_fail(op, KMSCANCEL_E_PERMISSION_DENIED, NULL, error, NULL);
		return;
	}
	if (r < 0) {
		operation_fail(op, KMSCANCEL_E_CREDENTIALS_UNAVAILABLE, NULL, error, NULL);
		return;
	}
	op->route_acct = account_ref(route->acct);
	memcpy(op->account, route->account, sizeof(op->account));
	op->credentials_label = strdup(route->label);
	operation_routed(op);
}

/* Finds whose credentials serve op's key (accounts_route()), settles a
 * policy verdict that waited for the account, then takes the first step,
 * or fails op.  A key of an account without credentials is refused, to
 * callers the policy allowed.  op may be gone when this returns. */
static void operation_route(struct operation *op)
{
	const char *account = op->key.kind == KEYID_KIND_ARN ? op->key.account
			      : op->account_param[0]         ? op->account_param
							     : NULL;
	int r;

	operation_set_state(op, OPERATION_ROUTING);
	/* A verdict waiting for a bare key ID's account waits for the default
	 * credentials' account to be learnt. */
	if (op->policy_pending && !account)
		r = accounts_route_learning(op->ctx->accounts, route_done, op, &op->route_wait);
	else
		r = accounts_route(op->ctx->accounts, account, route_done, op, &op->route_wait);
	if (r < 0)
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
}

/* A new operation for req, listed in ctx->operations, or NULL (out of
 * memory).  Its origin is the caller's to set. */
static struct operation *operation_new(struct methods_context *ctx, const struct operation_request *req)
{
	struct operation *op = calloc(1, sizeof(*op));

	if (!op || !(op->key_id = strndup(req->key_id, req->key_id_len))) {
		free(op);
		return NULL;
	}
	op->ctx = ctx;
	op->next_live = ctx->operations;
	if (ctx->operations)
		ctx->operations->prev_live = op;
	ctx->operations = op;
	op->verb = req->verb;
	op->state = OPERATION_AUTHORIZING;
	op->started_ms = methods_now_ms(ctx);
	op->cancel = req->cancel;
	op->enable_key = req->enable_key;
	op->dry_run = req->dry_run;
	if (req->account)
		snprintf(op->account_param, sizeof(op->account_param), "%s", req->account);
	if (req->region)
		snprintf(op->region_param, sizeof(op->region_param), "%s", req->region);
	op->timeout_ms = methods_call_timeout_ms(ctx, req->timeout_ms);
	op->policy_ops = req->policy_ops | (op->enable_key ? POLICY_OP_ENABLE : 0);
	return op;
}

/* The start shared by both origins: the key ID, the policy, routing. */
static void operation_run(struct operation *op, const struct operation_request *req)
{
	if (operation_check(op, req->key_id, req->key_id_len) < 0)
		return;
	operation_route(op);
}

void operation_start(struct methods_context *ctx, struct call *c, const struct operation_request *req)
{
	struct operation *op = operation_new(ctx, req);

	if (!op) {
		struct json_object *params = json_object_new_object();

		json_object_object_add(params, "message", json_object_new_string("out of memory"));
		call_reply_error(c, kmscancel_error_to_varlink(KMSCANCEL_E_INTERNAL), params);
		return;
	}
	op->call = c;
	op->peer = *call_peer(c);
	operation_run(op, req);
}

void operation_start_internal(struct methods_context *ctx, const struct operation_request *req,
			      const struct operation_origin *origin)
{
	struct operation *op = operation_new(ctx, req);

	if (!op) {
		origin->done(origin->userdata, &(struct operation_result){
						   .error = KMSCANCEL_E_INTERNAL,
						   .message = "out of memory",
					       });
		return;
	}
	op->origin = *origin;
	op->origin.peer = NULL; /* copied below: the starter's may not outlive the call */
	op->peer = *origin->peer;
	operation_run(op, req);
}

/* --- credentials ------------------------------------------------------------------------------ */

/* CredentialsUnavailable for op; for the enable step, saying that the
 * deletion was cancelled all the same. */
static void operation_fail_credentials(struct operation *op, const char *why)
{
	char msg[1024];

	if (op->step == OPERATION_STEP_ENABLE) {
		snprintf(msg, sizeof(msg), "deletion cancelled (key is Disabled) but EnableKey was not sent: %s", why);
		why = msg;
	}
	operation_fail(op, KMSCANCEL_E_CREDENTIALS_UNAVAILABLE, NULL, why, NULL);
}

static void credentials_ready(int r, struct aws_credentials *c, const char *error, void *userdata)
{
	struct operation *op = userdata;

	op->creds_waiting = false;
	if (r < 0) {
		operation_fail_credentials(op, error ? error : "no AWS credentials available");
		return;
	}
	/* Credentials that say whose they are must be the key's account's. */
	if (c->account_id && op->account[0] && strcmp(c->account_id, op->account) != 0) {
		char msg[512];

		snprintf(msg, sizeof(msg),
			 "the credentials from %s belong to account %s, not to account %s the call started with: "
			 "not used for its key",
			 c->source, c->account_id, op->account);
		log_warning("%s %s: %s", op->verb, op->key_id, msg);
		operation_fail_credentials(op, msg);
		return;
	}
	aws_credentials_unref(op->credentials);
	op->credentials = aws_credentials_ref(c);
	if (operation_kms(op) < 0)
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
}

/* Makes the current step's request with the cached credentials, waiting
 * for a fetch only when no usable set is cached (accounts.h). */
static void operation_call(struct operation *op)
{
	char why[512];
	int r;

	operation_set_state(op, OPERATION_AWAITING_CREDENTIALS);
	/* Set before the call: done may run (and free op) before it returns. */
	op->creds_waiting = true;
	r = account_credentials_get(op->route_acct, op->account, credentials_ready, op, why, sizeof(why));
	if (r >= 0)
		return;
	op->creds_waiting = false;
	if (r == -ENOENT) {
		/* Routed to credentials a reload took away: never other ones. */
		log_warning("%s %s: %s", op->verb, op->key_id, why);
		operation_fail_credentials(op, why);
	} else {
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
	}
}

void operation_next_step(struct operation *op, enum operation_step step)
{
	op->step = step;
	op->settle_tries = 0;
	op->expired_retried = false; /* a new KMS call: it may refresh once too */
	operation_call(op);
}

/* ExpiredTokenException: the cache drops that set and fetches one (once,
 * however many calls report it), and the step is made again, once. */
static bool operation_retry_expired(struct operation *op, const struct kms_result *r)
{
	if (r->error == KMSCANCEL_OK || op->expired_retried || !r->error_code ||
	    kms_error_classify(r->error_code, 400) != KMS_ERROR_EXPIRED_TOKEN)
		return false;
	op->expired_retried = true;
	account_credentials_expired(op->route_acct, op->credentials);
	operation_call(op); /* fails clearly when the account is gone */
	return true;
}

/* --- KMS -------------------------------------------------------------------------------------- */

static void kms_done(const struct kms_result *r, void *userdata)
{
	struct operation *op = userdata;

	op->kms = NULL;
	op->attempts += r->attempts;
	/* The resolving DescribeKey reports what it finds, an expired token
	 * included: the cancel's own answer stands then. */
	if (op->step != OPERATION_STEP_RESOLVE && operation_retry_expired(op, r))
		return;
	operation_step_answered(op, r);
}

static enum kms_operation step_request(enum operation_step step)
{
	switch (step) {
	case OPERATION_STEP_CANCEL:
		return KMS_OP_CANCEL_KEY_DELETION;
	case OPERATION_STEP_ENABLE:
		return KMS_OP_ENABLE_KEY;
	default:
		return KMS_OP_DESCRIBE_KEY;
	}
}

int operation_kms(struct operation *op)
{
	long left = operation_remaining_ms(op);
	struct kms_request req = {
	    .op = step_request(op->step),
	    .key_id = op->step == OPERATION_STEP_ENABLE && op->key_arn ? op->key_arn
		      : op->resolved_arn                               ? op->resolved_arn
								       : op->key_id,
	    .region = op->region,
	    .partition = op->key.kind == KEYID_KIND_ARN ? op->key.partition : NULL,
	    .credentials = op->credentials,
	    .timeout_ms = left > 0 ? (unsigned)left : 1, /* what is left of the call's deadline */
	    .account = op->account[0] ? op->account : NULL,
	    .caller = op->peer.uid,
	};

	op->kms = kms_call_start(op->ctx->kms, &req, kms_done, op);
	if (!op->kms)
		return -ENOMEM;
	operation_set_state(op, OPERATION_CALLING_KMS);
	return 0;
}

/* --- settling --------------------------------------------------------------------------------- */

/* The settle backoff is over: ask again, through the account like any
 * request, so that a reload that took the account away meanwhile fails the
 * call clearly instead of signing with the set it held (a cache hit
 * otherwise, answered at once). */
static void settle_timer_cb(evutil_socket_t fd, short what, void *userdata)
{
	operation_call(userdata);
}

bool operation_settle(struct operation *op)
{
	unsigned delay = SETTLE_BASE_MS << (op->settle_tries < 4 ? op->settle_tries : 4);
	struct timeval tv;

	if (delay > SETTLE_CAP_MS)
		delay = SETTLE_CAP_MS;
	if (op->settle_tries == 0)
		op->settle_started_ms = methods_now_ms(op->ctx);
	if (elapsed_ms(op, op->settle_started_ms) + delay > SETTLE_MAX_MS || operation_remaining_ms(op) <= (long)delay)
		return false;
	if (!op->timer && !(op->timer = evtimer_new(op->ctx->base, settle_timer_cb, op)))
		return false;
	op->settle_tries++;
	log_debug("%s %s: KMS still shows the state before the cancel; asking again in %u ms",
		  kms_operation_to_string(step_request(op->step)), op->key_arn ? op->key_arn : op->key_id, delay);
	operation_set_state(op, OPERATION_SETTLING);
	tv = timeval_from_msec(delay);
	evtimer_add(op->timer, &tv);
	return true;
}

/* --- coalescing ------------------------------------------------------------------------------- */

/* What makes two cancels the same: the key as its ARN would name it
 * (region, account when known, key ID) and enableKey. */
static char *flight_key_of(const struct operation *op)
{
	char *key = NULL;

	/* Region names are unique across partitions. */
	if (asprintf(&key, "%s:%s:%s:%d", op->region, op->account[0] ? op->account : "-", op->key.id, op->enable_key) <
	    0)
		return NULL;
	return key;
}

/* A follower's own deadline passed before the leader's answer. */
static void follower_timeout(evutil_socket_t fd, short what, void *userdata)
{
	struct operation *f = userdata;

	flight_leave(f->following, f);
	f->following = NULL;
	operation_fail(f, KMSCANCEL_E_TIMEOUT, NULL, "the call's deadline passed before KMS answered", NULL);
}

/* Makes op a follower of flight, its own deadline running.  0 or -ENOMEM. */
static int operation_follow(struct operation *op, struct flight *flight)
{
	long left = operation_remaining_ms(op); /* its own deadline, from when the call started */
	struct timeval tv;

	if (left < 1)
		left = 1;
	tv = timeval_from_msec(left);
	op->timer = evtimer_new(op->ctx->base, follower_timeout, op);
	if (!op->timer || flight_join(flight, op) < 0) {
		if (op->timer)
			event_free(op->timer); /* the settle backoff would find it */
		op->timer = NULL;
		return -ENOMEM;
	}
	evtimer_add(op->timer, &tv);
	op->following = flight;
	op->step = OPERATION_STEP_CANCEL;
	operation_set_state(op, OPERATION_FOLLOWING);
	return 0;
}

void operation_cancel(struct operation *op)
{
	char *key = flight_key_of(op);
	struct flight *flight = key ? flight_find(&op->ctx->flights, key) : NULL;

	if (flight && operation_follow(op, flight) == 0) {
		free(key);
		return;
	}
	if (flight) {
		/* Not joined (out of memory): make the cancel alone. */
		free(key);
		key = NULL;
	}
	if (key && flight_open(&op->ctx->flights, key, op, &op->leading) < 0)
		op->leading = NULL; /* key freed: make the cancel alone */
	operation_next_step(op, OPERATION_STEP_CANCEL);
}

/*
 * The followers of a leader that failed on its own deadline (a caller may
 * set a short one) or on its own caller's full rate-limit queue: each with
 * time left goes on as the cancel it asked for, the first as a new leader,
 * the others joining it, rather than take an answer about someone else's
 * deadline or queue.  The leader's cancel may have reached KMS, so "not
 * pending deletion" is then looked into (operation-steps.c).
 */
static void flights_rerun(struct operation **followers, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct operation *f = followers[i];

		f->following = NULL;
		event_free(f->timer); /* its follower deadline: a leader's timer is the settle backoff */
		f->timer = NULL;
		if (operation_remaining_ms(f) <= 0) {
			operation_fail(f, KMSCANCEL_E_TIMEOUT, NULL, "the call's deadline passed before KMS answered",
				       NULL);
			continue;
		}
		f->leader_timed_out = true;
		operation_cancel(f);
	}
}

/* --- shutdown --------------------------------------------------------------------------------- */

unsigned operation_shutdown_all(struct methods_context *ctx)
{
	unsigned n = 0;

	/* Followers are listed too, and answered with their leader. */
	for (struct operation *op = ctx->operations; op; op = op->next_live)
		n++;
	while (ctx->operations) {
		struct operation *op = ctx->operations;

		if (op->following) {
			flight_leave(op->following, op);
			op->following = NULL;
		}
		log_warning("%s %s: still running at exit; answered with an error", op->verb, op->key_id);
		operation_fail(op, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL,
			       "kmscanceld is shutting down and stopped this call before it finished "
			       "(DrainTimeoutSec=); whether KMS acted on it is unknown: check with describe",
			       NULL);
	}
	return n;
}
