/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "policy.h"

#include <assert.h>
#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "endpoint.h"
#include "errorf.h"
#include "keyid.h"
#include "monotime.h"

/* Bounds on what a config file can make us hold. */
#define POLICY_MAX_RULES 4096
#define POLICY_MAX_KEYS_PER_RULE 1024

enum who_kind {
	WHO_ANYONE,
	WHO_USER,
	WHO_GROUP,
	WHO_NOBODY, /* a name that did not resolve: fails closed */
};

enum key_kind {
	KEY_ANY,
	KEY_ACCOUNT,
	KEY_REGION,
	KEY_PATTERN, /* a key ID, key ARN or ARN glob, matched with fnmatch */
	KEY_ALIAS,   /* alias/NAME, may be a glob: matches the alias a call named */
};

struct key_spec {
	enum key_kind kind;
	char *value;
};

struct rule {
	bool deny;
	char *origin;
	char *text;
	enum who_kind who;
	unsigned long id; /* uid or gid */
	unsigned ops;
	struct key_spec *keys;
	size_t n_keys;
};

struct policy {
	bool allow_root;
	struct rule *rules;
	size_t n_rules;
};

struct policy *policy_new(bool allow_root)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (p)
		p->allow_root = allow_root;
	return p;
}

static void rule_done(struct rule *r)
{
	for (size_t i = 0; i < r->n_keys; i++)
		free(r->keys[i].value);
	free(r->keys);
	free(r->origin);
	free(r->text);
}

struct policy *policy_free(struct policy *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_rules; i++)
		rule_done(&p->rules[i]);
	free(p->rules);
	free(p);
	return NULL;
}

static int parse_number(const char *s, unsigned long *ret)
{
	char *end;
	unsigned long v;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v >= UINT_MAX)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* user:NAME|UID, group:NAME|GID or *.  A name that does not resolve gives
 * WHO_NOBODY and a warning. */
static int parse_who(struct rule *r, const char *s, char **ret_error, char **ret_warning)
{
	bool user;
	const char *name;

	if (strcmp(s, "*") == 0) {
		r->who = WHO_ANYONE;
		return 0;
	}
	if (strncmp(s, "user:", 5) == 0)
		user = true, name = s + 5;
	else if (strncmp(s, "group:", 6) == 0)
		user = false, name = s + 6;
	else
		return errorf(ret_error, -EINVAL, "'%s' is not user:NAME, group:NAME or *", s);
	if (!*name)
		return errorf(ret_error, -EINVAL, "'%s' names no %s", s, user ? "user" : "group");

	r->who = user ? WHO_USER : WHO_GROUP;
	if (parse_number(name, &r->id) == 0)
		return 0;
	if (user) {
		struct passwd *pw = getpwnam(name);
		if (pw) {
			r->id = pw->pw_uid;
			return 0;
		}
	} else {
		struct group *gr = getgrnam(name);
		if (gr) {
			r->id = gr->gr_gid;
			return 0;
		}
	}
	r->who = WHO_NOBODY;
	if (asprintf(ret_warning, "%s: no %s named '%s': this rule matches nobody", r->origin,
		     user ? "user" : "group", name) < 0)
		*ret_warning = NULL;
	return 0;
}

static int parse_ops(struct rule *r, const char *s, char **ret_error)
{
	char *copy = strdup(s), *save = NULL;

	if (!copy)
		return -ENOMEM;
	r->ops = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "*") == 0)
			r->ops |= POLICY_OP_ALL;
		else if (strcmp(t, "cancel") == 0)
			r->ops |= POLICY_OP_CANCEL;
		else if (strcmp(t, "enable") == 0)
			r->ops |= POLICY_OP_ENABLE;
		else if (strcmp(t, "describe") == 0)
			r->ops |= POLICY_OP_DESCRIBE;
		else if (strcmp(t, "status") == 0)
			r->ops |= POLICY_OP_STATUS;
		else {
			errorf(ret_error, -EINVAL, "unknown operation '%s' (cancel, enable, describe, status or *)", t);
			free(copy);
			return -EINVAL;
		}
	}
	free(copy);
	if (!r->ops)
		return errorf(ret_error, -EINVAL, "no operation in '%s'", s);
	return 0;
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/*
 * An ARN glob, normalised as keyid.c normalises what callers send: letters
 * of the key part (after "key/") are folded to lower case; upper case
 * anywhere else (partition, region, "arn", "kms", "key") or inside a
 * bracket expression is refused, as keyid.c refuses it from callers (and
 * folding "[A-F]" would change what a range means).  The result matches
 * exactly the keys the writer named, in the form the daemon compares.
 */
