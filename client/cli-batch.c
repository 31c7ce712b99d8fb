/* SPDX-License-Identifier: MIT */
/*
 * Many keys on one connection: up to CLI_WINDOW calls are pipelined, outcomes
 * are printed in the order the keys were given as soon as each key's turn
 * comes, and on a terminal a progress line on stderr shows done/total,
 * failures, the rate and the time left (never on a pipe, nor with --quiet).  Keys that are not key IDs or ARNs are reported without being
 * sent.  If the daemon cannot be reached, the run stops with one message and
 * EXIT_UNAVAILABLE.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keyid.h"
#include "monotime.h"

/* Redraw the progress line at most this often. */
#define PROGRESS_INTERVAL_MS 100U

struct batch;

struct item {
	struct batch *batch;
	const char *key;             /* borrowed from the key list */
	const char *invalid;         /* why the key was not sent (static), or NULL */
	kmscancel_result *result;    /* owned; set once the call completed */
	kmscancel_error queue_error; /* the library refused the call (no result) */
	bool done;
};

struct batch {
	const struct cli *cli;
	enum cli_op op;
	kmscancel *h;
	struct item *items;
	size_t n;
	size_t next_queue, next_output, in_flight;
	size_t completed; /* calls answered (or keys refused locally), in any order */
	size_t failed;
	enum cli_outcome worst;
	char *unreachable; /* the connect error's message, once seen */

	bool progress;          /* stderr is a terminal and there is more than one key */
	bool progress_shown;    /* the line is on screen now */
	uint64_t progress_last; /* ms, CLOCK_MONOTONIC */
	uint64_t started;       /* ms, CLOCK_MONOTONIC */
};

/* --- progress ------------------------------------------------------------------------------- */

static void progress_clear(struct batch *b)
{
	if (!b->progress_shown)
		return;
	fputs("\r\033[K", stderr);
	b->progress_shown = false;
}

/* ", 41.3/s, ETA 12s" once there is something to measure: the rate over
 * the whole run so far, which smooths the daemon's rate-limit bursts. */
static void progress_draw_rate(const struct batch *b, uint64_t now)
{
	double elapsed = (double)(now - b->started) / 1000.0, rate, eta;

	if (b->completed == 0 || elapsed < PROGRESS_INTERVAL_MS / 1000.0)
		return;
	rate = (double)b->completed / elapsed;
	eta = (double)(b->n - b->completed) / rate;
	fprintf(stderr, ", %.1f/s, ETA ", rate);
	if (eta >= 3600)
		fprintf(stderr, "%uh%02um", (unsigned)(eta / 3600), (unsigned)(eta / 60) % 60);
	else if (eta >= 60)
		fprintf(stderr, "%um%02us", (unsigned)(eta / 60), (unsigned)eta % 60);
	else
		fprintf(stderr, "%us", (unsigned)(eta + 0.5));
}

/* Redraw at most every PROGRESS_INTERVAL_MS: output lines clear the line
 * before they print, and redrawing after each of them would flicker. */
static void progress_draw(struct batch *b)
{
	uint64_t now;

	if (!b->progress || b->next_output >= b->n)
		return;
	now = monotime_msec();
	if (b->progress_last && now - b->progress_last < PROGRESS_INTERVAL_MS)
		return;
	fflush(stdout);
	fprintf(stderr, "\r\033[K%zu/%zu done", b->completed, b->n);
	if (b->failed)
		fprintf(stderr, ", %zu failed", b->failed);
	progress_draw_rate(b, now);
	b->progress_shown = true;
	b->progress_last = now;
}

/* --- the calls ------------------------------------------------------------------------------- */

static void item_completed(kmscancel *h, kmscancel_call *call, kmscancel_result *result, void *userdata)
{
	struct item *it = userdata;
	struct batch *b = it->batch;

	it->result = result;
	it->done = true;
	b->in_flight--;
	b->completed++;
	if (kmscancel_result_error(result) == KMSCANCEL_E_CONNECT && !b->unreachable)
		b->unreachable = strdup(kmscancel_result_message(result));
}

/* Queue the call for one item; invalid keys complete at once, unsent. */
static void item_queue(struct batch *b, struct item *it)
{
	const char *reason = NULL;
	struct keyid k;
	struct keyid_alias alias;
	kmscancel_error e;

	/* Aliases go to the daemon, which resolves them (DescribeKey). */
	if (keyid_parse(it->key, &k, &reason) < 0 &&
	    keyid_alias_parse(it->key, &alias,
			      strncmp(it->key, "alias/", 6) == 0 || strstr(it->key, ":alias/") ? &reason : NULL) < 0) {
		it->invalid = reason ? reason : "not a key ID or key ARN";
		it->done = true;
		b->completed++;
		return;
	}
	if (b->op == CLI_OP_CANCEL || b->op == CLI_OP_DRY_RUN) {
		kmscancel_cancel_options o = KMSCANCEL_CANCEL_OPTIONS_INIT;

		o.enable_key = b->cli->enable;
		o.dry_run = b->op == CLI_OP_DRY_RUN;
		o.account = b->cli->account;
		o.region = b->cli->region;
		e = kmscancel_cancel_key_deletion_async(b->h, it->key, &o, item_completed, it, NULL);
	} else {
		kmscancel_describe_options o = KMSCANCEL_DESCRIBE_OPTIONS_INIT;

		o.account = b->cli->account;
		o.region = b->cli->region;
		e = kmscancel_describe_key_with_options_async(b->h, it->key, &o, item_completed, it, NULL);
	}
	if (e != KMSCANCEL_OK) {
		/* Not queued, so no callback: the item fails here. */
		it->invalid = NULL;
		it->result = NULL;
		it->done = true;
		it->queue_error = e;
		b->completed++;
		return;
	}
	b->in_flight++;
}

