/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One client connection of the Varlink server: reads NUL-terminated
 * messages from a bufferevent, decodes calls (common/varlink), keeps them in
 * a FIFO, dispatches each at once (varlink_service_dispatch) and writes the
 * replies strictly in call order — a later call that completes first waits
 * for the earlier ones.  Oneway calls never produce output and never hold
 * others back.  See server.h for the limits and the error behaviour.
 *
 * Lifetime: the connection is refcounted.  The socket holds one reference
 * until it closes; every unanswered call holds one.  A peer that vanishes
 * leaves a closed connection whose calls are "abandoned": handlers still
 * complete them (the replies are dropped), and the last completion frees the
 * object and runs env->on_free.
 *
 * Only server.c creates connections; varlink-service.c completes calls
 * through conn_call_emit().
 */
#include <stdbool.h>
#include <stddef.h>

#include "server.h"
#include "varlink-service.h"

struct event_base;
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

/* What the server shares with its connections.  Owned by the server; must
 * outlive every connection. */
struct conn_env {
	struct event_base *base;
	const struct server_limits *limits;
	const struct method *methods;
	void *userdata;             /* for the handlers */
	struct server_stats *stats; /* updated in place */
	/* limits->idle_timeout_ms as a libevent common timeout (one heap slot
	 * for every connection's idle timer), or NULL: never. */
	const struct timeval *idle_timeout;
	/* Parses every connection's calls, one message at a time (one thread):
	 * from varlink_tokener_new(), owned by the server. */
	struct json_tokener *tokener;
	/* The socket closed (the server keeps the connection counts). */
	void (*on_close)(struct conn *c, void *data);
	/* The object is about to be freed (closed and no call left). */
	void (*on_free)(struct conn *c, void *data);
	/* A call was dispatched / stopped running (answered or abandoned and
	 * freed): the server counts calls in flight per uid. */
	void (*on_call_start)(struct conn *c, void *data);
	void (*on_call_end)(struct conn *c, void *data);
	/* True while uid has as many calls in flight as it may: its
	 * connections stop reading (back-pressure) until on_call_end wakes
	 * them with conn_resume(). */
	bool (*uid_busy)(uid_t uid, void *data);
	void *data;
};

/*
 * Start serving fd (a connected, non-blocking stream socket) for peer.
 * Takes ownership of fd in every case (closed on failure).  Returns 0 or
 * -ENOMEM.
 */
int conn_new(const struct conn_env *env, int fd, const struct peer *peer, struct conn **ret);

/*
 * Free c now, whatever its state: close the socket and free its calls
 * without running callbacks.  For server_free() only; handlers must not touch
 * c's calls afterwards.  NULL-safe; returns NULL.
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

enum call_emit {
	CALL_EMIT_CONTINUES, /* a "continues": true reply; the call stays open */
	CALL_EMIT_REPLY,     /* the final reply */
	CALL_EMIT_ERROR,     /* the final reply, an error (counted in stats) */
};

/*
 * Hand over a formatted reply for call (msg, len with its NUL; ownership of
 * msg passes, NULL allowed for oneway or abandoned calls).  For the final
 * kinds, the call is complete: it is freed once its reply has been queued
 * behind the earlier calls', and must not be touched again.
 * msg == NULL for a call that expects a reply means the reply could not be
 * built: the connection is closed, as the reply stream would be out of step.
 */
void conn_call_emit(struct call *call, enum call_emit kind, char *msg, size_t len);
