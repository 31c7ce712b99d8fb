/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The Varlink server's listening sockets, before any connection: binding
 * one at a path without ever exposing it with looser permissions or
 * following a symlink someone put there, checking one passed by socket
 * activation, and removing a bound path only while it is still ours.
 * server.c accepts on them.
 */
#include <sys/types.h>

/* A socket path we bound, remembered so that it is removed only while it
 * still names our socket (same device and inode). */
struct bound_path {
	char *path; /* owned; NULL for an adopted socket */
	dev_t dev;
	ino_t ino;
};

/*
 * Bind and listen on a Unix socket at path, as server_listen_path()
 * describes (stale socket removal, mode, group).  On success *ret_fd is the
 * listening, non-blocking socket and *ret_bound its path (a copy, the
 * caller's to free); both untouched on failure.  Errors are logged with the
 * path and the failing step; returns 0 or -errno.
 */
int server_socket_bind(const char *path, mode_t mode, const char *group, int *ret_fd, struct bound_path *ret_bound);

/*
 * Check that fd, passed by a supervisor, is a listening AF_UNIX stream
 * socket, and make it non-blocking.  A refusal is logged, naming what was
 * passed.  0, or -ENOTSOCK, -EAFNOSUPPORT, -ESOCKTNOSUPPORT, -EINVAL (not
 * listening), or what getsockopt() said.
 */
int server_socket_check_inherited(int fd);

/* Unlink b's path, unless someone replaced the socket meanwhile. */
void server_socket_unlink(const struct bound_path *b);
