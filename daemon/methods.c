/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "methods.h"

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "accounts.h"
#include "conf.h"
#include "creds-cache.h"
#include "creds.h"
#include "daemon.h"
#include "error-names.h"
#include "keyid.h"
#include "kms-error.h"
#include "kms.h"
#include "log.h"
#include "policy.h"
#include "server.h"
#include "json-writer.h"
#include "varlink.h"

/* KMS is eventually consistent (AWS.md §4): right after a cancel, EnableKey
 * and DescribeKey may still see PendingDeletion.  Such answers are retried,
 * with backoff from SETTLE_BASE_MS doubling up to SETTLE_CAP_MS, for at most
 * SETTLE_MAX_MS (and never past the call's deadline). */
#define SETTLE_MAX_MS 10000
#define SETTLE_BASE_MS 100
#define SETTLE_CAP_MS 1000

/* One io.kmscancel call in progress: the Varlink call, the parsed key, and
 * the KMS call currently running for it (cancel, then maybe enable).
 *
 * Lifetime: an operation owns what it uses for its whole life and borrows
 * nothing from the configuration, which a reload (SIGHUP) frees while calls
 * are in flight: the region is a copy, the routing decision (whose
 * credentials, which account, the label) a value taken once.  Every wait it
 * is in (routing, a credential cache, a KMS call, a timer) is withdrawn by
 * operation_free(), and every live operation is listed in
 * daemon->operations so that methods_shutdown() can end them before the
 * objects they point to go.
 *
 * Coalescing: a cancel of a key that is already being cancelled (same key,
 * same enableKey) does not call KMS again: it waits as a follower of the
 * first (the leader, listed in daemon->cancels_in_flight) and gets its
 * answer.  Each follower was authorised on its own and keeps its own
 * deadline; neither the leader's own deadline nor the daemon's local
 * Throttling of the leader's caller is its followers' answer
 * (flights_rerun). */
struct operation {
	struct daemon *daemon;
	struct call *call;
	const char *verb; /* "cancel", "describe": for the audit record */
	struct keyid key;
	char *key_id;     /* as the caller gave it */
	char *key_arn;    /* from KMS's answer */
	char *region;     /* owned: the key's, or the default/[Account N] one copied at the start */
	char account_param[13]; /* the call's "account" (for a bare key ID), or "" */
	/* Routing (accounts.h): whose credentials serve the key, decided once
	 * and kept: every later credential fetch (enable, settle, ExpiredToken)
	 * uses that account's credentials or fails, never other ones. */
	struct accounts_wait *route_wait;   /* learning the default account */
	void (*routed)(struct operation *op);
	enum account_source route_source;
	char account[13];                   /* the key's account, "" while unknown (bare key ID) */
	char *credentials_label;            /* "default", "account N, role …": for the audit */
	struct creds_cache *creds_wait;     /* the cache op waits in (creds_cache_get), or NULL */
	unsigned policy_ops;                /* what the policy is asked about */
	bool policy_pending;                /* undecided until routing learns the account */
	bool dry_run;                       /* CancelKeyDeletion dryRun: DescribeKey only */
	bool enable_key;
	unsigned timeout_ms;
	struct aws_credentials *credentials;
	/* The KMS call to make once credentials are at hand (operation_call). */
	enum kms_operation next_op;
	const char *next_key_id;
	kms_done_fn next_done;
	bool expired_retried; /* ExpiredTokenException: refreshed and retried once */
	bool refusal_left_out; /* its refusal was counted, not recorded: so is its outcome */
	unsigned attempts;    /* summed over the KMS calls made */
	struct timespec started;
	struct kms_call *kms; /* the KMS call running now, or NULL */

	/* Resolving a lost response (see cancel_done). */
	bool already_cancelled; /* an attempt whose answer was lost had done it */
	bool leader_timed_out;  /* it followed a leader whose deadline passed: that cancel may have been done */
	char *ambiguous_message; /* the KMSInvalidStateException to report if it was not ours */
	char *ambiguous_request_id;

	/* Eventual consistency (SETTLE_*) */
	struct timespec settle_started;
	unsigned settle_tries;
	kms_done_fn settle_done;
	enum kms_operation settle_op;
	struct event *timer; /* settle backoff, or a follower's deadline */

	/* Coalescing */
	char *flight_key;                 /* set while this op leads a flight */
	struct operation *next_in_flight; /* daemon->cancels_in_flight list */
	struct operation *leader;         /* set while this op follows one */
	struct operation *followers;      /* list through next_follower */
	struct operation *next_follower;

	/* daemon->operations: every live operation (methods_shutdown) */
	struct operation *next_live, *prev_live;
};

static void credentials_ready(int r, struct aws_credentials *c, const char *error, void *userdata);

static struct operation *operation_free(struct operation *op)
{
	if (!op)
		return NULL;
	if (op->prev_live)
		op->prev_live->next_live = op->next_live;
	else if (op->daemon->operations == op)
		op->daemon->operations = op->next_live;
	if (op->next_live)
		op->next_live->prev_live = op->prev_live;
	kms_call_abandon(op->kms);
	accounts_wait_cancel(op->daemon->accounts, op->route_wait);
	creds_cache_cancel(op->creds_wait, credentials_ready, op);
	free(op->credentials_label);
	if (op->timer)
		event_free(op->timer);
	aws_credentials_unref(op->credentials);
	free(op->key_id);
	free(op->key_arn);
	free(op->region);
	free(op->ambiguous_message);
	free(op->ambiguous_request_id);
	free(op->flight_key);
	free(op);
	return NULL;
}

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000L + (now.tv_nsec - since->tv_nsec) / 1000000L;
}

/* "cancel", "cancel+enable", "describe": what the audit records call op. */
static const char *operation_name(const struct operation *op)
{
	if (op->dry_run)
		return op->enable_key ? "cancel+enable-dry-run" : "cancel-dry-run";
	return op->enable_key ? "cancel+enable" : op->verb;
}

/* The audit record of op's answer (audit.h).  key_state on success, error
 * (a short name, never a message: messages may quote anything) on failure. */
static void audit_outcome(const struct operation *op, const char *key_state, const char *error,
			  const char *request_id)
{
	struct audit_record r = {
		.event = AUDIT_OUTCOME,
		.caller = call_peer(op->call),
		.operation = operation_name(op),
		.key = op->key_id,
		.success = error == NULL,
		.key_state = error ? NULL : key_state,
		.error = error,
		.request_id = request_id && *request_id ? request_id : NULL,
		.attempts = op->attempts,
		.latency_ms = elapsed_ms(&op->started),
		.account = op->account[0] ? op->account : NULL,
		.credentials = op->credentials_label,
	};

	/* A refused call's outcome is left out with its refusal: else a uid
	 * no rule allows would write one record per call past the rate. */
	if (!op->refusal_left_out)
		audit_log(&r);
}

