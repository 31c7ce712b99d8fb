/* SPDX-License-Identifier: MIT */
/*
 * daemon/conf-types.c: each value type of the config's key table reads its
 * text, holds to its bounds (both ends, one past each), takes "Key=" as
 * not set, leaves the field alone on a bad value, and says what it expected.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf-types.h"

struct sample {
	char *text;
	char *secret;
	unsigned number;
	unsigned ms;
	double rate;
	bool flag;
	int custom;
};

static bool short_word(const char *s)
{
	return strlen(s) <= 5 && !strchr(s, ' ');
}

static int parse_custom(void *obj, void *field, const char *value, const struct conf_pos *pos)
{
	if (value && strcmp(value, "ok") != 0)
		return -EINVAL;
	*(int *)field = value ? (int)pos->line : -1;
	return 0;
}

#define F(m) offsetof(struct sample, m)
static const struct conf_key k_string = {"S", "Word",         CONF_STRING, F(text),    NULL, 0,
					 0,   "a short word", false,       short_word, NULL};
static const struct conf_key k_secret = {"S", "Secret",       CONF_STRING, F(secret),  NULL, 0,
					 0,   "a short word", true,        short_word, NULL};
static const struct conf_key k_any = {"S", "Any", CONF_STRING, F(text), NULL, 0, 0, NULL, false, NULL, NULL};
static const struct conf_key k_uint = {"S", "Count", CONF_UINT, F(number), NULL, 3, 70, "a number of things", false, NULL, NULL};
static const struct conf_key k_time = {"S", "Time", CONF_DURATION, F(ms), NULL, 1, 20000, "1 or 100ms", false, NULL, NULL};
static const struct conf_key k_time0 = {"S", "Idle", CONF_DURATION, F(ms), NULL, 0, 60000, "60 or 1500ms", false, NULL, NULL};
static const struct conf_key k_rate = {"S", "Rate", CONF_RATE, F(rate), NULL, 0, 100, "requests per second", false, NULL, NULL};
static const struct conf_key k_bool = {"S", "Flag", CONF_BOOL, F(flag), NULL, 0, 0, "yes or no", false, NULL, NULL};
static const struct conf_key k_custom = {"S", "C", CONF_CUSTOM, F(custom), NULL, 0, 0, "ok", false, NULL, parse_custom};

static const struct conf_pos pos = {"t.conf", 7};

static void sample_done(struct sample *s)
{
	free(s->text);
	free(s->secret);
}

static void assert_describes(const struct conf_key *k, const char *want)
{
	char buf[192];

	conf_key_describe(k, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_string(void **state)
{
	struct sample s = {0};

	assert_int_equal(conf_key_apply(&k_string, &s, "abc", &pos), 0);
	assert_string_equal(s.text, "abc");
	assert_int_equal(conf_key_apply(&k_string, &s, "toolong", &pos), -EINVAL);
	assert_string_equal(s.text, "abc"); /* untouched */
	assert_int_equal(conf_key_apply(&k_string, &s, NULL, &pos), 0);
	assert_null(s.text);
	assert_int_equal(conf_key_apply(&k_any, &s, "any text at all", &pos), 0);
	assert_string_equal(s.text, "any text at all");
	assert_int_equal(conf_key_apply(&k_secret, &s, "pw", &pos), 0);
	assert_int_equal(conf_key_apply(&k_secret, &s, "pw2", &pos), 0);
	assert_string_equal(s.secret, "pw2");
	assert_describes(&k_string, "expected a short word");
	sample_done(&s);
}

static void test_uint_bounds(void **state)
{
	static const char *const bad[] = {"2", "71", "-3", "+3", " 3", "3 ", "3x", "0x10", "", "99999999999999999999"};
	struct sample s = {0};

	assert_int_equal(conf_key_apply(&k_uint, &s, "3", &pos), 0);
	assert_int_equal(s.number, 3);
	assert_int_equal(conf_key_apply(&k_uint, &s, "70", &pos), 0);
	assert_int_equal(s.number, 70);
	assert_int_equal(conf_key_apply(&k_uint, &s, "007", &pos), 0);
	assert_int_equal(s.number, 7);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(conf_key_apply(&k_uint, &s, bad[i], &pos), -EINVAL);
		assert_int_equal(s.number, 7);
	}
	assert_int_equal(conf_key_apply(&k_uint, &s, NULL, &pos), 0);
	assert_int_equal(s.number, 0);
	assert_describes(&k_uint, "expected a number of things from 3 to 70");
}

