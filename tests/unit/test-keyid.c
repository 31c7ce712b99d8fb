/* SPDX-License-Identifier: MIT */
/* Unit tests for common/keyid.c: what CancelKeyDeletion accepts as KeyId. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keyid.h"

#define ID  "1234abcd-12ab-34cd-56ef-1234567890ab"
#define MRK "mrk-1234abcd12ab34cd56ef1234567890ab"

static void test_bare_ids(void **state)
{
	struct keyid k;

	assert_int_equal(keyid_parse(ID, &k, NULL), 0);
	assert_int_equal(k.kind, KEYID_KIND_ID);
	assert_false(k.multi_region);
	assert_string_equal(k.id, ID);
	assert_string_equal(k.partition, "");
	assert_string_equal(k.region, "");
	assert_string_equal(k.account, "");

	assert_int_equal(keyid_parse(MRK, &k, NULL), 0);
	assert_int_equal(k.kind, KEYID_KIND_MRK);
	assert_true(k.multi_region);
	assert_string_equal(k.id, MRK);

	/* Upper-case hex is accepted and folded. */
	assert_int_equal(keyid_parse("1234ABCD-12AB-34CD-56EF-1234567890AB", &k, NULL), 0);
	assert_string_equal(k.id, ID);
	assert_int_equal(keyid_parse("mrk-1234ABCD12ab34cd56ef1234567890AB", &k, NULL), 0);
	assert_string_equal(k.id, MRK);
	assert_string_equal(keyid_kind_to_string(KEYID_KIND_MRK), "mrk");
}

static void test_arns_all_partitions(void **state)
{
	static const char *const parts[] = {"aws",       "aws-cn",    "aws-us-gov", "aws-iso",
					    "aws-iso-b", "aws-iso-e", "aws-iso-f",  "aws-eusc"};

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		char arn[256];
		struct keyid k;

		snprintf(arn, sizeof(arn), "arn:%s:kms:us-east-2:111122223333:key/" ID, parts[i]);
		assert_int_equal(keyid_parse(arn, &k, NULL), 0);
		assert_int_equal(k.kind, KEYID_KIND_ARN);
		assert_string_equal(k.partition, parts[i]);
		assert_string_equal(k.region, "us-east-2");
		assert_string_equal(k.account, "111122223333");
		assert_string_equal(k.id, ID);
		assert_false(k.multi_region);
		assert_true(keyid_partition_is_known(parts[i]));
	}
}

static void test_arn_variants(void **state)
{
	struct keyid k;

	assert_int_equal(keyid_parse("arn:aws:kms:eu-west-1:000000000000:key/" MRK, &k, NULL), 0);
	assert_true(k.multi_region);
	assert_string_equal(k.id, MRK);
	assert_int_equal(keyid_parse("arn:aws-cn:kms:cn-north-1:111122223333:key/" ID, &k, NULL), 0);
	assert_int_equal(keyid_parse("arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/" ID, &k, NULL), 0);
	assert_int_equal(keyid_parse("arn:aws-iso-b:kms:us-isob-east-1:111122223333:key/" ID, &k, NULL), 0);
	assert_int_equal(keyid_parse("arn:aws-eusc:kms:eusc-de-east-1:111122223333:key/" ID, &k, NULL), 0);
	assert_string_equal(k.region, "eusc-de-east-1");
	assert_int_equal(
	    keyid_parse("arn:aws:kms:us-east-1:111122223333:key/1234ABCD-12ab-34cd-56ef-1234567890ab", &k, NULL), 0);
	assert_string_equal(k.id, ID);
}

/* Expect s to be refused, with a reason containing want (when not NULL). */
static void expect_invalid(const char *s, const char *want)
{
	struct keyid k = {.id = "untouched"};
	const char *reason = NULL;

	assert_int_equal(keyid_parse(s, &k, &reason), -EINVAL);
	assert_non_null(reason);
	assert_string_equal(k.id, "untouched");
	if (want && !strstr(reason, want))
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", s, reason, want);
	assert_false(keyid_is_valid(s));
}

