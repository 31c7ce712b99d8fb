/* SPDX-License-Identifier: MIT */
/*
 * Credentials and AWS settings: the environment, shared-file and systemd
 * providers, the chain, the settings' precedence rules, and timestamps.
 * Everything runs against a fake environment and files in a scratch
 * directory; the real ~/.aws and AWS_* variables are never read.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "aws-ini.h"
#include "aws-settings.h"
#include "creds.h"
#include "timeutil.h"

#include "aws-test-util.h"

#define AKID    "AKIDEXAMPLE"
#define SECRET  "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SECRET2 "secret-from-the-config-file-0123456789"

static int setup(void **state)
{
	test_dir_create();
	test_env_isolate();
	return 0;
}

static int teardown(void **state)
{
	test_env_clear();
	test_dir_remove();
	return 0;
}

/* Loads settings from the fake environment; fails the test on error. */
static void load_settings(struct aws_settings *s)
{
	char *error = NULL;
	int r = aws_settings_load(test_getenv, s, &error);

	if (r < 0)
		print_error("aws_settings_load: %s\n", error ? error : strerror(-r));
	assert_int_equal(r, 0);
	assert_null(error);
}

/* Resolves the chain; returns r, with *ret or *ret_error set. */
static int resolve(struct aws_credentials **ret, char **ret_error)
{
	struct aws_settings s;
	int r;

	load_settings(&s);
	*ret = NULL;
	*ret_error = NULL;
	r = creds_resolve_chain(&s, test_getenv, ret, ret_error);
	aws_settings_done(&s);
	return r;
}

static void assert_no_secret(const char *msg)
{
	assert_non_null(msg);
	assert_null(strstr(msg, SECRET));
	assert_null(strstr(msg, SECRET2));
	assert_null(strstr(msg, "TOKEN-VALUE"));
}

/* --- timestamps ----------------------------------------------------------- */

