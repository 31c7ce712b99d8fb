/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "daemon-internal.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "accounts.h"
#include "audit.h"
#include "creds-cache.h"
#include "creds.h"
#include "guard.h"
#include "kms.h"
#include "log.h"
#include "monotime.h"
#include "pending.h"
#include "server.h"
#include "timeutil.h"

/* --- STATUS= -------------------------------------------------------------- */

static void format_credentials(const struct daemon *d, char *buf, size_t n)
{
	struct aws_credentials *c = d->accounts ? accounts_default_peek(d->accounts) : NULL;

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
void status_update(struct daemon *d)
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
			     ss.connections, ss.calls_in_flight, d->methods.counters.calls_ok,
			     d->methods.counters.calls_failed, creds);
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

/* How often the drain looks again while the guard's rescue runs. */
#define DRAIN_GUARD_POLL_MS 100

static void drained(struct server *s, void *userdata);

static void drain_guard_poll(evutil_socket_t fd, short what, void *userdata)
{
	drained(NULL, userdata);
}

static void drained(struct server *s, void *userdata)
{
	struct daemon *d = userdata;

	/* A rescue of a guarded key is answered like a call: the drain waits
	 * for it too (within DrainTimeoutSec=). */
	if (guard_rescuing(d->guard)) {
		struct timeval tv = timeval_from_msec(DRAIN_GUARD_POLL_MS);

		if (!d->drain_guard_timer) {
			log_info("all calls answered; waiting for the guard's rescue before exit");
			d->drain_guard_timer = evtimer_new(d->base, drain_guard_poll, d);
		}
		if (d->drain_guard_timer && evtimer_add(d->drain_guard_timer, &tv) == 0)
			return;
	}
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
	struct timeval limit = timeval_from_msec(d->config.drain_timeout_ms);

	state_set(d, DAEMON_STOPPING);
	d->stop_reason = reason;
	sd_notify(0, "STOPPING=1");
	status_update(d);
	d->drain_timer = evtimer_new(d->base, drain_timed_out, d);
	if (!d->drain_timer || evtimer_add(d->drain_timer, &limit) < 0)
		event_base_loopexit(d->base, &limit);
	/* WatchGuard subscribers get their final reply: calls that would
	 * otherwise hold the drain until DrainTimeoutSec=. */
	guard_stop(d->guard);
	/* Scans likewise: a listing cut short answers with what it found. */
	pending_stop_all(&d->methods);
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

/* --- reload: SIGHUP ---------------------------------------------------------- */

/* SIGHUP: RELOADING=1 (with MONOTONIC_USEC, as Type=notify-reload wants),
 * reload everything, READY=1.  A failed reload keeps the running state. */
static void on_hangup(evutil_socket_t sig, short what, void *userdata)
{
	struct daemon *d = userdata;
	char *error = NULL;
	int r;

	if (d->state != DAEMON_RUNNING) {
		log_notice("SIGHUP while %s: ignored", daemon_state_to_string(d->state));
		return;
	}
	state_set(d, DAEMON_RELOADING);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading %s", (unsigned long long)monotime_usec(),
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
	/* Guarded keys are read however quiet the socket is. */
	return ss.connections == 0 && ss.calls_in_flight == 0 && ks.in_flight == 0 && d->n_retired == 0 &&
	       !guard_active(d->guard);
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
		d->idle_since_ms = monotime_msec();
		return;
	}
	if (monotime_msec() - d->idle_since_ms >= d->config.exit_idle_ms) {
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
			monotime_msec()))
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

int timers_setup(struct daemon *d)
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

int signals_setup(struct daemon *d)
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
