/* SPDX-License-Identifier: MIT */
/* The KMS client (daemon/kms.c) over a fake transport and a fake clock: no
 * TLS, no server, no network.  Each test scripts what "KMS" answers to each
 * attempt (an HTTP response, a transport failure, or silence) and checks
 * what the client sent and what it reported: success, the standard retry
 * mode and its retry quota, throttling, permanent errors, clock skew, the
 * call's deadline against the attempt timeout, a lost response, an expired
 * token, and abandoning or freeing with a call in flight; the legacy mode's
 * retries, attempts and backoff, and the adaptive mode's pacing after
 * throttling against the standard mode's none.  Answers come
 * from the event loop; backoffs are made zero (or a few ms) through the
 * jitter hook, so the whole file runs in well under a second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "creds.h"
#include "http.h"
#include "kms-error.h"
#include "kms-retry.h"
#include "kms.h"
#include "log.h"
#include "sigv4.h"
#include "url.h"

#include "fake-kms-transport.h"

#define AKID "AKIDEXAMPLE"

/* ---- the fixture -------------------------------------------------------------- */

struct fixture {
	struct fake f;
	struct kms_client *client;
	struct aws_credentials *creds;
};

/* A client with options o over the fake transport and clock. */
static struct fixture *fixture_new_with(struct kms_client_options o)
{
	struct fixture *x = calloc(1, sizeof(*x));
	struct event_base *base = event_base_new();
	struct kms_clock clock;
	char *error = NULL;

	assert_non_null(x);
	assert_non_null(base);
	fake_init(&x->f, base);
	clock = fake_clock(&x->f);
	o.clock = &clock;
	o.transport = &x->f.transport;
	assert_int_equal(kms_client_new(x->f.base, NULL, &o, &x->client, &error), 0);
	assert_null(error);
	assert_int_equal(aws_credentials_new(AKID, "secret/for/the/unit/test", NULL, 0, "test", ACCOUNT, &x->creds), 0);
	return x;
}

static struct fixture *fixture_new(unsigned max_attempts, unsigned retry_base_ms, unsigned attempt_timeout_ms)
{
	struct kms_client_options o = {
		.max_attempts = max_attempts,
		.retry_base_ms = retry_base_ms,
		.attempt_timeout_ms = attempt_timeout_ms,
	};

	return fixture_new_with(o);
}

static void fixture_free(struct fixture *x)
{
	kms_client_free(x->client);
	assert_int_equal(x->f.pools_made, x->f.pools_freed);
	assert_int_equal(x->f.live_requests, 0);
	aws_credentials_unref(x->creds);
	event_base_free(x->f.base);
	free(x);
}

static void script(struct fixture *x, struct answer a)
{
	fake_script(&x->f, a);
}

/* A copy of what the callback got, kept past it. */
struct outcome {
	bool done;
	kmscancel_error error;
	char code[64];
	char message[512];
	char request_id[64];
	char key_arn[128];
	unsigned attempts;
	bool response_lost;
};

static void call_done(const struct kms_result *r, void *userdata)
{
	struct outcome *out = userdata;
	struct json_object *k;

	assert_false(out->done); /* exactly once */
	out->done = true;
	out->error = r->error;
	snprintf(out->code, sizeof(out->code), "%s", r->error_code ? r->error_code : "");
	snprintf(out->message, sizeof(out->message), "%s", r->message ? r->message : "");
	snprintf(out->request_id, sizeof(out->request_id), "%s", r->request_id ? r->request_id : "");
	out->attempts = r->attempts;
	out->response_lost = r->response_lost;
	if (r->error == KMSCANCEL_OK) {
		assert_non_null(r->body);
		if (json_object_object_get_ex(r->body, "KeyId", &k))
			snprintf(out->key_arn, sizeof(out->key_arn), "%s", json_object_get_string(k));
	} else {
		assert_non_null(r->message);
	}
}

/* Starts op on KEY_ID for uid in region. */
static struct kms_call *start_as(struct fixture *x, enum kms_operation op, const char *region, uid_t uid,
				 unsigned timeout_ms, struct outcome *out)
{
	struct kms_request req = {
		.op = op,
		.key_id = KEY_ID,
		.region = region,
		.credentials = x->creds,
		.timeout_ms = timeout_ms,
		.account = ACCOUNT,
		.caller = uid,
	};
	struct kms_call *call;

	memset(out, 0, sizeof(*out));
	call = kms_call_start(x->client, &req, call_done, out);
	assert_non_null(call);
	assert_false(out->done); /* never from inside kms_call_start */
	return call;
}

static struct kms_call *start(struct fixture *x, enum kms_operation op, unsigned timeout_ms, struct outcome *out)
{
	return start_as(x, op, "us-east-1", 1000, timeout_ms, out);
}

/* Runs the loop until the call is done.  The loop never runs dry on its
 * own (the client's pool-eviction timer), so it turns once at a time. */
static void wait_done(struct fixture *x, struct outcome *out)
{
	while (!out->done)
		assert_true(event_base_loop(x->f.base, EVLOOP_ONCE) >= 0);
}

static void call(struct fixture *x, enum kms_operation op, struct outcome *out)
{
	start(x, op, 60000, out);
	wait_done(x, out);
}

static struct kms_client_stats stats(const struct fixture *x)
{
	struct kms_client_stats s;