static void test_timeutil(void **state)
{
	time_t t = 0;
	char buf[32];

	assert_int_equal(timeutil_parse_iso8601("2022-05-26T12:34:56.789Z", &t), 0);
	assert_int_equal(t, 1653568496);
	assert_int_equal(timeutil_parse_iso8601("2022-05-26T12:34:56Z", &t), 0);
	assert_int_equal(t, 1653568496);
	assert_int_equal(timeutil_parse_iso8601("2022-05-26T14:34:56+02:00", &t), 0);
	assert_int_equal(t, 1653568496);
	assert_int_equal(timeutil_parse_iso8601("2022-05-26T12:34:56+00:00", &t), 0);
	assert_int_equal(t, 1653568496);
	assert_int_equal(timeutil_parse_iso8601("2022-05-26t07:04:56-0530", &t), 0);
	assert_int_equal(t, 1653568496);
	assert_int_equal(timeutil_parse_iso8601("2014-10-24T23:00:23Z", &t), 0);
	assert_int_equal(t, 1414191623);
	assert_int_equal(timeutil_parse_iso8601("2024-02-29 00:00:00z", &t), 0);
	assert_int_equal(t, 1709164800);
	assert_int_equal(timeutil_parse_iso8601("2016-12-31T23:59:60Z", &t), 0);
	assert_int_equal(t, 1483228799);

	t = 42;
	assert_int_equal(timeutil_parse_iso8601("2022-05-26T12:34:56", &t), -EINVAL); /* no offset */
	assert_int_equal(timeutil_parse_iso8601("2023-02-29T00:00:00Z", &t), -EINVAL);
	assert_int_equal(timeutil_parse_iso8601("2022-13-01T00:00:00Z", &t), -EINVAL);
	assert_int_equal(timeutil_parse_iso8601("2022-05-26T24:00:00Z", &t), -EINVAL);
	assert_int_equal(timeutil_parse_iso8601("2022-05-26T12:34:56.Z", &t), -EINVAL);
	assert_int_equal(timeutil_parse_iso8601("2022-05-26T12:34:56Zjunk", &t), -EINVAL);
	assert_int_equal(timeutil_parse_iso8601(" 2022-05-26T12:34:56Z", &t), -EINVAL);
	assert_int_equal(timeutil_parse_iso8601("2022-5-26T12:34:56Z", &t), -EINVAL);
	assert_int_equal(timeutil_parse_iso8601("2022-05-26T12:34:56+24:00", &t), -EINVAL);
	assert_int_equal(timeutil_parse_iso8601("", &t), -EINVAL);
	assert_int_equal(timeutil_parse_iso8601("1653568496", &t), -EINVAL);
	assert_int_equal(t, 42);

	assert_int_equal(timeutil_format_iso8601(1653568496, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2022-05-26T12:34:56Z");
	assert_int_equal(timeutil_format_iso8601(0, buf, 5), -EINVAL);
}

/* --- credentials objects ---------------------------------------------------- */

static void test_credentials_refcount(void **state)
{
	struct aws_credentials *c = NULL;

	assert_int_equal(aws_credentials_new(AKID, SECRET, "tok", 7, "environment", "111122223333", &c), 0);
	assert_string_equal(c->session_token, "tok");
	assert_string_equal(c->account_id, "111122223333");
	assert_int_equal(c->expiration, 7);
	assert_ptr_equal(aws_credentials_ref(c), c);
	assert_int_equal(c->n_ref, 2);
	assert_null(aws_credentials_unref(c));
	assert_int_equal(c->n_ref, 1);
	assert_null(aws_credentials_unref(c));
	assert_null(aws_credentials_unref(NULL));
	assert_null(aws_credentials_ref(NULL));

	assert_int_equal(aws_credentials_new(AKID, SECRET, "", 0, "x", "", &c), 0);
	assert_null(c->session_token);
	assert_null(c->account_id);
	aws_credentials_unref(c);

	assert_int_equal(aws_credentials_new("", SECRET, NULL, 0, "x", NULL, &c), -EINVAL);
	assert_int_equal(aws_credentials_new(AKID, "a b", NULL, 0, "x", NULL, &c), -EINVAL);
	assert_int_equal(aws_credentials_new(AKID, SECRET, "a\r\nX-Evil: 1", 0, "x", NULL, &c), -EINVAL);
	assert_int_equal(aws_credentials_new(AKID, SECRET, NULL, 0, "x", "12345", &c), -EINVAL);
	assert_string_equal(creds_check_fields(AKID, SECRET, NULL, "abc"), "account ID");
}

/* --- environment provider ----------------------------------------------------- */

static void test_env_basic(void **state)
{
	struct aws_credentials *c;
	char *error;

	test_setenv("AWS_ACCESS_KEY_ID", AKID);
	test_setenv("AWS_SECRET_ACCESS_KEY", SECRET);
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->access_key_id, AKID);
	assert_string_equal(c->secret_access_key, SECRET);
	assert_null(c->session_token);
	assert_int_equal(c->expiration, 0);
	assert_string_equal(c->source, "environment");
	assert_null(error);
	aws_credentials_unref(c);
}

static void test_env_token_and_expiration(void **state)
{
	struct aws_credentials *c;
	char *error;

	test_setenv("AWS_ACCESS_KEY_ID", AKID);
	test_setenv("AWS_SECRET_ACCESS_KEY", SECRET);
	test_setenv("AWS_SECURITY_TOKEN", "legacy-token");
	test_setenv("AWS_CREDENTIAL_EXPIRATION", "2099-01-02T03:04:05Z");
	test_setenv("AWS_ACCOUNT_ID", "111122223333");
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->session_token, "legacy-token");
	assert_int_equal(c->expiration, 4071006245);
	assert_string_equal(c->account_id, "111122223333");
	aws_credentials_unref(c);

	/* AWS_SESSION_TOKEN beats the legacy name. */
	test_setenv("AWS_SESSION_TOKEN", "new-token");
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->session_token, "new-token");
	aws_credentials_unref(c);
}