static void test_alias_parse(void **state)
{
	struct keyid_alias a;
	const char *reason = NULL;

	(void)state;
	assert_int_equal(keyid_alias_parse("alias/prod-DB_1/x", &a, NULL), 0);
	assert_false(a.arn);
	assert_string_equal(a.name, "alias/prod-DB_1/x"); /* case kept */
	assert_int_equal(keyid_alias_parse("arn:aws:kms:us-east-2:111122223333:alias/my-key", &a, NULL), 0);
	assert_true(a.arn);
	assert_string_equal(a.partition, "aws");
	assert_string_equal(a.region, "us-east-2");
	assert_string_equal(a.account, "111122223333");
	assert_string_equal(a.name, "alias/my-key");
	assert_int_equal(keyid_alias_parse("alias/", &a, &reason), -EINVAL);
	assert_non_null(reason);
	assert_int_equal(keyid_alias_parse("alias/a b", &a, NULL), -EINVAL);
	assert_int_equal(keyid_alias_parse("alias/a.b", &a, NULL), -EINVAL);
	assert_int_equal(keyid_alias_parse("arn:aws:kms:us-east-2:1111:alias/x", &a, NULL), -EINVAL);
	assert_int_equal(keyid_alias_parse("arn:aws:iam:us-east-2:111122223333:alias/x", &a, NULL), -EINVAL);
	assert_int_equal(keyid_alias_parse("arn:aws:kms:us-east-2:111122223333:key/x", &a, NULL), -EINVAL);
	assert_int_equal(keyid_alias_parse(ID, &a, NULL), -EINVAL);
	assert_int_equal(keyid_alias_parse_n("alias/a\0b", 9, &a, NULL), -EINVAL);
}

/* keyid_parse() says an alias is one; it never tells the caller to avoid
 * aliases, which the daemon and the CLI accept. */
#define IS_ALIAS "an alias (alias/NAME or an alias ARN), not a key ID"

static void test_aliases(void **state)
{
	expect_invalid("alias/my-key", IS_ALIAS);
	expect_invalid("alias/aws/ebs", IS_ALIAS);
	expect_invalid("arn:aws:kms:us-east-2:111122223333:alias/my-key", IS_ALIAS);
	expect_invalid("arn:aws-cn:kms:cn-north-1:111122223333:alias/x", IS_ALIAS);
	/* An alias ARN without a name is told what is missing. */
	expect_invalid("arn:aws:kms:us-east-2:111122223333:alias", "ends in alias/NAME");
}

static void test_bad_ids(void **state)
{
	expect_invalid("", "empty");
	expect_invalid("1234abcd-12ab-34cd-56ef-1234567890a", NULL);   /* 11 in the last group */
	expect_invalid("1234abcd-12ab-34cd-56ef-1234567890abc", NULL); /* 13 */
	expect_invalid("1234abcg-12ab-34cd-56ef-1234567890ab", NULL);  /* not hex */
	expect_invalid("1234abcd12ab34cd56ef1234567890ab", NULL);      /* no dashes */
	expect_invalid("1234abcd-12ab-34cd-56ef_1234567890ab", NULL);
	expect_invalid("mrk-1234abcd12ab34cd56ef1234567890a", "multi-Region");
	expect_invalid("mrk-1234abcd12ab34cd56ef1234567890abc", "multi-Region");
	expect_invalid("mrk-1234abcd12ab34cd56ef1234567890ax", "multi-Region");
	expect_invalid("MRK-1234abcd12ab34cd56ef1234567890ab", NULL);
	expect_invalid("mrk-1234abcd-12ab-34cd-56ef-1234567890ab", "multi-Region");
	expect_invalid(" " ID, "whitespace");
	expect_invalid(ID " ", "whitespace");
	expect_invalid(ID "\n", "whitespace");
	expect_invalid("1234abcd-12ab-34cd-56ef-12345678\t0ab", "whitespace");
	expect_invalid("1234abcd-12ab-34cd-56ef-1234567890\xc3\xa9", "non-ASCII");
	expect_invalid("my-key", NULL);
}

