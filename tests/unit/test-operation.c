/* SPDX-License-Identifier: MIT */
/* The operation core (daemon/operation*.c, coalesce.c) without TLS, a
 * server or a network, on the harness of operation-fixture.h: each test
 * reads what every caller was answered, what was sent to "KMS", the
 * counters, and every state transition.  Time: deadlines and settle
 * windows read the fake clock; the settle backoffs themselves are real
 * timers of 100 ms or so. */
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
#include <unistd.h>

#include "accounts.h"
#include "aws-settings.h"
#include "conf.h"
#include "error-names.h"
#include "json-writer.h"
#include "kms.h"
#include "log.h"
#include "methods-context.h"
#include "operation-internal.h"
#include "operation.h"
#include "policy.h"
#include "varlink-service.h"

#include "operation-fixture.h"

/* ---- driving calls ----------------------------------------------------------------- */

static void start_as(struct fixture *x, struct call *c, uid_t uid, const char *key, bool cancel, bool enable,
		     long long timeout_ms)
{
	struct operation_request req = {
	    .verb = cancel ? "cancel" : "describe",
	    .policy_ops = cancel ? POLICY_OP_CANCEL : POLICY_OP_DESCRIBE,
	    .cancel = cancel,
	    .enable_key = enable,
	    .key_id = key,
	    .key_id_len = strlen(key),
	    .timeout_ms = timeout_ms,
	};

	call_init(c, uid, false);
	operation_start(&x->ctx, c, &req);
}

static void start_cancel(struct fixture *x, struct call *c, bool enable)
{
	start_as(x, c, ALLOWED_UID, ARN, true, enable, 0);
}

/* A live call of key in state s (the loop run until there is one). */
static struct operation *live_in(struct fixture *x, enum operation_state s)
{
	for (struct operation *op = x->ctx.operations; op; op = op->next_live)
		if (op->state == s)
			return op;
	return NULL;
}

static struct operation *wait_state(struct fixture *x, enum operation_state s)
{
	int64_t since = now_us();
	struct operation *op;

	while (!(op = live_in(x, s)))
		turn(x, since);
	return op;
}

/* Whether the trace shows a call entering s. */
static bool entered(const struct fixture *x, enum operation_state s)
{
	for (size_t i = 0; i < x->n_trace; i++)
		if (x->trace[i].to == s)
			return true;
	return false;
}

/* The transitions of the trace, "from>to" joined by spaces. */
static const char *path(const struct fixture *x, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; i < x->n_trace && n < size; i++)
		n += snprintf(buf + n, size - n, "%s%s>%s", i ? " " : "", operation_state_to_string(x->trace[i].from),
			      operation_state_to_string(x->trace[i].to));
	return buf;
}

static void assert_path(const struct fixture *x, const char *expect)
{
	char buf[2048];

	assert_string_equal(path(x, buf, sizeof(buf)), expect);
}

/* A cancel whose first answer is lost (the connection reset after it was
 * written) and whose retry meets "not pending deletion". */
static void script_lost_cancel(struct fixture *x)
{
	script(x, FAIL(HTTPS_E_IO, 1, 0));
	script(x, HTTP(400, "KMSInvalidStateException"));
}

/* ---- the paths --------------------------------------------------------------------- */

static void test_cancel(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct call c;

	(void)state;
	script(x, OK200);
	start_cancel(x, &c, false);
	wait_done(x, &c);
	assert_success(&c);
	assert_reply_has(&c, "\"keyId\":\"" ARN "\"");
	assert_reply_has(&c, "\"keyState\":\"Disabled\"");
	assert_reply_has(&c, "\"attempts\":1");
	assert_int_equal(x->f.n_seen, 1);
	assert_sent(x, 0, "CancelKeyDeletion");
	assert_non_null(strstr(x->f.seen[0].authorization, "Credential=AKIDFIRST/"));
	assert_path(x, "authorizing>routing routing>awaiting-credentials awaiting-credentials>calling-kms "
		       "calling-kms>done");
	assert_counts(x, 1, 0, KMSCANCEL_OK);
	fixture_free(x);
}

static void test_describe(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct call c;

	(void)state;
	script(x, DESCRIBED("PendingDeletion"));
	start_as(x, &c, ALLOWED_UID, KEY_ID, false, false, 0); /* a bare key ID: the default region and account */
	wait_done(x, &c);
	assert_success(&c);
	assert_reply_has(&c, "\"keyState\":\"PendingDeletion\"");
	assert_reply_has(&c, "\"arn\":\"" ARN "\"");
	assert_sent(x, 0, "DescribeKey");
	assert_int_equal(x->f.n_seen, 1);
	fixture_free(x);
}

