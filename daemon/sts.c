/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sts.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "creds-net.h"
#include "creds.h"
#include "endpoint.h"
#include "errorf.h"
#include "log.h"
#include "sigv4.h"
#include "timeutil.h"
#include "url.h"
#include "xml.h"

#define STS_CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"
#define STS_MAX_ACTION   64

struct sts_call {
	struct creds_http *http;
	char action[STS_MAX_ACTION];
	bool identity;
	const char *source;
	char *endpoint_url;
	sts_done_fn done;
	void *userdata;
};

size_t sts_form_encode(const char *s, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-_.~", c)) {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
	return n;
}

/* The regions botocore 1.43's STS rule set sends to the global endpoint
 * under sts_regional_endpoints = legacy (its "UseGlobalEndpoint" branch). */
static const char *const legacy_global_regions[] = {
    "ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "aws-global", "ca-central-1",
    "eu-central-1",   "eu-north-1", "eu-west-1",      "eu-west-2",      "eu-west-3",  "sa-east-1",
    "us-east-1",      "us-east-2",  "us-west-1",      "us-west-2",
};

static bool legacy_global(const char *region)
{
	for (size_t i = 0; i < sizeof(legacy_global_regions) / sizeof(*legacy_global_regions); i++)
		if (strcmp(region, legacy_global_regions[i]) == 0)
			return true;
	return false;
}

int sts_endpoint_url(const struct aws_settings *s, char **ret)
{
	bool fips = s->use_fips_endpoint, dualstack = s->use_dualstack_endpoint;
	bool global = !s->region || strcmp(s->region, "aws-global") == 0;
	const char *partition, *suffix, *host = "sts";
	int r;

	if (s->sts_endpoint_url) {
		*ret = strdup(s->sts_endpoint_url);
		return *ret ? 0 : -ENOMEM;
	}
	/* botocore's answers there, sts-fips.aws-global.amazonaws.com and
	 * sts[-fips].aws-global.api.aws, do not exist. */
	if (global && (fips || dualstack))
		return -EINVAL;
	if (global || (s->sts_legacy_global && !fips && !dualstack && legacy_global(s->region))) {
		*ret = strdup(STS_GLOBAL_ENDPOINT);
		return *ret ? 0 : -ENOMEM;
	}
	if (!endpoint_region_valid(s->region))
		return -EINVAL;
	partition = endpoint_partition_for_region(s->region);
	suffix = dualstack ? endpoint_partition_dualstack_suffix(partition) : endpoint_partition_suffix(partition);
	/* GovCloud's regular STS endpoints are its FIPS ones: botocore names no
	 * sts-fips there, except for dual-stack (sts-fips.us-gov-west-1.api.aws). */
	if (fips && (dualstack || strcmp(partition, "aws-us-gov") != 0))
		host = "sts-fips";
	r = asprintf(ret, "https://%s.%s.%s", host, s->region, suffix ? suffix : "amazonaws.com");
	return r < 0 ? -ENOMEM : 0;
}

const char *sts_endpoint_error(const struct aws_settings *s, int r)
{
	if (r != -EINVAL)
		return strerror(-r);
	if ((s->use_fips_endpoint || s->use_dualstack_endpoint) && (!s->region || strcmp(s->region, "aws-global") == 0))
		return "FIPS and dual-stack STS endpoints need a region (AWS_REGION or the profile's region)";
	return "bad region";
}

/* "Action=…&Version=…&Name=Value…", malloc'ed; the caller wipes it. */
static int form_body(const struct sts_request *req, char **ret, size_t *ret_len)
{
	size_t cap = strlen("Action=&Version=" STS_API_VERSION) + 3 * strlen(req->action) + 1, n = 0;
	char *body;

	for (size_t i = 0; i < req->n_params; i++)
		cap += 2 + 3 * strlen(req->params[i].name) + 3 * strlen(req->params[i].value);
	body = malloc(cap);
	if (!body)
		return -ENOMEM;
	n += (size_t)sprintf(body, "Action=");
	n += sts_form_encode(req->action, body + n);
	n += (size_t)sprintf(body + n, "&Version=" STS_API_VERSION);
	for (size_t i = 0; i < req->n_params; i++) {
		body[n++] = '&';
		n += sts_form_encode(req->params[i].name, body + n);
		body[n++] = '=';
		n += sts_form_encode(req->params[i].value, body + n);
	}
	*ret = body;
	*ret_len = n;
	return 0;
}

