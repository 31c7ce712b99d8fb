/* SPDX-License-Identifier: MIT */
/*
 * kmscanceld.conf: defaults, every key, errors (unknown keys too) with file:line,
 * missing files, drop-ins (order, overrides, [Account N] merged across files),
 * and how the file's keys override the AWS settings.
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
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "aws-settings.h"
#include "conf.h"

#include "aws-test-util.h"

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

/* Parses text; asserts success. */
static void load_ok(const char *text, struct daemon_config *c)
{
	char *error = NULL;
	int r = config_load_string(text, "k.conf", c, &error);

	if (r < 0)
		print_error("config_load_string: %s\n", error ? error : strerror(-r));
	assert_int_equal(r, 0);
}

/* Parses text; asserts failure with a message containing expect. */
static void load_fails(const char *text, const char *expect)
{
	struct daemon_config c = {.socket_mode = 0123};
	char *error = NULL;

	assert_int_equal(config_load_string(text, "k.conf", &c, &error), -EINVAL);
	test_assert_contains(error, expect);
	assert_int_equal(c.socket_mode, 0123); /* untouched */
	free(error);
}

static void test_defaults(void **state)
{
	struct daemon_config c;

	assert_int_equal(config_load(test_path("absent.conf"), false, &c, NULL), 0);
	assert_null(c.file);
	assert_string_equal(c.socket_path, CONFIG_DEFAULT_SOCKET);
	assert_int_equal(c.socket_mode, 0660);
	assert_string_equal(c.socket_group, "kmscancel");
	assert_int_equal(c.log_level, -1);
	assert_int_equal(c.max_connections, 0);
	assert_null(c.region);
	assert_null(c.credential_source);
	assert_int_equal(c.call_timeout_ms, 30000);
	assert_int_equal(c.drain_timeout_ms, CONFIG_DEFAULT_DRAIN_TIMEOUT_MS);
	assert_int_equal(c.exit_idle_ms, 0);
	assert_int_equal(c.max_attempts, 0);
	assert_int_equal(c.attempt_timeout_ms, 10000);
	assert_int_equal(c.pool_connect_timeout_ms, 0);
	assert_false(c.fips_set);
	assert_int_equal(c.n_allow, 0);
	assert_true(c.allow_root);
	assert_int_equal(c.n_warnings, 0);
	config_done(&c);
	config_done(&c);
	config_done(NULL);
}

static void test_missing_required(void **state)
{
	struct daemon_config c;
	char *error = NULL;

	assert_int_equal(config_load(test_path("absent.conf"), true, &c, &error), -ENOENT);
	test_assert_contains(error, "absent.conf: No such file or directory");
	free(error);
}

static void test_every_key(void **state)
{
	struct daemon_config c;
	const char *path = test_write("kmscanceld.conf",
				      "# comment\n"
				      "; another\n"
				      "[Daemon]\n"
				      "Socket = /run/test/sock\n"
				      "SocketMode=0600\n"
				      "SocketGroup=wheel\n"
				      "LogLevel=debug\n"
				      "MaxConnections=100\n"
				      "MaxConnectionsPerUser=10\n"
				      "MaxCallsPerConnection=5\n"
				      "DrainTimeoutSec=2.5\n"
				      "ExitIdleSec=90\n"
				      "\n"
				      "[AWS]\r\n"
				      "Region=eu-central-1\r\n"
				      "Profile=ops\n"
				      "EndpointURL=https://127.0.0.1:8443\n"
				      "STSEndpointURL=http://127.0.0.1:8444/sts\n"
				      "CABundle=/etc/ssl/test-ca.pem\n"
				      "Account=111122223333\n"
				      "CredentialSource=systemd\n"
				      "[KMS]\n"
				      "Timeout=2.5\n"
				      "MaxAttempts=4\n"
				      "RetryBase=100ms\n"
				      "FIPS=on\n"
				      "AttemptTimeout=2.5\n"
				      "ConnectTimeout=750ms\n"
				      "[Policy]\n"
				      "Allow=group:kmsadmin * arn:aws:kms:*:111122223333:key/*\n"
				      "  Allow = user:alice cancel,describe 1234abcd-12ab-34cd-56ef-1234567890ab  \n"
				      "AllowRoot=no\n");
	char *error = NULL;

	assert_int_equal(config_load(path, true, &c, &error), 0);
	assert_string_equal(c.file, path);
	assert_string_equal(c.socket_path, "/run/test/sock");
	assert_int_equal(c.socket_mode, 0600);
	assert_string_equal(c.socket_group, "wheel");
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_int_equal(c.max_connections, 100);
	assert_int_equal(c.max_connections_per_uid, 10);
	assert_int_equal(c.max_calls_per_connection, 5);
	assert_int_equal(c.drain_timeout_ms, 2500);
	assert_int_equal(c.exit_idle_ms, 90000);
	assert_string_equal(c.region, "eu-central-1");
	assert_string_equal(c.profile, "ops");
	assert_string_equal(c.endpoint_url, "https://127.0.0.1:8443");
	assert_string_equal(c.sts_endpoint_url, "http://127.0.0.1:8444/sts");
	assert_string_equal(c.ca_bundle, "/etc/ssl/test-ca.pem");
	assert_string_equal(c.account, "111122223333");
	assert_string_equal(c.credential_source, "systemd");
	assert_int_equal(c.call_timeout_ms, 2500);
	assert_int_equal(c.max_attempts, 4);
	assert_int_equal(c.retry_base_ms, 100);
	assert_int_equal(c.attempt_timeout_ms, 2500);
	assert_int_equal(c.pool_connect_timeout_ms, 750);
	assert_true(c.fips);
	assert_true(c.fips_set);
	assert_int_equal(c.n_allow, 2);
	assert_string_equal(c.allow[0].rule, "group:kmsadmin * arn:aws:kms:*:111122223333:key/*");
	assert_string_equal(c.allow[0].file, path);
	assert_int_equal(c.allow[0].line, 30);
	assert_string_equal(c.allow[1].rule, "user:alice cancel,describe 1234abcd-12ab-34cd-56ef-1234567890ab");
	assert_int_equal(c.allow[1].line, 31);
	assert_false(c.allow_root);
	assert_int_equal(c.n_warnings, 0);
	config_done(&c);
}

