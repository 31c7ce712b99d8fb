/* SPDX-License-Identifier: MIT */
/*
 * conn.c alone: the connection serves one end of a socketpair, the test's
 * client holds the other, and the test drives a libevent base.  The test is
 * the connection's owner (struct conn_owner_ops): it parks every dispatched
 * call for the test to answer by hand through call.h, records what the
 * connection reports (closed, freed, calls started and ended) and can hold
 * the uid back.  No server, no varlink-service, no daemon.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "conn.h"
#include "log.h"
#include "varlink-test-peer.h"
#include "varlink.h"

#define CALLS_MAX 64

/* --- the owner --------------------------------------------------------------------------------- */

struct fx {
	struct event_base *base;
	struct server_limits limits;
	struct server_stats stats;
	struct conn_env env;
	struct conn *conn;     /* NULL once freed */
	struct test_peer peer; /* the client's end */
	int conn_fd;           /* the connection's end (it owns it) */

	struct call *calls[CALLS_MAX]; /* dispatched, in order; NULL once answered */
	unsigned n_calls;
	unsigned closed, freed, started, ended, busy_asked;
	bool busy;
};

static void owner_dispatch(struct call *call, void *owner)
{
	struct fx *fx = owner;

	assert_true(fx->n_calls < CALLS_MAX);
	fx->calls[fx->n_calls++] = call;
}

static void owner_closed(struct conn *c, void *owner)
{
	struct fx *fx = owner;

	assert_ptr_equal(c, fx->conn);
	assert_int_equal(conn_get_state(c), CONN_CLOSED);
	fx->closed++;
}

static void owner_freed(struct conn *c, void *owner)
{
	struct fx *fx = owner;

	assert_ptr_equal(c, fx->conn);
	fx->freed++;
	fx->conn = NULL;
}

static void owner_call_started(struct conn *c, void *owner)
{
	((struct fx *)owner)->started++;
}

static void owner_call_ended(struct conn *c, void *owner)
{
	((struct fx *)owner)->ended++;
}

static bool owner_uid_busy(uid_t uid, void *owner)
{
	struct fx *fx = owner;

	assert_int_equal(uid, getuid());
	fx->busy_asked++;
	return fx->busy;
}

static const struct conn_owner_ops ops = {
    .dispatch = owner_dispatch,
    .closed = owner_closed,
    .freed = owner_freed,
    .call_started = owner_call_started,
    .call_ended = owner_call_ended,
    .uid_busy = owner_uid_busy,
};

/* --- fixture --------------------------------------------------------------------------------- */

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->base = event_base_new();
	fx->peer.base = fx->base;
	fx->peer.fd = -1;
	server_limits_init(&fx->limits);
	fx->limits.idle_timeout_ms = 0;
	fx->env = (struct conn_env){
	    .base = fx->base,
	    .limits = &fx->limits,
	    .stats = &fx->stats,
	    .tokener = varlink_tokener_new(),
	    .ops = &ops,
	    .owner = fx,
	};
	*state = fx;
	return fx->base && fx->env.tokener ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	fx->conn = conn_free(fx->conn);
	if (fx->peer.fd >= 0)
		close(fx->peer.fd);
	json_tokener_free(fx->env.tokener);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

/* Serve one end of a fresh socketpair (after the test set its limits). */
static void start(struct fx *fx)
{
	struct peer peer = {.uid = getuid(), .gid = getgid(), .pid = getpid(), .comm = "test-conn"};
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	fx->peer.fd = sv[1];
	fx->conn_fd = sv[0];
	assert_int_equal(conn_new(&fx->env, sv[0], &peer, &fx->conn), 0);
	assert_int_equal(conn_get_state(fx->conn), CONN_RUNNING);
	assert_int_equal(conn_peer(fx->conn)->uid, getuid());
}

/* Run the loop until it has nothing more to do right now (a few turns:
 * one callback may activate another). */
static void pump(struct fx *fx)
{
	for (int i = 0; i < 8; i++)
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
}

