/* SPDX-License-Identifier: MIT */
/* Unit tests for common/varlink.c (message level) and common/error-names.c. */
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

#include "error-names.h"
#include "varlink.h"

static int parse_call(const char *s, struct varlink_call *ret)
{
	return varlink_call_parse(s, strlen(s), ret);
}

static int parse_reply(const char *s, struct varlink_reply *ret)
{
	return varlink_reply_parse(s, strlen(s), ret);
}

static void test_call_basic(void **state)
{
	struct varlink_call c;
	const char *s;

	assert_int_equal(
	    parse_call("{\"method\":\"io.kmscancel.CancelKeyDeletion\",\"parameters\":{\"keyId\":\"x\"}}", &c), 0);
	assert_string_equal(c.method, "io.kmscancel.CancelKeyDeletion");
	assert_int_equal(c.flags, 0);
	assert_int_equal(varlink_get_string(c.parameters, "keyId", &s), 0);
	assert_string_equal(s, "x");
	varlink_call_done(&c);
	assert_null(c.method);
	varlink_call_done(NULL);
}

static void test_call_empty_parameters(void **state)
{
	static const char *const inputs[] = {
	    "{\"method\":\"org.varlink.service.GetInfo\"}",
	    "{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":null}",
	    "{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":{}}",
	    " \n{ \"parameters\" : {} , \"method\" : \"org.varlink.service.GetInfo\" }\n ",
	};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct varlink_call c;

		assert_int_equal(parse_call(inputs[i], &c), 0);
		assert_non_null(c.parameters);
		assert_true(json_object_is_type(c.parameters, json_type_object));
		assert_int_equal(json_object_object_length(c.parameters), 0);
		varlink_call_done(&c);
	}
}

static void test_call_flags(void **state)
{
	struct varlink_call c;

	assert_int_equal(parse_call("{\"method\":\"a.b.C\",\"oneway\":true}", &c), 0);
	assert_int_equal(c.flags, VARLINK_CALL_ONEWAY);
	varlink_call_done(&c);
	assert_int_equal(parse_call("{\"method\":\"a.b.C\",\"more\":true}", &c), 0);
	assert_int_equal(c.flags, VARLINK_CALL_MORE);
	varlink_call_done(&c);
	assert_int_equal(parse_call("{\"method\":\"a.b.C\",\"upgrade\":true}", &c), 0);
	assert_int_equal(c.flags, VARLINK_CALL_UPGRADE);
	varlink_call_done(&c);
	/* false flags are no flags, and may be combined */
	assert_int_equal(parse_call("{\"method\":\"a.b.C\",\"oneway\":false,\"more\":true}", &c), 0);
	assert_int_equal(c.flags, VARLINK_CALL_MORE);
	varlink_call_done(&c);
	assert_int_equal(parse_call("{\"method\":\"a.b.C\",\"oneway\":false,\"more\":false,\"upgrade\":false}", &c), 0);
	assert_int_equal(c.flags, 0);
	varlink_call_done(&c);
}

static void test_call_protocol_errors(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{",
	    "nonsense",
	    "[]",
	    "\"io.a.B\"",
	    "42",
	    "null",
	    "{}",
	    "{\"parameters\":{}}",
	    "{\"method\":42}",
	    "{\"method\":null}",
	    "{\"method\":\"a.b.C\",\"parameters\":[]}",
	    "{\"method\":\"a.b.C\",\"parameters\":\"x\"}",
	    "{\"method\":\"a.b.C\",\"parameters\":1}",
	    "{\"method\":\"a.b.C\",\"extra\":1}",
	    "{\"method\":\"a.b.C\",\"oneway\":1}",
	    "{\"method\":\"a.b.C\",\"oneway\":\"true\"}",
	    "{\"method\":\"a.b.C\",\"more\":null}",
	    "{\"method\":\"a.b.C\",\"oneway\":true,\"more\":true}",
	    "{\"method\":\"a.b.C\",\"more\":true,\"upgrade\":true}",
	    "{\"method\":\"a.b.C\",\"oneway\":true,\"upgrade\":true}",
	    "{\"method\":\"a.b.C\"} x",
	    "{\"method\":\"a.b.C\"}{}",
	    "{\"method\":\"a.b.C\",}",
	    "{'method':'a.b.C'}",
	    "{\"method\":\"a.b.C\" /* c */}",
	    "{\"method\":\"a.b.\xff\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct varlink_call c = {.method = (char *)"untouched"};

		assert_int_equal(parse_call(bad[i], &c), -EBADMSG);
		assert_string_equal(c.method, "untouched");
	}
}