/* SigV4 Authorization for the body (AssumeRole).  Headers to send are
 * added to h (room for 3 more). */
static int sign(const struct sts_request *req, const struct url *u, const char *body, size_t body_len,
		char amz_date[SIGV4_AMZ_DATE_SIZE], char **ret_authorization)
{
	const struct aws_credentials *cr = req->sign_with;
	struct sigv4_header signed_headers[4] = {
	    {"Content-Type", STS_CONTENT_TYPE},
	    {"Host", u->host_header},
	    {"X-Amz-Date", amz_date},
	};
	size_t n = 3;
	uint8_t key[SIGV4_KEY_SIZE];
	char date8[9];
	int r;

	sigv4_format_amz_date(time(NULL), amz_date);
	memcpy(date8, amz_date, 8);
	date8[8] = '\0';
	if (cr->session_token)
		signed_headers[n++] = (struct sigv4_header){"X-Amz-Security-Token", cr->session_token};
	struct sigv4_request sr = {
	    .method = "POST",
	    .path = u->path,
	    .headers = signed_headers,
	    .n_headers = n,
	    .payload = body,
	    .payload_len = body_len,
	    .normalize_path = true,
	};
	r = sigv4_derive_key(cr->secret_access_key, date8, req->region, STS_SERVICE, key);
	if (r < 0)
		return r;
	r = sigv4_authorization(&sr, cr->access_key_id, key, amz_date, req->region, STS_SERVICE, ret_authorization);
	explicit_bzero(key, sizeof(key));
	return r;
}

static void finish(struct sts_call *c, const struct sts_result *res)
{
	c->done(res, c->userdata);
	free(c->endpoint_url);
	free(c);
}

