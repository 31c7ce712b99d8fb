/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds-net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws-settings.h"
#include "dns-cache.h"
#include "errorf.h"
#include "log.h"
#include "proxy.h"
#include "tls.h"
#include "url.h"

/* A kept-alive pool for one STS endpoint (host:port, scheme). */
struct kept_pool {
	char *host;
	uint16_t port;
	bool tls;
	struct https_pool *pool;
	unsigned in_flight;     /* exchanges on it: it is not evicted while > 0 */
	unsigned long last_use; /* creds_net.uses when last given an exchange */
	struct kept_pool *next;
};

struct creds_net {
	struct event_base *base;
	struct evdns_base *dns;
	char *ca_bundle;
	struct tls_context *tls;    /* made on first https use */
	struct dns_cache *resolver; /* NULL without an evdns_base */
	struct proxy_config *proxy; /* NULL: direct; STS only */
	struct kept_pool *kept;     /* STS endpoints' pools, at most CREDS_NET_MAX_POOLS */
	unsigned n_kept;
	unsigned long uses;
};

struct creds_http {
	struct https_pool *pool; /* owned (one-shot) unless kept is set */
	struct kept_pool *kept;
	struct https_request *request;
	creds_http_done_fn done;
	void *userdata;
};

static const char *getenv_process(const char *name)
{
	return getenv(name);
}

/* The DNS cache with the test overrides, and the proxy, from s's environment. */
static int network_setup(struct creds_net *n, const struct aws_settings *s)
{
	const char *connect_to = aws_settings_getenv(s, "KMSCANCELD_CONNECT_TO");
	char *error = NULL;
	int r;

	if (n->dns && !(n->resolver = dns_cache_new(n->base, n->dns)))
		return -ENOMEM;
	if (connect_to) {
		r = n->resolver ? dns_cache_add_overrides(n->resolver, connect_to) : -EINVAL;
		if (r < 0) {
			if (r == -EINVAL)
				log_error("credentials: cannot use KMSCANCELD_CONNECT_TO '%s'", connect_to);
			return r;
		}
	}
	r = proxy_config_from_env(s->getenv_fn ? s->getenv_fn : getenv_process, &n->proxy, &error);
	if (r == -EINVAL)
		log_error("credentials: %s", error);
	free(error);
	return r;
}

int creds_net_new(struct event_base *base, struct evdns_base *dns, const struct aws_settings *settings,
		  struct creds_net **ret)
{
	struct creds_net *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	n->base = base;
	n->dns = dns;
	if (settings && settings->ca_bundle && !(n->ca_bundle = strdup(settings->ca_bundle))) {
		creds_net_free(n);
		return -ENOMEM;
	}
	if (settings && (r = network_setup(n, settings)) < 0) {
		creds_net_free(n);
		return r;
	}
	*ret = n;
	return 0;
}

static struct kept_pool *kept_pool_free(struct kept_pool *k)
{
	if (!k)
		return NULL;
	https_pool_free(k->pool);
	free(k->host);
	free(k);
	return NULL;
}

struct creds_net *creds_net_free(struct creds_net *n)
{
	if (!n)
		return NULL;
	/* Before the TLS context the pools borrow. */
	while (n->kept) {
		struct kept_pool *next = n->kept->next;

		kept_pool_free(n->kept);
		n->kept = next;
	}
	tls_context_free(n->tls);
	dns_cache_free(n->resolver);
	proxy_config_free(n->proxy);
	free(n->ca_bundle);
	free(n);
	return NULL;
}

struct event_base *creds_net_base(const struct creds_net *n)
{
	return n->base;
}

/* Ends h's hold on its pool: a one-shot pool is freed (allowed from the
 * pool's own callback), a kept one stays for the next exchange. */
static void exchange_release(struct creds_http *h)
{
	if (h->kept)
		h->kept->in_flight--;
	else
		https_pool_free(h->pool);
	free(h);
}

static void exchange_done(const struct https_outcome *o, struct http_response *resp, void *userdata)
{
	struct creds_http *h = userdata;

	h->request = NULL;
	h->done(o, resp, h->userdata);
	http_response_free(resp);
	exchange_release(h);
}

/* The least recently used kept pool no exchange is on, or NULL. */
static struct kept_pool **kept_pool_victim(struct creds_net *n)
{
	struct kept_pool **victim = NULL;

	for (struct kept_pool **pp = &n->kept; *pp; pp = &(*pp)->next)
		if ((*pp)->in_flight == 0 && (!victim || (*pp)->last_use < (*victim)->last_use))
			victim = pp;
	return victim;
}