static void test_call_embedded_nul(void **state)
{
	static const char msg[] = "{\"method\":\"a.b.C\"}\0{}";
	struct varlink_call c;

	assert_int_equal(varlink_call_parse(msg, sizeof(msg) - 1, &c), -EBADMSG);
	assert_int_equal(parse_call("{\"method\":\"a.b.C\\u0000\"}", &c), -EINVAL);
}

static void test_call_bad_method_names(void **state)
{
	static const char *const bad[] = {
	    "",
	    "GetInfo",
	    "org.varlink.service",
	    "org.varlink.service.",
	    "org.varlink.service.getInfo",
	    "Org.varlink.service.GetInfo",
	    "org..service.GetInfo",
	    "org.varlink-.service.GetInfo",
	    "org.-varlink.service.GetInfo",
	    "1org.varlink.GetInfo",
	    "io.kmscancel.Cancel_Key",
	    "io.kmscancel.Get Info",
	    "io.KMScancel.GetInfo",
	    "io.kmscancel.GetInfo.",
	    ".io.kmscancel.GetInfo",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct varlink_call c;
		char buf[256];

		snprintf(buf, sizeof(buf), "{\"method\":\"%s\"}", bad[i]);
		assert_int_equal(parse_call(buf, &c), -EINVAL);
	}
}

static void test_names(void **state)
{
	char long_name[VARLINK_NAME_MAX + 2];
	size_t n;
	const char *m;

	assert_true(varlink_interface_name_is_valid("io.kmscancel"));
	assert_true(varlink_interface_name_is_valid("org.varlink.service"));
	assert_true(varlink_interface_name_is_valid("io.systemd.x--y.0ab"));
	assert_true(varlink_interface_name_is_valid("a.1"));
	assert_false(varlink_interface_name_is_valid("io"));
	assert_false(varlink_interface_name_is_valid("1o.kmscancel"));
	assert_false(varlink_interface_name_is_valid("io.kmscancel-"));
	assert_false(varlink_interface_name_is_valid("io.-kmscancel"));
	assert_false(varlink_interface_name_is_valid("io.Kmscancel"));
	assert_false(varlink_interface_name_is_valid("io..kmscancel"));
	assert_false(varlink_interface_name_is_valid("io.kms_cancel"));
	assert_false(varlink_interface_name_is_valid(NULL));

	assert_true(varlink_member_name_is_valid("CancelKeyDeletion"));
	assert_true(varlink_member_name_is_valid("KMSException"));
	assert_false(varlink_member_name_is_valid("cancel"));
	assert_false(varlink_member_name_is_valid("Cancel_Key"));
	assert_false(varlink_member_name_is_valid(""));

	assert_true(varlink_field_name_is_valid("keyId"));
	assert_true(varlink_field_name_is_valid("key_id"));
	assert_true(varlink_field_name_is_valid("KeyId"));
	assert_false(varlink_field_name_is_valid("key__id"));
	assert_false(varlink_field_name_is_valid("_key"));
	assert_false(varlink_field_name_is_valid("key_"));
	assert_false(varlink_field_name_is_valid("1key"));

	assert_int_equal(varlink_qualified_name_split("io.kmscancel.CancelKeyDeletion", &n, &m), 0);
	assert_int_equal(n, strlen("io.kmscancel"));
	assert_string_equal(m, "CancelKeyDeletion");
	assert_int_equal(varlink_qualified_name_split("io.kmscancel", &n, &m), -EINVAL);
	assert_int_equal(varlink_qualified_name_split(NULL, &n, &m), -EINVAL);

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	long_name[1] = '.';
	assert_false(varlink_interface_name_is_valid(long_name));
	long_name[VARLINK_NAME_MAX] = '\0';
	assert_true(varlink_interface_name_is_valid(long_name));
}