	kms_client_get_stats(x->client, &s);
	return s;
}

/* ---- the tests ---------------------------------------------------------------- */

/* One attempt, answered: the result carries the body and request id; the
 * request was signed with the fake wall clock's date for the region. */
static void test_success(void **state)
{
	struct fixture *x = fixture_new(3, 1000, 0);
	struct outcome out;
	char expect[128];

	(void)state;
	script(x, OK200);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(out.attempts, 1);
	assert_false(out.response_lost);
	assert_string_equal(out.key_arn, "arn:aws:kms:us-east-1:" ACCOUNT ":key/" KEY_ID);
	assert_string_equal(out.request_id, "req-1");
	assert_int_equal(x->f.n_seen, 1);
	assert_string_equal(x->f.seen[0].target, "TrentService.CancelKeyDeletion");
	assert_string_equal(x->f.seen[0].amz_date, "20261206T120000Z");
	assert_string_equal(x->f.seen[0].body, "{\"KeyId\":\"" KEY_ID "\"}");
	snprintf(expect, sizeof(expect), "AWS4-HMAC-SHA256 Credential=" AKID "/20261206/us-east-1/kms/aws4_request, ");
	assert_memory_equal(x->f.seen[0].authorization, expect, strlen(expect));
	/* the whole exchange is bounded a little past the call's deadline */
	assert_int_equal(x->f.seen[0].timeout_ms, 60000 + 1000);
	assert_int_equal(stats(x).calls, 1);
	assert_int_equal(stats(x).attempts, 1);
	assert_int_equal(stats(x).retries, 0);
	assert_int_equal(stats(x).in_flight, 0);
	assert_int_equal(x->f.pools_made, 1);
	fixture_free(x);
}

/* Transient errors (5xx, KMSInternal, DependencyTimeout) are retried up to
 * max_attempts; the last error is the one reported. */
static void test_retry_transient(void **state)
{
	struct fixture *x = fixture_new(3, 1000, 0);
	struct outcome out;

	(void)state;
	script(x, HTTP(500, "KMSInternalException"));
	script(x, HTTP(400, "DependencyTimeoutException"));
	script(x, OK200);
	call(x, KMS_OP_DESCRIBE_KEY, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(out.attempts, 3);
	assert_int_equal(stats(x).retries, 2);
	assert_string_equal(x->f.seen[2].target, "TrentService.DescribeKey");

	script(x, HTTP(503, "ServiceUnavailable"));
	script(x, HTTP(500, "InternalFailure"));
	script(x, HTTP(500, "KMSInternalException"));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_E_KMS_INTERNAL);
	assert_string_equal(out.code, "KMSInternalException");
	assert_string_equal(out.message, "scripted KMSInternalException");
	assert_int_equal(out.attempts, 3);
	assert_int_equal(x->f.n_seen, 6);
	fixture_free(x);
}

/* The backoff is full jitter: rand × min(base × 2^(i-1), 20 s).  With the
 * jitter hook at its top, retries wait (just under) base, then 2 × base. */
static void test_backoff_jitter(void **state)
{
	struct fixture *x = fixture_new(3, 40, 0);
	struct answer fail500;
	struct outcome out;

	(void)state;
	x->f.random = UINT32_MAX;
	script(x, HTTP(500, "KMSInternalException"));
	script(x, HTTP(500, "KMSInternalException"));
	script(x, OK200);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	/* 39 ms and 79 ms; the loop's timers never fire early by more than 1 ms */
	assert_true(x->f.seen[1].at_us - x->f.seen[0].at_us >= 38000);
	assert_true(x->f.seen[2].at_us - x->f.seen[1].at_us >= 78000);

	/* a backoff (39 ms) that would not end before the deadline (39 ms
	 * left on the fake clock when the answer comes): no retry */
	fail500 = HTTP(500, "KMSInternalException");
	fail500.advance_ms = 60000 - 39;
	script(x, fail500);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_E_KMS_INTERNAL);
	assert_int_equal(out.attempts, 1);
	/* 40 ms left: the retry fits */
	fail500.advance_ms = 60000 - 40;
	script(x, fail500);
	script(x, OK200);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(out.attempts, 2);
	fixture_free(x);
}

