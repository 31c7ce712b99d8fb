/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * ListPendingDeletions: a scan of every key pending deletion in the
 * accounts and regions the daemon serves, streamed to the caller one key
 * per reply ("continues": true), then one final reply listing each
 * account+region scanned and how that went.
 *
 * A scan visits its account+region pairs one after the other (the
 * configured ones: [Account N] Regions=, else its Region=, else [AWS]
 * Regions=, else the default region; narrowed by the call's account and
 * region).  In each it learns the credentials (accounts.h), reads every
 * alias with ListAliases (page after page), then pages ListKeys and reads
 * each key with DescribeKey, at most PENDING_DESCRIBES_IN_FLIGHT at once.
 * Every request goes through the KMS client current at the time (retries,
 * pools, the rate limiter: DescribeRate= for DescribeKey, ListRate= for the
 * pages), signed for the caller's uid.
 *
 *   STARTING ─► ROUTING ─► AWAITING_CREDENTIALS ─► LISTING_ALIASES ─► LISTING_KEYS ◄─► DESCRIBING
 *                  ▲                                                       │
 *                  └──────────────── the next account+region ◄─────────────┘ ─► DONE
 *
 * Policy: a caller who may describe no key at all (policy_may_describe_any)
 * gets PermissionDenied before anything else; everyone else sees only the
 * keys the policy lets them describe, judged by the key ARN and by each of
 * the key's aliases as a call by alias would be (pending.c, key_visible).
 * The policy current at each key decides: a reload applies at once.  An
 * account+region where the policy could show the caller no key at all
 * (policy_may_describe_in) is left out at the start: no request is made
 * there, and the final reply does not list it.
 *
 * A scan ends at its deadline (timeoutMs, else PENDING_DEFAULT_TIMEOUT_MS),
 * when the caller hangs up (noticed within PENDING_HANGUP_POLL_MS: no
 * request is made after that), or at shutdown (answered EndpointUnavailable).
 * One audit record per scan, with the keys shown.
 *
 * Not thread-safe: the loop thread only.
 */
#include <stdbool.h>

struct methods_context;
struct call;

/* Scans running at once, in all and per uid: a scan costs up to a few
 * thousand requests a second of the accounts' KMS quotas, so one local user
 * must not be able to start more than a couple.  Beyond: ThrottlingException
 * (without a requestId: the daemon's own limit). */
#define PENDING_MAX_SCANS         8
#define PENDING_MAX_SCANS_PER_UID 2
/* DescribeKey requests one scan has running at once. */
#define PENDING_DESCRIBES_IN_FLIGHT 8
/* A scan's deadline when the call gives no timeoutMs: long enough for
 * tens of thousands of keys at DescribeKey's quota.  A timeoutMs is kept
 * within METHODS_MIN/MAX_CALL_TIMEOUT_MS.  Each request's own deadline is
 * the shorter of what is left and [KMS] Timeout=. */
#define PENDING_DEFAULT_TIMEOUT_MS (5 * 60 * 1000)
/* How often a scan looks whether its caller hung up. */
#define PENDING_HANGUP_POLL_MS 100
/* Page sizes asked for: KMS's largest. */
#define PENDING_LIST_KEYS_LIMIT    1000
#define PENDING_LIST_ALIASES_LIMIT 100
/* Aliases kept for one account+region (KMS allows 50 per key); beyond,
 * that scan fails rather than grow without bound. */
#define PENDING_MAX_ALIASES 200000
/* ExpiredTokenException: new credentials and the request again, at most
 * this many times per account+region. */
#define PENDING_EXPIRED_RETRIES 2
/* Account+region pairs one scan covers (its final reply lists each); more
 * is an InvalidParameter: name an account or a region. */
#define PENDING_MAX_TARGETS 128

enum pending_state {
	PENDING_STARTING,             /* learning the default credentials' account */
	PENDING_ROUTING,              /* whose credentials serve this account+region */
	PENDING_AWAITING_CREDENTIALS, /* in the account's credential cache */
	PENDING_LISTING_ALIASES,      /* a ListAliases page */
	PENDING_LISTING_KEYS,         /* a ListKeys page */
	PENDING_DESCRIBING,           /* DescribeKey of the page's keys */
	PENDING_DONE,                 /* answered */
	_PENDING_STATE_MAX,
};
const char *pending_state_to_string(enum pending_state s);

/* The call's parameters, as methods.c checked them; strings borrowed for
 * the call of pending_start() only. */
struct pending_request {
	const char *account;  /* 12 digits, or NULL: every account */
	const char *region;   /* a region name, or NULL: every configured region */
	long long timeout_ms; /* 0: PENDING_DEFAULT_TIMEOUT_MS */
};

/* Runs the scan c asks for; c is always answered, now (ExpectedMore,
 * PermissionDenied, InvalidParameter, the limits) or when the scan ends. */
void pending_start(struct methods_context *ctx, struct call *c, const struct pending_request *req);

/* The daemon begins to stop (SIGTERM): a scan is only a reading, so
 * rather than hold the drain it ends at once with its final reply, the
 * accounts and regions it did not finish reported "Interrupted".  Returns
 * how many scans were ended. */
unsigned pending_stop_all(struct methods_context *ctx);

/* Shutdown (with operation_shutdown_all): every scan still running is
 * answered EndpointUnavailable and every wait it was in withdrawn.
 * Returns how many. */
unsigned pending_shutdown_all(struct methods_context *ctx);
