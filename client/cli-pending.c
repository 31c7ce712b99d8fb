/* SPDX-License-Identifier: MIT */
/*
 * kmscancel pending: the keys pending deletion that kmscanceld lets the
 * caller see, gathered from its stream (ListPendingDeletions), sorted by
 * deletion date (cli-when.c), then printed as
 *  - a table: KEY ARN, STATE, DELETION DATE with the time left, ACCOUNT,
 *    REGION, ALIASES / DESCRIPTION (cut to the terminal's width on one);
 *  - --json: one object per key per line, keyId, keyState, deletionDate,
 *    account and region first, then the daemon's other fields;
 *  - --ids: one key ARN per line, for "kmscancel cancel -".
 * Regions whose scan failed are reported on stderr, and make the exit
 * status 1; the other regions' keys are still printed.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <json-c/json.h>

#include "monotime.h"

/* Redraw the "keys found" line on a terminal at most this often. */
#define PROGRESS_INTERVAL_MS 100U

enum column {
	COL_KEY,
	COL_STATE,
	COL_DATE,
	COL_ACCOUNT,
	COL_REGION,
	COL_NAMES, /* aliases, then the description */
	_COL_MAX,
};

static const char *const column_title[_COL_MAX] = {
    [COL_KEY] = "KEY ARN",     [COL_STATE] = "STATE",   [COL_DATE] = "DELETION DATE",
    [COL_ACCOUNT] = "ACCOUNT", [COL_REGION] = "REGION", [COL_NAMES] = "ALIASES / DESCRIPTION",
};

struct listing {
	const struct cli *cli;
	kmscancel_pending_key **keys;
	size_t n, allocated;
	bool out_of_memory;
	bool progress; /* stderr is a terminal: "N keys found" while scanning */
	bool progress_shown;
	uint64_t progress_last; /* ms, CLOCK_MONOTONIC */
};

/* --- gathering ------------------------------------------------------------------------------------------- */

static void progress_draw(struct listing *l)
{
	uint64_t now = monotime_msec();

	if (!l->progress || (l->progress_last && now - l->progress_last < PROGRESS_INTERVAL_MS))
		return;
	fprintf(stderr, "\r\033[Kscanning: %zu key%s pending deletion so far", l->n, l->n == 1 ? "" : "s");
	l->progress_shown = true;
	l->progress_last = now;
}

static void progress_clear(struct listing *l)
{
	if (l->progress_shown)
		fputs("\r\033[K", stderr);
	l->progress_shown = false;
}

static void key_arrived(kmscancel *h, kmscancel_call *call, kmscancel_pending_key *key, void *userdata)
{
	struct listing *l = userdata;

	if (l->n == l->allocated) {
		size_t a = l->allocated ? l->allocated * 2 : 64;
		kmscancel_pending_key **k = reallocarray(l->keys, a, sizeof(*k));

		if (!k) {
			l->out_of_memory = true;
			kmscancel_pending_key_free(key);
			kmscancel_call_cancel(call);
			return;
		}
		l->keys = k;
		l->allocated = a;
	}
	l->keys[l->n++] = key;
	progress_draw(l);
}

/* --- printing -------------------------------------------------------------------------------------------- */

/* The display width of UTF-8 text: its code points (wide characters are
 * rare in these fields; an exact width is not worth wcwidth here). */
static size_t text_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* "alias/a, alias/b — description" (either part may be missing). */
static char *names_cell(const kmscancel_pending_key *k)
{
	const char *description = kmscancel_pending_key_description(k);
	size_t n = kmscancel_pending_key_alias_count(k);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? ", " : "", kmscancel_pending_key_alias(k, i));
	if (description && *description)
		fprintf(f, "%s%s", n ? " \u2014 " : "", description);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* "2026-12-10T07:00:00Z (in 3d 4h)"; for a multi-Region primary waiting
 * for its replicas, "after replicas, 7-day window". */