static int normalise_arn_glob(char *s, char **ret_error)
{
	const char *key_part = strstr(s, "key/");
	bool bracket = false;

	for (char *c = s; *c; c++) {
		if (bracket) {
			if (*c == ']')
				bracket = false;
			else if (is_upper(*c))
				goto bracket_upper;
			continue;
		}
		if (*c == '[') {
			bracket = true;
			if (c[1] == '!' || c[1] == '^')
				c++;
			if (c[1] == ']')
				c++; /* a leading ']' is a member */
			continue;
		}
		if (*c == '\\' && c[1])
			c++;
		if (!is_upper(*c))
			continue;
		if (!key_part || c < key_part + 4)
			return errorf(ret_error, -EINVAL,
				      "'%s': upper case in an ARN's partition, region or literals never matches "
				      "(AWS writes them in lower case)",
				      s);
		*c = (char)(*c - 'A' + 'a');
	}
	return 0;
bracket_upper:
	return errorf(ret_error, -EINVAL,
		      "'%s': write key IDs in lower case inside [...] (key IDs are compared in lower case)", s);
}

/* A key ID, key ARN or ARN glob, in the form the daemon compares: a key ID
 * or ARN without glob characters must be one keyid.c accepts (its canonical
 * form is kept); a glob must be an ARN glob. */