/* Throttling is retried like a transient error and counted. */
static void test_throttling(void **state)
{
	struct fixture *x = fixture_new(3, 1000, 0);
	struct outcome out;

	(void)state;
	script(x, HTTP(400, "ThrottlingException"));
	script(x, OK200);
	call(x, KMS_OP_ENABLE_KEY, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(out.attempts, 2);
	assert_int_equal(stats(x).throttled, 1);

	for (int i = 0; i < 3; i++)
		script(x, HTTP(400, "ThrottlingException"));
	call(x, KMS_OP_ENABLE_KEY, &out);
	assert_int_equal(out.error, KMSCANCEL_E_THROTTLING);
	assert_int_equal(out.attempts, 3);
	assert_int_equal(stats(x).throttled, 4);
	assert_int_equal(stats(x).retries, 3);
	fixture_free(x);
}

/* Permanent errors, a failing certificate and a 4xx without a known code
 * end the call after one attempt. */
static void test_not_retried(void **state)
{
	static const struct {
		int status;
		const char *code;
		kmscancel_error error;
	} cases[] = {
		{ 400, "NotFoundException", KMSCANCEL_E_NOT_FOUND },
		{ 400, "KMSInvalidStateException", KMSCANCEL_E_INVALID_STATE },
		{ 400, "AccessDeniedException", KMSCANCEL_E_ACCESS_DENIED },
		{ 400, "LimitExceededException", KMSCANCEL_E_KMS },
		{ 403, "UnrecognizedClientException", KMSCANCEL_E_KMS },
	};
	struct fixture *x = fixture_new(3, 1000, 0);
	struct outcome out;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		script(x, HTTP(cases[i].status, cases[i].code));
		call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
		assert_int_equal(out.error, cases[i].error);
		assert_string_equal(out.code, cases[i].code);
		assert_int_equal(out.attempts, 1);
		assert_false(out.response_lost);
	}
	script(x, FAIL(HTTPS_E_TLS, 0, 0));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_E_ENDPOINT_UNAVAILABLE);
	assert_int_equal(out.attempts, 1);
	assert_int_equal(stats(x).retries, 0);
	fixture_free(x);
}

/* Fails n calls of 3 attempts each (2 retries at 5 tokens). */
static void fail_calls(struct fixture *x, unsigned n)
{
	struct outcome out;

	for (unsigned i = 0; i < n; i++) {
		for (int a = 0; a < 3; a++)
			script(x, HTTP(500, "KMSInternalException"));
		call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
		assert_int_equal(out.attempts, 3);
	}
}

/* The retry quota (AWS.md §3.2): 500 tokens, 5 per retry; none left, no
 * retry; +1 per first-time success; a success after retries refunds the
 * last retry's cost. */
static void test_retry_quota(void **state)
{
	struct fixture *x = fixture_new(3, 1000, 0);
	struct outcome out;

	(void)state;
	fail_calls(x, 49); /* 490 tokens */
	script(x, HTTP(500, "KMSInternalException"));
	script(x, HTTP(400, "NotFoundException"));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out); /* 495 */
	assert_int_equal(out.attempts, 2);

	/* 5 left: one retry, refunded by the success it leads to */
	script(x, HTTP(500, "KMSInternalException"));
	script(x, OK200);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(out.attempts, 2);
	/* still 5: one retry, then the quota is out */
	script(x, HTTP(500, "KMSInternalException"));
	script(x, HTTP(500, "KMSInternalException"));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_E_KMS_INTERNAL);
	assert_int_equal(out.attempts, 2);
	assert_int_equal(stats(x).retry_quota_out, 1);

	/* 0 left: first attempts only */
	script(x, HTTP(500, "KMSInternalException"));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.attempts, 1);
	assert_int_equal(stats(x).retry_quota_out, 2);

	/* four first-time successes: 4 tokens, still not a retry's worth */
	for (int i = 0; i < 4; i++)
		script(x, OK200);
	for (int i = 0; i < 4; i++)
		call(x, KMS_OP_DESCRIBE_KEY, &out);
	script(x, HTTP(500, "KMSInternalException"));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.attempts, 1);
	/* the fifth makes 5: one retry again */
	script(x, OK200);
	call(x, KMS_OP_DESCRIBE_KEY, &out);
	script(x, HTTP(500, "KMSInternalException"));
	script(x, HTTP(500, "KMSInternalException"));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.attempts, 2);
	assert_int_equal(stats(x).retry_quota_out, 4);
	fixture_free(x);
}

/* A timeout costs 10 tokens, and with fewer than 10 left an attempt gets
 * no attempt timeout (nothing could follow it). */
static void test_retry_quota_timeout(void **state)
{
	struct fixture *x = fixture_new(3, 1000, 100);
	struct outcome out;

	(void)state;
	/* 24 calls of two timed-out attempts and a success: 20 tokens each,
	 * the last retry's 10 refunded: 10 net each, 240 */
	for (int i = 0; i < 24; i++) {
		script(x, FAIL(HTTPS_E_TIMEOUT, 1, 1));
		script(x, FAIL(HTTPS_E_TIMEOUT, 1, 1));
		script(x, OK200);
		call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
		assert_int_equal(out.error, KMSCANCEL_OK);
		assert_true(out.response_lost);
	}
	/* 13 calls of two timed-out attempts and a 500: 20 each, the 260 left */
	for (int i = 0; i < 13; i++) {
		script(x, FAIL(HTTPS_E_TIMEOUT, 1, 1));
		script(x, FAIL(HTTPS_E_TIMEOUT, 1, 1));
		script(x, HTTP(500, "KMSInternalException"));
		call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
		assert_int_equal(out.attempts, 3);
	}
	/* 0 left */
	script(x, FAIL(HTTPS_E_TIMEOUT, 1, 1));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.attempts, 1);
	assert_int_equal(out.error, KMSCANCEL_E_ENDPOINT_UNAVAILABLE);
	assert_int_equal(x->f.seen[x->f.n_seen - 1].response_timeout_ms, 0);
	assert_int_equal(x->f.seen[x->f.n_seen - 2].response_timeout_ms, 0); /* the last attempt of a call */
	assert_int_equal(x->f.seen[x->f.n_seen - 3].response_timeout_ms, 100);
	fixture_free(x);
}

