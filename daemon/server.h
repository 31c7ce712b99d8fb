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
 * Limits: see server-limits.h.
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

#include "server-limits.h"
#include "varlink-service.h"

struct event_base;
struct server;

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