static int parse_pattern(struct key_spec *k, const char *s, char **ret_error)
{
	struct keyid_alias alias;
	struct keyid id;
	const char *reason = NULL;
	int r;

	k->kind = KEY_PATTERN;
	if (strpbrk(s, "*?[\\")) {
		if (strncmp(s, "arn:", 4) != 0)
			return errorf(ret_error, -EINVAL, "'%s': only ARNs can be globs", s);
		k->value = strdup(s);
		if (!k->value)
			return -ENOMEM;
		r = normalise_arn_glob(k->value, ret_error);
		if (r < 0) {
			/* Not counted in the rule yet: rule_done() would miss it. */
			free(k->value);
			k->value = NULL;
		}
		return r;
	}
	if (keyid_alias_parse(s, &alias, NULL) == 0)
		return errorf(ret_error, -EINVAL,
			      "'%s' is an alias ARN: name the alias as %s, which matches calls by its alias ARN too", s,
			      alias.name);
	if (keyid_parse(s, &id, &reason) < 0)
		return errorf(ret_error, -EINVAL,
			      "'%s' is not a key ID, key ARN, ARN glob, alias/NAME, account:ID, region:NAME or *%s%s", s,
			      reason ? ": " : "", reason ? reason : "");
	if (id.kind == KEYID_KIND_ARN)
		r = asprintf(&k->value, "arn:%s:kms:%s:%s:key/%s", id.partition, id.region, id.account, id.id);
	else
		r = asprintf(&k->value, "%s", id.id);
	if (r < 0) {
		k->value = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* alias/NAME or an alias glob (alias/prod-*): case-sensitive, as AWS
 * compares alias names; matched against the alias a call named. */
static int parse_alias(struct key_spec *k, const char *s, char **ret_error)
{
	if (!s[6] || strlen(s) > KEYID_ALIAS_MAX)
		return errorf(ret_error, -EINVAL, "'%s': an alias is alias/NAME, at most 256 characters", s);
	k->kind = KEY_ALIAS;
	k->value = strdup(s);
	return k->value ? 0 : -ENOMEM;
}

static int parse_key(struct key_spec *k, const char *s, char **ret_error)
{
	if (strncmp(s, "alias/", 6) == 0)
		return parse_alias(k, s, ret_error);
	if (strcmp(s, "*") == 0) {
		k->kind = KEY_ANY;
	} else if (strncmp(s, "account:", 8) == 0) {
		if (strlen(s + 8) != 12 || strspn(s + 8, "0123456789") != 12)
			return errorf(ret_error, -EINVAL, "'%s': an account ID has 12 digits", s);
		k->kind = KEY_ACCOUNT;
		s += 8;
	} else if (strncmp(s, "region:", 7) == 0) {
		if (!s[7])
			return errorf(ret_error, -EINVAL, "'%s' names no region", s);
		/* Regions callers can name are lower case (keyid.c): any other
		 * spelling would match nothing. */
		if (!endpoint_region_valid(s + 7))
			return errorf(ret_error, -EINVAL, "'%s': expected a region name such as us-east-1 (lower case)",
				      s);
		k->kind = KEY_REGION;
		s += 7;
	} else {
		return parse_pattern(k, s, ret_error);
	}
	k->value = strdup(s);
	return k->value ? 0 : -ENOMEM;
}

static int parse_rule(struct rule *r, const char *text, char **ret_error, char **ret_warning)
{
	char *copy = strdup(text), *save = NULL, *who, *ops, *t;
	int rc = -EINVAL;

	if (!copy)
		return -ENOMEM;
	who = strtok_r(copy, " \t", &save);
	ops = who ? strtok_r(NULL, " \t", &save) : NULL;
	if (!who || !ops) {
		rc = errorf(ret_error, -EINVAL, "expected WHO OPERATIONS KEYS...");
		goto out;
	}
	rc = parse_who(r, who, ret_error, ret_warning);
	if (rc < 0)
		goto out;
	rc = parse_ops(r, ops, ret_error);
	if (rc < 0)
		goto out;
	while ((t = strtok_r(NULL, " \t", &save))) {
		if (r->n_keys >= POLICY_MAX_KEYS_PER_RULE) {
			rc = errorf(ret_error, -EINVAL, "more than %d keys in one rule", POLICY_MAX_KEYS_PER_RULE);
			goto out;
		}
		struct key_spec *keys = realloc(r->keys, (r->n_keys + 1) * sizeof(*keys));
		if (!keys) {
			rc = -ENOMEM;
			goto out;
		}
		r->keys = keys;
		rc = parse_key(&r->keys[r->n_keys], t, ret_error);
		if (rc < 0)
			goto out;
		r->n_keys++;
	}
	if (r->n_keys == 0)
		rc = errorf(ret_error, -EINVAL, "no keys: name key IDs, ARNs, globs, aliases, account:ID, region:NAME or *");
out:
	free(copy);
	return rc;
}

int policy_add_rule(struct policy *p, bool deny, const char *text, const char *origin, char **ret_error,
		    char **ret_warning)
{
	struct rule r = { .deny = deny };
	char *error = NULL, *warning = NULL;
	int rc;

	assert(p && text && origin && ret_warning);
	*ret_warning = NULL;
	if (p->n_rules >= POLICY_MAX_RULES)
		return errorf(ret_error, -EINVAL, "%s: more than %d rules", origin, POLICY_MAX_RULES);
	r.origin = strdup(origin);
	r.text = strdup(text);
	if (!r.origin || !r.text) {
		rule_done(&r);
		return -ENOMEM;
	}
	rc = parse_rule(&r, text, &error, &warning);
	if (rc == 0) {
		struct rule *rules = realloc(p->rules, (p->n_rules + 1) * sizeof(*rules));
		if (rules) {
			p->rules = rules;
			p->rules[p->n_rules++] = r;
			*ret_warning = warning;
			return 0;
		}
		rc = -ENOMEM;
	}
	rule_done(&r);
	free(warning);
	/* A rule's parsers return -EINVAL with a message; without one, it was
	 * the message that ran out of memory. */
	if (rc == -EINVAL && !error)
		rc = -ENOMEM;
	if (error)
		errorf(ret_error, rc, "%s: %s=%s: %s", origin, deny ? "Deny" : "Allow", text, error);
	free(error);
	return rc;
}

/* A match that may depend on what is unknown (policy.h, "Fail closed"). */
enum match {
	MATCH_NO,
	MATCH_YES,
	MATCH_MAYBE,
};

static enum match match_of(bool b)
{
	return b ? MATCH_YES : MATCH_NO;
}

static enum match who_matches(const struct rule *r, const struct policy_subject *s)
{
	switch (r->who) {
	case WHO_ANYONE:
		return MATCH_YES;
	case WHO_USER:
		return match_of(s->uid == (uid_t)r->id);
	case WHO_GROUP:
		if (s->gid == (gid_t)r->id)
			return MATCH_YES;
		for (size_t i = 0; i < s->n_groups; i++)
			if (s->groups[i] == (gid_t)r->id)
				return MATCH_YES;
		return s->groups_known ? MATCH_NO : MATCH_MAYBE;
	case WHO_NOBODY:
	default:
		return MATCH_NO;
	}
}

/* The ARN a key resolves to into buf, or false when it cannot be built (a
 * bare key ID whose region or account is unknown).  The partition of a
 * bare key ID is its region's. */
static bool key_arn(const struct policy_object *o, char *buf, size_t size)
{
	const struct keyid *k = o->key;

	if (!k)
		return false;
	if (k->kind == KEYID_KIND_ARN)
		snprintf(buf, size, "arn:%s:kms:%s:%s:key/%s", k->partition, k->region, k->account, k->id);
	else if (o->region && o->account)
		snprintf(buf, size, "arn:%s:kms:%s:%s:key/%s", endpoint_partition_for_region(o->region), o->region,
			 o->account, k->id);
	else
		return false;
	return true;
}

/* arn is NULL when the key's ARN cannot be built.  The alias view (o->alias
 * set) matches alias rules and what is not about one key (*, account:,
 * region:); the key view matches the rest, every key pattern a maybe while
 * the key is unknown (o->key NULL: an alias not resolved yet). */
static enum match key_matches(const struct key_spec *spec, const struct policy_object *o, const char *arn)
{
	const struct keyid *k = o->key;
	const char *region = k && k->kind == KEYID_KIND_ARN ? k->region : o->region;
	const char *account = k && k->kind == KEYID_KIND_ARN ? k->account : o->account;

	if (spec->kind == KEY_ALIAS)
		return o->alias ? match_of(fnmatch(spec->value, o->alias, 0) == 0) : MATCH_NO;
	if (spec->kind == KEY_PATTERN && o->alias)
		return MATCH_NO;
	if (spec->kind == KEY_PATTERN && !k)
		return MATCH_MAYBE;
	switch (spec->kind) {
	case KEY_ANY:
		return MATCH_YES;
	case KEY_ACCOUNT:
		return account ? match_of(strcmp(spec->value, account) == 0) : MATCH_MAYBE;
	case KEY_REGION:
		return region ? match_of(strcmp(spec->value, region) == 0) : MATCH_MAYBE;
	case KEY_ALIAS:
		return MATCH_NO; /* above */
	case KEY_PATTERN:
		/* A bare key ID in the rule matches that key in any form; a
		 * pattern that starts with arn: matches the resolved ARN. */
		if (fnmatch(spec->value, k->id, 0) == 0)
			return MATCH_YES;
		if (strncmp(spec->value, "arn:", 4) != 0)
			return MATCH_NO;
		return arn ? match_of(fnmatch(spec->value, arn, 0) == 0) : MATCH_MAYBE;
	}
	return MATCH_NO;
}

/* WHO and OPERATIONS and any of KEYS (not consulted for status). */
static enum match rule_matches(const struct rule *r, const struct policy_subject *s, unsigned op,
			       const struct policy_object *o, const char *arn)
{
	enum match who, keys = MATCH_NO;

	if (!(r->ops & op))
		return MATCH_NO;
	who = who_matches(r, s);
	if (who == MATCH_NO)
		return MATCH_NO;
	if (op == POLICY_OP_STATUS)
		return who;
	for (size_t j = 0; j < r->n_keys && keys != MATCH_YES; j++) {
		enum match m = key_matches(&r->keys[j], o, arn);
		if (m != MATCH_NO)
			keys = m;
	}
	if (keys == MATCH_NO)
		return MATCH_NO;
	return who == MATCH_YES && keys == MATCH_YES ? MATCH_YES : MATCH_MAYBE;
}

/* The first rule that matches op, or NULL (default deny).  pessimistic: a
 * maybe matches if it is a Deny; otherwise if it is an Allow. */
static const struct rule *first_match(const struct policy *p, const struct policy_subject *s, unsigned op,
				      const struct policy_object *o, const char *arn, bool pessimistic)
{
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct rule *r = &p->rules[i];
		enum match m = rule_matches(r, s, op, o, arn);

		if (m == MATCH_YES || (m == MATCH_MAYBE && r->deny == pessimistic))
			return r;
	}
	return NULL;
}

/* One evaluation of every operation in ops: true if each is allowed.
 * *ret_rule: the rule that denied, or the last one that allowed. */
static bool evaluate(const struct policy *p, const struct policy_subject *s, unsigned ops,
		     const struct policy_object *o, const char *arn, bool pessimistic, const char **ret_rule)
{
	const char *decided = "default";

	for (unsigned op = 1; op <= POLICY_OP_STATUS; op <<= 1) {
		const struct rule *r;

		if (!(ops & op))
			continue;
		r = first_match(p, s, op, o, arn, pessimistic);
		if (!r || r->deny) {
			*ret_rule = r ? r->origin : "default";
			return false;
		}
		decided = r->origin;
	}
	*ret_rule = decided;
	return true;
}

const char *policy_verdict_to_string(enum policy_verdict v)
{
	switch (v) {
	case POLICY_DENY:
		return "deny";
	case POLICY_ALLOW:
		return "allow";
	case POLICY_UNDECIDED:
		return "undecided";
	}
	return NULL;
}

enum policy_verdict policy_decide(const struct policy *p, const struct policy_subject *s, unsigned ops,
				  const struct policy_object *o, const char **ret_rule)
{
	const char *pessimistic_rule, *optimistic_rule, *rule;
	enum policy_verdict v;
	char buf[256];
	const char *arn = NULL;

	assert(p && s);
	if (s->uid == 0 && (p->allow_root || ops == POLICY_OP_STATUS)) {
		if (ret_rule)
			*ret_rule = "root";
		return POLICY_ALLOW;
	}
	if (!ops || (ops & ~(POLICY_OP_ALL | POLICY_OP_STATUS)) || (!o && ops != POLICY_OP_STATUS)) {
		if (ret_rule)
			*ret_rule = "default";
		return POLICY_DENY;
	}
	if (o && key_arn(o, buf, sizeof(buf)))
		arn = buf;
	/* Pessimistic allows only if optimistic does (a maybe Allow that
	 * matches only optimistically comes before anything else the
	 * pessimistic pass finds), so three outcomes remain. */
	if (evaluate(p, s, ops, o, arn, true, &pessimistic_rule))
		v = POLICY_ALLOW, rule = pessimistic_rule;
	else if (!evaluate(p, s, ops, o, arn, false, &optimistic_rule))
		v = POLICY_DENY, rule = optimistic_rule;
	else
		v = POLICY_UNDECIDED, rule = pessimistic_rule;
	if (ret_rule)
		*ret_rule = rule;
	return v;
}

/* One view's verdict, with whether a Deny rule (not the default) decides
 * it: surely (explicit) or possibly (maybe_explicit). */
struct view {
	enum policy_verdict v;
	bool explicit_deny, maybe_explicit_deny;
	const char *rule, *deny_rule;
};

static struct view view_of(const struct policy *p, const struct policy_subject *s, unsigned ops,
			   const struct policy_object *o, const char *arn)
{
	struct view w = {0};
	const char *pess_rule, *opt_rule;
	bool pess = evaluate(p, s, ops, o, arn, true, &pess_rule);
	bool opt = evaluate(p, s, ops, o, arn, false, &opt_rule);

	w.v = pess ? POLICY_ALLOW : opt ? POLICY_UNDECIDED : POLICY_DENY;
	w.rule = pess ? pess_rule : opt_rule;
	/* The pessimistic pass finds every Deny that may match; the
	 * optimistic one only those that surely do. */
	w.maybe_explicit_deny = !pess && strcmp(pess_rule, "default") != 0;
	w.explicit_deny = !opt && strcmp(opt_rule, "default") != 0;
	w.deny_rule = pess ? NULL : pess_rule;
	return w;
}

/* policy.h */
enum policy_verdict policy_decide_alias(const struct policy *p, const struct policy_subject *s, unsigned ops,
					const char *alias, const struct policy_object *o, const char **ret_rule)
{
	struct policy_object ao = {.region = o->region, .account = o->account, .alias = alias};
	struct policy_object ko = {.key = o->key, .region = o->region, .account = o->account};
	struct view a, k;
	char buf[256];
	const char *rule;
	enum policy_verdict v;

	assert(p && s && o && alias);
	if (s->uid == 0 && p->allow_root) {
		if (ret_rule)
			*ret_rule = "root";
		return POLICY_ALLOW;
	}
	if (!ops || (ops & ~POLICY_OP_ALL)) {
		if (ret_rule)
			*ret_rule = "default";
		return POLICY_DENY;
	}
	a = view_of(p, s, ops, &ao, NULL);
	k = view_of(p, s, ops, &ko, key_arn(&ko, buf, sizeof(buf)) ? buf : NULL);
	if (a.explicit_deny || k.explicit_deny) {
		v = POLICY_DENY, rule = a.explicit_deny ? a.rule : k.rule;
	} else if (a.v == POLICY_DENY && k.v == POLICY_DENY) {
		v = POLICY_DENY, rule = "default";
	} else if ((a.v == POLICY_ALLOW || k.v == POLICY_ALLOW) && !a.maybe_explicit_deny && !k.maybe_explicit_deny) {
		v = POLICY_ALLOW, rule = a.v == POLICY_ALLOW ? a.rule : k.rule;
	} else {
		v = POLICY_UNDECIDED;
		rule = a.maybe_explicit_deny ? a.deny_rule : k.deny_rule ? k.deny_rule : "default";
	}
	if (ret_rule)
		*ret_rule = rule;
	return v;
}

bool policy_check(const struct policy *p, const struct policy_subject *s, unsigned ops, const struct policy_object *o,
		  const char **ret_rule)
{
	return policy_decide(p, s, ops, o, ret_rule) == POLICY_ALLOW;
}

/* Whether field (0: "arn", 3: the region, 4: the account) of an ARN
 * pattern may read value: no when the field is written out and differs.
 * A glob before the field's end could shift the fields ('*' matches ':'),
 * so it may. */
static bool arn_field_may_be(const char *pattern, unsigned field, const char *value)
{
	const char *p = pattern;
	size_t n;

	if (!value || strncmp(pattern, "arn:", 4) != 0)
		return true; /* a bare key ID is a key of any account and region */
	for (unsigned i = 0; i < field; i++) {
		p = strchr(p, ':');
		if (!p)
			return true;
		p++;
	}
	n = strcspn(p, ":");
	for (const char *q = pattern; q < p + n; q++)
		if (strchr("*?[\\", *q))
			return true;
	return strlen(value) == n && strncmp(p, value, n) == 0;
}

/* Whether some key of account in region (NULL: any) could match spec. */
static bool spec_may_match_in(const struct key_spec *k, const char *account, const char *region)
{
	switch (k->kind) {
	case KEY_ACCOUNT:
		return !account || strcmp(k->value, account) == 0;
	case KEY_REGION:
		return !region || strcmp(k->value, region) == 0;
	case KEY_PATTERN:
		return arn_field_may_be(k->value, 3, region) && arn_field_may_be(k->value, 4, account);
	case KEY_ANY:
	case KEY_ALIAS: /* an alias may name a key of any account */
	default:
		return true;
	}
}

/* Whether spec surely covers every key of account in region (NULL: any). */
static bool spec_covers(const struct key_spec *k, const char *account, const char *region)
{
	return k->kind == KEY_ANY || (k->kind == KEY_ACCOUNT && account && strcmp(k->value, account) == 0) ||
	       (k->kind == KEY_REGION && region && strcmp(k->value, region) == 0);
}

/* policy.h */
bool policy_may_describe_in(const struct policy *p, const struct policy_subject *s, const char *account,
			    const char *region)
{
	assert(p && s);
	if (s->uid == 0 && p->allow_root)
		return true;
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct rule *r = &p->rules[i];
		enum match who = r->ops & POLICY_OP_DESCRIBE ? who_matches(r, s) : MATCH_NO;
		bool may = false, covers = false;

		if (who == MATCH_NO)
			continue;
		for (size_t j = 0; j < r->n_keys; j++) {
			may |= spec_may_match_in(&r->keys[j], account, region);
			covers |= spec_covers(&r->keys[j], account, region);
		}
		if (!r->deny && may)
			return true; /* some key may match it: the keys decide */
		/* A Deny of every key there that surely applies shadows every
		 * rule after it; any other Deny leaves keys to later rules. */
		if (r->deny && who == MATCH_YES && covers)
			return false;
	}
	return false;
}

