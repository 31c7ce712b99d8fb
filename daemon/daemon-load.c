/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "daemon-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "accounts.h"
#include "creds-cache.h"
#include "guard.h"
#include "kms.h"
#include "log.h"
#include "policy.h"
#include "server.h"

void loaded_done(struct loaded *l)
{
	l->kms = kms_client_free(l->kms);
	free(l->kms_fingerprint);
	l->kms_fingerprint = NULL;
	l->policy = policy_free(l->policy);
	config_done(&l->config);
	aws_settings_done(&l->settings);
}

/* Builds the policy from the [Policy] section.  A bad rule is an error:
 * running with a policy other than the one written would surprise. */
static int policy_load(const struct daemon_config *c, struct policy **ret, char **ret_error)
{
	struct policy *p = policy_new(c->allow_root);

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_allow; i++) {
		const struct config_allow *a = &c->allow[i];
		char origin[512], *warning = NULL;
		int r;

		snprintf(origin, sizeof(origin), "%s:%u", a->file, a->line);
		r = policy_add_rule(p, a->deny, a->rule, origin, ret_error, &warning);
		if (r < 0) {
			policy_free(p);
			return r;
		}
		if (warning)
			log_warning("%s", warning);
		free(warning);
	}
	*ret = p;
	return 0;
}

/* The config file, the AWS settings it overrides and the policy into *l
 * (zeroed by the caller; released with loaded_done() in every case). */
int settings_load(const struct daemon_options *o, struct loaded *l, char **ret_error)
{
	int r;

	r = config_load(o->config_path ? o->config_path : SYSCONFDIR "/kmscanceld.conf", o->config_path != NULL,
			&l->config, ret_error);
	if (r < 0)
		return r;
	r = aws_settings_load(env_lookup, &l->settings, ret_error);
	if (r < 0)
		return r;
	/* The config file's own keys override the AWS environment. */
	r = config_apply_to_aws_settings(&l->config, &l->settings, ret_error);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l->config.n_warnings; i++)
		log_warning("%s", l->config.warnings[i]);
	return policy_load(&l->config, &l->policy, ret_error);
}

/* [KMS] Prewarm=: connections (DNS, TCP, TLS) opened before the first call
 * needs them.  Failures are logged, never fatal: calls connect anyway. */
void kms_prewarm(struct daemon *d)
{
	const char *list = d->config.prewarm_regions;
	char *copy, *save = NULL;

	if (!list) {
		if (!daemon_default_region(d)) {
			log_warning("Prewarm=yes, but there is no default region; nothing to prewarm");
			return;
		}
		list = daemon_default_region(d);
	}
	copy = strdup(list);
	if (!copy)
		return;
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		int r = kms_client_prewarm(d->kms, w);
		if (r < 0)
			log_warning("cannot prewarm a connection for %s: %s", w, strerror(-r));
	}
	free(copy);
}

/* Everything a KMS client is made from, as a string: a reload makes a new
 * client only when this changes (keeping warm connections and counters
 * otherwise).  The CA bundle's size and mtime are in it, so a bundle
 * rewritten in place is read again. */
static char *kms_fingerprint(const struct loaded *l)
{
	struct stat st = { 0 };
	char *fp = NULL;

	if (l->settings.ca_bundle && stat(l->settings.ca_bundle, &st) < 0)
		st = (struct stat){ 0 };
	if (asprintf(&fp, "%s|%s|%lld.%09ld|%lld|%d|%d|%u|%d|%u|%u|%u|%u|%u|%d|%s|%d|%g|%g|%g|%g|%u|%u",
		     l->settings.kms_endpoint_url ? l->settings.kms_endpoint_url : "-",
		     l->settings.ca_bundle ? l->settings.ca_bundle : "-", (long long)st.st_mtim.tv_sec,
		     st.st_mtim.tv_nsec, (long long)st.st_size, l->settings.use_fips_endpoint,
		     l->settings.use_dualstack_endpoint, l->settings.max_attempts, (int)l->settings.retry_mode,
		     l->config.retry_base_ms, l->config.pool_max_connections, l->config.pool_idle_timeout_ms,
		     l->config.pool_connect_timeout_ms, l->config.attempt_timeout_ms, l->config.prewarm,
		     l->config.prewarm_regions ? l->config.prewarm_regions : "-", l->config.rate_limit,
		     l->config.cancel_rate, l->config.enable_rate, l->config.describe_rate, l->config.list_rate,
		     (unsigned)l->config.max_queued, l->config.max_pools) < 0)
		return NULL;
	return fp;
}

