/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "pending.h"

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "audit.h"
#include "conf.h"
#include "creds.h"
#include "error-names.h"
#include "keyid.h"
#include "kms-error.h"
#include "kms-wire.h"
#include "kms.h"
#include "log.h"
#include "methods-context.h"
#include "monotime.h"
#include "policy.h"
#include "timeutil.h"
#include "varlink-service.h"

static const char *const state_names[_PENDING_STATE_MAX] = {
    [PENDING_STARTING] = "starting",
    [PENDING_ROUTING] = "routing",
    [PENDING_AWAITING_CREDENTIALS] = "awaiting-credentials",
    [PENDING_LISTING_ALIASES] = "listing-aliases",
    [PENDING_LISTING_KEYS] = "listing-keys",
    [PENDING_DESCRIBING] = "describing",
    [PENDING_DONE] = "done",
};

const char *pending_state_to_string(enum pending_state s)
{
	return (unsigned)s < _PENDING_STATE_MAX ? state_names[s] : NULL;
}

/* One account+region of a scan, and how its scan went. */
struct pending_target {
	char account[13]; /* "" only for the default credentials whose account could not be learnt */
	bool is_default;  /* served by the default credentials, else by its [Account N] section */
	char *region;
	kmscancel_error error; /* KMSCANCEL_OK: scanned in full */
	char *error_name;      /* its short name, or AWS's code */
	char *message;
	unsigned unreadable;    /* keys DescribeKey could not read (other than NotFound) */
	char *unreadable_error; /* the first such error's name */
};

/* An alias of the current region: ListAliases' AliasName and TargetKeyId. */
struct pending_alias {
	char *key_id;
	char *name;
};

/* A DescribeKey request's place in its scan (the callback's userdata). */
struct describe_slot {
	struct pending_scan *scan;
	unsigned index; /* in describes[] */
	size_t key;     /* the key's index in page[] */
};

struct pending_scan {
	struct methods_context *ctx;
	struct call *call;
	enum pending_state state;
	uid_t uid;
	char *want_account, *want_region; /* the call's narrowing, or NULL */
	uint64_t started_ms;
	unsigned timeout_ms;
	struct event *deadline, *hangup_poll;

	struct pending_target *targets;
	size_t n_targets, cur;
	size_t n_hidden; /* account+region pairs left out: the caller may see no key there */

	/* The current target's scan. */
	struct accounts_wait *route_wait;
	struct account *acct; /* referenced */
	bool creds_waiting;
	struct aws_credentials *credentials;
	char *marker; /* the next page's Marker, NULL: the first page */
	bool last_page;
	struct pending_alias *aliases;
	size_t n_aliases, aliases_cap;
	char **page; /* the key ARNs of the current ListKeys page */
	size_t n_page, next_in_page;
	struct kms_call *list_call;
	bool listing_keys; /* the aliases are read: ListKeys pages now */
	/* ExpiredTokenException: the account's cache drops the set and the
	 * request is made again with a new one, at most PENDING_EXPIRED_RETRIES
	 * times per account+region. */
	bool creds_expired;
	unsigned expired_retries;
	struct kms_call *describes[PENDING_DESCRIBES_IN_FLIGHT];
	struct describe_slot slots[PENDING_DESCRIBES_IN_FLIGHT];
	unsigned n_describing;

	unsigned long attempts; /* HTTP requests made, retries included */
	unsigned long keys_listed;

	struct pending_scan *next, *prev; /* ctx->scans */
};

static void scan_set_state(struct pending_scan *s, enum pending_state to)
{
	if (s->state == to)
		return;
	log_debug("ListPendingDeletions uid %u: %s -> %s", (unsigned)s->uid, state_names[s->state], state_names[to]);
	s->state = to;
}

static void credentials_ready(int r, struct aws_credentials *c, const char *error, void *userdata);

/* Withdraws every wait of the current target's scan and forgets it. */
static void target_reset(struct pending_scan *s)
{
	kms_call_abandon(s->list_call);
	s->list_call = NULL;
	for (unsigned i = 0; i < PENDING_DESCRIBES_IN_FLIGHT; i++) {
		kms_call_abandon(s->describes[i]);
		s->describes[i] = NULL;
	}
	s->n_describing = 0;
	s->route_wait = accounts_wait_cancel(s->ctx->accounts, s->route_wait);
	if (s->creds_waiting)
		account_credentials_cancel(s->acct, credentials_ready, s);
	s->creds_waiting = false;
	s->acct = account_unref(s->acct);
	aws_credentials_unref(s->credentials);
	s->credentials = NULL;
	free(s->marker);
	s->marker = NULL;
	s->last_page = false;
	s->listing_keys = false;
	s->creds_expired = false;
	s->expired_retries = 0;
	for (size_t i = 0; i < s->n_aliases; i++) {
		free(s->aliases[i].key_id);
		free(s->aliases[i].name);
	}
	free(s->aliases);
	s->aliases = NULL;
	s->n_aliases = s->aliases_cap = 0;
	for (size_t i = 0; i < s->n_page; i++)
		free(s->page[i]);
	free(s->page);
	s->page = NULL;
	s->n_page = s->next_in_page = 0;
}

