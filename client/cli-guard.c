/* SPDX-License-Identifier: MIT */
/*
 * kmscancel guard: the daemon's guard of keys that must never be deleted.
 *  - guard: its counters (GetStatus "guard": keys, checks, rescues,
 *    failures, unreadable, the last rescue);
 *  - guard --watch: its events (WatchGuard), one line each as they come,
 *    or with --json the event object; until SIGINT or SIGTERM (exit 0), or
 *    until the daemon ends the watch.
 * The watch is driven with the asynchronous API and ppoll(), with SIGINT
 * and SIGTERM blocked but there, so that a signal can never slip in
 * between the look at the flag and the wait.
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
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

struct watch {
	const struct cli *cli;
	bool done;
	kmscancel_result *result; /* the watch's outcome, once done */
};

/* --- one event --------------------------------------------------------------------------------------------- */

/* The event name's colour: what was done in green, what went wrong in red. */
static const char *event_color(const char *name)
{
	if (strcmp(name, "rescued") == 0 || strcmp(name, "enabled") == 0 || strcmp(name, "readable") == 0)
		return COLOR_GREEN;
	return COLOR_RED;
}

/* "; " between the details in parentheses, "(" before the first. */
static void detail_sep(bool *first)
{
	fputs(*first ? " (" : "; ", stdout);
	*first = false;
}

static void detail(bool *first, const char *label, const char *value)
{
	if (!value)
		return;
	detail_sep(first);
	fputs(label, stdout);
	output_text(stdout, value);
}

/* "TIME  EVENT  KEY (guarded as K; account A, region R; deletion was due D;
 * now STATE; requests X, Y; Error: message)". */
static void print_event(const struct cli *cli, const kmscancel_guard_event *e)
{
	const char *key = kmscancel_guard_event_key(e), *arn = kmscancel_guard_event_key_id(e);
	const char *error = kmscancel_guard_event_error(e), *message = kmscancel_guard_event_message(e);
	char *name = output_escaped_dup(kmscancel_guard_event_name(e));
	bool first = true;

	output_text(stdout, kmscancel_guard_event_time(e));
	fputs("  ", stdout);
	output_colored(stdout, cli->color_stdout, event_color(kmscancel_guard_event_name(e)), name ? name : "?");
	fputs("  ", stdout);
	output_text(stdout, arn ? arn : key);
	if (arn && strcmp(arn, key) != 0)
		detail(&first, "guarded as ", key);
	detail(&first, "account ", kmscancel_guard_event_account(e));
	detail(&first, "region ", kmscancel_guard_event_region(e));
	detail(&first, "deletion was due ", kmscancel_guard_event_deletion_date(e));
	detail(&first, "now ", kmscancel_guard_event_key_state(e));
	for (size_t i = 0; i < kmscancel_guard_event_request_id_count(e); i++) {
		if (i == 0)
			detail(&first, "requests ", kmscancel_guard_event_request_id(e, i));
		else {
			fputs(", ", stdout);
			output_text(stdout, kmscancel_guard_event_request_id(e, i));
		}
	}
	if (error || message) {
		detail_sep(&first);
		output_colored(stdout, cli->color_stdout, COLOR_RED, error ? error : "Error");
		fputs(": ", stdout);
		output_text(stdout, message ? message : "");
	}
	puts(first ? "" : ")");
	free(name);
}

static void event_arrived(kmscancel *h, kmscancel_call *call, kmscancel_guard_event *e, void *userdata)
{
	struct watch *w = userdata;

	if (!e) {
		/* The watch is in place: say so, where a person or a test
		 * waits for it. */
		if (!w->cli->quiet) {
			fflush(stdout);
			fputs("kmscancel: watching kmscanceld's guard; Ctrl-C stops\n", stderr);
		}
		return;
	}
	if (w->cli->json)
		output_json_line(json_tokener_parse(kmscancel_guard_event_json(e)));
	else
		print_event(w->cli, e);
	fflush(stdout);
	kmscancel_guard_event_free(e);
}

static void watch_ended(kmscancel *h, kmscancel_call *call, kmscancel_result *result, void *userdata)
{
	struct watch *w = userdata;

	w->done = true;
	w->result = result;
}

/* --- the watch --------------------------------------------------------------------------------------------- */

/* SIGINT and SIGTERM set stop_signal and are blocked; *ret_old is the mask
 * to wait with. */
