/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One io.kmscancel key call (CancelKeyDeletion, DescribeKey) from its
 * parameters to its answer, as a state machine:
 *
 *   AUTHORIZING ──► ROUTING ──► AWAITING_CREDENTIALS ──► CALLING_KMS ──► DONE
 *                      │                 ▲                   │  ▲
 *                      │                 └── next step,──────┤  │
 *                      │                     ExpiredToken    ▼  │
 *                      │                                  SETTLING
 *                      └──► FOLLOWING ──► DONE (the leader's answer)
 *                               └──► AWAITING_CREDENTIALS (leader timed out)
 *
 * The KMS request a call is at is its step (DESCRIBE, DRY_RUN, CANCEL,
 * RESOLVE after a lost response, ENABLE after the cancel); credentials,
 * settling and ExpiredToken retries redo the current step, and the step's
 * answer (operation-steps.c) picks the next one or the outcome.  Every
 * outcome, success or failure, goes through one operation_finish(): it
 * replies, audits and counts, for the call and for every follower of a
 * coalesced cancel (coalesce.h).
 *
 * Not thread-safe: the loop thread only.
 */
#include <stdbool.h>
#include <stddef.h>

#include "kmscancel.h"

struct methods_context;
struct call;
struct json_object;
struct peer;

enum operation_state {
	OPERATION_AUTHORIZING,          /* parameters, key ID, region, the local policy */
	OPERATION_ROUTING,              /* whose credentials serve the key (accounts.h) */
	OPERATION_AWAITING_CREDENTIALS, /* waiting in the account's credential cache */
	OPERATION_CALLING_KMS,          /* the step's KMS request is running */
	OPERATION_SETTLING,             /* KMS still shows the state before the cancel: a backoff */
	OPERATION_FOLLOWING,            /* an identical cancel is in flight: waiting for its answer */
	OPERATION_DONE,                 /* answered */
	_OPERATION_STATE_MAX,
};
const char *operation_state_to_string(enum operation_state s);

enum operation_step {
	OPERATION_STEP_NONE,          /* not routed yet */
	OPERATION_STEP_RESOLVE_ALIAS, /* DescribeKey of the alias the caller named: its key */
	OPERATION_STEP_DESCRIBE,      /* DescribeKey */
	OPERATION_STEP_DRY_RUN,       /* DescribeKey for a dry-run cancel */
	OPERATION_STEP_CANCEL,        /* CancelKeyDeletion */
	OPERATION_STEP_RESOLVE,       /* DescribeKey: did a cancel whose answer was lost do it? */
	OPERATION_STEP_ENABLE,        /* EnableKey after the cancel (enableKey) */
	_OPERATION_STEP_MAX,
};
const char *operation_step_to_string(enum operation_step s);

/* Told every state transition of every call (methods_context.trace): the
 * key as the caller gave it, the states, the step the call is at.  For
 * tests (tests/unit/test-operation.c); the daemon sets none. */
typedef void (*operation_trace_fn)(void *userdata, const char *key_id, enum operation_state from,
				   enum operation_state to, enum operation_step step);

/* A key call as methods.c parsed it.  Strings are borrowed for the call
 * of operation_start() only. */
struct operation_request {
	const char *verb;    /* "cancel", "describe": audit records, messages */
	unsigned policy_ops; /* POLICY_OP_CANCEL or _DESCRIBE (enable_key adds _ENABLE) */
	bool cancel;         /* CancelKeyDeletion, else DescribeKey */
	bool enable_key;     /* cancel: enable the key afterwards */
	bool dry_run;        /* cancel: DescribeKey only (authorised as the cancel) */
	const char *key_id;  /* as the caller gave it: any bytes, key_id_len of them */
	size_t key_id_len;
	long long timeout_ms; /* the call's timeoutMs, 0: the default */
	const char *account;  /* the call's "account" (12 digits), or NULL */
	const char *region;   /* the call's "region" (a region name), or NULL */
};

/*
 * Runs the call c asks for (req) to its answer: c is always answered, now
 * (an invalid key ID, a refusal, out of memory …) or when KMS is done.
 */
void operation_start(struct methods_context *ctx, struct call *c, const struct operation_request *req);

/* How an operation the daemon started itself ended (operation_start_internal).
 * Everything is borrowed for the callback's duration only. */
struct operation_result {
	kmscancel_error error;  /* KMSCANCEL_OK: success */
	const char *aws_code;   /* AWS's error code, or NULL */
	const char *message;    /* a failure: what went wrong */
	const char *request_id; /* AWS's, or NULL (after an EnableKey, the EnableKey's) */
	const char *
	    cancel_request_id; /* a cancel: the CancelKeyDeletion that did it (or the DescribeKey that found it done) */
	const char *key_state; /* a success: the key's state after it */
	const char *key_arn;   /* the key ARN once KMS named it, or NULL */
	const char *account;   /* the key's account once known, or NULL */
	const char *region;    /* the region the key was served in, or NULL */
	bool cancelled;        /* a cancel: the deletion was cancelled (also when the EnableKey after it failed) */
	unsigned attempts;     /* HTTP requests made */
	struct json_object *params; /* a describe's success: the DescribeKey reply's parameters */
};

/* Told the end of an internal operation, exactly once (maybe before
 * operation_start_internal() returns, and at shutdown). */
typedef void (*operation_done_fn)(void *userdata, const struct operation_result *r);

/* Who started an internal operation and who is told its end. */
struct operation_origin {
	const struct peer *peer; /* what the audit records name as its caller (copied) */
	operation_done_fn done;
	void *userdata;
	bool quiet; /* no audit record of its outcome: a routine read the starter counts itself */
};

/*
 * Runs req for the daemon itself (the guard): the same state machine,
 * retries, settling, lost-response resolution, rate limits and coalescing
 * with callers' identical cancels as operation_start(), but answered to
 * origin->done instead of a Varlink call.  The configuration that named the
 * key is its authority: the local policy is not asked.  Its outcome is not
 * counted with the callers' calls (GetStatus callsSucceeded/callsFailed).
 */
void operation_start_internal(struct methods_context *ctx, const struct operation_request *req,
			      const struct operation_origin *origin);

/*
 * The end of the drain (before the daemon frees anything else): every call
 * still running is answered EndpointUnavailable ("kmscanceld is shutting
 * down …") while its connection exists, and every wait it was in (routing,
 * a credential cache, a KMS call, a settle or follower timer) is
 * withdrawn, so that nothing left points at the objects freed next.
 * Returns how many calls were answered so.
 */
unsigned operation_shutdown_all(struct methods_context *ctx);