/* InvalidSignature / RequestTimeTooSkewed with AWS's Date an hour off: the
 * offset is learned and the retry is signed with AWS's time.  Within 4
 * minutes it is a plain bad signature: not retried, no offset. */
static void test_clock_skew(void **state)
{
	struct fixture *x = fixture_new(3, 1000, 0);
	struct answer skewed = HTTP(400, "InvalidSignatureException");
	struct outcome out;

	(void)state;
	skewed.date_offset = 3600;
	script(x, skewed);
	script(x, OK200);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(out.attempts, 2);
	assert_string_equal(x->f.seen[0].amz_date, "20261206T120000Z");
	assert_string_equal(x->f.seen[1].amz_date, "20261206T130000Z");
	assert_int_equal(stats(x).clock_offset_sec, 3600);

	/* the offset stays for later calls; a skew of 3 min more is no news */
	skewed = HTTP(403, "RequestTimeTooSkewed");
	skewed.date_offset = 3600 + 180;
	script(x, skewed);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_E_KMS);
	assert_string_equal(out.code, "RequestTimeTooSkewed");
	assert_int_equal(out.attempts, 1);
	assert_string_equal(x->f.seen[2].amz_date, "20261206T130000Z");
	assert_int_equal(stats(x).clock_offset_sec, 3600);

	/* our clock is right after all (AWS's Date back to ours): learned again */
	skewed = HTTP(403, "RequestTimeTooSkewed");
	skewed.date_offset = -1; /* a Date one second behind ours */
	script(x, skewed);
	script(x, OK200);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(stats(x).clock_offset_sec, -1);
	assert_string_equal(x->f.seen[4].amz_date, "20261206T115959Z");

	/* without a Date there is nothing to learn from */
	script(x, HTTP(400, "InvalidSignatureException"));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.attempts, 1);
	assert_int_equal(out.error, KMSCANCEL_E_KMS);
	fixture_free(x);
}

/* An attempt that KMS does not answer within the attempt timeout fails
 * alone and is retried; the attempt timeout is only set where a retry
 * could follow within the deadline. */
static void test_attempt_timeout(void **state)
{
	struct fixture *x = fixture_new(3, 1000, 100);
	struct outcome out;

	(void)state;
	script(x, FAIL(HTTPS_E_TIMEOUT, 1, 1));
	script(x, FAIL(HTTPS_E_TIMEOUT, 1, 1));
	script(x, OK200);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(out.attempts, 3);
	assert_true(out.response_lost);
	assert_int_equal(x->f.seen[0].response_timeout_ms, 100);
	assert_int_equal(x->f.seen[1].response_timeout_ms, 100);
	assert_int_equal(x->f.seen[2].response_timeout_ms, 0); /* the last: the deadline ends it */

	/* 100 ms + the first backoff's ceiling (1 s) must end before the
	 * deadline, 1.1 s away is too close: no attempt timeout, the deadline
	 * alone; 1.101 s is far enough */
	script(x, OK200);
	start(x, KMS_OP_CANCEL_KEY_DELETION, 1100, &out);
	wait_done(x, &out);
	assert_int_equal(x->f.seen[3].response_timeout_ms, 0);
	assert_int_equal(x->f.seen[3].timeout_ms, 1100 + 1000);
	script(x, OK200);
	start(x, KMS_OP_CANCEL_KEY_DELETION, 1101, &out);
	wait_done(x, &out);
	assert_int_equal(x->f.seen[4].response_timeout_ms, 100);
	fixture_free(x);
}

/* The deadline ends the call with Timeout wherever it is: a timeout
 * reported once the (fake) clock is past it, or the deadline timer with a
 * request in flight, which is abandoned and counted as lost. */
static void test_deadline(void **state)
{
	struct fixture *x = fixture_new(3, 1000, 100);
	struct answer late = FAIL(HTTPS_E_TIMEOUT, 1, 1);
	struct outcome out;

	(void)state;
	late.advance_ms = 60000;
	script(x, late);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_E_TIMEOUT);
	assert_int_equal(out.attempts, 1);
	assert_true(out.response_lost);

	script(x, (struct answer){ .kind = ANSWER_SILENCE });
	start(x, KMS_OP_CANCEL_KEY_DELETION, 20, &out);
	wait_done(x, &out);
	assert_int_equal(out.error, KMSCANCEL_E_TIMEOUT);
	assert_int_equal(out.attempts, 1);
	assert_true(out.response_lost);
	assert_true(x->f.seen[1].abandoned);
	assert_false(x->f.seen[1].answered);
	assert_int_equal(x->f.live_requests, 0);
	assert_int_equal(stats(x).in_flight, 0);
	fixture_free(x);
}

/* A response lost after the request went out (reset, garbled 200): KMS may
 * have acted, so an InvalidState from the retry comes with response_lost
 * and the caller resolves it with DescribeKey.  A request that never left
 * (connect refused) is not lost. */