bool policy_may_describe_any(const struct policy *p, const struct policy_subject *s)
{
	return policy_may_describe_in(p, s, NULL, NULL);
}

size_t policy_n_rules(const struct policy *p)
{
	return p->n_rules;
}

static const char *ops_string(unsigned ops, char *buf, size_t size)
{
	static const char *const names[] = {"cancel", "enable", "describe", "status"};
	size_t n = 0;

	if ((ops & POLICY_OP_ALL) == POLICY_OP_ALL && !(ops & POLICY_OP_STATUS))
		return "do anything but status";
	buf[0] = '\0';
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ops & (1u << i))
			n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s", n ? "," : "", names[i]);
	return buf;
}

int policy_describe_rule(const struct policy *p, size_t i, char **ret)
{
	const struct rule *r;
	char who[64], opsbuf[48];

	assert(p && ret);
	if (i >= p->n_rules)
		return -EINVAL;
	r = &p->rules[i];
	switch (r->who) {
	case WHO_ANYONE:
		snprintf(who, sizeof(who), "anyone who can reach the socket");
		break;
	case WHO_USER:
		snprintf(who, sizeof(who), "uid %lu", r->id);
		break;
	case WHO_GROUP:
		snprintf(who, sizeof(who), "members of gid %lu", r->id);
		break;
	case WHO_NOBODY:
		snprintf(who, sizeof(who), "nobody (unknown name)");
		break;
	}
	/* The rule's own key list says the rest best. */
	const char *keys = r->text;
	for (int field = 0; field < 2 && keys; field++) {
		keys += strcspn(keys, " \t");
		keys += strspn(keys, " \t");
	}
	if (asprintf(ret, "%s: %s %s %s on %s", r->origin, who, r->deny ? "may not" : "may",
		     ops_string(r->ops, opsbuf, sizeof(opsbuf)),
		     keys && *keys ? keys : "?") < 0)
		return -ENOMEM;
	return 0;
}

