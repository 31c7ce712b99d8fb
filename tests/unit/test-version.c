/* SPDX-License-Identifier: MIT */
/* Unit tests for libkmscancel's version: the macros of kmscancel-version.h
 * agree with configure's version, kmscancel_version() returns it, and the
 * function is exported under its own symbol version node. */
#include "config.h"

#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "kmscancel.h"

static void test_macros_follow_configure(void **state)
{
	char built[32];

	assert_string_equal(KMSCANCEL_VERSION_STRING, PACKAGE_VERSION);
	snprintf(built, sizeof(built), "%d.%d.%d", KMSCANCEL_VERSION_MAJOR, KMSCANCEL_VERSION_MINOR,
		 KMSCANCEL_VERSION_PATCH);
	assert_string_equal(built, PACKAGE_VERSION);
	assert_int_equal(KMSCANCEL_VERSION_NUMBER,
			 KMSCANCEL_VERSION_MAJOR * 65536 + KMSCANCEL_VERSION_MINOR * 256 + KMSCANCEL_VERSION_PATCH);
}

static void test_numbers_compare_as_versions(void **state)
{
	assert_true(KMSCANCEL_VERSION_ENCODE(0, 1, 0) < KMSCANCEL_VERSION_ENCODE(0, 1, 1));
	assert_true(KMSCANCEL_VERSION_ENCODE(0, 1, 255) < KMSCANCEL_VERSION_ENCODE(0, 2, 0));
	assert_true(KMSCANCEL_VERSION_ENCODE(0, 255, 255) < KMSCANCEL_VERSION_ENCODE(1, 0, 0));
	/* Usable in #if, as the header's example does. */
#if KMSCANCEL_VERSION_NUMBER < KMSCANCEL_VERSION_ENCODE(0, 1, 0)
	fail_msg("KMSCANCEL_VERSION_NUMBER %#x is below 0.1.0, the first version with it", KMSCANCEL_VERSION_NUMBER);
#endif
}

static void test_runtime_version(void **state)
{
	const char *v = kmscancel_version();

	assert_non_null(v);
	assert_string_equal(v, KMSCANCEL_VERSION_STRING);
	assert_ptr_equal(kmscancel_version(), v); /* static storage */
}

/* New functions go into a new version node of libkmscancel.sym; this one
 * came with LIBKMSCANCEL_1, and not with LIBKMSCANCEL_0, which must never
 * change. */
static void test_symbol_version(void **state)
{
	const char *(*f)(void) = (const char *(*)(void))dlvsym(RTLD_DEFAULT, "kmscancel_version", "LIBKMSCANCEL_1");

	assert_non_null(f);
	assert_string_equal(f(), PACKAGE_VERSION);
	assert_null(dlvsym(RTLD_DEFAULT, "kmscancel_version", "LIBKMSCANCEL_0"));
	assert_non_null(dlvsym(RTLD_DEFAULT, "kmscancel_open", "LIBKMSCANCEL_0"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_macros_follow_configure),
	    cmocka_unit_test(test_numbers_compare_as_versions),
	    cmocka_unit_test(test_runtime_version),
	    cmocka_unit_test(test_symbol_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
