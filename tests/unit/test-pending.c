/* SPDX-License-Identifier: MIT */
/* ListPendingDeletions (daemon/pending.c) without TLS, a server or a
 * network, on the harness of operation-fixture.h: "KMS" answers each
 * ListAliases, ListKeys and DescribeKey as the test scripts it, in order,
 * and the test reads every streamed key, the final reply, what was sent
 * and what was abandoned.  The scan's deadline and hang-up poll are real
 * timers (100 ms); the request deadlines read the fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operation-fixture.h"

#define REGION2 "us-west-2"
/* Two regions for the default credentials' account. */
#define CONFIG_TWO_REGIONS "[AWS]\nAccount=" ACCOUNT "\nRegion=us-east-1\nRegions=us-east-1 " REGION2 "\n"

/* ---- "KMS"'s answers ------------------------------------------------------------------ */

/* Answer bodies, alive until the next test's start. */
static char texts[64][8192];
static size_t n_texts;

static const char *text(const char *format, ...) __attribute__((format(printf, 1, 2)));

static const char *text(const char *format, ...)
{
	va_list ap;
	char *t;

	assert_true(n_texts < sizeof(texts) / sizeof(texts[0]));
	t = texts[n_texts++];
	va_start(ap, format);
	vsnprintf(t, sizeof(texts[0]), format, ap);
	va_end(ap);
	return t;
}

/* Key n's ID (its ARN: arn:aws:kms:REGION:ACCOUNT:key/ID). */
#define KEY_FORMAT "00000000-0000-4000-8000-%012u"

static struct answer body_answer(const char *body)
{
	struct answer a = HTTP(200, NULL);

	a.body = body;
	return a;
}

/* A ListKeys page of keys first … first+n-1; marker: the NextMarker of a
 * truncated page, NULL for the last. */
static struct answer keys_page(const char *region, unsigned first, unsigned n, const char *marker)
{
	char list[7000] = "";
	size_t used = 0;

	for (unsigned i = first; i < first + n; i++)
		used += snprintf(list + used, sizeof(list) - used,
				 "%s{\"KeyId\":\"" KEY_FORMAT "\",\"KeyArn\":\"arn:aws:kms:%s:" ACCOUNT
				 ":key/" KEY_FORMAT "\"}",
				 i > first ? "," : "", i, region, i);
	if (marker)
		return body_answer(text("{\"Keys\":[%s],\"Truncated\":true,\"NextMarker\":\"%s\"}", list, marker));
	return body_answer(text("{\"Keys\":[%s],\"Truncated\":false}", list));
}

/* A ListAliases page naming alias name for key n (n 0: none). */
static struct answer aliases_page(const char *name, unsigned n, const char *marker)
{
	char list[512] = "";

	if (name)
		snprintf(list, sizeof(list), "{\"AliasName\":\"%s\",\"TargetKeyId\":\"" KEY_FORMAT "\"}", name, n);
	if (marker)
		return body_answer(text("{\"Aliases\":[%s],\"Truncated\":true,\"NextMarker\":\"%s\"}", list, marker));
	return body_answer(text("{\"Aliases\":[%s]}", list));
}

/* DescribeKey of key n in region, in state; extra: more KeyMetadata members. */
static struct answer described(const char *region, unsigned n, const char *state, const char *extra)
{
	return body_answer(text("{\"KeyMetadata\":{\"KeyId\":\"" KEY_FORMAT "\",\"Arn\":\"arn:aws:kms:%s:" ACCOUNT
				":key/" KEY_FORMAT "\",\"KeyState\":\"%s\"%s}}",
				n, region, n, state, extra ? extra : ""));
}

static const struct answer silence = {.kind = ANSWER_SILENCE};

/* ---- driving scans ---------------------------------------------------------------------- */

static struct fixture *pending_fixture(const char *config, const char *const *rules)
{
	n_texts = 0;
	return fixture_new_with(config, rules);
}

