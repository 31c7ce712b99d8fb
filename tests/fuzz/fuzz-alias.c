/* SPDX-License-Identifier: MIT */
/*
 * Alias validation (common/keyid.c keyid_alias_parse_n): the daemon runs it
 * on every keyId a client sends that is not a key ID, the CLI on every such
 * argument and batch line, and an alias that parses is put into a DescribeKey
 * request and into audit records.  A parsed alias has well-formed fields,
 * its canonical form parses to the same alias, and nothing is ever both a
 * key ID and an alias.
 */
#include <errno.h>

#include "fuzz.h"
#include "keyid.h"

static bool alias_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n <= 6 || n > KEYID_ALIAS_MAX || strncmp(s, "alias/", 6) != 0)
		return false;
	for (s += 6; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '/' ||
		      *s == '_' || *s == '-'))
			return false;
	return true;
}

static bool same_alias(const struct keyid_alias *a, const struct keyid_alias *b)
{
	return a->arn == b->arn && strcmp(a->name, b->name) == 0 && strcmp(a->partition, b->partition) == 0 &&
	       strcmp(a->region, b->region) == 0 && strcmp(a->account, b->account) == 0;
}

/* The fields of a parsed alias, and its canonical form parsing back to them. */
static void check_alias(const struct keyid_alias *a)
{
	struct keyid_alias again;
	char canon[KEYID_MAX + 1];

	FUZZ_CHECK(alias_name_ok(a->name));
	if (a->arn) {
		FUZZ_CHECK(keyid_partition_is_known(a->partition));
		FUZZ_CHECK(keyid_region_is_valid(a->region));
		FUZZ_CHECK(keyid_account_is_valid(a->account));
		snprintf(canon, sizeof(canon), "arn:%s:kms:%s:%s:%s", a->partition, a->region, a->account, a->name);
	} else {
		FUZZ_CHECK(!a->partition[0] && !a->region[0] && !a->account[0]);
		snprintf(canon, sizeof(canon), "%s", a->name);
	}
	FUZZ_CHECK(keyid_alias_parse(canon, &again, NULL) == 0);
	FUZZ_CHECK(same_alias(&again, a));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keyid_alias a, b;
	struct keyid k;
	const char *reason = NULL, *key_reason = NULL;
	char *s;
	int r;

	r = keyid_alias_parse_n((const char *)data, size, &a, &reason);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r < 0) {
		FUZZ_CHECK(reason && *reason);
	} else {
		check_alias(&a);
		/* An alias is never a key ID, and keyid_parse() says it is an
		 * alias rather than telling the caller to avoid it. */
		FUZZ_CHECK(keyid_parse_n((const char *)data, size, &k, &key_reason) == -EINVAL);
		FUZZ_CHECK(key_reason && strstr(key_reason, "an alias") == key_reason);
	}
	/* The C-string entry point agrees on inputs without NULs. */
	s = fuzz_strndup(data, size);
	if (strlen(s) == size) {
		FUZZ_CHECK((keyid_alias_parse(s, &b, NULL) == 0) == (r == 0));
		FUZZ_CHECK(r < 0 || same_alias(&a, &b));
	}
	free(s);
	return 0;
}
