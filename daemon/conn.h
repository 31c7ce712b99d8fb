/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One client connection of the Varlink server: reads NUL-terminated
 * messages from a bufferevent, decodes calls (common/varlink), keeps them in
 * a FIFO, hands each at once to its owner's dispatch operation and writes
 * the replies strictly in call order — a later call that completes first
 * waits for the earlier ones.  Oneway calls never produce output and never
 * hold others back.  See server-limits.h for the limits and server.h for the
 * error behaviour.
 *
 * Layering (see call.h): this file implements call.h and depends on nothing
 * above it.  What it needs from above (where calls go, what the owner
 * counts) comes through one table of operations, struct conn_owner_ops.
 *
 * Lifetime: the connection is refcounted.  The socket holds one reference
 * until it closes; every unanswered call holds one.  A peer that vanishes
 * leaves a closed connection whose calls are "abandoned": handlers still
 * complete them (the replies are dropped), and the last completion frees the
 * object and runs ops->freed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "call.h"
#include "server-limits.h"

struct event_base;
struct json_tokener;
struct timeval;
struct conn;

enum conn_state {
	CONN_RUNNING,       /* reading and dispatching calls */
	CONN_SHUTTING_DOWN, /* no more reading; answer accepted calls, flush, close */
	CONN_CLOSED,        /* socket gone; unanswered calls are abandoned */
	_CONN_STATE_MAX,
};

enum call_state {
	CALL_RUNNING, /* the handler owns it */
	CALL_DONE,    /* final reply made, waiting for earlier calls' replies */
	_CALL_STATE_MAX,
};

/*
 * What a connection needs from its owner: where its calls go, and what it
 * reports for the owner's accounting.  One table rather than loose
 * callbacks, because there are two owners: server.c (the daemon's, which
 * routes to varlink_service_dispatch() and counts per uid) and
 * tests/unit/test-conn.c (which records what it is told and can hold a uid
 * back).  Every operation is required; none runs from inside conn_free().
 */
struct conn_owner_ops {
	/* A call was decoded and queued: route it.  Whoever gets it completes
	 * it exactly once, now or later, with call_emit(). */
	void (*dispatch)(struct call *call, void *owner);
	/* The socket closed (the owner keeps the connection counts). */
	void (*closed)(struct conn *c, void *owner);
	/* The object is about to be freed (closed and no call left). */
	void (*freed)(struct conn *c, void *owner);
	/* A call was dispatched / stopped running (answered, or abandoned and
	 * freed): the owner counts calls in flight per uid. */
	void (*call_started)(struct conn *c, void *owner);
	void (*call_ended)(struct conn *c, void *owner);
	/* True while uid has as many calls in flight as it may: its
	 * connections stop reading (back-pressure) until the owner wakes them
	 * with conn_resume(). */
	bool (*uid_busy)(uid_t uid, void *owner);
};

/* What an owner shares with its connections.  Owned by the owner; must
 * outlive every connection. */
struct conn_env {
	struct event_base *base;
	const struct server_limits *limits;
	struct server_stats *stats; /* updated in place */
	/* limits->idle_timeout_ms as a libevent common timeout (one heap slot
	 * for every connection's idle timer), or NULL: never. */
	const struct timeval *idle_timeout;
	/* Parses every connection's calls, one message at a time (one thread):
	 * from varlink_tokener_new(), owned by the owner. */
	struct json_tokener *tokener;
	const struct conn_owner_ops *ops;
	void *owner; /* passed to every operation */
};

/*
 * Start serving fd (a connected, non-blocking stream socket) for peer.
 * Takes ownership of fd in every case (closed on failure).  Returns 0 or
 * -ENOMEM.
 */
int conn_new(const struct conn_env *env, int fd, const struct peer *peer, struct conn **ret);

/*
 * Free c now, whatever its state: close the socket and free its calls
 * without running the owner's operations.  For the owner's teardown
 * (server_free()) only; handlers must not touch c's calls afterwards.
 * NULL-safe; returns NULL.
 */
struct conn *conn_free(struct conn *c);

/* Stop reading new calls; answer those received, flush, then close.  Used
 * for a server drain.  May close (and free) c before returning. */
void conn_shutdown(struct conn *c);

/* Read again (from the loop) if c is running: a limit that held it back
 * may have lifted. */
void conn_resume(struct conn *c);

const struct peer *conn_peer(const struct conn *c);
enum conn_state conn_get_state(const struct conn *c);
const char *conn_state_to_string(enum conn_state s);
const char *call_state_to_string(enum call_state s);