static void send_raw(struct fx *fx, const void *data, size_t len)
{
	test_peer_send(&fx->peer, data, len);
	pump(fx);
}

static void send_call(struct fx *fx, const char *method, const char *params_json, unsigned flags)
{
	test_peer_call(&fx->peer, method, params_json, flags);
	pump(fx);
}

/* Answer call i of the dispatched ones with {"n": n} as kind (the error
 * io.test.Failed for CALL_EMIT_ERROR). */
static void answer(struct fx *fx, unsigned i, enum call_emit kind, int n)
{
	struct json_object *p = json_object_new_object();
	char *msg = NULL;
	size_t len = 0;

	assert_true(i < fx->n_calls);
	assert_non_null(fx->calls[i]);
	json_object_object_add(p, "n", json_object_new_int(n));
	if (kind == CALL_EMIT_ERROR)
		assert_int_equal(varlink_format_error("io.test.Failed", p, &msg, &len), 0);
	else
		assert_int_equal(varlink_format_reply(p, kind == CALL_EMIT_CONTINUES, &msg, &len), 0);
	json_object_put(p);
	call_emit(fx->calls[i], kind, msg, len);
	if (kind != CALL_EMIT_CONTINUES)
		fx->calls[i] = NULL;
	pump(fx);
}

/* Expect a reply {"n": n}, continuing or not, or the error io.test.Failed. */
static void expect(struct fx *fx, int n, enum call_emit kind)
{
	struct varlink_reply r;
	int64_t got = -1;

	assert_int_equal(test_peer_recv_within(&fx->peer, &r, 5000), 1);
	if (kind == CALL_EMIT_ERROR) {
		assert_non_null(r.error);
		assert_string_equal(r.error, "io.test.Failed");
	} else {
		if (r.error)
			fail_msg("expected n=%d, got error %s", n, r.error);
		assert_int_equal(r.continues, kind == CALL_EMIT_CONTINUES);
	}
	assert_int_equal(varlink_get_int64(r.parameters, "n", &got), 0);
	assert_int_equal(got, n);
	varlink_reply_done(&r);
}

/* Nothing is on its way: the connection wrote all it had (it writes
 * through at once, so a due reply would be there after pump()). */
static void expect_nothing(struct fx *fx)
{
	char c;

	pump(fx);
	assert_null(memchr(fx->peer.buf, '\0', fx->peer.len));
	assert_int_equal(recv(fx->peer.fd, &c, 1, MSG_PEEK), -1);
	assert_int_equal(errno, EAGAIN);
}

static void expect_eof(struct fx *fx)
{
	test_peer_expect_eof(&fx->peer);
}

/* Every call that started has ended, and the connection is gone. */
static void expect_all_gone(struct fx *fx)
{
	assert_null(fx->conn);
	assert_int_equal(fx->closed, 1);
	assert_int_equal(fx->freed, 1);
	assert_int_equal(fx->started, fx->ended);
	assert_int_equal(fx->stats.calls_in_flight, 0);
}

/* --- tests ---------------------------------------------------------------------------------------- */

/* Messages split anywhere and several in one write are each one call, in
 * order, with their method, parameters and flags. */
