/* SPDX-License-Identifier: MIT */
/* Unit tests for common/utf8.c: well-formed UTF-8 passes untouched, every
 * kind of ill-formed input becomes U+FFFD (one per maximal subpart), and the
 * Varlink writer and json_writer built on it never send a byte a validating
 * parser refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "json-writer.h"
#include "utf8.h"
#include "varlink.h"

#define R UTF8_REPLACEMENT

/* in[0..len) repaired must be exactly want (a C string). */
static void check(const char *in, size_t len, const char *want)
{
	size_t n = utf8_sanitized_length(in, len), wlen = strlen(want);
	char *out = malloc(n + 1);

	assert_non_null(out);
	assert_int_equal(n, wlen);
	assert_int_equal(utf8_sanitize(in, len, out), wlen);
	assert_memory_equal(out, want, wlen);
	assert_true(utf8_is_valid(out, n));
	assert_int_equal(utf8_is_valid(in, len), strcmp(in, want) == 0 && len == wlen);
	free(out);
}

#define CHECK(in, want) check(in, sizeof(in) - 1, want)

static void test_valid(void **state)
{
	CHECK("", "");
	CHECK("plain ASCII", "plain ASCII");
	CHECK("caf\xc3\xa9", "caf\xc3\xa9");           /* U+00E9 */
	CHECK("\xe2\x82\xac 5", "\xe2\x82\xac 5");     /* U+20AC */
	CHECK("\xf0\x9f\x94\x91", "\xf0\x9f\x94\x91"); /* U+1F511 */
	CHECK("\xed\x9f\xbf", "\xed\x9f\xbf");         /* U+D7FF, last before the surrogates */
	CHECK("\xee\x80\x80", "\xee\x80\x80");         /* U+E000, first after them */
	CHECK("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"); /* U+10FFFF */
	CHECK("\xef\xbf\xbd", "\xef\xbf\xbd");         /* U+FFFD itself */
	CHECK("\xc2\x80", "\xc2\x80");                 /* U+0080 */
}

static void test_latin1(void **state)
{
	/* A proxy's French reason phrase in ISO-8859-1. */
	CHECK("502 Passerelle d\xe9"
	      "faillante",
	      "502 Passerelle d" R "faillante");
	CHECK("\xff\xfe", R R);
	CHECK("\x80", R);       /* a lone continuation byte */
	CHECK("\xbf\x80", R R); /* each its own subpart */
}

static void test_overlong(void **state)
{
	CHECK("\xc0\xaf", R R); /* '/' in two bytes: C0 never leads */
	CHECK("\xc1\xbf", R R);
	CHECK("\xe0\x80\xaf", R R R); /* '/' in three: E0 wants A0..BF next */
	CHECK("\xe0\x9f\xbf", R R R);
	CHECK("\xf0\x80\x80\xaf", R R R R);
	CHECK("\xf0\x8f\xbf\xbf", R R R R);
}

static void test_surrogates_and_range(void **state)
{
	CHECK("\xed\xa0\x80", R R R);                   /* U+D800 */
	CHECK("\xed\xbf\xbf", R R R);                   /* U+DFFF */
	CHECK("\xed\xa0\xbd\xed\xb4\x91", R R R R R R); /* CESU-8 pair */
	CHECK("\xf4\x90\x80\x80", R R R R);             /* U+110000 */
	CHECK("\xf5\x80\x80\x80", R R R R);             /* F5..FF never lead */
	CHECK("\xf8\x88\x80\x80\x80", R R R R R);
}

static void test_truncated(void **state)
{
	CHECK("\xc3", R);
	CHECK("\xe2\x82", R); /* one maximal subpart */
	CHECK("\xf0\x9f\x94", R);
	CHECK("a\xe2\x82"
	      "b",
	      "a" R "b"); /* the ASCII byte after it survives */
	CHECK("\xe2\x82\xe2\x82\xac", R "\xe2\x82\xac");
	CHECK("\xf0\x9f\x94\x91\xf0\x9f", "\xf0\x9f\x94\x91" R);
	/* A cut at the end of a buffer: what a fixed-size copy of a status line does. */
	check("d\xc3\xa9"
	      "faillante",
	      2, "d" R);
}