/*
 * The kept-alive pool for an STS endpoint, made on first use.  STS calls
 * of one creds_net often follow each other (the hops of a role chain, a
 * retry after a failed call, the next [Account N] role), so a connection
 * kept between them saves a TCP and TLS handshake per call; calls made at
 * the same moment still open a connection each (up to
 * CREDS_NET_STS_CONNECTIONS), and the pool's idle timeout closes them
 * between bursts.  At most
 * CREDS_NET_MAX_POOLS endpoints are kept (regions are few): beyond that
 * the least recently used idle pool goes, and when every pool is busy
 * NULL tells the caller to use a one-shot pool as before.  The pool's
 * connect timeout is the first exchange's; each exchange's own timeout
 * bounds it anyway.
 */
static struct kept_pool *kept_pool_get(struct creds_net *n, const struct url *u, unsigned timeout_ms)
{
	struct https_pool_options opts = {
	    .max_connections = CREDS_NET_STS_CONNECTIONS,
	    .connect_timeout_ms = timeout_ms,
	    .max_response_body = CREDS_NET_MAX_BODY,
	    .resolver = n->resolver,
	    .proxy = n->proxy,
	};
	struct kept_pool *k, **victim;

	for (k = n->kept; k; k = k->next)
		if (k->port == u->port && k->tls == u->tls && strcmp(k->host, u->host) == 0)
			goto found;
	if (n->n_kept >= CREDS_NET_MAX_POOLS) {
		victim = kept_pool_victim(n);
		if (!victim)
			return NULL;
		k = *victim;
		*victim = k->next;
		kept_pool_free(k);
		n->n_kept--;
	}
	k = calloc(1, sizeof(*k));
	if (!k || !(k->host = strdup(u->host)) ||
	    !(k->pool = https_pool_new(n->base, n->dns, u->tls ? n->tls : NULL, u->host, u->port, &opts)))
		return kept_pool_free(k);
	k->port = u->port;
	k->tls = u->tls;
	k->next = n->kept;
	n->kept = k;
	n->n_kept++;
found:
	k->last_use = ++n->uses;
	return k;
}

/* h's pool: n's kept one for the endpoint when kept, else a one-shot one. */
static int exchange_pool(struct creds_net *n, struct creds_http *h, bool kept, const struct url *u, unsigned timeout_ms)
{
	struct https_pool_options opts = {
	    .max_connections = 1,
	    .connect_timeout_ms = timeout_ms,
	    .max_response_body = CREDS_NET_MAX_BODY,
	    .resolver = n->resolver,
	    .proxy = kept ? n->proxy : NULL,
	};

	if (kept && (h->kept = kept_pool_get(n, u, timeout_ms))) {
		h->pool = h->kept->pool;
		h->kept->in_flight++;
		return 0;
	}
	h->pool = https_pool_new(n->base, n->dns, u->tls ? n->tls : NULL, u->host, u->port, &opts);
	return h->pool ? 0 : -ENOMEM;
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

/* creds_http_start(); for STS (sts set) through n's proxy and kept pools. */
static int http_start(struct creds_net *n, bool sts, const char *method, const char *url,
		      const struct http_request_header *headers, size_t n_headers, const void *body, size_t body_len,
		      unsigned timeout_ms, creds_http_done_fn done, void *userdata, struct creds_http **ret,
		      char **ret_error)
{
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
	if (!h) {
		r = -ENOMEM;
		goto out;
	}
	r = exchange_pool(n, h, sts, &u, timeout_ms);
	if (r < 0)
		goto out;
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
	if (h)
		exchange_release(h);
	if (request) {
		explicit_bzero(request, len); /* may carry a token */
		free(request);
	}
	free(path);
	free(base_url);
	url_done(&u);
	return r;
}

int creds_http_start(struct creds_net *n, const char *method, const char *url,
		     const struct http_request_header *headers, size_t n_headers, const void *body, size_t body_len,
		     unsigned timeout_ms, creds_http_done_fn done, void *userdata, struct creds_http **ret,
		     char **ret_error)
{
	return http_start(n, false, method, url, headers, n_headers, body, body_len, timeout_ms, done, userdata, ret,
			  ret_error);
}

int creds_http_start_proxied(struct creds_net *n, const char *method, const char *url,
			     const struct http_request_header *headers, size_t n_headers, const void *body,
			     size_t body_len, unsigned timeout_ms, creds_http_done_fn done, void *userdata,
			     struct creds_http **ret, char **ret_error)
{
	return http_start(n, true, method, url, headers, n_headers, body, body_len, timeout_ms, done, userdata, ret,
			  ret_error);
}

struct creds_http *creds_http_cancel(struct creds_http *h)
{
	if (!h)
		return NULL;
	https_request_abandon(h->request);
	exchange_release(h);
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
