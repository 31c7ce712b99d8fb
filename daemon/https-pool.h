/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Outgoing HTTP(S) connections, kept alive and reused, one pool per
 * endpoint (scheme, host, port).  TLS: peer certificate verified against
 * the configured CA bundle (or the system store), host name checked, TLS >=
 * 1.2, SNI, session resumption.  TCP_NODELAY on every socket; each request is
 * written in one go.
 */
#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct event_base;
struct evdns_base;
struct tls_context;

enum https_error {
	HTTPS_OK = 0,
	HTTPS_E_RESOLVE,   /* DNS failed */
	HTTPS_E_CONNECT,   /* TCP connect failed (refused, unreachable) */
	HTTPS_E_TLS,       /* handshake or certificate verification failed */
	HTTPS_E_IO,        /* reset / closed before a complete response */
	HTTPS_E_PROTOCOL,  /* unparseable or oversized response */
	HTTPS_E_TIMEOUT,   /* no complete response within the request timeout */
	HTTPS_E_NOMEM,
	HTTPS_E_SHUTDOWN,  /* the pool was freed with the request pending */
};
const char *https_error_to_string(enum https_error e);

/* Called exactly once per request (unless abandoned).  On HTTPS_OK, resp is
 * handed over (free it with http_response_free); otherwise resp is NULL and
 * detail is a human-readable reason (e.g. the certificate error), valid only
 * during the call.  sent_fully/any_response tell what happened on the wire,
 * for retry decisions. */
struct https_outcome {
	enum https_error error;
	const char *detail;
	int request_sent;      /* every byte of the request was written */
	int response_started;  /* at least one response byte arrived */
	int reused_connection; /* went over a kept-alive connection */
};
typedef void (*https_done_fn)(const struct https_outcome *o, struct http_response *resp, void *userdata);

struct https_pool_options {
	unsigned max_connections;  /* per pool; further requests queue (default 8) */
	unsigned idle_timeout_ms;  /* close idle kept-alive connections after this (default 50000) */
	unsigned connect_timeout_ms; /* TCP + TLS handshake (default 5000) */
	size_t max_response_body;  /* default HTTP_DEFAULT_MAX_BODY */
};

struct https_pool;
struct https_request;

/* tls may be NULL for plain http.  host/port: where to connect; host is also
 * the TLS SNI/verification name.  The pool borrows base, dns (may be NULL:
 * numeric hosts only... or blocking resolver) and tls; they must outlive it. */
struct https_pool *https_pool_new(struct event_base *base, struct evdns_base *dns, struct tls_context *tls,
				  const char *host, uint16_t port, const struct https_pool_options *opts);
/* Fails every pending request with HTTPS_E_SHUTDOWN (callbacks run), closes
 * all connections.  NULL-safe, returns NULL. */
struct https_pool *https_pool_free(struct https_pool *p);

/* Queues a fully serialised request (see http_request_format; copied).
 * timeout_ms bounds the whole exchange, queueing included (0 = none).
 * Returns a handle usable with https_request_abandon until the callback has
 * run, or NULL on allocation failure (callback not called). */
struct https_request *https_pool_submit(struct https_pool *p, const char *request, size_t len, unsigned timeout_ms,
					https_done_fn done, void *userdata);
/* The caller no longer wants the answer: the callback will not run; the
 * connection carrying it, if any, is closed (its response can't be matched). */
void https_request_abandon(struct https_request *r);

struct https_pool_stats {
	unsigned long connections_opened;
	unsigned long tls_handshakes;
	unsigned long tls_resumed;
	unsigned long requests;
	unsigned long reused;
	unsigned connections_open;
	unsigned connections_idle;
	unsigned queued;
};
void https_pool_get_stats(const struct https_pool *p, struct https_pool_stats *ret);
