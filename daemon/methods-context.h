/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the io.kmscancel methods (methods.c, operation.c, coalesce.c,
 * status.c) work with, and nothing else of the daemon: the policy, the
 * callers' groups, the accounts and their credentials, the KMS client, the
 * call limits, their own counters and lists.  The daemon owns one and keeps
 * it current: a reload replaces policy and kms (and rewrites *config and
 * *settings in place).  Calls in flight keep what they decided at their
 * start (the policy's verdict, the route, account and region: operation.c);
 * each KMS request they make later (enable, settle, resolve) goes through
 * the kms client current then, while the old one finishes what it has.
 *
 * Not thread-safe: the loop thread only.
 */
#include <stdbool.h>
#include <stdint.h>

#include "coalesce.h"
#include "kmscancel.h"
#include "operation.h"
#include "policy.h"

struct event_base;
struct policy_groups_cache;
struct accounts;
struct kms_client;
struct daemon_config;
struct aws_settings;
struct operation;
struct pending_scan;
struct peer;
struct methods_host_status;
struct kms_clock;
struct guard;

/* Bounds on a call's deadline (a client's timeoutMs is clamped to these). */
#define METHODS_MIN_CALL_TIMEOUT_MS 100
#define METHODS_MAX_CALL_TIMEOUT_MS (10 * 60 * 1000)
/* io.kmscancel errors counted one by one (KMSCANCEL_E_NOT_FOUND … _INTERNAL). */
#define METHODS_N_ERROR_COUNTERS (KMSCANCEL_E_INTERNAL + 1)

/* GetStatus "callsSucceeded", "callsFailed", "errors": one per caller,
 * followers of a coalesced cancel included. */
struct methods_counters {
	unsigned long calls_ok, calls_failed;
	unsigned long errors[METHODS_N_ERROR_COUNTERS]; /* failed calls by error */
};

/* GetStatus members only the daemon knows; see methods_context.host_status. */
typedef void (*methods_host_status_fn)(void *userdata, struct methods_host_status *ret);

struct methods_context {
	struct event_base *base;             /* borrowed */
	struct policy *policy;               /* borrowed; replaced by a reload */
	struct policy_groups_cache *groups;  /* borrowed, may be NULL */
	struct accounts *accounts;           /* borrowed: every account's credentials, the default ones included */
	struct kms_client *kms;              /* borrowed; replaced by a reload (calls keep theirs) */
	const struct daemon_config *config;  /* borrowed: [Account N] Region=, CallTimeoutSec=, the file name */
	const struct aws_settings *settings; /* borrowed: the default region */
	struct methods_counters counters;
	struct operation *operations; /* operation.c: every call running (operation_shutdown_all) */
	struct flight_table flights;  /* coalesce.h: cancels in flight */
	struct pending_scan *scans;   /* pending.c: ListPendingDeletions scans running */
	methods_host_status_fn host_status;
	void *host_userdata;
	/* Borrowed, NULL: kms_clock_real.  The calls' deadlines and settle
	 * windows read its monotonic clock, so a unit test can move time. */
	const struct kms_clock *clock;
	/* Borrowed, NULL: none (unit tests).  WatchGuard, GetStatus "guard". */
	struct guard *guard;
	/* NULL, or told every operation state transition (operation.h). */
	operation_trace_fn trace;
	void *trace_userdata;
};

/* Counts a finished call: a success (KMSCANCEL_OK) or a failure under its
 * error. */
void methods_count(struct methods_context *ctx, kmscancel_error e);

/* The caller as the policy sees it.  The groups are borrowed from ctx's
 * cache until its next use; a failed lookup leaves groups_known false, so
 * group-dependent Deny rules match and group Allows do not (policy.h). */
struct policy_subject methods_policy_subject(struct methods_context *ctx, const struct peer *p);

/* Now in milliseconds on ctx's monotonic clock (deadlines, settling). */
uint64_t methods_now_ms(const struct methods_context *ctx);

/* Milliseconds for a call that asked for timeout_ms (0: the default). */
unsigned methods_call_timeout_ms(const struct methods_context *ctx, long long timeout_ms);
/* The region for bare key IDs, or NULL if none is configured. */
const char *methods_default_region(const struct methods_context *ctx);
/* The account the default credentials belong to, if known, else NULL. */
const char *methods_default_account(const struct methods_context *ctx);
/* The configuration file in use, for messages. */
const char *methods_config_path(const struct methods_context *ctx);