static char *date_cell(const kmscancel_pending_key *k, time_t now)
{
	const char *date = kmscancel_pending_key_deletion_date(k);
	int window = kmscancel_pending_key_window_days(k);
	char in[32], *text = NULL;
	time_t t;

	if (date && when_parse(date, &t) == 0) {
		when_format_in(t, now, in, sizeof(in));
		if (asprintf(&text, "%s (%s)", date, in) < 0)
			text = NULL;
	} else if (date) {
		text = strdup(date);
	} else if (window >= 0) {
		if (asprintf(&text, "after replicas, %d-day window", window) < 0)
			text = NULL;
	} else {
		text = strdup("-");
	}
	return text;
}

/* The row of k, each cell escaped (text from the daemon is shown, never
 * obeyed); false without memory. */
static bool row_cells(const kmscancel_pending_key *k, time_t now, char *cells[_COL_MAX])
{
	char *raw[_COL_MAX] = {
	    [COL_KEY] = strdup(kmscancel_pending_key_id(k)),
	    [COL_STATE] = strdup(kmscancel_pending_key_state(k)),
	    [COL_DATE] = date_cell(k, now),
	    [COL_ACCOUNT] = strdup(kmscancel_pending_key_account(k)),
	    [COL_REGION] = strdup(kmscancel_pending_key_region(k)),
	    [COL_NAMES] = names_cell(k),
	};
	bool ok = true;

	for (int c = 0; c < _COL_MAX; c++) {
		cells[c] = raw[c] ? output_escaped_dup(raw[c]) : NULL;
		ok = ok && cells[c];
		free(raw[c]);
	}
	return ok;
}

/* The terminal's width, or 0 when stdout is not a terminal (no cutting). */
static size_t terminal_width(void)
{
	struct winsize w;

	if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) < 0 || w.ws_col == 0)
		return 0;
	return w.ws_col;
}

/* cell padded to width (none for the last column), the last column cut
 * with "…" where the line would pass the terminal's edge. */
static void put_cell(const char *cell, size_t width, bool last, size_t room)
{
	size_t w = text_width(cell);

	if (!last) {
		printf("%s%*s  ", cell, (int)(width - w), "");
		return;
	}
	if (room == 0 || w <= room) {
		fputs(cell, stdout);
		return;
	}
	for (size_t shown = 0; *cell && shown + 1 < room; cell++) {
		shown += ((unsigned char)*cell & 0xc0) != 0x80;
		putchar(*cell);
	}
	/* finish a code point cut in its middle */
	while (((unsigned char)*cell & 0xc0) == 0x80)
		putchar(*cell++);
	fputs("\u2026", stdout);
}

static void print_row(const struct cli *cli, char *cells[_COL_MAX], const size_t width[_COL_MAX], size_t term)
{
	size_t used = 0;

	for (int c = 0; c < _COL_MAX; c++) {
		bool last = c == _COL_MAX - 1;
		size_t room = term > used ? term - used : 1;

		if (c == COL_STATE && cli->color_stdout) {
			/* colour outside the padding */
			output_colored(stdout, true, COLOR_YELLOW, cells[c]);
			printf("%*s  ", (int)(width[c] - text_width(cells[c])), "");
		} else {
			put_cell(cells[c], width[c], last, term ? room : 0);
		}
		used += width[c] + 2;
	}
	putchar('\n');
}

static void print_table(const struct listing *l, time_t now)
{
	char *(*rows)[_COL_MAX] = calloc(l->n, sizeof(*rows));
	size_t width[_COL_MAX], term = terminal_width();
	char *title[_COL_MAX];

	if (!rows) {
		output_error("out of memory");
		return;
	}
	for (int c = 0; c < _COL_MAX; c++) {
		title[c] = (char *)column_title[c];
		width[c] = text_width(column_title[c]);
	}
	for (size_t i = 0; i < l->n; i++) {
		if (!row_cells(l->keys[i], now, rows[i])) {
			output_error("out of memory");
			goto out;
		}
		for (int c = 0; c < _COL_MAX; c++)
			if (text_width(rows[i][c]) > width[c])
				width[c] = text_width(rows[i][c]);
	}
	print_row(&(struct cli){0}, title, width, term);
	for (size_t i = 0; i < l->n; i++)
		print_row(l->cli, rows[i], width, term);
out:
	for (size_t i = 0; i < l->n; i++)
		for (int c = 0; c < _COL_MAX; c++)
			free(rows[i][c]);
	free(rows);
}

