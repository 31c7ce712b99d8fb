/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds-net.h"
#include "errorf.h"
#include "secret-json.h"
#include "log.h"

/*
 * EC2 instance metadata, IMDSv2 (AWS.md §7.7):
 *   1. PUT /latest/api/token, X-aws-ec2-metadata-token-ttl-seconds → token
 *   2. GET /latest/meta-data/iam/security-credentials/ → role name
 *      (skipped when AWS_EC2_INSTANCE_PROFILE_NAME names it)
 *   3. GET …/security-credentials/ROLE → {"Code":"Success","AccessKeyId",…}
 * with X-aws-ec2-metadata-token on 2 and 3.  A token PUT answered 403, 404
 * or 405 means IMDSv1 only; the SDKs then go on without a token, we do only
 * when [AWS] IMDSv1Fallback=yes (and AWS_EC2_METADATA_V1_DISABLED is not
 * true).  Each request has the metadata timeout and is tried the configured
 * number of times on a transport error or 5xx.
 */

#define IMDS_DEFAULT_ENDPOINT      "http://169.254.169.254"
#define IMDS_DEFAULT_ENDPOINT_IPV6 "http://[fd00:ec2::254]"
#define IMDS_TOKEN_TTL_SEC         "21600" /* the maximum; we fetch a new token per refresh anyway */
#define IMDS_TOKEN_PATH            "/latest/api/token"
#define IMDS_ROLE_PATH             "/latest/meta-data/iam/security-credentials/"
#define IMDS_MAX_ROLE_NAME         128 /* IAM role names are at most 64 characters */

enum imds_step {
	IMDS_STEP_TOKEN,
	IMDS_STEP_ROLE,
	IMDS_STEP_CREDENTIALS,
	_IMDS_STEP_MAX,
};

static const char *const step_names[_IMDS_STEP_MAX] = {
    [IMDS_STEP_TOKEN] = "token",
    [IMDS_STEP_ROLE] = "role",
    [IMDS_STEP_CREDENTIALS] = "credentials",
};

struct imds_fetch {
	struct creds_fetch base;
	struct creds_net *net;
	struct creds_http *http;
	enum imds_step step;
	unsigned attempt;
	unsigned timeout_ms, attempts;
	bool v1_allowed;
	char *endpoint; /* without a trailing slash */
	char *token;    /* secret-ish: wiped; NULL in IMDSv1 mode */
	char *role;
	creds_fetch_done_fn done;
	void *userdata;
};

static void imds_free(struct imds_fetch *f)
{
	if (!f)
		return;
	creds_http_cancel(f->http);
	if (f->token) {
		explicit_bzero(f->token, strlen(f->token));
		free(f->token);
	}
	free(f->role);
	free(f->endpoint);
	free(f);
}

static void imds_cancel(struct creds_fetch *base)
{
	imds_free((struct imds_fetch *)base);
}

static void imds_finish(struct imds_fetch *f, int r, struct aws_credentials *c, const char *error)
{
	creds_fetch_done_fn done = f->done;
	void *ud = f->userdata;

	imds_free(f);
	done(r, c, error, ud);
}

