/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "daemon-internal.h"

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
#include "errorf.h"
#include "fd-budget.h"
#include "guard.h"
#include "kms.h"
#include "log.h"
#include "methods.h"
#include "monotime.h"
#include "status.h"
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

void state_set(struct daemon *d, enum daemon_state s)
{
	if (d->state != s)
		log_debug("daemon: %s -> %s", state_names[d->state], state_names[s]);
	d->state = s;
}

const char *env_lookup(const char *name)
{
	return secret_env_get(name); /* the secret variables left environ at start */
}

void event_free_null(struct event *e)
{
	if (e)
		event_free(e);
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
	r = server_new(d->base, &limits, kmscancel_methods, &d->methods, &d->server);
	if (r < 0)
		return r;
	if (d->options.listen_fd >= 0)
		r = server_adopt_fd(d->server, d->options.listen_fd);
	else
		r = server_listen_path(d->server, path, d->config.socket_mode, d->config.socket_group);
	if (r < 0)
		return errorf(ret_error, r, "cannot listen on %s: %s",
			      d->options.listen_fd >= 0 ? "the inherited socket" : path, strerror(-r));
	return 0;
}

/* GetStatus: the members only the daemon knows (status.h). */
static void host_status(void *userdata, struct methods_host_status *ret)
{
	struct daemon *d = userdata;

	ret->state = daemon_state_to_string(d->state);
	ret->uptime_sec = daemon_uptime_sec(d);
	ret->config_file = d->config.file;
	ret->config_files = d->config.files;
	ret->n_config_files = d->config.n_files;
	ret->socket_activated = d->options.listen_fd >= 0;
	server_get_stats(d->server, &ret->server);
	server_get_limits(d->server, &ret->limits);
	ret->fd_limit = d->fds.limit;
	ret->fd_reserved = fd_budget_reserve(&d->fds);
	ret->reloads = d->reloads;
	ret->reloads_failed = d->reloads_failed;
}

/* The methods' context, all but what loaded_install() and accounts_setup()
 * set. */
static void methods_setup(struct daemon *d)
{
	d->methods.base = d->base;
	d->methods.groups = d->groups;
	d->methods.config = &d->config;
	d->methods.settings = &d->settings;
	d->methods.host_status = host_status;
	d->methods.host_userdata = d;
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
	d->started_ms = monotime_msec();
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
	methods_setup(d);

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
	r = accounts_setup(d, ret_error);
	if (r < 0)
		goto fail;
	d->methods.accounts = d->accounts;
	d->guard = guard_new(&d->methods);
	if (!d->guard || guard_setup(d) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	d->methods.guard = d->guard;
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
	struct timeval limit = timeval_from_msec(DAEMON_FLUSH_MS);
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
	guard_stop(d->guard);          /* its subscribers' final replies; no read or rescue starts now */
	event_free_null(d->drain_guard_timer);
	d->drain_guard_timer = NULL;
	if (d->server && methods_shutdown(&d->methods) > 0)
		replies_flush(d);
	d->guard = guard_free(d->guard); /* its operations ended just above */
	d->methods.guard = NULL;
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

const char *daemon_config_path(const struct daemon *d)
{
	return d->config.file ? d->config.file : "the configuration";
}

const char *daemon_default_region(const struct daemon *d)
{
	return d->settings.region;
}

long daemon_uptime_sec(const struct daemon *d)
{
	return (long)((monotime_msec() - d->started_ms) / 1000);
}
