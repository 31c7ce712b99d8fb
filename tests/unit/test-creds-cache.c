/* SPDX-License-Identifier: MIT */
/*
 * The credentials cache: single-flight fetches, serving from cache while a
 * refresh runs, refresh ahead of expiry, failures and backoff, expiry,
 * ExpiredTokenException, IMDS static stability, status without secrets.
 * The fetch and the wall clock are injected; nothing touches the network.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "creds-cache.h"
#include "creds.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define T0     1900000000

static time_t fake_now = T0;
static time_t clock_now(void)
{
	return fake_now;
}

/* The fake source: what the next fetch answers, and how. */
struct fake {
	unsigned starts;
	bool async;        /* answer later, via fake_complete() */
	int result;        /* 0 or -errno */
	time_t expiration; /* of the credentials handed out */
	const char *source;
	char akid[32];
	struct creds_fetch fetch; /* the pending one */
	bool pending;
	void (*done)(int, struct aws_credentials *, const char *, void *);
	void *done_userdata;
};
static struct fake fake;

static void fake_cancel(struct creds_fetch *f)
{
	fake.pending = false;
}

static struct aws_credentials *fake_credentials(void)
{
	struct aws_credentials *c = NULL;

	snprintf(fake.akid, sizeof(fake.akid), "AKIDFAKE%04u", fake.starts);
	assert_int_equal(aws_credentials_new(fake.akid, SECRET, "TOKEN-SECRET", fake.expiration, fake.source, NULL, &c),
			 0);
	return c;
}

static int fake_fetch(void *ud, void (*done)(int, struct aws_credentials *, const char *, void *), void *userdata,
		      struct aws_credentials **ret, struct creds_fetch **ret_fetch, char **ret_error)
{
	fake.starts++;
	if (fake.async) {
		fake.pending = true;
		fake.fetch.cancel = fake_cancel;
		fake.done = done;
		fake.done_userdata = userdata;
		*ret_fetch = &fake.fetch;
		return -EINPROGRESS;
	}
	if (fake.result < 0) {
		*ret_error = strdup("fake source: HTTP 500 Internal Server Error");
		return fake.result;
	}
	*ret = fake_credentials();
	return 0;
}

/* Ends the pending async fetch with the configured result. */
static void fake_complete(void)
{
	assert_true(fake.pending);
	fake.pending = false;
	if (fake.result < 0)
		fake.done(fake.result, NULL, "fake source: connect: connection refused", fake.done_userdata);
	else
		fake.done(0, fake_credentials(), NULL, fake.done_userdata);
}

struct got {
	unsigned ok, failed;
	char last_akid[32];
	char last_error[512];
};

static void got_cb(int r, struct aws_credentials *c, const char *error, void *userdata)
{
	struct got *g = userdata;

	if (r == 0) {
		g->ok++;
		snprintf(g->last_akid, sizeof(g->last_akid), "%s", c->access_key_id);
	} else {
		g->failed++;
		snprintf(g->last_error, sizeof(g->last_error), "%s", error);
		assert_null(strstr(error, SECRET));
	}
}

static struct event_base *base;

static struct creds_cache *cache_new(void)
{
	struct creds_cache_options o = {
	    .name = "test",
	    .base = base,
	    .fetch = fake_fetch,
	    .now = clock_now,
	};
	struct creds_cache *c = NULL;

	assert_int_equal(creds_cache_new(&o, &c), 0);
	return c;
}

static int setup(void **state)
{
	memset(&fake, 0, sizeof(fake));
	fake.source = "container";
	fake.expiration = T0 + 3600;
	fake_now = T0;
	base = event_base_new();
	return base ? 0 : -1;
}

static int teardown(void **state)
{
	event_base_free(base);
	return 0;
}

static void test_waiters_share_one_fetch(void **state)
{
	struct creds_cache *c;
	struct got g = {0};

	fake.async = true;
	c = cache_new();
	assert_int_equal(fake.starts, 1);
	for (int i = 0; i < 200; i++)
		assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_int_equal(g.ok + g.failed, 0); /* all wait */
	assert_int_equal(fake.starts, 1);
	fake_complete();
	assert_int_equal(g.ok, 200);
	assert_int_equal(fake.starts, 1);
	creds_cache_free(c);
}