static void test_nul(void **state)
{
	size_t bad = 0;
	char out[16];

	/* NUL is U+0000: kept, and what follows it is still looked at. */
	assert_true(utf8_is_valid("a\0b", 3));
	assert_int_equal(utf8_sanitized_length("a\0\xe9", 3), 2 + UTF8_REPLACEMENT_LEN);
	assert_int_equal(utf8_sanitize("a\0\xe9", 3, out), 5);
	assert_memory_equal(out, "a\0" R, 5);
	/* Modified UTF-8's NUL (C0 80) is overlong: two replacements. */
	CHECK("\xc0\x80", R R);
	assert_int_equal(utf8_sequence("\xc0\x80", 2, &bad), 0);
	assert_int_equal(bad, 1);
	assert_int_equal(utf8_sequence("\xe2\x82", 2, &bad), 0);
	assert_int_equal(bad, 2);
	assert_int_equal(utf8_sequence("\xe2\x82\xac", 3, &bad), 3);
}

/* Strict parse, as libkmscancel does: UTF-8 validated. */
static struct json_object *parse_strict(const char *buf, size_t len)
{
	struct json_tokener *tok = varlink_tokener_new();
	struct json_object *o;

	assert_non_null(tok);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
	json_tokener_free(tok);
	return o;
}

static void test_varlink_error_reply(void **state)
{
	struct json_object *p = json_object_new_object(), *o, *params, *msg;
	struct varlink_reply reply;
	char *buf = NULL;
	size_t len = 0;

	json_object_object_add(p, "message",
			       json_object_new_string("proxy refused the tunnel: HTTP/1.1 502 Passerelle d\xe9"
						      "faillante"));
	assert_int_equal(varlink_format_error("io.kmscancel.EndpointUnavailable", p, &buf, &len), 0);
	assert_true(utf8_is_valid(buf, len));
	assert_int_equal(varlink_reply_parse(buf, len - 1, &reply), 0);
	assert_string_equal(reply.error, "io.kmscancel.EndpointUnavailable");
	msg = json_object_object_get(reply.parameters, "message");
	assert_string_equal(json_object_get_string(msg),
			    "proxy refused the tunnel: HTTP/1.1 502 Passerelle d" R "faillante");
	varlink_reply_done(&reply);
	o = parse_strict(buf, len - 1);
	params = json_object_object_get(o, "parameters");
	assert_non_null(params);
	json_object_put(o);
	free(buf);
	json_object_put(p);
}

static void test_json_writer(void **state)
{
	struct json_writer w = {0};
	struct json_object *o;

	json_writer_add_string(&w, "a",
			       "d\xe9"
			       "faillante");
	json_writer_add_string(&w, "b",
			       "\xed\xa0\x80"
			       "x\xc3");
	json_writer_add_string(&w, "c", "caf\xc3\xa9 \"q\"\n");
	assert_int_equal(json_writer_finish(&w), 0);
	assert_true(utf8_is_valid(w.out.p, w.out.len));
	assert_string_equal(w.out.p, "{\"a\":\"d" R "faillante\",\"b\":\"" R R R "x" R
				     "\",\"c\":\"caf\xc3\xa9 \\\"q\\\"\\u000a\"}");
	o = parse_strict(w.out.p, w.out.len);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "a")), "d" R "faillante");
	json_object_put(o);
	json_writer_done(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_latin1),
	    cmocka_unit_test(test_overlong),
	    cmocka_unit_test(test_surrogates_and_range),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_nul),
	    cmocka_unit_test(test_varlink_error_reply),
	    cmocka_unit_test(test_json_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