static void test_timeouts(void **state)
{
	static const struct {
		const char *text;
		unsigned ms;
	} ok[] = {
	    {"30", 30000}, {"2.5", 2500},   {"1.5s", 1500}, {"500ms", 500},
	    {"0.001", 1},  {"600", 600000}, {"0.0015", 1},  {"7.25ms", 7},
	};
	static const char *const bad[] = {"0", "0ms", "601", "-1", "1x", "ms", ".", "1.5 s", "1e3", "99999999999999"};
	struct daemon_config c;
	char text[128];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "[KMS]\nTimeout=%s\n", ok[i].text);
		load_ok(text, &c);
		assert_int_equal(c.call_timeout_ms, ok[i].ms);
		config_done(&c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[KMS]\nTimeout=%s\n", bad[i]);
		load_fails(text, "k.conf:2: Timeout=");
	}
}

/* AttemptTimeout=: no or 0 turn it off, Key= brings the default back. */
static void test_attempt_timeout(void **state)
{
	static const struct {
		const char *text;
		unsigned ms;
	} cases[] = {
	    {"AttemptTimeout=no", 0},
	    {"AttemptTimeout=0", 0},
	    {"AttemptTimeout=300ms", 300},
	    {"AttemptTimeout=5", 5000},
	    {"AttemptTimeout=no\nAttemptTimeout=", 10000},
	};
	struct daemon_config c;
	char text[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[KMS]\n%s\n", cases[i].text);
		load_ok(text, &c);
		assert_int_equal(c.attempt_timeout_ms, cases[i].ms);
		config_done(&c);
	}
}

