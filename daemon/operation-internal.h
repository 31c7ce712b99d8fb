/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Inside an operation (operation.h): shared by operation.c, which drives
 * it, and operation-steps.c, which reads each step's KMS answer.  Nothing
 * else includes this.
 */
#include <stdbool.h>
#include <stdint.h>

#include "accounts.h"
#include "call.h"
#include "keyid.h"
#include "kmscancel.h"
#include "operation.h"

struct event;
struct json_object;
struct json_writer;
struct kms_call;
struct kms_result;
struct flight;

/* KMS is eventually consistent (AWS.md §4): right after a cancel, EnableKey
 * and DescribeKey may still see PendingDeletion.  Such answers are retried,
 * with backoff from SETTLE_BASE_MS doubling up to SETTLE_CAP_MS, for at most
 * SETTLE_MAX_MS (and never past the call's deadline). */
#define SETTLE_MAX_MS  10000
#define SETTLE_BASE_MS 100
#define SETTLE_CAP_MS  1000

/*
 * Lifetime: an operation owns what it uses for its whole life and borrows
 * nothing from the configuration, which a reload (SIGHUP) frees while calls
 * are in flight: the region is a copy, the routing decision (whose
 * credentials, which account, the label) a value taken once.  Every wait it
 * is in (routing, a credential cache, a KMS call, a timer) is withdrawn by
 * operation_free(), and every live operation is listed in ctx->operations
 * so that operation_shutdown_all() can end them before the objects they
 * point to go.
 *
 * Coalescing (coalesce.h): neither the leader's own deadline nor the
 * daemon's local Throttling of the leader's caller is its followers'
 * answer: those with time left make the cancel themselves.
 */
struct operation {
	struct methods_context *ctx;
	struct call *call;              /* the Varlink call it answers, or NULL: an internal origin */
	struct peer peer;               /* the call's peer, or the internal origin's */
	struct operation_origin origin; /* call NULL: who is told the end (operation.h) */
	enum operation_state state;
	enum operation_step step;
	const char *verb; /* "cancel", "describe": for the audit record */
	struct keyid key;
	char *key_id;           /* as the caller gave it */
	char *key_arn;          /* from KMS's answer */
	char *cancel_request_id; /* the request that cancelled the deletion, for an internal origin */
	/* A call that named an alias (OPERATION_STEP_RESOLVE_ALIAS): the
	 * policy decides before (policy_decide_alias(), key unknown) and again
	 * on the key it resolves to; every request after it names that key. */
	bool by_alias;
	bool alias_open; /* the alias view allowed: KMS's NotFound may be told */
	struct keyid_alias alias;
	char *resolved_arn;     /* the alias's key ARN, once resolved */
	char *region;           /* owned: the key's, or the default/[Account N] one copied at the start */
	char account_param[13]; /* the call's "account" (for a bare key ID), or "" */
	char region_param[KEYID_REGION_MAX + 1]; /* the call's "region" (for a bare key ID), or "" */
	/* Routing (accounts.h): whose credentials serve the key, decided once
	 * and kept: every later credential fetch (enable, settle, ExpiredToken)
	 * uses that account's credentials or fails, never other ones. */
	struct accounts_wait *route_wait; /* learning the default account */
	struct account *route_acct;       /* referenced: whose credentials serve the key */
	char account[13];                 /* the key's account, "" while unknown (bare key ID) */
	char *credentials_label;          /* "default", "account N, role …": for the audit */
	bool creds_waiting;               /* in account_credentials_get() */
	unsigned policy_ops;            /* what the policy is asked about */
	bool policy_pending;            /* undecided until routing learns the account */
	bool cancel;                    /* CancelKeyDeletion, else DescribeKey */
	bool dry_run;                   /* CancelKeyDeletion dryRun: DescribeKey only */
	bool enable_key;
	unsigned timeout_ms;
	struct aws_credentials *credentials;
	bool expired_retried;  /* ExpiredTokenException: refreshed and retried once per step */
	bool refusal_left_out; /* its refusal was counted, not recorded: so is its outcome */
	unsigned attempts;     /* summed over the KMS calls made */
	uint64_t started_ms;   /* methods_now_ms() at the start */
	struct kms_call *kms; /* the KMS call running now, or NULL */

