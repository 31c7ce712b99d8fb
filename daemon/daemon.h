/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The daemon's state: configuration, AWS settings, credentials, the KMS
 * client and the Varlink server, on one libevent loop.  One instance per
 * process; everything runs on the loop's thread.
 */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "aws-settings.h"
#include "conf.h"
#include "fd-budget.h"
#include "kmscancel.h"
#include "memtrim.h"
#include "methods-context.h"

struct event_base;
struct evdns_base;
struct event;
struct aws_credentials;
struct creds_cache;
struct accounts;
struct kms_client;
struct server;
struct policy;
struct policy_groups_cache;
struct operation;

/* Housekeeping tick: STATUS= updates, the exit-on-idle check and freeing
 * KMS clients a reload replaced, at most this often. */
#define DAEMON_TICK_MS 1000
/* At exit, how long the replies to calls the drain left may take to be
 * written (daemon_free). */
#define DAEMON_FLUSH_MS 2000

struct daemon_options {
	const char *config_path;  /* NULL: the default, which may be missing */
	const char *socket_path;  /* --socket, overrides the config */
	int listen_fd;            /* socket-activated listener, or -1 */
};

/* The lifecycle, as systemd sees it through sd_notify(). */
enum daemon_state {
	DAEMON_STARTING,  /* loading; not yet READY=1 */
	DAEMON_RUNNING,   /* READY=1: serving */
	DAEMON_RELOADING, /* SIGHUP: RELOADING=1 until the new state is in */
	DAEMON_STOPPING,  /* STOPPING=1: draining in-flight calls, then exit */
	_DAEMON_STATE_MAX,
};
const char *daemon_state_to_string(enum daemon_state s);

struct daemon {
	struct event_base *base;
	struct evdns_base *dns;
	struct daemon_options options;
	struct daemon_config config;
	struct aws_settings settings;
	struct creds_cache *creds; /* the default credentials */
	struct accounts *accounts; /* [Account N] and the default credentials' account */
	struct policy *policy;
	struct policy_groups_cache *groups; /* callers' supplementary groups, briefly */
	struct kms_client *kms;
	struct server *server;
	struct methods_context methods; /* what the io.kmscancel methods use (methods.h) */
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *tick, *watchdog, *drain_timer;
	struct timespec started; /* CLOCK_MONOTONIC */
	enum daemon_state state;
	const char *stop_reason;    /* "SIGTERM", "SIGINT", "idle": why STOPPING */
	uint64_t watchdog_usec;     /* WATCHDOG_USEC, 0 when not asked for */
	bool idle;                  /* no connection and no call since idle_since */
	struct timespec idle_since; /* CLOCK_MONOTONIC */
	char *status;               /* the last STATUS= sent */
	/* KMS clients a reload replaced, freed once their calls are done. */
	struct kms_client **retired;
	size_t n_retired;
	char *kms_fingerprint; /* the settings d->kms was made from */
	unsigned long reloads, reloads_failed;
	struct memtrim memtrim; /* giving the heap back once quiet */
	struct fd_budget fds;   /* descriptors: the limit and what the configuration needs of it */
};

/* Loads configuration and settings, starts fetching credentials (a failure
 * there is logged, not fatal: it is retried in the background), opens the
 * socket.  On
 * failure *ret_error (malloc'ed) says why. */
int daemon_new(const struct daemon_options *o, struct daemon **ret, char **ret_error);
struct daemon *daemon_free(struct daemon *d); /* NULL-safe */
/* --check-config: loads the configuration and AWS settings, resolves the
 * credentials' source, prints what the daemon would use (never a secret) on
 * stdout.  0 if all is well, else a negative errno after printing why. */
int daemon_check_config(const struct daemon_options *o);

/*
 * Runs the loop: READY=1, then serves until SIGTERM/SIGINT (or, when
 * socket-activated with ExitIdleSec=, until idle that long) and the drain
 * is done.  SIGHUP reloads (daemon_reload).  Returns 0 after a clean stop,
 * a drain timeout included (it is logged), or a negative errno.
 */
int daemon_run(struct daemon *d);

/*
 * Reloads the configuration file, the AWS settings, the policy, the KMS
 * client and the credentials, atomically: the new state is built whole and
 * swapped in only if every part loaded; otherwise the running state stays
 * as it was and *ret_error (malloc'ed) says why.  Calls in flight finish on
 * the KMS client they started with.  [Daemon] Socket* and Max* changes
 * apply at the next start (a notice says so).
 */
int daemon_reload(struct daemon *d, char **ret_error);

/* Fetches the credentials afresh under the current settings and
 * CredentialSource= (SIGHUP, via daemon_reload()).  The current set keeps
 * serving until the new one arrives.  0 or -ENOMEM. */
int daemon_credentials_reload(struct daemon *d);

/* The region for bare key IDs, or NULL if none is configured. */
const char *daemon_default_region(const struct daemon *d);
long daemon_uptime_sec(const struct daemon *d);
/* The configuration file in use, for messages. */
const char *daemon_config_path(const struct daemon *d);
