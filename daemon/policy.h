/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Who may do what to which key: the [Policy] section of kmscanceld.conf.
 *
 *   Allow=WHO OPERATIONS KEYS...
 *   Deny=WHO OPERATIONS KEYS...
 *     WHO         user:NAME|UID, group:NAME|GID, or *
 *     OPERATIONS  comma list of cancel, enable, describe, status, or *
 *                 (* is cancel,enable,describe: status shows every
 *                 account's configuration and the daemon's activity, so it
 *                 is granted only by name)
 *     KEYS        key IDs, key ARNs, ARN globs (fnmatch), account:ID,
 *                 region:NAME, alias/NAME or an alias glob (alias/prod-*),
 *                 or *; not consulted for status
 *   AllowRoot=yes|no   (default yes; root may always ask for status)
 *
 * First match wins, in file order, for each operation a call needs: the
 * first rule whose WHO, OPERATIONS and KEYS all match decides that
 * operation, Allow or Deny; no matching rule is a Deny (default deny).  A
 * call is allowed only when every operation it needs is (cancel with
 * enableKey needs cancel and enable); the rule that decided is reported for
 * the audit record (the one that denied, or the last one that allowed).
 * First match rather than most specific: the file reads top to bottom like
 * a firewall's, and "specific" has no order between a key glob and an
 * account.  Root is allowed before any rule unless AllowRoot=no.
 *
 * A bare key ID is matched as itself and as the ARN it resolves to: the
 * partition of its region (endpoint_partition_for_region()), the region
 * used for it, and its account once known.
 *
 * Fail closed.  What the policy needs may be unknown when it is asked: the
 * account of a bare key ID (the daemon's account before GetCallerIdentity
 * answered, or after it failed), hence the ARN it resolves to, and the
 * caller's supplementary groups (the group lookup failed).  A rule whose
 * match depends on something unknown is a "maybe".  policy_decide()
 * evaluates twice: pessimistically (a maybe Deny matches, a maybe Allow does
 * not) and optimistically (the reverse).  Both allow: ALLOW; both deny:
 * DENY; else UNDECIDED, which the caller may settle by learning more (the
 * account) and must otherwise treat as a deny (policy_check()).
 *
 * Key IDs written in rules are normalised as common/keyid.c normalises the
 * ones callers send: hex digits folded to lower case, in bare IDs and in an
 * ARN's key part.  What keyid.c refuses from callers (upper case in the
 * partition, region or literals, a malformed ARN) is refused in a rule too,
 * so a rule can never silently match nothing.  User and group names are
 * resolved when the policy is loaded; a name that does not exist makes the
 * rule match nobody (with a warning), so a typo in an Allow fails closed
 * (and one in a Deny is loud).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct keyid;

enum policy_op {
	POLICY_OP_CANCEL = 1 << 0,
	POLICY_OP_ENABLE = 1 << 1,
	POLICY_OP_DESCRIBE = 1 << 2,
	POLICY_OP_STATUS = 1 << 3, /* GetStatus: named explicitly, keys not consulted */
	POLICY_OP_ALL = POLICY_OP_CANCEL | POLICY_OP_ENABLE | POLICY_OP_DESCRIBE, /* what "*" means */
};

struct policy;

struct policy *policy_new(bool allow_root);
struct policy *policy_free(struct policy *p); /* NULL-safe */

/* Appends one Allow= (deny false) or Deny= value; origin ("file:line")
 * names it in messages and audit records.  Returns 0, or -EINVAL with
 * *ret_error (malloc'ed) saying what is wrong with the rule.  Unknown
 * users/groups are a warning (*ret_warning, malloc'ed, or NULL), not an
 * error. */
int policy_add_rule(struct policy *p, bool deny, const char *text, const char *origin, char **ret_error,
		    char **ret_warning);

/* The caller, as the kernel told us, with its supplementary groups.
 * groups_known is false when the group lookup failed: then group: rules
 * that the primary gid does not satisfy are a "maybe" (see above). */
struct policy_subject {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t n_groups;
	bool groups_known;
};

/* The key, parsed, and what a bare key ID resolves to.  A key ARN carries
 * its own region and account; for a bare key ID region is the one the call
 * uses (the [Account N]'s or the daemon's default) and account its account,
 * NULL while unknown. */
struct policy_object {
	const struct keyid *key; /* NULL: not known yet (an alias not resolved) */
	const char *region;      /* may be NULL (unknown) */
	const char *account;     /* may be NULL (unknown) */
	const char *alias;       /* internal to policy.c: leave NULL */
};

enum policy_verdict {
	POLICY_DENY,
	POLICY_ALLOW,
	POLICY_UNDECIDED, /* depends on what is unknown: deny unless learnt */
};

/* "deny", "allow", "undecided". */
const char *policy_verdict_to_string(enum policy_verdict v);

/*
 * Whether subject may perform every operation in ops on object (NULL when
 * ops is POLICY_OP_STATUS alone), given what is unknown (above).
 * *ret_rule (borrowed, may be passed NULL) names the rule that decided:
 * "file:line", "root" for AllowRoot=yes (or status), or "default" when no
 * rule matched (default deny); for UNDECIDED, the rule that denies if the
 * unknown is not learnt.
 */