static void test_env_half_set(void **state)
{
	struct aws_credentials *c;
	char *error;

	test_setenv("AWS_ACCESS_KEY_ID", AKID);
	assert_int_equal(resolve(&c, &error), -EINVAL);
	assert_null(c);
	test_assert_contains(error, "environment variables: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
	free(error);

	test_setenv("AWS_ACCESS_KEY_ID", NULL);
	test_setenv("AWS_SECRET_ACCESS_KEY", SECRET);
	assert_int_equal(resolve(&c, &error), -EINVAL);
	test_assert_contains(error, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
	assert_no_secret(error);
	free(error);

	/* Half-set env keys are an error even when a profile has keys: never
	 * fall through to other credentials than the ones meant. */
	test_write("credentials", "[default]\naws_access_key_id = A\naws_secret_access_key = B\n");
	test_setenv("AWS_SHARED_CREDENTIALS_FILE", test_path("credentials"));
	assert_int_equal(resolve(&c, &error), -EINVAL);
	free(error);
}

static void test_env_bad_values(void **state)
{
	struct aws_credentials *c;
	char *error;

	test_setenv("AWS_ACCESS_KEY_ID", AKID);
	test_setenv("AWS_SECRET_ACCESS_KEY", SECRET);
	test_setenv("AWS_CREDENTIAL_EXPIRATION", "tomorrow");
	assert_int_equal(resolve(&c, &error), -EINVAL);
	test_assert_contains(error, "AWS_CREDENTIAL_EXPIRATION 'tomorrow' is not an ISO 8601 time");
	free(error);

	test_setenv("AWS_CREDENTIAL_EXPIRATION", "2001-01-01T00:00:00Z");
	assert_int_equal(resolve(&c, &error), -EINVAL);
	test_assert_contains(error, "expired");
	free(error);

	test_setenv("AWS_CREDENTIAL_EXPIRATION", NULL);
	test_setenv("AWS_SESSION_TOKEN", "TOKEN-VALUE\nInjected: header");
	assert_int_equal(resolve(&c, &error), -EINVAL);
	test_assert_contains(error, "malformed session token");
	assert_no_secret(error);
	free(error);
}

/* --- shared files -------------------------------------------------------------- */

static void test_shared_default_in_home(void **state)
{
	struct aws_credentials *c;
	char *error;

	assert_int_equal(mkdir(test_path(".aws"), 0700), 0);
	test_write(".aws/credentials", "[default]\r\naws_access_key_id = " AKID "\r\naws_secret_access_key = " SECRET
				       "\r\naws_session_token = tok\r\n");
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->access_key_id, AKID);
	assert_string_equal(c->secret_access_key, SECRET);
	assert_string_equal(c->session_token, "tok");
	assert_string_equal(c->source, "shared-credentials-file");
	aws_credentials_unref(c);
}

/* The token's older name, as botocore reads it; the standard name first. */
static void test_shared_security_token(void **state)
{
	struct aws_credentials *c;
	char *error;

	test_setenv("AWS_SHARED_CREDENTIALS_FILE",
		    test_write("credentials", "[default]\naws_access_key_id = " AKID "\naws_secret_access_key = " SECRET
					      "\naws_security_token = old-name\n"));
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->session_token, "old-name");
	aws_credentials_unref(c);

	test_write("credentials", "[default]\naws_access_key_id = " AKID "\naws_secret_access_key = " SECRET
				  "\naws_security_token = old-name\naws_session_token = new-name\n");
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->session_token, "new-name");
	aws_credentials_unref(c);
}

/* An `aws login` profile is refused where botocore's login source would
 * take it: after the credentials file's keys, before the config file's. */
static void test_login_profile(void **state)
{
	struct aws_credentials *c;
	char *error;

	test_setenv("AWS_CONFIG_FILE",
		    test_write("config", "[default]\nlogin_session = arn:aws:iam::111122223333:user/op\n"
					 "aws_access_key_id = " AKID "\naws_secret_access_key = " SECRET "\n"));
	assert_int_equal(resolve(&c, &error), -EOPNOTSUPP);
	test_assert_contains(error, "signs in with 'aws login' (login_session)");
	test_assert_contains(error, "aws configure export-credentials --profile default");
	free(error);

	test_setenv("AWS_SHARED_CREDENTIALS_FILE", test_write("credentials", "[default]\naws_access_key_id = " AKID
									     "\naws_secret_access_key = " SECRET "\n"));
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->source, "shared-credentials-file");
	aws_credentials_unref(c);
}

static void test_shared_credentials_beat_config(void **state)
{
	struct aws_credentials *c;
	char *error;

	test_setenv("AWS_CONFIG_FILE", test_write("config", "[profile dev]\n"
							    "aws_access_key_id = CONFIGKEY\n"
							    "aws_secret_access_key = " SECRET2 "\n"
							    "[dev]\n" /* ignored in a config file */
							    "aws_access_key_id = IGNORED\n"));
	test_setenv("AWS_SHARED_CREDENTIALS_FILE", test_write("credentials", "[dev]\n"
									     "aws_access_key_id = " AKID "\n"
									     "aws_secret_access_key = " SECRET "\n"
									     "[profile dev]\n" /* ignored here */
									     "aws_access_key_id = IGNORED2\n"));
	test_setenv("AWS_PROFILE", "dev");
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->access_key_id, AKID);
	assert_string_equal(c->secret_access_key, SECRET);
	assert_string_equal(c->source, "shared-credentials-file");
	aws_credentials_unref(c);

	/* Keys only in the config file. */
	test_setenv("AWS_SHARED_CREDENTIALS_FILE", test_path("none"));
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->access_key_id, "CONFIGKEY");
	assert_string_equal(c->source, "config-file");
	aws_credentials_unref(c);
}

