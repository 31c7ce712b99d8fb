/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds-net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errorf.h"
#include "tls.h"
#include "url.h"

struct creds_net {
	struct event_base *base;
	struct evdns_base *dns;
	char *ca_bundle;
	struct tls_context *tls; /* made on first https use */
};

struct creds_http {
	struct https_pool *pool;
	struct https_request *request;
	creds_http_done_fn done;
	void *userdata;
};

int creds_net_new(struct event_base *base, struct evdns_base *dns, const char *ca_bundle, struct creds_net **ret)
{
	struct creds_net *n = calloc(1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	n->base = base;
	n->dns = dns;
	if (ca_bundle && !(n->ca_bundle = strdup(ca_bundle))) {
		free(n);
		return -ENOMEM;
	}
	*ret = n;
	return 0;
}

struct creds_net *creds_net_free(struct creds_net *n)
{
	if (!n)
		return NULL;
	tls_context_free(n->tls);
	free(n->ca_bundle);
	free(n);
	return NULL;
}

struct event_base *creds_net_base(const struct creds_net *n)
{
	return n->base;
}

static void exchange_done(const struct https_outcome *o, struct http_response *resp, void *userdata)
{
	struct creds_http *h = userdata;

	h->request = NULL;
	h->done(o, resp, h->userdata);
	http_response_free(resp);
	https_pool_free(h->pool); /* allowed from the pool's own callback */
	free(h);
}

/* Splits "scheme://host/path?query" into the URL url_parse() takes and the
 * "?query" part (which the request line keeps). */
static int split_query(const char *url, char **ret_base, const char **ret_query)
{
	const char *q = strchr(url, '?');

	*ret_query = q ? q : "";
	*ret_base = q ? strndup(url, (size_t)(q - url)) : strdup(url);
	return *ret_base ? 0 : -ENOMEM;
}

int creds_http_start(struct creds_net *n, const char *method, const char *url,
		     const struct http_request_header *headers, size_t n_headers, const void *body, size_t body_len,
		     unsigned timeout_ms, creds_http_done_fn done, void *userdata, struct creds_http **ret,
		     char **ret_error)
{
	struct https_pool_options opts = {
	    .max_connections = 1,
	    .connect_timeout_ms = timeout_ms,
	    .max_response_body = CREDS_NET_MAX_BODY,
	};
	struct url u = {0};
	struct creds_http *h = NULL;
	char *base_url = NULL, *path = NULL, *request = NULL;
	const char *query;
	size_t len;
	int r;

	r = split_query(url, &base_url, &query);
	if (r < 0)
		goto out;
	r = url_parse(base_url, &u);
	if (r < 0) {
		if (r == -EINVAL)
			errorf(ret_error, r, "not an http(s) URL: %.200s", url);
		goto out;
	}
	if (u.tls && !n->tls) {
		r = tls_context_new(n->ca_bundle, &n->tls, ret_error);
		if (r < 0)
			goto out;
	}
	if (asprintf(&path, "%s%s", u.path, query) < 0) {
		r = -ENOMEM;
		goto out;
	}
	r = http_request_format(method, path, u.host_header, headers, n_headers, body, body_len, &request, &len);
	if (r < 0) {
		if (r == -EINVAL)
			errorf(ret_error, r, "cannot form a request to %.200s (bad header value)", url);
		goto out;
	}
	h = calloc(1, sizeof(*h));
	if (!h || !(h->pool = https_pool_new(n->base, n->dns, u.tls ? n->tls : NULL, u.host, u.port, &opts))) {
		r = -ENOMEM;
		goto out;
	}
	h->done = done;
	h->userdata = userdata;
	h->request = https_pool_submit(h->pool, request, len, timeout_ms, exchange_done, h);
	if (!h->request) {
		r = -ENOMEM;
		goto out;
	}
	*ret = h;
	h = NULL;
	r = 0;
out:
	if (h) {
		https_pool_free(h->pool);
		free(h);
	}
	if (request) {
		explicit_bzero(request, len); /* may carry a token */
		free(request);
	}
	free(path);
	free(base_url);
	url_done(&u);
	return r;
}

struct creds_http *creds_http_cancel(struct creds_http *h)
{
	if (!h)
		return NULL;
	https_request_abandon(h->request);
	https_pool_free(h->pool);
	free(h);
	return NULL;
}

void creds_http_describe(const struct https_outcome *o, const struct http_response *resp, char *buf, size_t size)
{
	if (o->error != HTTPS_OK)
		snprintf(buf, size, "%s%s%s", https_error_to_string(o->error), o->detail ? ": " : "",
			 o->detail ? o->detail : "");
	else
		snprintf(buf, size, "HTTP %d%s%s", resp->status, resp->reason && *resp->reason ? " " : "",
			 resp->reason ? resp->reason : "");
}