static void scan_free(struct pending_scan *s)
{
	if (!s)
		return;
	target_reset(s);
	if (s->prev)
		s->prev->next = s->next;
	else if (s->ctx->scans == s)
		s->ctx->scans = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->deadline)
		event_free(s->deadline);
	if (s->hangup_poll)
		event_free(s->hangup_poll);
	for (size_t i = 0; i < s->n_targets; i++) {
		free(s->targets[i].region);
		free(s->targets[i].message);
		free(s->targets[i].error_name);
		free(s->targets[i].unreadable_error);
	}
	free(s->targets);
	free(s->want_account);
	free(s->want_region);
	free(s);
}

static long remaining_ms(const struct pending_scan *s)
{
	return (long)s->timeout_ms - (long)(int64_t)(methods_now_ms(s->ctx) - s->started_ms);
}

/* --- the answer ------------------------------------------------------------------------------- */

/* The audit record of a scan: who, what it was narrowed to, how many keys
 * were shown, how many requests it took. */
static void scan_audit(const struct pending_scan *s, const char *error)
{
	audit_log(&(struct audit_record){
	    .event = AUDIT_OUTCOME,
	    .caller = call_peer(s->call),
	    .operation = "list-pending",
	    .key = "*",
	    .success = error == NULL,
	    .key_state = error ? NULL : "PendingDeletion",
	    .error = error,
	    .attempts = (unsigned)s->attempts,
	    .latency_ms = (long)(int64_t)(methods_now_ms(s->ctx) - s->started_ms),
	    .region = s->want_region,
	    .account = s->want_account,
	    .listing = true,
	    .keys_listed = s->keys_listed,
	});
}

static struct json_object *target_json(const struct pending_target *t)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "account", json_object_new_string(t->account));
	json_object_object_add(o, "region", json_object_new_string(t->region));
	if (t->error != KMSCANCEL_OK) {
		json_object_object_add(o, "error",
				       json_object_new_string(t->error_name ? t->error_name : "InternalError"));
		json_object_object_add(o, "message", json_object_new_string(t->message ? t->message : ""));
	} else if (t->unreadable) {
		char msg[256];

		/* Not a failure of the scan, but keys it may have missed. */
		snprintf(msg, sizeof(msg), "%u key%s could not be read with DescribeKey (%s)", t->unreadable,
			 t->unreadable == 1 ? "" : "s", t->unreadable_error ? t->unreadable_error : "?");
		json_object_object_add(o, "message", json_object_new_string(msg));
	}
	return o;
}

/* The final reply: every account+region, with its error if it had one. */
static void scan_finish(struct pending_scan *s)
{
	struct json_object *params = json_object_new_object(), *scans = json_object_new_array();

	target_reset(s);
	scan_set_state(s, PENDING_DONE);
	for (size_t i = 0; i < s->n_targets; i++)
		json_object_array_add(scans, target_json(&s->targets[i]));
	json_object_object_add(params, "scans", scans);
	scan_audit(s, NULL);
	methods_count(s->ctx, KMSCANCEL_OK);
	call_reply(s->call, params);
	scan_free(s);
}

/* Ends the scan with an error reply (no key was or will be sent after it). */
static void scan_fail(struct pending_scan *s, kmscancel_error e, const char *message)
{
	struct json_object *params = json_object_new_object();

	target_reset(s);
	scan_set_state(s, PENDING_DONE);
	json_object_object_add(params, "message", json_object_new_string(message));
	scan_audit(s, kmscancel_error_short_name(e));
	methods_count(s->ctx, e);
	call_reply_error(s->call, kmscancel_error_to_varlink(e), params);
	scan_free(s);
}

/* The caller hung up: nothing more is asked of KMS; the call is completed
 * (its reply dropped). */
static bool scan_abandoned(struct pending_scan *s)
{
	if (!call_is_abandoned(s->call))
		return false;
	log_info("ListPendingDeletions uid %u: the caller hung up; scan stopped after %lu requests", (unsigned)s->uid,
		 s->attempts);
	target_reset(s);
	scan_set_state(s, PENDING_DONE);
	scan_audit(s, "Disconnected");
	call_reply(s->call, NULL);
	scan_free(s);
	return true;
}

/* --- one account+region after another --------------------------------------------------------- */

static void target_start(struct pending_scan *s);

/* The current target failed with e (aws_code: AWS's name for it): noted,
 * and the scan goes on with the next. */
static void target_fail(struct pending_scan *s, kmscancel_error e, const char *aws_code, const char *message)
{
	struct pending_target *t = &s->targets[s->cur];

	t->error = e;
	free(t->error_name);
	t->error_name = strdup(aws_code ? aws_code : kmscancel_error_short_name(e));
	free(t->message);
	t->message = strndup(message ? message : "", 512);
	log_info("ListPendingDeletions uid %u: account %s, %s: %s: %s", (unsigned)s->uid,
		 t->account[0] ? t->account : "(unknown)", t->region, t->error_name ? t->error_name : "?",
		 message ? message : "");
	target_reset(s);
	s->cur++;
	target_start(s);
}

static void route_done(int r, const struct account_route *route, const char *error, void *userdata);

