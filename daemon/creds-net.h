/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The network side of the credential providers: one-shot HTTP(S) exchanges
 * with IMDS, the container endpoint and STS, on the daemon's event loop.
 *
 * IMDS and the container endpoint get a connection per exchange (a
 * one-connection https_pool freed when the exchange ends): they are plain
 * HTTP to a link-local or loopback address, so a connection costs no
 * handshake worth saving, they are fetched a few times an hour, and a fresh
 * connection never sends a request down a socket IMDS has quietly dropped.
 * STS exchanges go over kept-alive pools, one per endpoint, as KMS's do:
 * its calls often follow each other (each hop of a role chain, a retry),
 * and each one on a fresh connection would pay a TCP and TLS handshake.  TLS (STS, an https
 * container URI) uses one context per creds_net, made on first use from
 * the configured CA bundle, with the pools' verification (tls.h).
 *
 * Routing, as KMS's (kms-https.c): names go through a DNS cache that takes
 * KMSCANCELD_CONNECT_TO overrides (tests map real AWS names to loopback),
 * and STS goes through HTTPS_PROXY (CONNECT tunnel, NO_PROXY honoured, see
 * proxy.h) as botocore sends it.  IMDS and the container endpoint never do:
 * botocore's ContainerMetadataFetcher makes its session with no proxies, and
 * its IMDS fetcher would use HTTP_PROXY (plain http), which the daemon does
 * not read at all; a link-local metadata service behind a proxy is a
 * misconfiguration the SDKs' NO_PROXY advice exists to avoid.
 *
 * Not thread-safe: the loop thread only.
 */
#include <stddef.h>

#include "http.h"
#include "https-pool.h"

struct aws_settings;
struct event_base;
struct evdns_base;

/* Longest response body any credential endpoint sends us; STS answers are
 * a few KiB, IMDS and ECS well under one. */
#define CREDS_NET_MAX_BODY (64 * 1024)

/* STS endpoints kept alive per creds_net, and connections per endpoint. */
#define CREDS_NET_MAX_POOLS       8
#define CREDS_NET_STS_CONNECTIONS 4

struct creds_net;

/* base and dns are borrowed and must outlive the creds_net.  From settings
 * (NULL: none of these): the CA bundle (copied; none: the system store),
 * and through its getenv the proxy (https_proxy/HTTPS_PROXY, no_proxy/
 * NO_PROXY) and KMSCANCELD_CONNECT_TO.  0, -ENOMEM, or -EINVAL for a proxy
 * URL or connect-to list that cannot be used (logged: the daemon's KMS
 * client refuses the same values at startup with a message first). */
int creds_net_new(struct event_base *base, struct evdns_base *dns, const struct aws_settings *settings,
		  struct creds_net **ret);
/* NULL-safe, returns NULL.  Exchanges still running must be cancelled first. */
struct creds_net *creds_net_free(struct creds_net *n);
struct event_base *creds_net_base(const struct creds_net *n);

/* The outcome of an exchange: o as https_pool reports it; resp (borrowed,
 * valid during the callback) on HTTPS_OK, any status. */
typedef void (*creds_http_done_fn)(const struct https_outcome *o, const struct http_response *resp, void *userdata);

struct creds_http;

/*
 * Sends method url (http or https; a "?query" is kept) with headers and
 * body, bounded by timeout_ms for the whole exchange (connecting included).
 * done runs exactly once from the loop, never from inside this function,
 * unless cancelled.  Returns 0 with *ret, or -EINVAL (bad URL or header,
 * *ret_error says which) / -ENOMEM.
 */
int creds_http_start(struct creds_net *n, const char *method, const char *url,
		     const struct http_request_header *headers, size_t n_headers, const void *body, size_t body_len,
		     unsigned timeout_ms, creds_http_done_fn done, void *userdata, struct creds_http **ret,
		     char **ret_error);
/* The same for STS: through the proxy when one applies to the URL's host
 * (https only; see proxy.h), over n's kept-alive pool for the URL's
 * endpoint (a one-shot one when CREDS_NET_MAX_POOLS others are all busy). */
int creds_http_start_proxied(struct creds_net *n, const char *method, const char *url,
			     const struct http_request_header *headers, size_t n_headers, const void *body,
			     size_t body_len, unsigned timeout_ms, creds_http_done_fn done, void *userdata,
			     struct creds_http **ret, char **ret_error);
/* done will not run; the connection is closed.  NULL-safe, returns NULL. */
struct creds_http *creds_http_cancel(struct creds_http *h);

/* "HTTP 500 Internal Server Error" or "connect: …" for messages: writes a
 * short description of an exchange that did not yield a 2xx into buf. */
void creds_http_describe(const struct https_outcome *o, const struct http_response *resp, char *buf, size_t size);
