/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "status.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "accounts.h"
#include "audit.h"
#include "creds-cache.h"
#include "error-names.h"
#include "fd-budget.h"
#include "guard.h"
#include "kms.h"
#include "methods-context.h"
#include "timeutil.h"
#include "varlink.h"
#include "varlink-service.h"

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
static struct json_object *status_errors(const struct methods_context *ctx)
{
	struct json_object *o = json_object_new_object();

	for (unsigned e = 1; e < METHODS_N_ERROR_COUNTERS; e++)
		if (ctx->counters.errors[e] && kmscancel_error_short_name((kmscancel_error)e))
			json_object_object_add(o, kmscancel_error_short_name((kmscancel_error)e),
					       json_object_new_int64((int64_t)ctx->counters.errors[e]));
	return o;
}

/* The busiest KMS connection pools, at most KMS_STATUS_POOLS_MAX of them
 * however many there are (a reply must stay under VARLINK_MESSAGE_MAX);
 * *ret_omitted says how many more exist. */
static struct json_object *status_pools(const struct methods_context *ctx, unsigned long *ret_omitted)
{
	struct json_object *a = json_object_new_array();
	struct kms_endpoint_stats es[KMS_STATUS_POOLS_MAX];
	long n = kms_client_list_endpoints(ctx->kms, es, KMS_STATUS_POOLS_MAX);

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

	if (t && timeutil_format_iso8601(t, buf, sizeof(buf)) >= 0)
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
static void add_credentials_status(struct json_object *params, struct methods_context *ctx)
{
	struct account_status as;

	if (accounts_get_status(ctx->accounts, 0, &as) == 0)
		add_creds_status(params, &as.creds);
}

/* One entry per account: the default credentials first, then every
 * [Account N]; where each one's credentials come from and how they stand. */
static struct json_object *status_accounts(struct methods_context *ctx)
{
	struct json_object *a = json_object_new_array();
	struct account_status as;

	for (size_t i = 0; accounts_get_status(ctx->accounts, i, &as) == 0; i++) {
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
static bool status_authorize(struct methods_context *ctx, struct call *c)
{
	const struct peer *p = call_peer(c);
	struct policy_subject subject = methods_policy_subject(ctx, p);
	const char *rule = NULL;
	struct json_object *params;
	char msg[128];

	if (policy_check(ctx->policy, &subject, POLICY_OP_STATUS, NULL, &rule))
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
	methods_count(ctx, KMSCANCEL_E_PERMISSION_DENIED);
	call_reply_error(c, kmscancel_error_to_varlink(KMSCANCEL_E_PERMISSION_DENIED), params);
	return false;
}
/* Room kept for the reply's envelope ({"parameters": ...}) and members
 * added after the check. */
#define STATUS_SLACK 1024

/* Drops elements from the end of the array params.member, never the
 * first, until params fits in a Varlink message, and says how many went in
 * params.omitted_member. */
static void fit_array(struct json_object *params, const char *member, const char *omitted_member)
{
	struct json_object *array = NULL;
	size_t n, omitted = 0;

	if (!json_object_object_get_ex(params, member, &array))
		return;
	n = json_object_array_length(array);
	while (n > 1) {
		size_t len = strlen(json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN));
		size_t each = strlen(json_object_to_json_string_ext(array, JSON_C_TO_STRING_PLAIN)) / n + 1;
		size_t drop;

		if (len <= VARLINK_MESSAGE_MAX - STATUS_SLACK)
			break;
		/* As many as the excess takes at their average size, at least
		 * one, never the first. */
		drop = (len - (VARLINK_MESSAGE_MAX - STATUS_SLACK)) / each + 1;
		if (drop > n - 1)
			drop = n - 1;
		json_object_array_del_idx(array, n - drop, drop);
		n -= drop;
		omitted += drop;
	}
	if (omitted)
		add_uint(params, omitted_member, omitted);
}

/*
 * The reply must fit in one Varlink message, whatever the configuration:
 * the pools are capped already (status_pools), but up to CONFIG_MAX_ACCOUNTS
 * [Account N] sections with long credential errors would not fit, nor would
 * up to CONF_DROPINS_MAX drop-ins with long names.  Drop accounts from the
 * end (the default credentials come first and stay) until it does, then
 * configuration files (the first stays), and say how many went.
 */
static void status_fit(struct json_object *params)
{
	fit_array(params, "accounts", "accountsOmitted");
	fit_array(params, "configFiles", "configFilesOmitted");
}

/* Every configuration file read, in order. */
static struct json_object *status_config_files(const struct methods_host_status *hs)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < hs->n_config_files; i++)
		json_object_array_add(a, json_object_new_string(hs->config_files[i]));
	return a;
}

