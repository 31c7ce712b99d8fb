/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The Varlink listener: owns the listening sockets and every client
 * connection (conn.c), enforces the connection limits, and reports when a
 * drain is complete.
 *
 * Sockets: server_listen_path() binds one itself; server_adopt_fd() takes
 * one that is already listening (socket activation: main finds it with
 * sd_listen_fds_with_names(), name "varlink").  Several may be used at once.
 *
 * Limits (one struct, defaults below; every one applies to what a client
 * controls):
 *   - message size: VARLINK_MESSAGE_MAX (64 KiB, NUL included).  A peer that
 *     sends that many bytes without a NUL is disconnected (no reply: there is
 *     no call to answer, and sd-varlink does the same).
 *   - connections: in total and per uid.  Over a limit, a new connection is
 *     accepted and closed at once (sd-varlink's behaviour), and counted.
 *   - calls in flight per connection: when a connection has that many calls
 *     unanswered, the server stops reading from it until one completes — the
 *     client sees back-pressure, never an error.  This is sd-varlink's
 *     behaviour too (it reads the next call only after answering one).
 *   - calls in flight per uid, over all its connections (abandoned calls of
 *     closed ones included, so hanging up does not free a slot before the
 *     work is done): at the limit, every connection of that uid stops
 *     reading until one of its calls completes.  Back-pressure again, and
 *     other uids' connections are read as before: one user cannot take the
 *     daemon from the others.
 *   - unsent output per connection: reading pauses while a reply backlog of a
 *     message's size waits; past output_max the connection is dropped.  A
 *     write that makes no progress for write_timeout_ms drops it too.
 *   - a partially received message must be completed within
 *     partial_message_timeout_ms, or the connection is closed.
 *   - an idle connection (no call in flight, no reply unsent, no unread
 *     input, neither in our buffer nor in the socket's) is closed after
 *     idle_timeout_ms (0: never), so that idle clients cannot hold
 *     descriptors forever; libkmscancel reconnects transparently.
 *   - descriptors: accept() keeps fd_reserve descriptors free below
 *     RLIMIT_NOFILE for the daemon's own needs (KMS and STS connections,
 *     credential files and credential_process pipes, the journal): a
 *     connection that arrives on a higher descriptor is closed at once and
 *     counted as rejected.
 *
 * Protocol errors (invalid JSON, unknown top-level keys, a bad method name,
 * "upgrade", …): the connection stops reading, answers the calls it had
 * accepted before, then closes — like sd-varlink, which closes on protocol
 * errors, but without losing earlier replies.
 *
 * Peer EOF (the client shut down its write side): calls already received are
 * still answered, then the connection closes.
 *
 * The daemon must ignore SIGPIPE: writes to a vanished peer fail with EPIPE,
 * which closes that connection.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "varlink-service.h"

struct event_base;
struct server;

#define SERVER_CONNECTIONS_MAX            4096U /* as sd-varlink's default */
#define SERVER_CONNECTIONS_PER_UID_MAX    256U
#define SERVER_CALLS_PER_CONNECTION_MAX   128U
#define SERVER_CALLS_PER_UID_MAX          1024U
#define SERVER_OUTPUT_MAX                 (1024U * 1024U) /* unsent bytes before a drop */
#define SERVER_PARTIAL_MESSAGE_TIMEOUT_MS 30000U
#define SERVER_WRITE_TIMEOUT_MS           30000U
#define SERVER_ACCEPT_BACKOFF_MS          1000U /* pause after EMFILE & co, as tmux */
#define SERVER_IDLE_TIMEOUT_MS            60000U /* [Daemon] IdleConnectionTimeoutSec= */

struct server_limits {
	size_t message_max; /* <= VARLINK_MESSAGE_MAX */
	unsigned connections_max;
	unsigned connections_per_uid_max;
	unsigned calls_per_connection_max;
	unsigned calls_per_uid_max; /* 0: the default */
	size_t output_max;
	unsigned partial_message_timeout_ms;
	unsigned write_timeout_ms;
	unsigned accept_backoff_ms;
	unsigned idle_timeout_ms; /* 0: idle connections stay open */
	unsigned fd_reserve;      /* 0: no check (tests, tools) */
};

/* Fill *l with the defaults above. */
void server_limits_init(struct server_limits *l);

struct server_stats {
	unsigned connections;          /* open now */
	unsigned calls_in_flight;      /* dispatched, not yet completed (incl. abandoned) */
	uint64_t connections_total;    /* accepted since start, rejected ones excluded */
	uint64_t connections_rejected; /* closed at accept for a limit */
	uint64_t calls_total;          /* calls dispatched */
	uint64_t error_replies;        /* error replies produced (standard and method errors) */
	uint64_t protocol_errors;      /* connections closed for a protocol violation */
	uint64_t calls_held_back;      /* times a uid at its call limit found a connection wanting to read */
	uint64_t connections_idle_closed; /* closed after idle_timeout_ms with nothing to do */
	uint64_t connections_fd_rejected; /* closed at accept: into the descriptor reserve (also in _rejected) */
};

/*
 * Create a server on base.  limits may be NULL (defaults) and is copied.
 * methods is a table terminated by { NULL, NULL }; it and userdata are
 * borrowed and must outlive the server.  userdata is passed to every handler.
 * Returns 0 or -ENOMEM / -EINVAL.
 */
int server_new(struct event_base *base, const struct server_limits *limits, const struct method *methods,
	       void *userdata, struct server **ret);

/*
 * Close every socket and free every connection and call at once.  Handlers
 * must not touch calls of this server afterwards: complete them (or drain)
 * before.  Unlinks the socket paths this server bound, if they still are
 * our sockets.  NULL-safe; returns NULL.
 */
struct server *server_free(struct server *s);

/*
 * Bind and listen on a Unix socket at path.  A stale socket there (nobody
 * accepting) is removed; a live one gives -EADDRINUSE, a non-socket -EEXIST.
 * The socket is created under a umask that yields mode, then chmod'ed to
 * mode.  group (name or number; NULL or "" to skip) becomes its group; if no
 * such group exists, the socket keeps ours and a warning is logged.
 * Errors are logged with the path and the failing step; returns 0 or -errno.
 */
int server_listen_path(struct server *s, const char *path, mode_t mode, const char *group);

/*
 * Accept connections on fd, an already listening stream socket (from socket
 * activation).  Takes ownership of fd on success only.  Returns -ENOTSOCK /
 * -EINVAL if fd is not a listening stream socket.
 */
int server_adopt_fd(struct server *s, int fd);

/*
 * Begin a drain: stop accepting, stop reading new calls; calls already
 * received are completed and their replies flushed, then each connection
 * closes.  When no connection is left the drained callback runs (from the
 * event loop, never from inside this function).  Idempotent.
 */
void server_stop_accepting(struct server *s);

typedef void (*server_drained_fn)(struct server *s, void *userdata);
void server_set_drained_callback(struct server *s, server_drained_fn fn, void *userdata);
/* True once a drain was requested and no connection is left. */
bool server_is_drained(const struct server *s);

void server_get_stats(const struct server *s, struct server_stats *ret);
/* The limits in force (the defaults filled in). */
void server_get_limits(const struct server *s, struct server_limits *ret);
