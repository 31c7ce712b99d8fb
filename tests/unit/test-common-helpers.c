/* SPDX-License-Identifier: MIT */
/* The small shared helpers of common/: errorf() hands its r back with the
 * message (or NULL when none is wanted), the monotonic clock moves forward
 * in consistent units, timeval_from_msec() splits and clamps, hex_value()
 * takes both cases and nothing else. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "errorf.h"
#include "hex.h"
#include "monotime.h"

static void test_errorf(void **state)
{
	char *msg = NULL;

	assert_int_equal(errorf(&msg, -EINVAL, "%s=%d: bad", "Key", 7), -EINVAL);
	assert_string_equal(msg, "Key=7: bad");
	free(msg);
	/* No place for the text: r still comes back. */
	assert_int_equal(errorf(NULL, -ENOENT, "ignored %s", "x"), -ENOENT);
	/* Any r, 0 included, is returned as given. */
	msg = NULL;
	assert_int_equal(errorf(&msg, 0, "fine"), 0);
	assert_string_equal(msg, "fine");
	free(msg);
}

static void test_monotime(void **state)
{
	uint64_t us = monotime_usec(), ms = monotime_msec(), s = monotime_sec();
	uint64_t us2 = monotime_usec();

	assert_true(us2 >= us);
	/* The same clock in three units: read in order, within a second. */
	assert_true(ms >= us / 1000 && ms <= us2 / 1000);
	assert_true(s >= us / 1000000 && s <= us2 / 1000000 + 1);
}

static void test_timeval(void **state)
{
	struct timeval tv = timeval_from_msec(12345);

	assert_int_equal(tv.tv_sec, 12);
	assert_int_equal(tv.tv_usec, 345000);
	tv = timeval_from_msec(999);
	assert_int_equal(tv.tv_sec, 0);
	assert_int_equal(tv.tv_usec, 999000);
	tv = timeval_from_msec(0);
	assert_int_equal(tv.tv_sec, 0);
	assert_int_equal(tv.tv_usec, 0);
	/* A deadline already past fires now. */
	tv = timeval_from_msec(-1500);
	assert_int_equal(tv.tv_sec, 0);
	assert_int_equal(tv.tv_usec, 0);
}

static void test_hex(void **state)
{
	static const char digits[] = "0123456789abcdef", upper[] = "ABCDEF";

	for (int i = 0; i < 16; i++)
		assert_int_equal(hex_value(digits[i]), i);
	for (int i = 0; i < 6; i++)
		assert_int_equal(hex_value(upper[i]), 10 + i);
	assert_int_equal(hex_value('g'), -1);
	assert_int_equal(hex_value('G'), -1);
	assert_int_equal(hex_value('/'), -1);
	assert_int_equal(hex_value(':'), -1);
	assert_int_equal(hex_value('@'), -1);
	assert_int_equal(hex_value('`'), -1);
	assert_int_equal(hex_value('\0'), -1);
	assert_int_equal(hex_value((char)0xc3), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_errorf),
	    cmocka_unit_test(test_monotime),
	    cmocka_unit_test(test_timeval),
	    cmocka_unit_test(test_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
