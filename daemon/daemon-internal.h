/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Inside the daemon (daemon.h): struct daemon and what its files share.
 * daemon.c starts, runs and frees it; daemon-load.c loads, installs and
 * reloads the configuration; daemon-notify.c is what systemd sees
 * (sd_notify, signals, the watchdog, the housekeeping tick, the drain);
 * daemon-check.c is --check-config.  Nothing else includes this.
 */
#include <stdbool.h>
#include <stdint.h>

#include "aws-settings.h"
#include "conf.h"
#include "daemon.h"
#include "fd-budget.h"
#include "memtrim.h"
#include "methods-context.h"

struct event_base;
struct evdns_base;
struct event;
struct creds_cache;
struct accounts;
struct kms_client;
struct server;
struct policy;
struct policy_groups_cache;
struct guard;

/* Housekeeping tick: STATUS= updates, the exit-on-idle check and freeing
 * KMS clients a reload replaced, at most this often. */
#define DAEMON_TICK_MS 1000
/* At exit, how long the replies to calls the drain left may take to be
 * written (daemon_free). */
#define DAEMON_FLUSH_MS 2000

struct daemon {
	struct event_base *base;
	struct evdns_base *dns;
	struct daemon_options options;
	struct daemon_config config;
	struct aws_settings settings;
	struct accounts *accounts; /* [Account N] and the default credentials' account */
	struct policy *policy;
	struct policy_groups_cache *groups; /* callers' supplementary groups, briefly */
	struct kms_client *kms;
	struct server *server;
	struct methods_context methods; /* what the io.kmscancel methods use (methods.h) */
	struct guard *guard;            /* [Guard] (guard.h) */
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *tick, *watchdog, *drain_timer;
	struct event *drain_guard_timer; /* the drain waits for the guard's rescue */
	uint64_t started_ms; /* monotime_msec() */
	enum daemon_state state;
	const char *stop_reason;    /* "SIGTERM", "SIGINT", "idle": why STOPPING */
	uint64_t watchdog_usec;     /* WATCHDOG_USEC, 0 when not asked for */
	bool idle;                  /* no connection and no call since idle_since */
	uint64_t idle_since_ms; /* monotime_msec() */
	char *status;               /* the last STATUS= sent */
	/* KMS clients a reload replaced, freed once their calls are done. */
	struct kms_client **retired;
	size_t n_retired;
	char *kms_fingerprint; /* the settings d->kms was made from */
	unsigned long reloads, reloads_failed;
	struct memtrim memtrim; /* giving the heap back once quiet */
	struct fd_budget fds;   /* descriptors: the limit and what the configuration needs of it */
};

/* Everything the configuration file decides, built whole before it is used:
 * at start, and by a reload that swaps it in only when all of it loaded. */
struct loaded {
	struct daemon_config config;
	struct aws_settings settings;
	struct policy *policy;
	struct kms_client *kms; /* NULL when the running one still fits */
	char *kms_fingerprint;  /* what the KMS client was made from */
	struct fd_budget fds;   /* the configuration's descriptors, checked against RLIMIT_NOFILE */
};

/* daemon.c */
void state_set(struct daemon *d, enum daemon_state s);
/* The process environment, the secret variables included (secret-env.h). */
const char *env_lookup(const char *name);
void event_free_null(struct event *e);
/* The region for bare key IDs, or NULL if none is configured. */
const char *daemon_default_region(const struct daemon *d);
long daemon_uptime_sec(const struct daemon *d);
/* The configuration file in use, for messages. */
const char *daemon_config_path(const struct daemon *d);

/* daemon-load.c */
void loaded_done(struct loaded *l);
/* The config file, the AWS settings it overrides and the policy into *l
 * (zeroed by the caller; released with loaded_done() in every case). */
int settings_load(const struct daemon_options *o, struct loaded *l, char **ret_error);
/* Loads into *l (zeroed by the caller); makes a KMS client unless d's
 * running one was made from the same settings. */
int loaded_build(struct daemon *d, struct loaded *l, char **ret_error);
/* Takes l's parts into d (and its methods' context); l is left empty.
 * Cannot fail: a KMS client d had and l replaces must have been retired
 * before. */
void loaded_install(struct daemon *d, struct loaded *l);
/* [KMS] Prewarm=: connections opened before the first call needs them. */
void kms_prewarm(struct daemon *d);
/* Frees the KMS clients a reload replaced once no call uses them (all:
 * every one). */
void retired_collect(struct daemon *d, bool all);
/* The default credentials and the [Account N] sections (accounts.h),
 * fetching at once.  A section that cannot be set up is an error at start. */
int accounts_setup(struct daemon *d, char **ret_error);
/* [Guard] of the configuration installed to d's guard. */
int guard_setup(struct daemon *d);

/* daemon-notify.c */
/* Sends STATUS= (live counters) when it changed since the last one. */
void status_update(struct daemon *d);
/* The housekeeping tick and the watchdog pings. */
int timers_setup(struct daemon *d);
/* SIGTERM, SIGINT: drain and exit; SIGHUP: reload. */
int signals_setup(struct daemon *d);
