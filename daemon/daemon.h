/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The daemon's state: configuration, AWS settings, credentials, the KMS
 * client and the Varlink server, on one libevent loop.  One instance per
 * process; everything runs on the loop's thread.  Opaque: its insides
 * are daemon-internal.h's.
 */
#include <stdbool.h>

struct daemon;

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
