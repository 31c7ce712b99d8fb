/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A fake KMS transport and clock (kms-transport.h) for unit tests of the
 * KMS client and of what runs on it (tests/unit/test-kms.c,
 * test-operation.c): no TLS, no server, no network.  A test scripts what
 * "KMS" answers to each attempt, in order (an HTTP response, a transport
 * failure, or silence), and reads back what the client sent (struct seen).
 * Answers come from the event loop, never from inside submit; an attempt
 * the script did not provide for fails the test.  The clock is fake too:
 * a test moves it (directly, or with an answer's advance_ms).
 *
 * Include after <cmocka.h>; every function is static, for one test file
 * (those a test may not need are inline, so that no warning says so).
 */
#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "kms-transport.h"
#include "url.h"

#define KEY_ID  "1234abcd-12ab-34cd-56ef-1234567890ab"
#define ACCOUNT "111122223333"
/* 2026-12-06T12:00:00Z, the fake wall clock's start */
#define WALL_START ((time_t)1796558400)

#define MAX_SCRIPT 256
#define MAX_SEEN   256

/* What "KMS" does with one attempt. */
enum answer_kind {
	ANSWER_HTTP,    /* an HTTP response (status, code, date offset) */
	ANSWER_FAIL,    /* a transport failure (error and wire flags) */
	ANSWER_SILENCE, /* nothing, ever: only the deadline or an abandon ends it */
};

struct answer {
	enum answer_kind kind;
	int status;                   /* ANSWER_HTTP */
	const char *code;             /* ANSWER_HTTP error code, NULL for a success */
	const char *body;             /* ANSWER_HTTP: overrides the body */
	long date_offset;             /* ANSWER_HTTP: Date header = fake wall + this; 0: no Date */
	struct https_outcome outcome; /* ANSWER_FAIL */
	uint64_t advance_ms;          /* moves the fake monotonic clock before answering */
};

/* What the client handed the transport, per attempt. */
struct seen {
	char target[64];
	char amz_date[32];
	char authorization[256];
	char body[256];
	unsigned timeout_ms, response_timeout_ms;
	int64_t at_us; /* real time of the submit */
	bool abandoned, answered;
	struct fake_request *live; /* while neither: fake_release() answers it */
};

struct fake_request;

struct fake {
	struct kms_transport transport;
	struct event_base *base;
	/* the clock */
	time_t wall;
	uint64_t mono_ms;
	uint32_t random;
	/* the script, one answer per attempt, in order */
	struct answer script[MAX_SCRIPT];
	size_t n_script, next;
	struct seen seen[MAX_SEEN];
	size_t n_seen;
	unsigned pools_made, pools_freed, prewarmed, live_requests;
	unsigned max_live;       /* the most requests in the transport at once */
	unsigned queued_reports; /* get_stats reports a full queue this many times */
};

struct fake_pool {
	struct fake *f;
	char host[128];
};

struct fake_request {
	struct fake *f;
	struct seen *seen;
	struct answer answer;
	https_done_fn done;
	void *userdata;
	struct event *ev;
};

static int64_t real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the fake clock ---------------------------------------------------------- */

static time_t fake_wall(void *ctx)
{
	return ((struct fake *)ctx)->wall;
}

static uint64_t fake_mono(void *ctx)
{
	return ((struct fake *)ctx)->mono_ms;
}

static uint32_t fake_random(void *ctx)
{
	return ((struct fake *)ctx)->random;
}

/* ---- the fake transport -------------------------------------------------------- */

static void *fake_pool_new(void *impl, const struct url *u)
{
	struct fake_pool *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->f = impl;
	snprintf(p->host, sizeof(p->host), "%s", u->host);
	p->f->pools_made++;
	return p;
}

static void fake_pool_free(void *pool)
{
	struct fake_pool *p = pool;

	p->f->pools_freed++;
	free(p);
}

static void fake_request_free(struct fake_request *r)
{
	r->seen->live = NULL;
	r->f->live_requests--;
	event_free(r->ev);
	free(r);
}

/* An HTTP response as the parser makes it from the bytes KMS would send. */
static struct http_response *make_response(const struct fake *f, const struct answer *a)
{
	char body[8192], date[64] = "", raw[9216];
	struct http_parser *p = http_parser_new(0);
	struct http_response *resp;
	size_t used;

	assert_non_null(p);
	if (a->body)
		snprintf(body, sizeof(body), "%s", a->body);
	else if (a->code)
		snprintf(body, sizeof(body), "{\"__type\":\"%s\",\"message\":\"scripted %s\"}", a->code, a->code);
	else
		snprintf(body, sizeof(body), "{\"KeyId\":\"arn:aws:kms:us-east-1:" ACCOUNT ":key/" KEY_ID "\"}");
	if (a->date_offset) {
		time_t t = f->wall + a->date_offset;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
	}
	snprintf(raw, sizeof(raw),
		 "HTTP/1.1 %d X\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: req-%zu\r\n%s"
		 "Content-Length: %zu\r\n\r\n%s",
		 a->status, f->next, date, strlen(body), body);
	assert_int_equal(http_parser_feed(p, raw, strlen(raw), &used), HTTP_PARSE_DONE);
	resp = http_parser_take(p);
	assert_non_null(resp);
	http_parser_free(p);
	return resp;
}

static void fake_answer(evutil_socket_t fd, short what, void *userdata)
{
	struct fake_request *r = userdata;
	struct fake *f = r->f;
	struct https_outcome ok = {.error = HTTPS_OK, .request_sent = 1, .response_started = 1};

	(void)fd;
	(void)what;
	f->mono_ms += r->answer.advance_ms;
	r->seen->answered = true;
	if (r->answer.kind == ANSWER_HTTP)
		r->done(&ok, make_response(f, &r->answer), r->userdata);
	else
		r->done(&r->answer.outcome, NULL, r->userdata);
	fake_request_free(r);
}

static void copy_header(const struct kms_http_request *req, const char *name, char *buf, size_t size)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcmp(req->headers[i].name, name) == 0 && req->headers[i].value)
			snprintf(buf, size, "%s", req->headers[i].value);
}

