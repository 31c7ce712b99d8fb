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
	const char *dualstack_suffix; /* partitions.json's dualStackDnsSuffix */
};

/* Order matters: the more specific prefixes come first ("us-gov-" before "us-").
 * Suffixes from botocore's data/partitions.json (1.43.11). */
static const struct partition partitions[] = {
    {"aws-us-gov", "us-gov-", "amazonaws.com", "api.aws"},
    {"aws-iso-b", "us-isob-", "sc2s.sgov.gov", "api.aws.scloud"},
    {"aws-iso-e", "eu-isoe-", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"},
    {"aws-iso-f", "us-isof-", "csp.hci.ic.gov", "api.aws.hci.ic.gov"},
    {"aws-iso", "us-iso-", "c2s.ic.gov", "api.aws.ic.gov"},
    {"aws-cn", "cn-", "amazonaws.com.cn", "api.amazonwebservices.com.cn"},
    {"aws-eusc", "eusc-", "amazonaws.eu", "api.amazonwebservices.eu"},
    {"aws", "", "amazonaws.com", "api.aws"},
};

static const struct partition *partition_find(const char *name)
{
	for (size_t i = 0; i < sizeof(partitions) / sizeof(partitions[0]); i++)
		if (strcmp(name, partitions[i].name) == 0)
			return &partitions[i];
	return NULL;
}

const char *endpoint_partition_for_region(const char *region)
{
	for (size_t i = 0; i < sizeof(partitions) / sizeof(partitions[0]); i++)
		if (strncmp(region, partitions[i].region_prefix, strlen(partitions[i].region_prefix)) == 0)
			return partitions[i].name;
	return "aws";
}

const char *endpoint_partition_suffix(const char *partition)
{
	const struct partition *p = partition_find(partition);

	return p ? p->suffix : NULL;
}

const char *endpoint_partition_dualstack_suffix(const char *partition)
{
	const struct partition *p = partition_find(partition);

	return p ? p->dualstack_suffix : NULL;
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
	return endpoint_kms_url_variant(partition, region, fips ? ENDPOINT_FIPS : 0, ret);
}

int endpoint_kms_url_variant(const char *partition, const char *region, unsigned variant, char **ret)
{
	const struct partition *p;
	char *url;

	if (!endpoint_region_valid(region))
		return -EINVAL;
	p = partition_find(partition ? partition : endpoint_partition_for_region(region));
	if (!p)
		return -EINVAL;
	if (asprintf(&url, "https://kms%s.%s.%s", variant & ENDPOINT_FIPS ? "-fips" : "", region,
		     variant & ENDPOINT_DUALSTACK ? p->dualstack_suffix : p->suffix) < 0)
		return -ENOMEM;
	*ret = url;
	return 0;
}
