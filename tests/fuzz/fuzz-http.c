/* SPDX-License-Identifier: MIT */
/*
 * The HTTP/1.1 response parser (daemon/http.c) on what a KMS endpoint — or
 * anything in the way of it — sends, followed by the AWS error decoding
 * (daemon/kms-error.c) of the response it yields.  The first byte of the
 * input picks how the rest is cut into reads (so splits at every position
 * are tried), the second whether the peer then closes; the parser must give
 * the same answer however the bytes arrive.
 */
#include <errno.h>

#include "fuzz.h"
#include "http.h"
#include "kms-error.h"

/* A small body cap so that the over-limit paths are reached. */
#define FUZZ_HTTP_MAX_BODY 4096

static enum http_parse_status run(const uint8_t *data, size_t size, size_t step, bool eof,
				  struct http_response **ret, size_t *ret_used)
{
	struct http_parser *p = http_parser_new(FUZZ_HTTP_MAX_BODY);
	enum http_parse_status st = HTTP_PARSE_NEED_MORE;
	size_t off = 0;

	FUZZ_CHECK(p);
	while (off < size && st == HTTP_PARSE_NEED_MORE) {
		size_t n = size - off < step ? size - off : step, used = 0;

		st = http_parser_feed(p, (const char *)data + off, n, &used);
		FUZZ_CHECK(used <= n);
		FUZZ_CHECK(st != HTTP_PARSE_NEED_MORE || used == n);
		off += used;
	}
	if (st == HTTP_PARSE_NEED_MORE && eof)
		st = http_parser_eof(p);
	if (st == HTTP_PARSE_ERROR)
		FUZZ_CHECK(http_parser_error(p) != NULL);
	*ret = st == HTTP_PARSE_DONE ? http_parser_take(p) : NULL;
	FUZZ_CHECK(st != HTTP_PARSE_DONE || *ret);
	*ret_used = off;
	http_parser_free(p);
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response *a = NULL, *b = NULL;
	enum http_parse_status sa, sb;
	size_t step, used_a, used_b;
	bool eof;

	if (size < 2)
		return 0;
	step = data[0] % 64 + 1;
	eof = data[1] & 1;
	data += 2;
	size -= 2;

	sa = run(data, size, step, eof, &a, &used_a);
	sb = run(data, size, SIZE_MAX, eof, &b, &used_b);
	FUZZ_CHECK(sa == sb);
	if (a) {
		char *code = NULL, *message = NULL;

		FUZZ_CHECK(used_a == used_b);
		FUZZ_CHECK(a->status >= 200 && a->status <= 599 && a->body && a->body[a->body_len] == '\0');
		FUZZ_CHECK(a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0);
		FUZZ_CHECK(a->body_len <= FUZZ_HTTP_MAX_BODY && a->keep_alive == b->keep_alive);
		(void)http_response_header(a, "content-type");
		FUZZ_CHECK(kms_error_decode(a, &code, &message) == 0);
		FUZZ_CHECK(code && message);
		(void)kms_error_to_kmscancel(code);
		FUZZ_CHECK(kms_error_classify(code, a->status) < _KMS_ERROR_CLASS_MAX);
		free(code);
		free(message);
	}
	http_response_free(a);
	http_response_free(b);
	return 0;
}
