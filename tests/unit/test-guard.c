/* SPDX-License-Identifier: MIT */
/* The guard (daemon/guard.c, guard-watch.c) without TLS, a server or a
 * network, on the harness of operation-fixture.h: its reads and rescues
 * are internal operations over the fake KMS transport, and a WatchGuard
 * subscriber (a call of root's) records every event.  The reads' timers
 * are real libevent timers on the fixture's base: a test reads where each
 * is due (event_pending) rather than wait for it, and makes a read due now
 * (read_now) instead of waiting an Interval=. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard-internal.h"
#include "guard.h"
#include "operation-fixture.h"

/* A long Interval=: no read comes due by itself during a test, but the
 * first key's (due at once). */
#define INTERVAL_MS (600 * 1000)
/* How far a timer may be from where the test expects it (ms of real time
 * between two evtimer_add calls, or since a read started, on a loaded
 * machine). */
#define SLACK_MS 250

#define ARN2 "arn:aws:kms:us-east-1:" ACCOUNT ":key/00000000-0000-4000-8000-000000000002"

#define PENDING_BODY                                                                                                   \
	"{\"KeyMetadata\":{\"KeyId\":\"" KEY_ID "\",\"Arn\":\"" ARN "\",\"KeyState\":\"PendingDeletion\","             \
	"\"DeletionDate\":1797163200}}"

struct guarded {
	struct fixture *x;
	struct guard *g;
	struct call watch; /* root's WatchGuard */
};

static struct guarded *guarded_new(void)
{
	struct guarded *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->x = fixture_new(CONFIG_ACCOUNT);
	t->g = guard_new(&t->x->ctx);
	assert_non_null(t->g);
	t->x->ctx.guard = t->g;
	call_init(&t->watch, 0, true);
	guard_watch(t->g, &t->watch);
	assert_int_equal(t->watch.n_more, 1); /* the watch is in place */
	assert_string_equal(t->watch.more[0], "{}");
	return t;
}

static void configure(struct guarded *t, const char *const *keys, size_t n, unsigned interval_ms, bool enable)
{
	assert_int_equal(guard_configure(t->g, (char *const *)keys, n, interval_ms, enable), 0);
}

/* As the daemon's exit: the drain, the calls ended, the guard freed. */
static void guarded_free(struct guarded *t)
{
	guard_stop(t->g);
	assert_true(t->watch.done); /* the subscriber's final reply */
	assert_int_equal(operation_shutdown_all(&t->x->ctx), 0);
	t->x->ctx.guard = guard_free(t->g);
	fixture_free(t->x);
	free(t);
}