static void test_reply_parse(void **state)
{
	struct varlink_reply r;
	bool b;

	assert_int_equal(parse_reply("{\"parameters\":{\"ok\":true}}", &r), 0);
	assert_null(r.error);
	assert_false(r.continues);
	assert_int_equal(varlink_get_bool(r.parameters, "ok", &b), 0);
	assert_true(b);
	varlink_reply_done(&r);

	assert_int_equal(parse_reply("{}", &r), 0);
	assert_int_equal(json_object_object_length(r.parameters), 0);
	varlink_reply_done(&r);

	assert_int_equal(parse_reply("{\"error\":\"io.kmscancel.NotFoundException\",\"parameters\":null}", &r), 0);
	assert_string_equal(r.error, "io.kmscancel.NotFoundException");
	varlink_reply_done(&r);

	assert_int_equal(parse_reply("{\"parameters\":{},\"continues\":true}", &r), 0);
	assert_true(r.continues);
	varlink_reply_done(&r);

	assert_int_equal(parse_reply("{\"error\":\"a.b.C\",\"continues\":true}", &r), -EBADMSG);
	assert_int_equal(parse_reply("{\"error\":\"NotFound\"}", &r), -EBADMSG);
	assert_int_equal(parse_reply("{\"error\":1}", &r), -EBADMSG);
	assert_int_equal(parse_reply("{\"parameters\":[]}", &r), -EBADMSG);
	assert_int_equal(parse_reply("{\"continues\":\"yes\"}", &r), -EBADMSG);
	assert_int_equal(parse_reply("{\"method\":\"a.b.C\"}", &r), -EBADMSG);
	assert_int_equal(parse_reply("{} {}", &r), -EBADMSG);
	assert_int_equal(parse_reply("[1]", &r), -EBADMSG);
}

static void test_format_roundtrip(void **state)
{
	struct json_object *p = json_object_new_object();
	struct varlink_call c;
	struct varlink_reply r;
	char *buf;
	size_t len;
	const char *s;
	int64_t i;

	json_object_object_add(p, "keyId", json_object_new_string("a/\"b\"\\c"));
	json_object_object_add(p, "timeoutMs", json_object_new_int64(1500));

	assert_int_equal(varlink_format_call("io.kmscancel.CancelKeyDeletion", p, VARLINK_CALL_MORE, &buf, &len), 0);
	assert_int_equal(buf[len - 1], '\0');
	assert_int_equal(strlen(buf), len - 1);
	assert_int_equal(varlink_call_parse(buf, len - 1, &c), 0);
	assert_string_equal(c.method, "io.kmscancel.CancelKeyDeletion");
	assert_int_equal(c.flags, VARLINK_CALL_MORE);
	assert_int_equal(varlink_get_string(c.parameters, "keyId", &s), 0);
	assert_string_equal(s, "a/\"b\"\\c");
	assert_int_equal(varlink_get_int64(c.parameters, "timeoutMs", &i), 0);
	assert_int_equal(i, 1500);
	varlink_call_done(&c);
	free(buf);

	assert_int_equal(varlink_format_call("a.b.C", NULL, VARLINK_CALL_ONEWAY, &buf, &len), 0);
	assert_string_equal(buf, "{\"method\":\"a.b.C\",\"parameters\":{},\"oneway\":true}");
	free(buf);

	assert_int_equal(varlink_format_reply(p, true, &buf, &len), 0);
	assert_int_equal(varlink_reply_parse(buf, len - 1, &r), 0);
	assert_true(r.continues);
	assert_null(r.error);
	assert_true(json_object_equal(r.parameters, p));
	varlink_reply_done(&r);
	free(buf);

	assert_int_equal(varlink_format_reply(NULL, false, &buf, &len), 0);
	assert_string_equal(buf, "{\"parameters\":{}}");
	assert_int_equal(len, strlen(buf) + 1);
	free(buf);

	assert_int_equal(varlink_format_error("io.kmscancel.NotFoundException", p, &buf, &len), 0);
	assert_int_equal(varlink_reply_parse(buf, len - 1, &r), 0);
	assert_string_equal(r.error, "io.kmscancel.NotFoundException");
	assert_false(r.continues);
	varlink_reply_done(&r);
	free(buf);

	buf = (char *)"untouched";
	assert_int_equal(varlink_format_error("NotFound", NULL, &buf, &len), -EINVAL);
	assert_int_equal(varlink_format_call("a.b.c", NULL, 0, &buf, &len), -EINVAL);
	assert_int_equal(varlink_format_call("a.b.C", NULL, VARLINK_CALL_ONEWAY | VARLINK_CALL_MORE, &buf, &len),
			 -EINVAL);
	assert_string_equal(buf, "untouched");
	json_object_put(p);

	p = json_object_new_array();
	assert_int_equal(varlink_format_reply(p, false, &buf, &len), -EINVAL);
	json_object_put(p);
}

