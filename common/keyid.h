/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * KMS KeyId validation, as CancelKeyDeletion and EnableKey accept it
 * (reference/AWS.md §2):
 *
 *   key ID             1234abcd-12ab-34cd-56ef-1234567890ab   (8-4-4-4-12 hex)
 *   multi-Region ID    mrk-1234abcd12ab34cd56ef1234567890ab   ("mrk-" + 32 hex)
 *   key ARN            arn:<partition>:kms:<region>:<12-digit account>:key/<key ID or mrk ID>
 *
 * Partitions: aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e,
 * aws-iso-f, aws-eusc.  Regions: [a-z0-9-], starting with a letter, not
 * ending with '-', at most KEYID_REGION_MAX characters.
 *
 * Hex digits: KMS emits lower case; we accept either case and fold the parsed
 * fields to lower case (the "mrk-", "arn:" and "key/" literals must be lower
 * case, as AWS writes them).  Aliases ("alias/…", "arn:…:alias/…") are not
 * key IDs: keyid_parse() refuses them with a reason saying they are aliases
 * (CancelKeyDeletion and EnableKey do not take them), and
 * keyid_alias_parse() reads them apart: the daemon resolves an alias with
 * DescribeKey (which takes them) before acting on the key.
 * No I/O, no allocation.
 */
#include <stdbool.h>
#include <stddef.h>

#define KEYID_MAX           2048U /* KeyIdType's length limit in the KMS model */
#define KEYID_REGION_MAX    32U   /* longest real region is 14; room to grow */
#define KEYID_ID_MAX        36U   /* both id forms are 36 characters */
#define KEYID_PARTITION_MAX 10U

enum keyid_kind {
	KEYID_KIND_ID,  /* bare key ID */
	KEYID_KIND_MRK, /* bare multi-Region key ID */
	KEYID_KIND_ARN, /* key ARN; .multi_region tells which ID it holds */
	_KEYID_KIND_MAX,
};

struct keyid {
	enum keyid_kind kind;
	bool multi_region;                       /* the ID is an mrk- ID */
	char partition[KEYID_PARTITION_MAX + 1]; /* "" unless an ARN */
	char region[KEYID_REGION_MAX + 1];       /* "" unless an ARN */
	char account[13];                        /* "" unless an ARN */
	char id[KEYID_ID_MAX + 1];               /* bare key ID, lower case */
};

/*
 * Parse s (a C string).  Returns 0 and fills *ret, or -EINVAL and sets
 * *ret_reason (when not NULL) to a static, human-readable reason such as
 * "an alias (alias/NAME or an alias ARN), not a key ID or key ARN".
 * *ret is written only on success; *ret_reason only on failure.
 */
int keyid_parse(const char *s, struct keyid *ret, const char **ret_reason);

/* The same for s[0..len), which may contain NUL bytes (from JSON "\u0000"):
 * those are refused, never truncated. */
int keyid_parse_n(const char *s, size_t len, struct keyid *ret, const char **ret_reason);

/* Shorthand: true if keyid_parse() would succeed. */
bool keyid_is_valid(const char *s);

/* What an ARN's account and region fields accept, for the account and
 * region of a bare key ID given apart (kmscancel --account/--region, the
 * library's options): 12 digits; lower-case letters, digits and dashes,
 * starting with a letter, not ending with a dash, at most KEYID_REGION_MAX. */
bool keyid_account_is_valid(const char *s);
bool keyid_region_is_valid(const char *s);

/* "id", "mrk", "arn". */
const char *keyid_kind_to_string(enum keyid_kind k);

/* True if p is one of the partitions above. */
bool keyid_partition_is_known(const char *p);

/*
 * An alias, as DescribeKey accepts it (reference/AWS.md §2):
 *
 *   alias name   alias/NAME                                     (NAME: 1-250 of
 *   alias ARN    arn:<partition>:kms:<region>:<account>:alias/NAME   [A-Za-z0-9/_-])
 *
 * Alias names are case-sensitive: nothing is folded.  name holds
 * "alias/NAME"; partition, region and account are "" unless an ARN.
 */
#define KEYID_ALIAS_MAX 256U /* "alias/" and 250 characters */

struct keyid_alias {
	bool arn;
	char partition[KEYID_PARTITION_MAX + 1];
	char region[KEYID_REGION_MAX + 1];
	char account[13];
	char name[KEYID_ALIAS_MAX + 1];
};

/* 0 and *ret filled, or -EINVAL (s[0..len) is not an alias) with
 * *ret_reason (when not NULL) a static reason.  NUL bytes are refused. */
int keyid_alias_parse_n(const char *s, size_t len, struct keyid_alias *ret, const char **ret_reason);
int keyid_alias_parse(const char *s, struct keyid_alias *ret, const char **ret_reason);
