/* SPDX-License-Identifier: MIT */
#include "keyid.h"

#include <errno.h>
#include <string.h>

static const char *const partitions[] = {
    "aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc", NULL,
};

static const char *const kind_names[_KEYID_KIND_MAX] = {
    [KEYID_KIND_ID] = "id",
    [KEYID_KIND_MRK] = "mrk",
    [KEYID_KIND_ARN] = "arn",
};

/* What keyid_parse() says of an alias: true whether or not its caller takes
 * aliases (the daemon and the CLI then read it with keyid_alias_parse()). */
#define R_ALIAS      "an alias (alias/NAME or an alias ARN), not a key ID or key ARN"
#define R_ALIAS_BARE "an alias ARN ends in alias/NAME, not alias alone"
#define R_SHAPE                                                                                                        \
	"not a key ID (8-4-4-4-12 hex digits), a multi-Region key ID (mrk- and 32 hex digits) or a key ARN "           \
	"(arn:PARTITION:kms:REGION:ACCOUNT:key/KEY-ID)"

const char *keyid_kind_to_string(enum keyid_kind k)
{
	return (unsigned)k < _KEYID_KIND_MAX ? kind_names[k] : NULL;
}

bool keyid_partition_is_known(const char *p)
{
	for (size_t i = 0; p && partitions[i]; i++)
		if (strcmp(p, partitions[i]) == 0)
			return true;
	return false;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(s, prefix, n) == 0;
}

/* Copy s[0..len) to out as lower case and terminate it; len < out size. */
static void copy_lower(char *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	out[len] = '\0';
}

/* 8-4-4-4-12 hex digits. */
static bool is_key_id(const char *s, size_t len)
{
	if (len != 36)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !is_hex(s[i]))
			return false;
	}
	return true;
}

/* "mrk-" + 32 hex digits. */
static bool is_mrk_id(const char *s, size_t len)
{
	if (len != 36 || !starts_with(s, len, "mrk-"))
		return false;
	for (size_t i = 4; i < len; i++)
		if (!is_hex(s[i]))
			return false;
	return true;
}

/* Parse a bare ID of either form into k->id and k->multi_region. */
static int parse_bare_id(const char *s, size_t len, struct keyid *k, const char **reason)
{
	if (is_key_id(s, len))
		k->multi_region = false;
	else if (is_mrk_id(s, len))
		k->multi_region = true;
	else {
		*reason =
		    starts_with(s, len, "mrk-") ? "a multi-Region key ID is mrk- followed by 32 hex digits" : R_SHAPE;
		return -EINVAL;
	}
	copy_lower(k->id, s, len);
	return 0;
}

/* Lowercase letters, digits and dashes, starting with a letter, not ending
 * with a dash. */