static void test_duration_bounds(void **state)
{
	static const char *const bad[] = {"0", "0ms", "no", "20.001", "21", "-1", "1x", "ms", ".", "1.5 s", "1e3", ""};
	struct sample s = {0};

	assert_int_equal(conf_key_apply(&k_time, &s, "1ms", &pos), 0);
	assert_int_equal(s.ms, 1);
	assert_int_equal(conf_key_apply(&k_time, &s, "20", &pos), 0);
	assert_int_equal(s.ms, 20000);
	assert_int_equal(conf_key_apply(&k_time, &s, "1.5s", &pos), 0);
	assert_int_equal(s.ms, 1500);
	assert_int_equal(conf_key_apply(&k_time, &s, "0.0015", &pos), 0);
	assert_int_equal(s.ms, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(conf_key_apply(&k_time, &s, bad[i], &pos), -EINVAL);
		assert_int_equal(s.ms, 1);
	}
	assert_int_equal(conf_key_apply(&k_time, &s, NULL, &pos), 0);
	assert_int_equal(s.ms, 0);
	assert_describes(&k_time, "expected a time such as 1 or 100ms, from 1ms to 20s");
}

/* min 0: "no" and 0 mean off. */
static void test_duration_off(void **state)
{
	struct sample s = {.ms = 5};

	assert_int_equal(conf_key_apply(&k_time0, &s, "no", &pos), 0);
	assert_int_equal(s.ms, 0);
	assert_int_equal(conf_key_apply(&k_time0, &s, "60", &pos), 0);
	assert_int_equal(s.ms, 60000);
	assert_int_equal(conf_key_apply(&k_time0, &s, "0", &pos), 0);
	assert_int_equal(s.ms, 0);
	assert_int_equal(conf_key_apply(&k_time0, &s, "60001ms", &pos), -EINVAL);
	assert_int_equal(conf_key_apply(&k_time0, &s, "No", &pos), -EINVAL);
	assert_describes(&k_time0, "expected no, 0, or a time such as 60 or 1500ms, up to 60s");
}

static void test_rate_bounds(void **state)
{
	static const char *const bad[] = {"0", "0.0", "100.5", "-1", ".5", "5/s", "inf", "nan", "1e3", ""};
	struct sample s = {0};

	assert_int_equal(conf_key_apply(&k_rate, &s, "0.5", &pos), 0);
	assert_true(s.rate == 0.5);
	assert_int_equal(conf_key_apply(&k_rate, &s, "100", &pos), 0);
	assert_true(s.rate == 100);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(conf_key_apply(&k_rate, &s, bad[i], &pos), -EINVAL);
		assert_true(s.rate == 100);
	}
	assert_int_equal(conf_key_apply(&k_rate, &s, NULL, &pos), 0);
	assert_true(s.rate == 0);
	assert_describes(&k_rate, "expected requests per second");
}

static void test_bool(void **state)
{
	static const char *const yes[] = {"yes", "TRUE", "On", "1"}, *const no[] = {"no", "False", "OFF", "0"};
	struct sample s = {0};

	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(conf_key_apply(&k_bool, &s, yes[i], &pos), 0);
		assert_true(s.flag);
		assert_int_equal(conf_key_apply(&k_bool, &s, no[i], &pos), 0);
		assert_false(s.flag);
	}
	s.flag = true;
	assert_int_equal(conf_key_apply(&k_bool, &s, "y", &pos), -EINVAL);
	assert_int_equal(conf_key_apply(&k_bool, &s, "2", &pos), -EINVAL);
	assert_true(s.flag);
	assert_int_equal(conf_key_apply(&k_bool, &s, NULL, &pos), 0);
	assert_false(s.flag);
	assert_describes(&k_bool, "expected yes or no");
}

static void test_custom(void **state)
{
	struct sample s = {0};

	assert_int_equal(conf_key_apply(&k_custom, &s, "ok", &pos), 0);
	assert_int_equal(s.custom, 7); /* got the position */
	assert_int_equal(conf_key_apply(&k_custom, &s, "bad", &pos), -EINVAL);
	assert_int_equal(conf_key_apply(&k_custom, &s, NULL, &pos), 0);
	assert_int_equal(s.custom, -1);
	assert_describes(&k_custom, "expected ok");
}

static void test_duration_text(void **state)
{
	assert_int_equal(conf_duration_ms("2.5"), 2500);
	assert_int_equal(conf_duration_ms("7.25ms"), 7);
	assert_int_equal(conf_duration_ms("99999999999999"), -1);
	assert_int_equal(conf_duration_ms("s"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_string),          cmocka_unit_test(test_uint_bounds),
	    cmocka_unit_test(test_duration_bounds), cmocka_unit_test(test_duration_off),
	    cmocka_unit_test(test_rate_bounds),     cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_custom),          cmocka_unit_test(test_duration_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