static void flight_end(struct operation *leader);
static void flights_rerun(struct operation *followers);

/* Replies with an io.kmscancel error carrying message, requestId (when AWS
 * answered) and, for KMSException, the AWS type; completes and frees op,
 * and gives its followers the same answer. */
static void operation_fail(struct operation *op, kmscancel_error error, const char *aws_code, const char *message,
			   const char *request_id)
{
	struct json_object *params = json_object_new_object();
	struct operation *rerun = NULL;

	flight_end(op);
	/* The leader's own deadline is not its followers': those with time
	 * left make the cancel themselves.  Nor is the daemon's refusal of the
	 * leader's caller, whose rate-limit queue was full (Throttling without
	 * an AWS code; AWS's ThrottlingException always has one and is
	 * everyone's answer). */
	if (error == KMSCANCEL_E_TIMEOUT || (error == KMSCANCEL_E_THROTTLING && !aws_code)) {
		rerun = op->followers;
		op->followers = NULL;
	}
	json_object_object_add(params, "message", json_object_new_string(message ? message : ""));
	if (request_id)
		json_object_object_add(params, "requestId", json_object_new_string(request_id));
	if (error == KMSCANCEL_E_KMS)
		json_object_object_add(params, "type", json_object_new_string(aws_code ? aws_code : "Unknown"));
	while (op->followers) {
		struct operation *f = op->followers;

		op->followers = f->next_follower;
		f->leader = NULL;
		f->attempts = op->attempts;
		audit_outcome(f, NULL, aws_code ? aws_code : kmscancel_error_short_name(error), request_id);
		f->daemon->calls_failed++;
		call_reply_error(f->call, kmscancel_error_to_varlink(error), json_object_get(params));
		operation_free(f);
	}
	audit_outcome(op, NULL, aws_code ? aws_code : kmscancel_error_short_name(error), request_id);
	daemon_count_failure(op->daemon, error);
	call_reply_error(op->call, kmscancel_error_to_varlink(error), params);
	operation_free(op);
	flights_rerun(rerun);
}

/* The caller as the policy sees it.  The groups are borrowed from d's
 * cache until its next use; a failed lookup leaves groups_known false, so
 * group-dependent Deny rules match and group Allows do not (policy.h). */
static struct policy_subject policy_subject_of(struct daemon *d, const struct peer *p)
{
	struct policy_subject s = {.uid = p->uid, .gid = p->gid};

	if (d->groups && policy_groups_cache_get(d->groups, p->uid, p->gid, &s.groups, &s.n_groups) == 0)
		s.groups_known = true;
	else
		s.groups = NULL, s.n_groups = 0;
	return s;
}

/* The refusal a caller gets: what it asked, nothing of the configuration
 * (no path, no rule, no account it did not send); the audit record names
 * the rule. */
static void operation_refuse(struct operation *op)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "the local policy of kmscanceld does not allow uid %u to %s%s this key",
		 (unsigned)call_peer(op->call)->uid, op->verb, op->policy_ops & POLICY_OP_ENABLE ? " and enable" : "");
	operation_fail(op, KMSCANCEL_E_PERMISSION_DENIED, NULL, msg, NULL);
}

/*
 * Asks the local policy about op's key, whose account is account (NULL
 * while unknown; a key ARN's own is always known).  Returns 1 (allowed), 0
 * (undecided: only when !final, nothing audited yet; the caller learns the
 * account and asks again with final), or -1: refused, PermissionDenied
 * replied and op freed.  With final an undecided verdict is a refusal
 * (fails closed).  Decisions are audited, with the deciding rule.
 */
static int operation_authorize(struct operation *op, const char *account, bool final)
{
	const struct peer *p = call_peer(op->call);
	struct daemon *d = op->daemon;
	struct policy_subject subject = policy_subject_of(d, p);
	struct policy_object object = {&op->key, op->region, account};
	const char *rule = NULL;
	enum policy_verdict v = policy_decide(d->policy, &subject, op->policy_ops, &object, &rule);

	if (v == POLICY_UNDECIDED && !final)
		return 0;
	op->refusal_left_out = !audit_log(&(struct audit_record){
		.event = AUDIT_DECISION,
		.caller = p,
		.operation = operation_name(op),
		.key = op->key_id,
		.allowed = v == POLICY_ALLOW,
		.rule = rule,
		.reason = v != POLICY_UNDECIDED ? NULL
			  : subject.groups_known ? "account unknown"
			  : account               ? "groups unknown"
						  : "account and groups unknown",
	});
	if (v == POLICY_ALLOW)
		return 1;
	operation_refuse(op);
	return -1;
}

/* The common start of every key operation: parameters, key ID, region,
 * account, policy.  Replies and returns NULL on any problem. */
/* Fields each method accepts; anything else is InvalidParameter, as
 * sd-varlink's dispatch tables do, so a typo is never silently ignored. */
static const char *const cancel_fields[] = { "keyId", "enableKey", "timeoutMs", "dryRun", "account", NULL };
static const char *const describe_fields[] = { "keyId", "timeoutMs", "account", NULL };
static const char *const no_fields[] = { NULL };

