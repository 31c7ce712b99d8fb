/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The daemon side of Varlink: what a method implementation sees.
 *
 * A connection (conn.c) decodes calls and hands each to the handler
 * registered for its method.  The handler must complete every call exactly
 * once, now or later, with call_reply() or call_reply_error(); until then the
 * connection keeps the call (and its place in the reply order) alive, even if
 * the peer has gone away, in which case the reply is silently dropped.
 * Replies are sent in the order the calls arrived (pipelining).  For a call
 * flagged "oneway" the reply is dropped too; handlers need not care.
 *
 * org.varlink.service (GetInfo, GetInterfaceDescription) and the standard
 * errors are handled here, not by the handlers.
 */
#include <stdbool.h>
#include <sys/types.h>

struct json_object;
struct call;

/* Who is on the other end, from SO_PEERCRED at accept time. */
struct peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char comm[17]; /* /proc/PID/comm at accept, informational only */
};

typedef void (*method_handler_fn)(struct call *c, void *userdata);

struct method {
	const char *name; /* fully qualified, "io.kmscancel.CancelKeyDeletion" */
	method_handler_fn handler;
};

/* The IDL text of io.kmscancel (generated from daemon/io.kmscancel.varlink). */
extern const char kmscancel_interface_description[];

const struct peer *call_peer(const struct call *c);
const char *call_method(const struct call *c);
/* Borrowed; never NULL (an absent or null "parameters" is an empty object). */
struct json_object *call_parameters(const struct call *c);
bool call_is_oneway(const struct call *c);
bool call_wants_more(const struct call *c);
/* True once the peer is gone: the reply will be dropped. */
bool call_is_abandoned(const struct call *c);

/* Complete the call.  Takes ownership of parameters (NULL means {}).
 * The call must not be touched afterwards. */
void call_reply(struct call *c, struct json_object *parameters);
void call_reply_error(struct call *c, const char *error, struct json_object *parameters);
/* Shorthands for the standard errors. */
void call_reply_invalid_parameter(struct call *c, const char *parameter);
void call_reply_permission_denied(struct call *c);
/* A reply with "continues": true; the call stays open.  Only when
 * call_wants_more(); ends with call_reply()/call_reply_error(). */
void call_reply_more(struct call *c, struct json_object *parameters);