static void test_framing(void **state)
{
	struct fx *fx = *state;
	static const char two[] = "{\"method\":\"io.test.A\",\"parameters\":{\"n\":1}}\0"
				  "{\"method\":\"io.test.B\",\"more\":true}";
	static const char split[] = "{\"method\":\"io.test.C\",\"oneway\":true,\"parameters\":{\"n\":3}}";

	start(fx);
	send_raw(fx, two, sizeof(two)); /* both NULs */
	assert_int_equal(fx->n_calls, 2);
	assert_string_equal(call_method(fx->calls[0]), "io.test.A");
	assert_int_equal(json_object_get_int(json_object_object_get(call_parameters(fx->calls[0]), "n")), 1);
	assert_false(call_wants_more(fx->calls[0]));
	assert_string_equal(call_method(fx->calls[1]), "io.test.B");
	assert_true(call_wants_more(fx->calls[1]));
	assert_non_null(call_parameters(fx->calls[1])); /* absent: {} */
	assert_int_equal(call_peer(fx->calls[1])->pid, getpid());

	/* One message in three pieces, the NUL alone at the end. */
	send_raw(fx, split, 10);
	send_raw(fx, split + 10, sizeof(split) - 11);
	assert_int_equal(fx->n_calls, 2);
	send_raw(fx, "", 1);
	assert_int_equal(fx->n_calls, 3);
	assert_string_equal(call_method(fx->calls[2]), "io.test.C");
	assert_true(call_is_oneway(fx->calls[2]));
	assert_int_equal(fx->stats.calls_total, 3);
	assert_int_equal(fx->started, 3);

	answer(fx, 0, CALL_EMIT_REPLY, 1);
	answer(fx, 1, CALL_EMIT_REPLY, 2);
	answer(fx, 2, CALL_EMIT_REPLY, 3);
	expect(fx, 1, CALL_EMIT_REPLY);
	expect(fx, 2, CALL_EMIT_REPLY);
	expect_nothing(fx); /* the oneway call's */
	assert_int_equal(fx->ended, 3);
	assert_int_equal(fx->stats.calls_in_flight, 0);
}

/* Replies leave in call order whatever order the calls complete in. */
static void test_pipelining_order(void **state)
{
	struct fx *fx = *state;

	start(fx);
	for (int i = 0; i < 4; i++)
		send_call(fx, "io.test.Park", NULL, 0);
	assert_int_equal(fx->n_calls, 4);
	answer(fx, 3, CALL_EMIT_REPLY, 3);
	answer(fx, 1, CALL_EMIT_ERROR, 1);
	expect_nothing(fx);
	answer(fx, 0, CALL_EMIT_REPLY, 0);
	expect(fx, 0, CALL_EMIT_REPLY);
	expect(fx, 1, CALL_EMIT_ERROR);
	expect_nothing(fx);
	answer(fx, 2, CALL_EMIT_REPLY, 2);
	expect(fx, 2, CALL_EMIT_REPLY);
	expect(fx, 3, CALL_EMIT_REPLY);
	assert_int_equal(fx->stats.error_replies, 1);
	assert_int_equal(fx->ended, 4);
}

/* At calls_per_connection_max unanswered calls the connection reads no
 * further (back-pressure, no error); each completion lets one more in. */
static void test_queue_limit(void **state)
{
	struct fx *fx = *state;
	char all[512];
	size_t len = 0;

	fx->limits.calls_per_connection_max = 3;
	start(fx);
	for (int i = 0; i < 6; i++)
		len += (size_t)snprintf(all + len, sizeof(all) - len,
					"{\"method\":\"io.test.Park\",\"parameters\":{\"n\":%d}}", i) +
		       1;
	send_raw(fx, all, len);
	assert_int_equal(fx->n_calls, 3);
	/* Not even a reply of a finished call frees a slot before it is sent:
	 * the call is one of the three until then. */
	answer(fx, 1, CALL_EMIT_REPLY, 1);
	assert_int_equal(fx->n_calls, 3);
	answer(fx, 0, CALL_EMIT_REPLY, 0);
	assert_int_equal(fx->n_calls, 5);
	for (unsigned i = 2; i < 5; i++)
		answer(fx, i, CALL_EMIT_REPLY, (int)i);
	assert_int_equal(fx->n_calls, 6);
	answer(fx, 5, CALL_EMIT_REPLY, 5);
	for (int i = 0; i < 6; i++)
		expect(fx, i, CALL_EMIT_REPLY);
	assert_int_equal(fx->stats.calls_total, 6);
	assert_int_equal(fx->stats.protocol_errors, 0);
}

/* While the owner says the uid is busy nothing is read; conn_resume()
 * reads again once it is not. */
