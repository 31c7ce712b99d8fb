/* SPDX-License-Identifier: MIT */
/* URL parsing, request serialisation and the incremental response parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"
#include "url.h"

/* ---- URLs ------------------------------------------------------------- */

static void test_url_ok(void **state)
{
	static const struct {
		const char *in, *host, *path, *host_header;
		unsigned port;
		int tls;
	} cases[] = {
	    {"https://kms.us-east-1.amazonaws.com", "kms.us-east-1.amazonaws.com", "/", "kms.us-east-1.amazonaws.com",
	     443, 1},
	    {"https://127.0.0.1:8443/prefix", "127.0.0.1", "/prefix", "127.0.0.1:8443", 8443, 1},
	    {"http://[::1]:9000", "::1", "/", "[::1]:9000", 9000, 0},
	    {"HTTPS://Example.COM:443/", "example.com", "/", "example.com", 443, 1},
	    {"http://localhost:80/a/b", "localhost", "/a/b", "localhost", 80, 0},
	    {"http://localhost:443", "localhost", "/", "localhost:443", 443, 0},
	    {"https://[2001:db8::1]", "2001:db8::1", "/", "[2001:db8::1]", 443, 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct url u;
		assert_int_equal(url_parse(cases[i].in, &u), 0);
		assert_string_equal(u.host, cases[i].host);
		assert_string_equal(u.path, cases[i].path);
		assert_string_equal(u.host_header, cases[i].host_header);
		assert_int_equal(u.port, cases[i].port);
		assert_int_equal(u.tls, cases[i].tls);
		url_done(&u);
		url_done(&u);
	}
}

static void test_url_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "ftp://host",
	    "https://",
	    "https://:443",
	    "https://user@host",
	    "https://host?x=1",
	    "https://host/p?x",
	    "https://host#f",
	    "https://host:",
	    "https://host:0",
	    "https://host:65536",
	    "https://host:-1",
	    "https://host:12ab",
	    "https://[::1",
	    "https://[nothex]",
	    "https://ho st",
	    "https://host/a b",
	    "https://host/\x01",
	    "kms.us-east-1.amazonaws.com",
	};
	struct url u = {.port = 7};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(url_parse(bad[i], &u), -EINVAL);
		assert_int_equal(u.port, 7); /* untouched */
	}
	assert_int_equal(url_parse(NULL, &u), -EINVAL);
}

/* ---- requests --------------------------------------------------------- */