static struct operation *operation_begin(struct call *c, struct daemon *d, const char *verb, unsigned ops,
					 const char *const *fields)
{
	struct json_object *parameters = call_parameters(c), *key_value, *v;
	struct operation *op;
	const char *reason = NULL, *region;
	long long timeout = 0;
	const char *unknown = NULL, *account;
	size_t key_len;
	int r;

	if (varlink_check_fields(parameters, fields, &unknown) < 0) {
		call_reply_invalid_parameter(c, unknown ? unknown : "parameters");
		return NULL;
	}
	if (!json_object_object_get_ex(parameters, "keyId", &key_value) || !json_object_is_type(key_value, json_type_string)) {
		call_reply_invalid_parameter(c, "keyId");
		return NULL;
	}
	op = calloc(1, sizeof(*op));
	key_len = (size_t)json_object_get_string_len(key_value);
	if (!op || !(op->key_id = strndup(json_object_get_string(key_value), key_len))) {
		struct json_object *params = json_object_new_object();

		free(op);
		json_object_object_add(params, "message", json_object_new_string("out of memory"));
		call_reply_error(c, kmscancel_error_to_varlink(KMSCANCEL_E_INTERNAL), params);
		return NULL;
	}
	op->daemon = d;
	op->next_live = d->operations;
	if (d->operations)
		d->operations->prev_live = op;
	d->operations = op;
	op->call = c;
	op->verb = verb;
	clock_gettime(CLOCK_MONOTONIC, &op->started);

	if (json_object_object_get_ex(parameters, "enableKey", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			call_reply_invalid_parameter(c, "enableKey");
			return operation_free(op);
		}
		op->enable_key = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(parameters, "timeoutMs", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_int) || (timeout = json_object_get_int64(v)) <= 0) {
			call_reply_invalid_parameter(c, "timeoutMs");
			return operation_free(op);
		}
	}
	if (json_object_object_get_ex(parameters, "account", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) != 12 ||
		    strspn(json_object_get_string(v), "0123456789") != 12) {
			call_reply_invalid_parameter(c, "account");
			return operation_free(op);
		}
		memcpy(op->account_param, json_object_get_string(v), 13);
	}
	op->timeout_ms = daemon_call_timeout_ms(d, timeout);
	if (op->enable_key)
		ops |= POLICY_OP_ENABLE;

	if (keyid_parse_n(json_object_get_string(key_value), key_len, &op->key, &reason) < 0) {
		/* Never echo arbitrary caller bytes into the log. */
		free(op->key_id);
		op->key_id = strdup("(invalid key ID)");
		op->refusal_left_out = !audit_log(&(struct audit_record){
			.event = AUDIT_REJECT,
			.caller = call_peer(c),
			.operation = operation_name(op),
			.reason = "invalid key ID",
		});
		operation_fail(op, KMSCANCEL_E_INVALID_KEY_ID, NULL, reason, NULL);
		return NULL;
	}
	if (op->key.kind == KEYID_KIND_ARN && op->account_param[0] && strcmp(op->account_param, op->key.account) != 0) {
		/* A reject like an invalid key ID: any caller can send it, so
		 * it is under the refusal rate (audit.h). */
		op->refusal_left_out = !audit_log(&(struct audit_record){
			.event = AUDIT_REJECT,
			.caller = call_peer(c),
			.operation = operation_name(op),
			.key = op->key_id,
			.reason = "key ARN and account parameter disagree",
		});
		operation_fail(op, KMSCANCEL_E_INVALID_KEY_ID, NULL,
			       "the key ARN names another account than the call's account parameter", NULL);
		return NULL;
	}
	if (op->key.kind == KEYID_KIND_ARN) {
		region = op->key.region;
	} else {
		/* A bare key ID of an [Account N] with Region=: that region. */
		const struct config_account *ca = config_find_account(&d->config, op->account_param);

		region = ca && ca->region ? ca->region : daemon_default_region(d);
	}
	op->policy_ops = ops;
	account = op->key.kind == KEYID_KIND_ARN ? op->key.account
		  : op->account_param[0]         ? op->account_param
						 : daemon_account(d);
	if (!region) {
		/* The policy still comes first, fail-closed on the unknown
		 * region: a refused caller does not learn even that. */
		if (operation_authorize(op, account, true) < 0)
			return NULL;
		operation_fail(op, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL,
			       "no AWS region configured for a bare key ID: set [AWS] Region=, AWS_REGION, "
			       "or pass the key ARN",
			       NULL);
		return NULL;
	}
	/* A copy: a reload frees the configuration's strings, and the call
	 * keeps the region it started in (enable, retries, coalescing). */
	op->region = strdup(region);
	if (!op->region) {
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
		return NULL;
	}
	/* The policy before anything else happens: a refused caller causes no
	 * routing, no credential fetch, no STS call, and learns nothing.  The
	 * account of a bare key ID is the call's, else the daemon's if known;
	 * when the verdict hangs on it, routing learns it (route_done). */
	r = operation_authorize(op, account, account != NULL);
	if (r < 0)
		return NULL;
	op->policy_pending = r == 0;
	return op;
}

/* The account a key belongs to, as routing found it (NULL while unknown). */
static const char *operation_account(const struct operation *op)
{
	return op->account[0] ? op->account : NULL;
}

/*
 * The credential cache that serves op's key, as routing decided when the
 * call started: the [Account N] section's, or the default credentials'
 * while they still serve that account.  NULL, with why, when a reload took
 * them away (the section removed, the default credentials now known to be
 * another account's): the call then fails rather than use other
 * credentials.
 */
static struct creds_cache *operation_cache(const struct operation *op, char *why, size_t size)
{
	struct daemon *d = op->daemon;
	struct creds_cache *cache;
	const char *now;

	if (op->route_source == ACCOUNT_SOURCE_DEFAULT) {
		now = accounts_default_account(d->accounts);
		if (op->account[0] && now && strcmp(now, op->account) != 0) {
			snprintf(why, size,
				 "since a reload of %s the default credentials serve account %s, not account %s the "
				 "call started with: not used for its key",
				 daemon_config_path(d), now, op->account);
			return NULL;
		}
		return d->creds;
	}
	cache = accounts_cache_of(d->accounts, op->account);
	if (!cache)
		snprintf(why, size,
			 "the [Account %s] section went away with a reload of %s: the call does not fall back to "
			 "other credentials",
			 op->account, daemon_config_path(d));
	return cache;
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
			.caller = call_peer(op->call),
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
	op->route_source = route->source;
	memcpy(op->account, route->account, sizeof(op->account));
	op->credentials_label = strdup(route->label);
	op->routed(op);
}

/* Finds whose credentials serve op's key (accounts_route()), settles a
 * policy verdict that waited for the account, then runs next(op), or fails
 * op.  A key of an account without credentials is refused, to callers the
 * policy allowed.  op may be gone when this returns. */
static void operation_route(struct operation *op, void (*next)(struct operation *op))
{
	const char *account = op->key.kind == KEYID_KIND_ARN ? op->key.account
			      : op->account_param[0]      ? op->account_param
							  : NULL;
	int r;

	op->routed = next;
	/* A verdict waiting for a bare key ID's account waits for the default
	 * credentials' account to be learnt. */
	if (op->policy_pending && !account)
		r = accounts_route_learning(op->daemon->accounts, route_done, op, &op->route_wait);
	else
		r = accounts_route(op->daemon->accounts, account, route_done, op, &op->route_wait);
	if (r < 0)
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
}

static long operation_remaining_ms(const struct operation *op)
{
	return (long)op->timeout_ms - elapsed_ms(&op->started);
}

/* Starts the next KMS call of op; done gets op.  The call's deadline is
 * what is left of op's. */
static int operation_kms(struct operation *op, enum kms_operation kop, const char *key_id, kms_done_fn done)
{
	long left = operation_remaining_ms(op);
	struct kms_request req = {
		.op = kop,
		.key_id = key_id,
		.region = op->region,
		.partition = op->key.kind == KEYID_KIND_ARN ? op->key.partition : NULL,
		.credentials = op->credentials,
		.timeout_ms = left > 0 ? (unsigned)left : 1,
		.account = operation_account(op),
		.caller = call_peer(op->call)->uid,
	};

	op->kms = kms_call_start(op->daemon->kms, &req, done, op);
	return op->kms ? 0 : -ENOMEM;
}