static void test_shared_profile_selection(void **state)
{
	struct aws_credentials *c;
	char *error;

	test_setenv("AWS_CONFIG_FILE", test_write("config", "[profile a]\n"
							    "aws_access_key_id = AKIDA\n"
							    "aws_secret_access_key = " SECRET "\n"
							    "[profile b]\n"
							    "aws_access_key_id = AKIDB\n"
							    "aws_secret_access_key = " SECRET "\n"));
	test_setenv("AWS_SHARED_CREDENTIALS_FILE", test_path("none"));
	test_setenv("AWS_DEFAULT_PROFILE", "b");
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->access_key_id, "AKIDB");
	aws_credentials_unref(c);
	test_setenv("AWS_PROFILE", "a"); /* the documented name wins */
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->access_key_id, "AKIDA");
	aws_credentials_unref(c);

	/* A profile named explicitly but absent is an error, not a fall-through. */
	test_setenv("AWS_PROFILE", "nope");
	assert_int_equal(resolve(&c, &error), -EINVAL);
	test_assert_contains(error, "profile 'nope' not found in");
	test_assert_contains(error, test_path("config"));
	free(error);
}

static void test_shared_half_set(void **state)
{
	struct aws_credentials *c;
	char *error;
	const char *path;

	path = test_write("credentials", "[default]\n\naws_secret_access_key = " SECRET "\n");
	test_setenv("AWS_SHARED_CREDENTIALS_FILE", path);
	assert_int_equal(resolve(&c, &error), -EINVAL);
	test_assert_contains(error, path);
	test_assert_contains(error, ":3: profile 'default' has aws_secret_access_key but no aws_access_key_id");
	assert_no_secret(error);
	free(error);

	path = test_write("credentials", "[default]\naws_access_key_id = " AKID "\naws_secret_access_key = a b c\n");
	assert_int_equal(resolve(&c, &error), -EINVAL);
	test_assert_contains(error, ":3: profile 'default': malformed secret access key");
	free(error);
}

static void test_shared_malformed_file(void **state)
{
	struct aws_settings s;
	char *error = NULL;
	const char *path = test_write("config", "[profile a]\nregion = x\n[profile b\n");

	test_setenv("AWS_CONFIG_FILE", path);
	assert_int_equal(aws_settings_load(test_getenv, &s, &error), -EINVAL);
	test_assert_contains(error, path);
	test_assert_contains(error, ":3:");
	free(error);
}

/* --- systemd credentials -------------------------------------------------------- */

static void test_systemd_credentials(void **state)
{
	struct aws_credentials *c;
	char *error;

	assert_int_equal(mkdir(test_path("creds"), 0700), 0);
	test_write("creds/aws-credentials",
		   "[default]\naws_access_key_id = SYSTEMDKEY\naws_secret_access_key = " SECRET
		   "\n[ops]\naws_access_key_id = OPSKEY\naws_secret_access_key = " SECRET "\n");
	test_setenv("CREDENTIALS_DIRECTORY", test_path("creds"));
	/* Also shared files, which come later in the chain. */
	test_setenv("AWS_SHARED_CREDENTIALS_FILE",
		    test_write("credentials", "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = x\n"
					      "[other]\naws_access_key_id = OTHERKEY\naws_secret_access_key = x\n"));
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->access_key_id, "SYSTEMDKEY");
	assert_string_equal(c->source, "systemd-credentials");
	aws_credentials_unref(c);

	/* The active profile's section if the file has one... */
	test_setenv("AWS_PROFILE", "ops");
	test_write("config", "[profile ops]\n");
	test_setenv("AWS_CONFIG_FILE", test_path("config"));
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->access_key_id, "OPSKEY");
	aws_credentials_unref(c);
	/* ...else [default]. */
	test_setenv("AWS_PROFILE", "other");
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->access_key_id, "SYSTEMDKEY");
	aws_credentials_unref(c);

	/* Environment keys come first. */
	test_setenv("AWS_ACCESS_KEY_ID", AKID);
	test_setenv("AWS_SECRET_ACCESS_KEY", SECRET);
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->source, "environment");
	aws_credentials_unref(c);
	test_setenv("AWS_ACCESS_KEY_ID", NULL);
	test_setenv("AWS_SECRET_ACCESS_KEY", NULL);

	/* Present but useless: an error, not a fall-through. */
	test_write("creds/aws-credentials", "[ops]\nregion = x\n");
	assert_int_equal(resolve(&c, &error), -EINVAL);
	test_assert_contains(error, "systemd credentials: ");
	test_assert_contains(error, "aws-credentials: no aws_access_key_id in [default]");
	free(error);

	/* Not there at all: on to the shared files. */
	unlink(test_path("creds/aws-credentials"));
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->access_key_id, "OTHERKEY");
	aws_credentials_unref(c);
}

/* --- the chain ------------------------------------------------------------------ */

