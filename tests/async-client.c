/* SPDX-License-Identifier: MIT */
/*
 * libkmscancel's asynchronous API under real event loops, against the real
 * daemon (driven by tests/integration/async.sh):
 *
 *   async-client --loop poll|libevent SOCKET pipeline KEYFILE
 *	every key of KEYFILE as CancelKeyDeletion at once on one handle, then
 *	every key as DescribeKey at once: each callback gets its own key's
 *	answer, in call order, all on one connection
 *   async-client --loop ... SOCKET cancel KEY OTHER-KEY
 *	cancel KEY (the fake holds the reply), cancel the call mid-flight:
 *	KMSCANCEL_E_CANCELED at once; then DescribeKey(OTHER-KEY) on the same
 *	connection gets its own answer
 *   async-client --loop ... SOCKET killed KEY MARKER
 *	cancel KEY, create MARKER once the request is written (the script
 *	then kills the daemon): a clean KMSCANCEL_E_DISCONNECTED, no hang;
 *	the next call is KMSCANCEL_E_CONNECT
 *   async-client --loop ... SOCKET stream KEY
 *	ListPendingDeletions in full: every key with its fields, then the
 *	scans; again, cancelled from its first key's callback with a
 *	DescribeKey(KEY) queued behind it: no key after the cancel, the
 *	connection hung up, the DescribeKey answered on a new one
 *
 * Prints "ok: …" / "FAIL: …" lines on stderr; exits 0 if all were ok, 1 if
 * not, 2 on usage errors, 3 if a loop hung past its deadline.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kmscancel.h"

/* No test step may take longer than this: a hang is a failure. */
#define STEP_DEADLINE_MS 15000
#define KEYS_MAX         1000

struct item {
	const char *key;
	size_t index;
	bool done;
	size_t order; /* completion rank */
	kmscancel_error error;
	char *key_id, *key_state, *error_name, *message;
	kmscancel_call *call;
};

struct test {
	kmscancel *h;
	bool use_libevent;
	struct event_base *base;
	struct event *ev;
	size_t completed;
	int failures;
};