static struct guard_key *key_named(const struct guard *g, const char *name)
{
	for (struct guard_key *k = g->keys; k; k = k->next)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* When k's next read is due, in ms on the loop's clock, -1 if none is. */
static long long due_at_ms(const struct guard_key *k)
{
	struct timeval when;

	if (!event_pending(k->timer, EV_TIMEOUT, &when))
		return -1;
	return when.tv_sec * 1000LL + when.tv_usec / 1000;
}

/* Milliseconds until k's next read, -1 if none is due. */
static long due_in_ms(const struct guard_key *k)
{
	struct timeval now;

	if (due_at_ms(k) < 0)
		return -1;
	evutil_gettimeofday(&now, NULL);
	return (long)(due_at_ms(k) - (now.tv_sec * 1000LL + now.tv_usec / 1000));
}

/* k is due expect_ms after ref (both timers set by one guard_configure). */
static void assert_due_after(const struct guard_key *k, const struct guard_key *ref, long expect_ms)
{
	long long ms = due_at_ms(k) - due_at_ms(ref);

	assert_true(due_at_ms(k) >= 0 && due_at_ms(ref) >= 0);
	if (ms < expect_ms - SLACK_MS || ms > expect_ms + SLACK_MS)
		fail_msg("%s due %lld ms after %s, not about %ld", k->name, ms, ref->name, expect_ms);
}

/* k is due about an interval from now (its read just started): later
 * than the slack of a loaded machine before it, never after it. */
static void assert_due_interval(const struct guard_key *k, long interval_ms)
{
	long ms = due_in_ms(k);

	if (ms < interval_ms - 10 * SLACK_MS || ms > interval_ms + SLACK_MS)
		fail_msg("%s due in %ld ms, not about %ld", k->name, ms, interval_ms);
}

/* k's read, now rather than at its time. */
static void read_now(struct guard_key *k)
{
	event_active(k->timer, EV_TIMEOUT, 1);
}

/* Until k's read (and its rescue) ended with the guard's counters at
 * checks reads. */
static void wait_checked(struct guarded *t, struct guard_key *k, unsigned long checks)
{
	int64_t since = now_us();

	while (t->g->checks < checks || k->state != GUARD_KEY_WAITING)
		turn(t->x, since);
}

/* k's read now, until it ended (the checks-th of the guard). */
static void read_again(struct guarded *t, struct guard_key *k, unsigned long checks)
{
	read_now(k);
	wait_checked(t, k, checks);
}

/* The subscriber's i-th event (0: the first after the watch was set). */
static const char *event_at(const struct guarded *t, unsigned i)
{
	assert_true(i + 1 < t->watch.n_more);
	return t->watch.more[i + 1];
}

static unsigned n_events(const struct guarded *t)
{
	return t->watch.n_more - 1;
}

static void assert_event_has(const struct guarded *t, unsigned i, const char *fragment)
{
	if (!strstr(event_at(t, i), fragment))
		fail_msg("event %u %s lacks %s", i, event_at(t, i), fragment);
}

/* Whether request i names key. */
static bool sent_with_key(const struct guarded *t, size_t i, const char *key)
{
	assert_true(i < t->x->f.n_seen);
	return strstr(t->x->f.seen[i].body, key) != NULL;
}

/* ---- the schedule ------------------------------------------------------------------------ */

/* The reads spread over Interval=: the i-th of n keys is first due i/n of
 * it from now; then each key every Interval= from its read's start. */
static void test_schedule_spread(void **state)
{
	static const char *const keys[] = {"alias/a", "alias/b", "alias/c", "alias/d"};
	struct guarded *t = guarded_new();

	(void)state;
	configure(t, keys, 4, INTERVAL_MS, false);
	assert_int_equal(t->g->n_keys, 4);
	assert_int_equal(t->g->interval_ms, INTERVAL_MS);
	for (unsigned i = 1; i < 4; i++)
		assert_due_after(key_named(t->g, keys[i]), key_named(t->g, keys[0]), (long)INTERVAL_MS * i / 4);
	assert_true(guard_active(t->g));
	/* the first key's read comes by itself, due at once (the loop waits
	 * at most WAIT_LIMIT_US for it), and puts its next one an interval
	 * after it; the others keep their places */
	script(t->x, HTTP(400, "AccessDeniedException"));
	wait_checked(t, key_named(t->g, keys[0]), 1);
	assert_int_equal(t->x->f.n_seen, 1);
	assert_true(sent_with_key(t, 0, "alias/a"));
	assert_due_interval(key_named(t->g, keys[0]), INTERVAL_MS);
	for (unsigned i = 2; i < 4; i++)
		assert_due_after(key_named(t->g, keys[i]), key_named(t->g, keys[1]), (long)INTERVAL_MS * (i - 1) / 4);
	guarded_free(t);
}

/* The DescribeKey budget: GUARD_MAX_DESCRIBE_RATE reads a second at most,
 * so many keys stretch a short Interval=. */
static void test_budget_raises_interval(void **state)
{
	enum { N = 1000 };
	static char names[N][64];
	static const char *keys[N];
	struct guarded *t = guarded_new();
	const unsigned floor_ms = N * 1000 / GUARD_MAX_DESCRIBE_RATE;

	(void)state;
	assert_int_equal(guard_interval_ms(60000, 10), 60000);
	assert_int_equal(guard_interval_ms(1000, N), floor_ms);
	assert_int_equal(guard_interval_ms(floor_ms + 1, N), floor_ms + 1);
	for (unsigned i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "alias/key-%u", i);
		keys[i] = names[i];
	}
	configure(t, keys, N, 1000, false);
	assert_int_equal(t->g->interval_ms, floor_ms);
	assert_due_after(key_named(t->g, keys[N / 2]), key_named(t->g, keys[0]), floor_ms / 2);
	assert_due_after(key_named(t->g, keys[N - 1]), key_named(t->g, keys[0]), (long)floor_ms * (N - 1) / N);
	guarded_free(t);
}

/* ---- rescue -------------------------------------------------------------------------------- */

/* A key read Enabled, then found PendingDeletion, is rescued through the
 * operation path (CancelKeyDeletion) and, with enable, enabled again. */
