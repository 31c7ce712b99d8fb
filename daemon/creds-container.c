/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
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
#include "monotime.h"
#include "textfile.h"
#include "url.h"

/*
 * The container credentials endpoint (ECS task roles, EKS Pod Identity;
 * AWS.md §7.6): GET AWS_CONTAINER_CREDENTIALS_RELATIVE_URI on
 * http://169.254.170.2, else AWS_CONTAINER_CREDENTIALS_FULL_URI, which the
 * SDKs allow only over https or to a loopback or the ECS/EKS link-local
 * agents.  Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read
 * afresh each time; wins) or AWS_CONTAINER_AUTHORIZATION_TOKEN.  The answer
 * names the token "Token".
 */

#define CONTAINER_RELATIVE_BASE "http://169.254.170.2"
#define CONTAINER_MAX_AUTH      16384 /* an EKS Pod Identity token is ~1 KiB */

struct container_fetch {
	struct creds_fetch base;
	struct creds_net *net;
	struct creds_http *http;
	struct event *pause; /* between attempts */
	unsigned attempt, attempts, timeout_ms;
	char *url;
	char *authorization; /* secret: wiped */
	creds_fetch_done_fn done;
	void *userdata;
};

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void container_free(struct container_fetch *f)
{
	if (!f)
		return;
	creds_http_cancel(f->http);
	if (f->pause)
		event_free(f->pause);
	wipe_free(f->authorization);
	free(f->url);
	free(f);
}

static void container_cancel(struct creds_fetch *base)
{
	container_free((struct container_fetch *)base);
}

static void container_finish(struct container_fetch *f, int r, struct aws_credentials *c, const char *error)
{
	creds_fetch_done_fn done = f->done;
	void *ud = f->userdata;

	container_free(f);
	done(r, c, error, ud);
}

