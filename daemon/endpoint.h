/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Where a KMS request goes: https://kms[-fips].<region>.<partition suffix>,
 * or with dual-stack (IPv4 and IPv6) the partition's dual-stack suffix
 * (kms.us-east-1.api.aws, kms.cn-north-1.api.amazonwebservices.com.cn),
 * as botocore's KMS endpoint rule set builds them (AWS.md §5), unless an
 * endpoint URL overrides it.
 */
#include <stdbool.h>

/* The partition a region belongs to ("aws", "aws-cn", "aws-us-gov", …),
 * by its prefix; "aws" for anything not recognised. */
const char *endpoint_partition_for_region(const char *region);

/* DNS suffix of a partition, or NULL for an unknown partition. */
const char *endpoint_partition_suffix(const char *partition);
/* Its dual-stack DNS suffix ("api.aws"), or NULL for an unknown partition. */
const char *endpoint_partition_dualstack_suffix(const char *partition);

/* True when region is a plausible AWS region name ("us-east-1"): lower-case
 * letters, digits and dashes, 1..32 chars.  Used to refuse garbage before it
 * becomes part of a host name. */
bool endpoint_region_valid(const char *region);

/* Endpoint variants, or'ed: kms-fips, and the dual-stack DNS suffix. */
enum {
	ENDPOINT_FIPS = 1 << 0,
	ENDPOINT_DUALSTACK = 1 << 1,
};

/* The KMS endpoint URL for partition (NULL: derived from region), region
 * and variant (ENDPOINT_*; every partition has both variants).  Returns 0,
 * -EINVAL (bad region or partition), or -ENOMEM.  *ret is malloc'ed. */
int endpoint_kms_url_variant(const char *partition, const char *region, unsigned variant, char **ret);
/* The same with fips alone. */
int endpoint_kms_url(const char *partition, const char *region, bool fips, char **ret);
