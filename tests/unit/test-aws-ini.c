/* SPDX-License-Identifier: MIT */
/*
 * The AWS shared-file parser.  Most cases are ported from the cross-SDK
 * profile parser suite (smithy-rs aws-config test-data/
 * profile-parser-tests.json): each gives a config and/or credentials file
 * and the merged profiles expected, or that parsing fails.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "aws-ini.h"
#include "textfile.h"

#include "aws-test-util.h"

#define DUMP_MAX 4096

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends "key=value" lines of one section, sorted, values with "\n" shown
 * as "\\n"; sub-properties as "key.sub=value". */
static void dump_section(const struct aws_ini *ini, enum aws_ini_section_kind kind, const char *name, char *out)
{
	size_t n = aws_ini_count_properties(ini, kind, name);
	char **lines = calloc(n * 8 + 1, sizeof(char *));
	size_t k = 0;

	assert_non_null(lines);
	for (size_t i = 0; i < n; i++) {
		const struct aws_ini_property *p = aws_ini_property_at(ini, kind, name, i);
		char value[1024] = "";

		for (const char *c = p->value; *c; c++)
			strncat(value, *c == '\n' ? "\\n" : (char[]){*c, 0}, sizeof(value) - strlen(value) - 1);
		assert_true(asprintf(&lines[k++], "%s=%s\n", p->name, value) > 0);
		for (size_t j = 0; j < p->n_subs && k < n * 8; j++)
			assert_true(asprintf(&lines[k++], "%s.%s=%s\n", p->name, p->subs[j].name, p->subs[j].value) >
				    0);
	}
	qsort(lines, k, sizeof(char *), cmp_str);
	for (size_t i = 0; i < k; i++) {
		strncat(out, lines[i], DUMP_MAX - strlen(out) - 1);
		free(lines[i]);
	}
	free(lines);
}

/* A canonical text of everything in ini: "[kind name]" headers sorted by
 * name within kind, then the section's lines. */
static void dump(const struct aws_ini *ini, char *out)
{
	out[0] = '\0';
	for (int kind = 0; kind < _AWS_INI_SECTION_KIND_MAX; kind++) {
		size_t n = aws_ini_count_sections(ini, kind);
		const char **names = calloc(n + 1, sizeof(char *));

		assert_non_null(names);
		for (size_t i = 0; i < n; i++)
			names[i] = aws_ini_section_name(ini, kind, i);
		qsort(names, n, sizeof(char *), cmp_str);
		for (size_t i = 0; i < n; i++) {
			char head[300];

			snprintf(head, sizeof(head), "[%s %s]\n", aws_ini_section_kind_to_string(kind), names[i]);
			strncat(out, head, DUMP_MAX - strlen(out) - 1);
			dump_section(ini, kind, names[i], out);
		}
		free(names);
	}
}

struct parse_case {
	const char *name;
	const char *config;      /* NULL: no config file */
	const char *credentials; /* NULL: no credentials file */
	const char *expect;      /* dump() of the result, or NULL when an error is expected */
	const char *error;       /* with expect NULL: text the message must contain */
};

#define OK(name, config, credentials, expect)                                                                          \
	{                                                                                                              \
		name, config, credentials, expect, NULL                                                                \
	}
#define ERR(name, config, credentials, error)                                                                          \
	{                                                                                                              \
		name, config, credentials, NULL, error                                                                 \
	}

