/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The kmscancel command-line client, shared between its files:
 *   kmscancel.c   main: options, subcommands, help
 *   cli-keys.c    key lists from arguments, stdin and files
 *   cli-batch.c   many keys pipelined on one connection, output in input
 *                 order, progress line on a terminal
 *   cli-output.c  one key's outcome as human text or as a JSON line
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "kmscancel.h"

/* Exit codes (DESIGN.md §4). */
#define EXIT_ALL_OK      0
#define EXIT_SOME_FAILED 1  /* at least one key failed: KMS error or policy refusal */
#define EXIT_USAGE       2  /* bad command line, or an invalid key ID */
#define EXIT_UNAVAILABLE 69 /* EX_UNAVAILABLE: kmscanceld cannot be reached */

/* Keys read from standard input and files, all told.  Far beyond any real
 * batch, low enough that a runaway pipe fails fast instead of eating memory. */
#define CLI_KEYS_MAX 100000U

/* Calls in flight on the connection at once: enough to keep the daemon's
 * HTTPS pool busy, well under its per-connection cap (128). */
#define CLI_WINDOW 64U

struct cli {
	const char *socket_path; /* NULL: $KMSCANCEL_SOCKET, then the default */
	bool json;
	bool quiet;          /* report failures only; no progress line */
	unsigned timeout_ms; /* 0: the daemon's default */
	bool enable;         /* cancel --enable */
	bool dry_run;        /* cancel --dry-run */
	const char *account; /* --account: bare key IDs' account (12 digits), or NULL */
	const char *region;  /* --region: bare key IDs' region, or NULL: the daemon's */
	bool color_stdout;   /* ANSI colours: a terminal, and NO_COLOR unset (output_color_init) */
	bool color_stderr;
};

/* What is done for each key. */
enum cli_op {
	CLI_OP_CANCEL,
	CLI_OP_DESCRIBE,
	CLI_OP_DRY_RUN, /* CancelKeyDeletion with dryRun: the daemon checks and changes nothing */
};

/* How one key fared; the exit code is the worst of them. */
enum cli_outcome {
	CLI_OUTCOME_OK,
	CLI_OUTCOME_FAILED,  /* exit 1 */
	CLI_OUTCOME_INVALID, /* exit 2 */
};

/* --- cli-keys.c --- */

struct key_list {
	char **keys;
	size_t n, allocated;
};

/* Append a copy of key.  0, -ENOMEM, or -E2BIG past CLI_KEYS_MAX. */
int key_list_add(struct key_list *l, const char *key);

/* Append the keys in f, one per line; blank lines and '#' comments are
 * skipped, surrounding white space is ignored.  0 or a negative errno. */
int key_list_read(struct key_list *l, FILE *f);

void key_list_done(struct key_list *l);

/* --- cli-batch.c --- */

/* Run op for every key in keys on a connection to cli->socket_path, print
 * each outcome in key order, and return the exit code. */
int batch_run(const struct cli *cli, enum cli_op op, const struct key_list *keys);

/* --- cli-output.c --- */

/* Print the outcome of op for key (as the user gave it): success on stdout,
 * failure on stderr, or one JSON line on stdout with --json.  r is
 * borrowed. */
enum cli_outcome output_result(const struct cli *cli, enum cli_op op, const char *key, const kmscancel_result *r);

/* A key rejected locally, before anything was sent. */
enum cli_outcome output_invalid_key(const struct cli *cli, enum cli_op op, const char *key, const char *reason);

/* Decide on colours: only on a terminal, never with $NO_COLOR set and
 * non-empty (no-color.org) or TERM=dumb, never for JSON. */
void output_color_init(struct cli *cli);

/* GetStatus: "field: value" lines, or the reply as one JSON line. */
void output_status(const struct cli *cli, const kmscancel_result *r);

/* "kmscancel: " + the formatted text + newline on stderr, with control
 * characters (which keys and messages from elsewhere might carry) escaped. */
void output_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
