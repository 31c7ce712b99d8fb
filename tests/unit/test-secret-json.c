/* SPDX-License-Identifier: MIT */
/* Unit tests for daemon/secret-json.c and common/wipe.c: JSON that carries
 * credentials parses as json-c would, and its strings are wiped when it is
 * dropped; buffers grown with wipe_realloc keep their contents. */
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

#include "secret-json.h"
#include "wipe.h"

static void test_parse(void **state)
{
	char token[3000], text[3200];
	struct json_object *o = NULL, *v;

	/* Longer than any buffer json-c starts with, so it would grow. */
	memset(token, 'T', sizeof(token) - 1);
	token[sizeof(token) - 1] = '\0';
	snprintf(text, sizeof(text), "{\"Version\": 1, \"SessionToken\": \"%s\", \"Esc\": \"a\\u0041\\n\"} trailing",
		 token);
	assert_int_equal(secret_json_parse(text, strlen(text), &o), 0);
	assert_true(json_object_object_get_ex(o, "SessionToken", &v));
	assert_string_equal(json_object_get_string(v), token);
	assert_true(json_object_object_get_ex(o, "Esc", &v));
	assert_string_equal(json_object_get_string(v), "aA\n");
	assert_null(secret_json_put(o));
}

static void test_parse_errors(void **state)
{
	struct json_object *o = (struct json_object *)&o; /* untouched on failure */

	assert_int_equal(secret_json_parse("", 0, &o), -EINVAL);
	assert_int_equal(secret_json_parse("not json", 8, &o), -EINVAL);
	assert_int_equal(secret_json_parse("{\"a\": \"b", 8, &o), -EINVAL);
	assert_ptr_equal(o, &o);
	assert_null(secret_json_put(NULL));
}

/* Strings anywhere in the tree are wiped (a second reference, held here
 * against the contract, lets the test look). */
static void test_put_wipes(void **state)
{
	const char *text = "{\"a\": \"secret-one\", \"b\": [\"secret-two\", {\"c\": \"secret-three\"}], \"n\": 5}";
	struct json_object *o = NULL, *a, *b, *two, *c;

	assert_int_equal(secret_json_parse(text, strlen(text), &o), 0);
	assert_true(json_object_object_get_ex(o, "a", &a));
	assert_true(json_object_object_get_ex(o, "b", &b));
	two = json_object_array_get_idx(b, 0);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(b, 1), "c", &c));
	json_object_get(o);
	secret_json_put(o);
	assert_memory_equal(json_object_get_string(a), "\0\0\0\0\0\0\0\0\0\0", 10);
	assert_memory_equal(json_object_get_string(two), "\0\0\0\0\0\0\0\0\0\0", 10);
	assert_memory_equal(json_object_get_string(c), "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
	json_object_put(o);
}

static void test_wipe_realloc(void **state)
{
	char *p = malloc(8), *q;

	assert_non_null(p);
	memcpy(p, "abcdefg", 8);
	q = wipe_realloc(p, 8, 4096);
	assert_non_null(q);
	assert_string_equal(q, "abcdefg");
	assert_null(wipe_realloc(q, 8, 0));
	q = wipe_any_realloc(q, 1 << 20);
	assert_non_null(q);
	assert_string_equal(q, "abcdefg");
	q = wipe_any_realloc(q, 0);
	assert_null(q);
	q = wipe_any_realloc(NULL, 16);
	assert_non_null(q);
	wipe_any_free(q);
	wipe_any_free(NULL);
	wipe_free(NULL, 5);
	wipe_free_string(NULL);
	wipe_free_string(strdup("gone"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_put_wipes),
	    cmocka_unit_test(test_wipe_realloc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
