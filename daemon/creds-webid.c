/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds-net.h"
#include "errorf.h"
#include "sts.h"
#include "textfile.h"

/*
 * Web identity (EKS IRSA and other OIDC federation; AWS.md §7.5):
 * AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME), or
 * the profile's web_identity_token_file + role_arn (+ role_session_name);
 * the token file is read afresh on every refresh (the platform rotates
 * it) and exchanged at STS with AssumeRoleWithWebIdentity, unsigned.
 */

#define WEBID_MAX_TOKEN        (64 * 1024)

struct webid_fetch {
	struct creds_fetch base;
	struct sts_call *call;
	creds_fetch_done_fn done;
	void *userdata;
};

static void webid_cancel(struct creds_fetch *base)
{
	struct webid_fetch *f = (struct webid_fetch *)base;

	sts_call_cancel(f->call);
	free(f);
}

static void sts_done(const struct sts_result *res, void *userdata)
{
	struct webid_fetch *f = userdata;
	creds_fetch_done_fn done = f->done;
	void *ud = f->userdata;

	free(f);
	done(res->r, res->r == 0 ? aws_credentials_ref(res->credentials) : NULL, res->message, ud);
}

/* Which settings apply: the environment's token file with AWS_ROLE_ARN,
 * else the profile's pair (botocore takes each from env, then profile);
 * for a role chain's source profile, the profile's alone. */
struct webid_settings {
	const char *token_file, *role_arn, *session_name;
};

static int webid_settings(const struct creds_context *ctx, struct webid_settings *ret, char **ret_error)
{
	bool env = !ctx->profile_only;
	struct webid_settings w = {
	    .token_file =
		creds_context_setting(ctx, env ? "AWS_WEB_IDENTITY_TOKEN_FILE" : NULL, "web_identity_token_file"),
	    .role_arn = creds_context_setting(ctx, env ? "AWS_ROLE_ARN" : NULL, "role_arn"),
	    .session_name = creds_context_setting(ctx, env ? "AWS_ROLE_SESSION_NAME" : NULL, "role_session_name"),
	};

	if (!w.token_file)
		return errorf(ret_error, -ENOENT, "AWS_WEB_IDENTITY_TOKEN_FILE not set, no web_identity_token_file");
	if (!w.role_arn)
		return errorf(ret_error, -EINVAL,
			      "a web identity token file is set but no role (AWS_ROLE_ARN or "
			      "role_arn)");
	if (strncmp(w.role_arn, "arn:", 4) != 0 || strlen(w.role_arn) > 2048)
		return errorf(ret_error, -EINVAL, "role '%.200s' is not a role ARN", w.role_arn);
	if (w.session_name && !sts_session_name_valid(w.session_name))
		return errorf(ret_error, -EINVAL,
			      "role session name '%.80s' is not 2 to 64 characters of letters, digits and _+=,.@-",
			      w.session_name);
	*ret = w;
	return 0;
}

static int read_token(const char *path, char **ret, size_t *ret_size, char **ret_error)
{
	char *buf = NULL;
	size_t size = 0;
	int r;

	r = textfile_read(path, WEBID_MAX_TOKEN, &buf, &size);
	if (r < 0)
		return errorf(ret_error, r, "cannot read the web identity token file %s: %s", path, strerror(-r));
	while (size > 0 && strchr(" \t\r\n", buf[size - 1]))
		buf[--size] = '\0';
	if (size == 0) {
		textfile_free(buf, size);
		return errorf(ret_error, -EINVAL, "the web identity token file %s is empty", path);
	}
	*ret = buf;
	*ret_size = size;
	return 0;
}

static int webid_start(const struct creds_context *ctx, creds_fetch_done_fn done, void *userdata,
		       struct creds_fetch **ret_fetch, char **ret_error)
{
	struct webid_settings w = {0};
	struct webid_fetch *f = NULL;
	char *token = NULL, *endpoint = NULL, session[STS_SESSION_NAME_MAX + 1];
	size_t token_size = 0;
	int r;

	r = webid_settings(ctx, &w, ret_error);
	if (r < 0)
		return r;
	r = sts_endpoint_url(ctx->settings, &endpoint);
	if (r < 0)
		return errorf(ret_error, r, "no STS endpoint: %s", sts_endpoint_error(ctx->settings, r));
	if (!ctx->net) {
		r = errorf(ret_error, -EINPROGRESS, "would exchange %s for role %s at %s", w.token_file, w.role_arn,
			   endpoint);
		free(endpoint);
		return r;
	}
	r = read_token(w.token_file, &token, &token_size, ret_error);
	if (r < 0)
		goto out;
	if (w.session_name)
		snprintf(session, sizeof(session), "%s", w.session_name);
	else
		snprintf(session, sizeof(session), "kmscanceld-%lld", (long long)ctx->now);
	f = calloc(1, sizeof(*f));
	if (!f) {
		r = -ENOMEM;
		goto out;
	}
	f->base.cancel = webid_cancel;
	f->done = done;
	f->userdata = userdata;
	{
		const struct sts_param params[] = {
		    {"RoleArn", w.role_arn},
		    {"RoleSessionName", session},
		    {"WebIdentityToken", token},
		};
		const struct sts_request req = {
		    .endpoint_url = endpoint,
		    .action = "AssumeRoleWithWebIdentity",
		    .params = params,
		    .n_params = 3,
		    .source = "web-identity",
		    .timeout_ms = CREDS_STS_TIMEOUT_MS,
		};

		r = sts_call_start(ctx->net, &req, sts_done, f, &f->call, ret_error);
	}
	if (r < 0)
		goto out;
	*ret_fetch = &f->base;
	f = NULL;
out:
	free(f);
	textfile_free(token, token_size);
	free(endpoint);
	return r;
}

const struct creds_provider creds_provider_web_identity = {
    .name = "web-identity",
    .description = "web identity (STS AssumeRoleWithWebIdentity)",
    .start = webid_start,
};
