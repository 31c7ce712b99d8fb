/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The daemon side of Varlink: what a method implementation sees.
 *
 * A connection (conn.c) decodes calls and hands each to its dispatcher,
 * which in the daemon is varlink_service_dispatch() (wired by server.c):
 * it passes the call to the handler registered for its method.  This file
 * knows a call only through call.h (see there for the layering), never the
 * connection behind it.  The handler must complete every call exactly
 * once, now or later, with call_reply() or call_reply_error(); until then the
 * connection keeps the call (and its place in the reply order) alive, even if
 * the peer has gone away, in which case the reply is silently dropped.
 * Replies are sent in the order the calls arrived (pipelining).  For a call
 * flagged "oneway" the reply is dropped too; handlers need not care.
 *
 * org.varlink.service (GetInfo, GetInterfaceDescription) and the standard
 * errors are handled here, not by the handlers.
 *
 * Routing (varlink_service_dispatch): org.varlink.service.* is answered here;
 * a method in the table goes to its handler; an unknown method of an
 * interface that has methods in the table gets
 * org.varlink.service.MethodNotFound {method}; any other interface gets
 * org.varlink.service.InterfaceNotFound {interface}.  A call with "more" to a
 * handler that does not stream is simply answered with one final reply (the
 * Varlink spec allows it; ExpectedMore is for methods that *require* more).
 *
 * Threading: everything runs on the daemon's single libevent loop.
 */
#include <stdbool.h>
#include <sys/types.h>

#include "call.h" /* the call handle: struct peer, call_peer(), call_parameters() ... */

struct json_object;
struct json_writer;

typedef void (*method_handler_fn)(struct call *c, void *userdata);

/* A method table is an array terminated by an entry with name == NULL. */
struct method {
	const char *name; /* fully qualified, "io.kmscancel.CancelKeyDeletion" */
	method_handler_fn handler;
};

/* Standard error names (org.varlink.service, plus systemd's additions). */
#define VARLINK_ERROR_INTERFACE_NOT_FOUND "org.varlink.service.InterfaceNotFound"
#define VARLINK_ERROR_METHOD_NOT_FOUND "org.varlink.service.MethodNotFound"
#define VARLINK_ERROR_METHOD_NOT_IMPLEMENTED "org.varlink.service.MethodNotImplemented"
#define VARLINK_ERROR_INVALID_PARAMETER "org.varlink.service.InvalidParameter"
#define VARLINK_ERROR_PERMISSION_DENIED "org.varlink.service.PermissionDenied"
#define VARLINK_ERROR_EXPECTED_MORE "org.varlink.service.ExpectedMore"

/* The IDL text of io.kmscancel (generated from daemon/io.kmscancel.varlink). */
extern const char kmscancel_interface_description[];

/* Complete the call.  Takes ownership of parameters (NULL means {}).
 * The call must not be touched afterwards.  error must be a valid qualified
 * Varlink error name.  If the reply cannot be formatted (out of memory, or
 * larger than VARLINK_MESSAGE_MAX) the connection is closed, since skipping a
 * reply would pair the client's later replies with the wrong calls. */
void call_reply(struct call *c, struct json_object *parameters);
/* call_reply() with parameters from a finished json_writer (borrowed, so one
 * writer can answer several calls): for replies sent on every call, where
 * json-c's object tree costs more than the rest of the reply. */
void call_reply_written(struct call *c, const struct json_writer *parameters);
void call_reply_error(struct call *c, const char *error, struct json_object *parameters);
/* Shorthands for the standard errors. */
void call_reply_invalid_parameter(struct call *c, const char *parameter);
void call_reply_permission_denied(struct call *c);
void call_reply_method_not_implemented(struct call *c);
/* A reply with "continues": true; the call stays open.  Only when
 * call_wants_more() (otherwise the reply is dropped and an error logged);
 * ends with call_reply()/call_reply_error(). */
void call_reply_more(struct call *c, struct json_object *parameters);

/*
 * Route a freshly decoded call (conn.c calls this once per call): answer
 * org.varlink.service itself, hand the call to its handler from the
 * NULL-terminated methods table, or reply MethodNotFound/InterfaceNotFound.
 */
void varlink_service_dispatch(struct call *c, const struct method *methods, void *userdata);

/* The IDL text of a known interface ("org.varlink.service", "io.kmscancel"),
 * or NULL. */
const char *varlink_service_interface_description(const char *interface);
