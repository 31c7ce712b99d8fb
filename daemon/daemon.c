/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "daemon.h"

#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "accounts.h"
#include "audit.h"
#include "creds-cache.h"
#include "creds.h"
#include "fd-budget.h"
#include "kms.h"
#include "log.h"
#include "methods.h"
#include "policy.h"
#include "secret-env.h"
#include "server.h"
#include "timeutil.h"

static const char *const state_names[_DAEMON_STATE_MAX] = {
	[DAEMON_STARTING] = "starting",
	[DAEMON_RUNNING] = "running",
	[DAEMON_RELOADING] = "reloading",
	[DAEMON_STOPPING] = "stopping",
};

const char *daemon_state_to_string(enum daemon_state s)
{
	return s < _DAEMON_STATE_MAX ? state_names[s] : "unknown";
}

static void state_set(struct daemon *d, enum daemon_state s)
{
	if (d->state != s)
		log_debug("daemon: %s -> %s", state_names[d->state], state_names[s]);
	d->state = s;
}

static const char *env_lookup(const char *name)
{
	return secret_env_get(name); /* the secret variables left environ at start */
}

static void event_free_null(struct event *e)
{
	if (e)
		event_free(e);
}

/* Everything the configuration file decides, built whole before it is used:
 * at start, and by a reload that swaps it in only when all of it loaded. */
struct loaded {
	struct daemon_config config;
	struct aws_settings settings;
	struct policy *policy;
	struct kms_client *kms;  /* NULL when the running one still fits */
	char *kms_fingerprint;   /* what the KMS client was made from */
	struct fd_budget fds;    /* the configuration's descriptors, checked against RLIMIT_NOFILE */
};

