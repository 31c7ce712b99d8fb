/* SPDX-License-Identifier: MIT */
/*
 * sts_endpoint_url() against botocore's answers, and the
 * AWS_STS_REGIONAL_ENDPOINTS / sts_regional_endpoints setting.
 *
 * The table was computed once, offline, with botocore 1.43.11 (the pyenv
 * python 3.11 of the build image): an STS client per region with
 * Config(use_fips_endpoint=…) and AWS_STS_REGIONAL_ENDPOINTS set, a
 * before-send hook recording request.url of GetCallerIdentity and
 * answering it locally (nothing was sent).  The rule set it applies is
 * botocore/data/sts/2011-06-15/endpoint-rule-set-1.json.gz.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "aws-settings.h"
#include "sts.h"

#include "aws-test-util.h"

struct row {
	const char *region;
	const char *regional, *regional_fips; /* sts_regional_endpoints = regional (the default) */
	const char *legacy, *legacy_fips;     /* = legacy */
};

#define G "https://sts.amazonaws.com"
static const struct row botocore_1_43[] = {
    {"us-east-1", "https://sts.us-east-1.amazonaws.com", "https://sts-fips.us-east-1.amazonaws.com", G,
     "https://sts-fips.us-east-1.amazonaws.com"},
    {"us-east-2", "https://sts.us-east-2.amazonaws.com", "https://sts-fips.us-east-2.amazonaws.com", G,
     "https://sts-fips.us-east-2.amazonaws.com"},
    {"us-west-1", "https://sts.us-west-1.amazonaws.com", "https://sts-fips.us-west-1.amazonaws.com", G,
     "https://sts-fips.us-west-1.amazonaws.com"},
    {"us-west-2", "https://sts.us-west-2.amazonaws.com", "https://sts-fips.us-west-2.amazonaws.com", G,
     "https://sts-fips.us-west-2.amazonaws.com"},
    {"ca-central-1", "https://sts.ca-central-1.amazonaws.com", "https://sts-fips.ca-central-1.amazonaws.com", G,
     "https://sts-fips.ca-central-1.amazonaws.com"},
    {"ca-west-1", "https://sts.ca-west-1.amazonaws.com", "https://sts-fips.ca-west-1.amazonaws.com",
     "https://sts.ca-west-1.amazonaws.com", "https://sts-fips.ca-west-1.amazonaws.com"},
    {"eu-west-1", "https://sts.eu-west-1.amazonaws.com", "https://sts-fips.eu-west-1.amazonaws.com", G,
     "https://sts-fips.eu-west-1.amazonaws.com"},
    {"eu-west-2", "https://sts.eu-west-2.amazonaws.com", "https://sts-fips.eu-west-2.amazonaws.com", G,
     "https://sts-fips.eu-west-2.amazonaws.com"},
    {"eu-west-3", "https://sts.eu-west-3.amazonaws.com", "https://sts-fips.eu-west-3.amazonaws.com", G,
     "https://sts-fips.eu-west-3.amazonaws.com"},
    {"eu-central-1", "https://sts.eu-central-1.amazonaws.com", "https://sts-fips.eu-central-1.amazonaws.com", G,
     "https://sts-fips.eu-central-1.amazonaws.com"},
    {"eu-north-1", "https://sts.eu-north-1.amazonaws.com", "https://sts-fips.eu-north-1.amazonaws.com", G,
     "https://sts-fips.eu-north-1.amazonaws.com"},
    {"eu-south-1", "https://sts.eu-south-1.amazonaws.com", "https://sts-fips.eu-south-1.amazonaws.com",
     "https://sts.eu-south-1.amazonaws.com", "https://sts-fips.eu-south-1.amazonaws.com"},
    {"ap-northeast-1", "https://sts.ap-northeast-1.amazonaws.com", "https://sts-fips.ap-northeast-1.amazonaws.com", G,
     "https://sts-fips.ap-northeast-1.amazonaws.com"},
    {"ap-northeast-2", "https://sts.ap-northeast-2.amazonaws.com", "https://sts-fips.ap-northeast-2.amazonaws.com",
     "https://sts.ap-northeast-2.amazonaws.com", "https://sts-fips.ap-northeast-2.amazonaws.com"},
    {"ap-northeast-3", "https://sts.ap-northeast-3.amazonaws.com", "https://sts-fips.ap-northeast-3.amazonaws.com",
     "https://sts.ap-northeast-3.amazonaws.com", "https://sts-fips.ap-northeast-3.amazonaws.com"},
    {"ap-south-1", "https://sts.ap-south-1.amazonaws.com", "https://sts-fips.ap-south-1.amazonaws.com", G,
     "https://sts-fips.ap-south-1.amazonaws.com"},
    {"ap-southeast-1", "https://sts.ap-southeast-1.amazonaws.com", "https://sts-fips.ap-southeast-1.amazonaws.com", G,
     "https://sts-fips.ap-southeast-1.amazonaws.com"},
    {"ap-southeast-2", "https://sts.ap-southeast-2.amazonaws.com", "https://sts-fips.ap-southeast-2.amazonaws.com", G,
     "https://sts-fips.ap-southeast-2.amazonaws.com"},
    {"ap-east-1", "https://sts.ap-east-1.amazonaws.com", "https://sts-fips.ap-east-1.amazonaws.com",
     "https://sts.ap-east-1.amazonaws.com", "https://sts-fips.ap-east-1.amazonaws.com"},
    {"af-south-1", "https://sts.af-south-1.amazonaws.com", "https://sts-fips.af-south-1.amazonaws.com",
     "https://sts.af-south-1.amazonaws.com", "https://sts-fips.af-south-1.amazonaws.com"},
    {"me-south-1", "https://sts.me-south-1.amazonaws.com", "https://sts-fips.me-south-1.amazonaws.com",
     "https://sts.me-south-1.amazonaws.com", "https://sts-fips.me-south-1.amazonaws.com"},
    {"il-central-1", "https://sts.il-central-1.amazonaws.com", "https://sts-fips.il-central-1.amazonaws.com",
     "https://sts.il-central-1.amazonaws.com", "https://sts-fips.il-central-1.amazonaws.com"},
    {"mx-central-1", "https://sts.mx-central-1.amazonaws.com", "https://sts-fips.mx-central-1.amazonaws.com",
     "https://sts.mx-central-1.amazonaws.com", "https://sts-fips.mx-central-1.amazonaws.com"},
    {"sa-east-1", "https://sts.sa-east-1.amazonaws.com", "https://sts-fips.sa-east-1.amazonaws.com", G,
     "https://sts-fips.sa-east-1.amazonaws.com"},
    {"cn-north-1", "https://sts.cn-north-1.amazonaws.com.cn", "https://sts-fips.cn-north-1.amazonaws.com.cn",
     "https://sts.cn-north-1.amazonaws.com.cn", "https://sts-fips.cn-north-1.amazonaws.com.cn"},
    {"cn-northwest-1", "https://sts.cn-northwest-1.amazonaws.com.cn",
     "https://sts-fips.cn-northwest-1.amazonaws.com.cn", "https://sts.cn-northwest-1.amazonaws.com.cn",
     "https://sts-fips.cn-northwest-1.amazonaws.com.cn"},
    {"us-gov-west-1", "https://sts.us-gov-west-1.amazonaws.com", "https://sts.us-gov-west-1.amazonaws.com",
     "https://sts.us-gov-west-1.amazonaws.com", "https://sts.us-gov-west-1.amazonaws.com"},
    {"us-gov-east-1", "https://sts.us-gov-east-1.amazonaws.com", "https://sts.us-gov-east-1.amazonaws.com",
     "https://sts.us-gov-east-1.amazonaws.com", "https://sts.us-gov-east-1.amazonaws.com"},
    {"us-iso-east-1", "https://sts.us-iso-east-1.c2s.ic.gov", "https://sts-fips.us-iso-east-1.c2s.ic.gov",
     "https://sts.us-iso-east-1.c2s.ic.gov", "https://sts-fips.us-iso-east-1.c2s.ic.gov"},
    {"us-isob-east-1", "https://sts.us-isob-east-1.sc2s.sgov.gov", "https://sts-fips.us-isob-east-1.sc2s.sgov.gov",
     "https://sts.us-isob-east-1.sc2s.sgov.gov", "https://sts-fips.us-isob-east-1.sc2s.sgov.gov"},
    /* botocore: no region is "aws-global"; its FIPS answer, sts-fips.aws-global…, is refused here. */
    {"aws-global", G, NULL, G, NULL},
    {NULL, G, NULL, G, NULL},
};