/* getpwuid_r() with a buffer grown on ERANGE up to POLICY_PW_BUFFER_MAX:
 * 0 with *ret_name (malloc'ed) or NULL when uid has no entry, or a
 * negative errno when the lookup failed (then the groups are unknown). */
static int lookup_user_name(uid_t uid, char **ret_name)
{
	size_t size = 4096;

	for (;;) {
		struct passwd pw, *found = NULL;
		char *buf = malloc(size);
		int r;

		if (!buf)
			return -ENOMEM;
		r = getpwuid_r(uid, &pw, buf, size, &found);
		if (r == 0) {
			*ret_name = found ? strdup(found->pw_name) : NULL;
			free(buf);
			return found && !*ret_name ? -ENOMEM : 0;
		}
		free(buf);
		if (r != ERANGE || size >= POLICY_PW_BUFFER_MAX)
			return -r;
		size *= 2;
	}
}

int policy_lookup_groups(uid_t uid, gid_t gid, gid_t **ret, size_t *ret_n)
{
	char *name = NULL;
	gid_t *groups;
	int n = 32, r;

	r = lookup_user_name(uid, &name);
	if (r < 0)
		return r;
	if (!name) {
		/* A uid without a passwd entry has no name to be a member
		 * by: its primary group only. */
		groups = malloc(sizeof(*groups));
		if (!groups)
			return -ENOMEM;
		groups[0] = gid;
		*ret = groups;
		*ret_n = 1;
		return 0;
	}
	for (;;) {
		int want = n;

		groups = malloc((size_t)n * sizeof(*groups));
		if (!groups) {
			r = -ENOMEM;
			break;
		}
		if (getgrouplist(name, gid, groups, &want) >= 0) {
			*ret = groups;
			*ret_n = (size_t)want;
			r = 0;
			break;
		}
		free(groups);
		if (want <= n || want > POLICY_MAX_GROUPS) {
			r = -E2BIG;
			break;
		}
		n = want;
	}
	free(name);
	return r;
}