/* EnableKey right after the cancel still sees PendingDeletion: settled. */
static void test_enable_settles(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct call c;

	(void)state;
	script(x, OK200);
	script(x, HTTP(400, "KMSInvalidStateException"));
	script(x, http_body(200, "{}"));
	start_cancel(x, &c, true);
	wait_done(x, &c);
	assert_success(&c);
	assert_reply_has(&c, "\"keyState\":\"Enabled\"");
	assert_reply_has(&c, "\"attempts\":3");
	assert_int_equal(x->f.n_seen, 3);
	assert_sent(x, 0, "CancelKeyDeletion");
	assert_sent(x, 1, "EnableKey");
	assert_sent(x, 2, "EnableKey");
	assert_path(x, "authorizing>routing routing>awaiting-credentials awaiting-credentials>calling-kms "
		       "calling-kms>awaiting-credentials awaiting-credentials>calling-kms calling-kms>settling "
		       "settling>awaiting-credentials awaiting-credentials>calling-kms calling-kms>done");
	assert_int_equal(x->ctx.counters.calls_ok, 1);
	fixture_free(x);
}

/* The settle window runs out (the fake clock jumps past SETTLE_MAX_MS):
 * the failure says that the cancel itself was done. */
static void test_enable_settle_window_ends(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct answer late = HTTP(400, "KMSInvalidStateException");
	struct call c;

	(void)state;
	late.advance_ms = SETTLE_MAX_MS;
	script(x, OK200);
	script(x, HTTP(400, "KMSInvalidStateException"));
	script(x, late);
	start_cancel(x, &c, true);
	wait_done(x, &c);
	assert_error(&c, KMSCANCEL_E_INVALID_STATE);
	assert_reply_has(&c, "deletion cancelled (key is Disabled) but EnableKey failed");
	assert_int_equal(x->f.n_seen, 3); /* no fourth try: the script would fail it */
	assert_true(entered(x, OPERATION_SETTLING));
	assert_counts(x, 0, 1, KMSCANCEL_E_INVALID_STATE);
	fixture_free(x);
}

/* A cancel whose answer was lost, retried: "not pending deletion" was our
 * own success, which DescribeKey shows. */
static void test_lost_response_resolved(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct call c;

	(void)state;
	script_lost_cancel(x);
	script(x, DESCRIBED("Disabled"));
	start_cancel(x, &c, false);
	wait_done(x, &c);
	assert_success(&c);
	assert_reply_has(&c, "\"keyState\":\"Disabled\"");
	assert_reply_has(&c, "\"alreadyCancelled\":true");
	assert_int_equal(x->f.n_seen, 3);
	assert_sent(x, 2, "DescribeKey");
	assert_counts(x, 1, 0, KMSCANCEL_OK);
	fixture_free(x);
}

/* The same, but the key is still (after settling) pending deletion: the
 * KMSInvalidStateException is the answer. */
static void test_lost_response_not_ours(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct answer late = DESCRIBED("PendingDeletion");
	struct call c;

	(void)state;
	late.advance_ms = SETTLE_MAX_MS;
	script_lost_cancel(x);
	script(x, DESCRIBED("PendingDeletion"));
	script(x, late);
	start_cancel(x, &c, false);
	wait_done(x, &c);
	assert_error(&c, KMSCANCEL_E_INVALID_STATE);
	assert_reply_has(&c, "the key is PendingDeletion");
	assert_int_equal(x->f.n_seen, 4);
	assert_sent(x, 3, "DescribeKey");
	assert_true(entered(x, OPERATION_SETTLING));
	assert_counts(x, 0, 1, KMSCANCEL_E_INVALID_STATE);
	fixture_free(x);
}

/* ExpiredTokenException: the account's cache fetches again (the keys
 * changed meanwhile) and the step is made again, once. */
static void test_expired_token(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct call c;

	(void)state;
	script(x, HTTP(400, "ExpiredTokenException"));
	script(x, OK200);
	start_cancel(x, &c, false);
	wait_sent(x, 1);
	env_akid = "AKIDSECOND";
	wait_done(x, &c);
	assert_success(&c);
	assert_int_equal(x->f.n_seen, 2);
	assert_non_null(strstr(x->f.seen[0].authorization, "Credential=AKIDFIRST/"));
	assert_non_null(strstr(x->f.seen[1].authorization, "Credential=AKIDSECOND/"));
	fixture_free(x);
}