static void test_response_lost(void **state)
{
	struct fixture *x = fixture_new(3, 1000, 0);
	struct answer garbled = HTTP(200, NULL);
	struct outcome out;

	(void)state;
	script(x, FAIL(HTTPS_E_IO, 1, 0));
	script(x, HTTP(400, "KMSInvalidStateException"));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_E_INVALID_STATE);
	assert_int_equal(out.attempts, 2);
	assert_true(out.response_lost);

	script(x, FAIL(HTTPS_E_CONNECT, 0, 0));
	script(x, HTTP(400, "KMSInvalidStateException"));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_E_INVALID_STATE);
	assert_int_equal(out.attempts, 2);
	assert_false(out.response_lost);

	garbled.body = "<html>proxy</html>";
	script(x, garbled);
	script(x, OK200);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(out.attempts, 2);
	assert_true(out.response_lost);

	/* lost three times: EndpointUnavailable, lost */
	for (int i = 0; i < 3; i++)
		script(x, FAIL(HTTPS_E_IO, 1, 0));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_E_ENDPOINT_UNAVAILABLE);
	assert_int_equal(out.attempts, 3);
	assert_true(out.response_lost);
	fixture_free(x);
}

/* ExpiredTokenException is not retried here: it goes back at once with its
 * code, which the caller classifies to refresh the credentials and call
 * again. */
static void test_expired_token(void **state)
{
	struct fixture *x = fixture_new(3, 1000, 0);
	struct outcome out;

	(void)state;
	script(x, HTTP(400, "ExpiredTokenException"));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_not_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(out.attempts, 1);
	assert_string_equal(out.code, "ExpiredTokenException");
	assert_int_equal(kms_error_classify(out.code, 400), KMS_ERROR_EXPIRED_TOKEN);
	assert_int_equal(stats(x).retries, 0);
	fixture_free(x);
}

static void never_done(const struct kms_result *r, void *userdata)
{
	(void)r;
	(void)userdata;
	fail_msg("an abandoned call's callback ran");
}

/* Abandoning a call in flight or backing off drops its request and frees
 * everything (run under ASan or valgrind to see the "everything"); freeing
 * the client answers what is still pending with EndpointUnavailable. */
static void test_abandon(void **state)
{
	struct fixture *x = fixture_new(3, 1000, 0);
	struct kms_request req = {
		.op = KMS_OP_CANCEL_KEY_DELETION,
		.key_id = KEY_ID,
		.region = "us-east-1",
		.credentials = x->creds,
		.timeout_ms = 60000,
		.account = ACCOUNT,
	};
	struct kms_call *c;
	struct outcome out;

	(void)state;
	/* in flight */
	script(x, (struct answer){ .kind = ANSWER_SILENCE });
	c = kms_call_start(x->client, &req, never_done, NULL);
	assert_non_null(c);
	while (x->f.n_seen < 1)
		event_base_loop(x->f.base, EVLOOP_ONCE);
	kms_call_abandon(c);
	assert_true(x->f.seen[0].abandoned);
	assert_int_equal(x->f.live_requests, 0);
	assert_int_equal(stats(x).in_flight, 0);

	/* backing off (the jitter at its top: a second's wait) */
	x->f.random = UINT32_MAX;
	script(x, HTTP(500, "KMSInternalException"));
	c = kms_call_start(x->client, &req, never_done, NULL);
	while (!x->f.seen[1].answered)
		event_base_loop(x->f.base, EVLOOP_ONCE);
	kms_call_abandon(c);
	assert_int_equal(stats(x).in_flight, 0);
	/* not yet started */
	c = kms_call_start(x->client, &req, never_done, NULL);
	kms_call_abandon(c);
	assert_int_equal(x->f.n_seen, 2);

	/* still in flight when the client goes */
	script(x, (struct answer){ .kind = ANSWER_SILENCE });
	start(x, KMS_OP_CANCEL_KEY_DELETION, 60000, &out);
	while (x->f.n_seen < 3)
		event_base_loop(x->f.base, EVLOOP_ONCE);
	kms_client_free(x->client);
	x->client = NULL;
	assert_true(out.done);
	assert_int_equal(out.error, KMSCANCEL_E_ENDPOINT_UNAVAILABLE);
	assert_true(x->f.seen[2].abandoned);
	fixture_free(x);
}

/* A full endpoint queue is load, not a failure: the call waits its turn
 * without using an attempt.  Prewarm opens a connection in the region's
 * pool, which calls then share. */
static void test_queue_full_and_prewarm(void **state)
{
	struct fixture *x = fixture_new(3, 1000, 0);
	struct outcome out;

	(void)state;
	assert_int_equal(kms_client_prewarm(x->client, "us-east-1"), 0);
	assert_int_equal(x->f.prewarmed, 1);
	assert_int_equal(x->f.pools_made, 1);
	x->f.queued_reports = 2;
	script(x, OK200);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(out.attempts, 1);
	assert_int_equal(x->f.queued_reports, 0);
	assert_int_equal(x->f.pools_made, 1);
	assert_int_equal(stats(x).n_pools, 1);
	fixture_free(x);
}

static bool has_endpoint(const struct fixture *x, const char *url)
{
	struct kms_endpoint_stats e[KMS_STATUS_POOLS_MAX];
	long n = kms_client_list_endpoints(x->client, e, KMS_STATUS_POOLS_MAX);

	assert_true(n >= 0 && n <= KMS_STATUS_POOLS_MAX);
	for (long i = 0; i < n; i++)
		if (strcmp(e[i].url, url) == 0)
			return true;
	return false;
}

/* MaxPools=4: one uid's calls may hold one pool alone; another uid gets
 * its own; the least recently used unheld pool makes room for a new one;
 * unheld pools go once idle for the idle timeout on the client's clock. */