static const struct parse_case cases[] = {
    OK("Empty files have no profiles.", "", NULL, ""),
    OK("Empty profiles have no properties.", "[profile foo]", NULL, "[profile foo]\n"),
    OK("Profile names support alphanumeric characters and - / . % @ _ : +",
       "[profile some-thing:long/the_one%only.foo@bar+]\n[profile foo!bar]", NULL,
       "[profile some-thing:long/the_one%only.foo@bar+]\n"),
    ERR("Profile definitions must end with brackets.", "[profile foo", NULL, "t.conf:1: section header"),
    OK("Profile names should be trimmed.", "[profile \tfoo \t]", NULL, "[profile foo]\n"),
    OK("Tabs can separate profile names from profile prefix.", "[profile\tfoo]", NULL, "[profile foo]\n"),
    ERR("Properties must be defined in a profile.", "name = value", NULL, "t.conf:1: key outside"),
    OK("Profiles can contain properties.", "[profile foo]\nname = value", NULL, "[profile foo]\nname=value\n"),
    OK("Windows style line endings are supported.", "[profile foo]\r\nname = value", NULL,
       "[profile foo]\nname=value\n"),
    OK("Equals signs are supported in property values.", "[profile foo]\nname = val=ue", NULL,
       "[profile foo]\nname=val=ue\n"),
    OK("Unicode characters are supported in property values.", "[profile foo]\nname = \xf0\x9f\x98\x82", NULL,
       "[profile foo]\nname=\xf0\x9f\x98\x82\n"),
    OK("Profiles can contain multiple properties.", "[profile foo]\nname = value\nname2 = value2", NULL,
       "[profile foo]\nname2=value2\nname=value\n"),
    OK("Property keys and values are trimmed.", "[profile foo]\nname \t=  \tvalue \t", NULL,
       "[profile foo]\nname=value\n"),
    OK("Property values can be empty.", "[profile foo]\nname =", NULL, "[profile foo]\nname=\n"),
    ERR("Property key cannot be empty.", "[profile foo]\n= value", NULL, "t.conf:2: key without a name"),
    ERR("Property definitions must contain an equals sign.", "[profile foo]\nkey : value", NULL,
	"t.conf:2: expected 'key = value'"),
    OK("Multiple profiles can be empty.", "[profile foo]\n[profile bar]", NULL, "[profile bar]\n[profile foo]\n"),
    OK("Multiple profiles can have properties.", "[profile foo]\nname = value\n[profile bar]\nname2 = value2", NULL,
       "[profile bar]\nname2=value2\n[profile foo]\nname=value\n"),
    OK("Blank lines are ignored.", "\t \n[profile foo]\n\t\n \nname = value\n\t \n[profile bar]\n \t", NULL,
       "[profile bar]\n[profile foo]\nname=value\n"),
    OK("Pound sign comments are ignored.", "# Comment\n[profile foo] # Comment\nname = value # Comment with # sign",
       NULL, "[profile foo]\nname=value\n"),
    OK("Semicolon sign comments are ignored.", "; Comment\n[profile foo] ; Comment\nname = value ; Comment with ; sign",
       NULL, "[profile foo]\nname=value\n"),
    OK("All comment types can be used together.",
       "# Comment\n[profile foo] ; Comment\nname = value # Comment with ; sign", NULL, "[profile foo]\nname=value\n"),
    OK("Comments can be empty.", ";\n[profile foo];\nname = value ;\n", NULL, "[profile foo]\nname=value\n"),
    OK("Comments can be adjacent to profile names.",
       "[profile foo]; Adjacent semicolons\n[profile bar]# Adjacent pound signs", NULL,
       "[profile bar]\n[profile foo]\n"),
    OK("Comments adjacent to values are included in the value.",
       "[profile foo]\nname = value; Adjacent semicolons\nname2 = value# Adjacent pound signs", NULL,
       "[profile foo]\nname2=value# Adjacent pound signs\nname=value; Adjacent semicolons\n"),
    OK("Property values can be continued on the next line.", "[profile foo]\nname = value\n -continued", NULL,
       "[profile foo]\nname=value\\n-continued\n"),
    OK("Property values can be continued with multiple lines.",
       "[profile foo]\nname = value\n -continued\n -and-continued", NULL,
       "[profile foo]\nname=value\\n-continued\\n-and-continued\n"),
    OK("Continuations are trimmed.", "[profile foo]\nname = value\n \t -continued \t ", NULL,
       "[profile foo]\nname=value\\n-continued\n"),
    OK("Continuation values include pound comments.", "[profile foo]\nname = value\n -continued # Comment", NULL,
       "[profile foo]\nname=value\\n-continued # Comment\n"),
    OK("Continuation values include semicolon comments.", "[profile foo]\nname = value\n -continued ; Comment", NULL,
       "[profile foo]\nname=value\\n-continued ; Comment\n"),
    ERR("Continuations cannot be used outside of a profile.", " -continued", NULL,
	"t.conf:1: continuation line outside"),
    ERR("Continuations cannot be used outside of a property.", "[profile foo]\n -continued", NULL,
	"t.conf:2: continuation line without a key"),
    ERR("Continuations reset with profile definitions.", "[profile foo]\nname = value\n[profile foo]\n -continued",
	NULL, "t.conf:4: continuation line without a key"),
    OK("Duplicate profiles in the same file merge properties.",
       "[profile foo]\nname = value\n[profile foo]\nname2 = value2", NULL, "[profile foo]\nname2=value2\nname=value\n"),
    OK("Duplicate properties in a profile use the last one defined.", "[profile foo]\nname = value\nname = value2",
       NULL, "[profile foo]\nname=value2\n"),
    OK("Duplicate properties in duplicate profiles use the last one defined.",
       "[profile foo]\nname = value\n[profile foo]\nname = value2", NULL, "[profile foo]\nname=value2\n"),
    OK("Duplicate properties in duplicate profiles use the last one defined (case insensitive).",
       "[profile foo]\nName = value\n[profile foo]\nname = value2", NULL, "[profile foo]\nname=value2\n"),
    OK("Default profile with profile prefix overrides default profile without prefix when profile prefix is first.",
       "[profile default]\nname = value\n[default]\nname2 = value2", NULL, "[profile default]\nname=value\n"),
    OK("Default profile with profile prefix overrides default profile without prefix when profile prefix is last.",
       "[default]\nname2 = value2\n[profile default]\nname = value", NULL, "[profile default]\nname=value\n"),
    OK("Invalid profile names are ignored.", "[profile in valid]\nname = value", "[in valid 2]\nname2 = value2", ""),
    OK("Invalid property names are ignored.", "[profile foo]\nin valid = value", NULL, "[profile foo]\n"),
    OK("All valid profile name characters are supported.",
       "[profile ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_]", NULL,
       "[profile ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_]\n"),
    OK("All valid property name characters are supported.",
       "[profile foo]\nABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_ = value", NULL,
       "[profile foo]\nabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123456789-_=value\n"),
    OK("Properties can have sub-properties.", "[profile foo]\ns3 =\n name = value", NULL,
       "[profile foo]\ns3.name=value\ns3=\n"),
    ERR("Invalid sub-property definitions cause an error.", "[profile foo]\ns3 =\n invalid", NULL,
	"t.conf:3: expected 'name = value' for a sub-key"),
    OK("Sub-property definitions can have an empty value.", "[profile foo]\ns3 =\n name =", NULL,
       "[profile foo]\ns3.name=\ns3=\n"),
    ERR("Sub-property definitions cannot have an empty name.", "[profile foo]\ns3 =\n = value", NULL,
	"t.conf:3: sub-key without a name"),
    OK("Sub-property definitions can have an invalid name.", "[profile foo]\ns3 =\n in valid = value", NULL,
       "[profile foo]\ns3.in valid=value\ns3=\n"),
    OK("Sub-properties can have blank lines that are ignored",
       "[profile foo]\ns3 =\n name = value\n\t \n name2 = value2", NULL,
       "[profile foo]\ns3.name2=value2\ns3.name=value\ns3=\n"),
    OK("Profiles duplicated in multiple files are merged.", "[profile foo]\nname = value", "[foo]\nname2 = value2",
       "[profile foo]\nname2=value2\nname=value\n"),
    OK("Default profiles with mixed prefixes in the config file ignore the one without prefix when merging.",
       "[profile default]\nname = value\n[default]\nname2 = value2\n[profile default]\nname3 = value3", NULL,
       "[profile default]\nname3=value3\nname=value\n"),
    OK("Default profiles with mixed prefixes merge with credentials",
       "[profile default]\nname = value\n[default]\nname2 = value2\n[profile default]\nname3 = value3",
       "[default]\nsecret=foo", "[profile default]\nname3=value3\nname=value\nsecret=foo\n"),
    OK("Duplicate properties between files uses credentials property.", "[profile foo]\nname = value",
       "[foo]\nname = value2", "[profile foo]\nname=value2\n"),
    OK("Config profiles without prefix are ignored.", "[foo]\nname = value", NULL, ""),
    OK("Credentials profiles with prefix are ignored.", NULL, "[profile foo]\nname = value", ""),
    OK("sneaky profile name", "[profilefoo]\nname = value\n[profile bar]", NULL, "[profile bar]\n"),
    OK("profile name with extra whitespace", "[   profile foo    ]\nname = value\n[profile bar]", NULL,
       "[profile bar]\n[profile foo]\nname=value\n"),
    OK("profile name with extra whitespace in credentials", NULL, "[   foo    ]\nname = value\n[profile bar]",
       "[profile foo]\nname=value\n"),
    OK("properties from an invalid profile name are ignored",
       "[profile foo]\nname = value\n[profile in valid]\nx = 1\n[profile bar]\nname = value2", NULL,
       "[profile bar]\nname=value2\n[profile foo]\nname=value\n"),
    OK("sso-session with properties", "[sso-session foo]\nname = value\n[profile bar]", NULL,
       "[profile bar]\n[sso-session foo]\nname=value\n"),
    OK("sso-session without the space before the name is a profile", NULL, "[sso-sessionfoo]\nname = value\n[bar]",
       "[profile bar]\n[profile sso-sessionfoo]\nname=value\n"),
    /* Our own additions. */
    OK("A [default] alone is the default profile.", "[default]\nregion = eu-west-1", NULL,
       "[profile default]\nregion=eu-west-1\n"),
    OK("Services sections hold sub-properties.",
       "[profile p]\nservices = local\n[services local]\nkms =\n  endpoint_url = https://127.0.0.1:8443\nsts "
       "=\n\tendpoint_url = http://127.0.0.1:9000\n",
       NULL,
       "[profile p]\nservices=local\n[services "
       "local]\nkms.endpoint_url=https://127.0.0.1:8443\nkms=\nsts.endpoint_url=http://127.0.0.1:9000\nsts=\n"),
    OK("A later key replaces sub-properties too.", "[profile p]\ns3 =\n a = 1\ns3 = flat", NULL,
       "[profile p]\ns3=flat\n"),
    ERR("Sub-properties in an ignored section are still checked.", "[foo]\ns3 =\n bad", NULL,
	"t.conf:3: expected 'name = value'"),
    OK("A UTF-8 BOM is skipped.", "\xef\xbb\xbf[profile foo]\na = b", NULL, "[profile foo]\na=b\n"),
    ERR("Trailing text after a header is an error.", "[profile foo] bar", NULL, "t.conf:1: section header"),
};