/* --- the groups cache ---------------------------------------------------------------------- */

struct groups_entry {
	uid_t uid;
	gid_t gid;
	uint64_t expires_ms;
	gid_t *groups;
	size_t n_groups;
};

struct policy_groups_cache {
	uint64_t (*now_ms)(void);
	struct groups_entry entries[POLICY_GROUPS_CACHE_MAX];
	size_t n_entries;
	unsigned long lookups, hits;
};

struct policy_groups_cache *policy_groups_cache_new(uint64_t (*now_ms)(void))
{
	struct policy_groups_cache *c = calloc(1, sizeof(*c));

	if (c)
		c->now_ms = now_ms ? now_ms : monotime_msec;
	return c;
}

void policy_groups_cache_clear(struct policy_groups_cache *c)
{
	for (size_t i = 0; i < c->n_entries; i++) {
		free(c->entries[i].groups);
		c->entries[i] = (struct groups_entry){ 0 };
	}
	c->n_entries = 0;
}

struct policy_groups_cache *policy_groups_cache_free(struct policy_groups_cache *c)
{
	if (!c)
		return NULL;
	policy_groups_cache_clear(c);
	free(c);
	return NULL;
}

/* The slot for a new entry: a free one, else an expired one, else the one
 * that expires first (the oldest: every entry lives the same time). */