static void test_pools(void **state)
{
	struct kms_client_options o = { .max_attempts = 3, .retry_base_ms = 1000, .max_pools = 4 };
	static const char *const regions[] = { "eu-west-1", "ap-south-1", "sa-east-1", "ca-central-1" };
	struct fixture *x;
	struct kms_call *held;
	struct outcome out, out_held;

	(void)state;
	o.pool.idle_timeout_ms = 50;
	x = fixture_new_with(o);
	script(x, (struct answer){ .kind = ANSWER_SILENCE });
	held = start_as(x, KMS_OP_CANCEL_KEY_DELETION, "us-east-1", 1000, 60000, &out_held);
	while (x->f.n_seen < 1)
		event_base_loop(x->f.base, EVLOOP_ONCE);
	/* uid 1000 already holds its one pool alone: no second one */
	start_as(x, KMS_OP_CANCEL_KEY_DELETION, "eu-west-1", 1000, 60000, &out);
	wait_done(x, &out);
	assert_int_equal(out.error, KMSCANCEL_E_ENDPOINT_UNAVAILABLE);
	assert_int_equal(out.attempts, 0);
	assert_non_null(strstr(out.message, "a quarter of [KMS] MaxPools=4"));
	assert_int_equal(stats(x).pools_refused, 1);
	/* other uids get theirs, up to four pools; the fifth evicts the
	 * least recently used unheld one (eu-west-1's) */
	for (int i = 0; i < 4; i++) {
		x->f.mono_ms += 10;
		script(x, OK200);
		start_as(x, KMS_OP_CANCEL_KEY_DELETION, regions[i], 2000 + i, 60000, &out);
		wait_done(x, &out);
		assert_int_equal(out.error, KMSCANCEL_OK);
	}
	assert_int_equal(x->f.pools_made, 5);
	assert_int_equal(x->f.pools_freed, 1);
	assert_int_equal(stats(x).pools_evicted, 1);
	assert_int_equal(stats(x).n_pools, 4);
	kms_call_abandon(held);

	/* Released on the fake clock at T (us-east-1, ca-central-1), T-10
	 * (sa-east-1) and T-20 (ap-south-1).  Each turn of the
	 * loop is one run of the idle sweep (its timer is all that is left):
	 * at T+29 ap-south-1 has been idle 49 ms of the 50, and stays. */
	x->f.mono_ms += 29;
	for (int i = 0; i < 3; i++)
		event_base_loop(x->f.base, EVLOOP_ONCE);
	assert_int_equal(stats(x).n_pools, 4);
	/* at T+30 it goes, alone */
	x->f.mono_ms += 1;
	while (stats(x).n_pools > 3)
		event_base_loop(x->f.base, EVLOOP_ONCE);
	assert_false(has_endpoint(x, "https://kms.ap-south-1.amazonaws.com"));
	assert_true(has_endpoint(x, "https://kms.us-east-1.amazonaws.com"));
	assert_true(has_endpoint(x, "https://kms.sa-east-1.amazonaws.com"));
	/* then the rest */
	x->f.mono_ms += 50;
	while (stats(x).n_pools > 0)
		event_base_loop(x->f.base, EVLOOP_ONCE);
	assert_int_equal(x->f.pools_freed, 5);
	fixture_free(x);
}

/* The client-side rate limit: an attempt without a token waits for one
 * (queued), a caller with MaxQueued= attempts waiting is refused at once
 * with ThrottlingException, and abandoning a queued call withdraws it. */
static void test_rate_limit(void **state)
{
	struct kms_client_options o = {
		.max_attempts = 3,
		.retry_base_ms = 1000,
		.rate_limit = true,
		.rates = { [KMS_OP_CANCEL_KEY_DELETION] = 0.2 }, /* a token every 5 s, a burst of one */
		.max_queued = 1,
	};
	struct fixture *x = fixture_new_with(o);
	struct kms_call *queued;
	struct outcome out, out_queued;

	(void)state;
	script(x, OK200);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(stats(x).rate_limited, 0);

	queued = start(x, KMS_OP_CANCEL_KEY_DELETION, 60000, &out_queued);
	while (stats(x).rate_limited < 1)
		event_base_loop(x->f.base, EVLOOP_ONCE);
	assert_int_equal(stats(x).rate_waiting, 1);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_E_THROTTLING);
	assert_int_equal(out.attempts, 0);
	assert_non_null(strstr(out.message, "MaxQueued=1"));
	assert_int_equal(stats(x).rate_rejected, 1);
	assert_int_equal(x->f.n_seen, 1);

	kms_call_abandon(queued);
	assert_false(out_queued.done);
	assert_int_equal(stats(x).rate_waiting, 0);
	assert_int_equal(stats(x).in_flight, 0);
	fixture_free(x);
}

/* ---- the retry modes ---------------------------------------------------------- */

static struct fixture *fixture_mode(enum aws_retry_mode mode, unsigned max_attempts, unsigned retry_base_ms)
{
	struct kms_client_options o = {
	    .max_attempts = max_attempts,
	    .retry_base_ms = retry_base_ms,
	    .retry_mode = mode,
	};

	return fixture_new_with(o);
}