static void loaded_done(struct loaded *l)
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
static int settings_load(const struct daemon_options *o, struct loaded *l, char **ret_error)
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
static void kms_prewarm(struct daemon *d)
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
	if (asprintf(&fp, "%s|%s|%lld.%09ld|%lld|%d|%d|%u|%u|%u|%u|%u|%u|%d|%s|%d|%g|%g|%g|%u|%u",
		     l->settings.kms_endpoint_url ? l->settings.kms_endpoint_url : "-",
		     l->settings.ca_bundle ? l->settings.ca_bundle : "-", (long long)st.st_mtim.tv_sec,
		     st.st_mtim.tv_nsec, (long long)st.st_size, l->settings.use_fips_endpoint,
		     l->settings.use_dualstack_endpoint, l->settings.max_attempts,
		     l->config.retry_base_ms, l->config.pool_max_connections, l->config.pool_idle_timeout_ms,
		     l->config.pool_connect_timeout_ms, l->config.attempt_timeout_ms, l->config.prewarm,
		     l->config.prewarm_regions ? l->config.prewarm_regions : "-", l->config.rate_limit,
		     l->config.cancel_rate, l->config.enable_rate, l->config.describe_rate,
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
static int loaded_build(struct daemon *d, struct loaded *l, char **ret_error)
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
static void loaded_install(struct daemon *d, struct loaded *l)
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
	log_set_max_level(d->config.log_level >= 0 ? d->config.log_level : LOG_INFO);
}

static int server_setup(struct daemon *d, char **ret_error)
{
	struct server_limits limits;
	const char *path = d->options.socket_path ? d->options.socket_path : d->config.socket_path;
	int r;

	server_limits_init(&limits);
	/* MaxConnections= and MaxConnectionsPerUser=, or their defaults
	 * lowered to fit the descriptor limit. */
	limits.connections_max = d->fds.connections;
	limits.connections_per_uid_max = d->fds.connections_per_uid;
	limits.fd_reserve = (unsigned)fd_budget_reserve(&d->fds);
	limits.idle_timeout_ms = d->config.idle_connection_timeout_ms;
	if (d->config.max_calls_per_connection)
		limits.calls_per_connection_max = d->config.max_calls_per_connection;
	if (d->config.max_calls_per_uid)
		limits.calls_per_uid_max = d->config.max_calls_per_uid;
	r = server_new(d->base, &limits, kmscancel_methods, d, &d->server);
	if (r < 0)
		return r;
	if (d->options.listen_fd >= 0)
		r = server_adopt_fd(d->server, d->options.listen_fd);
	else
		r = server_listen_path(d->server, path, d->config.socket_mode, d->config.socket_group);
	if (r < 0 && asprintf(ret_error, "cannot listen on %s: %s", d->options.listen_fd >= 0 ? "the inherited socket" : path,
			       strerror(-r)) < 0)
		*ret_error = NULL;
	return r;
}

static void credentials_options(const struct daemon *d, struct creds_cache_options *ret)
{
	*ret = (struct creds_cache_options){
		.name = "default",
		.base = d->base,
		.dns = d->dns,
		.settings = &d->settings,
		.source = d->config.credential_source,
		.process_timeout_ms = d->config.credential_process_timeout_ms,
	};
}

/* The cache starts fetching at once, so a misconfiguration shows in the log
 * right away; a failure is not fatal (it is retried with backoff). */
static int credentials_setup(struct daemon *d)
{
	struct creds_cache_options o;

	credentials_options(d, &o);
	return creds_cache_new(&o, &d->creds);
}

static void accounts_options(const struct daemon *d, struct accounts_options *ret)
{
	*ret = (struct accounts_options){
		.base = d->base,
		.dns = d->dns,
		.config = &d->config,
		.settings = &d->settings,
		.default_creds = d->creds,
		.getenv_fn = env_lookup,
		.process_timeout_ms = d->config.credential_process_timeout_ms,
	};
}

/* [Account N] sections, after the default credentials (AssumeRole uses
 * them).  A section that cannot be set up (a profile that is not there) is
 * an error at start, like any bad configuration. */
static int accounts_setup(struct daemon *d, char **ret_error)
{
	struct accounts_options o;

	accounts_options(d, &o);
	return accounts_new(&o, &d->accounts, ret_error);
}

int daemon_credentials_reload(struct daemon *d)
{
	struct creds_cache_options o;
	struct accounts_options ao;
	int r;

	credentials_options(d, &o);
	r = creds_cache_reload(d->creds, &o);
	if (r < 0 || !d->accounts)
		return r;
	accounts_options(d, &ao);
	return accounts_reload(d->accounts, &ao);
}

/* --- STATUS= -------------------------------------------------------------- */

static void format_credentials(const struct daemon *d, char *buf, size_t n)
{
	struct aws_credentials *c = creds_cache_peek(d->creds);

	if (!c) {
		snprintf(buf, n, "no usable credentials");
	} else if (c->expiration) {
		char when[32];

		if (timeutil_format_iso8601(c->expiration, when, sizeof(when)) < 0)
			snprintf(when, sizeof(when), "?");
		snprintf(buf, n, "credentials from %s until %s", c->source, when);
	} else {
		snprintf(buf, n, "credentials from %s", c->source);
	}
}

/* Sends STATUS= (live counters) when it changed since the last one. */
static void status_update(struct daemon *d)
{
	struct server_stats ss;
	char creds[128], *text = NULL;
	int r;

	server_get_stats(d->server, &ss);
	format_credentials(d, creds, sizeof(creds));
	if (d->state == DAEMON_STOPPING)
		r = asprintf(&text, "Stopping (%s): %u calls in flight on %u connections", d->stop_reason,
			     ss.calls_in_flight, ss.connections);
	else
		r = asprintf(&text, "Serving: %u connections, %u calls in flight, %lu succeeded, %lu failed; %s",
			     ss.connections, ss.calls_in_flight, d->calls_ok, d->calls_failed, creds);
	if (r < 0)
		return;
	if (d->status && strcmp(d->status, text) == 0) {
		free(text);
		return;
	}
	sd_notifyf(0, "STATUS=%s", text);
	free(d->status);
	d->status = text;
}

/* --- stop: SIGTERM, SIGINT, idle ------------------------------------------- */

static void drained(struct server *s, void *userdata)
{
	struct daemon *d = userdata;

	log_info("all calls answered, exiting");
	event_base_loopbreak(d->base);
}

static void drain_timed_out(evutil_socket_t fd, short what, void *userdata)
{
	struct daemon *d = userdata;
	struct server_stats ss;

	server_get_stats(d->server, &ss);
	log_warning("drain timeout (DrainTimeoutSec=%.3gs): exiting with %u calls unanswered on %u connections",
		    d->config.drain_timeout_ms / 1000.0, ss.calls_in_flight, ss.connections);
	event_base_loopbreak(d->base);
}

/* Stops accepting and lets every accepted call finish, for at most
 * DrainTimeoutSec=; the loop then ends.  When socket-activated the listening
 * socket stays with systemd: a client that connects meanwhile waits in its
 * backlog for the next instance. */
static void daemon_stop(struct daemon *d, const char *reason)
{
	struct timeval limit = { d->config.drain_timeout_ms / 1000, (d->config.drain_timeout_ms % 1000) * 1000 };

	state_set(d, DAEMON_STOPPING);
	d->stop_reason = reason;
	sd_notify(0, "STOPPING=1");
	status_update(d);
	d->drain_timer = evtimer_new(d->base, drain_timed_out, d);
	if (!d->drain_timer || evtimer_add(d->drain_timer, &limit) < 0)
		event_base_loopexit(d->base, &limit);
	server_set_drained_callback(d->server, drained, d);
	server_stop_accepting(d->server);
}

static void on_terminate(evutil_socket_t sig, short what, void *userdata)
{
	struct daemon *d = userdata;
	const char *name = sig == SIGTERM ? "SIGTERM" : "SIGINT";

	if (d->state == DAEMON_STOPPING) {
		log_warning("second signal: exiting without waiting for in-flight calls");
		event_base_loopbreak(d->base);
		return;
	}
	log_info("received %s, answering in-flight calls before exit", name);
	daemon_stop(d, name);
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
static void retired_collect(struct daemon *d, bool all)
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
	d->reloads++;
	return 0;
}

static uint64_t now_usec(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

/* SIGHUP: RELOADING=1 (with MONOTONIC_USEC, as Type=notify-reload wants),
 * reload everything, READY=1.  A failed reload keeps the running state. */
static void on_hangup(evutil_socket_t sig, short what, void *userdata)
{
	struct daemon *d = userdata;
	char *error = NULL;
	int r;

	if (d->state != DAEMON_RUNNING) {
		log_notice("SIGHUP while %s: ignored", state_names[d->state]);
		return;
	}
	state_set(d, DAEMON_RELOADING);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading %s", (unsigned long long)now_usec(CLOCK_MONOTONIC),
		   daemon_config_path(d));
	log_info("SIGHUP: reloading %s, the AWS settings and the credentials", daemon_config_path(d));
	r = daemon_reload(d, &error);
	if (r < 0)
		log_struct(LOG_ERR, "MESSAGE=reload failed, keeping the running configuration: %s",
			   error ? error : strerror(-r), "KMSCANCEL_RELOAD=failed", "ERRNO=%d", -r, NULL);
	else
		log_struct(LOG_INFO, "MESSAGE=reloaded %s", daemon_config_path(d), "KMSCANCEL_RELOAD=ok", NULL);
	free(error);
	state_set(d, DAEMON_RUNNING);
	free(d->status);
	d->status = NULL; /* the READY=1 below comes with a fresh STATUS= */
	sd_notify(0, "READY=1");
	status_update(d);
}

/* --- timers: watchdog, housekeeping ----------------------------------------- */

/* From the event loop itself, so a loop that stops turning stops the pings
 * and systemd restarts the service (WatchdogSec=, Restart=on-failure). */
static void on_watchdog(evutil_socket_t fd, short what, void *userdata)
{
	sd_notify(0, "WATCHDOG=1");
}

/* Idle: no connection open and no call anywhere, KMS included. */
static bool daemon_is_idle(struct daemon *d)
{
	struct server_stats ss;
	struct kms_client_stats ks;

	server_get_stats(d->server, &ss);
	kms_client_get_stats(d->kms, &ks);
	return ss.connections == 0 && ss.calls_in_flight == 0 && ks.in_flight == 0 && d->n_retired == 0;
}

static long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

/* ExitIdleSec=: exit once idle that long.  Only when socket-activated, so
 * that systemd keeps the socket and starts us again on the next client. */
static void idle_check(struct daemon *d)
{
	if (d->state != DAEMON_RUNNING || d->options.listen_fd < 0 || d->config.exit_idle_ms == 0)
		return;
	if (!daemon_is_idle(d)) {
		d->idle = false;
		return;
	}
	if (!d->idle) {
		d->idle = true;
		clock_gettime(CLOCK_MONOTONIC, &d->idle_since);
		return;
	}
	if (ms_since(&d->idle_since) >= (long)d->config.exit_idle_ms) {
		log_info("idle for %.3gs (ExitIdleSec=): exiting; the socket stays with systemd",
			 d->config.exit_idle_ms / 1000.0);
		daemon_stop(d, "idle");
	}
}

/* After a burst, once quiet: the heap it grew goes back to the kernel. */
static void memory_check(struct daemon *d)
{
	struct server_stats ss;
	struct kms_client_stats ks;

	server_get_stats(d->server, &ss);
	kms_client_get_stats(d->kms, &ks);
	if (memtrim_due(&d->memtrim, ss.calls_total + ss.connections_total,
			ss.calls_in_flight > 0 || ks.in_flight > 0 || d->n_retired > 0,
			now_usec(CLOCK_MONOTONIC) / 1000))
		memtrim_run();
}

static void on_tick(evutil_socket_t fd, short what, void *userdata)
{
	struct daemon *d = userdata;

	retired_collect(d, false);
	audit_flush(false);
	idle_check(d);
	memory_check(d);
	status_update(d);
}

static struct timeval usec_to_timeval(uint64_t usec)
{
	return (struct timeval){ (time_t)(usec / 1000000ULL), (suseconds_t)(usec % 1000000ULL) };
}

static int timers_setup(struct daemon *d)
{
	uint64_t tick_usec = DAEMON_TICK_MS * 1000ULL;
	struct timeval tv;

	/* Check idleness often enough that a short ExitIdleSec= is honoured. */
	if (d->config.exit_idle_ms > 0 && d->config.exit_idle_ms < 2 * DAEMON_TICK_MS)
		tick_usec = d->config.exit_idle_ms * 500ULL > 50000 ? d->config.exit_idle_ms * 500ULL : 50000;
	d->tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	tv = usec_to_timeval(tick_usec);
	if (!d->tick || event_add(d->tick, &tv) < 0)
		return -ENOMEM;

	if (sd_watchdog_enabled(0, &d->watchdog_usec) <= 0)
		d->watchdog_usec = 0;
	if (d->watchdog_usec > 0) {
		d->watchdog = event_new(d->base, -1, EV_PERSIST, on_watchdog, d);
		tv = usec_to_timeval(d->watchdog_usec / 2);
		if (!d->watchdog || event_add(d->watchdog, &tv) < 0)
			return -ENOMEM;
		log_debug("watchdog: pinging every %llu ms", (unsigned long long)(d->watchdog_usec / 2000));
	}
	return 0;
}

static int signals_setup(struct daemon *d)
{
	signal(SIGPIPE, SIG_IGN);
	d->sig_term = evsignal_new(d->base, SIGTERM, on_terminate, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_terminate, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_hangup, d);
	if (!d->sig_term || !d->sig_int || !d->sig_hup)
		return -ENOMEM;
	if (evsignal_add(d->sig_term, NULL) < 0 || evsignal_add(d->sig_int, NULL) < 0 ||
	    evsignal_add(d->sig_hup, NULL) < 0)
		return -EIO;
	return 0;
}

int daemon_new(const struct daemon_options *o, struct daemon **ret, char **ret_error)
{
	unsigned long fd_soft, fd_old;
	struct loaded l = { 0 };
	struct daemon *d;
	int r;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->options = *o;
	d->state = DAEMON_STARTING;
	clock_gettime(CLOCK_MONOTONIC, &d->started);
	*ret_error = NULL;

	d->base = event_base_new();
	d->groups = policy_groups_cache_new(NULL);
	if (!d->base || !d->groups) {
		r = -ENOMEM;
		goto fail;
	}
	/* DNS through libevent, so a slow resolver never blocks the loop.
	 * Without a resolv.conf numeric endpoints still work. */
	d->dns = evdns_base_new(d->base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!d->dns)
		d->dns = evdns_base_new(d->base, 0);

	/* Before the budget is checked against it, as systemd's daemons do. */
	fd_soft = fd_limit_raise(&fd_old);
	r = loaded_build(d, &l, ret_error);
	if (r < 0) {
		loaded_done(&l);
		goto fail;
	}
	loaded_install(d, &l);
	log_debug("RLIMIT_NOFILE: soft limit %lu (was %lu, hard %lu); %u client connections, %lu descriptors "
		  "reserved for KMS, credentials and the daemon",
		  fd_soft, fd_old, fd_limit_get(true), d->fds.connections, fd_budget_reserve(&d->fds));
	if (d->config.prewarm)
		kms_prewarm(d);
	if (d->options.listen_fd < 0 && d->config.exit_idle_ms > 0)
		log_notice("ExitIdleSec= applies only under socket activation; ignored");
	r = credentials_setup(d);
	if (r < 0)
		goto fail;
	r = accounts_setup(d, ret_error);
	if (r < 0)
		goto fail;
	r = signals_setup(d);
	if (r < 0)
		goto fail;
	r = server_setup(d, ret_error);
	if (r < 0)
		goto fail;
	r = timers_setup(d);
	if (r < 0)
		goto fail;
	*ret = d;
	return 0;
fail:
	daemon_free(d);
	return r;
}

static void flushed(struct server *s, void *userdata)
{
	event_base_loopbreak(userdata);
}

static void flush_timed_out(evutil_socket_t fd, short what, void *userdata)
{
	log_warning("exit: %d ms without every reply written; closing the connections anyway", DAEMON_FLUSH_MS);
	event_base_loopbreak(userdata);
}

/* The replies methods_shutdown() queued reach their clients: the loop turns
 * until every connection has written its replies and closed, for at most
 * DAEMON_FLUSH_MS.  No call is left to start anything meanwhile, and
 * connections read nothing more (server_stop_accepting). */
static void replies_flush(struct daemon *d)
{
	struct timeval limit = {DAEMON_FLUSH_MS / 1000, (DAEMON_FLUSH_MS % 1000) * 1000};
	struct event *timer = evtimer_new(d->base, flush_timed_out, d->base);

	if (!timer || evtimer_add(timer, &limit) < 0) {
		event_free_null(timer);
		return;
	}
	server_set_drained_callback(d->server, flushed, d->base);
	server_stop_accepting(d->server);
	if (!server_is_drained(d->server))
		event_base_dispatch(d->base);
	event_free(timer);
}

/*
 * Teardown, in an order where nothing is freed while something can still
 * reach it:
 *   1. the calls: every call the drain left is answered with an error
 *      while its connection exists, and its waits (routing, credentials,
 *      KMS, settle and follower timers) are withdrawn (methods_shutdown);
 *      the replies are flushed;
 *   2. the daemon's own timers and signal events, whose callbacks use the
 *      objects below;
 *   3. the objects: accounts, credentials, KMS clients, the server; their
 *      internal waits (STS, fetches) end inside their own free.
 */
struct daemon *daemon_free(struct daemon *d)
{
	if (!d)
		return NULL;
	state_set(d, DAEMON_STOPPING); /* nothing may reload or start a drain from the flush below */
	if (d->server && methods_shutdown(d) > 0)
		replies_flush(d);
	/* Freeing the signal events restores the default dispositions; a
	 * further SIGTERM during teardown would then kill us with status 143
	 * although we are already on the way out.  Ignore it instead — after
	 * the events are freed: libevent puts back the disposition it found
	 * when the event was added (SIG_DFL), over any set before. */
	event_free_null(d->sig_term);
	event_free_null(d->sig_int);
	event_free_null(d->sig_hup);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	event_free_null(d->tick);
	event_free_null(d->watchdog);
	event_free_null(d->drain_timer);
	accounts_free(d->accounts);
	creds_cache_free(d->creds);
	kms_client_free(d->kms);
	retired_collect(d, true);
	free(d->retired);
	server_free(d->server);
	if (d->dns) {
		evdns_base_free(d->dns, 1);
		/* Failed lookups report back from the loop, not from inside
		 * the free: run it once so their entries are released. */
		if (d->base)
			event_base_loop(d->base, EVLOOP_NONBLOCK);
	}
	if (d->base)
		event_base_free(d->base);
	audit_flush(true); /* refusals counted but not yet written */
	policy_free(d->policy);
	policy_groups_cache_free(d->groups);
	config_done(&d->config);
	aws_settings_done(&d->settings);
	free(d->status);
	free(d->kms_fingerprint);
	free(d);
	return NULL;
}

int daemon_run(struct daemon *d)
{
	state_set(d, DAEMON_RUNNING);
	/* The socket is served and the configuration loaded; credentials may
	 * still be missing, and STATUS= says so. */
	sd_notify(0, "READY=1");
	if (d->watchdog_usec > 0)
		sd_notify(0, "WATCHDOG=1");
	status_update(d);
	log_struct(LOG_INFO, "MESSAGE=kmscanceld %s ready (%s, %s)", PACKAGE_VERSION,
		   d->options.listen_fd >= 0 ? "socket-activated" : "own socket", daemon_config_path(d),
		   "KMSCANCEL_VERSION=%s", PACKAGE_VERSION, NULL);
	if (event_base_dispatch(d->base) < 0)
		return -EIO;
	return 0;
}

void daemon_count_failure(struct daemon *d, kmscancel_error e)
{
	d->calls_failed++;
	if ((unsigned)e < DAEMON_N_ERROR_COUNTERS)
		d->errors[e]++;
}

/* The chain, or the one source the config pins with CredentialSource=,
 * without the network (--check-config). */
static int credentials_resolve(struct daemon *d, struct aws_credentials **ret, char **ret_error)
{
	if (d->config.credential_source)
		return creds_resolve_source(d->config.credential_source, &d->settings, env_lookup, ret, ret_error);
	return creds_resolve_chain(&d->settings, env_lookup, ret, ret_error);
}

const char *daemon_config_path(const struct daemon *d)
{
	return d->config.file ? d->config.file : "the configuration";
}

const char *daemon_default_region(const struct daemon *d)
{
	return d->settings.region;
}

const char *daemon_account(const struct daemon *d)
{
	if (d->config.account)
		return d->config.account;
	if (d->accounts)
		return accounts_default_account(d->accounts);
	struct aws_credentials *c = d->creds ? creds_cache_peek(d->creds) : NULL;

	if (c && c->account_id)
		return c->account_id;
	return NULL;
}

unsigned daemon_call_timeout_ms(const struct daemon *d, long long timeout_ms)
{
	if (timeout_ms <= 0)
		timeout_ms = d->config.call_timeout_ms;
	if (timeout_ms < DAEMON_MIN_CALL_TIMEOUT_MS)
		timeout_ms = DAEMON_MIN_CALL_TIMEOUT_MS;
	if (timeout_ms > DAEMON_MAX_CALL_TIMEOUT_MS)
		timeout_ms = DAEMON_MAX_CALL_TIMEOUT_MS;
	return (unsigned)timeout_ms;
}

long daemon_uptime_sec(const struct daemon *d)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - d->started.tv_sec);
}