/* Records the attempt and answers it from the loop, as the script says. */
static void *fake_submit(void *pool, const struct kms_http_request *req, https_done_fn done, void *userdata)
{
	struct fake *f = ((struct fake_pool *)pool)->f;
	struct fake_request *r;
	struct seen *s;

	assert_true(f->n_seen < MAX_SEEN);
	assert_true(f->next < f->n_script); /* an attempt the test did not expect */
	s = &f->seen[f->n_seen++];
	copy_header(req, "X-Amz-Target", s->target, sizeof(s->target));
	copy_header(req, "X-Amz-Date", s->amz_date, sizeof(s->amz_date));
	copy_header(req, "Authorization", s->authorization, sizeof(s->authorization));
	snprintf(s->body, sizeof(s->body), "%.*s", (int)req->body_len, req->body);
	s->timeout_ms = req->timeout_ms;
	s->response_timeout_ms = req->response_timeout_ms;
	s->at_us = real_us();

	r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->f = f;
	r->seen = s;
	r->answer = f->script[f->next++];
	r->done = done;
	r->userdata = userdata;
	r->ev = evtimer_new(f->base, fake_answer, r);
	assert_non_null(r->ev);
	s->live = r;
	if (++f->live_requests > f->max_live)
		f->max_live = f->live_requests;
	if (r->answer.kind != ANSWER_SILENCE) {
		struct timeval now = {0, 0};

		evtimer_add(r->ev, &now);
	}
	return r;
}

static void fake_abandon(void *request)
{
	struct fake_request *r = request;

	if (!r)
		return;
	r->seen->abandoned = true;
	fake_request_free(r);
}

static int fake_prewarm(void *pool, unsigned n)
{
	((struct fake_pool *)pool)->f->prewarmed += n;
	return 0;
}

static void fake_get_stats(const void *pool, struct https_pool_stats *ret)
{
	struct fake *f = ((const struct fake_pool *)pool)->f;

	memset(ret, 0, sizeof(*ret));
	if (f->queued_reports > 0) {
		f->queued_reports--;
		ret->queued = HTTPS_POOL_MAX_QUEUED;
	}
}

static const struct kms_transport_ops fake_ops = {
    .pool_new = fake_pool_new,
    .pool_free = fake_pool_free,
    .submit = fake_submit,
    .abandon = fake_abandon,
    .prewarm = fake_prewarm,
    .get_stats = fake_get_stats,
};

/* f over base, its clock at WALL_START and an arbitrary monotonic start. */
static void fake_init(struct fake *f, struct event_base *base)
{
	memset(f, 0, sizeof(*f));
	f->base = base;
	f->transport.ops = &fake_ops;
	f->transport.impl = f;
	f->wall = WALL_START;
	f->mono_ms = 1000000;
}

/* The clock hook reading f's clock. */
static struct kms_clock fake_clock(struct fake *f)
{
	return (struct kms_clock){fake_wall, fake_mono, fake_random, f};
}

/* Appends a to what "KMS" answers, in order. */
static void fake_script(struct fake *f, struct answer a)
{
	assert_true(f->n_script < MAX_SCRIPT);
	f->script[f->n_script++] = a;
}

/* Attempt i, left unanswered so far (ANSWER_SILENCE), gets a now: from
 * the loop, as any answer. */
static inline void fake_release(struct fake *f, size_t i, struct answer a)
{
	struct timeval now = {0, 0};
	struct fake_request *r;

	assert_true(i < f->n_seen);
	r = f->seen[i].live;
	assert_non_null(r);
	assert_int_not_equal(a.kind, ANSWER_SILENCE);
	r->answer = a;
	evtimer_add(r->ev, &now);
}

#define HTTP(st, c) ((struct answer){.kind = ANSWER_HTTP, .status = (st), .code = (c)})
#define OK200       HTTP(200, NULL)
#define FAIL(e, sent, t)                                                                                               \
	((struct answer){.kind = ANSWER_FAIL, .outcome = {.error = (e), .request_sent = (sent), .timed_out = (t)}})
