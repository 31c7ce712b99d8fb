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
	struct policy_subject s = {uid, gid, groups, n_groups, true};
	struct policy_object o = {.key = &k, .region = "us-east-1", .account = "111122223333"};

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
	expect_refused("user:1000 cancel alias/", "alias/NAME");
}

static void test_unknown_name_fails_closed(void **state)
{
	struct policy *p = policy_new(false);
	char *error = NULL, *warning = NULL;
	struct keyid k;
	struct policy_subject s = {1000, 1000, NULL, 0, true};
	struct policy_object o = {.key = &k, .region = "us-east-1", .account = NULL};

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
	struct policy_subject s = {uid, uid, groups, n, true};
	struct policy_object o = {.key = &k, .region = "us-east-1", .account = "111122223333"};
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
	assert_string_equal(text, "t.conf:1: uid 7 may not do anything but status on region:eu-west-1");
	free(text);
	policy_free(p);
}

static uint64_t fake_now;
static uint64_t fake_clock(void)
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

/* One verdict: uid (gid = uid, or gid when given), groups known or not,
 * the key with region and account (NULL: unknown). */
struct ask {
	uid_t uid;
	gid_t gid;
	bool groups_unknown;
	unsigned ops;
	const char *key;
	const char *region;
	const char *account;
};

static enum policy_verdict ask(const struct policy *p, struct ask a, const char **ret_rule)
{
	struct keyid k;
	struct policy_subject s = {a.uid, a.gid ? a.gid : a.uid, NULL, 0, !a.groups_unknown};
	struct policy_object o = {.key = &k, .region = a.region, .account = a.account};
	const char *rule = NULL;
	enum policy_verdict v;

	assert_int_equal(keyid_parse(a.key, &k, NULL), 0);
	v = policy_decide(p, &s, a.ops, &o, &rule);
	assert_non_null(rule);
	/* The fail-closed form passes ALLOW only. */
	assert_int_equal(policy_check(p, &s, a.ops, &o, NULL), v == POLICY_ALLOW);
	if (ret_rule)
		*ret_rule = rule;
	return v;
}

#define OTHER "444455556666"
#define OURS  "111122223333"

/* The account of a bare key ID unknown: ARN and account: Deny rules are a
 * "maybe" that denies in the fail-closed form; UNDECIDED until known. */
