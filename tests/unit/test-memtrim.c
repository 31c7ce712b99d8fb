/* SPDX-License-Identifier: MIT */
/* memtrim.c: a trim once per quiet period after activity, never while work
 * is in flight, never twice without new activity. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "memtrim.h"

static void test_startup_then_quiet(void **state)
{
	struct memtrim t = {0};
	uint64_t now = 100000;

	/* Start-up counts as activity: the first quiet look trims, once. */
	assert_true(memtrim_due(&t, 0, false, now));
	assert_false(memtrim_due(&t, 0, false, now + 1000));
	assert_false(memtrim_due(&t, 0, false, now + 60000));
}

static void test_burst_then_quiet(void **state)
{
	struct memtrim t = {0};
	uint64_t now = 100000;

	assert_true(memtrim_due(&t, 0, false, now));
	/* A burst: the count grows, calls are in flight. */
	assert_false(memtrim_due(&t, 10, true, now + 1000));
	assert_false(memtrim_due(&t, 500, true, now + 2000));
	/* Done at now + 3000 (the count stands still from here). */
	assert_false(memtrim_due(&t, 900, false, now + 3000));
	assert_false(memtrim_due(&t, 900, false, now + 3000 + MEMTRIM_QUIET_MS - 1));
	assert_true(memtrim_due(&t, 900, false, now + 3000 + MEMTRIM_QUIET_MS));
	assert_false(memtrim_due(&t, 900, false, now + 3000 + 2 * MEMTRIM_QUIET_MS));
}

static void test_long_call_is_not_quiet(void **state)
{
	struct memtrim t = {0};
	uint64_t now = 100000;

	assert_true(memtrim_due(&t, 0, false, now));
	assert_false(memtrim_due(&t, 1, true, now + 1000));
	/* One call in flight for a long time, no new activity: still busy. */
	for (int i = 2; i < 20; i++)
		assert_false(memtrim_due(&t, 1, true, now + (uint64_t)i * 1000));
	assert_false(memtrim_due(&t, 1, false, now + 20000));
	assert_true(memtrim_due(&t, 1, false, now + 20000 + MEMTRIM_QUIET_MS));
}

static void test_trickle_postpones(void **state)
{
	struct memtrim t = {0};
	uint64_t now = 100000, count = 0;

	assert_true(memtrim_due(&t, count, false, now));
	/* A call now and then, each finished by the next look: never quiet
	 * long enough, so no trim in the middle of a slow stream of work. */
	for (int i = 1; i < 30; i++)
		assert_false(memtrim_due(&t, ++count, false, now + (uint64_t)i * (MEMTRIM_QUIET_MS / 2)));
}

static void test_run(void **state)
{
	memtrim_run(); /* nothing to check but that it returns */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_startup_then_quiet),
	    cmocka_unit_test(test_burst_then_quiet),
	    cmocka_unit_test(test_long_call_is_not_quiet),
	    cmocka_unit_test(test_trickle_postpones),
	    cmocka_unit_test(test_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