static void test_format_too_big(void **state)
{
	struct json_object *p = json_object_new_object();
	char *big = malloc(VARLINK_MESSAGE_MAX);
	char *buf = NULL;
	size_t len;

	memset(big, 'x', VARLINK_MESSAGE_MAX - 1);
	big[VARLINK_MESSAGE_MAX - 1] = '\0';
	json_object_object_add(p, "blob", json_object_new_string(big));
	assert_int_equal(varlink_format_reply(p, false, &buf, &len), -EMSGSIZE);
	assert_null(buf);
	json_object_put(p);
	free(big);
}

static void test_getters(void **state)
{
	struct json_object *o = json_tokener_parse("{\"s\":\"x\",\"n\":null,\"b\":false,\"i\":-7,\"d\":1.0,"
						   "\"big\":18446744073709551615,\"max\":9223372036854775807,"
						   "\"z\":\"a\\u0000b\"}");
	const char *s = "untouched", *unknown = NULL;
	bool b = true;
	int64_t i = 99;
	static const char *const allowed[] = {"s", "n", "b", "i", "d", "big", "max", "z", NULL};
	static const char *const fewer[] = {"s", NULL};

	assert_non_null(o);
	assert_int_equal(varlink_get_string(o, "s", &s), 0);
	assert_string_equal(s, "x");
	assert_int_equal(varlink_get_string(o, "n", &s), -ENOENT);
	assert_int_equal(varlink_get_string(o, "missing", &s), -ENOENT);
	assert_int_equal(varlink_get_string(o, "b", &s), -EINVAL);
	assert_int_equal(varlink_get_string(o, "z", &s), -EINVAL);
	assert_string_equal(s, "x");
	assert_int_equal(varlink_get_bool(o, "b", &b), 0);
	assert_false(b);
	assert_int_equal(varlink_get_bool(o, "s", &b), -EINVAL);
	assert_int_equal(varlink_get_int64(o, "i", &i), 0);
	assert_int_equal(i, -7);
	assert_int_equal(varlink_get_int64(o, "d", &i), -EINVAL);
	assert_int_equal(varlink_get_int64(o, "big", &i), -EINVAL);
	assert_int_equal(varlink_get_int64(o, "max", &i), 0);
	assert_true(i == INT64_MAX);
	assert_int_equal(varlink_get_int64(o, "n", &i), -ENOENT);

	assert_int_equal(varlink_check_fields(o, allowed, &unknown), 0);
	assert_int_equal(varlink_check_fields(o, fewer, &unknown), -EINVAL);
	assert_non_null(unknown);
	assert_string_not_equal(unknown, "s");
	json_object_put(o);
}

/* Feed a stream to the framer in chunks of every size, as partial reads
 * would deliver it, and check every message comes out whole. */
static void test_frame_partial_and_many(void **state)
{
	static const char stream[] = "{\"method\":\"a.b.C\"}\0{\"method\":\"a.b.D\",\"oneway\":true}\0{}\0";
	const size_t total = sizeof(stream) - 1; /* the last NUL is the string's own */

	for (size_t chunk = 1; chunk <= total; chunk++) {
		char buf[sizeof(stream)];
		size_t have = 0, fed = 0, found = 0;

		while (fed < total || have > 0) {
			size_t n, step = total - fed < chunk ? total - fed : chunk;
			int r;

			memcpy(buf + have, stream + fed, step);
			have += step;
			fed += step;
			while ((r = varlink_frame_find(buf, have, &n)) == 1) {
				const char *expect[] = {"{\"method\":\"a.b.C\"}",
							"{\"method\":\"a.b.D\",\"oneway\":true}", "{}"};

				assert_true(found < 3);
				assert_int_equal(n, strlen(expect[found]));
				assert_memory_equal(buf, expect[found], n);
				found++;
				memmove(buf, buf + n + 1, have - n - 1);
				have -= n + 1;
			}
			assert_int_equal(r, 0);
			if (step == 0)
				break;
		}
		assert_int_equal(found, 3);
		assert_int_equal(have, 0);
	}
}