/* The backoff ceilings: standard and adaptive cap at 20 s, legacy never
 * (botocore's legacy delay is rand × 2^(n-1) s). */
static void test_backoff_ceilings(void **state)
{
	(void)state;
	assert_int_equal(kms_backoff_ceiling_ms(AWS_RETRY_MODE_STANDARD, 1000, 1), 1000);
	assert_int_equal(kms_backoff_ceiling_ms(AWS_RETRY_MODE_STANDARD, 1000, 5), 16000);
	assert_int_equal(kms_backoff_ceiling_ms(AWS_RETRY_MODE_STANDARD, 1000, 6), 20000);
	assert_int_equal(kms_backoff_ceiling_ms(AWS_RETRY_MODE_ADAPTIVE, 1000, 9), 20000);
	assert_int_equal(kms_backoff_ceiling_ms(AWS_RETRY_MODE_LEGACY, 1000, 6), 32000);
	assert_int_equal(kms_backoff_ceiling_ms(AWS_RETRY_MODE_LEGACY, 1000, 9), 256000);
	assert_int_equal(kms_backoff_ms(AWS_RETRY_MODE_LEGACY, 1000, 6, UINT32_MAX), 31999);
	assert_int_equal(kms_backoff_ms(AWS_RETRY_MODE_STANDARD, 1000, 6, UINT32_MAX), 19999);
	assert_int_equal(kms_backoff_ms(AWS_RETRY_MODE_LEGACY, 1000, 6, 0), 0);
	/* no quota in legacy: an attempt timeout whatever the tokens */
	assert_int_equal(kms_attempt_timeout_ms(AWS_RETRY_MODE_STANDARD, 100, 1, 3, 0, 10, 10000), 0);
	assert_int_equal(kms_attempt_timeout_ms(AWS_RETRY_MODE_LEGACY, 100, 1, 3, 0, 10, 10000), 100);
}

/* One call in mode answered status/code, then (if it should be retried)
 * 200: two attempts if retried, else one. */
static void expect_retried(enum aws_retry_mode mode, int status, const char *code, bool retried)
{
	struct fixture *x = fixture_mode(mode, 2, 1);
	struct outcome out;

	script(x, HTTP(status, code));
	if (retried)
		script(x, OK200);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	if (out.attempts != (retried ? 2u : 1u))
		fail_msg("%s, %d %s: %u attempts", aws_retry_mode_to_string(mode), status, code, out.attempts);
	fixture_free(x);
}

/* What the legacy mode retries (botocore's _retry.json) and what it does
 * not, against the standard mode: 5 attempts by default, HTTP 429 and 509,
 * only the five throttling codes with HTTP 400, no RequestTimeout or
 * TooManyRequests codes. */
static void test_legacy_retries(void **state)
{
	static const struct {
		int status;
		const char *code;
		bool legacy, standard;
	} cases[] = {
	    {500, "KMSInternalException", true, true},
	    {503, "DependencyTimeoutException", true, true},
	    {502, "502", true, true},
	    {504, "504", true, true},
	    {509, "BandwidthLimitExceeded", true, true},
	    {509, "509", true, false},
	    {429, "429", true, false},
	    {400, "ThrottlingException", true, true},
	    {400, "Throttling", true, true},
	    {400, "ProvisionedThroughputExceededException", true, true},
	    {400, "TooManyRequestsException", false, true},
	    {400, "RequestLimitExceeded", false, true},
	    {400, "RequestTimeoutException", false, true},
	    {400, "PriorRequestNotComplete", false, true},
	    {400, "LimitExceededException", false, false},
	    {400, "NotFoundException", false, false},
	    {400, "KMSInvalidStateException", false, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(kms_legacy_retryable(cases[i].code, cases[i].status), cases[i].legacy);
		expect_retried(AWS_RETRY_MODE_LEGACY, cases[i].status, cases[i].code, cases[i].legacy);
		expect_retried(AWS_RETRY_MODE_STANDARD, cases[i].status, cases[i].code, cases[i].standard);
	}
}

/* Legacy: 5 attempts unless told otherwise; connection failures retried;
 * no retry quota, so a failing endpoint keeps getting every retry where
 * the standard mode (test_retry_quota) would be down to first attempts;
 * backoff doubling from the base. */
static void test_legacy_attempts_quota_backoff(void **state)
{
	struct fixture *x = fixture_mode(AWS_RETRY_MODE_LEGACY, 0, 1);
	struct outcome out;

	(void)state;
	/* 26 calls of 5 failed attempts: 104 retries, 520 tokens' worth */
	for (int i = 0; i < 26; i++) {
		script(x, HTTP(500, "KMSInternalException"));
		script(x, FAIL(HTTPS_E_CONNECT, 0, 0));
		script(x, FAIL(HTTPS_E_TIMEOUT, 1, 1));
		script(x, HTTP(503, "ServiceUnavailable"));
		script(x, HTTP(400, "ThrottlingException"));
		call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
		assert_int_equal(out.attempts, 5);
		assert_string_equal(out.code, "ThrottlingException");
	}
	assert_int_equal(stats(x).retries, 104);
	assert_int_equal(stats(x).retry_quota_out, 0);
	fixture_free(x);

	/* rand at its top: 9, 19, 39, 79 ms (base 10 ms × 2^(n-1)) */
	x = fixture_mode(AWS_RETRY_MODE_LEGACY, 0, 10);
	x->f.random = UINT32_MAX;
	for (int i = 0; i < 4; i++)
		script(x, HTTP(500, "KMSInternalException"));
	script(x, OK200);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(out.attempts, 5);
	for (int i = 1; i < 5; i++)
		assert_true(x->f.seen[i].at_us - x->f.seen[i - 1].at_us >= ((10 << (i - 1)) - 2) * 1000);
	fixture_free(x);

	/* max_attempts set: it wins over the mode's default */
	x = fixture_mode(AWS_RETRY_MODE_LEGACY, 2, 1);
	for (int i = 0; i < 2; i++)
		script(x, HTTP(500, "KMSInternalException"));
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.attempts, 2);
	fixture_free(x);
}

