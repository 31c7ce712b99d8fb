/* SPDX-License-Identifier: MIT */
/* Unit tests for common/json-writer.c: flat JSON objects written by hand must
 * be exactly what json-c writes, and parse back to what went in. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "json-writer.h"
#include "varlink.h"

/* Parses w's text strictly (as libkmscancel reads replies). */
static struct json_object *parse(const struct json_writer *w)
{
	struct json_tokener *tok = varlink_tokener_new();
	struct json_object *o;

	assert_non_null(tok);
	o = json_tokener_parse_ex(tok, w->out.p, (int)w->out.len);
	assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
	assert_int_equal(json_tokener_get_parse_end(tok), w->out.len);
	json_tokener_free(tok);
	assert_true(json_object_is_type(o, json_type_object));
	return o;
}

static void test_empty(void **state)
{
	struct json_writer w = {0};

	assert_int_equal(json_writer_finish(&w), 0);
	assert_string_equal(w.out.p, "{}");
	assert_int_equal(w.out.len, 2);
	json_writer_done(&w);
	json_writer_done(NULL);
}

/* The reply of a cancel, byte for byte as json-c serialised it before. */
static void test_same_as_json_c(void **state)
{
	struct json_writer w = {0};
	struct json_object *o = json_object_new_object();
	const char *arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

	json_writer_add_string(&w, "keyId", arn);
	json_writer_add_string(&w, "keyState", "Disabled");
	json_writer_add_string(&w, "requestId", "");
	json_writer_add_int(&w, "attempts", 2);
	json_writer_add_bool(&w, "alreadyCancelled", true);
	assert_int_equal(json_writer_finish(&w), 0);

	json_object_object_add(o, "keyId", json_object_new_string(arn));
	json_object_object_add(o, "keyState", json_object_new_string("Disabled"));
	json_object_object_add(o, "requestId", json_object_new_string(""));
	json_object_object_add(o, "attempts", json_object_new_int(2));
	json_object_object_add(o, "alreadyCancelled", json_object_new_boolean(true));
	assert_string_equal(w.out.p,
			    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	json_writer_done(&w);
}

/* Quotes, backslashes, control characters and UTF-8 in keys and values. */
static void test_escaping(void **state)
{
	static const char nasty[] = "a\"b\\c\n\t\x01\x1f\x7f/é\xe2\x82\xac end";
	struct json_writer w = {0};
	struct json_object *o, *v;

	json_writer_add_string(&w, nasty, nasty);
	json_writer_add_string(&w, "null", NULL);
	assert_int_equal(json_writer_finish(&w), 0);
	assert_non_null(strstr(w.out.p, "\\u0001\\u001f"));
	o = parse(&w);
	assert_true(json_object_object_get_ex(o, nasty, &v));
	assert_string_equal(json_object_get_string(v), nasty);
	assert_true(json_object_object_get_ex(o, "null", &v));
	assert_null(v);
	json_object_put(o);
	json_writer_done(&w);
}

static void test_integers(void **state)
{
	const int64_t values[] = {0, 1, -1, 10, 1234567890, INT64_MAX, INT64_MIN};
	struct json_writer w = {0};
	struct json_object *o, *v;
	char key[8];

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		json_writer_add_int(&w, key, values[i]);
	}
	json_writer_add_bool(&w, "f", false);
	assert_int_equal(json_writer_finish(&w), 0);
	o = parse(&w);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		assert_true(json_object_object_get_ex(o, key, &v));
		assert_true(json_object_get_int64(v) == values[i]);
	}
	assert_true(json_object_object_get_ex(o, "f", &v));
	assert_false(json_object_get_boolean(v));
	json_object_put(o);
	json_writer_done(&w);
}

/* A value longer than the first allocation grows the buffer. */
static void test_long_value(void **state)
{
	struct json_writer w = {0};
	struct json_object *o, *v;
	char *big = malloc(5000);

	assert_non_null(big);
	memset(big, 'x', 4999);
	big[4999] = '\0';
	json_writer_add_string(&w, "big", big);
	assert_int_equal(json_writer_finish(&w), 0);
	o = parse(&w);
	assert_true(json_object_object_get_ex(o, "big", &v));
	assert_string_equal(json_object_get_string(v), big);
	json_object_put(o);
	json_writer_done(&w);
	free(big);
}

/* The Varlink reply around it, and the refusal of an unfinished writer. */
static void test_varlink_reply(void **state)
{
	struct json_writer w = {0};
	struct varlink_reply r;
	char *msg;
	size_t len;

	json_writer_add_string(&w, "keyState", "Disabled");
	assert_int_equal(varlink_format_reply_written(&w, false, &msg, &len), -EINVAL);
	assert_int_equal(json_writer_finish(&w), 0);
	assert_int_equal(varlink_format_reply_written(&w, false, &msg, &len), 0);
	assert_int_equal(len, strlen(msg) + 1);
	assert_string_equal(msg, "{\"parameters\":{\"keyState\":\"Disabled\"}}");
	assert_int_equal(varlink_reply_parse(msg, len - 1, &r), 0);
	varlink_reply_done(&r);
	free(msg);
	json_writer_done(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),      cmocka_unit_test(test_same_as_json_c),
	    cmocka_unit_test(test_escaping),   cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_long_value), cmocka_unit_test(test_varlink_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
