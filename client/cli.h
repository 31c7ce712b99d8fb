/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The kmscancel command-line client, shared between its files:
 *   kmscancel.c   main: options, subcommands, help
 *   cli-keys.c    key lists from arguments, stdin and files
 *   cli-batch.c   many keys pipelined on one connection, output in input
 *                 order, progress line on a terminal
 *   cli-output.c  one key's outcome as human text or as a JSON line
 *   cli-pending.c the pending command: keys pending deletion, as a table,
 *                 JSON lines or key ARNs
 *   cli-when.c    deletion dates: RFC 3339, "in 3d 4h", keys in date order
 *   cli-guard.c   the guard command: its status, or its events as they come
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "kmscancel.h"

struct json_object;

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
	bool ids;            /* pending --ids */
	bool watch;          /* guard --watch */
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

/* GetStatus's guard member (g, borrowed): its counters, then its last
 * rescue if any; in status's "Label:" column when labelled (kmscancel
 * status), else bare (kmscancel guard). */
void output_guard(struct json_object *g, bool labelled);

/* "kmscancel: " + the formatted text + newline on stderr, with control
 * characters (which keys and messages from elsewhere might carry) escaped. */
void output_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* SGR sequences for output_colored(). */
#define COLOR_GREEN  "\033[32m"
#define COLOR_YELLOW "\033[33m"
#define COLOR_RED    "\033[1;31m"
#define COLOR_RESET  "\033[0m"

/* s on f with control characters escaped (as every text from the daemon is
 * printed); NULL prints nothing. */
void output_text(FILE *f, const char *s);

/* s escaped as output_text() prints it, malloc'ed; NULL without memory. */
char *output_escaped_dup(const char *s);

/* word on f, in color when on. */
void output_colored(FILE *f, bool on, const char *color, const char *word);

/* One JSON object on a line of stdout, as --json prints them.  Consumes o
 * (NULL: "out of memory" on stderr). */
void output_json_line(struct json_object *o);

/* --- cli-pending.c --- */

/* kmscancel pending: list, sort and print; returns the exit code. */
int pending_run(const struct cli *cli);

/* --- cli-when.c --- */

/* An RFC 3339 time ("2026-12-10T07:00:00Z", fractions and a numeric offset
 * allowed) as seconds since the epoch.  0, or -EINVAL (*ret untouched). */
int when_parse(const char *s, time_t *ret);

/* How long until date, seen at now: "in 3d 4h", "in 5h 12m", "in 7m",
 * "in <1m", or "due now" once it has passed.  Truncated, never rounded up. */
void when_format_in(time_t date, time_t now, char *buf, size_t size);

/* Sort keys by deletion date, the earliest first; keys without a date
 * (multi-Region primaries waiting for their replicas) after them; ties by
 * account, region and key ARN. */
void when_sort_keys(kmscancel_pending_key **keys, size_t n);

/* --- cli-guard.c --- */

/* kmscancel guard [--watch]: the guard's counters, or its events until
 * SIGINT/SIGTERM (exit 0) or the daemon ends the watch. */
int guard_run(const struct cli *cli);