static char *find(const struct http_response *resp, const char *const *path)
{
	char *v = NULL;

	return xml_find_text(resp->body, resp->body_len, path, &v) == 0 ? v : NULL;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void handle_error(struct sts_call *c, const struct https_outcome *o, const struct http_response *resp)
{
	static const char *const code_path[] = {"ErrorResponse", "Error", "Code", NULL};
	static const char *const message_path[] = {"ErrorResponse", "Error", "Message", NULL};
	static const char *const id_path[] = {"ErrorResponse", "RequestId", NULL};
	char what[320], msg[1024];
	char *code = NULL, *message = NULL, *id = NULL;
	struct sts_result res = {.r = -EIO, .message = msg};

	creds_http_describe(o, resp, what, sizeof(what));
	if (o->error == HTTPS_OK) {
		code = find(resp, code_path);
		message = find(resp, message_path);
		id = find(resp, id_path);
		if (resp->status == 400 || resp->status == 403)
			res.r = -EACCES;
	} else if (o->error == HTTPS_E_TIMEOUT) {
		res.r = -ETIMEDOUT;
	}
	snprintf(msg, sizeof(msg), "STS %s at %s: %s%s%s%s%.300s", c->action, c->endpoint_url, what, code ? ": " : "",
		 code ? code : "", message ? ": " : "", message ? message : "");
	res.error_code = code;
	res.request_id = id;
	finish(c, &res);
	free(code);
	free(message);
	free(id);
}

int sts_parse_credentials(const char *action, const char *source, const char *xml, size_t len,
			  struct aws_credentials **ret, char **ret_error)
{
	char response[STS_MAX_ACTION + 16], result[STS_MAX_ACTION + 16];
	const char *names[] = {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"};
	char *v[4] = {NULL}, *arn = NULL, account[13] = "";
	time_t expiration = 0;
	int r = 0;

	snprintf(response, sizeof(response), "%sResponse", action);
	snprintf(result, sizeof(result), "%sResult", action);
	for (size_t i = 0; i < 4; i++) {
		const char *path[] = {response, result, "Credentials", names[i], NULL};

		r = xml_find_text(xml, len, path, &v[i]);
		if (r == 0 && !*v[i])
			r = -ENODATA; /* temporary credentials: all four or none */
		if (r < 0) {
			errorf(ret_error, r, "the answer has %s %s%s", r == -ENODATA ? "an empty" : "no", names[i],
			       r == -ENOENT || r == -ENODATA ? "" : " (malformed XML)");
			r = r == -ENOMEM ? r : -EINVAL;
			goto out;
		}
	}
	{
		const char *arn_path[] = {response, result, "AssumedRoleUser", "Arn", NULL};

		if (xml_find_text(xml, len, arn_path, &arn) < 0)
			arn = NULL;
	}
	if (arn) {
		/* arn:PARTITION:sts::ACCOUNT:assumed-role/… */
		const char *p = arn;

		for (int colons = 0; *p && colons < 4; p++)
			colons += *p == ':';
		if (strspn(p, "0123456789") == 12 && p[12] == ':')
			memcpy(account, p, 12);
	}
	if (timeutil_parse_iso8601(v[3], &expiration) < 0 || expiration <= 0) { /* 0 would mean "never expires" */
		*ret_error = strdup("Expiration is not an ISO 8601 time");
		r = -EINVAL;
		goto out;
	}
	r = aws_credentials_new(v[0], v[1], v[2], expiration, source, account[0] ? account : NULL, ret);
	if (r < 0)
		*ret_error = strdup(r == -EINVAL ? "malformed credentials in the answer" : strerror(-r));
out:
	for (size_t i = 0; i < 4; i++)
		wipe_free(v[i]);
	free(arn);
	return r;
}

static void handle_success(struct sts_call *c, const struct http_response *resp)
{
	char response[STS_MAX_ACTION + 16], msg[512], *error = NULL, *id = NULL;
	struct sts_result res = {.r = -EINVAL, .message = msg};
	int r;

	r = sts_parse_credentials(c->action, c->source, resp->body, resp->body_len, &res.credentials, &error);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "STS %s at %s: %s", c->action, c->endpoint_url,
			 error ? error : strerror(-r));
	} else {
		const char *id_path[] = {response, "ResponseMetadata", "RequestId", NULL};

		snprintf(response, sizeof(response), "%sResponse", c->action);
		id = find(resp, id_path);
		res.r = 0;
		res.message = NULL;
		res.request_id = id;
	}
	finish(c, &res);
	aws_credentials_unref(res.credentials);
	free(error);
	free(id);
}

int sts_parse_identity(const char *xml, size_t len, char ret_account[13], char **ret_arn)
{
	static const char *const account_path[] = {"GetCallerIdentityResponse", "GetCallerIdentityResult", "Account",
						   NULL};
	static const char *const arn_path[] = {"GetCallerIdentityResponse", "GetCallerIdentityResult", "Arn", NULL};
	char *account = NULL, *arn = NULL;
	int r;

	r = xml_find_text(xml, len, account_path, &account);
	if (r < 0)
		return r;
	if (strlen(account) != 12 || strspn(account, "0123456789") != 12) {
		free(account);
		return -EINVAL;
	}
	r = xml_find_text(xml, len, arn_path, &arn);
	if (r == -ENOENT) {
		arn = strdup("");
		r = arn ? 0 : -ENOMEM;
	}
	if (r < 0) {
		free(account);
		return r;
	}
	memcpy(ret_account, account, 13);
	free(account);
	*ret_arn = arn;
	return 0;
}

const char *sts_signing_region(const char *url, const char *fallback, char region[STS_REGION_MAX])
{
	const char *host = strstr(url, "://"), *name = NULL;

	host = host ? host + 3 : url;
	/* The global endpoint signs for us-east-1 whatever the configured region (botocore's legacy rule). */
	if (strncmp(host, "sts.amazonaws.com", 17) == 0 && strchr("/:", host[17]))
		return strcpy(region, "us-east-1");
	/* sts-fips.REGION signs for REGION, as sts.REGION does. */
	if (strncmp(host, "sts-fips.", 9) == 0)
		name = host + 9;
	else if (strncmp(host, "sts.", 4) == 0)
		name = host + 4;
	if (name) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : 0;

		if (dot && n > 0 && n < STS_REGION_MAX && strncmp(dot, ".amazonaws.com", 14) == 0) {
			memcpy(region, name, n);
			region[n] = '\0';
			return region;
		}
	}
	snprintf(region, STS_REGION_MAX, "%s", fallback ? fallback : "us-east-1");
	return region;
}