/* Starts the scan of the current account+region, or finishes. */
static void target_start(struct pending_scan *s)
{
	struct pending_target *t;
	int r;

	if (scan_abandoned(s))
		return;
	if (s->cur >= s->n_targets) {
		scan_finish(s);
		return;
	}
	t = &s->targets[s->cur];
	if (remaining_ms(s) <= 0) {
		target_fail(s, KMSCANCEL_E_TIMEOUT, NULL, "the scan's deadline passed before this account and region");
		return;
	}
	scan_set_state(s, PENDING_ROUTING);
	r = accounts_route(s->ctx->accounts, t->account[0] ? t->account : NULL, route_done, s, &s->route_wait);
	if (r < 0)
		scan_fail(s, KMSCANCEL_E_INTERNAL, "out of memory");
}

static void list_page(struct pending_scan *s);
static void describe_more(struct pending_scan *s);

/* Credentials for the next request, from the account's cache (a refresh
 * between pages is picked up): then the next page. */
static void credentials_fetch(struct pending_scan *s)
{
	char why[512];
	int r;

	scan_set_state(s, PENDING_AWAITING_CREDENTIALS);
	s->creds_waiting = true;
	r = account_credentials_get(s->acct, s->targets[s->cur].account, credentials_ready, s, why, sizeof(why));
	if (r >= 0)
		return;
	s->creds_waiting = false;
	if (r == -ENOENT)
		target_fail(s, KMSCANCEL_E_CREDENTIALS_UNAVAILABLE, NULL, why);
	else
		scan_fail(s, KMSCANCEL_E_INTERNAL, "out of memory");
}

static void route_done(int r, const struct account_route *route, const char *error, void *userdata)
{
	struct pending_scan *s = userdata;

	s->route_wait = NULL;
	if (r < 0) {
		target_fail(s, r == -EPERM ? KMSCANCEL_E_PERMISSION_DENIED : KMSCANCEL_E_CREDENTIALS_UNAVAILABLE, NULL,
			    error);
		return;
	}
	s->acct = account_ref(route->acct);
	if (route->account[0] && !s->targets[s->cur].account[0])
		memcpy(s->targets[s->cur].account, route->account, sizeof(route->account));
	credentials_fetch(s);
}

static void credentials_ready(int r, struct aws_credentials *c, const char *error, void *userdata)
{
	struct pending_scan *s = userdata;
	const char *account = s->targets[s->cur].account;

	s->creds_waiting = false;
	if (r < 0) {
		target_fail(s, KMSCANCEL_E_CREDENTIALS_UNAVAILABLE, NULL,
			    error ? error : "no AWS credentials available");
		return;
	}
	/* Credentials that say whose they are must be the account's. */
	if (c->account_id && account[0] && strcmp(c->account_id, account) != 0) {
		target_fail(s, KMSCANCEL_E_CREDENTIALS_UNAVAILABLE, NULL,
			    "the credentials belong to another account: not used for this one");
		return;
	}
	aws_credentials_unref(s->credentials);
	s->credentials = aws_credentials_ref(c);
	s->creds_expired = false;
	if (s->page)
		describe_more(s); /* the page's keys, after an expired token */
	else
		list_page(s);
}

/* --- KMS requests ------------------------------------------------------------------------------ */

/* The deadline of one request: what is left of the scan's, at most the
 * daemon's call timeout. */
static unsigned request_timeout_ms(const struct pending_scan *s)
{
	long left = remaining_ms(s);
	unsigned cap = methods_call_timeout_ms(s->ctx, 0);

	if (left < 1)
		left = 1;
	return (unsigned long)left < cap ? (unsigned)left : cap;
}

static struct kms_call *request_start(struct pending_scan *s, enum kms_operation op, const char *key_id, unsigned limit,
				      kms_done_fn done, void *userdata)
{
	const struct pending_target *t = &s->targets[s->cur];
	struct kms_request req = {
	    .op = op,
	    .key_id = key_id,
	    .limit = limit,
	    .marker = op == KMS_OP_DESCRIBE_KEY ? NULL : s->marker,
	    .region = t->region,
	    .credentials = s->credentials,
	    .timeout_ms = request_timeout_ms(s),
	    .account = t->account[0] ? t->account : NULL,
	    .caller = s->uid,
	};

	return kms_call_start(s->ctx->kms, &req, done, userdata);
}

static void aliases_answered(const struct kms_result *r, void *userdata);
static void keys_answered(const struct kms_result *r, void *userdata);

/* The next page: of aliases until there are none left, then of keys. */
static void list_page(struct pending_scan *s)
{
	bool keys = s->listing_keys;

	if (scan_abandoned(s))
		return;
	scan_set_state(s, keys ? PENDING_LISTING_KEYS : PENDING_LISTING_ALIASES);
	s->list_call = request_start(s, keys ? KMS_OP_LIST_KEYS : KMS_OP_LIST_ALIASES, NULL,
				     keys ? PENDING_LIST_KEYS_LIMIT : PENDING_LIST_ALIASES_LIMIT,
				     keys ? keys_answered : aliases_answered, s);
	if (!s->list_call)
		scan_fail(s, KMSCANCEL_E_INTERNAL, "out of memory");
}

/* A page's NextMarker and Truncated into s: 0, or -EPROTO when a
 * truncated page gives no marker (the scan would loop). */
static int page_next(struct pending_scan *s, struct json_object *body)
{
	struct json_object *v;

	free(s->marker);
	s->marker = NULL;
	s->last_page = !json_object_object_get_ex(body, "Truncated", &v) || !json_object_get_boolean(v);
	if (s->last_page)
		return 0;
	if (!json_object_object_get_ex(body, "NextMarker", &v) || !json_object_is_type(v, json_type_string) ||
	    !json_object_get_string_len(v))
		return -EPROTO;
	s->marker = strdup(json_object_get_string(v));
	return s->marker ? 0 : -ENOMEM;
}

