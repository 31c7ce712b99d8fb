/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds.h"

#include "errorf.h"
#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env(const struct creds_context *ctx, const char *name)
{
	return aws_getenv(ctx->getenv_fn, name);
}

/* Sets *ret_error to a copy of msg (best effort) and returns r. */
/* AWS_CREDENTIAL_EXPIRATION, if set: an RFC 3339 time still in the future
 * (expired keys would only earn ExpiredTokenException from every call). */
static int env_expiration(const struct creds_context *ctx, time_t *ret, char **ret_error)
{
	const char *v = env(ctx, "AWS_CREDENTIAL_EXPIRATION");
	time_t t;

	*ret = 0;
	if (!v)
		return 0;
	if (timeutil_parse_iso8601(v, &t) < 0) {
		return errorf(ret_error, -EINVAL,
			      "AWS_CREDENTIAL_EXPIRATION '%.*s' is not an ISO 8601 time such as 2022-05-26T12:34:56Z",
			      TIMEUTIL_ISO8601_MAX, v);
	}
	if (t <= ctx->now)
		return errorf(ret_error, -EINVAL, "the credentials expired (AWS_CREDENTIAL_EXPIRATION is in the past)");
	*ret = t;
	return 0;
}

/*
 * AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (both or neither),
 * AWS_SESSION_TOKEN (or botocore's legacy AWS_SECURITY_TOKEN),
 * AWS_CREDENTIAL_EXPIRATION, AWS_ACCOUNT_ID.
 */
static int env_resolve(const struct creds_context *ctx, struct aws_credentials **ret, char **ret_error)
{
	const char *akid = env(ctx, "AWS_ACCESS_KEY_ID"), *secret = env(ctx, "AWS_SECRET_ACCESS_KEY");
	const char *token = env(ctx, "AWS_SESSION_TOKEN"), *account = env(ctx, "AWS_ACCOUNT_ID");
	const char *bad;
	time_t expiration;
	int r;

	if (!akid && !secret)
		return errorf(ret_error, -ENOENT, "AWS_ACCESS_KEY_ID not set");
	if (!akid)
		return errorf(ret_error, -EINVAL, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
	if (!secret)
		return errorf(ret_error, -EINVAL, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
	if (!token)
		token = env(ctx, "AWS_SECURITY_TOKEN");
	bad = creds_check_fields(akid, secret, token, account);
	if (bad)
		return errorf(ret_error, -EINVAL, "malformed %s", bad);
	r = env_expiration(ctx, &expiration, ret_error);
	if (r < 0)
		return r;
	return aws_credentials_new(akid, secret, token, expiration, "environment", account, ret);
}

const struct creds_provider creds_provider_env = {
    .name = "env",
    .description = "environment variables",
    .resolve = env_resolve,
};
