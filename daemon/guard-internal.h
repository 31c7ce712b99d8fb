/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Inside the guard (guard.h): shared by guard.c, which reads and rescues
 * the keys, and guard-watch.c, which tells the WatchGuard subscribers.
 * Nothing else includes this.
 */
#include <stdbool.h>
#include <time.h>

#include "call.h"
#include "guard.h"

struct event;
struct json_object;

/* One guarded key.  A reload that drops it while its operation runs moves
 * it to guard.dropped, where the operation's end finds and frees it. */
struct guard_key {
	struct guard *g;
	char *name; /* as written in Keys= */
	char *arn;  /* its key ARN, once read */
	char account[13];
	char *region;
	enum guard_key_state state;
	bool dropped;           /* no longer listed: freed when its operation ends */
	bool was_enabled;       /* Enabled when last read */
	bool unreadable;        /* its last read failed */
	char *deletion_date;    /* found pending deletion: the date it had (RFC 3339) */
	char *check_request_id; /* … and the DescribeKey that found it so */
	struct event *timer;    /* its next read */
	struct guard_key *next;
};

/* One WatchGuard call, open until the client hangs up or the daemon stops. */
struct guard_watcher {
	struct call *call;
	struct peer peer;
	struct guard_watcher *next;
};

struct guard {
	struct methods_context *ctx;
	struct guard_key *keys;    /* the guarded keys, in Keys= order */
	struct guard_key *dropped; /* dropped by a reload, an operation still running */
	unsigned n_keys;
	unsigned interval_ms;
	bool enable;
	bool stopped;     /* guard_stop(): nothing new starts */
	struct peer peer; /* the records' caller: the daemon itself */
	unsigned long checks, rescues, failures;
	unsigned n_unreadable;
	time_t last_rescue;
	char *last_rescue_key;
	struct guard_watcher *watchers;
	unsigned n_watchers;
	struct event *sweep; /* GUARD_SWEEP_MS: subscribers that hung up */
};

/* guard-watch.c */
/* Tells every subscriber whose policy allows it to describe k's key about
 * the event (GuardEvent parameters; borrowed). */
void guard_watch_broadcast(struct guard *g, const struct guard_key *k, struct json_object *event);
/* Lets the subscribers that hung up go. */
void guard_watch_sweep(struct guard *g);
/* Every subscriber's final reply (the daemon stops). */
void guard_watch_end_all(struct guard *g);