static void test_uid_busy(void **state)
{
	struct fx *fx = *state;

	start(fx);
	fx->busy = true;
	send_call(fx, "io.test.Park", NULL, 0);
	assert_int_equal(fx->n_calls, 0);
	assert_true(fx->busy_asked > 0);
	fx->busy = false;
	pump(fx);
	assert_int_equal(fx->n_calls, 0); /* nothing woke it */
	conn_resume(fx->conn);
	pump(fx);
	assert_int_equal(fx->n_calls, 1);
	answer(fx, 0, CALL_EMIT_REPLY, 7);
	expect(fx, 7, CALL_EMIT_REPLY);
}

/* message_max bytes without a NUL: the calls before are answered, then the
 * connection closes (a protocol error, no reply to the junk). */
static void test_oversized(void **state)
{
	struct fx *fx = *state;
	char junk[300];

	fx->limits.message_max = 256;
	start(fx);
	send_call(fx, "io.test.Park", NULL, 0);
	memset(junk, ' ', sizeof(junk));
	send_raw(fx, junk, sizeof(junk));
	assert_int_equal(fx->stats.protocol_errors, 1);
	assert_int_equal(conn_get_state(fx->conn), CONN_SHUTTING_DOWN);
	assert_int_equal(fx->closed, 0);
	answer(fx, 0, CALL_EMIT_REPLY, 1);
	expect(fx, 1, CALL_EMIT_REPLY);
	expect_eof(fx);
	expect_all_gone(fx);
}

/* A message of exactly message_max bytes, its NUL included, is one call. */
static void test_largest_message(void **state)
{
	struct fx *fx = *state;
	static const char head[] = "{\"method\":\"io.test.Park\",\"parameters\":{\"pad\":\"";
	char msg[256];

	fx->limits.message_max = sizeof(msg);
	start(fx);
	memcpy(msg, head, sizeof(head) - 1);
	memset(msg + sizeof(head) - 1, 'x', sizeof(msg) - (sizeof(head) - 1) - 4);
	memcpy(msg + sizeof(msg) - 4, "\"}}", 4);
	send_raw(fx, msg, sizeof(msg));
	assert_int_equal(fx->n_calls, 1);
	assert_int_equal(fx->stats.protocol_errors, 0);
}

/* A oneway call never writes and never holds back the replies behind it. */
static void test_oneway(void **state)
{
	struct fx *fx = *state;

	start(fx);
	send_call(fx, "io.test.Park", NULL, VARLINK_CALL_ONEWAY);
	send_call(fx, "io.test.Park", NULL, 0);
	answer(fx, 1, CALL_EMIT_REPLY, 2);
	expect(fx, 2, CALL_EMIT_REPLY);
	answer(fx, 0, CALL_EMIT_REPLY, 1);
	expect_nothing(fx);
	/* A reply the handler could not build means nothing for a oneway
	 * call: the connection stays. */
	send_call(fx, "io.test.Park", NULL, VARLINK_CALL_ONEWAY);
	call_emit(fx->calls[2], CALL_EMIT_REPLY, NULL, 0);
	fx->calls[2] = NULL;
	pump(fx);
	assert_int_equal(conn_get_state(fx->conn), CONN_RUNNING);
	assert_int_equal(fx->started, fx->ended);
}

/* "continues" replies go out as they come, behind earlier calls' replies;
 * the call stays open until its final reply. */
static void test_more(void **state)
{
	struct fx *fx = *state;

	start(fx);
	send_call(fx, "io.test.Park", NULL, 0);
	send_call(fx, "io.test.Stream", NULL, VARLINK_CALL_MORE);
	answer(fx, 1, CALL_EMIT_CONTINUES, 10);
	answer(fx, 1, CALL_EMIT_CONTINUES, 11);
	expect_nothing(fx);
	assert_int_equal(fx->ended, 0);
	answer(fx, 0, CALL_EMIT_REPLY, 1);
	expect(fx, 1, CALL_EMIT_REPLY);
	expect(fx, 10, CALL_EMIT_CONTINUES);
	expect(fx, 11, CALL_EMIT_CONTINUES);
	answer(fx, 1, CALL_EMIT_CONTINUES, 12);
	expect(fx, 12, CALL_EMIT_CONTINUES);
	answer(fx, 1, CALL_EMIT_REPLY, 13);
	expect(fx, 13, CALL_EMIT_REPLY);
	assert_int_equal(fx->ended, 2);
	assert_int_equal(fx->stats.calls_in_flight, 0);
}