static void test_bad_values(void **state)
{
	load_fails("[Daemon]\nSocketMode=0999\n", "k.conf:2: SocketMode=0999: expected an octal mode");
	load_fails("[Daemon]\nSocketMode=01777\n", "k.conf:2: SocketMode=");
	load_fails("[Daemon]\nSocket=relative/path\n", "k.conf:2: Socket=relative/path: expected an absolute path");
	load_fails("[Daemon]\nLogLevel=loud\n",
		   "k.conf:2: LogLevel=loud: expected err, warning, notice, info or debug");
	load_fails("[Daemon]\nLogLevel=emerg\n", "LogLevel=emerg");
	load_fails("[Daemon]\nMaxConnections=0\n", "k.conf:2: MaxConnections=0");
	load_fails("[Daemon]\nMaxConnectionsPerUser=lots\n", "MaxConnectionsPerUser=lots");
	load_fails("\n[AWS]\nRegion=US East\n", "k.conf:3: Region=US East: expected a region name");
	load_fails("[Daemon]\nDrainTimeoutSec=0\n", "k.conf:2: DrainTimeoutSec=0: expected a time");
	load_fails("[Daemon]\nDrainTimeoutSec=601\n", "DrainTimeoutSec=601");
	load_fails("[Daemon]\nExitIdleSec=soon\n", "k.conf:2: ExitIdleSec=soon: expected no, 0, or a time");
	load_fails("[Daemon]\nExitIdleSec=86401\n", "ExitIdleSec=86401");
	load_fails("[AWS]\nProfile=my profile\n", "Profile=my profile: expected a profile name");
	load_fails("[AWS]\nEndpointURL=ftp://x\n", "EndpointURL=ftp://x: expected an https:// URL");
	load_fails("[AWS]\nCABundle=ca.pem\n", "CABundle=ca.pem: expected an absolute path");
	load_fails("[AWS]\nAccount=1234\n", "Account=1234: expected a 12-digit account ID");
	load_fails("[AWS]\nCredentialSource=imdsv9\n", "CredentialSource=imdsv9: expected a credential source");
	load_fails("[KMS]\nMaxAttempts=0\n", "MaxAttempts=0");
	load_fails("[KMS]\nAttemptTimeout=soon\n", "k.conf:2: AttemptTimeout=soon: expected no, 0, or a time");
	load_fails("[KMS]\nAttemptTimeout=601\n", "AttemptTimeout=601");
	load_fails("[KMS]\nConnectTimeout=0\n", "k.conf:2: ConnectTimeout=0: expected a time");
	load_fails("[KMS]\nFIPS=maybe\n", "k.conf:2: FIPS=maybe: expected yes or no");
	load_fails("[Policy]\nAllowRoot=2\n", "AllowRoot=2");
}

static void test_syntax_errors(void **state)
{
	load_fails("Socket=/x\n", "k.conf:1: Socket= outside of any section");
	load_fails("[Daemon\n", "k.conf:1: section header does not end with ']'");
	load_fails("[Daemon]\n\nSocket /x\n", "k.conf:3: expected Key=Value");
}

/* Unknown sections and keys are errors in every section, naming file:line:
 * a misspelt Deny= or [Policy] must not silently drop a rule. */
static void test_unknown_is_error(void **state)
{
	load_fails("[Daemon]\nSoket=/x\n", "k.conf:2: unknown key Soket= in [Daemon]");
	load_fails("[AWS]\nRegion=us-east-1\nRegio=eu-west-1\n", "k.conf:3: unknown key Regio= in [AWS]");
	load_fails("[KMS]\nTimeOut=3\n", "k.conf:2: unknown key TimeOut= in [KMS]");
	load_fails("[Policy]\nAllow=* * *\nDenny=* cancel *\n", "k.conf:3: unknown key Denny= in [Policy]");
	load_fails("[Account 444455556666]\nProfile=p\nRolArn=arn:aws:iam::444455556666:role/r\n",
		   "k.conf:3: unknown key RolArn= in [Account 444455556666]");
	load_fails("[Frobnicate]\nAnything=goes\n", "k.conf:1: unknown section [Frobnicate]");
	load_fails("[Policy]\nAllow=* * *\n[daemon]\nSocket=/y\n", "k.conf:3: unknown section [daemon]");
	load_fails("[Polcy]\nDeny=* * *\n", "k.conf:1: unknown section [Polcy]");
}

/* What loads loads without a warning. */
static void test_no_warnings(void **state)
{
	struct daemon_config c;

	load_ok("[Daemon]\nSocket=/x\n[Policy]\nAllow=* * *\nDeny=* cancel *\nAllowRoot=no\n", &c);
	assert_int_equal(c.n_warnings, 0);
	assert_int_equal(c.n_allow, 2);
	config_done(&c);
}

static void test_repeats_and_resets(void **state)
{
	struct daemon_config c;

	load_ok("[Daemon]\nSocketMode=0600\nSocketMode=0640\nSocket=/a\nSocket=\n"
		"[AWS]\nRegion=us-east-1\nRegion=\n"
		"[KMS]\nFIPS=yes\nFIPS=\nTimeout=5\nTimeout=\n"
		"[Policy]\nAllow=user:a * *\nAllow=\nAllow=user:b * *\nAllowRoot=no\nAllowRoot=\n",
		&c);
	assert_int_equal(c.socket_mode, 0640);
	assert_string_equal(c.socket_path, CONFIG_DEFAULT_SOCKET);
	assert_null(c.region);
	assert_false(c.fips_set);
	assert_int_equal(c.call_timeout_ms, 30000);
	assert_int_equal(c.n_allow, 1);
	assert_string_equal(c.allow[0].rule, "user:b * *");
	assert_true(c.allow_root);
	config_done(&c);
}

/* [Guard]: Keys= adds words (each once), an empty one empties the list;
 * anything but a key ID, key ARN or alias is an error; Interval= from 1 s. */