static void handle_identity(struct sts_call *c, const struct http_response *resp)
{
	static const char *const id_path[] = {"GetCallerIdentityResponse", "ResponseMetadata", "RequestId", NULL};
	char account[13] = "", msg[512], *arn = NULL, *id = find(resp, id_path);
	struct sts_result res = {.r = -EINVAL, .message = msg, .request_id = id};
	int r = sts_parse_identity(resp->body, resp->body_len, account, &arn);

	if (r == 0) {
		res.r = 0;
		res.message = NULL;
		res.account = account;
		res.arn = arn;
	} else {
		snprintf(msg, sizeof(msg), "STS %s at %s: %s", c->action, c->endpoint_url,
			 r == -ENOENT   ? "the answer has no Account"
			 : r == -ENOMEM ? "out of memory"
					: "malformed answer (Account is not 12 digits, or bad XML)");
		res.r = r == -ENOMEM ? r : -EINVAL;
	}
	finish(c, &res);
	free(arn);
	free(id);
}

static void http_done(const struct https_outcome *o, const struct http_response *resp, void *userdata)
{
	struct sts_call *c = userdata;

	c->http = NULL;
	if (o->error == HTTPS_OK && resp->status == 200 && c->identity)
		handle_identity(c, resp);
	else if (o->error == HTTPS_OK && resp->status == 200)
		handle_success(c, resp);
	else
		handle_error(c, o, resp);
}

int sts_call_start(struct creds_net *net, const struct sts_request *req, sts_done_fn done, void *userdata,
		   struct sts_call **ret, char **ret_error)
{
	char amz_date[SIGV4_AMZ_DATE_SIZE], *body = NULL, *authorization = NULL;
	struct http_request_header h[4] = {{"Content-Type", STS_CONTENT_TYPE}};
	struct sts_call *c = NULL;
	struct url u = {0};
	size_t body_len = 0, n = 1;
	int r;

	if (strlen(req->action) >= STS_MAX_ACTION)
		return -EINVAL;
	r = url_parse(req->endpoint_url, &u);
	if (r < 0)
		return errorf(ret_error, r, "STS endpoint '%.200s' is not an http(s) URL", req->endpoint_url);
	c = calloc(1, sizeof(*c));
	if (!c || !(c->endpoint_url = strdup(req->endpoint_url))) {
		r = -ENOMEM;
		goto out;
	}
	strcpy(c->action, req->action);
	c->identity = req->identity;
	c->source = req->source;
	c->done = done;
	c->userdata = userdata;
	r = form_body(req, &body, &body_len);
	if (r < 0)
		goto out;
	if (req->sign_with) {
		r = sign(req, &u, body, body_len, amz_date, &authorization);
		if (r < 0)
			goto out;
		h[n++] = (struct http_request_header){"X-Amz-Date", amz_date};
		h[n++] = (struct http_request_header){"Authorization", authorization};
		if (req->sign_with->session_token)
			h[n++] = (struct http_request_header){"X-Amz-Security-Token", req->sign_with->session_token};
	}
	log_debug("sts: %s at %s", req->action, req->endpoint_url);
	r = creds_http_start_proxied(net, "POST", req->endpoint_url, h, n, body, body_len, req->timeout_ms, http_done,
				     c, &c->http, ret_error);
	if (r < 0)
		goto out;
	*ret = c;
	c = NULL;
out:
	if (body) {
		explicit_bzero(body, body_len);
		free(body);
	}
	free(authorization);
	if (c) {
		free(c->endpoint_url);
		free(c);
	}
	url_done(&u);
	return r;
}

struct sts_call *sts_call_cancel(struct sts_call *c)
{
	if (!c)
		return NULL;
	creds_http_cancel(c->http);
	free(c->endpoint_url);
	free(c);
	return NULL;
}

bool sts_session_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < STS_SESSION_NAME_MIN || n > STS_SESSION_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("_+=,.@-", *s)))
			return false;
	return true;
}