static void test_expired_token_twice(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct call c;

	(void)state;
	script(x, HTTP(400, "ExpiredTokenException"));
	script(x, HTTP(400, "ExpiredTokenException"));
	start_cancel(x, &c, false);
	wait_done(x, &c);
	assert_true(c.done);
	assert_true(c.error[0]);
	assert_reply_has(&c, "ExpiredTokenException");
	assert_int_equal(x->f.n_seen, 2); /* retried once, not again */
	fixture_free(x);
}

/* ---- coalescing -------------------------------------------------------------------- */

static void test_coalesce_success(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct call c[3];

	(void)state;
	script(x, OK200);
	for (size_t i = 0; i < 3; i++)
		start_cancel(x, &c[i], false);
	assert_non_null(live_in(x, OPERATION_FOLLOWING)); /* the others follow the first */
	for (size_t i = 0; i < 3; i++) {
		wait_done(x, &c[i]);
		assert_success(&c[i]);
		assert_reply_has(&c[i], "\"keyState\":\"Disabled\"");
	}
	assert_int_equal(x->f.n_seen, 1);
	assert_int_equal(x->ctx.counters.calls_ok, 3);
	fixture_free(x);
}

/* A failure reaches every caller, and every caller counts: callsFailed
 * and errors{} alike. */
static void test_coalesce_failure_counts(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct call c[3];

	(void)state;
	script(x, HTTP(400, "NotFoundException"));
	for (size_t i = 0; i < 3; i++)
		start_cancel(x, &c[i], false);
	for (size_t i = 0; i < 3; i++) {
		wait_done(x, &c[i]);
		assert_error(&c[i], KMSCANCEL_E_NOT_FOUND);
	}
	assert_int_equal(x->f.n_seen, 1);
	assert_counts(x, 0, 3, KMSCANCEL_E_NOT_FOUND);
	fixture_free(x);
}

/* A follower with a shorter deadline than its leader's gets Timeout on
 * its own; the leader goes on. */
static void test_follower_deadline(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct answer silence = {.kind = ANSWER_SILENCE};
	struct call leader, follower;

	(void)state;
	script(x, silence);
	start_cancel(x, &leader, false);
	start_as(x, &follower, ALLOWED_UID, ARN, true, false, METHODS_MIN_CALL_TIMEOUT_MS);
	assert_non_null(live_in(x, OPERATION_FOLLOWING));
	wait_done(x, &follower);
	assert_error(&follower, KMSCANCEL_E_TIMEOUT);
	assert_false(leader.done);
	assert_non_null(live_in(x, OPERATION_CALLING_KMS));
	assert_int_equal(operation_shutdown_all(&x->ctx), 1);
	assert_error(&leader, KMSCANCEL_E_ENDPOINT_UNAVAILABLE);
	assert_int_equal(x->f.n_seen, 1);
	assert_true(x->f.seen[0].abandoned);
	assert_int_equal(x->ctx.counters.errors[KMSCANCEL_E_TIMEOUT], 1);
	assert_int_equal(x->ctx.counters.errors[KMSCANCEL_E_ENDPOINT_UNAVAILABLE], 1);
	fixture_free(x);
}

/* ---- policy ------------------------------------------------------------------------ */

static void test_policy_deny(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct call c;

	(void)state;
	start_as(x, &c, DENIED_UID, ARN, true, false, 0);
	assert_error(&c, KMSCANCEL_E_PERMISSION_DENIED); /* at once */
	assert_reply_has(&c, "does not allow uid 2000 to cancel");
	assert_int_equal(x->f.n_seen, 0);
	assert_path(x, "authorizing>done");
	assert_int_equal(x->ctx.counters.errors[KMSCANCEL_E_PERMISSION_DENIED], 1);
	fixture_free(x);
}

/* ---- aliases ----------------------------------------------------------------------- */

#define ALIAS     "alias/prod-db"
#define ALIAS_ARN "arn:aws:kms:us-east-1:" ACCOUNT ":" ALIAS

/* Whether the trace shows a transition made at step. */
static bool stepped(const struct fixture *x, enum operation_step step)
{
	for (size_t i = 0; i < x->n_trace; i++)
		if (x->trace[i].step == step)
			return true;
	return false;
}

/* A cancel by alias: DescribeKey of the alias, then CancelKeyDeletion of
 * the key ARN it names; the reply's keyId is the key ARN. */
