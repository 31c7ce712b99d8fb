/* SPDX-License-Identifier: MIT */
/*
 * The Varlink server (server.c, conn.c, varlink-service.c) against real
 * clients on a temporary Unix socket, inside a libevent loop driven by the
 * test.  The method table is a dummy one: Echo answers from a timer after
 * delayMs, Now answers at once, Stream streams with "more", Hold parks the
 * call for the test to complete by hand.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "log.h"
#include "server.h"
#include "varlink-service.h"
#include "varlink-test-peer.h"
#include "varlink.h"

/* --- the dummy methods -------------------------------------------------------------------- */

static struct event_base *base;
static struct call *held[8];
static unsigned n_held;
static unsigned n_abandoned_seen;

struct delayed {
	struct event *ev;
	struct call *call;
};

static void echo_fire(evutil_socket_t fd, short what, void *data)
{
	struct delayed *d = data;

	if (call_is_abandoned(d->call))
		n_abandoned_seen++;
	call_reply(d->call, json_object_get(call_parameters(d->call)));
	event_free(d->ev);
	free(d);
}

static void method_echo(struct call *c, void *userdata)
{
	struct delayed *d = calloc(1, sizeof(*d));
	int64_t ms = 0;
	struct timeval tv;

	(void)varlink_get_int64(call_parameters(c), "delayMs", &ms);
	tv = (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	d->call = c;
	d->ev = evtimer_new(base, echo_fire, d);
	evtimer_add(d->ev, &tv);
}

static void method_now(struct call *c, void *userdata)
{
	call_reply(c, json_object_get(call_parameters(c)));
}

static void method_stream(struct call *c, void *userdata)
{
	for (int i = 0; i < 3 && call_wants_more(c); i++) {
		struct json_object *p = json_object_new_object();

		json_object_object_add(p, "i", json_object_new_int(i));
		call_reply_more(c, p);
	}
	call_reply(c, NULL);
}

static void method_hold(struct call *c, void *userdata)
{
	assert_true(n_held < 8);
	held[n_held++] = c;
}

static void method_fail(struct call *c, void *userdata)
{
	struct json_object *p = json_object_new_object();

	json_object_object_add(p, "message", json_object_new_string("no such key"));
	call_reply_error(c, "io.kmscancel.NotFoundException", p);
}

static void method_big(struct call *c, void *userdata)
{
	struct json_object *p = json_object_new_object();
	char *pad = malloc(VARLINK_MESSAGE_MAX + 1);

	memset(pad, 'x', VARLINK_MESSAGE_MAX);
	pad[VARLINK_MESSAGE_MAX] = '\0';
	json_object_object_add(p, "pad", json_object_new_string(pad));
	free(pad);
	call_reply(c, p);
}

static void method_deny(struct call *c, void *userdata)
{
	call_reply_permission_denied(c);
}

static const struct method methods[] = {
    {"io.kmscancel.Echo", method_echo},     {"io.kmscancel.Now", method_now},
    {"io.kmscancel.Stream", method_stream}, {"io.kmscancel.Hold", method_hold},
    {"io.kmscancel.Fail", method_fail},     {"io.kmscancel.Deny", method_deny},
    {"io.kmscancel.Big", method_big},       {NULL, NULL},
};

/* --- fixture --------------------------------------------------------------------------------- */

struct fx {
	char dir[64];
	char path[128];
	struct server *server;
	bool drained;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test-varlink-server.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/io.kmscancel", fx->dir);
	base = event_base_new();
	n_held = 0;
	n_abandoned_seen = 0;
	*state = fx;
	return base ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	fx->server = server_free(fx->server);
	event_base_free(base);
	base = NULL;
	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static void start(struct fx *fx, const struct server_limits *limits)
{
	assert_int_equal(server_new(base, limits, methods, NULL, &fx->server), 0);
	assert_int_equal(server_listen_path(fx->server, fx->path, 0660, NULL), 0);
}

static void pump(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

/* Run the loop for ms milliseconds. */
static void pump_for(unsigned ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		pump();
		usleep(200);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

/* --- a blocking-free test client (varlink-test-peer.h) ------------------------------------------- */

static struct test_peer *client_new(struct fx *fx)
{
	struct test_peer *cl = calloc(1, sizeof(*cl));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	strcpy(sa.sun_path, fx->path);
	cl->base = base;
	cl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(cl->fd >= 0);
	assert_int_equal(connect(cl->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(fcntl(cl->fd, F_SETFL, O_NONBLOCK), 0);
	pump();
	return cl;
}

static void client_free(struct test_peer *cl)
{
	if (cl->fd >= 0)
		close(cl->fd);
	free(cl);
}

static void client_recv(struct test_peer *cl, struct varlink_reply *ret)
{
	assert_int_equal(test_peer_recv_within(cl, ret, 5000), 1);
}

static void expect_error(struct test_peer *cl, const char *error, const char *key, const char *value)
{
	struct varlink_reply r;
	const char *s;

	client_recv(cl, &r);
	assert_non_null(r.error);
	assert_string_equal(r.error, error);
	if (key) {
		assert_int_equal(varlink_get_string(r.parameters, key, &s), 0);
		assert_string_equal(s, value);
	}
	varlink_reply_done(&r);
}

/* Expect a success reply whose parameter "n" is n. */
static void expect_n(struct test_peer *cl, int64_t n)
{
	struct varlink_reply r;
	int64_t got = -1;

	client_recv(cl, &r);
	if (r.error)
		fail_msg("expected n=%lld, got error %s", (long long)n, r.error);
	assert_false(r.continues);
	assert_int_equal(varlink_get_int64(r.parameters, "n", &got), 0);
	assert_int_equal(got, n);
	varlink_reply_done(&r);
}

/* --- tests ---------------------------------------------------------------------------------------- */

static void test_get_info(void **state)
{
	struct fx *fx = *state;
	struct test_peer *cl;
	struct varlink_reply r;
	struct json_object *ifaces;
	const char *s;
	struct stat st;

	start(fx, NULL);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	cl = client_new(fx);
	test_peer_call(cl, "org.varlink.service.GetInfo", NULL, 0);
	client_recv(cl, &r);
	assert_null(r.error);
	assert_int_equal(varlink_get_string(r.parameters, "vendor", &s), 0);
	assert_string_equal(s, "kmscancel");
	assert_int_equal(varlink_get_string(r.parameters, "product", &s), 0);
	assert_string_equal(s, "kmscanceld");
	assert_int_equal(varlink_get_string(r.parameters, "version", &s), 0);
	assert_string_equal(s, PACKAGE_VERSION);
	assert_int_equal(varlink_get_string(r.parameters, "url", &s), 0);
	assert_true(json_object_object_get_ex(r.parameters, "interfaces", &ifaces));
	assert_int_equal(json_object_array_length(ifaces), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(ifaces, 0)), "org.varlink.service");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(ifaces, 1)), "io.kmscancel");
	varlink_reply_done(&r);

	test_peer_call(cl, "org.varlink.service.GetInfo", "{\"bogus\":1}", 0);
	expect_error(cl, "org.varlink.service.InvalidParameter", "parameter", "bogus");
	client_free(cl);
}

static void test_get_interface_description(void **state)
{
	struct fx *fx = *state;
	struct test_peer *cl;
	struct varlink_reply r;
	const char *s;

	start(fx, NULL);
	cl = client_new(fx);
	test_peer_call(cl, "org.varlink.service.GetInterfaceDescription", "{\"interface\":\"io.kmscancel\"}", 0);
	client_recv(cl, &r);
	assert_null(r.error);
	assert_int_equal(varlink_get_string(r.parameters, "description", &s), 0);
	assert_string_equal(s, kmscancel_interface_description);
	assert_non_null(strstr(s, "interface io.kmscancel\n"));
	varlink_reply_done(&r);

	test_peer_call(cl, "org.varlink.service.GetInterfaceDescription", "{\"interface\":\"org.varlink.service\"}", 0);
	client_recv(cl, &r);
	assert_null(r.error);
	assert_int_equal(varlink_get_string(r.parameters, "description", &s), 0);
	assert_non_null(strstr(s, "interface org.varlink.service\n"));
	assert_non_null(strstr(s, "error ExpectedMore ()"));
	varlink_reply_done(&r);

	test_peer_call(cl, "org.varlink.service.GetInterfaceDescription", "{\"interface\":\"com.example.nothing\"}", 0);
	expect_error(cl, "org.varlink.service.InterfaceNotFound", "interface", "com.example.nothing");
	test_peer_call(cl, "org.varlink.service.GetInterfaceDescription", NULL, 0);
	expect_error(cl, "org.varlink.service.InvalidParameter", "parameter", "interface");
	test_peer_call(cl, "org.varlink.service.GetInterfaceDescription", "{\"interface\":7}", 0);
	expect_error(cl, "org.varlink.service.InvalidParameter", "parameter", "interface");
	client_free(cl);
}

static void test_unknown_methods(void **state)
{
	struct fx *fx = *state;
	struct test_peer *cl;

	start(fx, NULL);
	cl = client_new(fx);
	test_peer_call(cl, "io.kmscancel.Nope", NULL, 0);
	expect_error(cl, "org.varlink.service.MethodNotFound", "method", "io.kmscancel.Nope");
	test_peer_call(cl, "org.varlink.service.Nope", NULL, 0);
	expect_error(cl, "org.varlink.service.MethodNotFound", "method", "org.varlink.service.Nope");
	test_peer_call(cl, "com.example.Foo", NULL, 0);
	expect_error(cl, "org.varlink.service.InterfaceNotFound", "interface", "com.example");
	test_peer_call(cl, "io.kmscancel.sub.Echo", NULL, 0);
	expect_error(cl, "org.varlink.service.InterfaceNotFound", "interface", "io.kmscancel.sub");
	test_peer_call(cl, "io.kmscancel.Fail", NULL, 0);
	expect_error(cl, "io.kmscancel.NotFoundException", "message", "no such key");
	test_peer_call(cl, "io.kmscancel.Deny", NULL, 0);
	expect_error(cl, "org.varlink.service.PermissionDenied", NULL, NULL);
	client_free(cl);
}

/* Replies come back in call order even when later calls finish first. */
static void test_pipelined_order(void **state)
{
	struct fx *fx = *state;
	struct test_peer *cl;
	char *all = NULL, *m;
	size_t all_len = 0, len;
	static const char *const calls[][2] = {
	    {"io.kmscancel.Echo", "{\"n\":1,\"delayMs\":60}"},
	    {"io.kmscancel.Echo", "{\"n\":2,\"delayMs\":20}"},
	    {"io.kmscancel.Now", "{\"n\":3}"},
	    {"io.kmscancel.Echo", "{\"n\":4,\"delayMs\":0}"},
	    {"io.kmscancel.Now", "{\"n\":5}"},
	};

	start(fx, NULL);
	cl = client_new(fx);
	/* All five in one write. */
	for (size_t i = 0; i < 5; i++) {
		struct json_object *p = json_tokener_parse(calls[i][1]);

		assert_int_equal(varlink_format_call(calls[i][0], p, 0, &m, &len), 0);
		all = realloc(all, all_len + len);
		memcpy(all + all_len, m, len);
		all_len += len;
		free(m);
		json_object_put(p);
	}
	test_peer_send(cl, all, all_len);
	free(all);
	for (int i = 1; i <= 5; i++)
		expect_n(cl, i);
	client_free(cl);
}

/* A message dribbled one byte per loop iteration. */
static void test_dribble(void **state)
{
	struct fx *fx = *state;
	struct test_peer *cl;
	char *m;
	size_t len;
	struct json_object *p = json_tokener_parse("{\"n\":42}");

	start(fx, NULL);
	cl = client_new(fx);
	assert_int_equal(varlink_format_call("io.kmscancel.Now", p, 0, &m, &len), 0);
	for (size_t i = 0; i < len; i++) {
		test_peer_send(cl, m + i, 1);
		pump();
	}
	expect_n(cl, 42);
	free(m);
	json_object_put(p);
	client_free(cl);
}

/* More calls in one write than a connection may have in flight: the server
 * applies back-pressure and still answers all of them, in order. */
static void test_many_in_one_write(void **state)
{
	struct fx *fx = *state;
	struct server_limits lim;
	struct test_peer *cl;
	enum { N = 300 };
	char *all = malloc(N * 128);
	size_t all_len = 0;
	struct server_stats st;

	server_limits_init(&lim);
	lim.calls_per_connection_max = 16;
	start(fx, &lim);
	cl = client_new(fx);
	for (int i = 0; i < N; i++)
		all_len +=
		    (size_t)sprintf(all + all_len,
				    "{\"method\":\"io.kmscancel.Echo\",\"parameters\":{\"n\":%d,\"delayMs\":%d}}", i,
				    (i * 7) % 3) +
		    1;
	test_peer_send(cl, all, all_len);
	free(all);
	for (int i = 0; i < N; i++)
		expect_n(cl, i);
	server_get_stats(fx->server, &st);
	assert_int_equal(st.calls_total, N);
	assert_int_equal(st.calls_in_flight, 0);
	client_free(cl);
}

static void test_oversized(void **state)
{
	struct fx *fx = *state;
	struct test_peer *big, *other;
	char *junk = malloc(VARLINK_MESSAGE_MAX + 100);
	struct server_stats st;

	start(fx, NULL);
	big = client_new(fx);
	other = client_new(fx);
	memset(junk, ' ', VARLINK_MESSAGE_MAX + 100);
	memcpy(junk, "{\"method\":\"io.kmscancel.Now\",\"parameters\":{\"pad\":\"", 50);
	test_peer_send(big, junk, VARLINK_MESSAGE_MAX + 100);
	free(junk);
	test_peer_call(other, "io.kmscancel.Now", "{\"n\":7}", 0);
	expect_n(other, 7);
	test_peer_expect_eof(big);
	server_get_stats(fx->server, &st);
	assert_int_equal(st.protocol_errors, 1);
	test_peer_call(other, "io.kmscancel.Now", "{\"n\":8}", 0);
	expect_n(other, 8);
	client_free(big);
	client_free(other);
}

/* A message of exactly the maximum size is fine. */
static void test_largest_message(void **state)
{
	struct fx *fx = *state;
	struct test_peer *cl;
	char *msg = malloc(VARLINK_MESSAGE_MAX);
	const char *head = "{\"method\":\"io.kmscancel.Now\",\"parameters\":{\"n\":9,\"pad\":\"";
	size_t hl = strlen(head);

	start(fx, NULL);
	cl = client_new(fx);
	memcpy(msg, head, hl);
	memset(msg + hl, 'x', VARLINK_MESSAGE_MAX - hl - 4);
	memcpy(msg + VARLINK_MESSAGE_MAX - 4, "\"}}", 4); /* includes the NUL */
	test_peer_send(cl, msg, VARLINK_MESSAGE_MAX);
	free(msg);
	expect_n(cl, 9);
	/* A reply over the limit cannot be sent: the connection is closed
	 * rather than left with its replies out of step. */
	test_peer_call(cl, "io.kmscancel.Big", NULL, 0);
	test_peer_expect_eof(cl);
	client_free(cl);

	cl = client_new(fx);
	test_peer_call(cl, "io.kmscancel.Now", "{\"n\":10}", 0);
	expect_n(cl, 10);
	client_free(cl);
}

/* Protocol errors close the connection after answering earlier calls. */
static void test_invalid_json(void **state)
{
	struct fx *fx = *state;
	static const char *const bad[] = {
	    "{nope",
	    "[]",
	    "{\"method\":\"io.kmscancel.Now\",\"bogus\":1}",
	    "{\"method\":\"io.kmscancel.Now\",\"parameters\":[]}",
	    "{\"method\":\"io.kmscancel.Now\",\"oneway\":true,\"more\":true}",
	    "{\"method\":\"io.kmscancel.now\"}",
	    "{\"method\":\"io.kmscancel.Now\",\"upgrade\":true}",
	    "{\"method\":\"io.kmscancel.Now\"}trailing",
	};
	struct server_stats st;

	start(fx, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct test_peer *cl = client_new(fx);

		test_peer_call(cl, "io.kmscancel.Echo", "{\"n\":1,\"delayMs\":20}", 0);
		test_peer_send(cl, bad[i], strlen(bad[i]) + 1);
		test_peer_call(cl, "io.kmscancel.Now", "{\"n\":2}", 0); /* never read */
		expect_n(cl, 1);
		test_peer_expect_eof(cl);
		client_free(cl);
	}
	server_get_stats(fx->server, &st);
	assert_int_equal(st.protocol_errors, sizeof(bad) / sizeof(bad[0]));
	assert_int_equal(st.calls_in_flight, 0);
}

static void test_oneway(void **state)
{
	struct fx *fx = *state;
	struct test_peer *cl;
	struct varlink_reply r;

	start(fx, NULL);
	cl = client_new(fx);
	test_peer_call(cl, "io.kmscancel.Now", "{\"n\":1}", VARLINK_CALL_ONEWAY);
	/* A slow oneway call does not hold back later replies. */
	test_peer_call(cl, "io.kmscancel.Echo", "{\"n\":2,\"delayMs\":200}", VARLINK_CALL_ONEWAY);
	test_peer_call(cl, "io.kmscancel.Nope", NULL, VARLINK_CALL_ONEWAY);
	test_peer_call(cl, "io.kmscancel.Now", "{\"n\":3}", 0);
	expect_n(cl, 3);
	pump_for(300);
	assert_int_equal(test_peer_recv_within(cl, &r, 50), -ETIMEDOUT);
	client_free(cl);
}

static void test_more(void **state)
{
	struct fx *fx = *state;
	struct test_peer *cl;
	struct varlink_reply r;
	int64_t i;

	start(fx, NULL);
	cl = client_new(fx);
	test_peer_call(cl, "io.kmscancel.Stream", NULL, VARLINK_CALL_MORE);
	for (int k = 0; k < 3; k++) {
		client_recv(cl, &r);
		assert_true(r.continues);
		assert_int_equal(varlink_get_int64(r.parameters, "i", &i), 0);
		assert_int_equal(i, k);
		varlink_reply_done(&r);
	}
	client_recv(cl, &r);
	assert_false(r.continues);
	assert_null(r.error);
	varlink_reply_done(&r);
	/* Without "more" the same method answers once. */
	test_peer_call(cl, "io.kmscancel.Stream", NULL, 0);
	client_recv(cl, &r);
	assert_false(r.continues);
	varlink_reply_done(&r);
	/* A streamed reply that waits for an earlier call keeps its order. */
	test_peer_call(cl, "io.kmscancel.Echo", "{\"n\":1,\"delayMs\":30}", 0);
	test_peer_call(cl, "io.kmscancel.Stream", NULL, VARLINK_CALL_MORE);
	expect_n(cl, 1);
	for (int k = 0; k < 4; k++) {
		client_recv(cl, &r);
		assert_int_equal(r.continues, k < 3);
		varlink_reply_done(&r);
	}
	client_free(cl);
}

/* The peer vanishes while its calls run; the handlers complete them later. */
static void test_disconnect_mid_call(void **state)
{
	struct fx *fx = *state;
	struct test_peer *cl;
	struct server_stats st;

	start(fx, NULL);
	cl = client_new(fx);
	test_peer_call(cl, "io.kmscancel.Hold", NULL, 0);
	test_peer_call(cl, "io.kmscancel.Echo", "{\"n\":1,\"delayMs\":30}", 0);
	test_peer_call(cl, "io.kmscancel.Hold", NULL, 0);
	pump_for(10);
	assert_int_equal(n_held, 2);
	close(cl->fd);
	cl->fd = -1;
	pump_for(100); /* EOF seen; Echo completes behind Hold */
	server_get_stats(fx->server, &st);
	assert_int_equal(st.calls_in_flight, 2);

	/* The first Hold's reply hits the closed socket: EPIPE closes the
	 * connection, leaving the second Hold abandoned. */
	call_reply(held[0], NULL);
	pump_for(50);
	assert_true(call_is_abandoned(held[1]));
	assert_string_equal(call_method(held[1]), "io.kmscancel.Hold");
	call_reply_error(held[1], "io.kmscancel.Timeout", NULL);
	pump_for(10);
	server_get_stats(fx->server, &st);
	assert_int_equal(st.connections, 0);
	assert_int_equal(st.calls_in_flight, 0);
	client_free(cl);
}

/* An abandoned call whose timer fires after the peer reset. */
static void test_disconnect_reset(void **state)
{
	struct fx *fx = *state;
	struct test_peer *cl;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct server_stats st;

	start(fx, NULL);
	cl = client_new(fx);
	test_peer_call(cl, "io.kmscancel.Hold", NULL, 0);
	test_peer_call(cl, "io.kmscancel.Echo", "{\"n\":1,\"delayMs\":50}", 0);
	pump_for(10);
	setsockopt(cl->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(cl->fd);
	cl->fd = -1;
	call_reply(held[0], NULL); /* written to a dead peer */
	pump_for(100);             /* Echo completes on a closed connection */
	server_get_stats(fx->server, &st);
	assert_int_equal(st.connections, 0);
	assert_int_equal(st.calls_in_flight, 0);
	assert_int_equal(n_abandoned_seen, 1);
	client_free(cl);
}

static void test_partial_timeout(void **state)
{
	struct fx *fx = *state;
	struct server_limits lim;
	struct test_peer *slow, *fast;

	server_limits_init(&lim);
	lim.partial_message_timeout_ms = 100;
	start(fx, &lim);
	slow = client_new(fx);
	fast = client_new(fx);
	test_peer_send(slow, "{\"method\":\"io.kmscan", 20);
	pump_for(30);
	test_peer_call(fast, "io.kmscancel.Now", "{\"n\":1}", 0);
	expect_n(fast, 1);
	test_peer_expect_eof(slow);
	/* An idle connection with nothing buffered is not timed out. */
	pump_for(200);
	test_peer_call(fast, "io.kmscancel.Now", "{\"n\":2}", 0);
	expect_n(fast, 2);
	client_free(slow);
	client_free(fast);
}

static void drained(struct server *s, void *userdata)
{
	struct fx *fx = userdata;

	fx->drained = true;
}

static void test_drain(void **state)
{
	struct fx *fx = *state;
	struct test_peer *busy, *idle;

	start(fx, NULL);
	server_set_drained_callback(fx->server, drained, fx);
	busy = client_new(fx);
	idle = client_new(fx);
	test_peer_call(busy, "io.kmscancel.Echo", "{\"n\":5,\"delayMs\":50}", 0);
	pump_for(10);
	server_stop_accepting(fx->server);
	assert_false(fx->drained);
	test_peer_expect_eof(idle);
	expect_n(busy, 5);
	test_peer_expect_eof(busy);
	pump_for(10);
	assert_true(fx->drained);
	assert_true(server_is_drained(fx->server));
	client_free(busy);
	client_free(idle);
}

static void test_drain_empty(void **state)
{
	struct fx *fx = *state;

	start(fx, NULL);
	server_set_drained_callback(fx->server, drained, fx);
	server_stop_accepting(fx->server);
	assert_false(fx->drained); /* never from inside the call */
	pump();
	assert_true(fx->drained);
}

static void test_per_uid_limit(void **state)
{
	struct fx *fx = *state;
	struct server_limits lim;
	struct test_peer *a, *b, *c;
	struct server_stats st;

	server_limits_init(&lim);
	lim.connections_per_uid_max = 2;
	start(fx, &lim);
	a = client_new(fx);
	b = client_new(fx);
	c = client_new(fx);
	test_peer_expect_eof(c);
	test_peer_call(a, "io.kmscancel.Now", "{\"n\":1}", 0);
	expect_n(a, 1);
	client_free(b);
	pump_for(20);
	client_free(c);
	c = client_new(fx);
	test_peer_call(c, "io.kmscancel.Now", "{\"n\":2}", 0);
	expect_n(c, 2);
	server_get_stats(fx->server, &st);
	assert_int_equal(st.connections_rejected, 1);
	assert_int_equal(st.connections, 2);
	assert_int_equal(st.connections_total, 3);
	client_free(a);
	client_free(c);
}

static void test_adopt_fd(void **state)
{
	struct fx *fx = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct test_peer *cl;
	int fd, notlistening;

	assert_int_equal(server_new(base, NULL, methods, NULL, &fx->server), 0);
	notlistening = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(server_adopt_fd(fx->server, notlistening), -EINVAL);
	close(notlistening);
	strcpy(sa.sun_path, fx->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(server_adopt_fd(fx->server, fd), 0);
	cl = client_new(fx);
	test_peer_call(cl, "io.kmscancel.Now", "{\"n\":1}", 0);
	expect_n(cl, 1);
	client_free(cl);
	fx->server = server_free(fx->server);
	/* An adopted socket's path is not ours to remove. */
	assert_int_equal(access(fx->path, F_OK), 0);
}

static void test_listen_path_cases(void **state)
{
	struct fx *fx = *state;
	struct server *other;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;
	char longpath[200];

	assert_int_equal(server_new(base, NULL, methods, NULL, &other), 0);
	/* A regular file is never removed. */
	fd = open(fx->path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(server_listen_path(other, fx->path, 0600, NULL), -EEXIST);
	unlink(fx->path);
	/* A stale socket (bound, nobody listening) is replaced. */
	strcpy(sa.sun_path, fx->path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	/* A group that does not exist only warns. */
	assert_int_equal(server_listen_path(other, fx->path, 0600, "no-such-group-kmscancel-test"), 0);
	assert_int_equal(access(fx->path, F_OK), 0);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(server_listen_path(other, longpath, 0600, NULL), -EINVAL);
	/* Our own group, by number. */
	unlink(fx->path);
	other = server_free(other);
	assert_int_equal(server_new(base, NULL, methods, NULL, &other), 0);
	snprintf(longpath, sizeof(longpath), "%u", (unsigned)getgid());
	assert_int_equal(server_listen_path(other, fx->path, 0640, longpath), 0);
	other = server_free(other);
	assert_int_equal(access(fx->path, F_OK), -1);
}

static void test_listen_live(void **state)
{
	struct fx *fx = *state;
	struct server *other;

	start(fx, NULL);
	assert_int_equal(server_new(base, NULL, methods, NULL, &other), 0);
	assert_int_equal(server_listen_path(other, fx->path, 0600, NULL), -EADDRINUSE);
	other = server_free(other);
	assert_int_equal(access(fx->path, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_get_info, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_interface_description, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_methods, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelined_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dribble, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_in_one_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_largest_message, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oneway, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_more, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_mid_call, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_per_uid_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_adopt_fd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listen_path_cases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listen_live, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	log_setup();
	if (getenv("TEST_DEBUG"))
		log_set_max_level(LOG_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
