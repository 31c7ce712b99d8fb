/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The audit trail: one record per policy decision, per request refused
 * before the policy (an invalid key ID), and per outcome.
 *
 * Under systemd (log_to_journal()) each record is one journal entry with a
 * human MESSAGE, a MESSAGE_ID per event type (below; `journalctl
 * MESSAGE_ID=…` finds them all) and these fields, each present only when it
 * applies:
 *
 *   KMSCANCEL_EVENT        decision, reject, outcome, left-out
 *   KMSCANCEL_CALLER_UID   SO_PEERCRED of the connection
 *   KMSCANCEL_CALLER_GID
 *   KMSCANCEL_CALLER_PID
 *   KMSCANCEL_CALLER_COMM  /proc/PID/comm at accept: informational only,
 *                          the caller chooses it; absent when it could not
 *                          be read (/proc mounted hidepid=, see peer.h),
 *                          and MESSAGE then says "command name unknown"
 *   KMSCANCEL_OPERATION    cancel, cancel+enable, describe, status (refused)
 *   KMSCANCEL_KEY          the key as the caller gave it (validated first)
 *   KMSCANCEL_KEY_ARN      a call that named an alias: the key ARN it
 *                          resolved to (decision after resolving, outcome)
 *   KMSCANCEL_DECISION     allow, deny
 *   KMSCANCEL_RULE         file:line of the deciding rule, root, default
 *   KMSCANCEL_REASON       why a request was rejected (reject); for a deny,
 *                          "account unknown", "groups unknown" or "account
 *                          and groups unknown" when the policy could not
 *                          decide without them
 *   KMSCANCEL_OUTCOME      success, failure
 *   KMSCANCEL_KEY_STATE    the key's state after success
 *   KMSCANCEL_ERROR        the error's short name (NotFoundException, …)
 *   KMSCANCEL_AWS_REQUEST_ID
 *   KMSCANCEL_ATTEMPTS     HTTP attempts made to KMS
 *   KMSCANCEL_LATENCY_MS   from the call's arrival to its answer
 *   KMSCANCEL_KEYS_LISTED  a ListPendingDeletions scan (op=list-pending,
 *                          key=*): the keys it showed the caller
 *   KMSCANCEL_REGION       the region the key is served in: an ARN's own,
 *                          else the call's, its [Account N]'s or the default
 *                          (decision, outcome)
 *   KMSCANCEL_ACCOUNT      the key's account, once known (outcome, and a
 *                          reject for an account without credentials)
 *   KMSCANCEL_LEFT_OUT     refusals of the caller's uid counted, not
 *                          recorded, in one second (left-out)
 *   KMSCANCEL_CREDENTIALS  whose credentials served it: "default",
 *                          "account N, role ARN", "account N, profile P"
 *
 * Otherwise each record is one line on stderr,
 *   kmscanceld[info]: audit event=decision op=cancel key=… uid=… …
 * with the same fields in lower case without the prefix (caller_uid is
 * uid, aws_request_id is request_id, …).  A value with anything but
 * [A-Za-z0-9._:/@+,*=-] is double-quoted with C escapes, so a process name
 * cannot forge fields or lines.
 *
 * Audit records are written whatever LogLevel= says.  They never hold a
 * secret: nothing here sees credentials.
 */
#include <stdbool.h>
#include <stddef.h>

struct peer;

/* Made with `systemd-id128 new`; never change them (queries depend on them). */
#define AUDIT_MESSAGE_ALLOW   "f0a83f6538504e388266bafb492057e3" /* decision: allow */
#define AUDIT_MESSAGE_DENY    "6be00c62915e4f488368008dccc85bfa" /* decision: deny */
#define AUDIT_MESSAGE_REJECT  "302be730c7c64b76937b1822332a9568" /* invalid request */
#define AUDIT_MESSAGE_SUCCESS "e02ecd26457c43098243b7976cac6b9c" /* outcome: success */
#define AUDIT_MESSAGE_FAILURE "97f7676f9854496d8f1cd0200b08531f" /* outcome: failure */
#define AUDIT_MESSAGE_LEFT_OUT "fc6631286ab240579a3bfe2f91c8b465" /* refusals counted, not recorded */

/*
 * Refusals (deny decisions and rejects) recorded one by one per uid and
 * second; beyond that they are counted, and one "left-out" record per uid
 * and second (KMSCANCEL_LEFT_OUT=N) says how many, written with the next
 * record after that second.  A refusal costs the daemon nothing but the
 * record, so one user could write tens of thousands a second, and journald
 * drops a service's messages past its rate limit (RateLimitBurst=, 10,000
 * per 30 s by default) whatever they are: everyone else's records with
 * them.  Allowed calls and the outcomes of allowed calls are always recorded
 * one by one; the outcome of a refused call is left out with its refusal
 * (audit_log() says so, and the caller does not write it).
 */
#define AUDIT_REFUSALS_PER_SECOND 20

/* Longest stderr line or MESSAGE; longer values are cut to fit. */
#define AUDIT_LINE_MAX 2048

enum audit_event {
	AUDIT_DECISION,
	AUDIT_REJECT,
	AUDIT_OUTCOME,
	AUDIT_LEFT_OUT, /* refusals of one uid counted, not recorded (above) */
	_AUDIT_EVENT_MAX,
};

const char *audit_event_to_string(enum audit_event e);

/* One record.  Pointers are borrowed; NULL strings are left out. */
struct audit_record {
	enum audit_event event;
	const struct peer *caller;
	const char *operation;
	const char *key;
	const char *key_arn; /* an alias's key, once resolved */
	/* AUDIT_DECISION */
	bool allowed;
	const char *rule;
	/* AUDIT_REJECT */
	const char *reason;
	/* AUDIT_OUTCOME */
	bool success;
	const char *key_state;
	const char *error;
	const char *request_id;
	unsigned attempts;
	long latency_ms;
	bool listing;              /* a ListPendingDeletions scan: keys_listed is set */
	unsigned long keys_listed; /* the keys it showed */
	/* AUDIT_LEFT_OUT */
	unsigned long left_out;
	/* any event, when known */
	const char *region;
	const char *account;
	const char *credentials;
};

/* Writes r to the journal or stderr (see above) and returns true, or counts
 * it (a refusal past AUDIT_REFUSALS_PER_SECOND) and returns false: the
 * caller then writes no outcome record for that call either. */
bool audit_log(const struct audit_record *r);

/* Writes the left-out counts of every second that has ended, or of every
 * second (the current one too) when all is set: the daemon calls it on its
 * housekeeping tick, so a count does not wait for the next refusal, and
 * with all at exit, so none is lost. */
void audit_flush(bool all);

/* The stderr form, without the "kmscanceld[info]: " prefix, into buf
 * (always NUL-terminated; cut at size).  For tests. */
void audit_format_text(const struct audit_record *r, char *buf, size_t size);

/* The journal's MESSAGE of r, a sentence for people ("Allowed cancel of KEY
 * for uid 1000 (kmscancel, pid 42) by rule …"), into buf.  For tests. */
void audit_format_message(const struct audit_record *r, char *buf, size_t size);

/* The MESSAGE_ID of r. */
const char *audit_message_id(const struct audit_record *r);