/* Every KMS completion of an operation starts here: the call is over. */
static struct operation *operation_kms_done(const struct kms_result *r, void *userdata)
{
	struct operation *op = userdata;

	op->kms = NULL;
	op->attempts += r->attempts;
	return op;
}

/* CredentialsUnavailable for op; for the enable step, saying that the
 * deletion was cancelled all the same. */
static void operation_fail_credentials(struct operation *op, const char *why)
{
	char msg[1024];

	if (op->next_op == KMS_OP_ENABLE_KEY) {
		snprintf(msg, sizeof(msg), "deletion cancelled (key is Disabled) but EnableKey was not sent: %s", why);
		why = msg;
	}
	operation_fail(op, KMSCANCEL_E_CREDENTIALS_UNAVAILABLE, NULL, why, NULL);
}

static void credentials_ready(int r, struct aws_credentials *c, const char *error, void *userdata)
{
	struct operation *op = userdata;

	op->creds_wait = NULL;
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
	if (operation_kms(op, op->next_op, op->next_key_id, op->next_done) < 0)
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
}

/* Starts a KMS call with the cached credentials, waiting for a fetch only
 * when no usable set is cached (creds-cache.h). */
static void operation_call(struct operation *op, enum kms_operation kop, const char *key_id, kms_done_fn done)
{
	struct creds_cache *cache;
	char why[512];

	op->next_op = kop;
	op->next_key_id = key_id;
	op->next_done = done;
	cache = operation_cache(op, why, sizeof(why));
	if (!cache) {
		log_warning("%s %s: %s", op->verb, op->key_id, why);
		operation_fail_credentials(op, why);
		return;
	}
	/* Set before the call: done may run (and free op) before it returns. */
	op->creds_wait = cache;
	if (creds_cache_get(cache, credentials_ready, op) < 0) {
		op->creds_wait = NULL;
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
	}
}

/* ExpiredTokenException: the cache drops that set and fetches one (once,
 * however many calls report it), and the call is made again, once. */
static bool operation_retry_expired(struct operation *op, const struct kms_result *r)
{
	struct creds_cache *cache;
	char why[512];

	if (r->error == KMSCANCEL_OK || op->expired_retried || !r->error_code ||
	    kms_error_classify(r->error_code, 400) != KMS_ERROR_EXPIRED_TOKEN)
		return false;
	op->expired_retried = true;
	cache = operation_cache(op, why, sizeof(why));
	if (cache)
		creds_cache_expired(cache, op->credentials);
	operation_call(op, op->next_op, op->next_key_id, op->next_done); /* fails clearly without a cache */
	return true;
}