static void run_case(const struct parse_case *c)
{
	struct aws_ini *ini = aws_ini_new();
	char *error = NULL, out[DUMP_MAX];
	int r = 0;

	assert_non_null(ini);
	if (c->config)
		r = aws_ini_parse_string(ini, AWS_INI_CONFIG, c->config, "t.conf", &error);
	if (r == 0 && c->credentials)
		r = aws_ini_parse_string(ini, AWS_INI_CREDENTIALS, c->credentials, "t.cred", &error);
	if (c->expect) {
		if (r != 0)
			print_error("case \"%s\": %s\n", c->name, error ? error : strerror(-r));
		assert_int_equal(r, 0);
		dump(ini, out);
		if (strcmp(out, c->expect) != 0)
			print_error("case \"%s\":\n--- got\n%s--- expected\n%s", c->name, out, c->expect);
		assert_string_equal(out, c->expect);
	} else {
		if (r == 0)
			print_error("case \"%s\" parsed but should fail\n", c->name);
		assert_int_equal(r, -EINVAL);
		test_assert_contains(error, c->error);
	}
	free(error);
	aws_ini_free(ini);
}

static void test_parser_suite(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* Loading credentials first and config second must not let the config win. */
static void test_credentials_win_in_any_order(void **state)
{
	struct aws_ini *ini = aws_ini_new();
	const struct aws_ini_property *p;

	assert_int_equal(aws_ini_parse_string(ini, AWS_INI_CREDENTIALS, "[foo]\nname = cred\n", "c", NULL), 0);
	assert_int_equal(
	    aws_ini_parse_string(ini, AWS_INI_CONFIG, "[profile foo]\nname = conf\nother = x\n", "k", NULL), 0);
	p = aws_ini_get_property(ini, AWS_INI_PROFILE, "foo", "NAME");
	assert_non_null(p);
	assert_string_equal(p->value, "cred");
	assert_int_equal(p->origin, AWS_INI_CREDENTIALS);
	assert_string_equal(p->file, "c");
	assert_int_equal(p->line, 2);
	assert_string_equal(aws_ini_get(ini, "foo", "other"), "x");
	aws_ini_free(ini);
}

/* A failed parse leaves what was loaded before untouched. */
static void test_error_leaves_ini_unchanged(void **state)
{
	struct aws_ini *ini = aws_ini_new();
	char *error = NULL;

	assert_int_equal(aws_ini_parse_string(ini, AWS_INI_CONFIG, "[profile a]\nk = 1\n", "one", NULL), 0);
	assert_int_equal(
	    aws_ini_parse_string(ini, AWS_INI_CONFIG, "[profile a]\nk = 2\n[profile b]\noops\n", "two", &error),
	    -EINVAL);
	assert_string_equal(error, "two:4: expected 'key = value'");
	assert_string_equal(aws_ini_get(ini, "a", "k"), "1");
	assert_false(aws_ini_has_section(ini, AWS_INI_PROFILE, "b"));
	free(error);
	aws_ini_free(ini);
}

/* Error messages point at the line but never quote a value (secrets). */
static void test_error_hides_values(void **state)
{
	struct aws_ini *ini = aws_ini_new();
	char *error = NULL;

	assert_int_equal(aws_ini_parse_string(ini, AWS_INI_CREDENTIALS, "[default]\naws_secret_access_key TOPSECRET\n",
					      "cred", &error),
			 -EINVAL);
	assert_null(strstr(error, "TOPSECRET"));
	test_assert_contains(error, "cred:2:");
	free(error);
	aws_ini_free(ini);
}

static void test_sub_property_lookup(void **state)
{
	struct aws_ini *ini = aws_ini_new();
	const struct aws_ini_property *p;

	assert_int_equal(
	    aws_ini_parse_string(ini, AWS_INI_CONFIG,
				 "[services s]\nKMS =\n  Endpoint_URL = https://a\n  endpoint_url = https://b\n", "c",
				 NULL),
	    0);
	p = aws_ini_get_property(ini, AWS_INI_SERVICES, "s", "kms");
	assert_non_null(p);
	assert_int_equal(p->n_subs, 1);
	assert_string_equal(aws_ini_property_sub(p, "endpoint_url"), "https://b");
	assert_null(aws_ini_property_sub(p, "region"));
	assert_null(aws_ini_property_sub(NULL, "x"));
	assert_null(aws_ini_get_property(ini, AWS_INI_PROFILE, "s", "kms"));
	aws_ini_free(ini);
}

static void test_load_file(void **state)
{
	struct aws_ini *ini = aws_ini_new();
	char *error = NULL;
	const char *path;

	test_dir_create();
	path = test_write("config", "[profile x]\r\nregion = us-west-2\r\n");
	assert_int_equal(aws_ini_load_file(ini, AWS_INI_CONFIG, path, &error), 0);
	assert_string_equal(aws_ini_get(ini, "x", "region"), "us-west-2");
	assert_string_equal(aws_ini_get_property(ini, AWS_INI_PROFILE, "x", "region")->file, path);

	assert_int_equal(aws_ini_load_file(ini, AWS_INI_CONFIG, test_path("missing"), &error), -ENOENT);
	assert_null(error);
	/* /dev/null is an empty file (tests point AWS_CONFIG_FILE there). */
	assert_int_equal(aws_ini_load_file(ini, AWS_INI_CONFIG, "/dev/null", &error), 0);
	/* A directory is not. */
	assert_int_equal(aws_ini_load_file(ini, AWS_INI_CONFIG, test_dir, &error), -EINVAL);
	test_assert_contains(error, test_dir);
	free(error);
	error = NULL;

	path = test_write("bad", "[profile y]\nregion\n");
	assert_int_equal(aws_ini_load_file(ini, AWS_INI_CONFIG, path, &error), -EINVAL);
	test_assert_contains(error, path);
	test_assert_contains(error, ":2:");
	free(error);
	test_dir_remove();
	aws_ini_free(ini);
}

/* A FIFO must not block the reader; a huge file is refused. */
static void test_bounded_reading(void **state)
{
	struct aws_ini *ini = aws_ini_new();
	char *error = NULL, *big;
	const char *path;
	FILE *f;

	test_dir_create();
	path = test_path("fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(aws_ini_load_file(ini, AWS_INI_CONFIG, path, &error), -EINVAL);
	free(error);
	error = NULL;

	path = test_path("big");
	f = fopen(path, "w");
	assert_non_null(f);
	big = malloc(AWS_INI_MAX_FILE_SIZE + 2);
	memset(big, '#', AWS_INI_MAX_FILE_SIZE + 1);
	big[AWS_INI_MAX_FILE_SIZE + 1] = '\0';
	fputs(big, f);
	fclose(f);
	free(big);
	assert_int_equal(aws_ini_load_file(ini, AWS_INI_CONFIG, path, &error), -EFBIG);
	test_assert_contains(error, "too large");
	free(error);
	error = NULL;

	path = test_write("nul", "[profile a]\n");
	f = fopen(path, "a");
	fputc('\0', f);
	fclose(f);
	assert_int_equal(aws_ini_load_file(ini, AWS_INI_CONFIG, path, &error), -EINVAL);
	free(error);
	test_dir_remove();
	aws_ini_free(ini);
}

/* Absurd input hits a limit instead of eating time and memory. */
static void test_limits(void **state)
{
	struct aws_ini *ini = aws_ini_new();
	size_t n = 2000, len = 0;
	char *text = malloc(n * 16 + 32), *error = NULL;

	len += (size_t)sprintf(text, "[profile p]\n");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "k%zu = v\n", i);
	assert_int_equal(aws_ini_parse_string(ini, AWS_INI_CONFIG, text, "big", &error), -EINVAL);
	test_assert_contains(error, "too many");
	free(error);
	error = NULL;

	/* A value grown by continuation lines is capped too. */
	len = (size_t)sprintf(text, "[profile p]\nk = v\n");
	text = realloc(text, 70000 * 4 + 64);
	for (size_t i = 0; i < 70000; i++)
		len += (size_t)sprintf(text + len, " x\n");
	assert_int_equal(aws_ini_parse_string(ini, AWS_INI_CONFIG, text, "long", &error), -EINVAL);
	test_assert_contains(error, "value longer");
	free(error);
	free(text);
	aws_ini_free(ini);
}

static void test_name_valid(void **state)
{
	assert_true(aws_ini_name_valid("a-b_c.d/e%f@g:h+i"));
	assert_false(aws_ini_name_valid(""));
	assert_false(aws_ini_name_valid("in valid"));
	assert_false(aws_ini_name_valid("foo!bar"));
	assert_false(aws_ini_name_valid("x\n"));
}

static void test_textfile_lines(void **state)
{
	char buf[] = "a\r\nb\n\nc", *cursor = buf;

	assert_string_equal(textfile_next_line(&cursor), "a");
	assert_string_equal(textfile_next_line(&cursor), "b");
	assert_string_equal(textfile_next_line(&cursor), "");
	assert_string_equal(textfile_next_line(&cursor), "c");
	assert_null(textfile_next_line(&cursor));
	assert_null(aws_ini_free(NULL));
	assert_null(textfile_free(NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parser_suite),
	    cmocka_unit_test(test_credentials_win_in_any_order),
	    cmocka_unit_test(test_error_leaves_ini_unchanged),
	    cmocka_unit_test(test_error_hides_values),
	    cmocka_unit_test(test_sub_property_lookup),
	    cmocka_unit_test(test_load_file),
	    cmocka_unit_test(test_bounded_reading),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_name_valid),
	    cmocka_unit_test(test_textfile_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