	/* Resolving a lost response (OPERATION_STEP_RESOLVE). */
	bool already_cancelled;  /* an attempt whose answer was lost had done it */
	bool leader_timed_out;   /* it followed a leader whose deadline passed: that cancel may have been done */
	char *ambiguous_message; /* the KMSInvalidStateException to report if it was not ours */
	char *ambiguous_request_id;

	/* Eventual consistency (SETTLE_*) */
	uint64_t settle_started_ms;
	unsigned settle_tries;
	struct event *timer; /* settle backoff, or a follower's deadline */

	/* Coalescing */
	struct flight *leading;   /* the flight this op leads, or NULL */
	struct flight *following; /* the flight this op follows, or NULL */

	/* ctx->operations: every live operation (operation_shutdown_all) */
	struct operation *next_live, *prev_live;
};

/* How a call ends.  error KMSCANCEL_OK is a success, answered with params
 * (taken) or written (borrowed, for the cancel's reply: json-writer.h). */
struct operation_outcome {
	kmscancel_error error;
	const char *aws_code;   /* AWS's error code, or NULL */
	const char *message;    /* failure: what the caller reads */
	const char *request_id; /* AWS's, or NULL */
	const char *key_state;  /* success: for the audit record */
	struct json_object *params;
	const struct json_writer *written;
};

/* "cancel", "cancel+enable", "describe": what the audit records call op. */
const char *operation_name(const struct operation *op);

/*
 * Asks the local policy about op's key, whose account is account (NULL
 * while unknown; a key ARN's own is always known).  Returns 1 (allowed), 0
 * (undecided: only when !final, nothing audited yet; the caller learns the
 * account and asks again with final), or -1: refused, PermissionDenied
 * replied and op freed.  With final an undecided verdict is a refusal
 * (fails closed).  Decisions are audited, with the deciding rule.
 */
int operation_authorize(struct operation *op, const char *account, bool final);
/* PermissionDenied for op, the same words whatever was learnt. */
void operation_refuse(struct operation *op);
/* The key ID (key_len bytes, any), the region, the policy: the start of
 * every key operation.  0, or -1 when op was answered (and freed). */
int operation_check(struct operation *op, const char *key_id, size_t key_len);

/* Answers op, and every follower of the flight it leads, with o (or, for
 * its own Timeout and the daemon's Throttling, lets them go on: see
 * struct operation); audits and counts each; frees op. */
void operation_finish(struct operation *op, const struct operation_outcome *o);
/* operation_finish() with a failure. */
void operation_fail(struct operation *op, kmscancel_error error, const char *aws_code, const char *message,
		    const char *request_id);

/* Moves op on to step: its KMS request, with the account's credentials
 * (fetched if need be).  op may be gone when this returns. */
void operation_next_step(struct operation *op, enum operation_step step);
/* Makes the current step's request again with the credentials at hand.
 * 0, or -ENOMEM (op untouched). */
int operation_kms(struct operation *op);
/* A KMS answer that may only reflect the state before our cancel (AWS.md
 * §4): schedules the step again after a backoff and returns true, or false
 * when the settle time or the call's deadline leaves no room. */
bool operation_settle(struct operation *op);
/* Joins an identical cancel in flight, or leads a new one and sends the
 * cancel (OPERATION_STEP_CANCEL). */
void operation_cancel(struct operation *op);

/* The step's KMS answer (operation-steps.c): settles, moves to the next
 * step or finishes op. */
void operation_step_answered(struct operation *op, const struct kms_result *r);