/* The daemon's own members: its state, connections, descriptors, calls. */
static void status_daemon(struct methods_context *ctx, struct json_object *params)
{
	struct methods_host_status hs = {.fd_limit = ULONG_MAX};
	long fds;

	ctx->host_status(ctx->host_userdata, &hs);
	add_string(params, "version", PACKAGE_VERSION);
	add_uint(params, "uptimeSec", (unsigned long)hs.uptime_sec);
	add_string(params, "state", hs.state);
	add_string(params, "configFile", hs.config_file);
	json_object_object_add(params, "configFiles", status_config_files(&hs));
	json_object_object_add(params, "socketActivated", json_object_new_boolean(hs.socket_activated));
	add_string(params, "region", methods_default_region(ctx));
	add_string(params, "account", methods_default_account(ctx));
	add_string(params, "accountState", accounts_identity_state_to_string(accounts_identity_state(ctx->accounts)));
	add_string(params, "accountError", accounts_identity_error(ctx->accounts));
	add_credentials_status(params, ctx);
	json_object_object_add(params, "accounts", status_accounts(ctx));
	add_uint(params, "connections", hs.server.connections);
	add_uint(params, "connectionsTotal", hs.server.connections_total);
	add_uint(params, "connectionsRejected", hs.server.connections_rejected);
	add_uint(params, "calls", hs.server.calls_total);
	add_uint(params, "callsInFlight", hs.server.calls_in_flight);
	add_uint(params, "callsHeldBack", hs.server.calls_held_back);
	add_uint(params, "maxConnections", hs.limits.connections_max);
	add_uint(params, "maxConnectionsPerUser", hs.limits.connections_per_uid_max);
	add_uint(params, "connectionsIdleClosed", hs.server.connections_idle_closed);
	add_uint(params, "idleConnectionTimeoutMs", hs.limits.idle_timeout_ms);
	fds = fd_count_open();
	if (fds >= 0)
		add_uint(params, "fileDescriptors", (unsigned long)fds);
	if (hs.fd_limit != ULONG_MAX)
		add_uint(params, "fileDescriptorLimit", hs.fd_limit);
	add_uint(params, "fileDescriptorsReserved", hs.fd_reserved);
	add_uint(params, "connectionsRejectedForDescriptors", hs.server.connections_fd_rejected);
	add_uint(params, "callsSucceeded", ctx->counters.calls_ok);
	add_uint(params, "callsFailed", ctx->counters.calls_failed);
	json_object_object_add(params, "errors", status_errors(ctx));
	add_uint(params, "reloads", hs.reloads);
	add_uint(params, "reloadsFailed", hs.reloads_failed);
}

/* The guard's member (guard.h), when the daemon has a guard.  The counts
 * are for every caller allowed status; the last rescue's key only for one
 * WatchGuard would tell of that rescue (the policy lets it describe the
 * key): status is no way around describe. */
static struct json_object *status_guard(const struct methods_context *ctx, const struct peer *p)
{
	struct json_object *o = json_object_new_object();
	struct guard_status gs;

	guard_get_status(ctx->guard, &gs);
	add_uint(o, "keys", gs.keys);
	add_uint(o, "checks", gs.checks);
	add_uint(o, "rescues", gs.rescues);
	add_uint(o, "failures", gs.failures);
	add_uint(o, "unreadable", gs.unreadable);
	add_time(o, "lastRescue", gs.last_rescue);
	if (guard_may_describe(ctx->guard, p, gs.last_rescue_key))
		add_string(o, "lastRescueKey", gs.last_rescue_key);
	return o;
}

/* The KMS client's members. */
static struct json_object *status_kms(struct methods_context *ctx)
{
	struct json_object *kms = json_object_new_object();
	struct kms_client_stats ks;
	unsigned long pools_omitted;

	kms_client_get_stats(ctx->kms, &ks);
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
	json_object_object_add(kms, "pools", status_pools(ctx, &pools_omitted));
	add_uint(kms, "poolsOmitted", pools_omitted);
	return kms;
}

void status_reply(struct methods_context *ctx, struct call *c)
{
	struct json_object *params;

	if (!status_authorize(ctx, c))
		return;
	params = json_object_new_object();
	status_daemon(ctx, params);
	json_object_object_add(params, "kms", status_kms(ctx));
	if (ctx->guard)
		json_object_object_add(params, "guard", status_guard(ctx, call_peer(c)));
	status_fit(params);
	call_reply(c, params);
}
