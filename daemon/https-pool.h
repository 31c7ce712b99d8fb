/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Outgoing HTTP(S) connections, kept alive and reused, one pool per
 * endpoint (scheme, host, port).  TLS: peer certificate verified against
 * the configured CA bundle (or the system store), host name checked, TLS >=
 * 1.2, SNI, session resumption (see tls.h).  TCP_NODELAY on every socket;
 * each request is written in one go.
 *
 * Threading: everything runs on the thread of the event_base; nothing here
 * is thread-safe.
 *
 * Callbacks: the outcome callback of a request runs exactly once (unless the
 * request is abandoned first), always from the event loop, never from
 * inside https_pool_submit or https_request_abandon.  From inside a
 * callback it is fine to submit, to abandon other requests, and to free the
 * pool (pending requests then get HTTPS_E_SHUTDOWN).
 *
 * Dead kept-alive connections: a request sent over a reused connection that
 * the server closes or resets before any byte of a response is retried
 * once, transparently, on a fresh connection (as curl does); only if that
 * fails too is the error reported.  Nothing else is ever retried here.
 */
#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct event_base;
struct evdns_base;
struct tls_context;
struct dns_cache;
struct proxy_config;

/* Defaults for struct https_pool_options fields left 0. */
#define HTTPS_POOL_DEFAULT_MAX_CONNECTIONS    8
#define HTTPS_POOL_DEFAULT_IDLE_TIMEOUT_MS    50000 /* below the usual 60 s of AWS load balancers */
#define HTTPS_POOL_DEFAULT_CONNECT_TIMEOUT_MS 5000
/* Requests waiting for a connection; submit fails beyond this. */
#define HTTPS_POOL_MAX_QUEUED 1024
/* Longest answer a proxy may give to CONNECT. */
#define HTTPS_PROXY_RESPONSE_MAX 8192
/* Longest https_outcome.detail, NUL included. */
#define HTTPS_DETAIL_MAX 256

enum https_error {
	HTTPS_OK = 0,
	HTTPS_E_RESOLVE,  /* DNS failed */
	HTTPS_E_CONNECT,  /* TCP connect failed (refused, unreachable, timed out), or the proxy said no */
	HTTPS_E_TLS,      /* handshake or certificate verification failed */
	HTTPS_E_IO,       /* reset / closed before a complete response */
	HTTPS_E_PROTOCOL, /* unparseable or oversized response */
	HTTPS_E_TIMEOUT,  /* no complete response within the request's timeout or response timeout */
	HTTPS_E_NOMEM,
	HTTPS_E_SHUTDOWN, /* the pool was freed with the request pending */
};
/* "ok", "resolve", "connect", …; "unknown" for anything else. */
const char *https_error_to_string(enum https_error e);

/* What happened to a request.  detail is a human-readable reason (e.g. the
 * certificate error and host) or NULL on success, valid only during the
 * callback.  The flags tell what happened on the wire, for retry decisions:
 * a request with request_sent == 0 never reached the server. */
struct https_outcome {
	enum https_error error;
	const char *detail;
	int request_sent;      /* every byte of the request was written */
	int response_started;  /* at least one response byte arrived */
	int reused_connection; /* went over a kept-alive connection */
	int resent;            /* the transparent retry resent a request that had been written
				* in full: the server may have acted on it twice */
	int timed_out;         /* the failure was a timeout: the request's, the response's, or
				* the connection set-up's (then error is HTTPS_E_CONNECT) */
};
/* On HTTPS_OK, resp is handed over (free it with http_response_free), any
 * status code included; otherwise resp is NULL. */
typedef void (*https_done_fn)(const struct https_outcome *o, struct http_response *resp, void *userdata);

struct https_pool_options {
	unsigned max_connections;    /* per pool; further requests queue FIFO (default 8) */
	unsigned idle_timeout_ms;    /* close idle kept-alive connections after this (default 50000) */
	unsigned connect_timeout_ms; /* TCP + TLS handshake (default 5000) */
	size_t max_response_body;    /* default HTTP_DEFAULT_MAX_BODY */
	struct dns_cache *resolver;  /* borrowed: names resolved (and cached) there; NULL: the dns argument */
	/* borrowed: an HTTPS proxy; TLS connections to hosts it applies to
	 * (see proxy_applies) are tunnelled through it with CONNECT */
	const struct proxy_config *proxy;
};

struct https_pool;
struct https_request;

/* A pool for host:port; tls NULL means plain http.  host is where to
 * connect and, with TLS, the name (or IP literal) the certificate must match
 * and the SNI.  opts may be NULL (all defaults).  The pool borrows base, dns
 * and tls; they must outlive it.  dns: an evdns_base for non-blocking name
 * resolution (create it with EVDNS_BASE_INITIALIZE_NAMESERVERS); NULL makes
 * libevent resolve names with blocking getaddrinfo, which is fine for IP
 * literals only.  Only the first address a name resolves to is tried.
 * NULL on allocation failure. */
struct https_pool *https_pool_new(struct event_base *base, struct evdns_base *dns, struct tls_context *tls,
				  const char *host, uint16_t port, const struct https_pool_options *opts);
/* Fails every pending request with HTTPS_E_SHUTDOWN (their callbacks run
 * from here, and may not submit: https_pool_submit returns NULL), closes all
 * connections.  NULL-safe, returns NULL; may be called from a callback. */
struct https_pool *https_pool_free(struct https_pool *p);

/* Queues a fully serialised request (see http_request_format; copied).
 * timeout_ms bounds the whole exchange, queueing and connecting included
 * (0 = none; the connect timeout still applies).  Returns a handle usable
 * with https_request_abandon until the callback has started, or NULL on
 * allocation failure, a full queue or a pool being freed (callback not
 * called then). */
struct https_request *https_pool_submit(struct https_pool *p, const char *request, size_t len, unsigned timeout_ms,
					https_done_fn done, void *userdata);
/* Once r is written to a connection, its complete response must arrive
 * within ms (0: no such limit; the request's own timeout still applies), or
 * r fails with HTTPS_E_TIMEOUT and the connection is closed, never reused.
 * Unlike the request's timeout this leaves out waiting in the queue and
 * setting up a connection (connect_timeout_ms bounds that): it catches a
 * server that took the request and went silent.  Call it right after
 * https_pool_submit, from the same turn of the loop (the request may already
 * be written, over an idle connection).  NULL-safe. */
void https_request_set_response_timeout(struct https_request *r, unsigned ms);
/* The caller no longer wants the answer: the callback will not run.  The
 * connection carrying it is closed if the request was already written (its
 * response could not be matched); a connection still being set up for it
 * is kept for later requests.  NULL-safe.  Not for a request whose callback
 * has started. */
void https_request_abandon(struct https_request *r);

/* Opens connections (TCP, TLS handshake) until n are open, within
 * max_connections, so that the first requests find them ready; they idle
 * out like any other.  Failures are only logged (debug).  Returns 0, or
 * -ENOMEM / -EIO if a connection could not even be started. */
int https_pool_prewarm(struct https_pool *p, unsigned n);

struct https_pool_stats {
	unsigned long connections_opened;
	unsigned long tls_handshakes; /* completed, resumed ones included */
	unsigned long tls_resumed;
	unsigned long requests; /* submitted */
	unsigned long reused;   /* sent over a kept-alive connection */
	unsigned long retried;  /* retried after a dead kept-alive connection */
	unsigned connections_open;
	unsigned connections_idle;
	unsigned queued;
};
void https_pool_get_stats(const struct https_pool *p, struct https_pool_stats *ret);