/* A KMS client for l's settings. */
static int kms_setup(struct daemon *d, struct loaded *l, char **ret_error)
{
	struct kms_client_options o = {
		.endpoint_url = l->settings.kms_endpoint_url,
		.ca_bundle = l->settings.ca_bundle,
		.fips = l->settings.use_fips_endpoint,
		.dualstack = l->settings.use_dualstack_endpoint,
		.max_attempts = l->settings.max_attempts,
		.retry_mode = l->settings.retry_mode,
		.retry_base_ms = KMS_DEFAULT_RETRY_BASE_MS,
		.attempt_timeout_ms = l->config.attempt_timeout_ms,
		.getenv = env_lookup,
		/* For tests: every regional endpoint to a loopback fake
		 * (certificates are still checked against the real names). */
		.connect_to = getenv("KMSCANCELD_CONNECT_TO"),
		.rate_limit = l->config.rate_limit,
		.rates = {
			[KMS_OP_CANCEL_KEY_DELETION] = l->config.cancel_rate,
			[KMS_OP_ENABLE_KEY] = l->config.enable_rate,
			[KMS_OP_DESCRIBE_KEY] = l->config.describe_rate,
			[KMS_OP_LIST_KEYS] = l->config.list_rate,
			[KMS_OP_LIST_ALIASES] = l->config.list_rate,
		},
		.max_queued = l->config.max_queued,
		.max_pools = l->config.max_pools,
	};

	o.pool.max_connections = l->config.pool_max_connections;
	o.pool.idle_timeout_ms = l->config.pool_idle_timeout_ms;
	o.pool.connect_timeout_ms = l->config.pool_connect_timeout_ms;
	if (l->config.retry_base_ms > 0)
		o.retry_base_ms = l->config.retry_base_ms;
	return kms_client_new(d->base, d->dns, &o, &l->kms, ret_error);
}

/* The configuration's descriptor budget under limit (fd-budget.h): a
 * default connection limit lowered to fit is noted, a budget that cannot
 * fit is an error naming what to change. */
static int fd_budget_load(const struct daemon_config *c, unsigned long limit, struct fd_budget *ret, char **ret_error)
{
	int r = fd_budget_compute(c, limit, ret, ret_error);

	if (r == 0 && ret->clamped)
		log_notice("the file descriptor limit (RLIMIT_NOFILE) is %lu: MaxConnections= lowered from %u to %u "
			   "to keep %lu for KMS, credentials and the daemon; set LimitNOFILE= (or MaxConnections=) "
			   "to choose",
			   limit, SERVER_CONNECTIONS_MAX, ret->connections, fd_budget_reserve(ret));
	return r;
}

/* Loads into *l (zeroed by the caller); makes a KMS client unless d's
 * running one was made from the same settings. */
int loaded_build(struct daemon *d, struct loaded *l, char **ret_error)
{
	int r = settings_load(&d->options, l, ret_error);

	if (r < 0)
		return r;
	r = fd_budget_load(&l->config, fd_limit_get(false), &l->fds, ret_error);
	if (r < 0)
		return r;
	l->kms_fingerprint = kms_fingerprint(l);
	if (!l->kms_fingerprint)
		return -ENOMEM;
	if (d->kms && d->kms_fingerprint && strcmp(d->kms_fingerprint, l->kms_fingerprint) == 0)
		return 0;
	return kms_setup(d, l, ret_error);
}

/* Takes l's parts into d; l is left empty.  Cannot fail: a KMS client d
 * had and l replaces must have been retired (kms_retire) before. */
void loaded_install(struct daemon *d, struct loaded *l)
{
	policy_free(d->policy);
	d->policy = l->policy;
	if (d->groups)
		policy_groups_cache_clear(d->groups); /* a reload re-reads memberships too */
	config_done(&d->config);
	d->config = l->config;
	aws_settings_done(&d->settings);
	d->settings = l->settings;
	d->fds = l->fds;
	if (l->kms) {
		d->kms = l->kms;
		free(d->kms_fingerprint);
		d->kms_fingerprint = l->kms_fingerprint;
	} else {
		free(l->kms_fingerprint);
	}
	*l = (struct loaded){ 0 };
	/* What the methods see; *config and *settings were rewritten in place. */
	d->methods.policy = d->policy;
	d->methods.kms = d->kms;
	log_set_max_level(d->config.log_level >= 0 ? d->config.log_level : LOG_INFO);
}