static void rescue_case(bool enable, const char *first_state, bool expect_enable)
{
	static const char *const keys[] = {ARN};
	struct guarded *t = guarded_new();
	struct guard_key *k;
	char body[256];

	snprintf(body, sizeof(body),
		 "{\"KeyMetadata\":{\"KeyId\":\"" KEY_ID "\",\"Arn\":\"" ARN "\",\"KeyState\":\"%s\"}}", first_state);
	script(t->x, http_body(200, body));
	script(t->x, http_body(200, PENDING_BODY));
	script(t->x, OK200); /* CancelKeyDeletion */
	if (expect_enable)
		script(t->x, http_body(200, "{}")); /* EnableKey */
	configure(t, keys, 1, INTERVAL_MS, enable);
	k = key_named(t->g, ARN);
	wait_checked(t, k, 1);
	assert_int_equal(t->x->f.n_seen, 1);
	assert_int_equal(n_events(t), 0);
	read_again(t, k, 2);

	assert_int_equal(t->x->f.n_seen, expect_enable ? 4 : 3);
	assert_sent(t->x, 0, "DescribeKey");
	assert_sent(t->x, 1, "DescribeKey");
	assert_sent(t->x, 2, "CancelKeyDeletion");
	if (expect_enable)
		assert_sent(t->x, 3, "EnableKey");
	/* the operation's own path, as a caller's cancel */
	assert_true(t->x->n_trace > 0);
	assert_int_equal(t->g->rescues, 1);
	assert_int_equal(t->g->failures, 0);
	assert_string_equal(t->g->last_rescue_key, ARN);
	assert_int_equal(n_events(t), expect_enable ? 2 : 1);
	assert_event_has(t, 0, "\"event\":\"rescued\"");
	assert_event_has(t, 0, "\"keyId\":\"" ARN "\"");
	assert_event_has(t, 0, "\"deletionDate\":\"2026-12-13T12:00:00Z\"");
	assert_event_has(t, 0, "\"keyState\":\"Disabled\"");
	assert_event_has(t, 0, "\"requestIds\":[\"req-2\",\"req-3\"]");
	if (expect_enable) {
		assert_event_has(t, 1, "\"event\":\"enabled\"");
		assert_event_has(t, 1, "\"keyState\":\"Enabled\"");
		assert_event_has(t, 1, "\"requestIds\":[\"req-4\"]");
	}
	assert_false(guard_rescuing(t->g));
	assert_counts(t->x, 0, 0, KMSCANCEL_OK); /* the guard is no caller */
	guarded_free(t);
}

static void test_rescue_and_enable(void **state)
{
	(void)state;
	rescue_case(true, "Enabled", true);
}

/* Enable=yes, but the key was Disabled when last read: left Disabled. */
static void test_rescue_was_disabled(void **state)
{
	(void)state;
	rescue_case(true, "Disabled", false);
}

/* Enable=no: left Disabled, whatever it was. */
static void test_rescue_enable_off(void **state)
{
	(void)state;
	rescue_case(false, "Enabled", false);
}

/* A cancel that fails: rescueFailed, and the next read tries again. */
static void test_rescue_fails(void **state)
{
	static const char *const keys[] = {ARN};
	struct guarded *t = guarded_new();
	struct guard_key *k;

	(void)state;
	script(t->x, http_body(200, PENDING_BODY));
	script(t->x, HTTP(400, "AccessDeniedException"));
	script(t->x, http_body(200, PENDING_BODY));
	script(t->x, OK200);
	configure(t, keys, 1, INTERVAL_MS, false);
	k = key_named(t->g, ARN);
	wait_checked(t, k, 1);
	assert_int_equal(t->g->failures, 1);
	assert_int_equal(t->g->rescues, 0);
	assert_event_has(t, 0, "\"event\":\"rescueFailed\"");
	assert_event_has(t, 0, "\"error\":\"AccessDeniedException\"");
	read_again(t, k, 2);
	assert_int_equal(t->g->rescues, 1);
	assert_int_equal(n_events(t), 2);
	assert_event_has(t, 1, "\"event\":\"rescued\"");
	guarded_free(t);
}

/* ---- unreadable ---------------------------------------------------------------------------- */

/* A key that cannot be read is told once per spell, and once when it can
 * be read again; the count GetStatus shows follows. */
static void test_unreadable_spells(void **state)
{
	static const char *const keys[] = {ARN};
	/* each read's answer, and after it: keys unreadable, events told */
	static const struct {
		bool readable;
		unsigned unreadable, events;
	} reads[] = {
	    {false, 1, 1},                /* unreadable */
	    {false, 1, 1},                /* the same spell: not told again */
	    {true, 0, 2},                 /* readable */
	    {true, 0, 2},  {false, 1, 3}, /* a new spell */
	};
	struct guarded *t = guarded_new();
	struct guard_key *k;

	(void)state;
	for (size_t i = 0; i < 5; i++)
		script(t->x, reads[i].readable ? DESCRIBED("Enabled") : HTTP(400, "AccessDeniedException"));
	configure(t, keys, 1, INTERVAL_MS, false);
	k = key_named(t->g, ARN);
	for (unsigned i = 0; i < 5; i++) {
		if (i == 0)
			wait_checked(t, k, 1); /* due at once */
		else
			read_again(t, k, i + 1);
		assert_int_equal(t->g->n_unreadable, reads[i].unreadable);
		assert_int_equal(n_events(t), reads[i].events);
	}
	assert_event_has(t, 0, "\"event\":\"unreadable\"");
	assert_event_has(t, 0, "\"error\":\"AccessDeniedException\"");
	assert_event_has(t, 1, "\"event\":\"readable\"");
	assert_event_has(t, 1, "\"keyState\":\"Enabled\"");
	assert_event_has(t, 2, "\"event\":\"unreadable\"");
	assert_int_equal(t->g->checks, 5);
	guarded_free(t);
}