static void scan_as(struct fixture *x, struct call *c, uid_t uid, const char *account, const char *region,
		    long long timeout_ms)
{
	struct pending_request req = {.account = account, .region = region, .timeout_ms = timeout_ms};

	call_init(c, uid, true);
	pending_start(&x->ctx, c, &req);
}

static void scan(struct fixture *x, struct call *c)
{
	scan_as(x, c, ALLOWED_UID, NULL, NULL, 0);
}

/* Whether the body of request i names s. */
static bool sent_with(const struct fixture *x, size_t i, const char *s)
{
	assert_true(i < x->f.n_seen);
	return strstr(x->f.seen[i].body, s) != NULL;
}

static void assert_more_has(const struct call *c, unsigned i, const char *fragment)
{
	assert_true(i < c->n_more);
	if (!strstr(c->more[i], fragment))
		fail_msg("streamed reply %u %s lacks %s", i, c->more[i], fragment);
}

/* The final reply's scans: exactly those listed, in order. */
static void assert_scans(const struct call *c, const char *expect)
{
	char want[1024];

	assert_success(c);
	snprintf(want, sizeof(want), "{\"scans\":[%s]}", expect);
	assert_string_equal(c->reply, want);
}

static void wait_more(struct fixture *x, const struct call *c, unsigned n)
{
	int64_t since = now_us();

	while (c->n_more < n)
		turn(x, since);
}

/* ---- paging and what is streamed ---------------------------------------------------------- */

/* Both listings are followed page after page with the marker each gave;
 * of the keys read, only those pending deletion (or replica deletion) are
 * streamed, with their aliases from every ListAliases page. */
static void test_paging(void **state)
{
	struct fixture *x = pending_fixture(CONFIG_ACCOUNT, NULL);
	struct call c;

	(void)state;
	script(x, aliases_page("alias/one", 1, "am1"));
	script(x, aliases_page("alias/three", 3, NULL));
	script(x, keys_page("us-east-1", 1, 2, "km1"));
	script(x, described("us-east-1", 1, "PendingDeletion",
			    ",\"DeletionDate\":1797163200,\"Description\":\"the first\""));
	script(x, described("us-east-1", 2, "Enabled", NULL));
	script(x, keys_page("us-east-1", 3, 2, NULL));
	script(x, described("us-east-1", 3, "PendingReplicaDeletion", ",\"PendingDeletionWindowInDays\":7"));
	script(x, described("us-east-1", 4, "Disabled", NULL));
	scan(x, &c);
	wait_done(x, &c);

	assert_scans(&c, "{\"account\":\"" ACCOUNT "\",\"region\":\"us-east-1\"}");
	assert_int_equal(x->f.n_seen, 8);
	assert_sent(x, 0, "ListAliases");
	assert_false(sent_with(x, 0, "Marker"));
	assert_sent(x, 1, "ListAliases");
	assert_true(sent_with(x, 1, "\"Marker\":\"am1\""));
	assert_sent(x, 2, "ListKeys");
	assert_false(sent_with(x, 2, "Marker"));
	assert_true(sent_with(x, 2, "\"Limit\":1000"));
	assert_sent(x, 3, "DescribeKey");
	assert_sent(x, 5, "ListKeys");
	assert_true(sent_with(x, 5, "\"Marker\":\"km1\""));
	assert_sent(x, 7, "DescribeKey");

	assert_int_equal(c.n_more, 2);
	assert_more_has(&c, 0,
			"\"keyId\":\"arn:aws:kms:us-east-1:" ACCOUNT ":key/00000000-0000-4000-8000-000000000001\"");
	assert_more_has(&c, 0, "\"keyState\":\"PendingDeletion\"");
	assert_more_has(&c, 0, "\"deletionDate\":\"2026-12-13T12:00:00Z\"");
	assert_more_has(&c, 0, "\"description\":\"the first\"");
	assert_more_has(&c, 0, "\"aliases\":[\"alias/one\"]");
	assert_more_has(&c, 0, "\"account\":\"" ACCOUNT "\"");
	assert_more_has(&c, 1, "\"keyState\":\"PendingReplicaDeletion\"");
	assert_more_has(&c, 1, "\"pendingDeletionWindowInDays\":7");
	assert_more_has(&c, 1, "\"aliases\":[\"alias/three\"]");
	assert_counts(x, 1, 0, KMSCANCEL_OK);
	fixture_free(x);
}

