/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Who may do what to which key: the [Policy] section of kmscanceld.conf.
 *
 *   Allow=WHO OPERATIONS KEYS...
 *     WHO         user:NAME|UID, group:NAME|GID, or *
 *     OPERATIONS  comma list of cancel, enable, describe, or *
 *     KEYS        key IDs, key ARNs, ARN globs (fnmatch), account:ID,
 *                 region:NAME, or *
 *   AllowRoot=yes|no   (default yes)
 *
 * Default deny.  There are only Allow rules, so their order never matters:
 * a request is allowed if any rule matches it (the first such rule is
 * reported for the audit record).  A bare key ID is matched as itself and
 * as the ARN it resolves to (default region, and the daemon's account once
 * known).  User and group names are resolved when the policy is loaded; a
 * name that does not exist makes the rule match nobody (with a warning),
 * so a typo fails closed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct keyid;

enum policy_op {
	POLICY_OP_CANCEL = 1 << 0,
	POLICY_OP_ENABLE = 1 << 1,
	POLICY_OP_DESCRIBE = 1 << 2,
	POLICY_OP_ALL = POLICY_OP_CANCEL | POLICY_OP_ENABLE | POLICY_OP_DESCRIBE,
};

struct policy;

struct policy *policy_new(bool allow_root);
struct policy *policy_free(struct policy *p); /* NULL-safe */

/* Adds one Allow= value; origin ("file:line") names it in messages and
 * audit records.  Returns 0, or -EINVAL with *ret_error (malloc'ed) saying
 * what is wrong with the rule.  Unknown users/groups are a warning
 * (*ret_warning, malloc'ed, or NULL), not an error. */
int policy_add_rule(struct policy *p, const char *text, const char *origin, char **ret_error, char **ret_warning);

/* The caller, as the kernel told us, with its supplementary groups. */
struct policy_subject {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t n_groups;
};

/* The key, parsed, and what a bare key ID resolves to. */
struct policy_object {
	const struct keyid *key;
	const char *default_region; /* may be NULL */
	const char *account;        /* the daemon's account, may be NULL */
};

/* Whether subject may perform every operation in ops on object.  On allow,
 * *ret_rule (borrowed, may be passed NULL) names the rule ("root" for the
 * AllowRoot rule). */
bool policy_check(const struct policy *p, const struct policy_subject *s, unsigned ops,
		  const struct policy_object *o, const char **ret_rule);

/* Number of rules, and one rule described for --check-config. */
size_t policy_n_rules(const struct policy *p);
/* "file:line: user alice (uid 1000) may cancel,describe on key 1234…" */
int policy_describe_rule(const struct policy *p, size_t i, char **ret);

/* The supplementary groups of uid (primary gid included), via
 * getgrouplist().  *ret is malloc'ed. */
int policy_lookup_groups(uid_t uid, gid_t gid, gid_t **ret, size_t *ret_n);