static void check(struct test *t, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(struct test *t, bool ok, const char *fmt, ...)
{
	va_list ap;

	fputs(ok ? "ok: " : "FAIL: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (!ok)
		t->failures++;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void item_clear(struct item *it)
{
	free(it->key_id);
	free(it->key_state);
	free(it->error_name);
	free(it->message);
	*it = (struct item){.key = it->key, .index = it->index};
}

/* The completion callback: record the outcome, keep nothing of r. */
static void completed(kmscancel *h, kmscancel_call *call, kmscancel_result *r, void *userdata)
{
	struct item *it = userdata;

	it->done = true;
	it->error = kmscancel_result_error(r);
	it->key_id = dup_or_null(kmscancel_result_key_id(r));
	it->key_state = dup_or_null(kmscancel_result_key_state(r));
	it->error_name = dup_or_null(kmscancel_result_error_name(r));
	it->message = dup_or_null(kmscancel_result_message(r));
	it->call = NULL;
	kmscancel_result_free(r);
}

/* --- the loops: run until stop(arg) or until ms have passed -------------------------- */

typedef bool (*stop_fn)(const struct test *t, const void *arg);

/* poll(2): the fd and events the library asks for, its timeout. */
static void run_poll(struct test *t, stop_fn stop, const void *arg, long long until)
{
	while (!stop(t, arg) && now_ms() < until) {
		struct pollfd p = {.fd = kmscancel_get_fd(t->h), .events = (short)kmscancel_get_events(t->h)};
		int timeout = kmscancel_get_timeout(t->h);
		long long left = until - now_ms();

		if (timeout < 0 || timeout > left)
			timeout = (int)(left > 0 ? left : 0);
		if (poll(&p, p.fd >= 0 ? 1 : 0, timeout) < 0 && errno != EINTR)
			return;
		kmscancel_process(t->h);
	}
}

/* libevent: one event, re-armed after every kmscancel_process() with the
 * fd, events and timeout the library wants then (a pure timer while not
 * connected). */
static void arm(struct test *t);

static void on_event(evutil_socket_t fd, short what, void *userdata)
{
	struct test *t = userdata;

	kmscancel_process(t->h);
	arm(t);
}

static void arm(struct test *t)
{
	int fd = kmscancel_get_fd(t->h), events = kmscancel_get_events(t->h), timeout = kmscancel_get_timeout(t->h);
	short what = (short)((events & POLLIN ? EV_READ : 0) | (events & POLLOUT ? EV_WRITE : 0));
	struct timeval tv;

	event_del(t->ev);
	event_assign(t->ev, t->base, fd >= 0 ? fd : -1, fd >= 0 ? what : 0, on_event, t);
	tv.tv_sec = timeout / 1000;
	tv.tv_usec = (timeout % 1000) * 1000;
	event_add(t->ev, timeout >= 0 ? &tv : NULL);
}

static void run_libevent(struct test *t, stop_fn stop, const void *arg, long long until)
{
	arm(t); /* calls were made since the last run */
	while (!stop(t, arg) && now_ms() < until) {
		struct timeval slice = {0, 20 * 1000}; /* to look at stop() */

		event_base_loopexit(t->base, &slice);
		event_base_dispatch(t->base);
	}
}

static void run(struct test *t, stop_fn stop, const void *arg, long long ms)
{
	long long until = now_ms() + ms;

	if (t->use_libevent)
		run_libevent(t, stop, arg, until);
	else
		run_poll(t, stop, arg, until);
}

static bool never(const struct test *t, const void *arg)
{
	return false;
}

struct items {
	struct item *v;
	size_t n;
};

static bool all_done(const struct test *t, const void *arg)
{
	const struct items *items = arg;

	for (size_t i = 0; i < items->n; i++)
		if (!items->v[i].done)
			return false;
	return true;
}

static bool request_written(const struct test *t, const void *arg)
{
	return kmscancel_get_fd(t->h) >= 0 && !(kmscancel_get_events(t->h) & POLLOUT);
}

/* Run until every item completed; a hang fails the whole program. */
static void run_until_done(struct test *t, struct items *items, const char *what)
{
	long long start = now_ms();

	run(t, all_done, items, STEP_DEADLINE_MS);
	if (!all_done(t, items)) {
		check(t, false, "%s: hung for %d ms", what, STEP_DEADLINE_MS);
		exit(3);
	}
	check(t, true, "%s: all %zu callbacks ran, in %lld ms", what, items->n, now_ms() - start);
}

/* --- the scenarios ------------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = s ? strlen(s) : 0, b = strlen(suffix);

	return s && a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Each item answered OK, for its own key, in state, in call order. */
static void check_answers(struct test *t, struct items *items, const char *what, const char *state)
{
	size_t ok = 0, own = 0, in_order = 0, in_state = 0;

	for (size_t i = 0; i < items->n; i++) {
		const struct item *it = &items->v[i];

		ok += it->error == KMSCANCEL_OK;
		own += ends_with(it->key_id, it->key);
		in_order += it->order == i;
		in_state += it->key_state && strcmp(it->key_state, state) == 0;
		if (it->error != KMSCANCEL_OK)
			fprintf(stderr, "  %s: %s: %s\n", it->key, it->error_name, it->message);
	}
	check(t, ok == items->n, "%s: %zu/%zu succeeded", what, ok, items->n);
	check(t, own == items->n, "%s: %zu/%zu answers name their own key", what, own, items->n);
	check(t, in_order == items->n, "%s: %zu/%zu completed in call order", what, in_order, items->n);
	check(t, in_state == items->n, "%s: %zu/%zu are %s", what, in_state, items->n, state);
}

/* Completion rank of the pipelined calls (the callback's userdata is the
 * item, which knows no test). */
static size_t g_order_next;

static void completed_ordered(kmscancel *h, kmscancel_call *call, kmscancel_result *r, void *userdata)
{
	struct item *it = userdata;

	it->order = g_order_next++;
	completed(h, call, r, userdata);
}

static int scenario_pipeline(struct test *t, const char *file)
{
	struct items items = {calloc(KEYS_MAX, sizeof(struct item)), 0};
	char *line = NULL;
	size_t size = 0;
	FILE *f = fopen(file, "re");
	int fd;

	if (!f || !items.v)
		return 2;
	while (getline(&line, &size, f) > 0 && items.n < KEYS_MAX) {
		line[strcspn(line, "\r\n")] = '\0';
		if (*line)
			items.v[items.n] = (struct item){.key = strdup(line), .index = items.n}, items.n++;
	}
	free(line);
	fclose(f);

	/* All at once: nothing is written before the loop runs. */
	g_order_next = 0;
	for (size_t i = 0; i < items.n; i++)
		if (kmscancel_cancel_key_deletion_async(t->h, items.v[i].key, NULL, completed_ordered, &items.v[i], NULL) !=
		    KMSCANCEL_OK)
			check(t, false, "queueing cancel %zu", i);
	check(t, kmscancel_get_pending(t->h) == items.n, "%zu calls pending at once", kmscancel_get_pending(t->h));
	fd = kmscancel_get_fd(t->h);
	run_until_done(t, &items, "pipelined cancels");
	check_answers(t, &items, "pipelined cancels", "Disabled");
	check(t, kmscancel_get_fd(t->h) == fd && fd >= 0, "one connection for all of them");

	for (size_t i = 0; i < items.n; i++)
		item_clear(&items.v[i]);
	g_order_next = 0;
	for (size_t i = 0; i < items.n; i++)
		kmscancel_describe_key_async(t->h, items.v[i].key, completed_ordered, &items.v[i], NULL);
	run_until_done(t, &items, "pipelined describes");
	check_answers(t, &items, "pipelined describes", "Disabled");
	check(t, kmscancel_get_fd(t->h) == fd, "still the same connection");
	check(t, kmscancel_get_pending(t->h) == 0, "nothing pending afterwards");

	for (size_t i = 0; i < items.n; i++) {
		item_clear(&items.v[i]);
		free((char *)items.v[i].key);
	}
	free(items.v);
	return 0;
}

static int scenario_cancel(struct test *t, const char *key, const char *other)
{
	struct item first = {.key = key}, second = {.key = other};
	struct items one = {&first, 1}, two = {&second, 1};
	kmscancel_call *call = NULL;
	long long start;
	int fd;

	kmscancel_cancel_key_deletion_async(t->h, key, NULL, completed, &first, &call);
	first.call = call;
	run(t, never, NULL, 300); /* sent; the fake holds the answer */
	fd = kmscancel_get_fd(t->h);
	check(t, !first.done, "the held call is still in flight after 300 ms");
	start = now_ms();
	kmscancel_call_cancel(first.call);
	check(t, !first.done, "the callback does not run from kmscancel_call_cancel()");
	run_until_done(t, &one, "cancelled mid-flight");
	check(t, first.error == KMSCANCEL_E_CANCELED, "its outcome is KMSCANCEL_E_CANCELED (%s)",
	      first.error_name ? first.error_name : "OK");
	check(t, now_ms() - start < 1000, "at once: %lld ms", now_ms() - start);

	/* The connection stays usable: the late reply to the cancelled call
	 * is absorbed, the next call gets its own answer. */
	kmscancel_describe_key_async(t->h, other, completed, &second, NULL);
	run_until_done(t, &two, "the next call on the same handle");
	check(t, second.error == KMSCANCEL_OK && ends_with(second.key_id, other), "it gets its own answer (%s, %s)",
	      second.key_id ? second.key_id : "-", second.error_name ? second.error_name : "OK");
	check(t, kmscancel_get_fd(t->h) == fd, "on the same connection");
	item_clear(&first);
	item_clear(&second);
	return 0;
}

static int scenario_killed(struct test *t, const char *key, const char *marker)
{
	struct item first = {.key = key}, second = {.key = key};
	struct items one = {&first, 1}, two = {&second, 1};
	int fd;

	kmscancel_cancel_key_deletion_async(t->h, key, NULL, completed, &first, NULL);
	run(t, request_written, NULL, STEP_DEADLINE_MS);
	check(t, request_written(t, NULL), "the request is written");
	fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600); /* the script kills the daemon now */
	if (fd >= 0)
		close(fd);
	run_until_done(t, &one, "the daemon killed mid-call");
	check(t, first.error == KMSCANCEL_E_DISCONNECTED, "a clean error: %s: %s",
	      first.error_name ? first.error_name : "OK", first.message ? first.message : "");
	check(t, kmscancel_get_fd(t->h) < 0, "the handle is disconnected");

	kmscancel_cancel_key_deletion_async(t->h, key, NULL, completed, &second, NULL);
	run_until_done(t, &two, "a call after the daemon died");
	check(t, second.error == KMSCANCEL_E_CONNECT, "it is KMSCANCEL_E_CONNECT: %s",
	      second.message ? second.message : "");
	item_clear(&first);
	item_clear(&second);
	return 0;
}

/* ListPendingDeletions: the keys seen, whether one came after the
 * completion, and whether to cancel from the first key's callback. */
struct listing {
	struct item done;
	size_t n_keys;
	bool fields_ok;
	bool key_after_done;
	bool cancel_at_first;
};

static void listed_key(kmscancel *h, kmscancel_call *call, kmscancel_pending_key *k, void *userdata)
{
	struct listing *l = userdata;
	const char *state = kmscancel_pending_key_state(k);

	l->key_after_done = l->key_after_done || l->done.done;
	l->n_keys++;
	l->fields_ok = l->fields_ok && strncmp(kmscancel_pending_key_id(k), "arn:aws:kms:", 12) == 0 &&
		       (strcmp(state, "PendingDeletion") == 0 || strcmp(state, "PendingReplicaDeletion") == 0) &&
		       kmscancel_pending_key_account(k) && kmscancel_pending_key_region(k);
	kmscancel_pending_key_free(k);
	if (l->cancel_at_first)
		kmscancel_call_cancel(call);
}

static void listed(kmscancel *h, kmscancel_call *call, kmscancel_result *r, void *userdata)
{
	struct listing *l = userdata;
	size_t failed = 0;

	for (size_t i = 0; i < kmscancel_result_scan_count(r); i++)
		failed += kmscancel_result_scan_error(r, i) != NULL;
	fprintf(stderr, "listing: %zu keys, %zu scans, %zu failed\n", l->n_keys, kmscancel_result_scan_count(r),
		failed);
	completed(h, call, r, &l->done);
}

static int scenario_stream(struct test *t, const char *key)
{
	struct listing full = {.fields_ok = true}, cut = {.fields_ok = true, .cancel_at_first = true};
	struct item after = {.key = key};
	struct items one = {&full.done, 1}, two = {&cut.done, 1}, three = {&after, 1};
	struct stat before = {0}, now = {0};

	check(t, kmscancel_list_pending_deletions_async(t->h, NULL, listed_key, listed, &full, NULL) == KMSCANCEL_OK,
	      "ListPendingDeletions queued");
	run_until_done(t, &one, "a whole listing");
	check(t, full.done.error == KMSCANCEL_OK, "it ends OK (%s)",
	      full.done.error_name ? full.done.error_name : "OK");
	check(t, full.n_keys >= 100 && full.fields_ok, "%zu keys, each with its ARN, state, account and region",
	      full.n_keys);
	check(t, !full.key_after_done, "no key after the completion");
	check(t, fstat(kmscancel_get_fd(t->h), &before) == 0, "the connection stays open for the next call");

	kmscancel_list_pending_deletions_async(t->h, NULL, listed_key, listed, &cut, NULL);
	kmscancel_describe_key_async(t->h, key, completed, &after, NULL);
	run_until_done(t, &two, "a listing cancelled at its first key");
	check(t, cut.done.error == KMSCANCEL_E_CANCELED && cut.n_keys == 1, "CANCELED, one key handed out (%zu)",
	      cut.n_keys);
	run_until_done(t, &three, "the call queued behind it");
	check(t, after.error == KMSCANCEL_OK && ends_with(after.key_id, key), "it gets its own answer (%s)",
	      after.error_name ? after.error_name : "OK");
	/* A new socket (its descriptor number may be the old one's). */
	check(t, fstat(kmscancel_get_fd(t->h), &now) == 0 && now.st_ino != before.st_ino, "on a new connection");
	check(t, kmscancel_get_pending(t->h) == 0, "nothing pending afterwards");
	item_clear(&full.done);
	item_clear(&cut.done);
	item_clear(&after);
	return 0;
}

int main(int argc, char **argv)
{
	struct test t = {0};
	const char *scenario;
	int r = 2;

	if (argc < 5 || strcmp(argv[1], "--loop") != 0 ||
	    (strcmp(argv[2], "poll") != 0 && strcmp(argv[2], "libevent") != 0)) {
		fprintf(stderr,
			"usage: %s --loop poll|libevent SOCKET pipeline FILE | cancel KEY OTHER | killed KEY MARKER | "
			"stream KEY\n",
			argv[0]);
		return 2;
	}
	t.use_libevent = strcmp(argv[2], "libevent") == 0;
	if (t.use_libevent) {
		t.base = event_base_new();
		t.ev = t.base ? event_new(t.base, -1, 0, on_event, &t) : NULL;
		if (!t.ev)
			return 2;
	}
	if (kmscancel_open(argv[3], &t.h) != KMSCANCEL_OK)
		return 2;
	scenario = argv[4];
	if (strcmp(scenario, "pipeline") == 0 && argc == 6)
		r = scenario_pipeline(&t, argv[5]);
	else if (strcmp(scenario, "cancel") == 0 && argc == 7)
		r = scenario_cancel(&t, argv[5], argv[6]);
	else if (strcmp(scenario, "killed") == 0 && argc == 7)
		r = scenario_killed(&t, argv[5], argv[6]);
	else if (strcmp(scenario, "stream") == 0 && argc == 6)
		r = scenario_stream(&t, argv[5]);
	kmscancel_close(t.h);
	if (t.ev)
		event_free(t.ev);
	if (t.base)
		event_base_free(t.base);
	if (r != 0)
		return r;
	return t.failures ? 1 : 0;
}
