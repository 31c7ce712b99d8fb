/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One Varlink call, as the code that answers it sees it: who made it, what
 * it asks, and the one operation that answers it (call_emit).  conn.c
 * implements this header; varlink-service.c (routing, reply formatting) and
 * through it the methods use it.
 *
 * Why a header of its own: the layers of the Varlink server depend on each
 * other one way only, bottom to top,
 *
 *     call.h             the handle (this file)
 *     conn.c             framing, the per-connection call queue, the reply
 *                        order; implements call.h; hands each decoded call
 *                        to its owner's dispatch operation (conn.h)
 *     varlink-service.c  routes a call to its method, formats the replies;
 *                        knows calls only through call.h, never conn.h
 *     server.c           owns the connections; tells them to dispatch to
 *                        varlink_service_dispatch()
 *
 * so that the connection never names the dispatcher and the dispatcher
 * never names the connection (as in sd-varlink, where sd_varlink_reply()
 * acts on the sd_varlink handle and the method table is the server's).
 * conn.c is tested with a dispatcher of its own (tests/unit/test-conn.c).
 *
 * Threading: everything runs on the daemon's single libevent loop.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct json_object;
struct call;

/* Who is on the other end, from SO_PEERCRED at accept time. */
struct peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char comm[17];     /* /proc/PID/comm at accept, informational only */
	bool comm_unknown; /* it could not be read: /proc hid it (hidepid=), or the caller was gone */
};

const struct peer *call_peer(const struct call *c);
const char *call_method(const struct call *c);
/* Borrowed; never NULL (an absent or null "parameters" is an empty object). */
struct json_object *call_parameters(const struct call *c);
bool call_is_oneway(const struct call *c);
bool call_wants_more(const struct call *c);
/* True once the peer is gone: the reply will be dropped. */
bool call_is_abandoned(const struct call *c);

enum call_emit {
	CALL_EMIT_CONTINUES, /* a "continues": true reply; the call stays open */
	CALL_EMIT_REPLY,     /* the final reply */
	CALL_EMIT_ERROR,     /* the final reply, an error (counted in the server's stats) */
};

/*
 * Hand over a formatted reply to call (msg, len with its NUL; ownership of
 * msg passes, NULL allowed for oneway or abandoned calls).  For the final
 * kinds the call is complete: it is freed once its reply has been queued
 * behind the earlier calls', and must not be touched again.
 * msg == NULL for a call that expects a reply means the reply could not be
 * built: the connection is closed, as the reply stream would be out of step.
 * call must still be open (no final reply emitted yet).
 */
void call_emit(struct call *call, enum call_emit kind, char *msg, size_t len);