/* A reply that cannot be built for a call that expects one closes the
 * connection: later replies would pair with the wrong calls. */
static void test_unbuildable_reply(void **state)
{
	struct fx *fx = *state;

	start(fx);
	send_call(fx, "io.test.Park", NULL, 0);
	send_call(fx, "io.test.Park", NULL, 0);
	call_emit(fx->calls[0], CALL_EMIT_REPLY, NULL, 0);
	fx->calls[0] = NULL;
	pump(fx);
	assert_int_equal(fx->closed, 1);
	assert_true(call_is_abandoned(fx->calls[1]));
	expect_eof(fx);
	answer(fx, 1, CALL_EMIT_REPLY, 2);
	expect_all_gone(fx);
}

/*
 * The client reads part of a long reply and goes away.  The write fails,
 * the connection closes, the call still running is abandoned and its late
 * completion frees the connection.
 */
static void test_vanish_mid_reply(void **state)
{
	struct fx *fx = *state;
	int small = 4096;
	char part[1024];
	struct json_object *p;
	char *msg, *pad;
	size_t len;
	ssize_t n;

	start(fx);
	assert_int_equal(setsockopt(fx->peer.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	send_call(fx, "io.test.Long", NULL, 0);
	send_call(fx, "io.test.Park", NULL, 0);
	assert_int_equal(fx->n_calls, 2);
	assert_int_equal(setsockopt(fx->conn_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	pad = malloc(60000);
	memset(pad, 'x', 59999);
	pad[59999] = '\0';
	p = json_object_new_object();
	json_object_object_add(p, "pad", json_object_new_string(pad));
	free(pad);
	assert_int_equal(varlink_format_reply(p, false, &msg, &len), 0);
	json_object_put(p);
	call_emit(fx->calls[0], CALL_EMIT_REPLY, msg, len);
	fx->calls[0] = NULL;
	pump(fx);
	n = recv(fx->peer.fd, part, sizeof(part), 0);
	assert_true(n > 0);
	assert_null(memchr(part, '\0', (size_t)n));
	assert_int_equal(fx->closed, 0); /* still writing */
	close(fx->peer.fd);
	fx->peer.fd = -1;
	for (int i = 0; i < 1000 && fx->closed == 0; i++) {
		pump(fx);
		usleep(1000);
	}
	assert_int_equal(fx->closed, 1);
	assert_int_equal(fx->freed, 0); /* the running call holds it */
	assert_true(call_is_abandoned(fx->calls[1]));
	answer(fx, 1, CALL_EMIT_REPLY, 2);
	expect_all_gone(fx);
}

/* The peer shuts its write side: calls received are answered, then the
 * connection closes.  A fragment left unterminated is not a call. */
static void test_half_close(void **state)
{
	struct fx *fx = *state;

	start(fx);
	send_call(fx, "io.test.Park", NULL, 0);
	send_raw(fx, "{\"method\":", 10);
	assert_int_equal(shutdown(fx->peer.fd, SHUT_WR), 0);
	pump(fx);
	assert_int_equal(fx->n_calls, 1);
	assert_int_equal(conn_get_state(fx->conn), CONN_SHUTTING_DOWN);
	answer(fx, 0, CALL_EMIT_REPLY, 1);
	expect(fx, 1, CALL_EMIT_REPLY);
	expect_eof(fx);
	expect_all_gone(fx);
}

/*
 * The peer closes its end altogether while a streaming call has nothing to
 * send (a scan waiting on KMS): the connection learns it from the socket,
 * not from a later write, and abandons the call at once.  A call sent just
 * before the close is still dispatched.
 */
static void test_peer_closed_while_waiting(void **state)
{
	struct fx *fx = *state;

	start(fx);
	send_call(fx, "io.test.Park", NULL, VARLINK_CALL_MORE);
	send_call(fx, "io.test.Park", NULL, VARLINK_CALL_ONEWAY);
	close(fx->peer.fd);
	fx->peer.fd = -1;
	for (int i = 0; i < 1000 && fx->closed == 0; i++) {
		pump(fx);
		usleep(1000);
	}
	assert_int_equal(fx->n_calls, 2);
	assert_int_equal(fx->closed, 1);
	assert_true(call_is_abandoned(fx->calls[0]));
	answer(fx, 1, CALL_EMIT_REPLY, 2);
	answer(fx, 0, CALL_EMIT_REPLY, 1);
	expect_all_gone(fx);
}

/* conn_shutdown() (a drain): no more reading, earlier calls answered. */
static void test_shutdown(void **state)
{
	struct fx *fx = *state;

	start(fx);
	send_call(fx, "io.test.Park", NULL, 0);
	conn_shutdown(fx->conn);
	send_call(fx, "io.test.Park", NULL, 0); /* never read */
	assert_int_equal(fx->n_calls, 1);
	answer(fx, 0, CALL_EMIT_REPLY, 1);
	expect(fx, 1, CALL_EMIT_REPLY);
	expect_eof(fx);
	expect_all_gone(fx);
	assert_int_equal(fx->started, 1);
}

/* Malformed input is a protocol error after the earlier calls' replies. */
static void test_malformed(void **state)
{
	struct fx *fx = *state;

	start(fx);
	send_call(fx, "io.test.Park", NULL, 0);
	send_raw(fx, "{nope", 6);
	send_call(fx, "io.test.Park", NULL, 0); /* never read */
	assert_int_equal(fx->n_calls, 1);
	assert_int_equal(fx->stats.protocol_errors, 1);
	answer(fx, 0, CALL_EMIT_REPLY, 1);
	expect(fx, 1, CALL_EMIT_REPLY);
	expect_eof(fx);
	expect_all_gone(fx);
}

/* conn_free() takes everything down at once, running no owner operation. */
static void test_free_with_calls(void **state)
{
	struct fx *fx = *state;

	start(fx);
	send_call(fx, "io.test.Park", NULL, 0);
	send_call(fx, "io.test.Park", NULL, 0);
	answer(fx, 1, CALL_EMIT_REPLY, 2); /* done, waiting behind call 0 */
	fx->conn = conn_free(fx->conn);
	assert_int_equal(fx->closed, 0);
	assert_int_equal(fx->freed, 0);
	assert_int_equal(fx->ended, 1); /* call 1's answer, not call 0's teardown */
	assert_int_equal(fx->stats.calls_in_flight, 0);
	expect_eof(fx);
}

static void test_state_names(void **state)
{
	assert_string_equal(conn_state_to_string(CONN_RUNNING), "running");
	assert_string_equal(conn_state_to_string(CONN_SHUTTING_DOWN), "shutting-down");
	assert_string_equal(conn_state_to_string(CONN_CLOSED), "closed");
	assert_null(conn_state_to_string(_CONN_STATE_MAX));
	assert_string_equal(call_state_to_string(CALL_RUNNING), "running");
	assert_string_equal(call_state_to_string(CALL_DONE), "done");
	assert_null(call_state_to_string(_CALL_STATE_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_framing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelining_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uid_busy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_largest_message, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oneway, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_more, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unbuildable_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vanish_mid_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peer_closed_while_waiting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_with_calls, setup, teardown),
	    cmocka_unit_test(test_state_names),
	};

	signal(SIGPIPE, SIG_IGN);
	log_setup();
	if (getenv("TEST_DEBUG"))
		log_set_max_level(LOG_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