static void test_served_from_cache_while_refreshing(void **state)
{
	struct creds_cache_status st;
	struct creds_cache *c;
	struct got g = {0};

	c = cache_new(); /* synchronous source */
	assert_int_equal(fake.starts, 1);
	creds_cache_get_status(c, &st);
	assert_int_equal(st.state, CREDS_CACHE_VALID);
	/* The refresh is due 10–15 minutes before expiry. */
	assert_true(st.next_refresh >= T0 + 3600 - 900 && st.next_refresh <= T0 + 3600 - 600);

	/* Before that: served at once, no fetch. */
	fake_now = T0 + 1000;
	assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_int_equal(g.ok, 1);
	assert_int_equal(fake.starts, 1);

	/* Refresh due (the timer is late): one background fetch; every
	 * request meanwhile is served at once with the current set. */
	fake.async = true;
	fake_now = T0 + 3600 - 500;
	for (int i = 0; i < 200; i++)
		assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_int_equal(g.ok, 201);
	assert_int_equal(fake.starts, 2);
	assert_string_equal(g.last_akid, "AKIDFAKE0001");
	creds_cache_get_status(c, &st);
	assert_int_equal(st.state, CREDS_CACHE_REFRESHING);
	fake.expiration = T0 + 7200;
	fake_complete();
	assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_string_equal(g.last_akid, "AKIDFAKE0002");
	creds_cache_free(c);
}

static void test_short_lifetime_refreshes_at_half(void **state)
{
	struct creds_cache_status st;
	struct creds_cache *c;

	fake.expiration = T0 + 8;
	c = cache_new();
	creds_cache_get_status(c, &st);
	assert_int_equal(st.next_refresh, T0 + 4);
	creds_cache_free(c);
}

static void test_failed_refresh_keeps_old_then_fails_fast(void **state)
{
	struct creds_cache_status st;
	struct creds_cache *c;
	struct got g = {0};

	c = cache_new();
	fake.result = -EIO;
	fake_now = T0 + 3600 - 500;
	assert_int_equal(creds_cache_get(c, got_cb, &g), 0); /* triggers the refresh, which fails */
	assert_int_equal(g.ok, 1);
	assert_int_equal(fake.starts, 2);
	creds_cache_get_status(c, &st);
	assert_int_equal(st.state, CREDS_CACHE_STALE);
	assert_non_null(st.last_error);
	assert_true(st.next_refresh > 0);
	assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_int_equal(g.ok, 2);

	/* Past expiry: fail fast, naming the source and the cause; no new
	 * fetch per request (the retry timer owns that). */
	fake_now = T0 + 3600;
	for (int i = 0; i < 200; i++)
		assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_int_equal(g.failed, 200);
	assert_int_equal(fake.starts, 2);
	assert_non_null(strstr(g.last_error, "credentials from container expired at"));
	assert_non_null(strstr(g.last_error, "HTTP 500"));
	creds_cache_free(c);
}

static void test_expiry_moment_one_fetch(void **state)
{
	struct creds_cache *c;
	struct got g = {0};

	c = cache_new();
	fake.async = true;
	fake_now = T0 + 3600; /* expired; no refresh ran (timer starved) */
	for (int i = 0; i < 200; i++)
		assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_int_equal(fake.starts, 2);
	assert_int_equal(g.ok + g.failed, 0);
	fake.expiration = T0 + 7200;
	fake_complete();
	assert_int_equal(g.ok, 200);
	assert_int_equal(fake.starts, 2);
	creds_cache_free(c);
}

static void test_expired_token_one_refresh(void **state)
{
	struct creds_cache *c;
	struct aws_credentials *bad;
	struct got g = {0};

	c = cache_new();
	bad = aws_credentials_ref(creds_cache_peek(c));
	fake.async = true;
	for (int i = 0; i < 200; i++) {
		creds_cache_expired(c, bad);
		assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	}
	assert_int_equal(fake.starts, 2);
	assert_int_equal(g.ok, 0);
	fake_complete();
	assert_int_equal(g.ok, 200);
	assert_string_equal(g.last_akid, "AKIDFAKE0002");
	/* A late report about the old set changes nothing. */
	creds_cache_expired(c, bad);
	assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_int_equal(g.ok, 201);
	assert_int_equal(fake.starts, 2);
	aws_credentials_unref(bad);
	creds_cache_free(c);
}

static void test_first_fetch_fails(void **state)
{
	struct creds_cache_status st;
	struct creds_cache *c;
	struct got g = {0};

	fake.result = -EIO;
	c = cache_new();
	assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_int_equal(g.failed, 1);
	assert_non_null(strstr(g.last_error, "fake source: HTTP 500"));
	creds_cache_get_status(c, &st);
	assert_int_equal(st.state, CREDS_CACHE_FAILED);
	assert_int_equal(st.failures, 1);
	assert_int_equal(fake.starts, 1);
	creds_cache_free(c);
}