static void test_frame_limits(void **state)
{
	char *buf = malloc(VARLINK_MESSAGE_MAX + 10);
	size_t n = 12345;

	assert_int_equal(varlink_frame_find(NULL, 0, &n), 0);
	assert_int_equal(n, 12345);
	memset(buf, 'x', VARLINK_MESSAGE_MAX + 10);
	assert_int_equal(varlink_frame_find(buf, VARLINK_MESSAGE_MAX - 1, &n), 0);
	assert_int_equal(varlink_frame_find(buf, VARLINK_MESSAGE_MAX, &n), -EMSGSIZE);
	assert_int_equal(varlink_frame_find(buf, VARLINK_MESSAGE_MAX + 10, &n), -EMSGSIZE);
	/* The largest legal message: MAX-1 bytes and its NUL. */
	buf[VARLINK_MESSAGE_MAX - 1] = '\0';
	assert_int_equal(varlink_frame_find(buf, VARLINK_MESSAGE_MAX + 10, &n), 1);
	assert_int_equal(n, VARLINK_MESSAGE_MAX - 1);
	/* One more byte is too much, even when the NUL is already buffered. */
	buf[VARLINK_MESSAGE_MAX - 1] = 'x';
	buf[VARLINK_MESSAGE_MAX] = '\0';
	assert_int_equal(varlink_frame_find(buf, VARLINK_MESSAGE_MAX + 10, &n), -EMSGSIZE);
	assert_int_equal(varlink_frame_find("\0", 1, &n), 1);
	assert_int_equal(n, 0);
	free(buf);
}

static void test_parse_too_big(void **state)
{
	size_t len = VARLINK_MESSAGE_MAX + 1;
	char *buf = malloc(len);
	struct varlink_call c;

	memset(buf, ' ', len);
	memcpy(buf, "{\"method\":\"a.b.C\"}", 18);
	assert_int_equal(varlink_call_parse(buf, len, &c), -EBADMSG);
	free(buf);
}

static void test_deep_nesting(void **state)
{
	char buf[1024];
	size_t n = 0;
	struct varlink_call c;

	n += (size_t)snprintf(buf, sizeof(buf), "{\"method\":\"a.b.C\",\"parameters\":{\"x\":");
	for (int i = 0; i < 100; i++)
		buf[n++] = '[';
	for (int i = 0; i < 100; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	buf[n++] = '}';
	assert_int_equal(varlink_call_parse(buf, n, &c), -EBADMSG);
}

static void test_error_names(void **state)
{
	for (int e = 0; e < 100; e++) {
		const char *v = kmscancel_error_to_varlink((kmscancel_error)e);
		const char *s = kmscancel_error_short_name((kmscancel_error)e);

		assert_non_null(s);
		if (!v)
			continue;
		assert_true(e >= 1 && e <= KMSCANCEL_E_INTERNAL);
		assert_true(varlink_qualified_name_is_valid(v));
		assert_int_equal(kmscancel_error_from_varlink(v), e);
		assert_string_equal(v + strlen("io.kmscancel."), s);
	}
	assert_null(kmscancel_error_to_varlink(KMSCANCEL_OK));
	assert_null(kmscancel_error_to_varlink(KMSCANCEL_E_CONNECT));
	assert_string_equal(kmscancel_error_to_varlink(KMSCANCEL_E_TIMEOUT), "io.kmscancel.Timeout");
	assert_string_equal(kmscancel_error_to_varlink(KMSCANCEL_E_INTERNAL), "io.kmscancel.InternalError");
	assert_string_equal(kmscancel_error_short_name(KMSCANCEL_OK), "OK");
	assert_string_equal(kmscancel_error_short_name(KMSCANCEL_E_CONNECT), "DaemonUnavailable");
	assert_int_equal(kmscancel_error_from_varlink("org.varlink.service.MethodNotFound"), KMSCANCEL_E_PROTOCOL);
	assert_int_equal(kmscancel_error_from_varlink(NULL), KMSCANCEL_E_PROTOCOL);
	for (int e = 1; e <= KMSCANCEL_E_INTERNAL; e++)
		assert_non_null(kmscancel_error_to_varlink((kmscancel_error)e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_call_basic),
	    cmocka_unit_test(test_call_empty_parameters),
	    cmocka_unit_test(test_call_flags),
	    cmocka_unit_test(test_call_protocol_errors),
	    cmocka_unit_test(test_call_embedded_nul),
	    cmocka_unit_test(test_call_bad_method_names),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_reply_parse),
	    cmocka_unit_test(test_format_roundtrip),
	    cmocka_unit_test(test_format_too_big),
	    cmocka_unit_test(test_getters),
	    cmocka_unit_test(test_frame_partial_and_many),
	    cmocka_unit_test(test_frame_limits),
	    cmocka_unit_test(test_parse_too_big),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_error_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