static void test_unknown_account_fails_closed(void **state)
{
	const char *const rules[] = {
	    "A:user:7 cancel " ID2,
	    "D:* cancel arn:aws:kms:us-east-1:" OTHER ":key/*",
	    "D:* cancel,enable account:" OTHER,
	    "D:user:9 * account:" OTHER,
	    "A:* cancel,describe *",
	    "A:user:8 enable account:" OURS,
	    NULL,
	};
	struct policy *p = load_mixed(rules);
	const char *rule;

	/* Unknown: the Deny on line 2 could match. */
	assert_int_equal(
	    ask(p, (struct ask){.uid = 5, .ops = POLICY_OP_CANCEL, .key = ID1, .region = "us-east-1"}, &rule),
	    POLICY_UNDECIDED);
	assert_string_equal(rule, "t.conf:2");
	/* Known, either way. */
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ID1, "us-east-1", OTHER}, &rule),
			 POLICY_DENY);
	assert_string_equal(rule, "t.conf:2");
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ID1, "us-east-1", OURS}, &rule),
			 POLICY_ALLOW);
	assert_string_equal(rule, "t.conf:5");
	/* Without its account the ARN cannot be built: an ARN glob is a maybe
	 * whatever it says of the region. */
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ID1, "eu-west-1", NULL}, &rule),
			 POLICY_UNDECIDED);
	assert_string_equal(rule, "t.conf:2");
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ID1, "eu-west-1", OTHER}, &rule),
			 POLICY_DENY);
	assert_string_equal(rule, "t.conf:3");
	/* A key ARN carries its account: never unknown. */
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ARN_OTHER_ACCOUNT, NULL, NULL}, NULL),
			 POLICY_DENY);
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ARN1, NULL, NULL}, NULL), POLICY_ALLOW);
	/* A Deny for another operation or another user is no "maybe". */
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_DESCRIBE, ID1, "us-east-1", NULL}, NULL),
			 POLICY_ALLOW);
	/* A rule that matches for sure before any maybe decides. */
	assert_int_equal(ask(p, (struct ask){7, 0, false, POLICY_OP_CANCEL, ID2, "us-east-1", NULL}, &rule),
			 POLICY_ALLOW);
	assert_string_equal(rule, "t.conf:1");
	/* An Allow that depends on the account does not allow while it is
	 * unknown: undecided, denied by default in the fail-closed form. */
	assert_int_equal(ask(p, (struct ask){8, 0, false, POLICY_OP_ENABLE, ID1, "us-east-1", NULL}, &rule),
			 POLICY_UNDECIDED);
	assert_string_equal(rule, "t.conf:3"); /* the maybe Deny that comes first */
	assert_int_equal(ask(p, (struct ask){8, 0, false, POLICY_OP_ENABLE, ID1, "eu-west-1", NULL}, &rule),
			 POLICY_UNDECIDED);
	assert_string_equal(rule, "t.conf:3");
	assert_int_equal(ask(p, (struct ask){8, 0, false, POLICY_OP_ENABLE, ID1, "eu-west-1", OURS}, &rule),
			 POLICY_ALLOW);
	assert_string_equal(rule, "t.conf:6");
	/* No region either (no default region): region: rules are a maybe too. */
	policy_free(p);
	{
		const char *const by_region[] = {"D:* * region:us-east-1", "A:* * *", NULL};

		p = load_mixed(by_region);
		assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ID1, NULL, OURS}, NULL),
				 POLICY_UNDECIDED);
		assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ID1, "eu-west-1", NULL}, NULL),
				 POLICY_ALLOW);
		policy_free(p);
	}
}

/* A bare key ID resolves to the ARN of its region's partition. */
static void test_partition_from_region(void **state)
{
	const char *const rules[] = {
	    "D:* cancel arn:aws-cn:kms:*:*:key/*",
	    "D:* cancel arn:aws-us-gov:kms:us-gov-west-1:" OURS ":key/" ID1,
	    "A:* * *",
	    NULL,
	};
	struct policy *p = load_mixed(rules);
	const char *rule;

	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ID1, "cn-north-1", OURS}, &rule),
			 POLICY_DENY);
	assert_string_equal(rule, "t.conf:1");
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ID1, "us-gov-west-1", OURS}, &rule),
			 POLICY_DENY);
	assert_string_equal(rule, "t.conf:2");
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ID1, "us-east-1", OURS}, NULL),
			 POLICY_ALLOW);
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ID1, "cn-north-1", NULL}, NULL),
			 POLICY_UNDECIDED);
	policy_free(p);
}

/* Key IDs in rules are folded to lower case as keyid.c folds callers'; what
 * keyid.c refuses from callers is refused in a rule. */
