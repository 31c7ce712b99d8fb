/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds.h"

#include "aws-ini.h"
#include "errorf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const profile_keys[_CREDS_FIELD_MAX] = {
    [CREDS_FIELD_ACCESS_KEY_ID] = "aws_access_key_id",
    [CREDS_FIELD_SECRET_ACCESS_KEY] = "aws_secret_access_key",
    [CREDS_FIELD_SESSION_TOKEN] = "aws_session_token",
    [CREDS_FIELD_ACCOUNT_ID] = "aws_account_id",
};

/* Checks each present field, pointing at the line of the first bad one. */
static int check_profile_fields(const struct aws_ini_property *const *props, const char *profile, char **ret_error)
{
	for (size_t f = 0; f < _CREDS_FIELD_MAX; f++) {
		const struct aws_ini_property *p = props[f];
		bool optional = f == CREDS_FIELD_SESSION_TOKEN || f == CREDS_FIELD_ACCOUNT_ID;

		if (!p || (optional && !*p->value))
			continue;
		if (!creds_field_valid((enum creds_field)f, p->value))
			return errorf(ret_error, -EINVAL, "%s:%u: profile '%s': malformed %s (%s)", p->file, p->line,
				      profile, creds_field_to_string((enum creds_field)f), profile_keys[f]);
	}
	return 0;
}

int creds_from_profile(const struct aws_ini *ini, const char *profile, const char *source, struct aws_credentials **ret,
		       char **ret_error)
{
	const struct aws_ini_property *props[_CREDS_FIELD_MAX];
	const struct aws_ini_property *akid, *secret, *token, *account;
	int r;

	if (!aws_ini_has_section(ini, AWS_INI_PROFILE, profile))
		return errorf(ret_error, -ENOENT, "no profile '%s'", profile);
	for (size_t f = 0; f < _CREDS_FIELD_MAX; f++)
		props[f] = aws_ini_get_property(ini, AWS_INI_PROFILE, profile, profile_keys[f]);
	/* The older name of the token, which botocore reads too (as the
	 * environment's AWS_SECURITY_TOKEN, the standard name first). */
	if (!props[CREDS_FIELD_SESSION_TOKEN])
		props[CREDS_FIELD_SESSION_TOKEN] =
		    aws_ini_get_property(ini, AWS_INI_PROFILE, profile, "aws_security_token");
	akid = props[CREDS_FIELD_ACCESS_KEY_ID];
	secret = props[CREDS_FIELD_SECRET_ACCESS_KEY];
	token = props[CREDS_FIELD_SESSION_TOKEN];
	account = props[CREDS_FIELD_ACCOUNT_ID];

	if (!akid && !secret)
		return errorf(ret_error, -ENOENT, "profile '%s' has no aws_access_key_id", profile);
	if (!secret)
		return errorf(ret_error, -EINVAL,
			      "%s:%u: profile '%s' has aws_access_key_id but no aws_secret_access_key", akid->file,
			      akid->line, profile);
	if (!akid)
		return errorf(ret_error, -EINVAL,
			      "%s:%u: profile '%s' has aws_secret_access_key but no aws_access_key_id", secret->file,
			      secret->line, profile);
	r = check_profile_fields(props, profile, ret_error);
	if (r < 0)
		return r;
	if (!source)
		source = akid->origin == AWS_INI_CREDENTIALS ? "shared-credentials-file" : "config-file";
	return aws_credentials_new(akid->value, secret->value, token ? token->value : NULL, 0, source,
				   account ? account->value : NULL, ret);
}

static const char *or_none(const char *path)
{
	return path ? path : "(no home directory)";
}

/*
 * The active profile's static keys.  A profile named explicitly
 * (AWS_PROFILE, Profile=) that exists in neither file is an error, as in
 * botocore: falling through to other credentials would act as someone else.
 * botocore's order inside a profile: keys in the credentials file, then
 * credential_process, then keys in the config file; so config-file keys
 * next to a credential_process are left for the process provider to win.
 */
static int shared_resolve(const struct creds_context *ctx, struct aws_credentials **ret, char **ret_error)
{
	const struct aws_settings *s = ctx->settings;
	const struct aws_ini *ini = creds_context_ini(ctx);
	const struct aws_ini_property *akid, *role;
	char *note = NULL;
	int r;

	if (!aws_ini_has_section(ini, AWS_INI_PROFILE, s->profile)) {
		if (s->profile_explicit)
			return errorf(ret_error, -EINVAL, "profile '%s' not found in %s or %s", s->profile,
				      or_none(s->credentials_file), or_none(s->config_file));
		return errorf(ret_error, -ENOENT, "no profile '%s' in %s or %s", s->profile,
			      or_none(s->credentials_file), or_none(s->config_file));
	}
	akid = aws_ini_get_property(ini, AWS_INI_PROFILE, s->profile, "aws_access_key_id");
	if (akid && akid->origin == AWS_INI_CONFIG && aws_ini_get(ini, s->profile, "credential_process"))
		return errorf(ret_error, -ENOENT, "profile '%s' has a credential_process, which comes first",
			      s->profile);
	role = aws_ini_get_property(ini, AWS_INI_PROFILE, s->profile, "role_arn");
	if (!akid && role &&
	    (aws_ini_get(ini, s->profile, "source_profile") || aws_ini_get(ini, s->profile, "credential_source")))
		/* An assume-role profile is an explicit choice; using other
		 * credentials instead would act as someone else.  The
		 * assume-role source, earlier in the chain, serves it. */
		return errorf(ret_error, -EINVAL,
			      "%s:%u: profile '%s' assumes a role (role_arn with source_profile or credential_source): "
			      "that is the assume-role source's",
			      role->file, role->line, s->profile);
	r = creds_from_profile(ini, s->profile, NULL, ret, &note);
	if (r == -ENOENT) {
		/* Name the files too: "has no key" alone leaves one guessing where. */
		free(note);
		return errorf(ret_error, -ENOENT, "profile '%s' has no aws_access_key_id in %s or %s", s->profile,
			      or_none(s->credentials_file), or_none(s->config_file));
	}
	if (r < 0)
		*ret_error = note;
	return r;
}

const struct creds_provider creds_provider_shared = {
    .name = "shared",
    .description = "shared credentials and config files",
    .resolve = shared_resolve,
};