static void test_alias_cancel(void **state)
{
	const char *const keys[] = {ALIAS, ALIAS_ARN};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct fixture *x = fixture_new(CONFIG_ACCOUNT);
		struct call c;

		script(x, DESCRIBED("PendingDeletion"));
		script(x, http_body(200, "{\"KeyId\":\"" ARN "\"}"));
		start_as(x, &c, ALLOWED_UID, keys[i], true, false, 0);
		wait_done(x, &c);
		assert_success(&c);
		assert_reply_has(&c, "\"keyId\":\"" ARN "\"");
		assert_int_equal(x->f.n_seen, 2);
		assert_sent(x, 0, "DescribeKey");
		assert_non_null(strstr(x->f.seen[0].body, keys[i]));
		assert_sent(x, 1, "CancelKeyDeletion");
		assert_non_null(strstr(x->f.seen[1].body, ARN)); /* never the alias */
		assert_true(stepped(x, OPERATION_STEP_RESOLVE_ALIAS));
		assert_counts(x, 1, 0, KMSCANCEL_OK);
		fixture_free(x);
	}
}

/* A describe by alias answers from the resolving DescribeKey itself. */
static void test_alias_describe(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct call c;

	(void)state;
	script(x, DESCRIBED("PendingDeletion"));
	start_as(x, &c, ALLOWED_UID, ALIAS, false, false, 0);
	wait_done(x, &c);
	assert_success(&c);
	assert_reply_has(&c, "\"keyId\":\"" ARN "\"");
	assert_reply_has(&c, "\"keyState\":\"PendingDeletion\"");
	assert_int_equal(x->f.n_seen, 1);
	fixture_free(x);
}

/* Refused before the alias is resolved: nothing sent, the same words as
 * for a key. */
static void test_alias_policy_deny(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct call c;

	(void)state;
	start_as(x, &c, DENIED_UID, ALIAS, true, false, 0);
	assert_error(&c, KMSCANCEL_E_PERMISSION_DENIED);
	assert_reply_has(&c, "does not allow uid 2000 to cancel this key");
	assert_int_equal(x->f.n_seen, 0);
	fixture_free(x);
}

/* An unknown alias, to a caller the alias view allows: KMS's NotFound. */
static void test_alias_not_found(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct call c;

	(void)state;
	script(x, HTTP(400, "NotFoundException"));
	start_as(x, &c, ALLOWED_UID, ALIAS, true, false, 0);
	wait_done(x, &c);
	assert_error(&c, KMSCANCEL_E_NOT_FOUND);
	assert_int_equal(x->f.n_seen, 1);
	fixture_free(x);
}

/* Coalescing keys on the resolved key: a cancel by alias joins the cancel
 * of its key ARN already in flight, after resolving. */
static void test_alias_coalesces_on_key(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct answer silence = {.kind = ANSWER_SILENCE};
	struct call by_arn, by_alias;

	(void)state;
	script(x, silence);
	script(x, DESCRIBED("PendingDeletion"));
	start_cancel(x, &by_arn, false);
	wait_sent(x, 1);
	start_as(x, &by_alias, ALLOWED_UID, ALIAS, true, false, 0);
	wait_state(x, OPERATION_FOLLOWING);
	fake_release(&x->f, 0, OK200);
	wait_done(x, &by_arn);
	wait_done(x, &by_alias);
	assert_success(&by_arn);
	assert_success(&by_alias);
	assert_reply_has(&by_alias, "\"keyId\":\"" ARN "\"");
	assert_int_equal(x->f.n_seen, 2); /* one cancel, one DescribeKey */
	assert_sent(x, 1, "DescribeKey");
	fixture_free(x);
}

/* ---- the internal origin (operation_start_internal) ------------------------------- */

/* What an internal origin was told, copied out of the callback. */
struct told {
	unsigned n; /* times told: exactly once */
	kmscancel_error error;
	char message[512], request_id[64], cancel_request_id[64], key_state[32], key_arn[128], account[16],
	    params[1024];
	bool cancelled;
	unsigned attempts;
};

static void copy_or_empty(char *buf, size_t size, const char *s)
{
	snprintf(buf, size, "%s", s ? s : "");
}

static void told_cb(void *userdata, const struct operation_result *r)
{
	struct told *t = userdata;

	t->n++;
	t->error = r->error;
	copy_or_empty(t->message, sizeof(t->message), r->message);
	copy_or_empty(t->request_id, sizeof(t->request_id), r->request_id);
	copy_or_empty(t->cancel_request_id, sizeof(t->cancel_request_id), r->cancel_request_id);
	copy_or_empty(t->key_state, sizeof(t->key_state), r->key_state);
	copy_or_empty(t->key_arn, sizeof(t->key_arn), r->key_arn);
	copy_or_empty(t->account, sizeof(t->account), r->account);
	copy_or_empty(t->params, sizeof(t->params), text_of(r->params));
	t->cancelled = r->cancelled;
	t->attempts = r->attempts;
}

