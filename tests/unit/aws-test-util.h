/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers shared by the unit tests of configuration and credentials: a fake
 * environment (so no test ever reads the real ~/.aws or the caller's AWS_*
 * variables) and files in a scratch directory.
 */
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define TEST_ENV_MAX 64

static struct {
	char *name, *value;
} test_env[TEST_ENV_MAX];

/* The lookup function handed to the code under test. */
static inline const char *test_getenv(const char *name)
{
	for (size_t i = 0; i < TEST_ENV_MAX; i++)
		if (test_env[i].name && strcmp(test_env[i].name, name) == 0)
			return test_env[i].value;
	return NULL;
}

static inline void test_env_clear(void)
{
	for (size_t i = 0; i < TEST_ENV_MAX; i++) {
		free(test_env[i].name);
		free(test_env[i].value);
		test_env[i].name = test_env[i].value = NULL;
	}
}

/* Sets (value non-NULL) or unsets a fake variable. */
static inline void test_setenv(const char *name, const char *value)
{
	for (size_t i = 0; i < TEST_ENV_MAX; i++)
		if (test_env[i].name && strcmp(test_env[i].name, name) == 0) {
			free(test_env[i].value);
			test_env[i].value = value ? strdup(value) : NULL;
			return;
		}
	for (size_t i = 0; value && i < TEST_ENV_MAX; i++)
		if (!test_env[i].name) {
			test_env[i].name = strdup(name);
			test_env[i].value = strdup(value);
			return;
		}
	assert_null(value); /* table full */
}

/* A scratch directory, removed (with the files written by test_write) by
 * test_dir_remove(). */
static char test_dir[256];

static inline void test_dir_create(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(test_dir, sizeof(test_dir), "%s/kmscancel-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(test_dir));
}

/* The path of name inside the scratch directory (a static buffer per call
 * slot, so that a few may be alive at once). */
static inline const char *test_path(const char *name)
{
	static char bufs[4][512];
	static unsigned next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", test_dir, name);
	return b;
}

/* Writes text to name in the scratch directory; returns the path. */
static inline const char *test_write(const char *name, const char *text)
{
	const char *path = test_path(name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

static inline int test_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static inline void test_dir_remove(void)
{
	/* Only ever our own mkdtemp directory. */
	if (!strstr(test_dir, "/kmscancel-test."))
		return;
	assert_int_equal(nftw(test_dir, test_remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	test_dir[0] = '\0';
}

/* A fresh, isolated environment: HOME in the scratch directory (empty, so no
 * ~/.aws unless a test writes one), nothing else set. */
static inline void test_env_isolate(void)
{
	test_env_clear();
	test_setenv("HOME", test_dir);
}

/* Asserts that haystack contains needle, printing both when not. */
static inline void test_assert_contains(const char *haystack, const char *needle)
{
	if (!haystack || !strstr(haystack, needle)) {
		print_error("expected \"%s\" to contain \"%s\"\n", haystack ? haystack : "(null)", needle);
		fail();
	}
}
