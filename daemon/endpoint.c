/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "endpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGION_NAME_MAX 32

struct partition {
	const char *name;
	const char *region_prefix; /* regions of this partition start with it */
	const char *suffix;
};

/* Order matters: the more specific prefixes come first ("us-gov-" before "us-"). */
static const struct partition partitions[] = {
	{ "aws-us-gov", "us-gov-", "amazonaws.com" },
	{ "aws-iso-b", "us-isob-", "sc2s.sgov.gov" },
	{ "aws-iso-e", "eu-isoe-", "cloud.adc-e.uk" },
	{ "aws-iso-f", "us-isof-", "csp.hci.ic.gov" },
	{ "aws-iso", "us-iso-", "c2s.ic.gov" },
	{ "aws-cn", "cn-", "amazonaws.com.cn" },
	{ "aws-eusc", "eusc-", "amazonaws.eu" },
	{ "aws", "", "amazonaws.com" },
};

const char *endpoint_partition_for_region(const char *region)
{
	for (size_t i = 0; i < sizeof(partitions) / sizeof(partitions[0]); i++)
		if (strncmp(region, partitions[i].region_prefix, strlen(partitions[i].region_prefix)) == 0)
			return partitions[i].name;
	return "aws";
}

const char *endpoint_partition_suffix(const char *partition)
{
	for (size_t i = 0; i < sizeof(partitions) / sizeof(partitions[0]); i++)
		if (strcmp(partition, partitions[i].name) == 0)
			return partitions[i].suffix;
	return NULL;
}

bool endpoint_region_valid(const char *region)
{
	size_t n = strlen(region);

	if (n == 0 || n > REGION_NAME_MAX || region[0] == '-' || region[n - 1] == '-')
		return false;
	return strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

int endpoint_kms_url(const char *partition, const char *region, bool fips, char **ret)
{
	const char *suffix;
	char *url;

	if (!endpoint_region_valid(region))
		return -EINVAL;
	if (!partition)
		partition = endpoint_partition_for_region(region);
	suffix = endpoint_partition_suffix(partition);
	if (!suffix)
		return -EINVAL;
	if (asprintf(&url, "https://kms%s.%s.%s", fips ? "-fips" : "", region, suffix) < 0)
		return -ENOMEM;
	*ret = url;
	return 0;
}