static void accounts_options(const struct daemon *d, struct accounts_options *ret)
{
	*ret = (struct accounts_options){
		.base = d->base,
		.dns = d->dns,
		.config = &d->config,
		.settings = &d->settings,
		.getenv_fn = env_lookup,
		.process_timeout_ms = d->config.credential_process_timeout_ms,
	};
}

/* The default credentials and the [Account N] sections.  The caches start
 * fetching at once, so a misconfiguration shows in the log right away; a
 * failed fetch is not fatal (it is retried with backoff), a section that
 * cannot be set up (a profile that is not there) is, like any bad
 * configuration. */
int accounts_setup(struct daemon *d, char **ret_error)
{
	struct accounts_options o;

	accounts_options(d, &o);
	return accounts_new(&o, &d->accounts, ret_error);
}

int guard_setup(struct daemon *d)
{
	return guard_configure(d->guard, d->config.guard_keys, d->config.n_guard_keys, d->config.guard_interval_ms,
			       d->config.guard_enable);
}

int daemon_credentials_reload(struct daemon *d)
{
	struct accounts_options o;

	if (!d->accounts)
		return 0;
	accounts_options(d, &o);
	return accounts_reload(d->accounts, &o);
}

/* --- reload ---------------------------------------------------------------- */

static bool streq_null(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* Settings read only at start: say so when a reload finds them changed. */
static void note_restart_only(const struct daemon_config *old, const struct daemon_config *new)
{
	if (!streq_null(old->socket_path, new->socket_path) || old->socket_mode != new->socket_mode ||
	    !streq_null(old->socket_group, new->socket_group))
		log_notice("reload: [Daemon] Socket=, SocketMode= and SocketGroup= take effect at the next start");
	if (old->max_connections != new->max_connections || old->max_connections_per_uid != new->max_connections_per_uid ||
	    old->max_calls_per_connection != new->max_calls_per_connection ||
	    old->max_calls_per_uid != new->max_calls_per_uid)
		log_notice("reload: [Daemon] MaxConnections=, MaxConnectionsPerUser=, MaxCallsPerConnection= and "
			   "MaxCallsPerUser= take effect at the next start");
	if (old->idle_connection_timeout_ms != new->idle_connection_timeout_ms)
		log_notice("reload: [Daemon] IdleConnectionTimeoutSec= takes effect at the next start");
}

/* Frees the KMS clients a reload replaced once no call uses them. */
void retired_collect(struct daemon *d, bool all)
{
	size_t kept = 0;

	for (size_t i = 0; i < d->n_retired; i++) {
		struct kms_client_stats ks;

		kms_client_get_stats(d->retired[i], &ks);
		if (all || ks.in_flight == 0)
			kms_client_free(d->retired[i]);
		else
			d->retired[kept++] = d->retired[i];
	}
	d->n_retired = kept;
}

static int kms_retire(struct daemon *d, struct kms_client *old)
{
	struct kms_client **a = realloc(d->retired, (d->n_retired + 1) * sizeof(*a));

	if (!a)
		return -ENOMEM;
	d->retired = a;
	d->retired[d->n_retired++] = old;
	return 0;
}

int daemon_reload(struct daemon *d, char **ret_error)
{
	struct loaded l = { 0 };
	bool new_kms;
	int r;

	*ret_error = NULL;
	r = loaded_build(d, &l, ret_error);
	/* Room for the old KMS client first, so nothing can fail after the swap. */
	if (r >= 0 && l.kms)
		r = kms_retire(d, d->kms);
	if (r < 0) {
		loaded_done(&l);
		d->reloads_failed++;
		return r;
	}
	note_restart_only(&d->config, &l.config);
	new_kms = l.kms != NULL;
	if (new_kms) {
		struct kms_client_stats ks;

		kms_client_get_stats(d->kms, &ks);
		log_info("reload: KMS settings changed: a new KMS client; %lu calls finish on the old one", ks.in_flight);
	}
	loaded_install(d, &l);
	if (new_kms && d->config.prewarm)
		kms_prewarm(d);
	retired_collect(d, false);
	r = daemon_credentials_reload(d);
	if (r < 0)
		log_warning("reload: cannot fetch credentials again: %s", strerror(-r));
	/* The keys no longer listed are read no more; a rescue in flight
	 * finishes (guard.h). */
	r = guard_setup(d);
	if (r < 0)
		log_warning("reload: cannot update the guarded keys, keeping the old list: %s", strerror(-r));
	d->reloads++;
	return 0;
}