/* A truncated page without a marker would loop: that account+region fails. */
static void test_truncated_without_marker(void **state)
{
	struct fixture *x = pending_fixture(CONFIG_ACCOUNT, NULL);
	struct call c;

	(void)state;
	script(x, aliases_page(NULL, 0, NULL));
	script(x, body_answer("{\"Keys\":[],\"Truncated\":true}"));
	scan(x, &c);
	wait_done(x, &c);
	assert_int_equal(x->f.n_seen, 2);
	assert_scans(&c, "{\"account\":\"" ACCOUNT "\",\"region\":\"us-east-1\",\"error\":\"KMSException\","
			 "\"message\":\"ListKeys answered a truncated page without NextMarker\"}");
	fixture_free(x);
}

/* A key deleted since ListKeys (NotFound) is no loss; a key that could not
 * be read otherwise is told in the final reply; neither ends the scan. */
static void test_describe_failures(void **state)
{
	struct fixture *x = pending_fixture(CONFIG_ACCOUNT, NULL);
	struct call c;

	(void)state;
	script(x, aliases_page(NULL, 0, NULL));
	script(x, keys_page("us-east-1", 1, 3, NULL));
	script(x, HTTP(400, "NotFoundException"));
	script(x, described("us-east-1", 2, "PendingDeletion", NULL));
	script(x, HTTP(400, "AccessDeniedException"));
	scan(x, &c);
	wait_done(x, &c);
	assert_int_equal(x->f.n_seen, 5);
	assert_int_equal(c.n_more, 1);
	assert_more_has(&c, 0, "key/00000000-0000-4000-8000-000000000002\"");
	assert_scans(&c, "{\"account\":\"" ACCOUNT "\",\"region\":\"us-east-1\","
			 "\"message\":\"1 key could not be read with DescribeKey (AccessDeniedException)\"}");
	fixture_free(x);
}

/* An account+region that fails is reported in the final reply, and the
 * scan goes on with the next. */
static void test_failed_region_others_go_on(void **state)
{
	struct fixture *x = pending_fixture(CONFIG_TWO_REGIONS, NULL);
	struct call c;

	(void)state;
	script(x, HTTP(400, "AccessDeniedException"));
	script(x, aliases_page(NULL, 0, NULL));
	script(x, keys_page(REGION2, 5, 1, NULL));
	script(x, described(REGION2, 5, "PendingDeletion", NULL));
	scan(x, &c);
	wait_done(x, &c);
	assert_int_equal(x->f.n_seen, 4);
	assert_sent(x, 0, "ListAliases");
	assert_sent(x, 1, "ListAliases");
	assert_int_equal(c.n_more, 1);
	assert_more_has(&c, 0, "\"region\":\"" REGION2 "\"");
	assert_scans(&c, "{\"account\":\"" ACCOUNT "\",\"region\":\"us-east-1\",\"error\":\"AccessDeniedException\","
			 "\"message\":\"scripted AccessDeniedException\"},"
			 "{\"account\":\"" ACCOUNT "\",\"region\":\"" REGION2 "\"}");
	assert_counts(x, 1, 0, KMSCANCEL_OK);
	fixture_free(x);
}

/* ---- the in-flight cap, the caller's hang-up ----------------------------------------------- */

#define PAGE_KEYS 12

/* ListAliases, a ListKeys page of PAGE_KEYS keys, and every DescribeKey
 * left unanswered: until the cap's worth were sent. */