/* ExpiredTokenException while retries are left: the account's cache is
 * told (a fetch, once however many requests report it) and true returned:
 * the caller makes its request again once credentials are back. */
static bool expired_token(struct pending_scan *s, const struct kms_result *r)
{
	if (r->error == KMSCANCEL_OK || !r->error_code ||
	    kms_error_classify(r->error_code, 400) != KMS_ERROR_EXPIRED_TOKEN)
		return false;
	if (!s->creds_expired) {
		if (s->expired_retries >= PENDING_EXPIRED_RETRIES)
			return false;
		s->expired_retries++;
		s->creds_expired = true;
		account_credentials_expired(s->acct, s->credentials);
	}
	return true;
}

/* A failed page request; true when the scan is gone or moved on. */
static bool page_failed(struct pending_scan *s, const struct kms_result *r)
{
	s->attempts += r->attempts;
	if (scan_abandoned(s))
		return true;
	if (r->error == KMSCANCEL_OK)
		return false;
	if (expired_token(s, r))
		credentials_fetch(s); /* then the same page again */
	else
		target_fail(s, r->error, r->error_code, r->message);
	return true;
}

static int compare_alias(const void *a, const void *b)
{
	return strcmp(((const struct pending_alias *)a)->key_id, ((const struct pending_alias *)b)->key_id);
}

/* Keeps one ListAliases entry: those without a TargetKeyId (AWS managed
 * aliases not yet in use) name no key. */