static const char *body_string(struct json_object *body, const char *key)
{
	struct json_object *v;

	if (!body || !json_object_object_get_ex(body, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The success reply of a cancel, to op and its followers; frees op. */
/* The reply parameters are written directly (json_writer), not built as a
 * json-c object: this runs for every cancel. */
static void cancel_reply(struct operation *op, const char *key_state, const char *request_id)
{
	struct json_writer params = {0};

	flight_end(op);
	json_writer_add_string(&params, "keyId", op->key_arn);
	json_writer_add_string(&params, "keyState", key_state);
	json_writer_add_string(&params, "requestId", request_id ? request_id : "");
	json_writer_add_int(&params, "attempts", (int64_t)op->attempts);
	if (op->already_cancelled)
		json_writer_add_bool(&params, "alreadyCancelled", true);
	(void)json_writer_finish(&params); /* out of memory: every call_reply_written() closes its connection */
	while (op->followers) {
		struct operation *f = op->followers;

		op->followers = f->next_follower;
		f->leader = NULL;
		f->attempts = op->attempts;
		audit_outcome(f, key_state, NULL, request_id);
		f->daemon->calls_ok++;
		call_reply_written(f->call, &params);
		operation_free(f);
	}
	audit_outcome(op, key_state, NULL, request_id);
	op->daemon->calls_ok++;
	call_reply_written(op->call, &params);
	operation_free(op);
	json_writer_done(&params);
}

/* --- eventual consistency ---------------------------------------------------------------------- */

static void settle_timer_cb(evutil_socket_t fd, short what, void *userdata)
{
	struct operation *op = userdata;

	if (operation_kms(op, op->settle_op, op->key_arn ? op->key_arn : op->key_id, op->settle_done) < 0)
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
}

/*
 * A KMS answer that may only reflect the state before our cancel (AWS.md §4):
 * schedules kop again after a backoff and returns true, or returns false when
 * the settle time (SETTLE_MAX_MS since the first such answer) or the call's
 * deadline leaves no room, and the answer stands.
 */
static bool settle_retry(struct operation *op, enum kms_operation kop, kms_done_fn done)
{
	unsigned delay = SETTLE_BASE_MS << (op->settle_tries < 4 ? op->settle_tries : 4);
	struct timeval tv;

	if (delay > SETTLE_CAP_MS)
		delay = SETTLE_CAP_MS;
	if (op->settle_tries == 0)
		clock_gettime(CLOCK_MONOTONIC, &op->settle_started);
	if (elapsed_ms(&op->settle_started) + delay > SETTLE_MAX_MS || operation_remaining_ms(op) <= (long)delay)
		return false;
	if (!op->timer && !(op->timer = evtimer_new(op->daemon->base, settle_timer_cb, op)))
		return false;
	op->settle_tries++;
	op->settle_op = kop;
	op->settle_done = done;
	log_debug("%s %s: KMS still shows the state before the cancel; asking again in %u ms",
		  kms_operation_to_string(kop), op->key_arn ? op->key_arn : op->key_id, delay);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(op->timer, &tv);
	return true;
}

/* --- cancel, then maybe enable --------------------------------------------------------------- */

static void enable_done(const struct kms_result *r, void *userdata)
{
	struct operation *op = operation_kms_done(r, userdata);

	if (operation_retry_expired(op, r))
		return;
	if (r->error == KMSCANCEL_E_INVALID_STATE && settle_retry(op, KMS_OP_ENABLE_KEY, enable_done))
		return;
	if (r->error != KMSCANCEL_OK) {
		char msg[1024];

		/* The cancel itself succeeded; say so, or the caller might think
		 * the key is still scheduled for deletion. */
		snprintf(msg, sizeof(msg), "deletion cancelled (key is Disabled) but EnableKey failed: %s", r->message);
		operation_fail(op, r->error, r->error_code, msg, r->request_id);
		return;
	}
	cancel_reply(op, "Enabled", r->request_id);
}

/* The cancel is done (the key is Disabled): enable it if asked, else reply. */
static void cancel_succeeded(struct operation *op, const char *request_id)
{
	if (op->enable_key) {
		op->settle_tries = 0;
		op->expired_retried = false; /* a new call: it may refresh once too */
		operation_call(op, KMS_OP_ENABLE_KEY, op->key_arn, enable_done);
		return;
	}
	cancel_reply(op, "Disabled", request_id);
}

static void ambiguity_fail(struct operation *op, const char *state)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s (a lost response was followed up with DescribeKey: the key is %s)",
		 op->ambiguous_message, state);
	operation_fail(op, KMSCANCEL_E_INVALID_STATE, "KMSInvalidStateException", msg, op->ambiguous_request_id);
}

/* DescribeKey after "not pending deletion" that followed a lost response:
 * Disabled means our lost attempt did it (Enabled, too, when enableKey was
 * asked); any other state is the true answer. */
static void ambiguity_described(const struct kms_result *r, void *userdata)
{
	struct operation *op = operation_kms_done(r, userdata);
	struct json_object *meta = NULL;
	const char *state = NULL, *arn = NULL;

	if (r->error == KMSCANCEL_OK && json_object_object_get_ex(r->body, "KeyMetadata", &meta)) {
		state = body_string(meta, "KeyState");
		arn = body_string(meta, "Arn");
	}
	if (!state) {
		char why[512];

		snprintf(why, sizeof(why), "unknown (DescribeKey: %s)", r->message ? r->message : "no KeyState");
		ambiguity_fail(op, why);
		return;
	}
	/* Still pending deletion contradicts "not pending deletion": a stale
	 * read, ask again. */
	if ((strcmp(state, "PendingDeletion") == 0 || strcmp(state, "PendingReplicaDeletion") == 0) &&
	    settle_retry(op, KMS_OP_DESCRIBE_KEY, ambiguity_described))
		return;
	if (strcmp(state, "Disabled") != 0 && !(strcmp(state, "Enabled") == 0 && op->enable_key)) {
		ambiguity_fail(op, state);
		return;
	}
	op->key_arn = strdup(arn ? arn : op->key_id);
	if (!op->key_arn) {
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
		return;
	}
	op->already_cancelled = true;
	log_info("cancel %s: an attempt whose response was lost had cancelled the deletion (key is %s)", op->key_arn,
		 state);
	if (strcmp(state, "Enabled") == 0)
		cancel_reply(op, "Enabled", r->request_id);
	else
		cancel_succeeded(op, r->request_id);
}

static void cancel_done(const struct kms_result *r, void *userdata)
{
	struct operation *op = operation_kms_done(r, userdata);
	const char *arn;

	if (operation_retry_expired(op, r))
		return;
	if (r->error == KMSCANCEL_E_INVALID_STATE && (r->response_lost || op->leader_timed_out)) {
		/* An earlier attempt may have cancelled the deletion and only
		 * its answer was lost (or the leader this call followed timed
		 * out): look before reporting a failure. */
		op->ambiguous_message = strdup(r->message ? r->message : "");
		op->ambiguous_request_id = r->request_id ? strdup(r->request_id) : NULL;
		op->settle_tries = 0;
		if (!op->ambiguous_message || operation_kms(op, KMS_OP_DESCRIBE_KEY, op->key_id, ambiguity_described) < 0)
			operation_fail(op, r->error, r->error_code, r->message, r->request_id);
		return;
	}
	if (r->error != KMSCANCEL_OK) {
		operation_fail(op, r->error, r->error_code, r->message, r->request_id);
		return;
	}
	arn = body_string(r->body, "KeyId");
	/* KMS answers with the key ARN (moto echoes the ID).  A 200 that names
	 * no key — an empty body, an error body behind a proxy that says 200 —
	 * is no evidence that the deletion was cancelled: never report success
	 * on it. */
	if (!arn) {
		operation_fail(op, KMSCANCEL_E_KMS, "InvalidResponse",
			       "KMS answered CancelKeyDeletion without a KeyId; whether the deletion was cancelled "
			       "is unknown (check with describe)",
			       r->request_id);
		return;
	}
	op->key_arn = strdup(arn);
	if (!op->key_arn) {
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
		return;
	}
	cancel_succeeded(op, r->request_id);
}

/* --- coalescing ------------------------------------------------------------------------------ */

/* What makes two cancels the same: the key as its ARN would name it
 * (region, account when known, key ID) and enableKey. */
static char *flight_key_of(const struct operation *op)
{
	const char *account = operation_account(op);
	char *key = NULL;

	/* Region names are unique across partitions. */
	if (asprintf(&key, "%s:%s:%s:%d", op->region, account ? account : "-", op->key.id, op->enable_key) < 0)
		return NULL;
	return key;
}

static struct operation *flight_find(struct daemon *d, const char *key)
{
	for (struct operation *op = d->cancels_in_flight; op; op = op->next_in_flight)
		if (strcmp(op->flight_key, key) == 0)
			return op;
	return NULL;
}

/* The leader answers: no newcomer may join any more.  NULL-safe for
 * operations that lead nothing. */
static void flight_end(struct operation *leader)
{
	struct operation **p;

	if (!leader->flight_key)
		return;
	for (p = &leader->daemon->cancels_in_flight; *p; p = &(*p)->next_in_flight)
		if (*p == leader) {
			*p = leader->next_in_flight;
			break;
		}
	free(leader->flight_key);
	leader->flight_key = NULL;
}

/* A follower's own deadline passed before the leader's answer. */
static void follower_timeout(evutil_socket_t fd, short what, void *userdata)
{
	struct operation *f = userdata, **p;

	for (p = &f->leader->followers; *p; p = &(*p)->next_follower)
		if (*p == f) {
			*p = f->next_follower;
			break;
		}
	f->leader = NULL;
	operation_fail(f, KMSCANCEL_E_TIMEOUT, NULL, "the call's deadline passed before KMS answered", NULL);
}

/* Joins op to an identical cancel in flight, if there is one.  Returns true
 * when op now waits for that answer. */
static bool flight_join(struct operation *op, const char *key)
{
	struct operation *leader = flight_find(op->daemon, key);
	long left = operation_remaining_ms(op); /* its own deadline, from when the call started */
	struct timeval tv;

	if (!leader)
		return false;
	if (left < 1)
		left = 1;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	op->timer = evtimer_new(op->daemon->base, follower_timeout, op);
	if (!op->timer)
		return false;
	evtimer_add(op->timer, &tv);
	op->leader = leader;
	op->next_follower = leader->followers;
	leader->followers = op;
	log_debug("cancel %s: joins the identical cancel already in flight", op->key_id);
	return true;
}

static void cancel_routed(struct operation *op);

/*
 * The followers of a leader that failed on its own deadline (a caller may
 * set a short one) or on its own caller's full rate-limit queue: each with
 * time left goes on as the cancel it asked for, the first as a new leader,
 * the others joining it, rather than take an answer about someone else's
 * deadline or queue.  The leader's cancel may have
 * reached KMS, so "not pending deletion" is then looked into (cancel_done).
 */
static void flights_rerun(struct operation *followers)
{
	while (followers) {
		struct operation *f = followers;

		followers = f->next_follower;
		f->next_follower = NULL;
		f->leader = NULL;
		event_free(f->timer); /* its follower deadline: a leader's timer is the settle backoff */
		f->timer = NULL;
		if (operation_remaining_ms(f) <= 0) {
			operation_fail(f, KMSCANCEL_E_TIMEOUT, NULL, "the call's deadline passed before KMS answered",
				       NULL);
			continue;
		}
		f->leader_timed_out = true;
		cancel_routed(f);
	}
}

static struct json_object *timestamp_to_string(struct json_object *v);

/* --- shutdown --------------------------------------------------------------------------------- */

unsigned methods_shutdown(struct daemon *d)
{
	unsigned n = 0;

	while (d->operations) {
		struct operation *op = d->operations, **p;

		/* A follower leaves its leader's list first; a leader's
		 * answer goes to its followers too (operation_fail). */
		if (op->leader) {
			for (p = &op->leader->followers; *p; p = &(*p)->next_follower)
				if (*p == op) {
					*p = op->next_follower;
					break;
				}
			op->leader = NULL;
		}
		for (struct operation *f = op->followers; f; f = f->next_follower)
			n++;
		n++;
		log_warning("%s %s: still running at exit; answered with an error", op->verb, op->key_id);
		operation_fail(op, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL,
			       "kmscanceld is shutting down and stopped this call before it finished "
			       "(DrainTimeoutSec=); whether KMS acted on it is unknown: check with describe",
			       NULL);
	}
	return n;
}

/* --- dry run ---------------------------------------------------------------------------------- */

/* A dry run's answer: what the cancel would meet, read with DescribeKey.
 * Pending deletion is a success carrying the current state and date; any
 * other state is the KMSInvalidStateException the cancel would get. */
static void dry_run_described(const struct kms_result *r, void *userdata)
{
	struct operation *op = operation_kms_done(r, userdata);
	struct json_object *meta = NULL, *params, *v;
	const char *state = NULL, *arn;

	if (operation_retry_expired(op, r))
		return;
	if (r->error != KMSCANCEL_OK) {
		operation_fail(op, r->error, r->error_code, r->message, r->request_id);
		return;
	}
	if (json_object_object_get_ex(r->body, "KeyMetadata", &meta))
		state = body_string(meta, "KeyState");
	if (!state) {
		operation_fail(op, KMSCANCEL_E_KMS, "InvalidResponse", "DescribeKey answer has no KeyMetadata",
			       r->request_id);
		return;
	}
	arn = body_string(meta, "Arn") ? body_string(meta, "Arn") : op->key_id;
	if (strcmp(state, "PendingDeletion") != 0 && strcmp(state, "PendingReplicaDeletion") != 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s is %s, not pending deletion: CancelKeyDeletion would fail (dry run)",
			 arn, state);
		operation_fail(op, KMSCANCEL_E_INVALID_STATE, "KMSInvalidStateException", msg, r->request_id);
		return;
	}
	params = json_object_new_object();
	json_object_object_add(params, "keyId", json_object_new_string(arn));
	json_object_object_add(params, "keyState", json_object_new_string(state));
	json_object_object_add(params, "requestId", json_object_new_string(r->request_id ? r->request_id : ""));
	json_object_object_add(params, "attempts", json_object_new_int((int)op->attempts));
	json_object_object_add(params, "dryRun", json_object_new_boolean(true));
	if (json_object_object_get_ex(meta, "DeletionDate", &v) && (v = timestamp_to_string(v)))
		json_object_object_add(params, "deletionDate", v);
	audit_outcome(op, state, NULL, r->request_id);
	op->daemon->calls_ok++;
	call_reply(op->call, params);
	operation_free(op);
}