static void test_key_ids_normalised(void **state)
{
	const char *const rules[] = {
	    "D:* cancel 1234ABCD-12AB-34CD-56EF-1234567890AB",
	    "D:* enable arn:aws:kms:us-east-1:" OURS ":key/2234ABCD-12AB-34CD-56EF-1234567890AB",
	    "D:* describe arn:aws:kms:*:" OURS ":key/MRK-*",
	    "A:* * *",
	    NULL,
	};
	struct policy *p = load_mixed(rules);

	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ID1, "us-east-1", OURS}, NULL),
			 POLICY_DENY);
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ARN1, NULL, NULL}, NULL), POLICY_DENY);
	assert_int_equal(
	    ask(p,
		(struct ask){5, 0, false, POLICY_OP_CANCEL, "1234ABCD-12AB-34CD-56EF-1234567890AB", "us-east-1", OURS},
		NULL),
	    POLICY_DENY);
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_ENABLE, ID2, "us-east-1", OURS}, NULL),
			 POLICY_DENY);
	assert_int_equal(ask(p,
			     (struct ask){5, 0, false, POLICY_OP_DESCRIBE, "mrk-1234abcd12ab34cd56ef1234567890ab",
					  "us-east-1", OURS},
			     NULL),
			 POLICY_DENY);
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ID2, "us-east-1", OURS}, NULL),
			 POLICY_ALLOW);
	policy_free(p);

	expect_refused("* cancel arn:aws:kms:US-EAST-1:" OURS ":key/" ID1, "invalid region");
	expect_refused("* cancel ARN:aws:kms:us-east-1:" OURS ":key/" ID1, "not a key ID");
	expect_refused("* cancel arn:aws:kms:us-east-1:" OURS ":alias/foo", "name the alias as alias/foo");
	expect_refused("* cancel arn:AWS:kms:*:*:key/*", "upper case");
	expect_refused("* cancel arn:aws:kms:*:*:key/[A-F]*", "inside [...]");
	expect_refused("* cancel 1234*", "only ARNs can be globs");
	expect_refused("* cancel region:US-EAST-1", "lower case");
}

/* Supplementary groups unknown (the lookup failed): group Deny rules
 * match, group Allows do not, unless the primary gid decides. */
static void test_groups_unknown_fails_closed(void **state)
{
	const char *const rules[] = {
	    "D:group:2000 cancel *",
	    "A:group:3000 describe *",
	    "A:* cancel *",
	    NULL,
	};
	struct policy *p = load_mixed(rules);
	gid_t member[] = {3000};
	const char *rule;

	assert_int_equal(ask(p, (struct ask){5, 0, true, POLICY_OP_CANCEL, ID1, "us-east-1", OURS}, &rule),
			 POLICY_UNDECIDED);
	assert_string_equal(rule, "t.conf:1");
	assert_int_equal(ask(p, (struct ask){5, 2000, true, POLICY_OP_CANCEL, ID1, "us-east-1", OURS}, &rule),
			 POLICY_DENY);
	assert_int_equal(ask(p, (struct ask){5, 0, false, POLICY_OP_CANCEL, ID1, "us-east-1", OURS}, &rule),
			 POLICY_ALLOW);
	assert_int_equal(ask(p, (struct ask){5, 0, true, POLICY_OP_DESCRIBE, ID1, "us-east-1", OURS}, &rule),
			 POLICY_UNDECIDED);
	assert_string_equal(rule, "default");
	assert_int_equal(ask(p, (struct ask){5, 3000, true, POLICY_OP_DESCRIBE, ID1, "us-east-1", OURS}, &rule),
			 POLICY_ALLOW);
	/* Known groups that include the gid grant as before. */
	{
		struct keyid k;
		struct policy_subject s = {5, 5, member, 1, true};
		struct policy_object o = {.key = &k, .region = "us-east-1", .account = OURS};

		assert_int_equal(keyid_parse(ID1, &k, NULL), 0);
		assert_int_equal(policy_decide(p, &s, POLICY_OP_DESCRIBE, &o, NULL), POLICY_ALLOW);
	}
	policy_free(p);
}