/* --check-config: the descriptor budget against the limit the daemon will
 * run with (its hard RLIMIT_NOFILE, to which it raises the soft one). */
static int fd_budget_check_config(const struct daemon_config *c)
{
	unsigned long limit = fd_limit_get(true);
	struct fd_budget b;
	char *error = NULL;
	int r = fd_budget_compute(c, limit, &b, &error);

	if (r < 0) {
		fprintf(stderr, "kmscanceld: %s\n", error ? error : strerror(-r));
		free(error);
		return r;
	}
	printf("descriptors: %lu%s: %u client connections (%u per user)%s, %lu for KMS pools, %lu for "
	       "credentials, %lu for the daemon\n",
	       limit, limit == ULONG_MAX ? " (unlimited)" : "", b.connections, b.connections_per_uid,
	       b.clamped ? " (MaxConnections= lowered to fit)" : "", b.kms, b.credentials, b.daemon);
	if (c->idle_connection_timeout_ms)
		printf("connections: idle ones closed after %.3gs (IdleConnectionTimeoutSec=)\n",
		       c->idle_connection_timeout_ms / 1000.0);
	else
		printf("connections: idle ones stay open (IdleConnectionTimeoutSec=0)\n");
	return 0;
}

int daemon_check_config(const struct daemon_options *o)
{
	struct daemon d = { .options = *o };
	struct loaded l = { 0 };
	struct aws_credentials *c = NULL;
	char *error = NULL;
	int r;

	r = settings_load(o, &l, &error);
	if (r < 0) {
		fprintf(stderr, "kmscanceld: %s\n", error ? error : strerror(-r));
		goto out;
	}
	d.config = l.config;
	d.settings = l.settings;
	d.policy = l.policy;
	printf("socket:      %s\n", o->socket_path ? o->socket_path : d.config.socket_path);
	printf("region:      %s\n", d.settings.region ? d.settings.region : "(none: key ARNs only)");
	printf("endpoint:    %s\n", d.settings.kms_endpoint_url ? d.settings.kms_endpoint_url : "(per region)");
	printf("CA bundle:   %s\n", d.settings.ca_bundle ? d.settings.ca_bundle : "(system)");
	printf("policy:      %zu rule(s), in file order, first match wins; no match is a denial\n",
	       policy_n_rules(d.policy));
	for (size_t i = 0; i < policy_n_rules(d.policy); i++) {
		char *text = NULL;

		if (policy_describe_rule(d.policy, i, &text) == 0)
			printf("policy:      %s\n", text);
		free(text);
	}
	printf("policy:      root %s\n", d.config.allow_root ? "may do anything (AllowRoot=yes)"
							     : "needs a rule, except for status (AllowRoot=no)");
	r = fd_budget_check_config(&d.config);
	if (r < 0)
		goto out;
	r = credentials_resolve(&d, &c, &error);
	if (r == -EINPROGRESS) {
		printf("credentials: %s (fetched when the daemon runs)\n", error ? error : "from the network");
		r = 0;
	} else if (r < 0) {
		printf("credentials: unavailable: %s\n", error ? error : strerror(-r));
		r = 0; /* not fatal: they may appear later (e.g. a role attached) */
	} else {
		size_t n = strlen(c->access_key_id);

		printf("credentials: %s (access key ...%s)\n", c->source, n >= 4 ? c->access_key_id + n - 4 : "");
	}
	r = accounts_check_config(&d.config, &d.settings, stdout);
out:
	aws_credentials_unref(c);
	free(error);
	loaded_done(&l);
	return r;
}
