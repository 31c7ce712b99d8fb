/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Role chaining in the shared config file, as the AWS SDKs do it
 * (botocore's AssumeRoleProvider): a profile with role_arn and either
 * source_profile or credential_source gets its credentials from STS
 * AssumeRole, signed by the credentials of its source — another profile's
 * static keys, another assume-role profile (chains of any length, up to
 * ROLE_CHAIN_MAX_HOPS), or one of the credential sources Environment,
 * Ec2InstanceMetadata, EcsContainer.
 *
 * The rules, botocore's:
 *   - role_arn with neither source_profile nor credential_source, or with
 *     both, is an error; a profile that also has web_identity_token_file is
 *     left to the web identity provider.
 *   - A source profile with static keys, or with no role to assume
 *     (credential_process; role_arn with web_identity_token_file), gets its
 *     credentials from its own providers, as botocore's
 *     _resolve_credentials_from_profile: web identity, the shared files'
 *     keys, credential_process, with no environment variable read; the keys
 *     win over a role_arn of its own, so a chain ends there.
 *   - A profile may name itself as source_profile when it has static keys
 *     (role and keys in one section); any other repeat is a cycle, refused
 *     with the chain named.
 *   - role_session_name, external_id and duration_seconds (900..43200) of
 *     each hop are passed to its AssumeRole.
 * And a daemon's: mfa_serial on any hop is refused (no one can type a code
 * in), and so is a source profile whose credentials would come from SSO
 * (someone must renew its login in a browser).
 *
 * The whole chain is assumed again on every refresh (the cache refreshes
 * ahead of the last hop's expiry).  The provider is "assume-role" in the
 * chain (creds.h), right after the environment and systemd credentials.
 */
#include <stdbool.h>
#include <stddef.h>

struct aws_ini;

#define ROLE_CHAIN_MAX_HOPS   16
#define ROLE_DURATION_MIN_SEC 900
#define ROLE_DURATION_MAX_SEC 43200
#define ROLE_ARN_MAX          2048
#define ROLE_EXTERNAL_ID_MAX  1224

/* One AssumeRole of the chain; strings owned. */
struct role_hop {
	char *profile;
	char *role_arn;
	char *session_name;    /* role_session_name, or NULL: the default */
	char *external_id;     /* secret-ish: never in a message */
	unsigned duration_sec; /* 0: STS's default */
};

/* How a chain is resolved.  hops[0] is the active profile's role (assumed
 * last); hops[n-1] is signed by the base credentials: those base_profile's
 * own providers give (its static keys, its web identity, its
 * credential_process), or the provider base_source ("env", "imds",
 * "container"). */
struct role_plan {
	struct role_hop hops[ROLE_CHAIN_MAX_HOPS];
	size_t n;
	char *base_profile;            /* or NULL */
	const char *base_source;       /* static, or NULL */
	const char *credential_source; /* as the SDKs spell it, static, or NULL */
};

/*
 * The plan for profile in ini.  Returns 0 with *ret filled (release with
 * role_plan_done()); -ENOENT with a note when profile is no assume-role
 * profile (no role_arn, or web identity); -EINVAL, -EOPNOTSUPP or -ELOOP
 * with *ret_error (malloc'ed) saying what is wrong, naming the profile and
 * the chain, never an external ID.
 */
int role_plan_build(const struct aws_ini *ini, const char *profile, struct role_plan *ret, char **ret_error);
/* Frees what plan owns (wiping external IDs); zeroes it.  Safe twice. */
void role_plan_done(struct role_plan *plan);

/* "profile a via b via c" or "profile a via Environment": the plan as
 * status and logs show it.  malloc'ed, NULL when out of memory. */
char *role_plan_describe(const struct role_plan *plan);