/* status: named explicitly (not in "*"), keys not consulted, root always. */
static void test_status(void **state)
{
	const char *const rules[] = {
	    "D:group:2000 status *",
	    "A:user:1000 * *",
	    "A:user:1001 status " ID1,
	    NULL,
	};
	struct policy *p = load_mixed(rules);
	struct policy_subject alice = {1000, 1000, NULL, 0, true}, bob = {1001, 1001, NULL, 0, true},
			      unknown = {1001, 1001, NULL, 0, false}, root = {0, 0, NULL, 0, true};
	const char *rule;
	char *text = NULL;

	assert_int_equal(policy_decide(p, &alice, POLICY_OP_STATUS, NULL, &rule), POLICY_DENY);
	assert_string_equal(rule, "default");
	assert_int_equal(policy_decide(p, &bob, POLICY_OP_STATUS, NULL, &rule), POLICY_ALLOW);
	assert_string_equal(rule, "t.conf:3");
	assert_int_equal(policy_decide(p, &unknown, POLICY_OP_STATUS, NULL, &rule), POLICY_UNDECIDED);
	assert_false(policy_check(p, &unknown, POLICY_OP_STATUS, NULL, NULL));
	/* Without a key, only status can be asked. */
	assert_int_equal(policy_decide(p, &alice, POLICY_OP_CANCEL, NULL, NULL), POLICY_DENY);
	assert_int_equal(policy_describe_rule(p, 2, &text), 0);
	assert_non_null(strstr(text, "may status on"));
	free(text);
	policy_free(p);

	/* Root: status even with AllowRoot=no, nothing else. */
	p = load(false, (const char *const[]){NULL});
	assert_int_equal(policy_decide(p, &root, POLICY_OP_STATUS, NULL, &rule), POLICY_ALLOW);
	assert_string_equal(rule, "root");
	assert_false(allowed(p, 0, 0, NULL, 0, POLICY_OP_CANCEL, ID1));
	policy_free(p);
}