/* An internal operation as the guard starts one: as uid DENIED_UID, whom
 * the policy allows nothing, since the configuration is its authority. */
static void start_internal(struct fixture *x, struct told *t, const char *key, bool cancel, bool enable)
{
	struct peer daemon_peer = {.uid = DENIED_UID, .gid = DENIED_UID, .comm = "kmscanceld-guard"};
	struct operation_request req = {
	    .verb = cancel ? "cancel" : "describe",
	    .policy_ops = cancel ? POLICY_OP_CANCEL : POLICY_OP_DESCRIBE,
	    .cancel = cancel,
	    .enable_key = enable,
	    .key_id = key,
	    .key_id_len = strlen(key),
	};

	memset(t, 0, sizeof(*t));
	operation_start_internal(&x->ctx, &req,
				 &(struct operation_origin){.peer = &daemon_peer, .done = told_cb, .userdata = t});
}

static void wait_told(struct fixture *x, const struct told *t)
{
	int64_t since = now_us();

	while (!t->n)
		turn(x, since);
	assert_int_equal(t->n, 1);
}

/* A cancel and its EnableKey for the daemon itself: the same steps as a
 * caller's, told to the callback with both request IDs, never counted as
 * a caller's call, never asking the policy. */
static void test_internal_cancel_enable(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct told t;

	(void)state;
	script(x, OK200);
	script(x, http_body(200, "{}"));
	start_internal(x, &t, ARN, true, true);
	wait_told(x, &t);
	assert_int_equal(t.error, KMSCANCEL_OK);
	assert_true(t.cancelled);
	assert_string_equal(t.key_state, "Enabled");
	assert_string_equal(t.key_arn, ARN);
	assert_string_equal(t.account, ACCOUNT);
	assert_string_equal(t.cancel_request_id, "req-1");
	assert_string_equal(t.request_id, "req-2");
	assert_int_equal(t.attempts, 2);
	assert_sent(x, 0, "CancelKeyDeletion");
	assert_sent(x, 1, "EnableKey");
	assert_path(x, "authorizing>routing routing>awaiting-credentials awaiting-credentials>calling-kms "
		       "calling-kms>awaiting-credentials awaiting-credentials>calling-kms calling-kms>done");
	assert_counts(x, 0, 0, KMSCANCEL_OK);
	fixture_free(x);
}

/* A describe hands over the reply's parameters. */
static void test_internal_describe(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct told t;

	(void)state;
	script(x, DESCRIBED("PendingDeletion"));
	start_internal(x, &t, KEY_ID, false, false);
	wait_told(x, &t);
	assert_int_equal(t.error, KMSCANCEL_OK);
	assert_false(t.cancelled);
	assert_non_null(strstr(t.params, "\"keyState\":\"PendingDeletion\""));
	assert_non_null(strstr(t.params, "\"keyId\":\"" ARN "\""));
	assert_string_equal(t.account, ACCOUNT);
	assert_counts(x, 0, 0, KMSCANCEL_OK);
	fixture_free(x);
}

/* The EnableKey after the cancel fails: a failure, but one that cancelled
 * the deletion, which the origin must know (the guard records a rescue). */
static void test_internal_enable_fails(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct told t;

	(void)state;
	script(x, OK200);
	script(x, HTTP(400, "AccessDeniedException"));
	start_internal(x, &t, ARN, true, true);
	wait_told(x, &t);
	assert_int_equal(t.error, KMSCANCEL_E_ACCESS_DENIED);
	assert_true(t.cancelled);
	assert_string_equal(t.cancel_request_id, "req-1");
	assert_non_null(strstr(t.message, "deletion cancelled (key is Disabled) but EnableKey failed"));
	fixture_free(x);
}

/* A cancel that failed did not cancel. */
static void test_internal_cancel_fails(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct told t;

	(void)state;
	script(x, HTTP(400, "NotFoundException"));
	start_internal(x, &t, ARN, true, false);
	wait_told(x, &t);
	assert_int_equal(t.error, KMSCANCEL_E_NOT_FOUND);
	assert_false(t.cancelled);
	assert_string_equal(t.cancel_request_id, "");
	assert_counts(x, 0, 0, KMSCANCEL_OK);
	fixture_free(x);
}