static bool is_region(const char *s, size_t len)
{
	if (len == 0 || len > KEYID_REGION_MAX || !(s[0] >= 'a' && s[0] <= 'z') || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static bool is_account(const char *s, size_t len)
{
	if (len != 12)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool keyid_account_is_valid(const char *s)
{
	return s && is_account(s, strlen(s));
}

bool keyid_region_is_valid(const char *s)
{
	return s && is_region(s, strlen(s));
}

/* Split an ARN into its six fields (the resource keeps any further ':'). */
static int split_arn(const char *s, size_t len, const char *f[6], size_t n[6])
{
	size_t field = 0, start = 0;

	for (size_t i = 0; i < len && field < 5; i++) {
		if (s[i] != ':')
			continue;
		f[field] = s + start;
		n[field] = i - start;
		field++;
		start = i + 1;
	}
	if (field < 5)
		return -EINVAL;
	f[5] = s + start;
	n[5] = len - start;
	return 0;
}

static int parse_partition(const char *s, size_t len, struct keyid *k, const char **reason)
{
	char p[KEYID_PARTITION_MAX + 1];

	if (len > KEYID_PARTITION_MAX)
		goto bad;
	memcpy(p, s, len);
	p[len] = '\0';
	if (!keyid_partition_is_known(p))
		goto bad;
	memcpy(k->partition, p, len + 1);
	return 0;
bad:
	*reason = "unknown ARN partition (expected aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, "
		  "aws-iso-f or aws-eusc)";
	return -EINVAL;
}

/* arn:PARTITION:kms:REGION:ACCOUNT:key/ID */
static int parse_arn(const char *s, size_t len, struct keyid *k, const char **reason)
{
	const char *f[6];
	size_t n[6];
	int r;

	if (split_arn(s, len, f, n) < 0) {
		*reason = "malformed ARN: expected arn:PARTITION:kms:REGION:ACCOUNT:key/KEY-ID";
		return -EINVAL;
	}
	if (starts_with(f[5], n[5], "alias/")) {
		*reason = R_ALIAS;
		return -EINVAL;
	}
	if (n[5] == 5 && memcmp(f[5], "alias", 5) == 0) {
		*reason = R_ALIAS_BARE;
		return -EINVAL;
	}
	r = parse_partition(f[1], n[1], k, reason);
	if (r < 0)
		return r;
	if (n[2] != 3 || memcmp(f[2], "kms", 3) != 0) {
		*reason = "not a KMS ARN: the service field must be kms";
		return -EINVAL;
	}
	if (!is_region(f[3], n[3])) {
		*reason = n[3] == 0 ? "the ARN has no region" : "invalid region in the ARN";
		return -EINVAL;
	}
	if (!is_account(f[4], n[4])) {
		*reason = n[4] == 0 ? "the ARN has no account ID" : "the account ID in an ARN must be 12 digits";
		return -EINVAL;
	}
	if (!starts_with(f[5], n[5], "key/")) {
		*reason = "the ARN's resource must be key/KEY-ID";
		return -EINVAL;
	}
	r = parse_bare_id(f[5] + 4, n[5] - 4, k, reason);
	if (r < 0) {
		*reason = "invalid key ID in the ARN";
		return r;
	}
	copy_lower(k->region, f[3], n[3]);
	copy_lower(k->account, f[4], n[4]);
	k->kind = KEYID_KIND_ARN;
	return 0;
}

/* Reject what can never be a key ID before looking at its shape. */
static int check_chars(const char *s, size_t len, const char **reason)
{
	if (len == 0) {
		*reason = "empty key ID";
		return -EINVAL;
	}
	if (len > KEYID_MAX) {
		*reason = "key ID longer than 2048 characters";
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == 0) {
			*reason = "key ID contains a NUL byte";
			return -EINVAL;
		}
		if (c <= ' ' || c == 0x7f) {
			*reason = "key ID contains whitespace or control characters";
			return -EINVAL;
		}
		if (c >= 0x80) {
			*reason = "key ID contains non-ASCII characters";
			return -EINVAL;
		}
	}
	return 0;
}

int keyid_parse_n(const char *s, size_t len, struct keyid *ret, const char **ret_reason)
{
	struct keyid k = {0};
	const char *reason = NULL;
	int r;

	if (!s) {
		reason = "no key ID";
		r = -EINVAL;
		goto out;
	}
	r = check_chars(s, len, &reason);
	if (r < 0)
		goto out;
	if (starts_with(s, len, "alias/")) {
		reason = R_ALIAS;
		r = -EINVAL;
	} else if (starts_with(s, len, "arn:"))
		r = parse_arn(s, len, &k, &reason);
	else {
		r = parse_bare_id(s, len, &k, &reason);
		k.kind = k.multi_region ? KEYID_KIND_MRK : KEYID_KIND_ID;
	}
out:
	if (r < 0) {
		if (ret_reason)
			*ret_reason = reason;
		return r;
	}
	*ret = k;
	return 0;
}

int keyid_parse(const char *s, struct keyid *ret, const char **ret_reason)
{
	/* strnlen bounds the scan for absurdly long input; anything past
	 * KEYID_MAX is refused anyway. */
	return keyid_parse_n(s, s ? strnlen(s, KEYID_MAX + 1) : 0, ret, ret_reason);
}

bool keyid_is_valid(const char *s)
{
	struct keyid k;

	return keyid_parse(s, &k, NULL) == 0;
}

/* "alias/" and 1-250 of [A-Za-z0-9/_-]. */
static bool is_alias_name(const char *s, size_t len)
{
	if (!starts_with(s, len, "alias/") || len == 6 || len > KEYID_ALIAS_MAX)
		return false;
	for (size_t i = 6; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

#define R_ALIAS_SHAPE                                                                                                  \
	"not an alias (alias/NAME, NAME of letters, digits, '/', '_' and '-', at most 250) or an alias ARN "           \
	"(arn:PARTITION:kms:REGION:ACCOUNT:alias/NAME)"

/* arn:PARTITION:kms:REGION:ACCOUNT:alias/NAME */
static int parse_alias_arn(const char *s, size_t len, struct keyid_alias *a, const char **reason)
{
	struct keyid k = {0};
	const char *f[6];
	size_t n[6];

	*reason = R_ALIAS_SHAPE;
	if (split_arn(s, len, f, n) < 0 || !is_alias_name(f[5], n[5]))
		return -EINVAL;
	if (parse_partition(f[1], n[1], &k, reason) < 0)
		return -EINVAL;
	if (n[2] != 3 || memcmp(f[2], "kms", 3) != 0 || !is_region(f[3], n[3]) || !is_account(f[4], n[4])) {
		*reason = R_ALIAS_SHAPE;
		return -EINVAL;
	}
	a->arn = true;
	memcpy(a->partition, k.partition, sizeof(a->partition));
	memcpy(a->region, f[3], n[3]);
	a->region[n[3]] = '\0';
	memcpy(a->account, f[4], n[4]);
	a->account[n[4]] = '\0';
	memcpy(a->name, f[5], n[5]);
	a->name[n[5]] = '\0';
	return 0;
}

int keyid_alias_parse_n(const char *s, size_t len, struct keyid_alias *ret, const char **ret_reason)
{
	struct keyid_alias a = {0};
	const char *reason = R_ALIAS_SHAPE;
	int r = -EINVAL;

	if (s && check_chars(s, len, &reason) == 0) {
		if (starts_with(s, len, "arn:"))
			r = parse_alias_arn(s, len, &a, &reason);
		else if (is_alias_name(s, len)) {
			memcpy(a.name, s, len);
			a.name[len] = '\0';
			r = 0;
		}
	}
	if (r < 0) {
		if (ret_reason)
			*ret_reason = reason;
		return r;
	}
	*ret = a;
	return 0;
}

int keyid_alias_parse(const char *s, struct keyid_alias *ret, const char **ret_reason)
{
	return keyid_alias_parse_n(s, s ? strnlen(s, KEYID_MAX + 1) : 0, ret, ret_reason);
}
