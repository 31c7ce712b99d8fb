/* SPDX-License-Identifier: MIT */
/*
 * daemon/ini-lexer.c under both dialects: which lines are comments,
 * headers, assignments and continuations, how headers and values are cut,
 * the line numbers, and the "FILE:LINE: …" errors.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ini-lexer.h"

static const struct ini_dialect systemd_style = {.expected_assignment = "expected Key=Value"};
static const struct ini_dialect aws_style = {
    .indent_continues = true, .inline_comments = true, .skip_bom = true, .expected_assignment = "expected 'k = v'"};

static void test_systemd_style(void **state)
{
	char buf[] = "# c\n ; c\n\n  [Daemon] \r\n  Socket = /x # y\nnovalue\n\t[ A ]\n";
	struct ini_lexer lx;
	struct ini_line l;
	char *key, *value, *error = NULL;

	ini_lexer_init(&lx, &systemd_style, buf, "k.conf");
	assert_int_equal(ini_lexer_next(&lx, &l), 1);
	assert_int_equal(l.kind, INI_SECTION);
	assert_string_equal(l.section, "Daemon");
	assert_int_equal(lx.line, 4);
	assert_int_equal(ini_lexer_next(&lx, &l), 1);
	assert_int_equal(l.kind, INI_ASSIGNMENT); /* indentation means nothing here */
	assert_int_equal(ini_lexer_split(&lx, &l, &key, &value), 0);
	assert_string_equal(key, "Socket");
	assert_string_equal(value, "/x # y"); /* no inline comments */
	assert_int_equal(ini_lexer_next(&lx, &l), 1);
	assert_int_equal(ini_lexer_split(&lx, &l, &key, &value), -EINVAL);
	ini_lexer_take_error(&lx, &error);
	assert_string_equal(error, "k.conf:6: expected Key=Value");
	free(error);
	assert_int_equal(ini_lexer_next(&lx, &l), 1);
	assert_string_equal(l.section, " A "); /* the inner text as written */
	assert_int_equal(ini_lexer_next(&lx, &l), 0);
}

static void test_aws_style(void **state)
{
	char buf[] = "\xef\xbb\xbf[profile a] # note\nk = v ;c\nk2=v;c\ns3 =\n  endpoint_url = x # y\n  # z\n";
	struct ini_lexer lx;
	struct ini_line l;
	char *key, *value;

	ini_lexer_init(&lx, &aws_style, buf, "config");
	assert_int_equal(ini_lexer_next(&lx, &l), 1);
	assert_int_equal(l.kind, INI_SECTION);
	assert_string_equal(l.section, "profile a");
	assert_int_equal(ini_lexer_next(&lx, &l), 1);
	assert_int_equal(ini_lexer_split(&lx, &l, &key, &value), 0);
	assert_string_equal(value, "v"); /* a comment after a blank */
	assert_int_equal(ini_lexer_next(&lx, &l), 1);
	assert_int_equal(ini_lexer_split(&lx, &l, &key, &value), 0);
	assert_string_equal(value, "v;c"); /* not without one */
	assert_int_equal(ini_lexer_next(&lx, &l), 1);
	assert_int_equal(ini_lexer_split(&lx, &l, &key, &value), 0);
	assert_string_equal(key, "s3");
	assert_string_equal(value, "");
	assert_int_equal(ini_lexer_next(&lx, &l), 1);
	assert_int_equal(l.kind, INI_CONTINUATION);
	assert_string_equal(l.text, "  endpoint_url = x # y"); /* raw: the parser decides */
	assert_int_equal(ini_lexer_next(&lx, &l), 1);
	assert_int_equal(l.kind, INI_CONTINUATION); /* an indented '#' continues too */
	assert_int_equal(lx.line, 6);
	assert_int_equal(ini_lexer_next(&lx, &l), 0);
}

static void test_bad_headers(void **state)
{
	static const char *const bad[] = {"[", "[Daemon", "[Daemon] x", "[Daemon]]x"};
	char buf[64], *error = NULL;
	struct ini_lexer lx;
	struct ini_line l;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "\n%s\n", bad[i]);
		ini_lexer_init(&lx, &systemd_style, buf, "f");
		assert_int_equal(ini_lexer_next(&lx, &l), -EINVAL);
		ini_lexer_take_error(&lx, &error);
		assert_string_equal(error, "f:2: section header does not end with ']'");
		free(error);
		error = NULL;
	}
	/* With inline comments the comment goes first. */
	snprintf(buf, sizeof(buf), "[a] ; x\n[b ; ]\n");
	ini_lexer_init(&lx, &aws_style, buf, "f");
	assert_int_equal(ini_lexer_next(&lx, &l), 1);
	assert_string_equal(l.section, "a");
	assert_int_equal(ini_lexer_next(&lx, &l), -EINVAL);
	ini_lexer_take_error(&lx, NULL); /* freed */
	assert_null(lx.error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_systemd_style),
	    cmocka_unit_test(test_aws_style),
	    cmocka_unit_test(test_bad_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