static struct groups_entry *groups_slot(struct policy_groups_cache *c)
{
	struct groups_entry *oldest;

	if (c->n_entries < POLICY_GROUPS_CACHE_MAX)
		return &c->entries[c->n_entries++]; /* zeroed: never used, or cleared */
	oldest = &c->entries[0];
	for (size_t i = 1; i < c->n_entries; i++)
		if (c->entries[i].expires_ms < oldest->expires_ms)
			oldest = &c->entries[i];
	free(oldest->groups);
	oldest->groups = NULL;
	return oldest;
}

int policy_groups_cache_get(struct policy_groups_cache *c, uid_t uid, gid_t gid, const gid_t **ret,
			    size_t *ret_n)
{
	uint64_t now = c->now_ms();
	struct groups_entry *e = NULL;
	gid_t *groups;
	size_t n;
	int r;

	c->lookups++;
	for (size_t i = 0; i < c->n_entries; i++)
		if (c->entries[i].uid == uid && c->entries[i].gid == gid) {
			e = &c->entries[i];
			break;
		}
	if (e && now < e->expires_ms) {
		c->hits++;
		*ret = e->groups;
		*ret_n = e->n_groups;
		return 0;
	}
	r = policy_lookup_groups(uid, gid, &groups, &n);
	if (r < 0)
		return r;
	if (!e)
		e = groups_slot(c);
	free(e->groups);
	*e = (struct groups_entry){ uid, gid, now + POLICY_GROUPS_CACHE_MS, groups, n };
	*ret = e->groups;
	*ret_n = e->n_groups;
	return 0;
}

void policy_groups_cache_stats(const struct policy_groups_cache *c, unsigned long *ret_lookups,
			       unsigned long *ret_hits)
{
	*ret_lookups = c->lookups;
	*ret_hits = c->hits;
}
