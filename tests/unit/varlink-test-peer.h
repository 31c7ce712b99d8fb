/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The client end of a Varlink connection, for the unit tests of the server
 * side (test-varlink-server.c, test-conn.c): a non-blocking socket the test
 * writes calls to and reads replies from, running the server's libevent
 * loop whenever it would otherwise wait, so that one thread plays both
 * sides.  Waits poll with a deadline; none sleeps for a fixed time.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include <json-c/json.h>

#include <cmocka.h>

#include "varlink.h"

struct test_peer {
	struct event_base *base; /* the server's loop, run while waiting */
	int fd;                  /* non-blocking; -1 once closed */
	char buf[256 * 1024];    /* received, not yet parsed */
	size_t len;
};

/* Send all of data, running the loop while the socket is full, and once
 * more after. */
static inline void test_peer_send(struct test_peer *tp, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(tp->fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			assert_int_equal(errno, EAGAIN);
			event_base_loop(tp->base, EVLOOP_NONBLOCK);
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	event_base_loop(tp->base, EVLOOP_NONBLOCK);
}

/* Send a call formatted by common/varlink. */
static inline void test_peer_call(struct test_peer *tp, const char *method, const char *params_json, unsigned flags)
{
	struct json_object *p = params_json ? json_tokener_parse(params_json) : NULL;
	char *msg;
	size_t len;

	assert_int_equal(varlink_format_call(method, p, flags, &msg, &len), 0);
	test_peer_send(tp, msg, len);
	free(msg);
	json_object_put(p);
}

/*
 * Wait (running the loop) for the next reply.  Returns 1 and *ret, 0 on EOF
 * (or a reset), -ETIMEDOUT after ms milliseconds.
 */
static inline int test_peer_recv_within(struct test_peer *tp, struct varlink_reply *ret, unsigned ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		char *nul = memchr(tp->buf, '\0', tp->len);
		ssize_t n;

		if (nul) {
			size_t mlen = (size_t)(nul - tp->buf);

			assert_int_equal(varlink_reply_parse(tp->buf, mlen, ret), 0);
			memmove(tp->buf, nul + 1, tp->len - mlen - 1);
			tp->len -= mlen + 1;
			return 1;
		}
		event_base_loop(tp->base, EVLOOP_NONBLOCK);
		n = recv(tp->fd, tp->buf + tp->len, sizeof(tp->buf) - tp->len, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
		if (n > 0) {
			tp->len += (size_t)n;
			continue;
		}
		assert_int_equal(errno, EAGAIN);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			return -ETIMEDOUT;
		usleep(100);
	}
}

/* The server closes the connection, with no reply before. */
static inline void test_peer_expect_eof(struct test_peer *tp)
{
	struct varlink_reply r;
	int n = test_peer_recv_within(tp, &r, 5000);

	if (n == 1)
		fail_msg("expected EOF, got a reply (error %s)", r.error ? r.error : "none");
	assert_int_equal(n, 0);
}