static void container_fail(struct container_fetch *f, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void container_fail(struct container_fetch *f, int r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	container_finish(f, r, NULL, msg);
}

static void container_http_done(const struct https_outcome *o, const struct http_response *resp, void *userdata);

static int container_request(struct container_fetch *f, char **ret_error)
{
	struct http_request_header h[2] = {{"Accept", "application/json"}, {"Authorization", f->authorization}};

	f->attempt++;
	log_debug("container: GET %s (attempt %u of %u)", f->url, f->attempt, f->attempts);
	return creds_http_start(f->net, "GET", f->url, h, f->authorization ? 2 : 1, NULL, 0, f->timeout_ms,
				container_http_done, f, &f->http, ret_error);
}

static void container_retry(evutil_socket_t fd, short what, void *userdata)
{
	struct container_fetch *f = userdata;
	char *error = NULL;
	int r = container_request(f, &error);

	if (r < 0) {
		container_fail(f, r, "%s", error ? error : strerror(-r));
		free(error);
	}
}

/* An error answer may be {"code","message"}; quote the message, bounded. */
static const char *error_message(struct json_object *o)
{
	struct json_object *v;

	if (o && json_object_object_get_ex(o, "message", &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

int creds_container_parse(const char *body, struct aws_credentials **ret, char **ret_error)
{
	struct json_object *json = NULL;
	int r;

	secret_json_parse(body, strlen(body), &json);
	if (!json || !json_object_is_type(json, json_type_object)) {
		secret_json_put(json);
		return errorf(ret_error, -EINVAL, "the answer is not a JSON object");
	}
	r = creds_from_json(json, "Token", "container", ret, ret_error);
	secret_json_put(json);
	return r;
}

static void container_http_done(const struct https_outcome *o, const struct http_response *resp, void *userdata)
{
	struct container_fetch *f = userdata;
	struct json_object *json = NULL;
	struct aws_credentials *c = NULL;
	char what[320], *error = NULL;
	int r;

	f->http = NULL;
	if (o->error != HTTPS_OK || resp->status >= 500) {
		if (f->attempt < f->attempts) {
			struct timeval tv = timeval_from_msec(CREDS_CONTAINER_RETRY_DELAY_MS);

			evtimer_add(f->pause, &tv);
			return;
		}
	}
	if (o->error == HTTPS_OK)
		secret_json_parse(resp->body, resp->body_len, &json);
	if (o->error != HTTPS_OK || resp->status < 200 || resp->status >= 300) {
		const char *m = error_message(json);

		creds_http_describe(o, resp, what, sizeof(what));
		container_fail(f, o->error == HTTPS_E_TIMEOUT ? -ETIMEDOUT : -EIO, "%s: %s%s%.200s", f->url, what,
			       m ? ": " : "", m ? m : "");
		secret_json_put(json);
		return;
	}
	secret_json_put(json);
	r = creds_container_parse(resp->body, &c, &error);
	if (r < 0) {
		container_fail(f, r, "%s: %s", f->url, error ? error : strerror(-r));
		free(error);
		return;
	}
	container_finish(f, 0, c, NULL);
}

/* The SDKs' rule for FULL_URI over plain http: the host must be loopback
 * or one of the container agents' link-local addresses. */
static bool host_allowed(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (strcmp(host, "localhost") == 0 || strcmp(host, "169.254.170.2") == 0 || strcmp(host, "169.254.170.23") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		static const struct in6_addr eks = {{{0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x23}}};

		return IN6_IS_ADDR_LOOPBACK(&a6) || memcmp(&a6, &eks, sizeof(a6)) == 0;
	}
	return false;
}

/* The endpoint URL from the environment, checked. */
static int container_url(const struct creds_context *ctx, char **ret, char **ret_error)
{
	const char *rel = aws_getenv(ctx->getenv_fn, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = aws_getenv(ctx->getenv_fn, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	struct url u;
	char *base;
	int r;

	if (rel) {
		if (*rel != '/')
			return errorf(ret_error, -EINVAL,
				      "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI does not start with /");
		if (asprintf(ret, "%s%s", CONTAINER_RELATIVE_BASE, rel) < 0)
			return -ENOMEM;
		return 0;
	}
	if (!full)
		return errorf(ret_error, -ENOENT, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI not set");
	base = strndup(full, strcspn(full, "?"));
	if (!base)
		return -ENOMEM;
	r = url_parse(base, &u);
	free(base);
	if (r < 0)
		return errorf(ret_error, -EINVAL, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http(s) URL");
	if (!u.tls && !host_allowed(u.host)) {
		r = errorf(ret_error, -EPERM,
			   "AWS_CONTAINER_CREDENTIALS_FULL_URI host %s is not allowed over plain http (only https, "
			   "loopback, 169.254.170.2, 169.254.170.23 or fd00:ec2::23)",
			   u.host);
		url_done(&u);
		return r;
	}
	url_done(&u);
	*ret = strdup(full);
	return *ret ? 0 : -ENOMEM;
}

/* The Authorization header value, if any: the token file wins. */
static int container_authorization(const struct creds_context *ctx, char **ret, char **ret_error)
{
	const char *file = aws_getenv(ctx->getenv_fn, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *token = aws_getenv(ctx->getenv_fn, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
	char *buf = NULL;
	size_t size = 0;
	int r;

	*ret = NULL;
	if (file) {
		r = textfile_read(file, CONTAINER_MAX_AUTH, &buf, &size);
		if (r < 0)
			return errorf(ret_error, r, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s: %s", file,
				      strerror(-r));
		while (size > 0 && (buf[size - 1] == '\n' || buf[size - 1] == '\r'))
			buf[--size] = '\0';
		token = buf;
	}
	if (token && strpbrk(token, "\r\n")) {
		textfile_free(buf, size);
		return errorf(ret_error, -EINVAL, "the container authorization token contains a line break");
	}
	if (token && *token && !(*ret = strdup(token))) {
		textfile_free(buf, size);
		return -ENOMEM;
	}
	textfile_free(buf, size);
	return 0;
}

static int container_start(const struct creds_context *ctx, creds_fetch_done_fn done, void *userdata,
			   struct creds_fetch **ret_fetch, char **ret_error)
{
	struct container_fetch *f;
	char *url = NULL;
	int r;

	r = container_url(ctx, &url, ret_error);
	if (r < 0)
		return r;
	if (!ctx->net) {
		r = errorf(ret_error, -EINPROGRESS, "would ask %s", url);
		free(url);
		return r;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		free(url);
		return -ENOMEM;
	}
	f->base.cancel = container_cancel;
	f->net = ctx->net;
	f->url = url;
	f->done = done;
	f->userdata = userdata;
	r = creds_metadata_limits(ctx, CREDS_CONTAINER_DEFAULT_TIMEOUT_MS, CREDS_CONTAINER_DEFAULT_ATTEMPTS,
				  &f->timeout_ms, &f->attempts, ret_error);
	if (r >= 0)
		r = container_authorization(ctx, &f->authorization, ret_error);
	if (r >= 0 && !(f->pause = evtimer_new(creds_net_base(ctx->net), container_retry, f)))
		r = -ENOMEM;
	if (r >= 0)
		r = container_request(f, ret_error);
	if (r < 0) {
		container_free(f);
		return r;
	}
	*ret_fetch = &f->base;
	return 0;
}

const struct creds_provider creds_provider_container = {
    .name = "container",
    .description = "container credentials endpoint",
    .start = container_start,
};
