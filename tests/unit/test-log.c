/* SPDX-License-Identifier: MIT */
/* log.c: plain lines on stderr, and log_struct()'s "FIELD=fmt", args…
 * lists formatted field by field with every argument consumed in order. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

/* Runs fn with stderr sent to a temporary file; returns what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/test-log.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	static char buf[8192];
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void emit_plain(void)
{
	log_info("hello %s %d", "world", 42);
	log_debug("not shown at the default level");
}

static void test_plain_line(void **state)
{
	log_setup();
	log_set_max_level(LOG_INFO);
	assert_string_equal(capture_stderr(emit_plain), "kmscanceld[info]: hello world 42\n");
}

static void emit_struct_with_message(void)
{
	log_struct(LOG_NOTICE, "MESSAGE_ID=0123456789abcdef0123456789abcdef", "KMSCANCEL_UID=%u", 1000U,
		   "MESSAGE=key %s: %s", "k1", "cancelled", "KMSCANCEL_LATENCY=%ldms", 12L, NULL);
}

static void test_struct_message_only(void **state)
{
	log_setup();
	log_set_max_level(LOG_INFO);
	assert_string_equal(capture_stderr(emit_struct_with_message), "kmscanceld[notice]: key k1: cancelled\n");
}

/* Without MESSAGE every field shows: proves each field consumed exactly its
 * own arguments, whatever their types. */
static void emit_struct_fields(void)
{
	log_struct(LOG_WARNING, "A=%d/%s", -1, "x", "B=%llu", 18446744073709551615ULL, "C=%zu", (size_t)7,
		   "D=%.1f", 2.5, "E=%c%hd", 'q', (short)3, "F=%p", (void *)0, "G=%%", "H=%.*s", 2, "abc",
		   "I=%ld", -9L, NULL);
}

static void test_struct_fields_in_order(void **state)
{
	log_setup();
	log_set_max_level(LOG_INFO);
	assert_string_equal(capture_stderr(emit_struct_fields),
			    "kmscanceld[warning]: A=-1/x B=18446744073709551615 C=7 D=2.5 E=q3 F=(nil) G=% H=ab I=-9\n");
}

static void emit_filtered(void)
{
	log_struct(LOG_DEBUG, "MESSAGE=hidden", NULL);
}

static void test_struct_filtered(void **state)
{
	log_setup();
	log_set_max_level(LOG_INFO);
	assert_string_equal(capture_stderr(emit_filtered), "");
}

static void test_levels(void **state)
{
	assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
	assert_int_equal(log_level_from_string("WARNING"), LOG_WARNING);
	assert_int_equal(log_level_from_string("3"), LOG_ERR);
	assert_int_equal(log_level_from_string("loud"), -22);
	assert_string_equal(log_level_to_string(LOG_NOTICE), "notice");
	assert_string_equal(log_level_to_string(9), "?");
}

/* $JOURNAL_STREAM naming another stream (a child's redirected stderr) must
 * not switch to the journal. */
static void test_journal_stream_mismatch(void **state)
{
	setenv("JOURNAL_STREAM", "1:1", 1);
	log_setup();
	assert_false(log_to_journal());
	unsetenv("JOURNAL_STREAM");
	log_setup();
	assert_false(log_to_journal());
}

/* log_*_errno() logs like log_*() and hands r back, also when filtered out. */
static int errno_results[2];

static void emit_errno(void)
{
	errno_results[0] = log_warning_errno(-5, "cannot read %s", "x.conf");
	errno_results[1] = log_debug_errno(-2, "filtered");
}

static void test_errno_variants(void **state)
{
	log_setup();
	log_set_max_level(LOG_INFO);
	assert_string_equal(capture_stderr(emit_errno), "kmscanceld[warning]: cannot read x.conf\n");
	assert_int_equal(errno_results[0], -5);
	assert_int_equal(errno_results[1], -2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_line),
	    cmocka_unit_test(test_struct_message_only),
	    cmocka_unit_test(test_struct_fields_in_order),
	    cmocka_unit_test(test_struct_filtered),
	    cmocka_unit_test(test_levels),
	    cmocka_unit_test(test_journal_stream_mismatch),
	    cmocka_unit_test(test_errno_variants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