static void signals_catch(sigset_t *ret_old)
{
	struct sigaction sa = {.sa_handler = on_stop_signal};
	sigset_t block;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, ret_old);
}

/* Drive h until the watch ends or a signal asks to stop. */
static void watch_loop(kmscancel *h, struct watch *w, kmscancel_call *call, const sigset_t *wait_mask)
{
	while (!w->done) {
		struct pollfd p = {.fd = kmscancel_get_fd(h), .events = (short)kmscancel_get_events(h)};
		int timeout = kmscancel_get_timeout(h);
		struct timespec ts = {.tv_sec = timeout / 1000, .tv_nsec = (long)(timeout % 1000) * 1000000L};

		if (stop_signal) {
			kmscancel_call_cancel(call);
			kmscancel_process(h);
			break;
		}
		if (ppoll(&p, p.fd >= 0 ? 1 : 0, timeout < 0 ? NULL : &ts, wait_mask) < 0 && errno != EINTR) {
			output_error("poll: %s", strerror(errno));
			kmscancel_call_cancel(call);
		}
		kmscancel_process(h);
	}
}

static int watch_exit_code(const struct watch *w)
{
	kmscancel_error e = w->result ? kmscancel_result_error(w->result) : KMSCANCEL_E_CANCELED;

	if (stop_signal && e == KMSCANCEL_E_CANCELED)
		return EXIT_ALL_OK;
	if (e == KMSCANCEL_OK) {
		if (!w->cli->quiet)
			output_error("kmscanceld ended the watch (it is stopping)");
		return EXIT_ALL_OK;
	}
	output_error("%s", w->result ? kmscancel_result_message(w->result) : kmscancel_strerror(e));
	return e == KMSCANCEL_E_CONNECT ? EXIT_UNAVAILABLE : EXIT_SOME_FAILED;
}

static int guard_watch(const struct cli *cli, kmscancel *h)
{
	struct watch w = {.cli = cli};
	kmscancel_call *call = NULL;
	sigset_t wait_mask;
	kmscancel_error e;
	int code;

	signals_catch(&wait_mask);
	e = kmscancel_watch_guard_async(h, NULL, event_arrived, watch_ended, &w, &call);
	if (e != KMSCANCEL_OK) {
		output_error("%s", kmscancel_strerror(e));
		return EXIT_SOME_FAILED;
	}
	watch_loop(h, &w, call, &wait_mask);
	code = watch_exit_code(&w);
	kmscancel_result_free(w.result);
	return code;
}

/* --- the counters ------------------------------------------------------------------------------------------ */

static void print_guard(const struct cli *cli, struct json_object *g)
{
	if (cli->json) {
		output_json_line(json_object_get(g));
		return;
	}
	output_guard(g, false);
}

static int guard_status(const struct cli *cli, kmscancel *h)
{
	kmscancel_result *r = NULL;
	struct json_object *o, *g;
	kmscancel_error e = kmscancel_get_status(h, &r);
	int code = EXIT_ALL_OK;

	if (e != KMSCANCEL_OK) {
		output_error("%s", r ? kmscancel_result_message(r) : kmscancel_strerror(e));
		kmscancel_result_free(r);
		return e == KMSCANCEL_E_CONNECT ? EXIT_UNAVAILABLE : EXIT_SOME_FAILED;
	}
	o = json_tokener_parse(kmscancel_result_json(r));
	if (o && json_object_object_get_ex(o, "guard", &g) && json_object_is_type(g, json_type_object)) {
		if (!cli->quiet)
			print_guard(cli, g);
	} else {
		output_error("kmscanceld reports no guard (no [Guard] Keys=, or a kmscanceld without one)");
		code = EXIT_SOME_FAILED;
	}
	json_object_put(o);
	kmscancel_result_free(r);
	return code;
}

int guard_run(const struct cli *cli)
{
	kmscancel *h = NULL;
	kmscancel_error e = kmscancel_open(cli->socket_path, &h);
	int code;

	if (e != KMSCANCEL_OK) {
		output_error("%s", kmscancel_strerror(e));
		return e == KMSCANCEL_E_INVALID_ARGUMENT ? EXIT_USAGE : EXIT_SOME_FAILED;
	}
	kmscancel_set_timeout(h, cli->timeout_ms);
	code = cli->watch ? guard_watch(cli, h) : guard_status(cli, h);
	kmscancel_close(h);
	return code;
}