static void test_bad_arns(void **state)
{
	expect_invalid("arn:aws:kms:us-east-2:111122223333", "malformed ARN");
	expect_invalid("arn:aws:kms:us-east-2:key/" ID, "malformed ARN");
	expect_invalid("arn:", "malformed ARN");
	expect_invalid("arn:aws:kms:us-east-2::key/" ID, "no account");
	expect_invalid("arn:aws:kms:us-east-2:11112222333:key/" ID, "12 digits");
	expect_invalid("arn:aws:kms:us-east-2:1111222233334:key/" ID, "12 digits");
	expect_invalid("arn:aws:kms:us-east-2:11112222333a:key/" ID, "12 digits");
	expect_invalid("arn:aws:kms::111122223333:key/" ID, "no region");
	expect_invalid("arn:aws:kms:US-EAST-2:111122223333:key/" ID, "region");
	expect_invalid("arn:aws:kms:us_east_2:111122223333:key/" ID, "region");
	expect_invalid("arn:aws:kms:-us-east-2:111122223333:key/" ID, "region");
	expect_invalid("arn:aws:kms:us-east-2-:111122223333:key/" ID, "region");
	expect_invalid("arn:aws:kms:abcdefghijabcdefghijabcdefghijabc:111122223333:key/" ID, "region");
	expect_invalid("arn:aws:s3:us-east-2:111122223333:key/" ID, "not a KMS ARN");
	expect_invalid("arn:aws:KMS:us-east-2:111122223333:key/" ID, "not a KMS ARN");
	expect_invalid("arn:aws:kms2:us-east-2:111122223333:key/" ID, "not a KMS ARN");
	expect_invalid("arn:aws-moon:kms:us-east-2:111122223333:key/" ID, "partition");
	expect_invalid("arn:AWS:kms:us-east-2:111122223333:key/" ID, "partition");
	expect_invalid("arn::kms:us-east-2:111122223333:key/" ID, "partition");
	expect_invalid("arn:aws-iso-bb-longer-than-ten:kms:us-east-2:111122223333:key/" ID, "partition");
	expect_invalid("arn:aws:kms:us-east-2:111122223333:key/", "invalid key ID");
	expect_invalid("arn:aws:kms:us-east-2:111122223333:key/not-a-key", "invalid key ID");
	expect_invalid("arn:aws:kms:us-east-2:111122223333:key/" ID "/x", "invalid key ID");
	expect_invalid("arn:aws:kms:us-east-2:111122223333:key:" ID, "key/KEY-ID");
	expect_invalid("arn:aws:kms:us-east-2:111122223333:" ID, "key/KEY-ID");
	expect_invalid("arn:aws:kms:us-east-2:111122223333:grant/" ID, "key/KEY-ID");
	expect_invalid("ARN:aws:kms:us-east-2:111122223333:key/" ID, NULL);
}

static void test_lengths_and_nul(void **state)
{
	char *s = malloc(KEYID_MAX + 2);
	struct keyid k;
	const char *reason = NULL;
	static const char with_nul[] = ID "\0junk";
	static const char nul_inside[] = "1234abcd-12ab\0"
					 "34cd-56ef-1234567890ab";

	memset(s, 'a', KEYID_MAX + 1);
	s[KEYID_MAX + 1] = '\0';
	expect_invalid(s, "longer than 2048");
	s[KEYID_MAX] = '\0'; /* exactly 2048: not too long, just wrong */
	assert_int_equal(keyid_parse(s, &k, &reason), -EINVAL);
	assert_null(strstr(reason, "longer"));
	free(s);

	assert_int_equal(keyid_parse_n(with_nul, sizeof(with_nul) - 1, &k, &reason), -EINVAL);
	assert_non_null(strstr(reason, "NUL"));
	assert_int_equal(keyid_parse_n(nul_inside, sizeof(nul_inside) - 1, &k, &reason), -EINVAL);
	assert_int_equal(keyid_parse_n(with_nul, strlen(ID), &k, &reason), 0);
	assert_int_equal(keyid_parse(NULL, &k, &reason), -EINVAL);
	assert_int_equal(keyid_parse_n(ID, 0, &k, &reason), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bare_ids),        cmocka_unit_test(test_arns_all_partitions),
	    cmocka_unit_test(test_arn_variants),    cmocka_unit_test(test_aliases),
	    cmocka_unit_test(test_bad_ids),         cmocka_unit_test(test_bad_arns),
	    cmocka_unit_test(test_lengths_and_nul), cmocka_unit_test(test_alias_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