static void test_chain_nothing_found(void **state)
{
	struct aws_credentials *c;
	char *error;

	test_setenv("CREDENTIALS_DIRECTORY", test_dir);
	test_setenv("AWS_EC2_METADATA_DISABLED", "true");
	assert_int_equal(resolve(&c, &error), -ENOENT);
	assert_null(c);
	test_assert_contains(error, "no AWS credentials found (tried environment variables: AWS_ACCESS_KEY_ID not set; "
				    "systemd credentials: no ");
	test_assert_contains(error, "; web identity (STS AssumeRoleWithWebIdentity): AWS_WEB_IDENTITY_TOKEN_FILE not set");
	test_assert_contains(error, "shared credentials and config files: no profile 'default' in ");
	test_assert_contains(error, "; credential_process: profile 'default' has no credential_process");
	test_assert_contains(error, "; container credentials endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	test_assert_contains(error, "; EC2 instance metadata (IMDSv2): disabled");
	free(error);
}

/* Without the network (--check-config), the first network source that is
 * configured is named, in the SDKs' order. */
static void test_chain_order(void **state)
{
	struct aws_credentials *c = NULL;
	char *error = NULL;

	/* Nothing else: IMDS, the last resort. */
	assert_int_equal(resolve(&c, &error), -EINPROGRESS);
	test_assert_contains(error, "EC2 instance metadata (IMDSv2): would ask http://169.254.169.254");
	free(error);

	/* The container endpoint comes before IMDS. */
	test_setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds");
	assert_int_equal(resolve(&c, &error), -EINPROGRESS);
	test_assert_contains(error, "container credentials endpoint: would ask http://127.0.0.1:9/creds");
	free(error);
	/* … and only on hosts the SDKs allow over plain http. */
	test_setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds");
	assert_int_equal(resolve(&c, &error), -EPERM);
	test_assert_contains(error, "host 192.0.2.1 is not allowed over plain http");
	free(error);
	test_setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds");

	/* Config-file keys lose to credential_process, which loses to keys
	 * in the credentials file. */
	test_setenv("AWS_CONFIG_FILE", test_write("config", "[default]\n"
							    "aws_access_key_id = CONFIGKEY\n"
							    "aws_secret_access_key = " SECRET2 "\n"
							    "credential_process = /bin/echo '{}'\n"));
	assert_int_equal(resolve(&c, &error), -EINPROGRESS);
	test_assert_contains(error, "credential_process: would run /bin/echo");
	free(error);
	test_setenv("AWS_SHARED_CREDENTIALS_FILE",
		    test_write("credentials", "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = " SECRET
					      "\n"));
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->access_key_id, "FILEKEY");
	c = aws_credentials_unref(c);

	/* Web identity comes before the shared files. */
	test_setenv("AWS_WEB_IDENTITY_TOKEN_FILE", test_write("token", "TOKEN-VALUE\n"));
	test_setenv("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/kms");
	test_setenv("AWS_ENDPOINT_URL_STS", "https://127.0.0.1:9");
	assert_int_equal(resolve(&c, &error), -EINPROGRESS);
	test_assert_contains(error, "would exchange");
	test_assert_contains(error, "for role arn:aws:iam::111122223333:role/kms at https://127.0.0.1:9");
	assert_no_secret(error);
	free(error);
	test_setenv("AWS_ROLE_ARN", NULL);
	assert_int_equal(resolve(&c, &error), -EINVAL);
	test_assert_contains(error, "a web identity token file is set but no role");
	free(error);

	/* systemd credentials come before all that, the environment first. */
	test_setenv("CREDENTIALS_DIRECTORY", test_path("sd"));
	mkdir(test_path("sd"), 0700);
	test_write("sd/aws-credentials", "[default]\naws_access_key_id = SYSTEMDKEY\naws_secret_access_key = " SECRET "\n");
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->source, "systemd-credentials");
	c = aws_credentials_unref(c);
	test_setenv("AWS_ACCESS_KEY_ID", AKID);
	test_setenv("AWS_SECRET_ACCESS_KEY", SECRET);
	assert_int_equal(resolve(&c, &error), 0);
	assert_string_equal(c->source, "environment");
	aws_credentials_unref(c);
}

/* An assume-role profile is the assume-role source's (creds-role-chain.c),
 * ahead of the static keys its source profile has; asked alone, the shared
 * files' source refuses it rather than act as the source profile. */
static void test_assume_role_profile(void **state)
{
	struct aws_credentials *c = NULL;
	struct aws_settings s;
	char *error = NULL;

	test_setenv("AWS_CONFIG_FILE", test_write("config", "[profile base]\n"
							    "aws_access_key_id = BASEKEY\n"
							    "aws_secret_access_key = " SECRET "\n"
							    "[default]\n"
							    "role_arn = arn:aws:iam::111122223333:role/x\n"
							    "source_profile = base\n"));
	assert_int_equal(resolve(&c, &error), -EINPROGRESS);
	test_assert_contains(error, "would assume arn:aws:iam::111122223333:role/x (profile default via base)");
	free(error);
	load_settings(&s);
	error = NULL;
	assert_int_equal(creds_resolve_source("shared", &s, test_getenv, &c, &error), -EINVAL);
	test_assert_contains(error, "assumes a role");
	free(error);
	aws_settings_done(&s);
}