/* ---- reload, stop ---------------------------------------------------------------------------- */

/* A reload that drops a key being rescued: the rescue finishes (and is
 * told), the key is not read again; the key kept is read as before. */
static void test_reload_drops_key(void **state)
{
	static const char *const both[] = {ARN, ARN2}, *const second[] = {ARN2};
	struct answer silence = {.kind = ANSWER_SILENCE};
	struct guarded *t = guarded_new();
	struct guard_key *k, *k2;
	int64_t since;

	(void)state;
	script(t->x, http_body(200, PENDING_BODY));
	script(t->x, silence); /* the CancelKeyDeletion, in flight at the reload */
	configure(t, both, 2, INTERVAL_MS, false);
	k = key_named(t->g, ARN);
	k2 = key_named(t->g, ARN2);
	wait_sent(t->x, 2);
	assert_sent(t->x, 1, "CancelKeyDeletion");
	assert_true(guard_rescuing(t->g));

	configure(t, second, 1, INTERVAL_MS, false);
	assert_int_equal(t->g->n_keys, 1);
	assert_ptr_equal(key_named(t->g, ARN2), k2); /* kept, not made anew */
	assert_null(key_named(t->g, ARN));
	assert_ptr_equal(t->g->dropped, k);
	assert_true(k->dropped);
	assert_int_equal(due_in_ms(k), -1); /* never read again */
	assert_true(guard_rescuing(t->g));

	script(t->x, DESCRIBED("Enabled")); /* the kept key's read, due at once now */
	fake_release(&t->x->f, 1, OK200);
	since = now_us();
	while (t->g->dropped)
		turn(t->x, since);
	assert_int_equal(t->g->rescues, 1);
	assert_event_has(t, 0, "\"event\":\"rescued\"");
	assert_false(guard_rescuing(t->g));

	wait_checked(t, k2, 2);
	assert_int_equal(t->x->f.n_seen, 3);
	assert_true(sent_with_key(t, 2, ARN2));
	guarded_free(t);
}

/* The drain: nothing new is read or rescued, a read in flight finishes
 * without a rescue, subscribers get their final reply. */
static void test_stop(void **state)
{
	static const char *const keys[] = {ARN, ARN2};
	struct answer silence = {.kind = ANSWER_SILENCE};
	struct guarded *t = guarded_new();
	struct guard_key *k;
	int64_t since;

	(void)state;
	script(t->x, silence);
	configure(t, keys, 2, INTERVAL_MS, false);
	k = key_named(t->g, ARN);
	wait_sent(t->x, 1);
	guard_stop(t->g);
	assert_true(t->watch.done);
	assert_string_equal(t->watch.error, "");
	assert_false(guard_active(t->g));
	assert_int_equal(due_in_ms(key_named(t->g, ARN2)), -1);
	fake_release(&t->x->f, 0, http_body(200, PENDING_BODY));
	since = now_us();
	while (k->state != GUARD_KEY_WAITING)
		turn(t->x, since);
	for (int i = 0; i < 20; i++)
		event_base_loop(t->x->base, EVLOOP_NONBLOCK);
	assert_int_equal(t->x->f.n_seen, 1); /* no CancelKeyDeletion */
	assert_false(guard_rescuing(t->g));
	read_now(k);
	event_base_loop(t->x->base, EVLOOP_NONBLOCK);
	assert_int_equal(t->x->f.n_seen, 1);
	guarded_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_schedule_spread),
	    cmocka_unit_test(test_budget_raises_interval),
	    cmocka_unit_test(test_rescue_and_enable),
	    cmocka_unit_test(test_rescue_was_disabled),
	    cmocka_unit_test(test_rescue_enable_off),
	    cmocka_unit_test(test_rescue_fails),
	    cmocka_unit_test(test_unreadable_spells),
	    cmocka_unit_test(test_reload_drops_key),
	    cmocka_unit_test(test_stop),
	};

	return fixture_run_tests("test-guard", tests, sizeof(tests) / sizeof(tests[0]));
}