/* One JSON line: the five documented fields first, then every other field
 * the daemon sent, under its names. */
static void print_json(const kmscancel_pending_key *k)
{
	static const char *const first[] = {"keyId", "keyState", "deletionDate", "account", "region"};
	struct json_object *key = json_tokener_parse(kmscancel_pending_key_json(k)), *o = json_object_new_object();
	struct json_object *v;

	if (!key || !o) {
		json_object_put(key);
		json_object_put(o);
		output_json_line(NULL);
		return;
	}
	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
		json_object_object_add(o, first[i],
				       json_object_object_get_ex(key, first[i], &v) ? json_object_get(v) : NULL);
	json_object_object_foreach(key, name, value)
	{
		if (!json_object_object_get_ex(o, name, NULL))
			json_object_object_add(o, name, json_object_get(value));
	}
	json_object_put(key);
	output_json_line(o);
}

static void print_keys(const struct listing *l)
{
	if (l->cli->quiet)
		return;
	if (l->cli->json) {
		for (size_t i = 0; i < l->n; i++)
			print_json(l->keys[i]);
	} else if (l->cli->ids) {
		for (size_t i = 0; i < l->n; i++) {
			output_text(stdout, kmscancel_pending_key_id(l->keys[i]));
			putchar('\n');
		}
	} else if (l->n == 0) {
		puts("No key is pending deletion.");
	} else {
		print_table(l, time(NULL));
	}
	fflush(stdout);
}

/* Each failed scan on stderr ("kmscancel: ACCOUNT REGION: Error: message");
 * true if there was one. */
static bool report_scans(const kmscancel_result *r)
{
	bool failed = false;

	for (size_t i = 0; i < kmscancel_result_scan_count(r); i++) {
		const char *error = kmscancel_result_scan_error(r, i), *message = kmscancel_result_scan_message(r, i);

		if (!error && !message)
			continue;
		output_error("%s %s: %s: %s (its keys are not listed)", kmscancel_result_scan_account(r, i),
			     kmscancel_result_scan_region(r, i), error ? error : "Error",
			     message ? message : "the scan failed");
		failed = true;
	}
	return failed;
}

int pending_run(const struct cli *cli)
{
	kmscancel_pending_options o = KMSCANCEL_PENDING_OPTIONS_INIT;
	struct listing l = {.cli = cli};
	kmscancel *h = NULL;
	kmscancel_result *r = NULL;
	kmscancel_error e;
	int code;

	e = kmscancel_open(cli->socket_path, &h);
	if (e != KMSCANCEL_OK) {
		output_error("%s", kmscancel_strerror(e));
		return e == KMSCANCEL_E_INVALID_ARGUMENT ? EXIT_USAGE : EXIT_SOME_FAILED;
	}
	o.timeout_ms = cli->timeout_ms;
	o.account = cli->account;
	o.region = cli->region;
	l.progress = !cli->quiet && isatty(STDERR_FILENO);
	e = kmscancel_list_pending_deletions(h, &o, key_arrived, &l, &r);
	progress_clear(&l);
	when_sort_keys(l.keys, l.n);
	/* What arrived is printed even when the listing broke off. */
	if (e == KMSCANCEL_OK || l.n > 0)
		print_keys(&l);
	if (l.out_of_memory) {
		output_error("out of memory");
		code = EXIT_SOME_FAILED;
	} else if (e == KMSCANCEL_OK) {
		code = report_scans(r) ? EXIT_SOME_FAILED : EXIT_ALL_OK;
	} else {
		output_error("%s%s", r ? kmscancel_result_message(r) : kmscancel_strerror(e),
			     e == KMSCANCEL_E_PERMISSION_DENIED ? " (the policy lets you describe no key)" : "");
		code = e == KMSCANCEL_E_CONNECT ? EXIT_UNAVAILABLE : EXIT_SOME_FAILED;
	}
	kmscancel_result_free(r);
	kmscancel_close(h);
	for (size_t i = 0; i < l.n; i++)
		kmscancel_pending_key_free(l.keys[i]);
	free(l.keys);
	return code;
}
