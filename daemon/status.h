/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * io.kmscancel.GetStatus: the daemon's state, connections, counters,
 * every account's credentials (never a secret) and the KMS client's
 * pools, in one reply that always fits in a Varlink message.
 */
#include <stdbool.h>

#include "server.h"

struct methods_context;
struct call;

/* What only the daemon knows (methods_context.host_status fills it). */
struct methods_host_status {
	const char *state; /* daemon_state_to_string() */
	long uptime_sec;
	const char *config_file; /* NULL: running on defaults */
	char *const *config_files; /* every file read: the main one, the drop-ins */
	size_t n_config_files;
	bool socket_activated;
	struct server_stats server;
	struct server_limits limits;
	unsigned long fd_limit;    /* ULONG_MAX: none */
	unsigned long fd_reserved; /* for KMS, credentials and the daemon */
	unsigned long reloads, reloads_failed;
};

/* The GetStatus method (methods.c checks its parameters): policy first
 * (the "status" operation; a refusal is audited and counted), then the
 * reply. */
void status_reply(struct methods_context *ctx, struct call *c);