/* A lost response resolved with DescribeKey: cancelled, and the request
 * that showed it is the cancel's evidence. */
static void test_internal_lost_response(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct told t;

	(void)state;
	script_lost_cancel(x);
	script(x, DESCRIBED("Disabled"));
	start_internal(x, &t, ARN, true, false);
	wait_told(x, &t);
	assert_int_equal(t.error, KMSCANCEL_OK);
	assert_true(t.cancelled);
	assert_string_equal(t.key_state, "Disabled");
	assert_string_equal(t.cancel_request_id, "req-3");
	assert_int_equal(x->f.n_seen, 3);
	fixture_free(x);
}

/* A caller's cancel and the daemon's of the same key make one request,
 * whichever came first; only the caller is counted. */
static void test_internal_coalesces(void **state)
{
	(void)state;
	for (int internal_first = 0; internal_first < 2; internal_first++) {
		struct fixture *x = fixture_new(CONFIG_ACCOUNT);
		struct answer silence = {.kind = ANSWER_SILENCE};
		struct call c;
		struct told t;

		script(x, silence);
		if (internal_first)
			start_internal(x, &t, ARN, true, false);
		else
			start_cancel(x, &c, false);
		wait_sent(x, 1);
		if (internal_first)
			start_cancel(x, &c, false);
		else
			start_internal(x, &t, ARN, true, false);
		assert_non_null(live_in(x, OPERATION_FOLLOWING));
		fake_release(&x->f, 0, OK200);
		wait_done(x, &c);
		wait_told(x, &t);
		assert_success(&c);
		assert_int_equal(t.error, KMSCANCEL_OK);
		assert_true(t.cancelled);
		assert_string_equal(t.key_arn, ARN);
		assert_string_equal(t.cancel_request_id, "req-1");
		assert_int_equal(x->f.n_seen, 1);
		assert_counts(x, 1, 0, KMSCANCEL_OK);
		fixture_free(x);
	}
}

/* At shutdown an internal operation is told, like a call is answered. */
static void test_internal_shutdown(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct answer silence = {.kind = ANSWER_SILENCE};
	struct told t;

	(void)state;
	script(x, silence);
	start_internal(x, &t, ARN, true, false);
	wait_sent(x, 1);
	assert_int_equal(operation_shutdown_all(&x->ctx), 1);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.error, KMSCANCEL_E_ENDPOINT_UNAVAILABLE);
	assert_false(t.cancelled);
	assert_counts(x, 0, 0, KMSCANCEL_OK);
	fixture_free(x);
}

/* An invalid key is told at once, before any request. */
static void test_internal_invalid_key(void **state)
{
	struct fixture *x = fixture_new(CONFIG_ACCOUNT);
	struct told t;

	(void)state;
	start_internal(x, &t, "not a key", false, false);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.error, KMSCANCEL_E_INVALID_KEY_ID);
	assert_int_equal(x->f.n_seen, 0);
	fixture_free(x);
}

/* ---- shutdown and reload in each state --------------------------------------------- */

/* Brings a call (or two, for FOLLOWING) into state s.  c[1] is only used
 * for FOLLOWING.  Returns how many calls were started. */
static size_t bring_to(struct fixture *x, struct call *c, enum operation_state s)
{
	struct answer silence = {.kind = ANSWER_SILENCE};

	switch (s) {
	case OPERATION_AWAITING_CREDENTIALS:
		/* env_no_keys: the default credentials' fetch is pending */
		start_cancel(x, &c[0], false);
		assert_non_null(live_in(x, s)); /* the loop would learn the port is closed */
		return 1;
	case OPERATION_ROUTING:
		/* CONFIG_LEARN: the default account is being learnt */
		start_cancel(x, &c[0], false);
		break;
	case OPERATION_CALLING_KMS:
		script(x, silence);
		start_cancel(x, &c[0], false);
		wait_sent(x, 1); /* in the transport, not only in the client */
		break;
	case OPERATION_SETTLING:
		script(x, OK200);
		script(x, HTTP(400, "KMSInvalidStateException"));
		start_cancel(x, &c[0], true);
		break;
	case OPERATION_FOLLOWING:
		script(x, silence);
		start_cancel(x, &c[0], false);
		start_cancel(x, &c[1], false);
		wait_state(x, OPERATION_FOLLOWING);
		wait_sent(x, 1);
		return 2;
	default:
		fail();
	}
	wait_state(x, s);
	return 1;
}