/* dryRun, checked before anything else so that a bad value is never
 * audited as a cancel. */
static int dry_run_parameter(struct call *c, bool *ret)
{
	struct json_object *v;

	*ret = false;
	if (!json_object_object_get_ex(call_parameters(c), "dryRun", &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		call_reply_invalid_parameter(c, "dryRun");
		return -EINVAL;
	}
	*ret = json_object_get_boolean(v);
	return 0;
}

static void cancel_routed(struct operation *op)
{
	char *key;

	if (op->dry_run) {
		op->verb = "cancel-dry-run"; /* its outcome changed nothing */
		operation_call(op, KMS_OP_DESCRIBE_KEY, op->key_id, dry_run_described);
		return;
	}
	key = flight_key_of(op);
	if (key && flight_join(op, key)) {
		free(key);
		return;
	}
	op->flight_key = key;
	if (key) {
		op->next_in_flight = op->daemon->cancels_in_flight;
		op->daemon->cancels_in_flight = op;
	}
	operation_call(op, KMS_OP_CANCEL_KEY_DELETION, op->key_id, cancel_done);
}

static void method_cancel_key_deletion(struct call *c, void *userdata)
{
	struct operation *op;
	bool dry_run;

	if (dry_run_parameter(c, &dry_run) < 0)
		return;
	/* A dry run is authorised as the cancel it stands for. */
	op = operation_begin(c, userdata, "cancel", POLICY_OP_CANCEL, cancel_fields);
	if (!op)
		return;
	op->dry_run = dry_run;
	operation_route(op, cancel_routed);
}

/* AWS timestamps are epoch seconds as JSON numbers; Varlink callers get
 * RFC 3339 UTC. */
static struct json_object *timestamp_to_string(struct json_object *v)
{
	char buf[32];
	struct tm tm;
	time_t t;

	if (!v || !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
		return NULL;
	t = (time_t)json_object_get_double(v);
	if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return NULL;
	return json_object_new_string(buf);
}

static void copy_member(struct json_object *to, const char *to_key, struct json_object *from, const char *from_key,
			enum json_type type)
{
	struct json_object *v;

	if (json_object_object_get_ex(from, from_key, &v) && json_object_is_type(v, type))
		json_object_object_add(to, to_key, json_object_get(v));
}

static void describe_done(const struct kms_result *r, void *userdata)
{
	struct operation *op = operation_kms_done(r, userdata);
	struct json_object *meta, *params, *v;

	if (operation_retry_expired(op, r))
		return;
	if (r->error != KMSCANCEL_OK) {
		operation_fail(op, r->error, r->error_code, r->message, r->request_id);
		return;
	}
	if (!json_object_object_get_ex(r->body, "KeyMetadata", &meta) || !json_object_is_type(meta, json_type_object) ||
	    !body_string(meta, "KeyState")) {
		operation_fail(op, KMSCANCEL_E_KMS, "InvalidResponse", "DescribeKey answer has no KeyMetadata",
			       r->request_id);
		return;
	}
	params = json_object_new_object();
	json_object_object_add(params, "keyId",
			       json_object_new_string(body_string(meta, "Arn") ? body_string(meta, "Arn") : op->key_id));
	copy_member(params, "arn", meta, "Arn", json_type_string);
	copy_member(params, "keyState", meta, "KeyState", json_type_string);
	copy_member(params, "enabled", meta, "Enabled", json_type_boolean);
	copy_member(params, "multiRegion", meta, "MultiRegion", json_type_boolean);
	copy_member(params, "description", meta, "Description", json_type_string);
	copy_member(params, "keyManager", meta, "KeyManager", json_type_string);
	if (json_object_object_get_ex(meta, "DeletionDate", &v) && (v = timestamp_to_string(v)))
		json_object_object_add(params, "deletionDate", v);
	if (json_object_object_get_ex(meta, "CreationDate", &v) && (v = timestamp_to_string(v)))
		json_object_object_add(params, "creationDate", v);
	if (!json_object_object_get_ex(params, "arn", NULL))
		json_object_object_add(params, "arn", json_object_new_string(op->key_id));
	if (!json_object_object_get_ex(params, "enabled", NULL))
		json_object_object_add(params, "enabled",
				       json_object_new_boolean(strcmp(body_string(meta, "KeyState"), "Enabled") == 0));
	json_object_object_add(params, "requestId", json_object_new_string(r->request_id ? r->request_id : ""));
	audit_outcome(op, body_string(meta, "KeyState"), NULL, r->request_id);
	op->daemon->calls_ok++;
	call_reply(op->call, params);
	operation_free(op);
}

static void describe_routed(struct operation *op)
{
	operation_call(op, KMS_OP_DESCRIBE_KEY, op->key_id, describe_done);
}

static void method_describe_key(struct call *c, void *userdata)
{
	struct operation *op = operation_begin(c, userdata, "describe", POLICY_OP_DESCRIBE, describe_fields);

	if (op)
		operation_route(op, describe_routed);
}

static void add_string(struct json_object *o, const char *key, const char *value)
{
	if (value)
		json_object_object_add(o, key, json_object_new_string(value));
}

static void add_uint(struct json_object *o, const char *key, unsigned long value)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)value));
}

