/* SPDX-License-Identifier: MIT */
/* Unit tests of daemon/endpoint.c: KMS endpoint names per partition and
 * variant.  The expected names are what botocore 1.43.11's KMS endpoint
 * rule set (data/kms/2014-11-01/endpoint-rule-set-1.json with
 * data/partitions.json) resolves for UseFIPS / UseDualStack, run offline. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "endpoint.h"

static void expect_url(const char *partition, const char *region, unsigned variant, const char *url)
{
	char *u = NULL;

	assert_int_equal(endpoint_kms_url_variant(partition, region, variant, &u), 0);
	assert_string_equal(u, url);
	free(u);
}

#define FIPS ENDPOINT_FIPS
#define DS   ENDPOINT_DUALSTACK

static void test_dualstack_names(void **state)
{
	expect_url(NULL, "us-east-1", DS, "https://kms.us-east-1.api.aws");
	expect_url(NULL, "us-east-1", DS | FIPS, "https://kms-fips.us-east-1.api.aws");
	expect_url("aws", "eu-west-3", DS, "https://kms.eu-west-3.api.aws");
	expect_url(NULL, "cn-north-1", DS, "https://kms.cn-north-1.api.amazonwebservices.com.cn");
	expect_url("aws-cn", "cn-northwest-1", DS | FIPS,
		   "https://kms-fips.cn-northwest-1.api.amazonwebservices.com.cn");
	expect_url(NULL, "us-gov-west-1", DS, "https://kms.us-gov-west-1.api.aws");
	expect_url(NULL, "us-gov-east-1", DS | FIPS, "https://kms-fips.us-gov-east-1.api.aws");
	expect_url(NULL, "us-iso-east-1", DS, "https://kms.us-iso-east-1.api.aws.ic.gov");
	expect_url(NULL, "us-isob-east-1", DS | FIPS, "https://kms-fips.us-isob-east-1.api.aws.scloud");
	expect_url(NULL, "eusc-de-east-1", DS, "https://kms.eusc-de-east-1.api.amazonwebservices.eu");
}

static void test_plain_names_unchanged(void **state)
{
	expect_url(NULL, "us-east-1", 0, "https://kms.us-east-1.amazonaws.com");
	expect_url(NULL, "us-east-1", FIPS, "https://kms-fips.us-east-1.amazonaws.com");
	expect_url(NULL, "cn-north-1", 0, "https://kms.cn-north-1.amazonaws.com.cn");
	expect_url(NULL, "us-gov-west-1", FIPS, "https://kms-fips.us-gov-west-1.amazonaws.com");
}

static void test_refused(void **state)
{
	char *u = NULL;

	assert_int_equal(endpoint_kms_url_variant(NULL, "us-east-1.evil.example", DS, &u), -EINVAL);
	assert_int_equal(endpoint_kms_url_variant("aws-mars", "us-east-1", DS, &u), -EINVAL);
	assert_null(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dualstack_names),
	    cmocka_unit_test(test_plain_names_unchanged),
	    cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
