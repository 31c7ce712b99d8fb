/* SPDX-License-Identifier: MIT */
/* Unit tests of daemon/creds-role-chain.c: how a profile's role chain is
 * resolved, with botocore's rules (AssumeRoleProvider) for where each hop's
 * signature comes from and what is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws-ini.h"
#include "creds-role-chain.h"

static const char config[] = "[profile top]\n"
			     "role_arn = arn:aws:iam::777788889999:role/Top\n"
			     "source_profile = mid\n"
			     "role_session_name = top-session\n"
			     "duration_seconds = 1800\n"
			     "[profile mid]\n"
			     "role_arn = arn:aws:iam::444455556666:role/Mid\n"
			     "source_profile = base\n"
			     "external_id = mid-external\n"
			     "[profile base]\n"
			     "role_arn = arn:aws:iam::111122223333:role/Ignored\n"
			     "source_profile = top\n"
			     "[profile self]\n"
			     "role_arn = arn:aws:iam::111122223333:role/Self\n"
			     "source_profile = self\n"
			     "aws_access_key_id = AKIDSELF\n"
			     "aws_secret_access_key = secret\n"
			     "[profile self-nokeys]\n"
			     "role_arn = arn:aws:iam::111122223333:role/Self\n"
			     "source_profile = self-nokeys\n"
			     "[profile a]\n"
			     "role_arn = arn:aws:iam::111122223333:role/A\n"
			     "source_profile = b\n"
			     "[profile b]\n"
			     "role_arn = arn:aws:iam::111122223333:role/B\n"
			     "source_profile = c\n"
			     "[profile c]\n"
			     "role_arn = arn:aws:iam::111122223333:role/C\n"
			     "source_profile = a\n"
			     "[profile env]\n"
			     "role_arn = arn:aws:iam::111122223333:role/Env\n"
			     "credential_source = EcsContainer\n"
			     "[profile both]\n"
			     "role_arn = arn:aws:iam::111122223333:role/X\n"
			     "source_profile = base\n"
			     "credential_source = Environment\n"
			     "[profile neither]\n"
			     "role_arn = arn:aws:iam::111122223333:role/X\n"
			     "[profile mfa]\n"
			     "role_arn = arn:aws:iam::111122223333:role/X\n"
			     "source_profile = static\n"
			     "mfa_serial = arn:aws:iam::111122223333:mfa/me\n"
			     "[profile short]\n"
			     "role_arn = arn:aws:iam::111122223333:role/X\n"
			     "source_profile = static\n"
			     "duration_seconds = 600\n"
			     "[profile missing]\n"
			     "role_arn = arn:aws:iam::111122223333:role/X\n"
			     "source_profile = nowhere\n"
			     "[profile via-process]\n"
			     "role_arn = arn:aws:iam::111122223333:role/X\n"
			     "source_profile = process\n"
			     "[profile process]\n"
			     "credential_process = /bin/true\n"
			     "[profile via-empty]\n"
			     "role_arn = arn:aws:iam::111122223333:role/X\n"
			     "source_profile = empty\n"
			     "[profile empty]\n"
			     "region = us-east-1\n"
			     "[profile webid]\n"
			     "role_arn = arn:aws:iam::111122223333:role/X\n"
			     "web_identity_token_file = /token\n"
			     "[profile via-webid]\n"
			     "role_arn = arn:aws:iam::111122223333:role/Y\n"
			     "source_profile = webid\n"
			     "[profile via-sso]\n"
			     "role_arn = arn:aws:iam::111122223333:role/X\n"
			     "source_profile = sso\n"
			     "[profile sso]\n"
			     "sso_session = corp\n"
			     "sso_account_id = 111122223333\n"
			     "[profile static]\n"
			     "aws_access_key_id = AKIDSTATIC\n"
			     "aws_secret_access_key = secret\n";

/* The credentials file: base's keys live here, as they usually do. */
static const char credentials[] = "[base]\n"
				  "aws_access_key_id = AKIDBASE\n"
				  "aws_secret_access_key = secret\n";

static int setup(void **state)
{
	struct aws_ini *ini = aws_ini_new();
	char *error = NULL;

	assert_non_null(ini);
	assert_int_equal(aws_ini_parse_string(ini, AWS_INI_CONFIG, config, "config", &error), 0);
	assert_int_equal(aws_ini_parse_string(ini, AWS_INI_CREDENTIALS, credentials, "credentials", &error), 0);
	*state = ini;
	return 0;
}

static int teardown(void **state)
{
	aws_ini_free(*state);
	return 0;
}

/* Builds the plan for profile and expects r; the message (if any) must
 * contain want. */
static void expect_plan(void **state, const char *profile, int want_r, const char *want, struct role_plan *ret)
{
	struct role_plan plan = {0};
	char *error = NULL;
	int r = role_plan_build(*state, profile, &plan, &error);

	if (r != want_r)
		fail_msg("%s: %d (%s), expected %d", profile, r, error ? error : "", want_r);
	if (want) {
		assert_non_null(error);
		if (!strstr(error, want))
			fail_msg("%s: '%s' does not say '%s'", profile, error, want);
	}
	free(error);
	if (ret)
		*ret = plan;
	else
		role_plan_done(&plan);
}