static void describes_waiting(struct fixture *x, struct call *c)
{
	script(x, aliases_page(NULL, 0, NULL));
	script(x, keys_page("us-east-1", 1, PAGE_KEYS, NULL));
	for (unsigned i = 0; i < PAGE_KEYS; i++)
		script(x, silence);
	scan(x, c);
	wait_sent(x, 2 + PENDING_DESCRIBES_IN_FLIGHT);
	/* nothing more is sent while they all wait */
	for (int i = 0; i < 20; i++)
		event_base_loop(x->base, EVLOOP_NONBLOCK);
	assert_int_equal(x->f.n_seen, 2 + PENDING_DESCRIBES_IN_FLIGHT);
}

/* At most PENDING_DESCRIBES_IN_FLIGHT DescribeKey requests at once; each
 * answer lets the next key's go. */
static void test_in_flight_cap(void **state)
{
	struct fixture *x = pending_fixture(CONFIG_ACCOUNT, NULL);
	struct call c;

	(void)state;
	describes_waiting(x, &c);
	assert_int_equal(x->f.live_requests, PENDING_DESCRIBES_IN_FLIGHT);
	for (unsigned i = 0; i < PAGE_KEYS; i++) {
		wait_sent(
		    x, 2 + (i + PENDING_DESCRIBES_IN_FLIGHT < PAGE_KEYS ? i + PENDING_DESCRIBES_IN_FLIGHT : PAGE_KEYS));
		fake_release(&x->f, 2 + i, described("us-east-1", i + 1, i % 2 ? "Enabled" : "PendingDeletion", NULL));
	}
	wait_done(x, &c);
	assert_int_equal(x->f.n_seen, 2 + PAGE_KEYS);
	assert_int_equal(x->f.max_live, PENDING_DESCRIBES_IN_FLIGHT);
	assert_int_equal(c.n_more, PAGE_KEYS / 2);
	assert_scans(&c, "{\"account\":\"" ACCOUNT "\",\"region\":\"us-east-1\"}");
	fixture_free(x);
}

/* A caller who hung up: the answer that comes next starts nothing more,
 * the requests still out are abandoned, and nothing more is streamed. */
static void test_hangup_stops_requests(void **state)
{
	struct fixture *x = pending_fixture(CONFIG_ACCOUNT, NULL);
	struct call c;

	(void)state;
	describes_waiting(x, &c);
	c.abandoned = true;
	fake_release(&x->f, 2, described("us-east-1", 1, "PendingDeletion", NULL));
	wait_done(x, &c);
	assert_string_equal(c.error, "");
	assert_string_equal(c.reply, "{}"); /* completed, its reply dropped */
	assert_int_equal(c.n_more, 0);
	assert_int_equal(x->f.n_seen, 2 + PENDING_DESCRIBES_IN_FLIGHT);
	for (size_t i = 3; i < x->f.n_seen; i++)
		assert_true(x->f.seen[i].abandoned);
	assert_int_equal(x->f.live_requests, 0);
	assert_null(x->ctx.scans);
	fixture_free(x);
}

/* ---- the deadline, the daemon's stop --------------------------------------------------------- */

/* A scan of timeout_ms that streamed one key of us-east-1 and waits for
 * the second's DescribeKey (request 3). */
static void one_key_then_waiting(struct fixture *x, struct call *c, long long timeout_ms)
{
	script(x, aliases_page(NULL, 0, NULL));
	script(x, keys_page("us-east-1", 1, 2, NULL));
	script(x, described("us-east-1", 1, "PendingDeletion", NULL));
	script(x, silence);
	scan_as(x, c, ALLOWED_UID, NULL, NULL, timeout_ms);
	wait_sent(x, 4);
	wait_more(x, c, 1);
}

/* Past its deadline the scan ends with what it found: the account+region
 * being scanned and the one not reached are reported Timeout. */
