/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The limits of the Varlink server and what it counts: shared by server.c,
 * which applies the connection limits at accept, and conn.c, which applies
 * the per-connection ones, so that neither header needs the other's.
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
 */
#include <stddef.h>
#include <stdint.h>

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
