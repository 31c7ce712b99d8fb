/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * File descriptors: what the daemon may open, and what it needs.
 *
 * Every client connection costs a descriptor, and so does every KMS and STS
 * connection, every credential file read and every credential_process pipe.
 * If clients could take them all, the daemon could no longer reach KMS or
 * fetch credentials: a local user would lock everyone out.  So:
 *
 *  - at start the soft RLIMIT_NOFILE is raised to the hard one (as systemd's
 *    own daemons do; systemd leaves services a soft limit of 1024 and a hard
 *    one of 524288 unless the unit says otherwise, and ours sets
 *    LimitNOFILE=);
 *  - the budget below must fit in that limit: client connections
 *    (MaxConnections=), the KMS pools ([KMS] MaxPools= × MaxConnections=),
 *    FD_BUDGET_PER_CREDENTIALS per credential cache (the default one and
 *    each [Account N]) and FD_BUDGET_DAEMON for the rest (stdio, listening
 *    socket, event loop, DNS, journal, sd_notify, NSS, configuration and CA
 *    files, /proc reads);
 *  - the server keeps everything but the client connections in reserve:
 *    accept() never hands a client one of those descriptors (server.h).
 *
 * When the budget does not fit: if MaxConnections= is not set, the default
 * (4096) is lowered to what fits, with a notice: the daemon should start out
 * of the box wherever it runs.  If it is set, or if even the lowered value
 * would be below FD_BUDGET_MIN_CONNECTIONS, the configuration is refused (at
 * start, by --check-config and by a reload), with a message naming the
 * limits to lower or the LimitNOFILE= to set: an explicit limit the system
 * cannot honour is a mistake an operator wants to hear about, not a
 * surprise under load.
 */
#include <stdbool.h>

struct daemon_config;

#define FD_BUDGET_DAEMON          64U
#define FD_BUDGET_PER_CREDENTIALS 4U /* a credential_process: two pipes, both ends while it starts */
#define FD_BUDGET_MIN_CONNECTIONS 16U

struct fd_budget {
	unsigned long limit;          /* the soft RLIMIT_NOFILE it was made for */
	unsigned connections;         /* client connections, lowered if clamped */
	unsigned connections_per_uid; /* per user, at most connections */
	unsigned long kms;            /* KMS pools × their size */
	unsigned long credentials;    /* credential caches × FD_BUDGET_PER_CREDENTIALS */
	unsigned long daemon;         /* FD_BUDGET_DAEMON */
	bool clamped;                 /* connections lowered from the default to fit */
};

/* Raises the soft RLIMIT_NOFILE to the hard limit.  Returns the soft limit
 * in force afterwards and puts the one before in *ret_old (ULONG_MAX:
 * unlimited); the caller logs them once its log level is set. */
unsigned long fd_limit_raise(unsigned long *ret_old);

/* The soft (hard == false) or hard RLIMIT_NOFILE; ULONG_MAX: unlimited. */
unsigned long fd_limit_get(bool hard);

/* Descriptors open in this process now (from /proc/self/fd), or -1. */
long fd_count_open(void);

/*
 * The budget of c under limit.  Returns 0 with *ret filled (clamped set
 * when the default connection limit was lowered), or -EMFILE with
 * *ret_error (malloc'ed) saying which limits to lower or which
 * LimitNOFILE= to set, or -ENOMEM.
 */
int fd_budget_compute(const struct daemon_config *c, unsigned long limit, struct fd_budget *ret, char **ret_error);

/* Everything but the client connections: what accept() must leave free. */
unsigned long fd_budget_reserve(const struct fd_budget *b);