static void test_deadline(void **state)
{
	struct fixture *x = pending_fixture(CONFIG_TWO_REGIONS, NULL);
	struct call c;

	(void)state;
	one_key_then_waiting(x, &c, METHODS_MIN_CALL_TIMEOUT_MS);
	x->f.mono_ms += 10 * METHODS_MIN_CALL_TIMEOUT_MS; /* the deadline is past on the fake clock too */
	wait_done(x, &c);
	assert_int_equal(c.n_more, 1); /* what was sent stands */
	assert_true(x->f.seen[3].abandoned);
	assert_int_equal(x->f.live_requests, 0);
	/* the scan's own deadline, set before any request's, fires first */
	assert_scans(&c, "{\"account\":\"" ACCOUNT "\",\"region\":\"us-east-1\",\"error\":\"Timeout\","
			 "\"message\":\"the scan's deadline passed while scanning this account and region\"},"
			 "{\"account\":\"" ACCOUNT "\",\"region\":\"" REGION2 "\",\"error\":\"Timeout\","
			 "\"message\":\"the scan's deadline passed before this account and region\"}");
	fixture_free(x);
}

/* SIGTERM: a scan ends at once with its final reply, the rest Interrupted. */
static void test_stop_all(void **state)
{
	struct fixture *x = pending_fixture(CONFIG_TWO_REGIONS, NULL);
	struct call c;

	(void)state;
	one_key_then_waiting(x, &c, 0);
	assert_int_equal(pending_stop_all(&x->ctx), 1);
	assert_true(c.done);
	assert_true(x->f.seen[3].abandoned);
	assert_int_equal(x->f.live_requests, 0);
	assert_scans(&c, "{\"account\":\"" ACCOUNT "\",\"region\":\"us-east-1\",\"error\":\"Interrupted\","
			 "\"message\":\"kmscanceld stopped while scanning this account and region\"},"
			 "{\"account\":\"" ACCOUNT "\",\"region\":\"" REGION2 "\",\"error\":\"Interrupted\","
			 "\"message\":\"kmscanceld stopped before this account and region\"}");
	assert_int_equal(x->f.n_seen, 4);
	assert_int_equal(pending_stop_all(&x->ctx), 0);
	fixture_free(x);
}

/* ---- credentials ---------------------------------------------------------------------------- */

/* ExpiredTokenException: new credentials, and the same request again (a
 * page, or a key put back in its page). */
static void test_expired_token(void **state)
{
	struct fixture *x = pending_fixture(CONFIG_ACCOUNT, NULL);
	struct call c;

	(void)state;
	script(x, HTTP(400, "ExpiredTokenException"));
	script(x, aliases_page(NULL, 0, NULL));
	script(x, keys_page("us-east-1", 1, 2, NULL));
	script(x, HTTP(400, "ExpiredTokenException"));
	script(x, described("us-east-1", 2, "PendingDeletion", NULL));
	script(x, described("us-east-1", 1, "PendingDeletion", NULL));
	scan(x, &c);
	wait_sent(x, 1);
	env_akid = "AKIDSECOND";
	wait_sent(x, 5);
	env_akid = "AKIDTHIRD";
	wait_done(x, &c);
	assert_int_equal(x->f.n_seen, 6);
	assert_non_null(strstr(x->f.seen[0].authorization, "Credential=AKIDFIRST/"));
	assert_sent(x, 1, "ListAliases");
	assert_non_null(strstr(x->f.seen[1].authorization, "Credential=AKIDSECOND/"));
	assert_sent(x, 5, "DescribeKey");
	assert_true(sent_with(x, 5, "key/00000000-0000-4000-8000-000000000001"));
	assert_non_null(strstr(x->f.seen[5].authorization, "Credential=AKIDTHIRD/"));
	assert_int_equal(c.n_more, 2);
	assert_scans(&c, "{\"account\":\"" ACCOUNT "\",\"region\":\"us-east-1\"}");
	fixture_free(x);
}

