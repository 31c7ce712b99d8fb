/* SPDX-License-Identifier: MIT */
/* The [Policy] rules: parsing, matching, default deny, root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keyid.h"
#include "policy.h"

#define ID1 "1234abcd-12ab-34cd-56ef-1234567890ab"
#define ID2 "2234abcd-12ab-34cd-56ef-1234567890ab"
#define ARN1 "arn:aws:kms:us-east-1:111122223333:key/" ID1
#define ARN_OTHER_ACCOUNT "arn:aws:kms:us-east-1:444455556666:key/" ID1

static struct policy *load(bool allow_root, const char *const *rules)
{
	struct policy *p = policy_new(allow_root);

	assert_non_null(p);
	for (size_t i = 0; rules[i]; i++) {
		char *error = NULL, *warning = NULL;
		int r = policy_add_rule(p, rules[i], "test.conf:1", &error, &warning);

		if (r < 0)
			fail_msg("rule '%s' refused: %s", rules[i], error);
		free(warning);
	}
	return p;
}

static bool allowed(const struct policy *p, uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, unsigned ops,
		    const char *key)
{
	struct keyid k;
	struct policy_subject s = { uid, gid, groups, n_groups };
	struct policy_object o = { &k, "us-east-1", "111122223333" };

	assert_int_equal(keyid_parse(key, &k, NULL), 0);
	return policy_check(p, &s, ops, &o, NULL);
}

static void test_default_deny_and_root(void **state)
{
	const char *const none[] = { NULL };
	struct policy *p = load(true, none);

	assert_false(allowed(p, 1000, 1000, NULL, 0, POLICY_OP_CANCEL, ID1));
	assert_true(allowed(p, 0, 0, NULL, 0, POLICY_OP_CANCEL, ID1));
	policy_free(p);

	p = load(false, none);
	assert_false(allowed(p, 0, 0, NULL, 0, POLICY_OP_CANCEL, ID1));
	policy_free(p);
}

static void test_users_groups_ops(void **state)
{
	const char *const rules[] = {
		"user:1000 cancel,describe " ID1,
		"group:2000 * arn:aws:kms:*:111122223333:key/*",
		NULL,
	};
	struct policy *p = load(false, rules);
	gid_t admins[] = { 100, 2000 };

	assert_true(allowed(p, 1000, 1000, NULL, 0, POLICY_OP_CANCEL, ID1));
	assert_true(allowed(p, 1000, 1000, NULL, 0, POLICY_OP_CANCEL, ARN1)); /* same key as an ARN */
	assert_true(allowed(p, 1000, 1000, NULL, 0, POLICY_OP_DESCRIBE, ID1));
	assert_false(allowed(p, 1000, 1000, NULL, 0, POLICY_OP_ENABLE, ID1));
	assert_false(allowed(p, 1000, 1000, NULL, 0, POLICY_OP_CANCEL | POLICY_OP_ENABLE, ID1));
	assert_false(allowed(p, 1000, 1000, NULL, 0, POLICY_OP_CANCEL, ID2));
	assert_false(allowed(p, 1001, 1001, NULL, 0, POLICY_OP_CANCEL, ID1));

	/* Group by supplementary membership; the glob covers bare IDs via the
	 * ARN they resolve to, but not another account's ARN. */
	assert_true(allowed(p, 1002, 1002, admins, 2, POLICY_OP_CANCEL | POLICY_OP_ENABLE, ID2));
	assert_true(allowed(p, 1002, 2000, NULL, 0, POLICY_OP_CANCEL, ARN1));
	assert_false(allowed(p, 1002, 1002, admins, 2, POLICY_OP_CANCEL, ARN_OTHER_ACCOUNT));
	policy_free(p);
}

static void test_account_region_any(void **state)
{
	const char *const rules[] = {
		"user:1 cancel account:111122223333",
		"user:2 cancel region:eu-west-1",
		"* describe *",
		NULL,
	};
	struct policy *p = load(false, rules);

	assert_true(allowed(p, 1, 1, NULL, 0, POLICY_OP_CANCEL, ID1));
	assert_false(allowed(p, 1, 1, NULL, 0, POLICY_OP_CANCEL, ARN_OTHER_ACCOUNT));
	assert_false(allowed(p, 2, 2, NULL, 0, POLICY_OP_CANCEL, ID1));
	assert_true(allowed(p, 2, 2, NULL, 0, POLICY_OP_CANCEL, "arn:aws:kms:eu-west-1:111122223333:key/" ID1));
	assert_true(allowed(p, 12345, 12345, NULL, 0, POLICY_OP_DESCRIBE, ARN_OTHER_ACCOUNT));
	assert_false(allowed(p, 12345, 12345, NULL, 0, POLICY_OP_CANCEL, ID1));
	policy_free(p);
}

static void expect_refused(const char *rule, const char *needle)
{
	struct policy *p = policy_new(true);
	char *error = NULL, *warning = NULL;

	assert_int_equal(policy_add_rule(p, rule, "x.conf:7", &error, &warning), -EINVAL);
	assert_non_null(error);
	if (!strstr(error, needle))
		fail_msg("error '%s' does not mention '%s'", error, needle);
	assert_non_null(strstr(error, "x.conf:7"));
	assert_int_equal(policy_n_rules(p), 0);
	free(error);
	policy_free(p);
}

static void test_bad_rules(void **state)
{
	expect_refused("", "expected");
	expect_refused("user:1000", "expected");
	expect_refused("user:1000 cancel", "no keys");
	expect_refused("bob cancel *", "user:NAME");
	expect_refused("user: cancel *", "names no user");
	expect_refused("user:1000 destroy *", "unknown operation 'destroy'");
	expect_refused("user:1000 cancel account:123", "12 digits");
	expect_refused("user:1000 cancel alias/foo", "not a key ID");
}

static void test_unknown_name_fails_closed(void **state)
{
	struct policy *p = policy_new(false);
	char *error = NULL, *warning = NULL;
	struct keyid k;
	struct policy_subject s = { 1000, 1000, NULL, 0 };
	struct policy_object o = { &k, "us-east-1", NULL };

	assert_int_equal(policy_add_rule(p, "user:no-such-user-kmscancel * *", "x:1", &error, &warning), 0);
	assert_non_null(warning);
	assert_non_null(strstr(warning, "matches nobody"));
	free(warning);
	assert_int_equal(keyid_parse(ID1, &k, NULL), 0);
	assert_false(policy_check(p, &s, POLICY_OP_CANCEL, &o, NULL));
	policy_free(p);
}

static void test_describe_and_groups(void **state)
{
	const char *const rules[] = { "user:1000 cancel,describe " ID1, NULL };
	struct policy *p = load(false, rules);
	char *text = NULL;
	gid_t *groups = NULL;
	size_t n = 0;

	assert_int_equal(policy_describe_rule(p, 0, &text), 0);
	assert_non_null(strstr(text, "uid 1000 may cancel,describe on " ID1));
	free(text);
	assert_int_equal(policy_describe_rule(p, 1, &text), -EINVAL);
	policy_free(p);

	assert_int_equal(policy_lookup_groups(0, 0, &groups, &n), 0);
	assert_true(n >= 1);
	assert_int_equal(groups[0], 0);
	free(groups);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_deny_and_root), cmocka_unit_test(test_users_groups_ops),
		cmocka_unit_test(test_account_region_any),    cmocka_unit_test(test_bad_rules),
		cmocka_unit_test(test_unknown_name_fails_closed), cmocka_unit_test(test_describe_and_groups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