/* The groups of a real user: found, and the primary gid among them. */
static void test_lookup_groups_real(void **state)
{
	gid_t *groups = NULL;
	size_t n = 0;

	assert_int_equal(policy_lookup_groups(0, 0, &groups, &n), 0);
	assert_true(n >= 1 && n <= POLICY_MAX_GROUPS);
	free(groups);
	/* No passwd entry: the primary group only, known. */
	assert_int_equal(policy_lookup_groups(4000000001u, 77, &groups, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(groups[0], 77);
	free(groups);
}

/* A call by alias (policy_decide_alias()): before resolving (key NULL)
 * and after. */
static enum policy_verdict alias_verdict(const struct policy *p, uid_t uid, unsigned ops, const char *alias,
					 const char *key, const char **rule)
{
	struct keyid k;
	struct policy_subject s = {uid, uid, NULL, 0, true};
	struct policy_object o = {.key = NULL, .region = "us-east-1", .account = "111122223333"};

	if (key) {
		assert_int_equal(keyid_parse(key, &k, NULL), 0);
		o.key = &k;
	}
	return policy_decide_alias(p, &s, ops, alias, &o, rule);
}

static void add(struct policy *p, bool deny, const char *rule)
{
	char *error = NULL, *warning = NULL;

	if (policy_add_rule(p, deny, rule, deny ? "deny.conf:1" : "allow.conf:1", &error, &warning) < 0)
		fail_msg("rule '%s' refused: %s", rule, error);
	free(warning);
}

static void test_alias_views(void **state)
{
	struct policy *p = policy_new(false);
	const char *rule = NULL;

	(void)state;
	add(p, true, "user:1000 cancel alias/test-*");
	add(p, true, "user:1000 cancel " ID2);
	add(p, false, "user:1000 cancel,describe " ID1);
	add(p, false, "user:1000 describe alias/test-*");
	add(p, false, "user:1001 * alias/prod-*");
	/* Nothing allows uid 2000 anything: refused before any request. */
	assert_int_equal(alias_verdict(p, 2000, POLICY_OP_CANCEL, "alias/prod-db", NULL, &rule), POLICY_DENY);
	assert_string_equal(rule, "default");
	/* A Deny naming the alias: refused before resolving. */
	assert_int_equal(alias_verdict(p, 1000, POLICY_OP_CANCEL, "alias/test-web", NULL, &rule), POLICY_DENY);
	assert_string_equal(rule, "deny.conf:1");
	/* ... and after, whatever the key. */
	assert_int_equal(alias_verdict(p, 1000, POLICY_OP_CANCEL, "alias/test-web", ARN1, NULL), POLICY_DENY);
	/* The key allowed, the alias unnamed: resolve, then allowed. */
	assert_int_equal(alias_verdict(p, 1000, POLICY_OP_CANCEL, "alias/prod-db", NULL, NULL), POLICY_UNDECIDED);
	assert_int_equal(alias_verdict(p, 1000, POLICY_OP_CANCEL, "alias/prod-db", ARN1, &rule), POLICY_ALLOW);
	assert_string_equal(rule, "allow.conf:1");
	/* A Deny on the resolved key. */
	assert_int_equal(alias_verdict(p, 1000, POLICY_OP_CANCEL, "alias/prod-db", ID2, &rule), POLICY_DENY);
	assert_string_equal(rule, "deny.conf:1");
	/* An alias rule allows on its own (the key's Deny is for cancel only). */
	assert_int_equal(alias_verdict(p, 1000, POLICY_OP_DESCRIBE, "alias/test-web", ID2, NULL), POLICY_ALLOW);
	assert_int_equal(alias_verdict(p, 1001, POLICY_OP_CANCEL, "alias/prod-db", NULL, NULL), POLICY_ALLOW);
	assert_int_equal(alias_verdict(p, 1001, POLICY_OP_CANCEL, "alias/prod-db", ID2, NULL), POLICY_ALLOW);
	/* Alias rules never match a call by key, and key rules are about
	 * keys: policy_decide() is unchanged for them. */
	assert_false(allowed(p, 1001, 1001, NULL, 0, POLICY_OP_CANCEL, ID1));
	/* A bad alias rule. */
	{
		char *error = NULL, *warning = NULL;

		assert_int_equal(policy_add_rule(p, false, "* * alias/", "x:1", &error, &warning), -EINVAL);
		free(error);
		free(warning);
	}
	policy_free(p);
}

/* ListPendingDeletions' gate: who could be allowed to describe some key. */
static void test_may_describe_any(void **state)
{
	const char *const rules[] = {
	    "D:user:10 describe *",          /* 10: nothing, whatever follows */
	    "A:user:10 describe " ID1,
	    "D:user:11 describe alias/dev-*", /* 11: a Deny of some keys leaves the rest */
	    "A:user:11 describe account:111122223333",
	    "A:user:12 cancel *",   /* 12: may cancel, not describe */
	    "A:group:3000 describe alias/prod-*", /* members (or maybe members) */
	    "D:group:3001 describe *", /* a Deny of every key only when surely a member */
	    "A:* describe " ID2,
	    NULL,
	};
	struct policy *p = load_mixed(rules), *none = load_mixed((const char *const[]){NULL});
	gid_t prod[] = {3000}, deny[] = {3001};

	assert_false(policy_may_describe_any(p, &(struct policy_subject){10, 10, NULL, 0, true}));
	assert_true(policy_may_describe_any(p, &(struct policy_subject){11, 11, NULL, 0, true}));
	/* 12 falls through to the "*" rule for ID2. */
	assert_true(policy_may_describe_any(p, &(struct policy_subject){12, 12, NULL, 0, true}));
	assert_true(policy_may_describe_any(p, &(struct policy_subject){13, 13, prod, 1, true}));
	assert_false(policy_may_describe_any(p, &(struct policy_subject){14, 14, deny, 1, true}));
	/* Groups unknown: the group Deny may not apply, the group Allow may. */
	assert_true(policy_may_describe_any(p, &(struct policy_subject){14, 14, NULL, 0, false}));
	assert_false(policy_may_describe_any(none, &(struct policy_subject){12, 12, NULL, 0, true}));
	/* Root with AllowRoot=yes; not with no (load_mixed) and no rule. */
	assert_false(policy_may_describe_any(none, &(struct policy_subject){0, 0, NULL, 0, true}));
	policy_free(none);
	none = load(true, (const char *const[]){NULL});
	assert_true(policy_may_describe_any(none, &(struct policy_subject){0, 0, NULL, 0, true}));
	assert_false(policy_may_describe_any(none, &(struct policy_subject){12, 12, NULL, 0, true}));
	policy_free(none);
	policy_free(p);
}

/* The same for one account and region: what ListPendingDeletions skips. */
static void test_may_describe_in(void **state)
{
	const char *const rules[] = {
	    "A:user:20 describe account:111122223333",
	    "A:user:21 describe region:eu-west-1",
	    "A:user:22 describe arn:aws:kms:us-east-1:444455556666:key/*",
	    "A:user:23 describe arn:aws:kms:*:444455556666:key/*", /* a glob before the account: maybe anywhere */
	    "A:user:24 describe alias/prod-*",                     /* an alias names a key anywhere */
	    "D:user:25 describe account:111122223333",
	    "A:user:25 describe *",
	    "A:user:26 describe " ID1, /* a bare key ID: any account */
	    NULL,
	};
	struct policy *p = load_mixed(rules);
	struct policy_subject u20 = {20, 20, NULL, 0, true}, u21 = {21, 21, NULL, 0, true};
	struct policy_subject u22 = {22, 22, NULL, 0, true}, u23 = {23, 23, NULL, 0, true};
	struct policy_subject u24 = {24, 24, NULL, 0, true}, u25 = {25, 25, NULL, 0, true};
	struct policy_subject u26 = {26, 26, NULL, 0, true}, u27 = {27, 27, NULL, 0, true};

	assert_true(policy_may_describe_in(p, &u20, "111122223333", "us-east-1"));
	assert_false(policy_may_describe_in(p, &u20, "444455556666", "us-east-1"));
	assert_true(policy_may_describe_in(p, &u20, NULL, "us-east-1")); /* the account not known yet */
	assert_true(policy_may_describe_in(p, &u21, "444455556666", "eu-west-1"));
	assert_false(policy_may_describe_in(p, &u21, "444455556666", "us-east-1"));
	assert_true(policy_may_describe_in(p, &u22, "444455556666", "us-east-1"));
	assert_false(policy_may_describe_in(p, &u22, "444455556666", "eu-west-1"));
	assert_false(policy_may_describe_in(p, &u22, "111122223333", "us-east-1"));
	assert_true(policy_may_describe_in(p, &u23, "111122223333", "eu-west-1"));
	assert_true(policy_may_describe_in(p, &u24, "111122223333", "ap-south-1"));
	assert_false(policy_may_describe_in(p, &u25, "111122223333", "us-east-1"));
	assert_true(policy_may_describe_in(p, &u25, "444455556666", "us-east-1"));
	assert_true(policy_may_describe_in(p, &u26, "444455556666", "eu-west-1"));
	assert_false(policy_may_describe_in(p, &u27, "111122223333", "us-east-1"));
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_deny_and_root),
	    cmocka_unit_test(test_users_groups_ops),
	    cmocka_unit_test(test_account_region_any),
	    cmocka_unit_test(test_bad_rules),
	    cmocka_unit_test(test_unknown_name_fails_closed),
	    cmocka_unit_test(test_describe_and_groups),
	    cmocka_unit_test(test_first_match_wins),
	    cmocka_unit_test(test_deny_described),
	    cmocka_unit_test(test_groups_cache),
	    cmocka_unit_test(test_unknown_account_fails_closed),
	    cmocka_unit_test(test_partition_from_region),
	    cmocka_unit_test(test_key_ids_normalised),
	    cmocka_unit_test(test_groups_unknown_fails_closed),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_lookup_groups_real),
	    cmocka_unit_test(test_alias_views),
	    cmocka_unit_test(test_may_describe_any),
	    cmocka_unit_test(test_may_describe_in),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