/* Print one finished item and fold its outcome into the exit code. */
static void item_output(struct batch *b, struct item *it)
{
	enum cli_outcome o;

	/* Unreachable: said once at the end, not once per key. */
	if (it->result && kmscancel_result_error(it->result) == KMSCANCEL_E_CONNECT)
		return;
	progress_clear(b);
	if (it->invalid)
		o = output_invalid_key(b->cli, b->op, it->key, it->invalid);
	else if (it->result)
		o = output_result(b->cli, b->op, it->key, it->result);
	else {
		output_error("%s: %s", it->key, kmscancel_strerror(it->queue_error));
		o = CLI_OUTCOME_FAILED;
	}
	if (o != CLI_OUTCOME_OK)
		b->failed++;
	if (o > b->worst)
		b->worst = o;
}

/* Print every finished item whose turn has come. */
static void batch_flush(struct batch *b)
{
	while (b->next_output < b->n && b->items[b->next_output].done) {
		item_output(b, &b->items[b->next_output]);
		b->next_output++;
	}
	fflush(stdout);
}

/* Wait for I/O or a time limit, then let the library run callbacks. */
static void batch_wait(struct batch *b)
{
	struct pollfd p = {.fd = kmscancel_get_fd(b->h), .events = (short)kmscancel_get_events(b->h)};
	int timeout = kmscancel_get_timeout(b->h);

	/* Wake up for the progress line too, so it shows calls that hang. */
	if (b->progress && (timeout < 0 || timeout > (int)PROGRESS_INTERVAL_MS))
		timeout = PROGRESS_INTERVAL_MS;
	if (poll(&p, p.fd >= 0 ? 1 : 0, timeout) < 0 && errno != EINTR)
		output_error("poll: %s", strerror(errno));
	kmscancel_process(b->h);
}

static void batch_loop(struct batch *b)
{
	for (;;) {
		while (!b->unreachable && b->in_flight < CLI_WINDOW && b->next_queue < b->n)
			item_queue(b, &b->items[b->next_queue++]);
		batch_flush(b);
		if (b->next_output >= b->n || (b->unreachable && b->in_flight == 0))
			break;
		progress_draw(b);
		batch_wait(b);
	}
	progress_clear(b);
}

static int batch_exit_code(const struct batch *b)
{
	if (b->unreachable)
		return EXIT_UNAVAILABLE;
	switch (b->worst) {
	case CLI_OUTCOME_OK:
		return EXIT_ALL_OK;
	case CLI_OUTCOME_FAILED:
		return EXIT_SOME_FAILED;
	case CLI_OUTCOME_INVALID:
		return EXIT_USAGE;
	}
	return EXIT_SOME_FAILED;
}

int batch_run(const struct cli *cli, enum cli_op op, const struct key_list *keys)
{
	struct batch b = {.cli = cli, .op = op, .n = keys->n};
	kmscancel_error e;
	int code;

	b.items = calloc(keys->n ? keys->n : 1, sizeof(*b.items));
	if (!b.items) {
		output_error("out of memory");
		return EXIT_SOME_FAILED;
	}
	e = kmscancel_open(cli->socket_path, &b.h);
	if (e != KMSCANCEL_OK) {
		output_error("%s", kmscancel_strerror(e));
		free(b.items);
		return e == KMSCANCEL_E_INVALID_ARGUMENT ? EXIT_USAGE : EXIT_SOME_FAILED;
	}
	kmscancel_set_timeout(b.h, cli->timeout_ms);
	for (size_t i = 0; i < keys->n; i++)
		b.items[i] = (struct item){.key = keys->keys[i], .batch = &b};
	b.progress = keys->n > 1 && !cli->quiet && isatty(STDERR_FILENO);
	b.started = monotime_msec();

	batch_loop(&b);
	if (b.unreachable)
		output_error("%s", b.unreachable);
	code = batch_exit_code(&b);

	kmscancel_close(b.h); /* runs the callbacks of calls still in flight */
	for (size_t i = 0; i < b.n; i++)
		kmscancel_result_free(b.items[i].result);
	free(b.items);
	free(b.unreachable);
	return code;
}