static void test_request_format(void **state)
{
	const struct http_request_header h[] = {
	    {"Content-Type", "application/x-amz-json-1.1"},
	    {"X-Amz-Target", "TrentService.CancelKeyDeletion"},
	};
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(http_request_format("POST", "/", "kms.example:8443", h, 2, "{}", 2, &out, &len), 0);
	assert_string_equal(out, "POST / HTTP/1.1\r\n"
				 "Host: kms.example:8443\r\n"
				 "Content-Type: application/x-amz-json-1.1\r\n"
				 "X-Amz-Target: TrentService.CancelKeyDeletion\r\n"
				 "Content-Length: 2\r\n"
				 "\r\n"
				 "{}");
	assert_int_equal(len, strlen(out));
	free(out);

	assert_int_equal(http_request_format("GET", "/latest/meta-data/", "127.0.0.1", NULL, 0, NULL, 0, &out, &len),
			 0);
	assert_string_equal(out, "GET /latest/meta-data/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	free(out);

	assert_int_equal(http_request_format("PUT", "/t", "h", NULL, 0, NULL, 0, &out, &len), 0);
	assert_string_equal(out, "PUT /t HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
	free(out);
}

static void test_request_format_bad(void **state)
{
	static const struct http_request_header bad[][1] = {
	    {{"X-A", "a\r\nInjected: 1"}},
	    {{"X-A", "a\nb"}},
	    {{"X-A\r\n", "v"}},
	    {{"X A", "v"}},
	    {{"", "v"}},
	    {{"Host", "evil"}},
	    {{"content-length", "5"}},
	    {{"X-A", "a\x01"}},
	    {{"Transfer-Encoding", "chunked"}},
	};
	char *out = (char *)"untouched";
	size_t len = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(http_request_format("POST", "/", "h", bad[i], 1, "x", 1, &out, &len), -EINVAL);
	assert_int_equal(http_request_format("PO ST", "/", "h", NULL, 0, NULL, 0, &out, &len), -EINVAL);
	assert_int_equal(http_request_format("GET", "/a b", "h", NULL, 0, NULL, 0, &out, &len), -EINVAL);
	assert_int_equal(http_request_format("GET", "/", "h\r\nX: y", NULL, 0, NULL, 0, &out, &len), -EINVAL);
	assert_string_equal(out, "untouched");
	assert_int_equal(len, 42);
}

/* ---- the response parser ---------------------------------------------- */

/* Feeds all of s at once; returns the status and the bytes consumed. */
static enum http_parse_status feed_all(struct http_parser *p, const char *s, size_t len, size_t *used)
{
	size_t u = 0;
	enum http_parse_status st = http_parser_feed(p, s, len, &u);
	if (used)
		*used = u;
	return st;
}

/* Parses s in one go and in byte-sized pieces; both must agree.  Returns
 * the response (or NULL on error, with *why set). */
static struct http_response *parse(const char *s, size_t len, size_t max_body, bool eof, const char **why)
{
	struct http_parser *p1 = http_parser_new(max_body), *p2 = http_parser_new(max_body);
	enum http_parse_status s1, s2 = HTTP_PARSE_NEED_MORE;
	struct http_response *r1, *r2;
	size_t used = 0;

	assert_non_null(p1);
	assert_non_null(p2);
	s1 = feed_all(p1, s, len, NULL);
	for (size_t i = 0; i < len && s2 == HTTP_PARSE_NEED_MORE; i++) {
		s2 = http_parser_feed(p2, s + i, 1, &used);
		assert_true(used <= 1);
	}
	if (eof && s1 == HTTP_PARSE_NEED_MORE) {
		s1 = http_parser_eof(p1);
		s2 = http_parser_eof(p2);
	}
	assert_int_equal(s1, s2);
	if (why)
		*why = http_parser_error(p1);
	r1 = http_parser_take(p1);
	r2 = http_parser_take(p2);
	if (r1) {
		assert_non_null(r2);
		assert_int_equal(r1->body_len, r2->body_len);
		assert_memory_equal(r1->body, r2->body, r1->body_len);
		assert_int_equal(r1->keep_alive, r2->keep_alive);
		assert_null(http_parser_take(p1)); /* only once */
	}
	http_response_free(r2);
	http_parser_free(p1);
	http_parser_free(p2);
	return r1;
}

#define PARSE(s) parse(s, sizeof(s) - 1, 0, false, NULL)

static void expect_error(const char *s, size_t len, size_t max_body, bool eof)
{
	const char *why = NULL;
	struct http_response *r = parse(s, len, max_body, eof, &why);

	if (r)
		fail_msg("parsed, but should not have: %.*s", (int)len, s);
	assert_non_null(why);
}

#define EXPECT_ERROR(s) expect_error(s, sizeof(s) - 1, 0, true)

static void test_simple(void **state)
{
	struct http_response *r = PARSE("HTTP/1.1 200 OK\r\n"
					"Content-Type: application/x-amz-json-1.1\r\n"
					"x-amzn-RequestId:   abc-123  \r\n"
					"Content-Length: 17\r\n"
					"\r\n"
					"{\"KeyId\":\"arn\"}\r\n");

	assert_non_null(r);
	assert_int_equal(r->status, 200);
	assert_string_equal(r->reason, "OK");
	assert_int_equal(r->n_headers, 3);
	assert_string_equal(http_response_header(r, "X-AMZN-REQUESTID"), "abc-123");
	assert_null(http_response_header(r, "Date"));
	assert_int_equal(r->body_len, 17);
	assert_string_equal(r->body, "{\"KeyId\":\"arn\"}\r\n");
	assert_true(r->keep_alive);
	http_response_free(r);
	assert_null(http_response_free(NULL));
	assert_null(http_response_header(NULL, "x"));
}

static void test_bare_lf_and_empty_reason(void **state)
{
	struct http_response *r = PARSE("HTTP/1.1 404\nContent-Length: 0\n\n");

	assert_non_null(r);
	assert_int_equal(r->status, 404);
	assert_string_equal(r->reason, "");
	assert_int_equal(r->body_len, 0);
	assert_string_equal(r->body, "");
	http_response_free(r);
}

static void test_chunked(void **state)
{
	struct http_response *r = PARSE("HTTP/1.1 200 OK\r\n"
					"Transfer-Encoding: chunked\r\n"
					"\r\n"
					"5;name=value;other=\"quoted\"\r\n"
					"hello\r\n"
					"1A \r\n"
					"abcdefghijklmnopqrstuvwxyz\r\n"
					"0\r\n"
					"X-Checksum: 1234\r\n"
					"Another: one\r\n"
					"\r\n");

	assert_non_null(r);
	assert_int_equal(r->body_len, 31);
	assert_string_equal(r->body, "helloabcdefghijklmnopqrstuvwxyz");
	assert_true(r->keep_alive);
	assert_null(http_response_header(r, "X-Checksum")); /* trailers are dropped */
	http_response_free(r);

	r = PARSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
	assert_non_null(r);
	assert_int_equal(r->body_len, 0);
	http_response_free(r);
}

static void test_chunked_bad(void **state)
{
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n");
	/* hex overflow */
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffffffff\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n");
	/* truncated */
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n");
	/* bad trailer */
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n");
}

static void test_chunk_extension_too_long(void **state)
{
	size_t n = HTTP_MAX_CHUNK_LINE + 100;
	const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;";
	char *s = malloc(strlen(head) + n + 1);

	strcpy(s, head);
	memset(s + strlen(head), 'x', n);
	s[strlen(head) + n] = '\0';
	expect_error(s, strlen(s), 0, true);
	free(s);
}

/* Bytes after a complete response stay with the caller. */
static void test_pipelined_leftover(void **state)
{
	const char s[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n";
	struct http_parser *p = http_parser_new(0);
	struct http_response *r;
	size_t used;

	assert_int_equal(feed_all(p, s, sizeof(s) - 1, &used), HTTP_PARSE_DONE);
	assert_int_equal(used, strlen("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"));
	/* Further input is not consumed. */
	assert_int_equal(feed_all(p, "x", 1, &used), HTTP_PARSE_DONE);
	assert_int_equal(used, 0);
	r = http_parser_take(p);
	assert_string_equal(r->body, "abc");
	http_response_free(r);
	http_parser_free(p);

	/* Same with a chunked body. */
	const char c[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nGARBAGE";
	p = http_parser_new(0);
	assert_int_equal(feed_all(p, c, sizeof(c) - 1, &used), HTTP_PARSE_DONE);
	assert_int_equal(used, sizeof(c) - 1 - strlen("GARBAGE"));
	http_parser_free(p);
}

static void test_interim(void **state)
{
	struct http_response *r = PARSE("HTTP/1.1 100 Continue\r\n\r\n"
					"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
					"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");

	assert_non_null(r);
	assert_int_equal(r->status, 200);
	assert_int_equal(r->n_headers, 1);
	assert_null(http_response_header(r, "Link"));
	assert_string_equal(r->body, "ok");
	http_response_free(r);

	/* Endless interim responses are cut off. */
	char buf[2048] = "";
	for (int i = 0; i <= HTTP_MAX_INTERIM_RESPONSES; i++)
		strcat(buf, "HTTP/1.1 100 Continue\r\n\r\n");
	strcat(buf, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	expect_error(buf, strlen(buf), 0, true);
	EXPECT_ERROR("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n");
}

static void test_no_body_statuses(void **state)
{
	struct http_response *r = PARSE("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n");

	assert_non_null(r);
	assert_int_equal(r->status, 204);
	assert_int_equal(r->body_len, 0);
	assert_true(r->keep_alive);
	http_response_free(r);

	r = PARSE("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n");
	assert_non_null(r);
	assert_int_equal(r->body_len, 0);
	http_response_free(r);

	/* 204 with no framing at all is complete without waiting for EOF. */
	r = PARSE("HTTP/1.1 204 No Content\r\n\r\n");
	assert_non_null(r);
	http_response_free(r);
}

static void test_close_delimited(void **state)
{
	const char s[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
	struct http_parser *p = http_parser_new(0);
	struct http_response *r;

	assert_int_equal(feed_all(p, s, sizeof(s) - 1, NULL), HTTP_PARSE_NEED_MORE);
	assert_int_equal(http_parser_eof(p), HTTP_PARSE_DONE);
	r = http_parser_take(p);
	assert_string_equal(r->body, "until the end");
	assert_false(r->keep_alive);
	http_response_free(r);
	http_parser_free(p);

	r = parse(s, sizeof(s) - 1, 0, true, NULL);
	assert_non_null(r);
	http_response_free(r);
}

static void test_eof_errors(void **state)
{
	struct http_parser *p = http_parser_new(0);

	assert_false(http_parser_started(p));
	assert_int_equal(http_parser_eof(p), HTTP_PARSE_ERROR);
	assert_non_null(http_parser_error(p));
	assert_false(http_parser_started(p));
	http_parser_free(p);

	p = http_parser_new(0);
	assert_int_equal(feed_all(p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 40, NULL), HTTP_PARSE_NEED_MORE);
	assert_true(http_parser_started(p));
	assert_int_equal(http_parser_eof(p), HTTP_PARSE_ERROR);
	assert_null(http_parser_take(p));
	http_parser_free(p);
	assert_null(http_parser_free(NULL));
}

static void test_oversized(void **state)
{
	/* Body over the cap, by Content-Length, by chunks, and close-delimited. */
	expect_error("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789a", 50, 10, true);
	const char *chunked =
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n";
	expect_error(chunked, strlen(chunked), 10, true);
	const char *closed = "HTTP/1.1 200 OK\r\n\r\n0123456789a";
	expect_error(closed, strlen(closed), 10, true);
	/* exactly at the cap is fine */
	struct http_response *r = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 49, 10, false, NULL);
	assert_non_null(r);
	http_response_free(r);

	/* Header bytes: one huge header line. */
	size_t n = HTTP_MAX_HEADER_BYTES + 10;
	char *s = malloc(n + 64);
	strcpy(s, "HTTP/1.1 200 OK\r\nX-Big: ");
	size_t l = strlen(s);
	memset(s + l, 'a', n);
	strcpy(s + l + n, "\r\n\r\n");
	expect_error(s, strlen(s), 0, true);
	free(s);

	/* Header count. */
	s = malloc(32 * (HTTP_MAX_HEADERS + 2) + 64);
	strcpy(s, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
		sprintf(s + strlen(s), "X-H%d: v\r\n", i);
	strcat(s, "Content-Length: 0\r\n\r\n");
	expect_error(s, strlen(s), 0, true);
	free(s);
}

static void test_bad_status_line(void **state)
{
	EXPECT_ERROR("HTTP/2 200 OK\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 20 OK\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 2000 OK\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 099 Low\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 600 High\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1  200 OK\r\n\r\n");
	EXPECT_ERROR("http/1.1 200 OK\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 O\x01K\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\rX: y\r\n\r\n");
	EXPECT_ERROR("\r\nHTTP/1.1 200 OK\r\n\r\n");
	EXPECT_ERROR("ICY 200 OK\r\n\r\n");
}

static void test_bad_headers(void **state)
{
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nSpace : before\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nA: b\x7f\r\n\r\n");
	const char nul[] = "HTTP/1.1 200 OK\r\nA: b\0c\r\nContent-Length: 0\r\n\r\n";
	expect_error(nul, sizeof(nul) - 1, 0, true);
}

static void test_content_length_bad(void **state)
{
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nx");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nContent-Length: 1 1\r\n\r\nx");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999999\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx");
	EXPECT_ERROR("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx");
}

/* RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and the
 * connection is not reused after such a message. */
static void test_length_and_chunked(void **state)
{
	struct http_response *r = PARSE("HTTP/1.1 200 OK\r\n"
					"Content-Length: 100\r\n"
					"Transfer-Encoding: chunked\r\n"
					"\r\n"
					"3\r\nabc\r\n0\r\n\r\n");

	assert_non_null(r);
	assert_string_equal(r->body, "abc");
	assert_false(r->keep_alive);
	http_response_free(r);
}

static void test_garbage(void **state)
{
	EXPECT_ERROR("garbage\r\n\r\n");
	EXPECT_ERROR("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
	EXPECT_ERROR("<html><body>proxy error</body></html>");
	const char zeros[64] = {0};
	expect_error(zeros, sizeof(zeros), 0, true);

	/* A random byte soup must never crash, only fail or wait. */
	unsigned seed = 12345;
	for (int round = 0; round < 200; round++) {
		char buf[512];
		size_t n = 1 + (size_t)round * 2;
		memcpy(buf, "HTTP/1.1 200 OK\r\n", 17);
		for (size_t i = 17; i < n + 17; i++) {
			seed = seed * 1103515245 + 12345;
			buf[i] = "ab:\r\n 0;\t\x01\xff"
				 "9fTransfer-Encoding: chunked\r\nContent-Length"[(seed >> 16) % 50];
		}
		struct http_parser *p = http_parser_new(100);
		size_t used;
		http_parser_feed(p, buf, n + 17, &used);
		assert_true(used <= n + 17);
		http_parser_eof(p);
		http_response_free(http_parser_take(p));
		http_parser_free(p);
	}
}

static void test_keep_alive(void **state)
{
	struct http_response *r;

	r = PARSE("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_false(r->keep_alive);
	http_response_free(r);

	r = PARSE("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n");
	assert_true(r->keep_alive);
	http_response_free(r);

	r = PARSE("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
	assert_false(r->keep_alive);
	http_response_free(r);

	r = PARSE("HTTP/1.1 200 OK\r\nConnection: foo, CLOSE\r\nContent-Length: 0\r\n\r\n");
	assert_false(r->keep_alive);
	http_response_free(r);

	r = PARSE("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
	assert_true(r->keep_alive);
	http_response_free(r);

	/* HTTP/1.0 keep-alive without a length can only end at EOF. */
	const char ka10[] = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nbody";
	r = parse(ka10, sizeof(ka10) - 1, 0, true, NULL);
	assert_non_null(r);
	assert_false(r->keep_alive);
	assert_string_equal(r->body, "body");
	http_response_free(r);
}

/* Feeding a maximal head one byte at a time must be linear: this would take
 * seconds if each byte rescanned the line. */
static void test_byte_at_a_time_linear(void **state)
{
	size_t n = HTTP_MAX_HEADER_BYTES - 100;
	char *s = malloc(n + 64);
	struct http_parser *p = http_parser_new(0);
	enum http_parse_status st = HTTP_PARSE_NEED_MORE;
	size_t used, len;

	strcpy(s, "HTTP/1.1 200 OK\r\nX-Big: ");
	len = strlen(s);
	memset(s + len, 'a', n - len);
	strcpy(s + n, "\r\nContent-Length: 0\r\n\r\n");
	len = strlen(s);
	for (size_t i = 0; i < len && st == HTTP_PARSE_NEED_MORE; i++)
		st = http_parser_feed(p, s + i, 1, &used);
	assert_int_equal(st, HTTP_PARSE_DONE);
	struct http_response *r = http_parser_take(p);
	assert_int_equal(strlen(http_response_header(r, "x-big")), n - strlen("HTTP/1.1 200 OK\r\nX-Big: "));
	http_response_free(r);
	http_parser_free(p);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_ok),
	    cmocka_unit_test(test_url_bad),
	    cmocka_unit_test(test_request_format),
	    cmocka_unit_test(test_request_format_bad),
	    cmocka_unit_test(test_simple),
	    cmocka_unit_test(test_bare_lf_and_empty_reason),
	    cmocka_unit_test(test_chunked),
	    cmocka_unit_test(test_chunked_bad),
	    cmocka_unit_test(test_chunk_extension_too_long),
	    cmocka_unit_test(test_pipelined_leftover),
	    cmocka_unit_test(test_interim),
	    cmocka_unit_test(test_no_body_statuses),
	    cmocka_unit_test(test_close_delimited),
	    cmocka_unit_test(test_eof_errors),
	    cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_bad_status_line),
	    cmocka_unit_test(test_bad_headers),
	    cmocka_unit_test(test_content_length_bad),
	    cmocka_unit_test(test_length_and_chunked),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_keep_alive),
	    cmocka_unit_test(test_byte_at_a_time_linear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
