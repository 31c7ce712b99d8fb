/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Where a KMS request goes: https://kms[-fips].<region>.<partition suffix>
 * (AWS.md §5), unless an endpoint URL overrides it.
 */
#include <stdbool.h>

/* The partition a region belongs to ("aws", "aws-cn", "aws-us-gov", …),
 * by its prefix; "aws" for anything not recognised. */
const char *endpoint_partition_for_region(const char *region);

/* DNS suffix of a partition, or NULL for an unknown partition. */
const char *endpoint_partition_suffix(const char *partition);

/* True when region is a plausible AWS region name ("us-east-1"): lower-case
 * letters, digits and dashes, 1..32 chars.  Used to refuse garbage before it
 * becomes part of a host name. */
bool endpoint_region_valid(const char *region);

/* The KMS endpoint URL for partition (NULL: derived from region) and region;
 * fips selects kms-fips.  Returns 0, -EINVAL (bad region or partition), or
 * -ENOMEM.  *ret is malloc'ed. */
int endpoint_kms_url(const char *partition, const char *region, bool fips, char **ret);