/* Failed calls by error name, only the errors seen. */
static struct json_object *status_errors(const struct daemon *d)
{
	struct json_object *o = json_object_new_object();

	for (unsigned e = 1; e < DAEMON_N_ERROR_COUNTERS; e++)
		if (d->errors[e] && kmscancel_error_short_name((kmscancel_error)e))
			json_object_object_add(o, kmscancel_error_short_name((kmscancel_error)e),
					       json_object_new_int64((int64_t)d->errors[e]));
	return o;
}

/* The busiest KMS connection pools, at most KMS_STATUS_POOLS_MAX of them
 * however many there are (a reply must stay under VARLINK_MESSAGE_MAX);
 * *ret_omitted says how many more exist. */
static struct json_object *status_pools(const struct daemon *d, unsigned long *ret_omitted)
{
	struct json_object *a = json_object_new_array();
	struct kms_endpoint_stats es[KMS_STATUS_POOLS_MAX];
	long n = kms_client_list_endpoints(d->kms, es, KMS_STATUS_POOLS_MAX);

	*ret_omitted = n > KMS_STATUS_POOLS_MAX ? (unsigned long)n - KMS_STATUS_POOLS_MAX : 0;
	for (long i = 0; i < n && i < KMS_STATUS_POOLS_MAX; i++) {
		struct json_object *o = json_object_new_object();

		add_string(o, "endpoint", es[i].url);
		add_string(o, "account", es[i].account);
		add_uint(o, "size", es[i].max_connections);
		add_uint(o, "connectionsOpen", es[i].pool.connections_open);
		add_uint(o, "connectionsIdle", es[i].pool.connections_idle);
		add_uint(o, "queued", es[i].pool.queued);
		add_uint(o, "requests", es[i].pool.requests);
		add_uint(o, "connectionsReused", es[i].pool.reused);
		json_object_array_add(a, o);
	}
	return a;
}