static void test_chain_of_three(void **state)
{
	struct role_plan p;
	char *desc;

	expect_plan(state, "top", 0, NULL, &p);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.hops[0].profile, "top");
	assert_string_equal(p.hops[0].role_arn, "arn:aws:iam::777788889999:role/Top");
	assert_string_equal(p.hops[0].session_name, "top-session");
	assert_int_equal(p.hops[0].duration_sec, 1800);
	assert_null(p.hops[0].external_id);
	assert_string_equal(p.hops[1].profile, "mid");
	assert_string_equal(p.hops[1].external_id, "mid-external");
	/* base has keys (in the credentials file) and a role: the keys win. */
	assert_string_equal(p.base_profile, "base");
	assert_null(p.base_source);
	desc = role_plan_describe(&p);
	assert_string_equal(desc, "profile top via mid via base");
	free(desc);
	role_plan_done(&p);
	assert_int_equal(p.n, 0);
}

static void test_self_reference(void **state)
{
	struct role_plan p;

	/* Keys and role in one section may name themselves (botocore). */
	expect_plan(state, "self", 0, NULL, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.base_profile, "self");
	role_plan_done(&p);
	expect_plan(state, "self-nokeys", -ELOOP, "self-nokeys -> self-nokeys", NULL);
}

static void test_cycle(void **state)
{
	expect_plan(state, "a", -ELOOP, "the profiles a -> b -> c -> a form a cycle", NULL);
}

static void test_credential_source(void **state)
{
	struct role_plan p;
	char *desc;

	expect_plan(state, "env", 0, NULL, &p);
	assert_int_equal(p.n, 1);
	assert_null(p.base_profile);
	assert_string_equal(p.base_source, "container");
	desc = role_plan_describe(&p);
	assert_string_equal(desc, "profile env via EcsContainer");
	free(desc);
	role_plan_done(&p);
}

static void test_refused(void **state)
{
	expect_plan(state, "both", -EINVAL, "both source_profile and credential_source", NULL);
	expect_plan(state, "neither", -EINVAL, "neither source_profile nor credential_source", NULL);
	expect_plan(state, "mfa", -EOPNOTSUPP, "mfa_serial", NULL);
	expect_plan(state, "short", -EINVAL, "duration_seconds '600'", NULL);
	expect_plan(state, "missing", -EINVAL, "the source_profile 'nowhere' of profile 'missing' does not exist",
		    NULL);
	expect_plan(state, "via-sso", -EOPNOTSUPP,
		    "the source profile 'sso' (via-sso -> sso) gets its credentials from SSO", NULL);
	expect_plan(state, "via-empty", -EINVAL,
		    "the source profile 'empty' (via-empty -> empty) must have credentials", NULL);
}

/* botocore's _resolve_credentials_from_profile: a source profile with no
 * role to assume (credential_process) or with web identity (role_arn and
 * web_identity_token_file) is resolved by its own providers: the chain
 * ends there, at that profile. */
static void test_source_own_providers(void **state)
{
	struct role_plan p;

	expect_plan(state, "via-process", 0, NULL, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.hops[0].role_arn, "arn:aws:iam::111122223333:role/X");
	assert_string_equal(p.base_profile, "process");
	assert_null(p.base_source);
	role_plan_done(&p);
	expect_plan(state, "via-webid", 0, NULL, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.hops[0].role_arn, "arn:aws:iam::111122223333:role/Y");
	assert_string_equal(p.base_profile, "webid");
	role_plan_done(&p);
}

static void test_not_a_role_profile(void **state)
{
	expect_plan(state, "static", -ENOENT, "no role_arn", NULL);
	expect_plan(state, "webid", -ENOENT, "no role_arn", NULL); /* web identity's */
	expect_plan(state, "absent", -ENOENT, NULL, NULL);
}

static void test_too_long(void **state)
{
	struct aws_ini *ini = aws_ini_new();
	char text[ROLE_CHAIN_MAX_HOPS * 2 * 96], *error = NULL;
	size_t n = 0;
	void *s = ini;

	for (int i = 0; i <= ROLE_CHAIN_MAX_HOPS; i++)
		n += (size_t)snprintf(
		    text + n, sizeof(text) - n,
		    "[profile p%d]\nrole_arn = arn:aws:iam::111122223333:role/R%d\nsource_profile = p%d\n", i, i,
		    i + 1);
	snprintf(text + n, sizeof(text) - n, "[profile p%d]\naws_access_key_id = A\naws_secret_access_key = s\n",
		 ROLE_CHAIN_MAX_HOPS + 1);
	assert_int_equal(aws_ini_parse_string(ini, AWS_INI_CONFIG, text, "config", &error), 0);
	expect_plan(&s, "p0", -ELOOP, "longer than", NULL);
	expect_plan(&s, "p1", 0, NULL, NULL); /* exactly the limit */
	aws_ini_free(ini);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_of_three),
	    cmocka_unit_test(test_self_reference),
	    cmocka_unit_test(test_cycle),
	    cmocka_unit_test(test_credential_source),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_not_a_role_profile),
	    cmocka_unit_test(test_source_own_providers),
	    cmocka_unit_test(test_too_long),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