/* A fixture in which a call can wait in s. */
static struct fixture *fixture_for(enum operation_state s)
{
	env_no_keys = s == OPERATION_AWAITING_CREDENTIALS;
	return fixture_new(s == OPERATION_ROUTING ? CONFIG_LEARN : CONFIG_ACCOUNT);
}

static const enum operation_state waiting_states[] = {
    OPERATION_ROUTING, OPERATION_AWAITING_CREDENTIALS, OPERATION_CALLING_KMS, OPERATION_SETTLING, OPERATION_FOLLOWING,
};

static void test_shutdown_in_each_state(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(waiting_states) / sizeof(waiting_states[0]); i++) {
		enum operation_state s = waiting_states[i];
		struct fixture *x = fixture_for(s);
		struct call c[2];
		size_t n = bring_to(x, c, s);

		assert_int_equal(operation_shutdown_all(&x->ctx), n);
		for (size_t j = 0; j < n; j++) {
			assert_error(&c[j], KMSCANCEL_E_ENDPOINT_UNAVAILABLE);
			assert_reply_has(&c[j], "shutting down");
		}
		assert_null(x->ctx.operations);
		assert_int_equal(x->ctx.counters.errors[KMSCANCEL_E_ENDPOINT_UNAVAILABLE], n);
		fixture_free(x); /* no request left live, no pool, no leak (valgrind, ASan) */
	}
}

/* A reload while a call waits: the call keeps what it copied (region,
 * account, route) and finishes, on the KMS client it was calling when the
 * reload replaced it, with its account's credentials. */
static void test_reload_in_each_state(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(waiting_states) / sizeof(waiting_states[0]); i++) {
		enum operation_state s = waiting_states[i];
		struct fixture *x = fixture_for(s);
		struct call c[2];
		size_t n = bring_to(x, c, s);

		/* the same configuration but for the key's account, now
		 * known, and keys in the environment */
		env_no_keys = false;
		reload(x, CONFIG_ACCOUNT);
		if (s == OPERATION_ROUTING || s == OPERATION_AWAITING_CREDENTIALS)
			script(x, OK200);
		if (s == OPERATION_SETTLING)
			script(x, http_body(200, "{}")); /* the enable, settled */
		if (s == OPERATION_CALLING_KMS || s == OPERATION_FOLLOWING)
			fake_release(&x->f, 0, OK200);
		for (size_t j = 0; j < n; j++) {
			wait_done(x, &c[j]);
			assert_success(&c[j]);
			assert_reply_has(&c[j], s == OPERATION_SETTLING ? "\"keyState\":\"Enabled\""
									: "\"keyState\":\"Disabled\"");
		}
		assert_int_equal(x->f.n_seen, s == OPERATION_SETTLING ? 3 : 1);
		assert_int_equal(x->ctx.counters.calls_ok, n);
		assert_null(x->ctx.operations);
		fixture_free(x);
	}
}

#define OTHER_ACCOUNT "444455556666"
#define OTHER_ARN     "arn:aws:kms:us-east-1:" OTHER_ACCOUNT ":key/" KEY_ID

/* A fixture with an [Account OTHER_ACCOUNT] Profile=other section, and the
 * shared credentials file with profile "other" (AKIDOTHER) it reads:
 * Profile= accounts read the process environment (accounts.h).
 * other_profile_end() restores it. */
struct other_profile {
	char path[64];
	char *saved;
};

static struct fixture *other_profile_begin(struct other_profile *o)
{
	const char *profile = "[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = other/secret\n";
	int fd;

	snprintf(o->path, sizeof(o->path), "/tmp/test-operation-credentials-XXXXXX");
	fd = mkstemp(o->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, profile, strlen(profile)), (ssize_t)strlen(profile));
	close(fd);
	o->saved = getenv("AWS_SHARED_CREDENTIALS_FILE") ? strdup(getenv("AWS_SHARED_CREDENTIALS_FILE")) : NULL;
	setenv("AWS_SHARED_CREDENTIALS_FILE", o->path, 1);
	return fixture_new(CONFIG_ACCOUNT "[Account " OTHER_ACCOUNT "]\nProfile=other\n");
}

static void other_profile_end(struct other_profile *o)
{
	if (o->saved)
		setenv("AWS_SHARED_CREDENTIALS_FILE", o->saved, 1);
	else
		unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	free(o->saved);
	unlink(o->path);
}

/* A reload that removes the [Account N] section a call was routed to,
 * while its cancel is in flight: the cancel's answer stands, and the
 * enable step fails rather than use other credentials. */