/* Answers at 10/s on the fake clock, then one throttle: in adaptive mode
 * the endpoint is paced from then on at 0.7 × the measured rate (about
 * 7/s, a burst of that many), so 14 calls at once go out over about a
 * second; in standard mode they all go out at once.  A call whose deadline
 * comes while it waits for the adaptive token ends with Timeout. */
static void run_throttled_burst(enum aws_retry_mode mode, int64_t *ret_spread_us, double *ret_rate)
{
	struct fixture *x = fixture_mode(mode, 3, 1);
	struct kms_endpoint_stats es;
	struct answer ok = OK200, throttled = HTTP(400, "ThrottlingException");
	struct outcome out, burst[14];
	size_t first;

	ok.advance_ms = 100;
	throttled.advance_ms = 100;
	for (int i = 0; i < 20; i++) {
		script(x, ok);
		call(x, KMS_OP_DESCRIBE_KEY, &out);
	}
	assert_int_equal(kms_client_list_endpoints(x->client, &es, 1), 1);
	assert_false(es.adaptive_paced);
	script(x, throttled);
	script(x, OK200);
	call(x, KMS_OP_CANCEL_KEY_DELETION, &out);
	assert_int_equal(out.error, KMSCANCEL_OK);
	assert_int_equal(out.attempts, 2);
	assert_int_equal(kms_client_list_endpoints(x->client, &es, 1), 1);
	assert_int_equal(es.adaptive_paced, mode == AWS_RETRY_MODE_ADAPTIVE);
	*ret_rate = es.send_rate;

	first = x->f.n_seen;
	for (int i = 0; i < 14; i++) {
		script(x, OK200);
		start(x, KMS_OP_CANCEL_KEY_DELETION, 60000, &burst[i]);
	}
	for (int i = 0; i < 14; i++) {
		wait_done(x, &burst[i]);
		assert_int_equal(burst[i].error, KMSCANCEL_OK);
	}
	*ret_spread_us = x->f.seen[x->f.n_seen - 1].at_us - x->f.seen[first].at_us;
	if (mode == AWS_RETRY_MODE_ADAPTIVE) {
		assert_true(stats(x).adaptive_waited >= 6);
		/* the bucket is empty: 50 ms is less than a token's wait */
		start(x, KMS_OP_CANCEL_KEY_DELETION, 50, &out);
		wait_done(x, &out);
		assert_int_equal(out.error, KMSCANCEL_E_TIMEOUT);
		assert_int_equal(out.attempts, 0);
	} else {
		assert_int_equal(stats(x).adaptive_waited, 0);
	}
	assert_int_equal(stats(x).in_flight, 0);
	fixture_free(x);
}

static void test_adaptive_paces_after_throttling(void **state)
{
	int64_t spread_adaptive, spread_standard;
	double rate, unused;

	(void)state;
	run_throttled_burst(AWS_RETRY_MODE_ADAPTIVE, &spread_adaptive, &rate);
	run_throttled_burst(AWS_RETRY_MODE_STANDARD, &spread_standard, &unused);
	/* 10/s measured (smoothed: a little under), times 0.7 */
	assert_true(rate > 6.5 && rate <= 7.0);
	/* 14 calls with a burst of at most 6 tokens left: 8 waits of 1/rate */
	assert_true(spread_adaptive >= (int64_t)(7.5 / rate * 1e6));
	assert_true(spread_standard < 200000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_success),
	    cmocka_unit_test(test_retry_transient),
	    cmocka_unit_test(test_backoff_jitter),
	    cmocka_unit_test(test_throttling),
	    cmocka_unit_test(test_not_retried),
	    cmocka_unit_test(test_retry_quota),
	    cmocka_unit_test(test_retry_quota_timeout),
	    cmocka_unit_test(test_clock_skew),
	    cmocka_unit_test(test_attempt_timeout),
	    cmocka_unit_test(test_deadline),
	    cmocka_unit_test(test_response_lost),
	    cmocka_unit_test(test_expired_token),
	    cmocka_unit_test(test_abandon),
	    cmocka_unit_test(test_queue_full_and_prewarm),
	    cmocka_unit_test(test_pools),
	    cmocka_unit_test(test_rate_limit),
	    cmocka_unit_test(test_backoff_ceilings),
	    cmocka_unit_test(test_legacy_retries),
	    cmocka_unit_test(test_legacy_attempts_quota_backoff),
	    cmocka_unit_test(test_adaptive_paces_after_throttling),
	};

	log_set_max_level(LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
