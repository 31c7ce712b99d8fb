/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The daemon's state: configuration, AWS settings, credentials, the KMS
 * client and the Varlink server, on one libevent loop.  One instance per
 * process; everything runs on the loop's thread.
 */
#include <stdbool.h>
#include <time.h>

#include "aws-settings.h"
#include "conf.h"

struct event_base;
struct evdns_base;
struct event;
struct aws_credentials;
struct kms_client;
struct server;
struct policy;
struct operation;

/* Bounds on a call's deadline (a client's timeoutMs is clamped to these). */
#define DAEMON_MIN_CALL_TIMEOUT_MS 100
#define DAEMON_MAX_CALL_TIMEOUT_MS (10 * 60 * 1000)

struct daemon_options {
	const char *config_path;  /* NULL: the default, which may be missing */
	const char *socket_path;  /* --socket, overrides the config */
	int listen_fd;            /* socket-activated listener, or -1 */
};

struct daemon {
	struct event_base *base;
	struct evdns_base *dns;
	struct daemon_options options;
	struct daemon_config config;
	struct aws_settings settings;
	struct aws_credentials *credentials;
	struct policy *policy;
	struct kms_client *kms;
	struct server *server;
	struct operation *cancels_in_flight; /* methods.c: for coalescing identical cancels */
	struct event *sig_term, *sig_int, *sig_hup;
	struct timespec started; /* CLOCK_MONOTONIC */
	bool stopping;
	unsigned long calls_ok, calls_failed;
};

/* Loads configuration and settings, resolves credentials (a failure there is
 * logged, not fatal: they are retried per call), opens the socket.  On
 * failure *ret_error (malloc'ed) says why. */
int daemon_new(const struct daemon_options *o, struct daemon **ret, char **ret_error);
struct daemon *daemon_free(struct daemon *d); /* NULL-safe */
/* --check-config: loads the configuration and AWS settings, resolves the
 * credentials' source, prints what the daemon would use (never a secret) on
 * stdout.  0 if all is well, else a negative errno after printing why. */
int daemon_check_config(const struct daemon_options *o);

/* Runs the loop until SIGTERM/SIGINT and the drain are done. */
int daemon_run(struct daemon *d);

/* Current credentials (a new reference), resolving them if there are none
 * or they have expired.  On failure *ret_error (malloc'ed) says why. */
int daemon_get_credentials(struct daemon *d, struct aws_credentials **ret, char **ret_error);

/* The region for bare key IDs, or NULL if none is configured. */
const char *daemon_default_region(const struct daemon *d);
/* The account the default credentials belong to, if known, else NULL. */
const char *daemon_account(const struct daemon *d);
/* Milliseconds for a call that asked for timeout_ms (0: the default). */
unsigned daemon_call_timeout_ms(const struct daemon *d, long long timeout_ms);
long daemon_uptime_sec(const struct daemon *d);
/* The configuration file in use, for messages. */
const char *daemon_config_path(const struct daemon *d);