/* … at most PENDING_EXPIRED_RETRIES times per account+region. */
static void test_expired_token_gives_up(void **state)
{
	struct fixture *x = pending_fixture(CONFIG_ACCOUNT, NULL);
	struct call c;

	(void)state;
	for (unsigned i = 0; i <= PENDING_EXPIRED_RETRIES; i++)
		script(x, HTTP(400, "ExpiredTokenException"));
	scan(x, &c);
	wait_done(x, &c);
	assert_int_equal(x->f.n_seen, PENDING_EXPIRED_RETRIES + 1);
	assert_scans(&c, "{\"account\":\"" ACCOUNT "\",\"region\":\"us-east-1\",\"error\":\"ExpiredTokenException\","
			 "\"message\":\"scripted ExpiredTokenException\"}");
	fixture_free(x);
}

/* ---- the policy, the call ------------------------------------------------------------------- */

static const char *const some_keys[] = {
    "user:1000 describe arn:aws:kms:us-east-1:" ACCOUNT ":key/00000000-0000-4000-8000-000000000001",
    "user:1000 describe alias/shown",
    NULL,
};

/* A caller sees the keys it may describe, by ARN or by an alias; one who
 * may describe none is refused before any request. */
static void test_policy_filters(void **state)
{
	struct fixture *x = pending_fixture(CONFIG_ACCOUNT, some_keys);
	struct call c, denied;

	(void)state;
	scan_as(x, &denied, DENIED_UID, NULL, NULL, 0);
	assert_error(&denied, KMSCANCEL_E_PERMISSION_DENIED);
	assert_int_equal(x->f.n_seen, 0);

	script(x, aliases_page("alias/shown", 2, NULL));
	script(x, keys_page("us-east-1", 1, 3, NULL));
	for (unsigned i = 1; i <= 3; i++)
		script(x, described("us-east-1", i, "PendingDeletion", NULL));
	scan(x, &c);
	wait_done(x, &c);
	assert_int_equal(x->f.n_seen, 5);
	assert_int_equal(c.n_more, 2);
	assert_more_has(&c, 0, "key/00000000-0000-4000-8000-000000000001\"");
	assert_more_has(&c, 1, "key/00000000-0000-4000-8000-000000000002\"");
	assert_more_has(&c, 1, "\"aliases\":[\"alias/shown\"]");
	assert_scans(&c, "{\"account\":\"" ACCOUNT "\",\"region\":\"us-east-1\"}");
	assert_counts(x, 1, 1, KMSCANCEL_E_PERMISSION_DENIED);
	fixture_free(x);
}

/* Without "more": ExpectedMore, nothing asked of KMS. */
static void test_expected_more(void **state)
{
	struct fixture *x = pending_fixture(CONFIG_ACCOUNT, NULL);
	struct pending_request req = {0};
	struct call c;

	(void)state;
	call_init(&c, ALLOWED_UID, false);
	pending_start(&x->ctx, &c, &req);
	assert_true(c.done);
	assert_string_equal(c.error, VARLINK_ERROR_EXPECTED_MORE);
	assert_int_equal(x->f.n_seen, 0);
	fixture_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_paging),
	    cmocka_unit_test(test_truncated_without_marker),
	    cmocka_unit_test(test_describe_failures),
	    cmocka_unit_test(test_failed_region_others_go_on),
	    cmocka_unit_test(test_in_flight_cap),
	    cmocka_unit_test(test_hangup_stops_requests),
	    cmocka_unit_test(test_deadline),
	    cmocka_unit_test(test_stop_all),
	    cmocka_unit_test(test_expired_token),
	    cmocka_unit_test(test_expired_token_gives_up),
	    cmocka_unit_test(test_policy_filters),
	    cmocka_unit_test(test_expected_more),
	};

	return fixture_run_tests("test-pending", tests, sizeof(tests) / sizeof(tests[0]));
}