static void test_credentials_from_json(void **state)
{
	struct aws_credentials *c = NULL;
	struct json_object *o;
	char *error = NULL;

	o = json_tokener_parse("{\"AccessKeyId\":\"" AKID "\",\"SecretAccessKey\":\"" SECRET
			       "\",\"Token\":\"TOKEN-VALUE\",\"Expiration\":\"2030-01-02T03:04:05Z\","
			       "\"AccountId\":\"111122223333\"}");
	assert_int_equal(creds_from_json(o, "Token", "container", &c, &error), 0);
	assert_string_equal(c->session_token, "TOKEN-VALUE");
	assert_int_equal(c->expiration, 1893553445);
	assert_string_equal(c->account_id, "111122223333");
	c = aws_credentials_unref(c);
	json_object_put(o);

	o = json_tokener_parse("{\"AccessKeyId\":\"" AKID "\",\"SecretAccessKey\":\"" SECRET
			       "\",\"Expiration\":\"tomorrow\"}");
	assert_int_equal(creds_from_json(o, "Token", "container", &c, &error), -EINVAL);
	test_assert_contains(error, "Expiration 'tomorrow' is not");
	free(error);
	json_object_put(o);

	o = json_tokener_parse("{\"AccessKeyId\":\"" AKID "\",\"SecretAccessKey\":\"has space " SECRET "\"}");
	assert_int_equal(creds_from_json(o, "Token", "container", &c, &error), -EINVAL);
	test_assert_contains(error, "malformed secret access key");
	assert_no_secret(error);
	free(error);
	json_object_put(o);

	o = json_tokener_parse("{\"SecretAccessKey\":\"" SECRET "\"}");
	assert_int_equal(creds_from_json(o, "Token", "container", &c, &error), -EINVAL);
	test_assert_contains(error, "no string member AccessKeyId");
	free(error);
	json_object_put(o);
}

static void test_resolve_source(void **state)
{
	struct aws_credentials *c = NULL;
	struct aws_settings s;
	char *error = NULL;

	test_setenv("AWS_ACCESS_KEY_ID", AKID);
	test_setenv("AWS_SECRET_ACCESS_KEY", SECRET);
	load_settings(&s);
	assert_int_equal(creds_resolve_source("env", &s, test_getenv, &c, &error), 0);
	assert_string_equal(c->source, "environment");
	aws_credentials_unref(c);
	c = NULL;
	assert_int_equal(creds_resolve_source("shared", &s, test_getenv, &c, &error), -ENOENT);
	test_assert_contains(error, "no AWS credentials from shared credentials and config files");
	assert_null(c);
	free(error);
	error = NULL;
	assert_int_equal(creds_resolve_source("imds-typo", &s, test_getenv, &c, &error), -EINVAL);
	test_assert_contains(error, "unknown credential source 'imds-typo'");
	free(error);
	aws_settings_done(&s);

	assert_non_null(creds_provider_find("systemd"));
	assert_null(creds_provider_find("Env"));
}

/* --- settings precedence ---------------------------------------------------------- */

static const char *const shared_config = "[default]\n"
					 "region = eu-west-1\n"
					 "ca_bundle = /etc/profile-ca.pem\n"
					 "endpoint_url = https://global.profile.example\n"
					 "max_attempts = 5\n"
					 "retry_mode = adaptive\n"
					 "ec2_metadata_service_endpoint = http://127.0.0.1:1338\n"
					 "[profile svc]\n"
					 "region = ap-south-1\n"
					 "services = local\n"
					 "endpoint_url = https://global.svc.example\n"
					 "[services local]\n"
					 "kms =\n"
					 "  endpoint_url = https://127.0.0.1:8443\n"
					 "sts =\n"
					 "  endpoint_url = https://127.0.0.1:8444\n"
					 "[profile broken]\n"
					 "services = missing\n";