static void imds_fail(struct imds_fetch *f, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void imds_fail(struct imds_fetch *f, int r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	imds_finish(f, r, NULL, msg);
}

static void imds_http_done(const struct https_outcome *o, const struct http_response *resp, void *userdata);

/* Sends the current step's request.  0, or an error with *ret_error. */
static int imds_request(struct imds_fetch *f, char **ret_error)
{
	struct http_request_header h[1];
	size_t n = 0;
	char url[1024];
	const char *method = "GET";

	switch (f->step) {
	case IMDS_STEP_TOKEN:
		method = "PUT";
		h[n++] = (struct http_request_header){"X-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL_SEC};
		snprintf(url, sizeof(url), "%s%s", f->endpoint, IMDS_TOKEN_PATH);
		break;
	case IMDS_STEP_ROLE:
		snprintf(url, sizeof(url), "%s%s", f->endpoint, IMDS_ROLE_PATH);
		break;
	default:
		snprintf(url, sizeof(url), "%s%s%s", f->endpoint, IMDS_ROLE_PATH, f->role);
		break;
	}
	if (f->step != IMDS_STEP_TOKEN && f->token)
		h[n++] = (struct http_request_header){"X-aws-ec2-metadata-token", f->token};
	f->attempt++;
	log_debug("imds: %s (attempt %u of %u)", step_names[f->step], f->attempt, f->attempts);
	return creds_http_start(f->net, method, url, h, n, NULL, 0, f->timeout_ms, imds_http_done, f, &f->http,
				ret_error);
}

/* imds_request() from a callback: a failure ends the fetch. */
static void imds_send(struct imds_fetch *f)
{
	char *error = NULL;
	int r = imds_request(f, &error);

	if (r < 0) {
		imds_fail(f, r, "%s", error ? error : strerror(-r));
		free(error);
	}
}

int creds_imds_parse_role(const char *body, char **ret)
{
	size_t n = strcspn(body, "\r\n");

	if (n == 0 || n > IMDS_MAX_ROLE_NAME)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = body[i];

		/* IAM: [\w+=,.@-] */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("_+=,.@-", c)))
			return -EINVAL;
	}
	*ret = strndup(body, n);
	return *ret ? 0 : -ENOMEM;
}

int creds_imds_parse_credentials(const char *body, struct aws_credentials **ret, char **ret_error)
{
	struct json_object *o = NULL, *code;
	int r;

	secret_json_parse(body, strlen(body), &o);
	if (!o || !json_object_is_type(o, json_type_object)) {
		secret_json_put(o);
		return errorf(ret_error, -EINVAL, "the answer is not a JSON object");
	}
	if (json_object_object_get_ex(o, "Code", &code) &&
	    (!json_object_is_type(code, json_type_string) || strcmp(json_object_get_string(code), "Success") != 0)) {
		r = errorf(ret_error, -EINVAL, "Code is '%.64s', not Success",
			   json_object_is_type(code, json_type_string) ? json_object_get_string(code) : "?");
		secret_json_put(o);
		return r;
	}
	if (!json_object_object_get_ex(o, "Expiration", NULL)) {
		secret_json_put(o);
		return errorf(ret_error, -EINVAL, "the answer has no Expiration");
	}
	r = creds_from_json(o, "Token", CREDS_SOURCE_IMDS, ret, ret_error);
	secret_json_put(o);
	return r;
}

static void got_credentials(struct imds_fetch *f, const struct http_response *resp)
{
	struct aws_credentials *c = NULL;
	char *error = NULL;
	int r = creds_imds_parse_credentials(resp->body, &c, &error);

	if (r < 0) {
		imds_fail(f, r, "role '%s': %s", f->role, error ? error : strerror(-r));
		free(error);
		return;
	}
	imds_finish(f, 0, c, NULL);
}

/* Moves on after a 2xx answer to the current step. */
static void imds_advance(struct imds_fetch *f, const struct http_response *resp)
{
	switch (f->step) {
	case IMDS_STEP_TOKEN:
		if (resp->body_len == 0 || resp->body_len > 1024 || strcspn(resp->body, "\r\n") != resp->body_len) {
			imds_fail(f, -EINVAL, "the session token answer is empty or malformed");
			return;
		}
		f->token = strdup(resp->body);
		if (!f->token) {
			imds_fail(f, -ENOMEM, "out of memory");
			return;
		}
		break;
	case IMDS_STEP_ROLE:
		if (creds_imds_parse_role(resp->body, &f->role) < 0) {
			imds_fail(f, -EINVAL, "the role listing is not a role name");
			return;
		}
		break;
	default:
		got_credentials(f, resp);
		return;
	}
	f->step = f->role ? IMDS_STEP_CREDENTIALS : IMDS_STEP_ROLE;
	f->attempt = 0;
	imds_send(f);
}

