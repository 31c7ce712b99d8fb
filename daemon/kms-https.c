/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "kms-https.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "dns-cache.h"
#include "errorf.h"
#include "http.h"
#include "kms.h"
#include "log.h"
#include "proxy.h"
#include "tls.h"
#include "url.h"
#include "wipe.h"

struct kms_https {
	struct kms_transport transport; /* first: impl points here */
	struct event_base *base;
	struct evdns_base *dns;
	struct tls_context *tls;
	struct dns_cache *resolver; /* NULL without an evdns_base */
	struct proxy_config *proxy; /* NULL: direct */
	struct https_pool_options pool_options;
};

static void *https_pool_new_for(void *impl, const struct url *u)
{
	struct kms_https *h = impl;

	return https_pool_new(h->base, h->dns, u->tls ? h->tls : NULL, u->host, u->port, &h->pool_options);
}

static void https_pool_free_for(void *pool)
{
	https_pool_free(pool);
}

/* Serialises the request (one write on the wire), hands it to the pool
 * and wipes the copy: it carries the session token and the signature. */
static void *https_submit(void *pool, const struct kms_http_request *req, https_done_fn done, void *userdata)
{
	struct https_request *r;
	char *request;
	size_t len;

	if (http_request_format(req->method, req->path, req->host_header, req->headers, req->n_headers, req->body,
				req->body_len, &request, &len) < 0)
		return NULL;
	r = https_pool_submit(pool, request, len, req->timeout_ms, done, userdata);
	wipe_free(request, len);
	https_request_set_response_timeout(r, req->response_timeout_ms);
	return r;
}

static void https_abandon(void *request)
{
	https_request_abandon(request);
}

static int https_prewarm(void *pool, unsigned n)
{
	return https_pool_prewarm(pool, n);
}

static void https_get_stats(const void *pool, struct https_pool_stats *ret)
{
	https_pool_get_stats(pool, ret);
}

static void kms_https_free(void *impl)
{
	struct kms_https *h = impl;

	if (!h)
		return;
	tls_context_free(h->tls);
	dns_cache_free(h->resolver);
	proxy_config_free(h->proxy);
	free(h);
}

static const struct kms_transport_ops kms_https_ops = {
	.pool_new = https_pool_new_for,
	.pool_free = https_pool_free_for,
	.submit = https_submit,
	.abandon = https_abandon,
	.prewarm = https_prewarm,
	.get_stats = https_get_stats,
	.free = kms_https_free,
};

/* The DNS cache (with connect_to overrides) and the proxy, shared by every
 * endpoint's pool. */
static int network_setup(struct kms_https *h, const struct kms_client_options *o, char **ret_error)
{
	int r;

	if (h->dns) {
		h->resolver = dns_cache_new(h->base, h->dns);
		if (!h->resolver)
			return -ENOMEM;
		h->pool_options.resolver = h->resolver;
	}
	if (o->connect_to) {
		r = h->resolver ? dns_cache_add_overrides(h->resolver, o->connect_to) : -EINVAL;
		if (r < 0)
			return errorf(ret_error, r, "cannot use connect-to '%s': expected HOST:PORT=ADDR:PORT,…",
				      o->connect_to);
	}
	if (o->getenv) {
		r = proxy_config_from_env(o->getenv, &h->proxy, ret_error);
		if (r < 0)
			return r;
		h->pool_options.proxy = h->proxy;
		if (h->proxy)
			log_info("kms: HTTPS proxy %s:%u%s%s", h->proxy->host, (unsigned)h->proxy->port,
				 h->proxy->no_proxy ? ", except for " : "",
				 h->proxy->no_proxy ? h->proxy->no_proxy : "");
	}
	return 0;
}

int kms_https_transport_new(struct event_base *base, struct evdns_base *dns, const struct kms_client_options *o,
			    struct kms_transport **ret, char **ret_error)
{
	struct kms_https *h;
	int r;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->transport.ops = &kms_https_ops;
	h->transport.impl = h;
	h->base = base;
	h->dns = dns;
	h->pool_options = o->pool;
	r = tls_context_new(o->ca_bundle, &h->tls, ret_error);
	if (r >= 0)
		r = network_setup(h, o, ret_error);
	if (r < 0) {
		kms_https_free(h);
		return r;
	}
	*ret = &h->transport;
	return 0;
}