static void test_settings_defaults(void **state)
{
	struct aws_settings s;

	load_settings(&s);
	assert_string_equal(s.profile, "default");
	assert_false(s.profile_explicit);
	assert_string_equal(s.config_file, test_path(".aws/config"));
	assert_string_equal(s.credentials_file, test_path(".aws/credentials"));
	assert_null(s.region);
	assert_null(s.kms_endpoint_url);
	assert_null(s.sts_endpoint_url);
	assert_null(s.ca_bundle);
	assert_false(s.ec2_metadata_disabled);
	assert_int_equal(s.max_attempts, AWS_DEFAULT_MAX_ATTEMPTS);
	assert_int_equal(s.retry_mode, AWS_RETRY_MODE_STANDARD);
	aws_settings_done(&s);
	aws_settings_done(&s); /* twice is fine */
	aws_settings_done(NULL);
}

static void test_settings_region(void **state)
{
	struct aws_settings s;

	test_setenv("AWS_CONFIG_FILE", test_write("config", shared_config));
	load_settings(&s);
	assert_string_equal(s.region, "eu-west-1");
	aws_settings_done(&s);

	test_setenv("AWS_DEFAULT_REGION", "us-west-2");
	load_settings(&s);
	assert_string_equal(s.region, "us-west-2");
	aws_settings_done(&s);

	test_setenv("AWS_REGION", "us-east-2");
	load_settings(&s);
	assert_string_equal(s.region, "us-east-2");
	aws_settings_done(&s);

	test_setenv("AWS_REGION", ""); /* empty counts as unset */
	load_settings(&s);
	assert_string_equal(s.region, "us-west-2");
	aws_settings_done(&s);
}

static void test_settings_endpoint(void **state)
{
	struct aws_settings s;
	char *error = NULL;

	test_setenv("AWS_CONFIG_FILE", test_write("config", shared_config));
	/* Profile endpoint_url only. */
	load_settings(&s);
	assert_string_equal(s.kms_endpoint_url, "https://global.profile.example");
	assert_string_equal(s.sts_endpoint_url, "https://global.profile.example");
	aws_settings_done(&s);

	/* The services section beats the profile's endpoint_url. */
	test_setenv("AWS_PROFILE", "svc");
	load_settings(&s);
	assert_string_equal(s.region, "ap-south-1");
	assert_string_equal(s.kms_endpoint_url, "https://127.0.0.1:8443");
	assert_string_equal(s.sts_endpoint_url, "https://127.0.0.1:8444");
	aws_settings_done(&s);

	/* AWS_ENDPOINT_URL beats both... */
	test_setenv("AWS_ENDPOINT_URL", "https://127.0.0.1:9");
	load_settings(&s);
	assert_string_equal(s.kms_endpoint_url, "https://127.0.0.1:9");
	assert_string_equal(s.sts_endpoint_url, "https://127.0.0.1:9");
	aws_settings_done(&s);

	/* ...and the service-specific variable beats it. */
	test_setenv("AWS_ENDPOINT_URL_KMS", "https://127.0.0.1:10");
	load_settings(&s);
	assert_string_equal(s.kms_endpoint_url, "https://127.0.0.1:10");
	assert_string_equal(s.sts_endpoint_url, "https://127.0.0.1:9");
	aws_settings_done(&s);

	/* Ignoring configured endpoints drops all of them. */
	test_setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE");
	load_settings(&s);
	assert_true(s.ignore_configured_endpoint_urls);
	assert_null(s.kms_endpoint_url);
	assert_null(s.sts_endpoint_url);
	aws_settings_done(&s);

	/* A profile naming a missing services section is an error. */
	test_setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", NULL);
	test_setenv("AWS_ENDPOINT_URL", NULL);
	test_setenv("AWS_ENDPOINT_URL_KMS", NULL);
	test_setenv("AWS_PROFILE", "broken");
	assert_int_equal(aws_settings_load(test_getenv, &s, &error), -EINVAL);
	test_assert_contains(error, test_path("config"));
	test_assert_contains(error, ":18: services: there is no [services missing] section");
	free(error);
}