static bool retryable(const struct https_outcome *o, const struct http_response *resp)
{
	return o->error != HTTPS_OK || resp->status >= 500;
}

static void imds_http_done(const struct https_outcome *o, const struct http_response *resp, void *userdata)
{
	struct imds_fetch *f = userdata;
	char what[320];

	f->http = NULL;
	if (o->error == HTTPS_OK && resp->status >= 200 && resp->status < 300) {
		imds_advance(f, resp);
		return;
	}
	creds_http_describe(o, resp, what, sizeof(what));
	if (retryable(o, resp) && f->attempt < f->attempts) {
		imds_send(f);
		return;
	}
	if (f->step == IMDS_STEP_TOKEN && o->error == HTTPS_OK &&
	    (resp->status == 403 || resp->status == 404 || resp->status == 405)) {
		if (f->v1_allowed) {
			log_warning("imds: %s refused a session token (%s); falling back to IMDSv1 as configured",
				    f->endpoint, what);
			f->step = f->role ? IMDS_STEP_CREDENTIALS : IMDS_STEP_ROLE;
			f->attempt = 0;
			imds_send(f);
			return;
		}
		imds_fail(f, -EPROTO,
			  "%s refused a session token (%s) and IMDSv1 is not allowed ([AWS] IMDSv1Fallback=yes "
			  "would allow it)",
			  f->endpoint, what);
		return;
	}
	if (f->step == IMDS_STEP_ROLE && o->error == HTTPS_OK && resp->status == 404) {
		imds_fail(f, -ENOENT, "no IAM role attached to this instance (%s)", f->endpoint);
		return;
	}
	imds_fail(f, o->error == HTTPS_E_TIMEOUT ? -ETIMEDOUT : -EIO, "%s: %s: %s", f->endpoint, step_names[f->step],
		  what);
}

static int imds_start(const struct creds_context *ctx, creds_fetch_done_fn done, void *userdata,
		      struct creds_fetch **ret_fetch, char **ret_error)
{
	const struct aws_settings *s = ctx->settings;
	const char *endpoint = s->ec2_metadata_endpoint, *profile_name;
	struct imds_fetch *f;
	size_t len;
	int r;

	if (s->ec2_metadata_disabled) {
		*ret_error = strdup("disabled (AWS_EC2_METADATA_DISABLED)");
		return -ENOENT;
	}
	if (!endpoint)
		endpoint = s->ec2_metadata_ipv6 ? IMDS_DEFAULT_ENDPOINT_IPV6 : IMDS_DEFAULT_ENDPOINT;
	if (!ctx->net)
		return errorf(ret_error, -EINPROGRESS, "would ask %s", endpoint);
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->base.cancel = imds_cancel;
	f->net = ctx->net;
	f->done = done;
	f->userdata = userdata;
	f->v1_allowed = s->ec2_metadata_v1_fallback && !s->ec2_metadata_v1_disabled;
	r = creds_metadata_limits(ctx, CREDS_IMDS_DEFAULT_TIMEOUT_MS, CREDS_IMDS_DEFAULT_ATTEMPTS, &f->timeout_ms,
				  &f->attempts, ret_error);
	if (r < 0)
		goto fail;
	f->endpoint = strdup(endpoint);
	profile_name = creds_context_setting(ctx, "AWS_EC2_INSTANCE_PROFILE_NAME", "ec2_instance_profile_name");
	if (!f->endpoint || (profile_name && !(f->role = strdup(profile_name)))) {
		r = -ENOMEM;
		goto fail;
	}
	len = strlen(f->endpoint);
	while (len > 0 && f->endpoint[len - 1] == '/')
		f->endpoint[--len] = '\0';
	r = imds_request(f, ret_error);
	if (r < 0)
		goto fail;
	*ret_fetch = &f->base;
	return 0;
fail:
	imds_free(f);
	return r;
}

const struct creds_provider creds_provider_imds = {
    .name = "imds",
    .description = "EC2 instance metadata (IMDSv2)",
    .start = imds_start,
};