static void test_reload_removes_account(void **state)
{
	struct answer silence = {.kind = ANSWER_SILENCE};
	struct other_profile o;
	struct fixture *x;
	struct call c;

	(void)state;
	x = other_profile_begin(&o);
	script(x, silence);
	start_as(x, &c, ALLOWED_UID, OTHER_ARN, true, true, 0);
	wait_sent(x, 1);
	assert_non_null(strstr(x->f.seen[0].authorization, "Credential=AKIDOTHER/"));

	reload(x, CONFIG_ACCOUNT);
	fake_release(&x->f, 0, http_body(200, "{\"KeyId\":\"" OTHER_ARN "\"}"));
	wait_done(x, &c);
	assert_error(&c, KMSCANCEL_E_CREDENTIALS_UNAVAILABLE);
	assert_reply_has(&c, "deletion cancelled (key is Disabled) but EnableKey was not sent");
	assert_reply_has(&c, "[Account " OTHER_ACCOUNT "]");
	assert_int_equal(x->f.n_seen, 1); /* no EnableKey, with no credentials */
	fixture_free(x);
	other_profile_end(&o);
}

/* The same while the call settles: the enable's next try after the
 * backoff asks the account again, and fails clearly rather than sign with
 * the removed section's credentials it held. */
static void test_reload_removes_account_while_settling(void **state)
{
	struct other_profile o;
	struct fixture *x;
	struct call c;

	(void)state;
	x = other_profile_begin(&o);
	script(x, http_body(200, "{\"KeyId\":\"" OTHER_ARN "\"}"));
	script(x, HTTP(400, "KMSInvalidStateException"));
	start_as(x, &c, ALLOWED_UID, OTHER_ARN, true, true, 0);
	wait_state(x, OPERATION_SETTLING);
	assert_int_equal(x->f.n_seen, 2);

	reload(x, CONFIG_ACCOUNT);
	wait_done(x, &c);
	assert_error(&c, KMSCANCEL_E_CREDENTIALS_UNAVAILABLE);
	assert_reply_has(&c, "[Account " OTHER_ACCOUNT "]");
	assert_int_equal(x->f.n_seen, 2); /* no EnableKey signed with the removed account's set */
	fixture_free(x);
	other_profile_end(&o);
}

/* Run last: every state of the machine was entered by some test above. */
static void test_every_state_seen(void **state)
{
	(void)state;
	for (unsigned s = 0; s < _OPERATION_STATE_MAX; s++)
		if (!(states_seen & 1u << s))
			fail_msg("no test brought a call into %s", operation_state_to_string(s));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_describe),
	    cmocka_unit_test(test_enable_settles),
	    cmocka_unit_test(test_enable_settle_window_ends),
	    cmocka_unit_test(test_lost_response_resolved),
	    cmocka_unit_test(test_lost_response_not_ours),
	    cmocka_unit_test(test_expired_token),
	    cmocka_unit_test(test_expired_token_twice),
	    cmocka_unit_test(test_coalesce_success),
	    cmocka_unit_test(test_coalesce_failure_counts),
	    cmocka_unit_test(test_follower_deadline),
	    cmocka_unit_test(test_policy_deny),
	    cmocka_unit_test(test_alias_cancel),
	    cmocka_unit_test(test_alias_describe),
	    cmocka_unit_test(test_alias_policy_deny),
	    cmocka_unit_test(test_alias_not_found),
	    cmocka_unit_test(test_alias_coalesces_on_key),
	    cmocka_unit_test(test_internal_cancel_enable),
	    cmocka_unit_test(test_internal_describe),
	    cmocka_unit_test(test_internal_enable_fails),
	    cmocka_unit_test(test_internal_cancel_fails),
	    cmocka_unit_test(test_internal_lost_response),
	    cmocka_unit_test(test_internal_coalesces),
	    cmocka_unit_test(test_internal_shutdown),
	    cmocka_unit_test(test_internal_invalid_key),
	    cmocka_unit_test(test_shutdown_in_each_state),
	    cmocka_unit_test(test_reload_in_each_state),
	    cmocka_unit_test(test_reload_removes_account),
	    cmocka_unit_test(test_reload_removes_account_while_settling),
	    cmocka_unit_test(test_every_state_seen),
	};

	log_set_max_level(getenv("TEST_DEBUG") ? LOG_DEBUG : LOG_ERR);
	/* A test that loops without turning the event loop (so without
	 * reaching WAIT_LIMIT_US) is killed rather than left to hang make
	 * check; valgrind makes the whole file take seconds, not minutes. */
	alarm(300);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
