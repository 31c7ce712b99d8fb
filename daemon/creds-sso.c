/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds.h"

#include <errno.h>

#include "aws-ini.h"
#include "errorf.h"

/*
 * IAM Identity Center (SSO) profiles: refused, with what to use instead.
 *
 * An SSO profile's credentials come from a token that `aws sso login`
 * obtained interactively, in a browser, and left in ~/.aws/sso/cache; when
 * its refresh token runs out (hours to days), someone has to log in again.
 * A daemon nobody logs into would serve until then and then stop, so
 * kmscanceld does not read that cache.  Where the SDKs would take the SSO
 * path (botocore's SSOProvider: the profile has sso_account_id or
 * sso_role_name, ahead of the static keys), the walk stops here with a
 * message naming the alternatives instead of the misleading "no
 * aws_access_key_id" further down the chain.
 *
 * A profile of `aws login` (login_session) is the same kind of browser
 * login, with its own cache, and is refused the same way.
 */

/* botocore's login source comes after the keys of the shared credentials
 * file and before the rest of the profile's sources, so a login profile is
 * refused only where botocore would take it. */
static int login_resolve(const struct aws_ini *ini, const char *profile, char **ret_error)
{
	const struct aws_ini_property *p = aws_ini_get_property(ini, AWS_INI_PROFILE, profile, "login_session");
	const struct aws_ini_property *akid = aws_ini_get_property(ini, AWS_INI_PROFILE, profile, "aws_access_key_id");

	if (!p || (akid && akid->origin == AWS_INI_CREDENTIALS))
		return errorf(ret_error, -ENOENT, "profile '%s' has no sso_account_id, sso_role_name or login_session",
			      profile);
	return errorf(ret_error, -EOPNOTSUPP,
		      "%s:%u: profile '%s' signs in with 'aws login' (login_session), a login someone must renew "
		      "in a browser, which kmscanceld does not support; give the daemon a role instead "
		      "(role_arn with credential_source, or [Account N] RoleArn=), or let the AWS CLI renew it "
		      "from another profile: "
		      "credential_process = aws configure export-credentials --profile %s --format process",
		      p->file, p->line, profile, profile);
}

static int sso_resolve(const struct creds_context *ctx, struct aws_credentials **ret, char **ret_error)
{
	const struct aws_ini *ini = creds_context_ini(ctx);
	const char *profile = ctx->settings->profile;
	const struct aws_ini_property *p = aws_ini_get_property(ini, AWS_INI_PROFILE, profile, "sso_account_id");

	if (!p)
		p = aws_ini_get_property(ini, AWS_INI_PROFILE, profile, "sso_role_name");
	if (!p)
		return login_resolve(ini, profile, ret_error);
	return errorf(ret_error, -EOPNOTSUPP,
		      "%s:%u: profile '%s' is an IAM Identity Center (SSO) profile, whose login someone must "
		      "renew in a browser, which kmscanceld does not support; give the daemon a role instead "
		      "(role_arn with credential_source, or [Account N] RoleArn=), or let the AWS CLI renew it "
		      "from another profile: "
		      "credential_process = aws configure export-credentials --profile %s --format process",
		      p->file, p->line, profile, profile);
}

const struct creds_provider creds_provider_sso = {
    .name = "sso",
    .description = "IAM Identity Center (SSO) or aws login profile",
    .resolve = sso_resolve,
};