enum policy_verdict policy_decide(const struct policy *p, const struct policy_subject *s, unsigned ops,
				  const struct policy_object *o, const char **ret_rule);

/*
 * A call that named an alias ("alias/NAME", the alias ARN's resource):
 * decided in two views, each first match as above.  The alias view sees
 * alias rules and the rules about no one key (*, account:, region:); the
 * key view sees the rest, about the key the alias resolves to (o->key, NULL
 * before the alias is resolved: every key rule a maybe then).  A Deny
 * deciding either view denies; else an Allow deciding either allows; else
 * the default deny.  Before resolving, DENY refuses without any request,
 * ALLOW (the alias view allows, nothing can deny) lets the caller learn
 * what KMS says of the alias, UNDECIDED means resolve and decide again on
 * the key, final.  Root: as policy_decide().
 */
enum policy_verdict policy_decide_alias(const struct policy *p, const struct policy_subject *s, unsigned ops,
					const char *alias, const struct policy_object *o, const char **ret_rule);

/* The fail-closed form: true only for POLICY_ALLOW. */
bool policy_check(const struct policy *p, const struct policy_subject *s, unsigned ops,
		  const struct policy_object *o, const char **ret_rule);

/*
 * Whether some key could be one subject may describe: root with
 * AllowRoot=yes, or an Allow rule for describe whose WHO matches (or may,
 * groups unknown) before any Deny of every key (*) for describe that surely
 * matches.  ListPendingDeletions refuses a caller for whom this is false
 * before any request, and otherwise decides key by key with
 * policy_decide(); true promises nothing about any one key.
 */
bool policy_may_describe_any(const struct policy *p, const struct policy_subject *s);
/*
 * The same for the keys of one account in one region (account NULL: not
 * known): false when no Allow rule for describe that may match the caller
 * could match a key there (its account:, region: and the account and
 * region an ARN pattern writes out) before a Deny that surely matches the
 * caller and covers them all (*, that account:, that region:).  Alias
 * rules may match a key anywhere.  ListPendingDeletions skips an account
 * and region for which this is false: no request, and not listed.
 */
bool policy_may_describe_in(const struct policy *p, const struct policy_subject *s, const char *account,
			    const char *region);

/* Number of rules, and one rule described for --check-config. */
size_t policy_n_rules(const struct policy *p);
/* "file:line: user alice (uid 1000) may cancel,describe on key 1234…" */
int policy_describe_rule(const struct policy *p, size_t i, char **ret);

/* The supplementary groups of uid (primary gid included), via
 * getpwuid_r() (its buffer grown on ERANGE, up to POLICY_PW_BUFFER_MAX) and
 * getgrouplist().  *ret is malloc'ed.  A uid without a passwd entry has its
 * primary group only.  Returns 0, or a negative errno when the groups are
 * not known: the passwd lookup failed (NSS error, -ERANGE past the bound),
 * -ENOMEM, or -E2BIG for more than POLICY_MAX_GROUPS groups.  The caller
 * then evaluates with groups_known false. */
#define POLICY_MAX_GROUPS    65536     /* NGROUPS_MAX on Linux */
#define POLICY_PW_BUFFER_MAX (1 << 20) /* getpwuid_r's buffer, at most */
int policy_lookup_groups(uid_t uid, gid_t gid, gid_t **ret, size_t *ret_n);

/*
 * A short-lived cache of policy_lookup_groups(): NSS can be slow (LDAP, SSSD)
 * and a batch makes hundreds of calls from one uid.  Entries live
 * POLICY_GROUPS_CACHE_MS (a membership change is seen within that); at most
 * POLICY_GROUPS_CACHE_MAX entries, the oldest replaced.  The clock is
 * CLOCK_MONOTONIC unless now_ms is given (tests).
 */
#define POLICY_GROUPS_CACHE_MS  5000
#define POLICY_GROUPS_CACHE_MAX 64
struct policy_groups_cache;
struct policy_groups_cache *policy_groups_cache_new(uint64_t (*now_ms)(void));
struct policy_groups_cache *policy_groups_cache_free(struct policy_groups_cache *c); /* NULL-safe */
/* The groups of uid/gid, borrowed until the next call on c.  Returns 0, or
 * policy_lookup_groups()'s error: then the groups are unknown and the caller
 * evaluates with groups_known false.  A failure is never cached: the next
 * call looks up again. */
int policy_groups_cache_get(struct policy_groups_cache *c, uid_t uid, gid_t gid, const gid_t **ret,
			    size_t *ret_n);
/* Forgets every entry (a reload: memberships may have changed with it). */
void policy_groups_cache_clear(struct policy_groups_cache *c);
/* Counters for tests and status: lookups made, answers from the cache. */
void policy_groups_cache_stats(const struct policy_groups_cache *c, unsigned long *ret_lookups,
			       unsigned long *ret_hits);