static void test_settings_misc(void **state)
{
	struct aws_settings s;
	char *error = NULL;

	test_setenv("AWS_CONFIG_FILE", test_write("config", shared_config));
	load_settings(&s);
	assert_string_equal(s.ca_bundle, "/etc/profile-ca.pem");
	assert_int_equal(s.max_attempts, 5);
	assert_int_equal(s.retry_mode, AWS_RETRY_MODE_ADAPTIVE);
	assert_string_equal(s.ec2_metadata_endpoint, "http://127.0.0.1:1338");
	aws_settings_done(&s);

	test_setenv("AWS_CA_BUNDLE", "/tmp/env-ca.pem");
	test_setenv("AWS_MAX_ATTEMPTS", "2");
	test_setenv("AWS_RETRY_MODE", "legacy");
	test_setenv("AWS_EC2_METADATA_DISABLED", "true");
	test_setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9");
	test_setenv("AWS_USE_FIPS_ENDPOINT", "true");
	load_settings(&s);
	assert_string_equal(s.ca_bundle, "/tmp/env-ca.pem");
	assert_int_equal(s.max_attempts, 2);
	assert_int_equal(s.retry_mode, AWS_RETRY_MODE_LEGACY);
	assert_true(s.ec2_metadata_disabled);
	assert_true(s.use_fips_endpoint);
	assert_string_equal(s.ec2_metadata_endpoint, "http://127.0.0.1:9");
	aws_settings_done(&s);

	test_setenv("AWS_MAX_ATTEMPTS", "0");
	assert_int_equal(aws_settings_load(test_getenv, &s, &error), -EINVAL);
	test_assert_contains(error, "AWS_MAX_ATTEMPTS: '0' is not a number of attempts");
	free(error);
	error = NULL;
	test_setenv("AWS_MAX_ATTEMPTS", NULL);
	test_setenv("AWS_EC2_METADATA_DISABLED", "1");
	assert_int_equal(aws_settings_load(test_getenv, &s, &error), -EINVAL);
	test_assert_contains(error, "AWS_EC2_METADATA_DISABLED: '1' is not 'true' or 'false'");
	free(error);
}

/* The IMDS endpoint mode as botocore resolves it (utils.py
 * resolve_imds_endpoint_mode): the mode when set, else imds_use_ipv6. */
static void test_settings_imds_mode(void **state)
{
	struct aws_settings s;
	char *error = NULL;

	test_setenv("AWS_CONFIG_FILE", test_write("config", "[default]\nimds_use_ipv6 = true\n"));
	load_settings(&s);
	assert_true(s.ec2_metadata_ipv6);
	aws_settings_done(&s);

	test_setenv("AWS_IMDS_USE_IPV6", "false"); /* the variable beats the key */
	load_settings(&s);
	assert_false(s.ec2_metadata_ipv6);
	aws_settings_done(&s);

	test_setenv("AWS_IMDS_USE_IPV6", "true");
	test_setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv4"); /* the mode beats both */
	load_settings(&s);
	assert_false(s.ec2_metadata_ipv6);
	aws_settings_done(&s);

	test_setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", NULL);
	test_setenv("AWS_IMDS_USE_IPV6", "yes");
	assert_int_equal(aws_settings_load(test_getenv, &s, &error), -EINVAL);
	test_assert_contains(error, "AWS_IMDS_USE_IPV6: 'yes' is not 'true' or 'false'");
	free(error);
}

static void test_settings_use_profile(void **state)
{
	struct aws_settings s;
	char *error = NULL;

	test_setenv("AWS_CONFIG_FILE", test_write("config", shared_config));
	load_settings(&s);
	assert_int_equal(aws_settings_use_profile(&s, "svc", &error), 0);
	assert_string_equal(s.profile, "svc");
	assert_true(s.profile_explicit);
	assert_string_equal(s.region, "ap-south-1");
	assert_string_equal(s.kms_endpoint_url, "https://127.0.0.1:8443");
	/* A failed switch leaves everything as it was. */
	assert_int_equal(aws_settings_use_profile(&s, "broken", &error), -EINVAL);
	test_assert_contains(error, "no [services missing] section");
	assert_string_equal(s.profile, "svc");
	assert_string_equal(s.region, "ap-south-1");
	free(error);
	aws_settings_done(&s);
}

static void test_settings_tilde_and_no_home(void **state)
{
	struct aws_settings s;

	test_setenv("AWS_CONFIG_FILE", "~/elsewhere/config");
	load_settings(&s);
	assert_string_equal(s.config_file, test_path("elsewhere/config"));
	aws_settings_done(&s);

	test_env_clear(); /* no HOME at all */
	load_settings(&s);
	assert_null(s.config_file);
	assert_null(s.credentials_file);
	aws_settings_done(&s);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_timeutil),
	    T(test_credentials_refcount),
	    T(test_env_basic),
	    T(test_env_token_and_expiration),
	    T(test_env_half_set),
	    T(test_env_bad_values),
	    T(test_shared_default_in_home),
	    T(test_shared_security_token),
	    T(test_login_profile),
	    T(test_shared_credentials_beat_config),
	    T(test_shared_profile_selection),
	    T(test_shared_half_set),
	    T(test_shared_malformed_file),
	    T(test_systemd_credentials),
	    T(test_chain_nothing_found),
	    T(test_chain_order),
	    T(test_assume_role_profile),
	    T(test_credentials_from_json),
	    T(test_resolve_source),
	    T(test_settings_defaults),
	    T(test_settings_region),
	    T(test_settings_endpoint),
	    T(test_settings_misc),
	    T(test_settings_imds_mode),
	    T(test_settings_use_profile),
	    T(test_settings_tilde_and_no_home),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
