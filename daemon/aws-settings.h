/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The standard AWS settings, resolved the way the AWS SDKs resolve them
 * (AWS.md §5, §7, §8): environment variables first, then the active profile
 * of the shared config and credentials files.  The daemon's own config file
 * overrides the result afterwards (conf.h, config_apply_to_aws_settings()).
 *
 *   profile     AWS_PROFILE → AWS_DEFAULT_PROFILE → "default"
 *   files       AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE → ~/.aws/…
 *   region      AWS_REGION → AWS_DEFAULT_REGION → profile region
 *   KMS URL     AWS_ENDPOINT_URL_KMS → AWS_ENDPOINT_URL → [services] kms
 *               endpoint_url → profile endpoint_url; none of them when
 *               AWS_IGNORE_CONFIGURED_ENDPOINT_URLS /
 *               ignore_configured_endpoint_urls is true
 *   STS URL     the same with AWS_ENDPOINT_URL_STS and services "sts"
 *   CA bundle   AWS_CA_BUNDLE → ca_bundle
 *   FIPS        AWS_USE_FIPS_ENDPOINT → use_fips_endpoint (KMS and STS)
 *   STS global  AWS_STS_REGIONAL_ENDPOINTS → sts_regional_endpoints:
 *               "regional" (default, as botocore 1.43) or "legacy" (the
 *               global endpoint for the regions botocore sends there);
 *               anything else is an error, as in botocore
 *   dual-stack  AWS_USE_DUALSTACK_ENDPOINT → use_dualstack_endpoint
 *   IMDS        AWS_EC2_METADATA_DISABLED; AWS_EC2_METADATA_SERVICE_ENDPOINT
 *               → ec2_metadata_service_endpoint; …_ENDPOINT_MODE → …_mode,
 *               else AWS_IMDS_USE_IPV6 → imds_use_ipv6 (true: IPv6);
 *               AWS_EC2_METADATA_V1_DISABLED → ec2_metadata_v1_disabled
 *   retries     AWS_RETRY_MODE → retry_mode (default standard; botocore
 *               1.43's default is legacy, the other SDKs' standard);
 *               AWS_MAX_ATTEMPTS → max_attempts (default: the mode's,
 *               3, or 5 for legacy as in botocore's _retry.json)
 *
 * An environment variable set to the empty string counts as unset.
 * Booleans are "true"/"false" (any case); anything else is an error rather
 * than a silent false, so a typo cannot quietly turn IMDS back on.
 */
#include <stdbool.h>

struct aws_ini;

/* How settings read the environment: returns the value or NULL.  Tests
 * inject their own; NULL stands for the process environment (getenv). */
typedef const char *(*aws_getenv_fn)(const char *name);

enum aws_retry_mode {
	AWS_RETRY_MODE_STANDARD,
	AWS_RETRY_MODE_LEGACY,
	AWS_RETRY_MODE_ADAPTIVE,
	_AWS_RETRY_MODE_MAX,
};
const char *aws_retry_mode_to_string(enum aws_retry_mode m);
/* -EINVAL for anything but "standard", "legacy", "adaptive" (any case, as
 * the Go and Java SDKs; botocore wants lower case). */
int aws_retry_mode_from_string(const char *s, enum aws_retry_mode *ret);
/* Total attempts per call when max_attempts is not set: 3, legacy 5. */
unsigned aws_retry_mode_default_attempts(enum aws_retry_mode m);

#define AWS_DEFAULT_PROFILE      "default"
#define AWS_DEFAULT_MAX_ATTEMPTS 3
#define AWS_LEGACY_MAX_ATTEMPTS  5   /* botocore _retry.json __default__ */
#define AWS_MAX_MAX_ATTEMPTS     100 /* a bigger value is a typo, not a wish */

/* Every string is owned (malloc'ed) and NULL when not configured. */
struct aws_settings {
	aws_getenv_fn getenv_fn; /* as passed to aws_settings_load() */
	char *profile;           /* active profile; never NULL once loaded */
	bool profile_explicit;   /* named by the environment or the daemon config */
	char *config_file;       /* NULL only without $HOME and AWS_CONFIG_FILE */
	char *credentials_file;
	struct aws_ini *ini; /* both files parsed (empty if missing); never NULL once loaded */

	char *region; /* NULL: none (key ARNs carry their own; IMDS is later work) */
	char *kms_endpoint_url;
	char *sts_endpoint_url;
	bool ignore_configured_endpoint_urls;
	char *ca_bundle;
	bool use_fips_endpoint;
	bool use_dualstack_endpoint; /* KMS at kms.REGION.api.aws (IPv4 and IPv6) */
	bool sts_legacy_global;      /* sts_regional_endpoints = legacy (see sts_endpoint_url()) */

	bool ec2_metadata_disabled;
	char *ec2_metadata_endpoint; /* NULL: the default for the mode */
	bool ec2_metadata_ipv6;      /* endpoint mode IPv6 */
	bool ec2_metadata_v1_disabled;
	/* Unlike the SDKs, IMDSv1 (no session token) is never used unless the
	 * daemon config allows it: [AWS] IMDSv1Fallback=yes. */
	bool ec2_metadata_v1_fallback;

	unsigned max_attempts; /* >= 1: as set, else the mode's default */
	bool max_attempts_set; /* by the environment, the profile or the daemon config */
	enum aws_retry_mode retry_mode;
};

/*
 * Resolves every setting from getenv_fn (NULL: the process environment) and
 * the shared files.  A missing file is not an error; an unreadable or
 * malformed one is, as is a bad value (a non-numeric AWS_MAX_ATTEMPTS, a
 * profile naming a [services] section that does not exist).
 * Returns 0 with *ret filled (release with aws_settings_done()), or a
 * negative errno with *ret untouched and *ret_error (malloc'ed) naming the
 * variable, or the file and line.
 */
int aws_settings_load(aws_getenv_fn getenv_fn, struct aws_settings *ret, char **ret_error);

/*
 * Switches s to another profile (the daemon config's Profile=) and resolves
 * the profile-dependent settings again; environment variables keep their
 * precedence.  On failure s is unchanged.  Returns 0 or a negative errno with
 * *ret_error as for aws_settings_load().
 */
int aws_settings_use_profile(struct aws_settings *s, const char *profile, char **ret_error);

/*
 * Parses s's shared config and credentials files afresh (as they are on
 * disk now; missing files are empty), for the credential providers that
 * must see an edited file without a restart.  Returns 0 with *ret (free
 * with aws_ini_free()), or a negative errno with *ret_error as above.
 */
int aws_settings_load_ini(const struct aws_settings *s, struct aws_ini **ret, char **ret_error);

/* Frees everything s owns and zeroes it.  NULL-safe; safe to call twice. */
void aws_settings_done(struct aws_settings *s);

/* The value of a variable through s's lookup, NULL when unset or empty. */
const char *aws_settings_getenv(const struct aws_settings *s, const char *name);
/* The same for a bare lookup function (NULL: the process environment). */
const char *aws_getenv(aws_getenv_fn getenv_fn, const char *name);

/* Replaces *field with a copy of value (NULL clears it).  0 or -ENOMEM. */
int aws_settings_set_string(char **field, const char *value);