static void add_time(struct json_object *o, const char *key, time_t t)
{
	char buf[32];
	struct tm tm;

	if (t && gmtime_r(&t, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		add_string(o, key, buf);
}

/* Where credentials come from and how they stand, as credential* members
 * of o; never a secret. */
static void add_creds_status(struct json_object *o, const struct creds_cache_status *cs)
{
	add_string(o, "credentialState", creds_cache_state_to_string(cs->state));
	add_string(o, "credentialSource", cs->source);
	if (cs->key_id_suffix[0])
		add_string(o, "credentialAccessKeyIdSuffix", cs->key_id_suffix);
	add_time(o, "credentialExpiration", cs->expiration);
	add_time(o, "credentialNextRefresh", cs->next_refresh);
	add_string(o, "credentialError", cs->last_error);
	add_uint(o, "credentialFetches", cs->fetches);
	add_uint(o, "credentialFetchFailures", cs->failures);
}

/* The default credentials. */
static void add_credentials_status(struct json_object *params, struct daemon *d)
{
	struct creds_cache_status cs;

	creds_cache_get_status(d->creds, &cs);
	add_creds_status(params, &cs);
}

/* One entry per account: the default credentials first, then every
 * [Account N]; where each one's credentials come from and how they stand. */
static struct json_object *status_accounts(struct daemon *d)
{
	struct json_object *a = json_object_new_array();
	struct account_status as;

	for (size_t i = 0; accounts_get_status(d->accounts, i, &as) == 0; i++) {
		struct json_object *o = json_object_new_object();

		add_string(o, "account", as.account);
		add_string(o, "source", account_source_to_string(as.source));
		add_string(o, "profile", as.profile);
		add_string(o, "roleArn", as.role_arn);
		add_string(o, "region", as.region);
		if (as.role_arn)
			json_object_object_add(o, "externalId", json_object_new_boolean(as.external_id));
		add_creds_status(o, &as.creds);
		json_object_array_add(a, o);
	}
	return a;
}

/* GetStatus shows every account's configuration, credential state and
 * the daemon's activity: it is the policy's "status" operation (root
 * always).  A refusal is audited (an allowed one is not: monitoring polls
 * it) and answered PermissionDenied. */
static bool status_authorize(struct call *c, struct daemon *d)
{
	const struct peer *p = call_peer(c);
	struct policy_subject subject = policy_subject_of(d, p);
	const char *rule = NULL;
	struct json_object *params;
	char msg[128];

	if (policy_check(d->policy, &subject, POLICY_OP_STATUS, NULL, &rule))
		return true;
	audit_log(&(struct audit_record){
		.event = AUDIT_DECISION,
		.caller = p,
		.operation = "status",
		.allowed = false,
		.rule = rule,
		.reason = subject.groups_known ? NULL : "groups unknown",
	});
	snprintf(msg, sizeof(msg), "the local policy of kmscanceld does not allow uid %u to read its status",
		 (unsigned)p->uid);
	params = json_object_new_object();
	json_object_object_add(params, "message", json_object_new_string(msg));
	daemon_count_failure(d, KMSCANCEL_E_PERMISSION_DENIED);
	call_reply_error(c, kmscancel_error_to_varlink(KMSCANCEL_E_PERMISSION_DENIED), params);
	return false;
}

/* Room kept for the reply's envelope ({"parameters": ...}) and members
 * added after the check. */
#define STATUS_SLACK 1024

/*
 * The reply must fit in one Varlink message, whatever the configuration:
 * the pools are capped already (status_pools), but up to CONFIG_MAX_ACCOUNTS
 * [Account N] sections with long credential errors would not fit.  Drop
 * accounts from the end (the default credentials come first and stay) until
 * it does, and say how many went in accountsOmitted.
 */
static void status_fit(struct json_object *params)
{
	struct json_object *accounts = NULL;
	size_t n, omitted = 0;

	if (!json_object_object_get_ex(params, "accounts", &accounts))
		return;
	n = json_object_array_length(accounts);
	while (n > 1) {
		size_t len = strlen(json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN));
		size_t each = strlen(json_object_to_json_string_ext(accounts, JSON_C_TO_STRING_PLAIN)) / n + 1;
		size_t drop;

		if (len <= VARLINK_MESSAGE_MAX - STATUS_SLACK)
			break;
		/* As many as the excess takes at their average size, at least
		 * one, never the first. */
		drop = (len - (VARLINK_MESSAGE_MAX - STATUS_SLACK)) / each + 1;
		if (drop > n - 1)
			drop = n - 1;
		json_object_array_del_idx(accounts, n - drop, drop);
		n -= drop;
		omitted += drop;
	}
	if (omitted)
		add_uint(params, "accountsOmitted", omitted);
}

static void method_get_status(struct call *c, void *userdata)
{
	struct daemon *d = userdata;
	struct json_object *params = json_object_new_object(), *kms = json_object_new_object();
	struct kms_client_stats ks;
	struct server_stats ss;
	struct server_limits sl;
	const char *unknown = NULL;
	unsigned long pools_omitted;
	long fds;

	if (varlink_check_fields(call_parameters(c), no_fields, &unknown) < 0) {
		json_object_put(params);
		json_object_put(kms);
		call_reply_invalid_parameter(c, unknown ? unknown : "parameters");
		return;
	}
	if (!status_authorize(c, d)) {
		json_object_put(params);
		json_object_put(kms);
		return;
	}

	add_string(params, "version", PACKAGE_VERSION);
	add_uint(params, "uptimeSec", (unsigned long)daemon_uptime_sec(d));
	add_string(params, "state", daemon_state_to_string(d->state));
	add_string(params, "configFile", d->config.file);
	json_object_object_add(params, "socketActivated", json_object_new_boolean(d->options.listen_fd >= 0));
	add_string(params, "region", daemon_default_region(d));
	add_string(params, "account", daemon_account(d));
	add_string(params, "accountState", accounts_identity_state_to_string(accounts_identity_state(d->accounts)));
	add_string(params, "accountError", accounts_identity_error(d->accounts));
	add_credentials_status(params, d);
	json_object_object_add(params, "accounts", status_accounts(d));
	server_get_stats(d->server, &ss);
	add_uint(params, "connections", ss.connections);
	add_uint(params, "connectionsTotal", ss.connections_total);
	add_uint(params, "connectionsRejected", ss.connections_rejected);
	add_uint(params, "calls", ss.calls_total);
	add_uint(params, "callsInFlight", ss.calls_in_flight);
	add_uint(params, "callsHeldBack", ss.calls_held_back);
	server_get_limits(d->server, &sl);
	add_uint(params, "maxConnections", sl.connections_max);
	add_uint(params, "maxConnectionsPerUser", sl.connections_per_uid_max);
	add_uint(params, "connectionsIdleClosed", ss.connections_idle_closed);
	add_uint(params, "idleConnectionTimeoutMs", sl.idle_timeout_ms);
	fds = fd_count_open();
	if (fds >= 0)
		add_uint(params, "fileDescriptors", (unsigned long)fds);
	if (d->fds.limit != ULONG_MAX)
		add_uint(params, "fileDescriptorLimit", d->fds.limit);
	add_uint(params, "fileDescriptorsReserved", fd_budget_reserve(&d->fds));
	add_uint(params, "connectionsRejectedForDescriptors", ss.connections_fd_rejected);
	add_uint(params, "callsSucceeded", d->calls_ok);
	add_uint(params, "callsFailed", d->calls_failed);
	json_object_object_add(params, "errors", status_errors(d));
	add_uint(params, "reloads", d->reloads);
	add_uint(params, "reloadsFailed", d->reloads_failed);

	kms_client_get_stats(d->kms, &ks);
	add_uint(kms, "requests", ks.attempts);
	add_uint(kms, "retries", ks.retries);
	add_uint(kms, "callsInFlight", ks.in_flight);
	add_uint(kms, "endpoints", ks.n_pools);
	add_uint(kms, "maxPools", ks.max_pools);
	add_uint(kms, "poolsEvicted", ks.pools_evicted);
	add_uint(kms, "poolsRefused", ks.pools_refused);
	add_uint(kms, "connectionsOpened", ks.pools.connections_opened);
	add_uint(kms, "connectionsOpen", ks.pools.connections_open);
	add_uint(kms, "connectionsIdle", ks.pools.connections_idle);
	add_uint(kms, "connectionsReused", ks.pools.reused);
	add_uint(kms, "tlsHandshakes", ks.pools.tls_handshakes);
	add_uint(kms, "tlsResumed", ks.pools.tls_resumed);
	json_object_object_add(kms, "clockOffsetSec", json_object_new_int64(ks.clock_offset_sec));
	add_uint(kms, "throttled", ks.throttled);
	add_uint(kms, "retryQuotaExhausted", ks.retry_quota_out);
	add_uint(kms, "rateLimited", ks.rate_limited);
	add_uint(kms, "rateLimitRejected", ks.rate_rejected);
	add_uint(kms, "rateLimitWaiting", ks.rate_waiting);
	json_object_object_add(kms, "pools", status_pools(d, &pools_omitted));
	add_uint(kms, "poolsOmitted", pools_omitted);
	json_object_object_add(params, "kms", kms);
	status_fit(params);
	call_reply(c, params);
}

const struct method kmscancel_methods[] = {
	{ "io.kmscancel.CancelKeyDeletion", method_cancel_key_deletion },
	{ "io.kmscancel.DescribeKey", method_describe_key },
	{ "io.kmscancel.GetStatus", method_get_status },
	{ NULL, NULL },
};