static void test_guard(void **state)
{
	struct daemon_config c;

	load_ok("[Policy]\n", &c);
	assert_int_equal(c.n_guard_keys, 0);
	assert_int_equal(c.guard_interval_ms, 60000);
	assert_false(c.guard_enable);
	config_done(&c);
	load_ok("[Guard]\nKeys=alias/gone\nKeys=\n"
		"Keys=arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab alias/prod-db\n"
		"Keys=alias/prod-db arn:aws:kms:eu-west-1:111122223333:alias/x 2234abcd-12ab-34cd-56ef-1234567890ab\n"
		"Interval=1.5\nEnable=yes\n",
		&c);
	assert_int_equal(c.n_guard_keys, 4);
	assert_string_equal(c.guard_keys[0],
			    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab");
	assert_string_equal(c.guard_keys[1], "alias/prod-db");
	assert_string_equal(c.guard_keys[2], "arn:aws:kms:eu-west-1:111122223333:alias/x");
	assert_string_equal(c.guard_keys[3], "2234abcd-12ab-34cd-56ef-1234567890ab");
	assert_int_equal(c.guard_interval_ms, 1500);
	assert_true(c.guard_enable);
	config_done(&c);
	load_fails("[Guard]\nKeys=alias/ok not-a-key\n", "k.conf:2: Keys=alias/ok not-a-key: expected key ARNs");
	load_fails("[Guard]\nInterval=999ms\n", "k.conf:2: Interval=999ms: expected a time");
	load_fails("[Guard]\nInterval=86401\n", "Interval=86401");
	load_fails("[Guard]\nEnable=maybe\n", "Enable=maybe: expected yes or no");
}

static void test_value_with_hash(void **state)
{
	struct daemon_config c;

	/* systemd-style: '#' only starts a comment at the start of a line. */
	load_ok("[Policy]\nAllow=user:a * key#1\n", &c);
	assert_string_equal(c.allow[0].rule, "user:a * key#1");
	config_done(&c);
}

/* retry_mode / AWS_RETRY_MODE and [KMS] RetryMode=: the config key wins;
 * max_attempts left unset everywhere is the mode's default (legacy 5, as
 * botocore's _retry.json), set anywhere it stays. */
static void test_retry_mode(void **state)
{
	struct daemon_config c;
	struct aws_settings s;
	char *error = NULL;

	test_setenv("AWS_CONFIG_FILE", test_write("config", "[default]\nretry_mode = legacy\n"));
	assert_int_equal(aws_settings_load(test_getenv, &s, &error), 0);
	assert_int_equal(s.retry_mode, AWS_RETRY_MODE_LEGACY);
	assert_int_equal(s.max_attempts, 5);
	assert_false(s.max_attempts_set);

	load_ok("[KMS]\nRetryMode=adaptive\n", &c);
	assert_true(c.retry_mode_set);
	assert_int_equal(config_apply_to_aws_settings(&c, &s, &error), 0);
	assert_int_equal(s.retry_mode, AWS_RETRY_MODE_ADAPTIVE);
	assert_int_equal(s.max_attempts, 3);
	config_done(&c);
	aws_settings_done(&s);

	test_setenv("AWS_RETRY_MODE", "standard");
	test_setenv("AWS_MAX_ATTEMPTS", "4");
	assert_int_equal(aws_settings_load(test_getenv, &s, &error), 0);
	assert_int_equal(s.retry_mode, AWS_RETRY_MODE_STANDARD);
	load_ok("[KMS]\nRetryMode=Legacy\n", &c);
	assert_int_equal(config_apply_to_aws_settings(&c, &s, &error), 0);
	assert_int_equal(s.retry_mode, AWS_RETRY_MODE_LEGACY);
	assert_int_equal(s.max_attempts, 4);
	config_done(&c);
	load_ok("[KMS]\nRetryMode=\n", &c);
	assert_false(c.retry_mode_set);
	config_done(&c);
	aws_settings_done(&s);

	load_fails("[KMS]\nRetryMode=fast\n", "RetryMode=fast");
	assert_null(error);
}

static void test_apply_to_aws_settings(void **state)
{
	struct daemon_config c;
	struct aws_settings s;
	char *error = NULL;

	test_setenv("AWS_CONFIG_FILE", test_write("config", "[default]\nregion = eu-west-1\n"
							    "[profile ops]\nregion = ap-south-1\nca_bundle = /ops.pem\n"
							    "endpoint_url = https://ops.example\n"));
	test_setenv("AWS_ENDPOINT_URL_STS", "https://127.0.0.1:9");
	test_setenv("AWS_MAX_ATTEMPTS", "7");
	test_setenv("AWS_USE_FIPS_ENDPOINT", "true");
	assert_int_equal(aws_settings_load(test_getenv, &s, &error), 0);

	/* Nothing in the config: the AWS settings stand. */
	load_ok("", &c);
	assert_int_equal(config_apply_to_aws_settings(&c, &s, &error), 0);
	assert_string_equal(s.region, "eu-west-1");
	assert_int_equal(s.max_attempts, 7);
	assert_true(s.use_fips_endpoint);
	config_done(&c);

	/* Profile= switches the profile; the other keys override. */
	load_ok("[AWS]\nProfile=ops\nEndpointURL=https://127.0.0.1:8443\n[KMS]\nMaxAttempts=2\nFIPS=no\n", &c);
	assert_int_equal(config_apply_to_aws_settings(&c, &s, &error), 0);
	assert_string_equal(s.profile, "ops");
	assert_string_equal(s.region, "ap-south-1");
	assert_string_equal(s.ca_bundle, "/ops.pem");
	assert_string_equal(s.kms_endpoint_url, "https://127.0.0.1:8443");
	assert_string_equal(s.sts_endpoint_url, "https://127.0.0.1:9");
	assert_int_equal(s.max_attempts, 2);
	assert_false(s.use_fips_endpoint);
	config_done(&c);

	load_ok("[AWS]\nRegion=us-gov-west-1\nSTSEndpointURL=https://127.0.0.1:7\nCABundle=/etc/ca.pem\n", &c);
	assert_int_equal(config_apply_to_aws_settings(&c, &s, &error), 0);
	assert_string_equal(s.region, "us-gov-west-1");
	assert_string_equal(s.sts_endpoint_url, "https://127.0.0.1:7");
	assert_string_equal(s.ca_bundle, "/etc/ca.pem");
	config_done(&c);
	aws_settings_done(&s);
	assert_null(error);
}

/* [KMS] RateLimit=, the *Rate= keys and MaxQueued=: on at AWS's quotas by
 * default (0 = the KMS client's defaults), off with no/off. */
static void test_rate_limit_keys(void **state)
{
	struct daemon_config c;

	load_ok("[KMS]\n", &c);
	assert_true(c.rate_limit);
	assert_true(c.cancel_rate == 0 && c.enable_rate == 0 && c.describe_rate == 0);
	assert_int_equal(c.max_queued, 0);
	config_done(&c);

	load_ok("[KMS]\nRateLimit=no\nCancelRate=100\nEnableRate=0.5\nDescribeRate=2000\nMaxQueued=5\n", &c);
	assert_false(c.rate_limit);
	assert_true(c.cancel_rate == 100 && c.enable_rate == 0.5 && c.describe_rate == 2000);
	assert_int_equal(c.max_queued, 5);
	config_done(&c);

	load_ok("[KMS]\nRateLimit=off\nRateLimit=\nCancelRate=7\nCancelRate=\n", &c);
	assert_true(c.rate_limit);
	assert_true(c.cancel_rate == 0);
	config_done(&c);
	load_ok("[KMS]\nRateLimit=off\n", &c);
	assert_false(c.rate_limit);
	config_done(&c);

	load_fails("[KMS]\nRateLimit=sometimes\n", "RateLimit=sometimes: expected yes or no");
	load_fails("[KMS]\nCancelRate=0\n", "CancelRate=0: expected requests per second");
	load_fails("[KMS]\nCancelRate=-5\n", "CancelRate=-5");
	load_fails("[KMS]\nEnableRate=fast\n", "EnableRate=fast");
	load_fails("[KMS]\nDescribeRate=5/s\n", "DescribeRate=5/s");
	load_fails("[KMS]\nDescribeRate=nan\n", "DescribeRate=nan");
	load_fails("[KMS]\nMaxQueued=0\n", "MaxQueued=0");

	load_ok("[KMS]\nListRate=2.5\n", &c);
	assert_true(c.list_rate == 2.5);
	config_done(&c);
	load_fails("[KMS]\nListRate=0\n", "ListRate=0: expected requests per second");
}

/* Regions= in [AWS] and [Account N]: region names separated by spaces,
 * at least one, at most CONFIG_MAX_REGIONS. */
static void test_regions(void **state)
{
	struct daemon_config c;
	char many[CONFIG_MAX_REGIONS * 16 + 64] = "[AWS]\nRegions=";

	load_ok("[AWS]\nRegions=us-east-1  eu-west-1\teu-central-1\n[Account 444455556666]\nProfile=p\n"
		"Regions=us-west-2\n",
		&c);
	assert_string_equal(c.regions, "us-east-1  eu-west-1\teu-central-1");
	assert_int_equal(c.n_accounts, 1);
	assert_string_equal(c.accounts[0].regions, "us-west-2");
	config_done(&c);
	load_ok("[AWS]\nRegions=us-east-1\nRegions=\n", &c);
	assert_null(c.regions);
	config_done(&c);
	load_fails("[AWS]\nRegions=us-east-1 EU-WEST-1\n", "Regions=us-east-1 EU-WEST-1: expected region names");
	load_fails("[AWS]\nRegions=us-east-1,eu-west-1\n", "Regions=us-east-1,eu-west-1");
	load_fails("[Account 444455556666]\nProfile=p\nRegions=eu_west_1\n", "Regions=eu_west_1");
	for (int i = 0; i <= CONFIG_MAX_REGIONS; i++)
		strcat(many, "us-east-1 ");
	strcat(many, "\n");
	load_fails(many, "expected region names");
}


static void test_accounts(void **state)
{
	struct daemon_config c;
	const struct config_account *a;

	load_ok("[Account 444455556666]\nRoleArn=arn:aws:iam::444455556666:role/path/KeyRescue\nExternalId=ext-1\n"
		"DurationSeconds=900\nRegion=eu-west-1\n[Account 777788889999]\nProfile=prod\n[AWS]\nSTSTimeout=2.5\n",
		&c);
	assert_int_equal(c.n_accounts, 2);
	a = config_find_account(&c, "444455556666");
	assert_non_null(a);
	assert_string_equal(a->role_arn, "arn:aws:iam::444455556666:role/path/KeyRescue");
	assert_string_equal(a->external_id, "ext-1");
	assert_string_equal(a->region, "eu-west-1");
	assert_int_equal(a->duration_sec, 900);
	assert_int_equal(a->line, 1);
	a = config_find_account(&c, "777788889999");
	assert_string_equal(a->profile, "prod");
	assert_null(a->role_arn);
	assert_null(config_find_account(&c, "111122223333"));
	assert_null(config_find_account(&c, NULL));
	assert_int_equal(c.sts_timeout_ms, 2500);
	config_done(&c);

	load_fails("[Account 1234]\nProfile=x\n", "[Account 1234]: expected a 12-digit account ID");
	load_fails("[Account]\n", "expected [Account ID]");
	load_fails("[Account 444455556666]\nProfile=a\n[Account 444455556666]\nProfile=b\n", "given twice");
	load_fails("[Account 444455556666]\nRegion=eu-west-1\n", "k.conf:1: [Account 444455556666]: expected either");
	load_fails("[Account 444455556666]\nProfile=a\nRoleArn=arn:aws:iam::444455556666:role/R\n", "not both");
	load_fails("[Account 444455556666]\nRoleArn=arn:aws:iam::111122223333:role/R\n",
		   "the role belongs to account 111122223333, not 444455556666");
	load_fails("[Account 444455556666]\nRoleArn=arn:aws:iam::444455556666:user/R\n", "expected a role ARN");
	load_fails("[Account 444455556666]\nProfile=a\nExternalId=x1\n", "go with RoleArn=");
	load_fails("[Account 444455556666]\nRoleArn=arn:aws:iam::444455556666:role/R\nExternalId=a b\n",
		   "ExternalId=: expected");
	load_fails("[Account 444455556666]\nRoleArn=arn:aws:iam::444455556666:role/R\nDurationSeconds=60\n",
		   "DurationSeconds=60: expected seconds from 900 to 43200");
	load_fails("[Account 444455556666]\nProfile=a\nRegion=Mars\n", "Region=Mars");

	assert_true(config_role_arn_valid("arn:aws-cn:iam::444455556666:role/R", NULL));
	assert_false(config_role_arn_valid("arn:aws:iam::444455556666:role/", NULL));
	assert_false(config_role_arn_valid("arn:aws:sts::444455556666:role/R", NULL));
}

/* Several files in order (a file and its drop-ins): later keys override,
 * rules add up with their own file:line, "Key=" resets, and the checks run
 * on the result; an error names the file it is in. */
static void test_files_in_order(void **state)
{
	struct daemon_config c;
	char *error = NULL;

	assert_int_equal(config_init_defaults(&c), 0);
	assert_int_equal(config_parse_into(&c,
					   "[Daemon]\nSocketMode=0600\n[KMS]\nTimeout=5\n[Policy]\nAllow=user:a * *\n"
					   "[Account 444455556666]\nRoleArn=arn:aws:iam::444455556666:role/R\n",
					   "main.conf", &error),
			 0);
	assert_int_equal(config_parse_into(&c, "[KMS]\nTimeout=\n[Policy]\n\nDeny=user:b * *\n", "50-x.conf", &error),
			 0);
	assert_int_equal(config_check(&c, &error), 0);
	assert_int_equal(c.socket_mode, 0600);
	assert_int_equal(c.call_timeout_ms, 30000);
	assert_int_equal(c.n_allow, 2);
	assert_string_equal(c.allow[1].file, "50-x.conf");
	assert_int_equal(c.allow[1].line, 5);
	assert_true(c.allow[1].deny);
	assert_int_equal(config_parse_into(&c, "[KMS]\nTimeout=0\n", "60-y.conf", &error), -EINVAL);
	assert_string_equal(error,
			    "60-y.conf:2: Timeout=0: expected a time such as 30, 2.5 or 500ms, from 1ms to 600s");
	free(error);
	error = NULL;
	assert_int_equal(config_parse_into(&c, "[Account 111122223333]\n", "70-z.conf", &error), 0);
	assert_int_equal(config_check(&c, &error), -EINVAL);
	assert_string_equal(error, "70-z.conf:1: [Account 111122223333]: expected either Profile= or RoleArn=");
	free(error);
	config_done(&c);
}

/* config_load() of test_path("k.conf") (required) and its k.conf.d/;
 * returns what it returned, the error in *error. */
static int load_dir(struct daemon_config *c, bool required, char **error)
{
	return config_load(test_path("k.conf"), required, c, error);
}

/* load_dir(required) fails with r and an error containing expect. */
static void load_dir_fails(int r, const char *expect)
{
	struct daemon_config c = {.socket_mode = 0123};
	char *error = NULL;

	assert_int_equal(load_dir(&c, true, &error), r);
	test_assert_contains(error, expect);
	assert_int_equal(c.socket_mode, 0123); /* untouched */
	free(error);
}

/* A file and its drop-ins: read in lexical order after it, listed in
 * c.files; later keys override, rules add up with their own file:line, a
 * drop-in starts outside any section, "Key=" resets to the default. */
static void test_dropins_order(void **state)
{
	struct daemon_config c;
	char *error = NULL;

	test_write("k.conf", "[Daemon]\nSocketMode=0600\n[KMS]\nTimeout=5\n[Policy]\nAllow=user:1 cancel *\n");
	assert_int_equal(mkdir(test_path("k.conf.d"), 0755), 0);
	test_write("k.conf.d/20-b.conf", "[Policy]\nDeny=user:3 cancel *\n[KMS]\nTimeout=\n");
	test_write("k.conf.d/10-a.conf", "[Daemon]\nSocketMode=0640\n[Policy]\nAllow=user:2 cancel *\n");
	test_write("k.conf.d/30-c.txt", "not read: no .conf\n");
	test_write("k.conf.d/.40-d.conf", "not read: hidden\n");
	assert_int_equal(load_dir(&c, true, &error), 0);
	assert_string_equal(c.file, test_path("k.conf"));
	assert_int_equal(c.n_files, 3);
	assert_string_equal(c.files[0], test_path("k.conf"));
	assert_string_equal(c.files[1], test_path("k.conf.d/10-a.conf"));
	assert_string_equal(c.files[2], test_path("k.conf.d/20-b.conf"));
	assert_int_equal(c.socket_mode, 0640);
	assert_int_equal(c.call_timeout_ms, 30000); /* reset by 20-b.conf */
	assert_int_equal(c.n_allow, 3);
	assert_string_equal(c.allow[0].rule, "user:1 cancel *");
	assert_string_equal(c.allow[1].file, test_path("k.conf.d/10-a.conf"));
	assert_int_equal(c.allow[1].line, 4);
	assert_string_equal(c.allow[2].file, test_path("k.conf.d/20-b.conf"));
	assert_int_equal(c.allow[2].line, 2);
	assert_true(c.allow[2].deny);
	config_done(&c);

	/* "Allow=" in a drop-in clears the rules read before it. */
	test_write("k.conf.d/50-e.conf", "[Policy]\nAllow=\nAllow=user:5 describe *\n");
	assert_int_equal(load_dir(&c, true, &error), 0);
	assert_int_equal(c.n_allow, 1);
	assert_string_equal(c.allow[0].rule, "user:5 describe *");
	config_done(&c);

	/* Each file starts outside any section. */
	test_write("k.conf.d/60-f.conf", "Timeout=5\n");
	load_dir_fails(-EINVAL, "k.conf.d/60-f.conf:1: Timeout= outside of any section");
}

/* No main file: the drop-ins apply over the defaults (unless --config
 * named a file, which must then exist); a masked or removed drop-in is not
 * read; a broken one names its file:line; an unreadable directory is
 * named. */
static void test_dropins_without_main(void **state)
{
	struct daemon_config c;
	char *error = NULL;

	assert_int_equal(mkdir(test_path("k.conf.d"), 0755), 0);
	test_write("k.conf.d/10-a.conf", "[Daemon]\nSocketMode=0640\n");
	assert_int_equal(load_dir(&c, false, &error), 0);
	assert_null(c.file);
	assert_int_equal(c.n_files, 1);
	assert_string_equal(c.files[0], test_path("k.conf.d/10-a.conf"));
	assert_int_equal(c.socket_mode, 0640);
	config_done(&c);
	load_dir_fails(-ENOENT, "k.conf: No such file or directory");

	/* A symlink to /dev/null is a mask: nothing read, no error. */
	test_write("k.conf", "[Daemon]\nSocketMode=0600\n");
	assert_int_equal(unlink(test_path("k.conf.d/10-a.conf")), 0);
	assert_int_equal(symlink("/dev/null", test_path("k.conf.d/10-a.conf")), 0);
	assert_int_equal(load_dir(&c, true, &error), 0);
	assert_int_equal(c.n_files, 1);
	assert_int_equal(c.socket_mode, 0600);
	config_done(&c);

	test_write("k.conf.d/20-b.conf", "[Daemon]\n\nSocketMode=999\n");
	load_dir_fails(-EINVAL, "k.conf.d/20-b.conf:3: SocketMode=999");

	assert_int_equal(rename(test_path("k.conf.d"), test_path("moved.d")), 0);
	test_write("k.conf.d", "a file, not a directory\n");
	load_dir_fails(-ENOTDIR, "cannot read drop-in directory ");
	load_dir_fails(-ENOTDIR, "k.conf.d: Not a directory");
}

/* [Account N] in a later file merges into the earlier section, key by key
 * (as systemd merges its drop-ins' sections); repeated in one file it is
 * still an error.  The end-of-load checks see the merged section. */
static void test_dropins_account_merge(void **state)
{
	struct daemon_config c;
	const struct config_account *a;
	char *error = NULL;

	test_write("k.conf", "[Account 444455556666]\nProfile=a\nRegion=eu-west-1\n");
	assert_int_equal(mkdir(test_path("k.conf.d"), 0755), 0);
	test_write("k.conf.d/10-a.conf", "[Account 444455556666]\nProfile=b\n[Account 777788889999]\nProfile=c\n");
	assert_int_equal(load_dir(&c, true, &error), 0);
	assert_int_equal(c.n_accounts, 2);
	a = config_find_account(&c, "444455556666");
	assert_string_equal(a->profile, "b");
	assert_string_equal(a->region, "eu-west-1");
	assert_string_equal(a->file, test_path("k.conf")); /* where it starts */
	assert_int_equal(a->line, 1);
	config_done(&c);

	/* From a profile to a role: reset Profile= first... */
	test_write("k.conf.d/20-b.conf",
		   "[Account 444455556666]\nProfile=\nRoleArn=arn:aws:iam::444455556666:role/R\nDurationSeconds=900\n");
	assert_int_equal(load_dir(&c, true, &error), 0);
	a = config_find_account(&c, "444455556666");
	assert_null(a->profile);
	assert_string_equal(a->role_arn, "arn:aws:iam::444455556666:role/R");
	assert_int_equal(a->duration_sec, 900);
	config_done(&c);

	/* ... else the merged section has both. */
	test_write("k.conf.d/20-b.conf", "[Account 444455556666]\nRoleArn=arn:aws:iam::444455556666:role/R\n");
	load_dir_fails(-EINVAL, "k.conf:1: [Account 444455556666]: expected either Profile= or RoleArn=, not both");

	test_write("k.conf.d/20-b.conf", "[Account 444455556666]\nRegion=us-west-2\n[Account 444455556666]\n");
	load_dir_fails(-EINVAL, "k.conf.d/20-b.conf:3: [Account 444455556666] given twice");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_defaults),
	    T(test_missing_required),
	    T(test_every_key),
	    T(test_timeouts),
	    T(test_bad_values),
	    T(test_syntax_errors),
	    T(test_unknown_is_error),
	    T(test_no_warnings),
	    T(test_repeats_and_resets),
	    T(test_guard),
	    T(test_value_with_hash),
	    T(test_apply_to_aws_settings),
	    T(test_retry_mode),
	    T(test_rate_limit_keys),
	    T(test_regions),
	    T(test_accounts),
	    T(test_attempt_timeout),
	    T(test_files_in_order),
	    T(test_dropins_order),
	    T(test_dropins_without_main),
	    T(test_dropins_account_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