static void check_variant(const char *region, bool fips, bool dualstack, bool legacy, const char *want)
{
	struct aws_settings s = {.region = (char *)region,
				 .use_fips_endpoint = fips,
				 .use_dualstack_endpoint = dualstack,
				 .sts_legacy_global = legacy};
	char *url = NULL;
	int r = sts_endpoint_url(&s, &url);

	if (!want) {
		assert_int_equal(r, -EINVAL);
		return;
	}
	assert_int_equal(r, 0);
	if (strcmp(url, want) != 0)
		fail_msg("%s fips=%d dualstack=%d legacy=%d: %s, botocore %s", region ? region : "(none)", fips,
			 dualstack, legacy, url, want);
	free(url);
}

static void check(const char *region, bool fips, bool legacy, const char *want)
{
	check_variant(region, fips, false, legacy, want);
}

static void test_botocore_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(botocore_1_43) / sizeof(*botocore_1_43); i++) {
		const struct row *w = &botocore_1_43[i];
		check(w->region, false, false, w->regional);
		check(w->region, true, false, w->regional_fips);
		check(w->region, false, true, w->legacy);
		check(w->region, true, true, w->legacy_fips);
	}
}

/* Dual-stack, from the same botocore (sts-dualstack.sh compares every
 * combination live when botocore is installed): [fips][legacy]. */
