/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The guard ([Guard] in kmscanceld.conf(5)): keys that must never be
 * deleted.  Each is read with DescribeKey every Interval=, the reads of the
 * keys spread over the interval rather than made all at once; a key found
 * in PendingDeletion or PendingReplicaDeletion is rescued at once with
 * CancelKeyDeletion, as an internal operation (operation_start_internal():
 * the same retries, lost-response resolution, rate limits and coalescing as
 * a caller's cancel), and with Enable=yes enabled again when it was Enabled
 * when last read.  Every rescue is a journal record at priority crit
 * (GUARD_MESSAGE_RESCUED); a key that cannot be read is reported, never
 * dropped.  Events go to the subscribers of io.kmscancel.WatchGuard
 * (guard-watch.c) whose policy allows them to describe the key.
 *
 * Each key's life:
 *
 *   WAITING ──► CHECKING ──► WAITING (not pending deletion; or unreadable)
 *                  │
 *                  └──► RESCUING ──► WAITING (rescued, or failed: the next check tries again)
 *
 * A reload replaces the list: a key no longer listed is not read again,
 * and a check or rescue it has in flight finishes first.
 *
 * Not thread-safe: the loop thread only.
 */
#include <stdbool.h>
#include <stddef.h>

struct methods_context;
struct call;

/* Made with `systemd-id128 new`; never change them (queries depend on them). */
#define GUARD_MESSAGE_RESCUED       "d79c89f272284a6c8d895e32571cdd8e" /* crit: a guarded key was rescued */
#define GUARD_MESSAGE_RESCUE_FAILED "c2a2f571bb3c43c89fb29d5d3b064787" /* crit: its rescue failed */
#define GUARD_MESSAGE_UNREADABLE    "481ca8c156d94101b2a1fb15ac3d38ec" /* warning: a guarded key cannot be read */

/*
 * DescribeKey requests per second the guard makes at most, all keys
 * together: 20, 1% of KMS's DescribeKey quota (2,000 per second per account
 * and Region), so the guard never takes the quota from callers or other
 * applications.  An Interval= too short for the number of keys is raised
 * to keys / GUARD_MAX_DESCRIBE_RATE seconds, with a notice.
 */
#define GUARD_MAX_DESCRIBE_RATE   20
#define GUARD_DEFAULT_INTERVAL_MS (60 * 1000)
/* Interval= bounds and the Keys= limit are conf.h's CONFIG_*_GUARD_*. */
/* WatchGuard subscribers at most, in all and per uid, so that one user
 * cannot take every place (ThrottlingException beyond). */
#define GUARD_WATCHERS_MAX         64
#define GUARD_WATCHERS_PER_UID_MAX 8
/* How often subscribers that hung up are looked for and let go. */
#define GUARD_SWEEP_MS 1000

enum guard_key_state {
	GUARD_KEY_WAITING,  /* until its next read */
	GUARD_KEY_CHECKING, /* DescribeKey running */
	GUARD_KEY_RESCUING, /* CancelKeyDeletion (and EnableKey) running */
	_GUARD_KEY_STATE_MAX,
};
const char *guard_key_state_to_string(enum guard_key_state s);

/* What WatchGuard subscribers are told (GuardEvent.event). */
enum guard_event {
	GUARD_EVENT_RESCUED,       /* the deletion was cancelled */
	GUARD_EVENT_ENABLED,       /* and the key enabled again (Enable=yes) */
	GUARD_EVENT_RESCUE_FAILED, /* the cancel failed: tried again at the next read */
	GUARD_EVENT_UNREADABLE,    /* DescribeKey failed (NotFound, AccessDenied, …) */
	GUARD_EVENT_READABLE,      /* a key that was unreadable was read again */
	_GUARD_EVENT_MAX,
};
const char *guard_event_to_string(enum guard_event e);

/* GetStatus "guard". */
struct guard_status {
	unsigned keys;               /* guarded now */
	unsigned long checks;        /* DescribeKey reads finished */
	unsigned long rescues;       /* deletions cancelled */
	unsigned long failures;      /* rescues that failed */
	unsigned unreadable;         /* keys whose last read failed */
	long long last_rescue;       /* epoch seconds, 0: none yet */
	const char *last_rescue_key; /* borrowed, NULL: none yet */
};

struct guard;

/* The interval used for n_keys keys and Interval= interval_ms: raised to
 * n_keys / GUARD_MAX_DESCRIBE_RATE seconds when it is shorter. */
unsigned guard_interval_ms(unsigned interval_ms, size_t n_keys);

/* A guard with no keys, starting operations in ctx (borrowed: it must
 * outlive the guard).  NULL on out of memory. */
struct guard *guard_new(struct methods_context *ctx);

/*
 * The keys to guard (names copied), how often to read each, whether to
 * enable a rescued key that was Enabled: at start and at each reload.
 * Keys kept across a reload keep what was learnt of them.  0 or -ENOMEM
 * (the running list is then unchanged).
 */
int guard_configure(struct guard *g, char *const *keys, size_t n_keys, unsigned interval_ms, bool enable);

/* True while keys are guarded (the daemon must not exit idle). */
bool guard_active(const struct guard *g);

/* True while a rescue is running (the drain waits for it).  NULL-safe. */
bool guard_rescuing(const struct guard *g);

/* The drain: no more reads or rescues are started, and every subscriber
 * gets its final reply.  NULL-safe. */
void guard_stop(struct guard *g);

/* Frees g: after operation_shutdown_all(), which ends its operations.
 * NULL-safe; returns NULL. */
struct guard *guard_free(struct guard *g);

void guard_get_status(const struct guard *g, struct guard_status *ret);

struct peer;
/* Whether the caller p may be told of the guarded key written name in
 * Keys= (GetStatus lastRescueKey): as a WatchGuard subscriber would be
 * told of its events (guard-watch.c).  A name no longer guarded is
 * judged on the name alone. */
bool guard_may_describe(const struct guard *g, const struct peer *p, const char *name);

/* Before WatchGuard is told whether there is a guard: a caller the policy
 * could let describe no key at all (root aside) gets PermissionDenied
 * (audited), and learns nothing, not even whether [Guard] is set; it
 * would never see an event, and takes no subscriber's place.  Works
 * without a guard; true when c may go on. */
bool guard_watch_admit(struct methods_context *ctx, struct call *c);

/* io.kmscancel.WatchGuard (methods.c checked the parameters and "more"):
 * answers c now ("the watch is in place"), then each event its policy
 * allows it to see, until it hangs up or the daemon stops. */
void guard_watch(struct guard *g, struct call *c);