static int alias_add(struct pending_scan *s, struct json_object *entry)
{
	struct json_object *name, *target;

	if (!json_object_object_get_ex(entry, "AliasName", &name) || !json_object_is_type(name, json_type_string) ||
	    !json_object_object_get_ex(entry, "TargetKeyId", &target) || !json_object_is_type(target, json_type_string))
		return 0;
	if (s->n_aliases >= PENDING_MAX_ALIASES)
		return -E2BIG;
	if (s->n_aliases == s->aliases_cap) {
		size_t cap = s->aliases_cap ? s->aliases_cap * 2 : 64;
		struct pending_alias *a = realloc(s->aliases, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		s->aliases = a;
		s->aliases_cap = cap;
	}
	s->aliases[s->n_aliases].key_id = strdup(json_object_get_string(target));
	s->aliases[s->n_aliases].name = strdup(json_object_get_string(name));
	if (!s->aliases[s->n_aliases].key_id || !s->aliases[s->n_aliases].name) {
		free(s->aliases[s->n_aliases].key_id);
		free(s->aliases[s->n_aliases].name);
		return -ENOMEM;
	}
	s->n_aliases++;
	return 0;
}

static void aliases_answered(const struct kms_result *r, void *userdata)
{
	struct pending_scan *s = userdata;
	struct json_object *list;
	int err = 0;

	s->list_call = NULL;
	if (page_failed(s, r))
		return;
	if (json_object_object_get_ex(r->body, "Aliases", &list) && json_object_is_type(list, json_type_array))
		for (size_t i = 0; i < json_object_array_length(list) && err == 0; i++)
			err = alias_add(s, json_object_array_get_idx(list, i));
	if (err == 0)
		err = page_next(s, r->body);
	if (err == -ENOMEM) {
		scan_fail(s, KMSCANCEL_E_INTERNAL, "out of memory");
		return;
	}
	if (err < 0) {
		target_fail(s, KMSCANCEL_E_KMS, NULL,
			    err == -E2BIG ? "more aliases than kmscanceld keeps for one region"
					  : "ListAliases answered a truncated page without NextMarker");
		return;
	}
	if (!s->last_page) {
		credentials_fetch(s);
		return;
	}
	if (s->n_aliases)
		qsort(s->aliases, s->n_aliases, sizeof(*s->aliases), compare_alias);
	s->listing_keys = true;
	s->last_page = false;
	credentials_fetch(s);
}

static void keys_answered(const struct kms_result *r, void *userdata)
{
	struct pending_scan *s = userdata;
	struct json_object *list, *arn;
	size_t n;
	int err;

	s->list_call = NULL;
	if (page_failed(s, r))
		return;
	if (!json_object_object_get_ex(r->body, "Keys", &list) || !json_object_is_type(list, json_type_array))
		list = NULL;
	n = list ? json_object_array_length(list) : 0;
	s->page = calloc(n ? n : 1, sizeof(*s->page));
	if (!s->page) {
		scan_fail(s, KMSCANCEL_E_INTERNAL, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(list, i);

		if (json_object_object_get_ex(e, "KeyArn", &arn) && json_object_is_type(arn, json_type_string) &&
		    !(s->page[s->n_page++] = strdup(json_object_get_string(arn)))) {
			scan_fail(s, KMSCANCEL_E_INTERNAL, "out of memory");
			return;
		}
	}
	err = page_next(s, r->body);
	if (err < 0) {
		if (err == -ENOMEM)
			scan_fail(s, KMSCANCEL_E_INTERNAL, "out of memory");
		else
			target_fail(s, KMSCANCEL_E_KMS, NULL, "ListKeys answered a truncated page without NextMarker");
		return;
	}
	scan_set_state(s, PENDING_DESCRIBING);
	describe_more(s);
}

/* --- each key ---------------------------------------------------------------------------------- */

/* The aliases of key_id, in a json array (possibly empty). */
static struct json_object *aliases_of(const struct pending_scan *s, const char *key_id)
{
	struct json_object *a = json_object_new_array();
	struct pending_alias probe = {.key_id = (char *)key_id};
	const struct pending_alias *hit =
	    s->n_aliases ? bsearch(&probe, s->aliases, s->n_aliases, sizeof(*s->aliases), compare_alias) : NULL;

	if (!hit)
		return a;
	while (hit > s->aliases && strcmp(hit[-1].key_id, key_id) == 0)
		hit--;
	for (; hit < s->aliases + s->n_aliases && strcmp(hit->key_id, key_id) == 0; hit++)
		json_object_array_add(a, json_object_new_string(hit->name));
	return a;
}

/*
 * Whether the caller may see key (its aliases in aliases): as DescribeKey
 * by its ARN would be allowed, or by one of its aliases; never when a Deny
 * rule names one of its aliases (a call by that alias would be refused,
 * and the listing fails closed).  The policy current now decides.
 */
static bool key_visible(struct pending_scan *s, const struct keyid *key, struct json_object *aliases)
{
	struct policy_subject subject = methods_policy_subject(s->ctx, call_peer(s->call));
	struct policy_object o = {.key = key, .region = key->region, .account = key->account};
	bool allowed = policy_decide(s->ctx->policy, &subject, POLICY_OP_DESCRIBE, &o, NULL) == POLICY_ALLOW;

	for (size_t i = 0; i < json_object_array_length(aliases); i++) {
		const char *rule = NULL;
		enum policy_verdict v =
		    policy_decide_alias(s->ctx->policy, &subject, POLICY_OP_DESCRIBE,
					json_object_get_string(json_object_array_get_idx(aliases, i)), &o, &rule);

		if (v == POLICY_ALLOW)
			allowed = true;
		else if (v == POLICY_UNDECIDED || (rule && strcmp(rule, "default") != 0))
			return false;
	}
	return allowed;
}

/* One key's DescribeKey answer: streamed when it is pending deletion and
 * the caller may see it. */
static void key_described(struct pending_scan *s, struct json_object *meta)
{
	const struct pending_target *t = &s->targets[s->cur];
	struct json_object *state, *arn, *id, *v, *key, *aliases, *params;
	struct keyid parsed;

	if (!json_object_object_get_ex(meta, "KeyState", &state) || !json_object_is_type(state, json_type_string) ||
	    (strcmp(json_object_get_string(state), "PendingDeletion") != 0 &&
	     strcmp(json_object_get_string(state), "PendingReplicaDeletion") != 0))
		return;
	if (!json_object_object_get_ex(meta, "Arn", &arn) || !json_object_is_type(arn, json_type_string) ||
	    keyid_parse(json_object_get_string(arn), &parsed, NULL) < 0 || parsed.kind != KEYID_KIND_ARN)
		return;
	id = json_object_object_get_ex(meta, "KeyId", &v) && json_object_is_type(v, json_type_string) ? v : NULL;
	aliases = aliases_of(s, id ? json_object_get_string(id) : parsed.id);
	if (!key_visible(s, &parsed, aliases)) {
		json_object_put(aliases);
		return;
	}
	key = json_object_new_object();
	json_object_object_add(key, "keyId", json_object_get(arn));
	json_object_object_add(key, "keyState", json_object_get(state));
	if (json_object_object_get_ex(meta, "DeletionDate", &v) && (v = kms_timestamp_to_string(v)))
		json_object_object_add(key, "deletionDate", v);
	if (json_object_object_get_ex(meta, "PendingDeletionWindowInDays", &v) && json_object_is_type(v, json_type_int))
		json_object_object_add(key, "pendingDeletionWindowInDays", json_object_get(v));
	json_object_object_add(key, "account", json_object_new_string(parsed.account));
	json_object_object_add(key, "region", json_object_new_string(t->region));
	if (json_object_object_get_ex(meta, "Description", &v) && json_object_is_type(v, json_type_string) &&
	    json_object_get_string_len(v))
		json_object_object_add(key, "description", json_object_get(v));
	json_object_object_add(key, "aliases", aliases);
	params = json_object_new_object();
	json_object_object_add(params, "key", key);
	s->keys_listed++;
	call_reply_more(s->call, params);
}

static int page_requeue(struct pending_scan *s, size_t i);

/* Whether the caller may see the page's key i, judged on its ARN (from
 * ListKeys) and its aliases, as key_described() would judge it: a key it
 * may not see is not even counted unreadable. */
static bool page_key_visible(struct pending_scan *s, size_t i)
{
	struct keyid parsed;
	struct json_object *aliases;
	bool visible;

	if (keyid_parse(s->page[i], &parsed, NULL) < 0 || parsed.kind != KEYID_KIND_ARN)
		return false;
	aliases = aliases_of(s, parsed.id);
	visible = key_visible(s, &parsed, aliases);
	json_object_put(aliases);
	return visible;
}

static void describe_answered(const struct kms_result *r, void *userdata)
{
	const struct describe_slot *slot = userdata;
	struct pending_scan *s = slot->scan;
	struct pending_target *t = &s->targets[s->cur];
	struct json_object *meta;

	s->describes[slot->index] = NULL;
	s->n_describing--;
	s->attempts += r->attempts;
	if (scan_abandoned(s))
		return;
	if (r->error == KMSCANCEL_OK && json_object_object_get_ex(r->body, "KeyMetadata", &meta)) {
		key_described(s, meta);
	} else if (expired_token(s, r)) {
		/* Read again with the new credentials: back in the page. */
		if (page_requeue(s, slot->key) < 0) {
			scan_fail(s, KMSCANCEL_E_INTERNAL, "out of memory");
			return;
		}
	} else if (r->error == KMSCANCEL_E_TIMEOUT && remaining_ms(s) <= 0) {
		target_fail(s, KMSCANCEL_E_TIMEOUT, NULL, "the scan's deadline passed");
		return;
	} else if (r->error != KMSCANCEL_E_NOT_FOUND && page_key_visible(s, slot->key)) {
		/* Deleted since ListKeys is no loss; anything else may hide a
		 * pending deletion: counted and told in the final reply, of
		 * the keys the caller may see only. */
		t->unreadable++;
		if (!t->unreadable_error)
			t->unreadable_error =
			    strdup(r->error_code ? r->error_code : kmscancel_error_short_name(r->error));
	}
	describe_more(s);
}

/* Puts the page's key i at the page's end, to be read again.  0 or -ENOMEM. */
static int page_requeue(struct pending_scan *s, size_t i)
{
	char **page = realloc(s->page, (s->n_page + 1) * sizeof(*page));

	if (!page)
		return -ENOMEM;
	s->page = page;
	if (!(page[s->n_page] = strdup(page[i])))
		return -ENOMEM;
	s->n_page++;
	return 0;
}

/* Keeps up to PENDING_DESCRIBES_IN_FLIGHT DescribeKey requests running on
 * the page's keys; once the page is done, the next page or target. */
static void describe_more(struct pending_scan *s)
{
	if (s->creds_expired) {
		/* New credentials once the requests still out have answered. */
		if (s->n_describing == 0)
			credentials_fetch(s);
		return;
	}
	for (unsigned i = 0; i < PENDING_DESCRIBES_IN_FLIGHT && s->next_in_page < s->n_page; i++) {
		if (s->describes[i])
			continue;
		s->slots[i] = (struct describe_slot){s, i, s->next_in_page};
		s->describes[i] =
		    request_start(s, KMS_OP_DESCRIBE_KEY, s->page[s->next_in_page], 0, describe_answered, &s->slots[i]);
		if (!s->describes[i]) {
			scan_fail(s, KMSCANCEL_E_INTERNAL, "out of memory");
			return;
		}
		s->next_in_page++;
		s->n_describing++;
	}
	if (s->n_describing > 0)
		return;
	for (size_t i = 0; i < s->n_page; i++)
		free(s->page[i]);
	free(s->page);
	s->page = NULL;
	s->n_page = s->next_in_page = 0;
	if (!s->last_page) {
		credentials_fetch(s);
		return;
	}
	target_reset(s);
	s->cur++;
	target_start(s);
}

/* --- the deadline, the caller's hang-up -------------------------------------------------------- */

/* Ends the scan early with its final reply: the keys already sent stand,
 * the account+region being scanned and every one not reached are reported
 * with error_name and why (now_why for the current one, later_why for the
 * rest). */
static void scan_cut_short(struct pending_scan *s, kmscancel_error e, const char *error_name, const char *now_why,
			   const char *later_why)
{
	target_reset(s);
	for (size_t i = s->cur; i < s->n_targets; i++) {
		struct pending_target *t = &s->targets[i];

		t->error = e;
		free(t->error_name);
		t->error_name = strdup(error_name);
		free(t->message);
		t->message = strdup(i == s->cur ? now_why : later_why);
	}
	s->cur = s->n_targets;
	scan_finish(s);
}

/* The scan's deadline: the account+region being scanned and every one not
 * reached are reported Timeout in the final reply. */
static void deadline_cb(evutil_socket_t fd, short what, void *userdata)
{
	struct pending_scan *s = userdata;

	if (scan_abandoned(s))
		return;
	scan_cut_short(s, KMSCANCEL_E_TIMEOUT, kmscancel_error_short_name(KMSCANCEL_E_TIMEOUT),
		       "the scan's deadline passed while scanning this account and region",
		       "the scan's deadline passed before this account and region");
}

static void hangup_poll_cb(evutil_socket_t fd, short what, void *userdata)
{
	struct pending_scan *s = userdata;
	struct timeval tv = timeval_from_msec(PENDING_HANGUP_POLL_MS);

	if (!scan_abandoned(s))
		evtimer_add(s->hangup_poll, &tv);
}

/* --- the start ---------------------------------------------------------------------------------- */

/* The regions an account is scanned in: its Regions=, else its Region=,
 * else [AWS] Regions=, else the default region (NULL when none). */
static const char *account_regions(const struct methods_context *ctx, const struct config_account *a)
{
	if (a && a->regions)
		return a->regions;
	if (a && a->region)
		return a->region;
	if (ctx->config->regions)
		return ctx->config->regions;
	return methods_default_region(ctx);
}

/*
 * Whether the caller may be shown the scan of account (NULL: the default
 * credentials' account, not learnt) in region.  A known account: when the
 * policy could show it some key there.  An unknown one fails closed: only
 * when the policy surely allows it to describe every key in that region,
 * whatever account it is (an Allow of account:A may not be A's, a Deny of
 * account:A may be), else its keys are requested and its errors (which
 * may name the account, the credentials' identity) shown to a caller with
 * no right there.
 */
static bool target_visible(const struct pending_scan *s, const struct policy_subject *subject, const char *account,
			   const char *region)
{
	struct policy_object anywhere = {.region = region};

	if (account)
		return policy_may_describe_in(s->ctx->policy, subject, account, region);
	return policy_decide(s->ctx->policy, subject, POLICY_OP_DESCRIBE, &anywhere, NULL) == POLICY_ALLOW;
}

/* Adds account's targets, one per region of regions (spaces between) the
 * call did not narrow out.  A pair the caller may not see
 * (target_visible()) is left out (counted in n_hidden): no request is made
 * there, and the caller is not told it exists.  0, -E2BIG past
 * PENDING_MAX_TARGETS, -ENOMEM. */
static int targets_add(struct pending_scan *s, const char *account, bool is_default, const char *regions)
{
	struct policy_subject subject = methods_policy_subject(s->ctx, call_peer(s->call));
	char *copy = regions ? strdup(regions) : NULL, *save = NULL;
	int r = regions && !copy ? -ENOMEM : 0;

	for (char *w = copy ? strtok_r(copy, " \t", &save) : NULL; w && r == 0; w = strtok_r(NULL, " \t", &save)) {
		struct pending_target *t;
		bool seen = false;

		if (s->want_region && strcmp(w, s->want_region) != 0)
			continue;
		for (size_t i = 0; i < s->n_targets; i++)
			seen |= strcmp(s->targets[i].account, account) == 0 && strcmp(s->targets[i].region, w) == 0;
		if (seen)
			continue;
		if (!target_visible(s, &subject, account[0] ? account : NULL, w)) {
			s->n_hidden++;
			continue;
		}
		if (s->n_targets >= PENDING_MAX_TARGETS) {
			r = -E2BIG;
			break;
		}
		t = &s->targets[s->n_targets];
		*t = (struct pending_target){.is_default = is_default, .region = strdup(w)};
		snprintf(t->account, sizeof(t->account), "%s", account);
		if (!t->region)
			r = -ENOMEM;
		else
			s->n_targets++;
	}
	free(copy);
	return r;
}

/* Whether the call named account, or no account. */
static bool account_wanted(const struct pending_scan *s, const char *account)
{
	return !s->want_account || strcmp(s->want_account, account) == 0;
}

/* Whether the policy could show the caller a key in the account and
 * region the call named (either may be absent). */
static bool narrowing_visible(const struct pending_scan *s)
{
	struct policy_subject subject = methods_policy_subject(s->ctx, call_peer(s->call));

	return policy_may_describe_in(s->ctx->policy, &subject, s->want_account, s->want_region);
}

/* The account+region pairs to scan: the default credentials' account
 * (default_account, "" if unknown), then each [Account N] section, each in
 * its regions, as the call narrowed them.  0, or -1 when s was answered. */
static int targets_build(struct pending_scan *s, const char *default_account)
{
	const struct daemon_config *c = s->ctx->config;
	bool account_known = false, in_section = false;
	int r = 0;

	s->targets = calloc(PENDING_MAX_TARGETS, sizeof(*s->targets));
	if (!s->targets) {
		scan_fail(s, KMSCANCEL_E_INTERNAL, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < c->n_accounts; i++)
		in_section |= strcmp(c->accounts[i].id, default_account) == 0;
	/* A section for the default credentials' own account serves it. */
	if (!in_section && account_wanted(s, default_account) && (default_account[0] || !s->want_account)) {
		account_known = true;
		r = targets_add(s, default_account, true, account_regions(s->ctx, NULL));
	}
	for (size_t i = 0; i < c->n_accounts && r == 0; i++) {
		if (!account_wanted(s, c->accounts[i].id))
			continue;
		account_known = true;
		r = targets_add(s, c->accounts[i].id, false, account_regions(s->ctx, &c->accounts[i]));
	}
	if (r == -ENOMEM) {
		scan_fail(s, KMSCANCEL_E_INTERNAL, "out of memory");
		return -1;
	}
	/* Told only to a caller who could see a key where the call narrowed
	 * to (any caller here may describe something): to any other, an
	 * account or region the daemon does not serve is an empty scan, as
	 * one it serves but hides is.  A known account with nothing to scan
	 * lacks a region: the one asked for is not among its regions, or it
	 * has none (no Regions=, Region= or default). */
	if (s->n_targets == 0 && !narrowing_visible(s))
		return 0;
	if (!account_known || r == -E2BIG) {
		call_reply_invalid_parameter(s->call, "account");
		scan_free(s);
		return -1;
	}
	if (s->n_targets + s->n_hidden == 0) {
		call_reply_invalid_parameter(s->call, "region");
		scan_free(s);
		return -1;
	}
	return 0;
}

static void scan_begin(struct pending_scan *s, const char *default_account)
{
	if (targets_build(s, default_account) < 0)
		return;
	log_debug("ListPendingDeletions uid %u: %zu account+region pairs to scan, %zu where it may see no key",
		  (unsigned)s->uid, s->n_targets, s->n_hidden);
	target_start(s);
}

static void default_account_learnt(int r, const struct account_route *route, const char *error, void *userdata)
{
	struct pending_scan *s = userdata;

	s->route_wait = NULL;
	scan_begin(s, r == 0 ? route->account : "");
}

/* Refused before anything: ExpectedMore, the policy, the limits.  0, or
 * -1 when c was answered. */
static int scan_admit(struct methods_context *ctx, struct call *c)
{
	struct policy_subject subject;
	unsigned mine = 0, all = 0;
	const struct peer *p = call_peer(c);

	if (!call_wants_more(c)) {
		call_reply_error(c, VARLINK_ERROR_EXPECTED_MORE, NULL);
		return -1;
	}
	subject = methods_policy_subject(ctx, p);
	if (!policy_may_describe_any(ctx->policy, &subject)) {
		audit_log(&(struct audit_record){
		    .event = AUDIT_DECISION,
		    .caller = p,
		    .operation = "list-pending",
		    .key = "*",
		    .allowed = false,
		    .rule = "default",
		});
		methods_count(ctx, KMSCANCEL_E_PERMISSION_DENIED);
		call_reply_permission_denied(c);
		return -1;
	}
	for (const struct pending_scan *s = ctx->scans; s; s = s->next) {
		all++;
		mine += s->uid == p->uid;
	}
	if (mine >= PENDING_MAX_SCANS_PER_UID || all >= PENDING_MAX_SCANS) {
		struct json_object *params = json_object_new_object();

		json_object_object_add(
		    params, "message",
		    json_object_new_string(mine >= PENDING_MAX_SCANS_PER_UID
					       ? "kmscanceld: this user already has the most "
						 "ListPendingDeletions scans running; try again later"
					       : "kmscanceld: the most ListPendingDeletions scans are "
						 "running; try again later"));
		methods_count(ctx, KMSCANCEL_E_THROTTLING);
		call_reply_error(c, kmscancel_error_to_varlink(KMSCANCEL_E_THROTTLING), params);
		return -1;
	}
	return 0;
}

void pending_start(struct methods_context *ctx, struct call *c, const struct pending_request *req)
{
	struct pending_scan *s;
	struct timeval deadline, poll = timeval_from_msec(PENDING_HANGUP_POLL_MS);
	const char *known;

	if (scan_admit(ctx, c) < 0)
		return;
	s = calloc(1, sizeof(*s));
	if (!s) {
		struct json_object *params = json_object_new_object();

		json_object_object_add(params, "message", json_object_new_string("out of memory"));
		call_reply_error(c, kmscancel_error_to_varlink(KMSCANCEL_E_INTERNAL), params);
		return;
	}
	s->ctx = ctx;
	s->call = c;
	s->uid = call_peer(c)->uid;
	s->state = PENDING_STARTING;
	s->started_ms = methods_now_ms(ctx);
	s->timeout_ms =
	    methods_call_timeout_ms(ctx, req->timeout_ms > 0 ? req->timeout_ms : PENDING_DEFAULT_TIMEOUT_MS);
	s->next = ctx->scans;
	if (ctx->scans)
		ctx->scans->prev = s;
	ctx->scans = s;
	s->want_account = req->account ? strdup(req->account) : NULL;
	s->want_region = req->region ? strdup(req->region) : NULL;
	s->deadline = evtimer_new(ctx->base, deadline_cb, s);
	s->hangup_poll = evtimer_new(ctx->base, hangup_poll_cb, s);
	if ((req->account && !s->want_account) || (req->region && !s->want_region) || !s->deadline || !s->hangup_poll) {
		scan_fail(s, KMSCANCEL_E_INTERNAL, "out of memory");
		return;
	}
	deadline = timeval_from_msec(s->timeout_ms);
	evtimer_add(s->deadline, &deadline);
	evtimer_add(s->hangup_poll, &poll);
	known = methods_default_account(ctx);
	if (known) {
		scan_begin(s, known);
		return;
	}
	/* The default credentials' account names their scans (and may be the
	 * one the call asked for): learnt first, once. */
	if (accounts_route_learning(ctx->accounts, default_account_learnt, s, &s->route_wait) < 0)
		scan_fail(s, KMSCANCEL_E_INTERNAL, "out of memory");
}

unsigned pending_stop_all(struct methods_context *ctx)
{
	unsigned n = 0;

	while (ctx->scans) {
		log_info("ListPendingDeletions uid %u: the daemon is stopping; scan ended early",
			 (unsigned)ctx->scans->uid);
		scan_cut_short(ctx->scans, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, "Interrupted",
			       "kmscanceld stopped while scanning this account and region",
			       "kmscanceld stopped before this account and region");
		n++;
	}
	return n;
}

unsigned pending_shutdown_all(struct methods_context *ctx)
{
	unsigned n = 0;

	while (ctx->scans) {
		log_warning("ListPendingDeletions uid %u: still running at exit; answered with an error",
			    (unsigned)ctx->scans->uid);
		scan_fail(ctx->scans, KMSCANCEL_E_ENDPOINT_UNAVAILABLE,
			  "kmscanceld is shutting down and stopped this scan before it finished");
		n++;
	}
	return n;
}