static const struct {
	const char *region;
	const char *want[2][2];
} dualstack_1_43[] = {
    {"us-east-1",
     {{"https://sts.us-east-1.api.aws", "https://sts.us-east-1.api.aws"},
      {"https://sts-fips.us-east-1.api.aws", "https://sts-fips.us-east-1.api.aws"}}},
    {"cn-north-1",
     {{"https://sts.cn-north-1.api.amazonwebservices.com.cn", "https://sts.cn-north-1.api.amazonwebservices.com.cn"},
      {"https://sts-fips.cn-north-1.api.amazonwebservices.com.cn",
       "https://sts-fips.cn-north-1.api.amazonwebservices.com.cn"}}},
    {"us-gov-west-1",
     {{"https://sts.us-gov-west-1.api.aws", "https://sts.us-gov-west-1.api.aws"},
      {"https://sts-fips.us-gov-west-1.api.aws", "https://sts-fips.us-gov-west-1.api.aws"}}},
    /* botocore: sts[-fips].aws-global.api.aws, which does not exist */
    {"aws-global", {{NULL, NULL}, {NULL, NULL}}},
    {NULL, {{NULL, NULL}, {NULL, NULL}}},
};

static void test_dualstack(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dualstack_1_43) / sizeof(*dualstack_1_43); i++)
		for (int fips = 0; fips < 2; fips++)
			for (int legacy = 0; legacy < 2; legacy++)
				check_variant(dualstack_1_43[i].region, fips, true, legacy,
					      dualstack_1_43[i].want[fips][legacy]);
}

static void test_override_wins(void **state)
{
	struct aws_settings s = {.region = "eu-west-1", .use_fips_endpoint = true, .sts_legacy_global = true};
	char *url = NULL;

	(void)state;
	s.sts_endpoint_url = "https://127.0.0.1:9";
	assert_int_equal(sts_endpoint_url(&s, &url), 0);
	assert_string_equal(url, "https://127.0.0.1:9");
	free(url);
}

static void test_signing_region(void **state)
{
	char region[STS_REGION_MAX];

	(void)state;
	/* botocore signs the global endpoint for us-east-1, whatever the configured region. */
	assert_string_equal(sts_signing_region("https://sts.amazonaws.com", "eu-west-1", region), "us-east-1");
	assert_string_equal(sts_signing_region("https://sts.amazonaws.com/", "eu-west-1", region), "us-east-1");
	assert_string_equal(sts_signing_region("https://sts-fips.us-east-2.amazonaws.com", "eu-west-1", region),
			    "us-east-2");
	assert_string_equal(sts_signing_region("https://sts.cn-north-1.amazonaws.com.cn", NULL, region), "cn-north-1");
}

/* The setting: environment first, then the profile; exact values only, as botocore. */
static void load_expect(const char *env, const char *profile_value, int want_r, bool want_legacy)
{
	struct aws_settings s;
	char *error = NULL, cfg[256];
	int r;

	test_env_isolate();
	snprintf(cfg, sizeof(cfg), "[default]\n%s%s%s", profile_value ? "sts_regional_endpoints = " : "",
		 profile_value ? profile_value : "", profile_value ? "\n" : "");
	test_setenv("AWS_CONFIG_FILE", test_write("config", cfg));
	test_setenv("AWS_STS_REGIONAL_ENDPOINTS", env);
	r = aws_settings_load(test_getenv, &s, &error);
	assert_int_equal(r, want_r);
	if (r == 0) {
		assert_int_equal(s.sts_legacy_global, want_legacy);
		aws_settings_done(&s);
	} else {
		test_assert_contains(error, "is not regional or legacy");
		free(error);
	}
}

static void test_setting(void **state)
{
	(void)state;
	load_expect(NULL, NULL, 0, false);
	load_expect("legacy", NULL, 0, true);
	load_expect("regional", "legacy", 0, false);
	load_expect(NULL, "legacy", 0, true);
	load_expect(NULL, "regional", 0, false);
	load_expect("Legacy", NULL, -EINVAL, false);
	load_expect(NULL, "global", -EINVAL, false);
}

static int setup(void **state)
{
	(void)state;
	test_dir_create();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_env_clear();
	test_dir_remove();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_botocore_table), cmocka_unit_test(test_dualstack),
	    cmocka_unit_test(test_override_wins),  cmocka_unit_test(test_signing_region),
	    cmocka_unit_test(test_setting),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
