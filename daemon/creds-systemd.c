/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds.h"

#include "aws-ini.h"
#include "errorf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * $CREDENTIALS_DIRECTORY/aws-credentials, put there by systemd from
 * LoadCredential=/SetCredential= (AWS.md §7.9): a file in the shared
 * credentials format.  The active profile's section is used if present,
 * else [default].  Having the file but no usable keys in it is an error:
 * the operator handed us credentials on purpose.
 */
static int systemd_parse(const struct creds_context *ctx, struct aws_ini *ini, const char *path,
			 struct aws_credentials **ret, char **ret_error)
{
	const char *profile = ctx->settings->profile;
	char *note = NULL;
	int r;

	r = aws_ini_load_file(ini, AWS_INI_CREDENTIALS, path, ret_error);
	if (r == -ENOENT)
		return errorf(ret_error, r, "no %s", path);
	if (r < 0)
		return r;
	if (!aws_ini_has_section(ini, AWS_INI_PROFILE, profile))
		profile = AWS_DEFAULT_PROFILE;
	r = creds_from_profile(ini, profile, "systemd-credentials", ret, &note);
	if (r == -ENOENT) {
		r = -EINVAL;
		free(note);
		if (asprintf(&note, "%s: no aws_access_key_id in [%s]%s", path, profile,
			     profile == ctx->settings->profile ? "" : " (nor a section for the active profile)") < 0)
			note = NULL;
	}
	if (r < 0)
		*ret_error = note;
	return r;
}

static int systemd_resolve(const struct creds_context *ctx, struct aws_credentials **ret, char **ret_error)
{
	const char *dir = aws_getenv(ctx->getenv_fn, "CREDENTIALS_DIRECTORY");
	struct aws_ini *ini;
	char *path = NULL;
	int r;

	if (!dir)
		return errorf(ret_error, -ENOENT, "CREDENTIALS_DIRECTORY not set");
	if (asprintf(&path, "%s/%s", dir, CREDS_SYSTEMD_ID) < 0)
		return -ENOMEM;
	ini = aws_ini_new();
	if (!ini) {
		free(path);
		return -ENOMEM;
	}
	r = systemd_parse(ctx, ini, path, ret, ret_error);
	aws_ini_free(ini);
	free(path);
	return r;
}

const struct creds_provider creds_provider_systemd = {
    .name = "systemd",
    .description = "systemd credentials",
    .resolve = systemd_resolve,
};