static void test_imds_static_stability(void **state)
{
	struct creds_cache *c;
	struct got g = {0};

	fake.source = CREDS_SOURCE_IMDS;
	c = cache_new();
	fake.result = -EIO;
	fake_now = T0 + 3600; /* expired, IMDS down */
	fake.async = true;
	assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_int_equal(g.ok, 0);
	fake_complete();
	/* Extended rather than failed. */
	assert_int_equal(g.ok, 1);
	assert_string_equal(g.last_akid, "AKIDFAKE0001");
	fake_now = T0 + 3600 + 200;
	assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_int_equal(g.ok, 2);
	creds_cache_free(c);

	/* A set IMDS hands out already expired is used for a while. */
	fake.async = false;
	fake.result = 0;
	fake.expiration = T0 - 10;
	fake_now = T0;
	c = cache_new();
	assert_non_null(creds_cache_peek(c));
	creds_cache_free(c);
}

static void test_already_expired_refused(void **state)
{
	struct creds_cache *c;
	struct got g = {0};

	fake.expiration = T0 - 10;
	c = cache_new();
	assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_int_equal(g.failed, 1);
	assert_non_null(strstr(g.last_error, "already expired"));
	creds_cache_free(c);
}

static void test_free_answers_waiters(void **state)
{
	struct creds_cache *c;
	struct got g = {0};

	fake.async = true;
	c = cache_new();
	assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	creds_cache_free(c);
	assert_int_equal(g.failed, 1);
	assert_false(fake.pending);
}

static void test_status_without_secrets(void **state)
{
	struct creds_cache_status st;
	struct creds_cache *c;

	c = cache_new();
	creds_cache_get_status(c, &st);
	assert_string_equal(st.key_id_suffix, "0001");
	assert_string_equal(st.source, "container");
	assert_int_equal(st.expiration, T0 + 3600);
	assert_string_equal(creds_cache_state_to_string(st.state), "valid");
	creds_cache_free(c);
}

static void test_reload_fetches_again(void **state)
{
	struct creds_cache *c;
	struct got g = {0};

	c = cache_new();
	fake.async = true;
	assert_int_equal(creds_cache_reload(c, NULL), 0);
	assert_int_equal(fake.starts, 2);
	/* Still served while the reload's fetch runs. */
	assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_int_equal(g.ok, 1);
	fake_complete();
	assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	assert_string_equal(g.last_akid, "AKIDFAKE0002");
	creds_cache_free(c);
}

/* A request that gives up (its operation answered at shutdown) is never
 * called back; the others still are. */
static void test_cancel_withdraws_one_waiter(void **state)
{
	struct creds_cache *c;
	struct got first = {0}, gone = {0}, last_gone = {0}, later = {0};

	fake.async = true;
	c = cache_new();
	assert_int_equal(creds_cache_get(c, got_cb, &first), 0);
	assert_int_equal(creds_cache_get(c, got_cb, &gone), 0);
	assert_int_equal(creds_cache_get(c, got_cb, &last_gone), 0);
	creds_cache_cancel(c, got_cb, &gone);
	creds_cache_cancel(c, got_cb, &last_gone); /* the tail of the list */
	creds_cache_cancel(c, got_cb, &gone);      /* no longer waits: nothing */
	creds_cache_cancel(NULL, got_cb, &gone);
	assert_int_equal(creds_cache_get(c, got_cb, &later), 0); /* queued after the new tail */
	fake_complete();
	assert_int_equal(gone.ok + gone.failed + last_gone.ok + last_gone.failed, 0);
	assert_int_equal(first.ok, 1);
	assert_int_equal(later.ok, 1);
	creds_cache_free(c);
}

/* A cache closed by a reload tells its waiters why. */
static void test_close_says_why(void **state)
{
	struct creds_cache *c;
	struct got g = {0};

	fake.async = true;
	c = cache_new();
	assert_int_equal(creds_cache_get(c, got_cb, &g), 0);
	creds_cache_close(c, "the [Account 1] section went away");
	assert_int_equal(g.failed, 1);
	assert_string_equal(g.last_error, "the [Account 1] section went away");
	assert_false(fake.pending);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_waiters_share_one_fetch),
	    T(test_served_from_cache_while_refreshing),
	    T(test_short_lifetime_refreshes_at_half),
	    T(test_failed_refresh_keeps_old_then_fails_fast),
	    T(test_expiry_moment_one_fetch),
	    T(test_expired_token_one_refresh),
	    T(test_first_fetch_fails),
	    T(test_imds_static_stability),
	    T(test_already_expired_refused),
	    T(test_free_answers_waiters),
	    T(test_status_without_secrets),
	    T(test_reload_fetches_again),
	    T(test_cancel_withdraws_one_waiter),
	    T(test_close_says_why),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
