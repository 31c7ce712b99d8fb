/* SPDX-License-Identifier: MIT */
/* The [Policy] rules: parsing, matching, default deny, root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
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
		int r = policy_add_rule(p, false, rules[i], "test.conf:1", &error, &warning);

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

	assert_int_equal(policy_add_rule(p, false, rule, "x.conf:7", &error, &warning), -EINVAL);
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

	assert_int_equal(policy_add_rule(p, false, "user:no-such-user-kmscancel * *", "x:1", &error, &warning), 0);
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

/* Rules as "A:..." (Allow) or "D:..." (Deny), in order. */
static struct policy *load_mixed(const char *const *rules)
{
	struct policy *p = policy_new(false);
	char origin[32];

	assert_non_null(p);
	for (size_t i = 0; rules[i]; i++) {
		char *error = NULL, *warning = NULL;

		snprintf(origin, sizeof(origin), "t.conf:%zu", i + 1);
		if (policy_add_rule(p, rules[i][0] == 'D', rules[i] + 2, origin, &error, &warning) < 0)
			fail_msg("rule '%s' refused: %s", rules[i], error);
		free(warning);
	}
	return p;
}

static const char *decided_by(const struct policy *p, uid_t uid, const gid_t *groups, size_t n, unsigned ops,
			      const char *key, bool *ret_allowed)
{
	struct keyid k;
	struct policy_subject s = { uid, uid, groups, n };
	struct policy_object o = { &k, "us-east-1", "111122223333" };
	const char *rule = NULL;

	assert_int_equal(keyid_parse(key, &k, NULL), 0);
	*ret_allowed = policy_check(p, &s, ops, &o, &rule);
	assert_non_null(rule);
	return rule;
}

/* First match wins, per operation, in file order; a Deny before an Allow
 * carves out an exception, after it changes nothing. */
static void test_first_match_wins(void **state)
{
	const char *const rules[] = {
		"D:group:2000 cancel " ID2,
		"A:group:2000 * account:111122223333",
		"D:user:1000 * account:111122223333",
		"A:user:1000 enable " ID1,
		NULL,
	};
	struct policy *p = load_mixed(rules);
	gid_t ops_group[] = { 2000 };
	bool ok;

	/* Group members: everything in the account but cancelling KEY2. */
	assert_string_equal(decided_by(p, 1001, ops_group, 1, POLICY_OP_CANCEL, ID1, &ok), "t.conf:2");
	assert_true(ok);
	assert_string_equal(decided_by(p, 1001, ops_group, 1, POLICY_OP_CANCEL, ID2, &ok), "t.conf:1");
	assert_false(ok);
	assert_string_equal(decided_by(p, 1001, ops_group, 1, POLICY_OP_DESCRIBE, ID2, &ok), "t.conf:2");
	assert_true(ok);
	/* cancel+enable needs both: the Deny of cancel decides. */
	assert_string_equal(decided_by(p, 1001, ops_group, 1, POLICY_OP_CANCEL | POLICY_OP_ENABLE, ID2, &ok),
			    "t.conf:1");
	assert_false(ok);
	/* A member who is also user 1000: the group's Allow comes first. */
	assert_string_equal(decided_by(p, 1000, ops_group, 1, POLICY_OP_CANCEL, ID1, &ok), "t.conf:2");
	assert_true(ok);
	/* User 1000 alone: the Deny on line 3 comes before the Allow on 4. */
	assert_string_equal(decided_by(p, 1000, NULL, 0, POLICY_OP_ENABLE, ID1, &ok), "t.conf:3");
	assert_false(ok);
	/* Nobody else: no rule, default deny. */
	assert_string_equal(decided_by(p, 1002, NULL, 0, POLICY_OP_DESCRIBE, ID1, &ok), "default");
	assert_false(ok);
	policy_free(p);
}

static void test_deny_described(void **state)
{
	const char *const rules[] = { "D:user:7 * region:eu-west-1", NULL };
	struct policy *p = load_mixed(rules);
	char *text = NULL;

	assert_int_equal(policy_describe_rule(p, 0, &text), 0);
	assert_string_equal(text, "t.conf:1: uid 7 may not do anything on region:eu-west-1");
	free(text);
	policy_free(p);
}

static unsigned long long fake_now;
static unsigned long long fake_clock(void)
{
	return fake_now;
}

/* Group lookups are cached for POLICY_GROUPS_CACHE_MS, per uid and gid. */
static void test_groups_cache(void **state)
{
	struct policy_groups_cache *c = policy_groups_cache_new(fake_clock);
	const gid_t *groups = NULL;
	size_t n = 0;
	unsigned long lookups, hits;

	fake_now = 1000;
	/* A uid with no passwd entry has its primary group only. */
	assert_int_equal(policy_groups_cache_get(c, 4000000001u, 4000000002u, &groups, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(groups[0], 4000000002u);
	assert_int_equal(policy_groups_cache_get(c, 4000000001u, 4000000002u, &groups, &n), 0);
	policy_groups_cache_stats(c, &lookups, &hits);
	assert_int_equal(lookups, 2);
	assert_int_equal(hits, 1);
	/* Another primary gid is another entry. */
	assert_int_equal(policy_groups_cache_get(c, 4000000001u, 4000000003u, &groups, &n), 0);
	assert_int_equal(groups[0], 4000000003u);
	policy_groups_cache_stats(c, &lookups, &hits);
	assert_int_equal(hits, 1);
	/* Expired: looked up again. */
	fake_now += POLICY_GROUPS_CACHE_MS;
	assert_int_equal(policy_groups_cache_get(c, 4000000001u, 4000000002u, &groups, &n), 0);
	policy_groups_cache_stats(c, &lookups, &hits);
	assert_int_equal(hits, 1);
	/* More uids than entries: the oldest go, nothing grows. */
	for (unsigned i = 0; i < 3 * POLICY_GROUPS_CACHE_MAX; i++) {
		fake_now++;
		assert_int_equal(policy_groups_cache_get(c, 4000001000u + i, 7, &groups, &n), 0);
		assert_int_equal(groups[0], 7);
	}
	/* Cleared (a reload): looked up again, into slots used before. */
	policy_groups_cache_clear(c);
	assert_int_equal(policy_groups_cache_get(c, 4000000001u, 4000000002u, &groups, &n), 0);
	assert_int_equal(policy_groups_cache_get(c, 4000000005u, 4000000002u, &groups, &n), 0);
	policy_groups_cache_stats(c, &lookups, &hits);
	assert_int_equal(hits, 1);
	policy_groups_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_deny_and_root), cmocka_unit_test(test_users_groups_ops),
		cmocka_unit_test(test_account_region_any),    cmocka_unit_test(test_bad_rules),
		cmocka_unit_test(test_unknown_name_fails_closed), cmocka_unit_test(test_describe_and_groups),
		cmocka_unit_test(test_first_match_wins), cmocka_unit_test(test_deny_described),
		cmocka_unit_test(test_groups_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
