/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "https-pool.h"

#include "dns-cache.h"
#include "log.h"
#include "monotime.h"
#include "proxy.h"
#include "tls.h"
#include "wipe.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/*
 * Life of a connection:
 *
 *   RESOLVING --> CONNECTING --(TCP [+ proxy CONNECT] + TLS up)--> BUSY --(response, keep-alive)--> IDLE
 *        |                          ^  \                              |
 *        |                          |   `--(error/close)--> CLOSED    |
 *        `--(error/timeout)--> CLOSED `---------(next request)--------'
 *
 * A connection carries at most one request at a time (no pipelining).  A
 * request is bound to a connection when it leaves the queue: to an idle one,
 * or to one opened for it.  IDLE connections keep reading, so a server
 * closing them is noticed at once rather than on the next request.
 *
 * Through a proxy, CONNECTING has a first step: TCP to the proxy, our CONNECT
 * written, the proxy's answer read on the plain bufferevent, which then
 * goes under an OpenSSL filter for the TLS handshake with the endpoint.
 *
 * Re-entrancy: user callbacks run only via request_complete(), and every
 * caller of request_complete() has finished with connection and pool state
 * before calling it and returns right after, so a callback may submit,
 * abandon or free the pool.
 */

enum conn_state {
	CONN_RESOLVING, /* waiting for the DNS cache */
	CONN_CONNECTING,
	CONN_TUNNELING, /* CONNECT sent to the proxy, waiting for its answer */
	CONN_IDLE,
	CONN_BUSY,
	CONN_CLOSED,
	_CONN_STATE_MAX,
};

static const char *const conn_state_names[_CONN_STATE_MAX] = {
    [CONN_RESOLVING] = "resolving",
    [CONN_CONNECTING] = "connecting",
    [CONN_TUNNELING] = "tunneling",
    [CONN_IDLE] = "idle",
    [CONN_BUSY] = "busy",
    [CONN_CLOSED] = "closed",
};

enum req_state {
	REQ_QUEUED,    /* in pool->queue */
	REQ_ON_CONN,   /* bound to req->conn */
	REQ_FINISHING, /* outcome decided, callback deferred to the loop */
};

struct conn {
	struct https_pool *pool;
	TAILQ_ENTRY(conn) link;
	unsigned id;
	enum conn_state state;
	struct bufferevent *bev;
	SSL *ssl;                  /* owned by bev; NULL for plain http */
	struct dns_cache_query *dns; /* while RESOLVING */
	struct sockaddr_storage addr; /* the address being connected to, from the DNS cache */
	socklen_t addr_len;           /* 0: libevent resolved it, or none yet */
	bool tunneled;               /* the proxy's CONNECT succeeded */
	bool setup_timed_out;        /* set-up failed because the connect timer fired */
	struct event *timer;         /* connect timeout, response timeout while BUSY, then idle timeout */
	struct https_request *req; /* while CONNECTING (may be NULL) or BUSY */
	struct http_parser *parser;
	unsigned exchanges; /* completed on this connection, for the logs */
};

struct https_request {
	struct https_pool *pool;
	TAILQ_ENTRY(https_request) queue_link;
	TAILQ_ENTRY(https_request) all_link;
	enum req_state state;
	char *data;
	size_t len;
	struct event *timeout; /* whole request, NULL if none */
	struct event *finish;  /* deferred completion */
	unsigned response_timeout_ms; /* from the write to the complete response, 0: none */
	struct conn *conn;
	https_done_fn done;
	void *userdata;
	bool retried;    /* the one transparent retry is used up */
	bool fresh_only; /* must not go over a kept-alive connection */
	struct https_outcome outcome;
	char detail[HTTPS_DETAIL_MAX];
};

TAILQ_HEAD(conn_list, conn);
TAILQ_HEAD(request_list, https_request);

struct https_pool {
	struct event_base *base;
	struct evdns_base *dns;
	struct tls_context *tls;
	char *host;
	uint16_t port;
	struct https_pool_options opts;
	struct conn_list conns;       /* all open ones; idle ones first */
	struct request_list queue;    /* waiting for a connection, FIFO */
	struct request_list requests; /* every live request */
	unsigned next_conn_id;
	bool shutting_down;
	bool via_proxy; /* connections tunnel through opts.proxy */
	struct https_pool_stats stats;
};

static const char *const error_names[] = {
    [HTTPS_OK] = "ok",
    [HTTPS_E_RESOLVE] = "resolve",
    [HTTPS_E_CONNECT] = "connect",
    [HTTPS_E_TLS] = "tls",
    [HTTPS_E_IO] = "io",
    [HTTPS_E_PROTOCOL] = "protocol",
    [HTTPS_E_TIMEOUT] = "timeout",
    [HTTPS_E_NOMEM] = "nomem",
    [HTTPS_E_SHUTDOWN] = "shutdown",
};

const char *https_error_to_string(enum https_error e)
{
	if ((unsigned)e >= sizeof(error_names) / sizeof(error_names[0]) || !error_names[e])
		return "unknown";
	return error_names[e];
}

static void pool_dispatch(struct https_pool *p);
static void conn_read_cb(struct bufferevent *bev, void *userdata);
static void conn_write_cb(struct bufferevent *bev, void *userdata);
static void conn_event_cb(struct bufferevent *bev, short events, void *userdata);

/* ---- requests --------------------------------------------------------- */

static void request_free(struct https_request *r)
{
	struct https_pool *p = r->pool;

	if (r->state == REQ_QUEUED) {
		TAILQ_REMOVE(&p->queue, r, queue_link);
		p->stats.queued--;
	}
	TAILQ_REMOVE(&p->requests, r, all_link);
	if (r->timeout)
		event_free(r->timeout);
	event_free(r->finish);
	/* Our copy of the request: KMS and STS requests carry the session
	 * token, credential fetches the web-identity JWT, the IMDS token or
	 * the container's Authorization. */
	wipe_free(r->data, r->len);
	free(r);
}

static void request_set_outcome(struct https_request *r, enum https_error e, const char *detail)
{
	r->outcome.error = e;
	if (e == HTTPS_E_TIMEOUT)
		r->outcome.timed_out = 1;
	if (detail)
		snprintf(r->detail, sizeof(r->detail), "%s", detail);
	else if (e != HTTPS_OK)
		snprintf(r->detail, sizeof(r->detail), "%s", https_error_to_string(e));
	r->outcome.detail = e == HTTPS_OK ? NULL : r->detail;
}

/* Delivers the outcome and frees r.  The request must already be detached
 * from its connection.  Callers do this last and touch nothing afterwards:
 * the callback may free the pool. */
static void request_complete(struct https_request *r, enum https_error e, const char *detail,
			     struct http_response *resp)
{
	struct https_outcome o;
	https_done_fn done = r->done;
	void *userdata = r->userdata;
	char buf[HTTPS_DETAIL_MAX];

	request_set_outcome(r, e, detail);
	o = r->outcome;
	if (o.detail) {
		memcpy(buf, r->detail, sizeof(buf));
		o.detail = buf;
	}
	log_debug("https %s:%u: request done: %s%s%s", r->pool->host, (unsigned)r->pool->port, https_error_to_string(e),
		  o.detail ? ": " : "", o.detail ? o.detail : "");
	request_free(r);
	done(&o, resp, userdata);
}

static void request_finish_cb(evutil_socket_t fd, short what, void *userdata)
{
	struct https_request *r = userdata;

	request_complete(r, r->outcome.error, r->detail, NULL);
}

/* Fails r from the loop rather than now: used where the caller may be
 * https_pool_submit, which must not run callbacks. */
static void request_fail_later(struct https_request *r, enum https_error e, const char *detail)
{
	struct https_pool *p = r->pool;

	if (r->state == REQ_QUEUED) {
		TAILQ_REMOVE(&p->queue, r, queue_link);
		p->stats.queued--;
	}
	r->state = REQ_FINISHING;
	r->conn = NULL;
	if (r->timeout)
		evtimer_del(r->timeout);
	request_set_outcome(r, e, detail);
	event_active(r->finish, EV_TIMEOUT, 1);
}

/* Puts r back at the head of the queue for its one retry. */
static void request_requeue(struct https_request *r)
{
	struct https_pool *p = r->pool;

	log_info("https %s:%u: kept-alive connection was closed by the server; retrying on a new one", p->host,
		 (unsigned)p->port);
	r->retried = true;
	r->fresh_only = true;
	r->conn = NULL;
	r->state = REQ_QUEUED;
	r->outcome = (struct https_outcome){.resent = r->outcome.request_sent};
	TAILQ_INSERT_HEAD(&p->queue, r, queue_link);
	p->stats.queued++;
	p->stats.retried++;
}

/* ---- connections ------------------------------------------------------ */

static void conn_set_state(struct conn *c, enum conn_state s)
{
	log_debug("https %s:%u conn #%u: %s -> %s", c->pool->host, (unsigned)c->pool->port, c->id,
		  conn_state_names[c->state], conn_state_names[s]);
	if (c->state == CONN_IDLE)
		c->pool->stats.connections_idle--;
	if (s == CONN_IDLE)
		c->pool->stats.connections_idle++;
	c->state = s;
}

/* Closes and frees c.  Its request, if any, must have been detached. */
static void conn_close(struct conn *c)
{
	struct https_pool *p = c->pool;

	conn_set_state(c, CONN_CLOSED);
	TAILQ_REMOVE(&p->conns, c, link);
	p->stats.connections_open--;
	/* Safe from within this bufferevent's own callbacks: libevent holds a
	 * reference while it runs them, and clears them on free. */
	dns_cache_query_cancel(c->dns);
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->timer)
		event_free(c->timer);
	http_parser_free(c->parser);
	free(c);
}

/* Closes c after an orderly end (idle, complete response, abandon,
 * shutdown): its TLS session stays good for resumption. */
static void conn_close_clean(struct conn *c)
{
	tls_mark_clean_close(c->ssl);
	conn_close(c);
}

/* Detaches c's request (if any) so the caller can complete it. */
static struct https_request *conn_take_request(struct conn *c)
{
	struct https_request *r = c->req;

	c->req = NULL;
	c->parser = http_parser_free(c->parser);
	if (r)
		r->conn = NULL;
	return r;
}

static void set_nodelay(struct conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	int one = 1;

	/* Requests are written in one go and then we wait: Nagle would only
	 * hold back the last segment. */
	if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		log_debug("https %s:%u conn #%u: TCP_NODELAY: %s", c->pool->host, (unsigned)c->pool->port, c->id,
			  strerror(errno));
}

static void conn_arm_timer(struct conn *c, unsigned ms)
{
	struct timeval tv = timeval_from_msec(ms);

	evtimer_add(c->timer, &tv);
}

static void conn_set_idle(struct conn *c)
{
	struct https_pool *p = c->pool;

	conn_set_state(c, CONN_IDLE);
	/* Idle ones first, most recently used first: the warmest connection
	 * is the least likely to have been dropped by the server. */
	TAILQ_REMOVE(&p->conns, c, link);
	TAILQ_INSERT_HEAD(&p->conns, c, link);
	conn_arm_timer(c, p->opts.idle_timeout_ms);
}

/*
 * Hands the first bytes of a request straight to the connection while
 * nothing is queued on it; returns how many it took.  libevent's
 * bufferevents only write from the loop, so a queued request costs a write
 * event armed, a loop turn waited and the event disarmed: three system
 * calls and a turn of latency per request.  What is not taken here goes
 * through the bufferevent as before, which also meets any error: a refused
 * SSL_write() is simply made again from the bufferevent's copy of the same
 * bytes, as OpenSSL allows (libevent sets SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
 * Not through a proxy: there TLS is a filter over another bufferevent.
 */
static size_t conn_write_through(struct conn *c, const char *data, size_t len)
{
	ssize_t n;

	if (c->pool->via_proxy || len > INT_MAX || evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return 0;
	if (c->ssl)
		n = SSL_write(c->ssl, data, (int)len);
	else
		n = send(bufferevent_getfd(c->bev), data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	return n > 0 ? (size_t)n : 0;
}

/* Sends r over c (which is connected).  Returns 0, or -ENOMEM/-EIO with r
 * still bound (the caller fails both). */
static int conn_start_exchange(struct conn *c)
{
	struct https_request *r = c->req;
	size_t sent;

	evtimer_del(c->timer);
	c->parser = http_parser_new(c->pool->opts.max_response_body);
	if (!c->parser)
		return -ENOMEM;
	/* Anything taken from the idle list counts as reused: the server may
	 * have dropped it meanwhile, which is what the retry is for. */
	r->outcome.reused_connection = c->state == CONN_IDLE;
	if (c->state == CONN_IDLE)
		c->pool->stats.reused++;
	conn_set_state(c, CONN_BUSY);
	if (r->response_timeout_ms)
		conn_arm_timer(c, r->response_timeout_ms);
	sent = conn_write_through(c, r->data, r->len);
	if (sent == r->len) {
		r->outcome.request_sent = 1;
		return 0;
	}
	if (bufferevent_write(c->bev, r->data + sent, r->len - sent) < 0)
		return -EIO;
	return 0;
}

/* The first real OpenSSL error libevent queued for c, 0 if none.  The queue
 * is drained so a stale error never describes a later event.  libevent
 * also queues bare SSL_ERROR_* codes (SSL_ERROR_SYSCALL for a failed
 * socket), which are not TLS errors and are skipped. */
static unsigned long openssl_error(struct conn *c)
{
	unsigned long e, first = 0;

	if (!c->ssl)
		return 0;
	while ((e = bufferevent_get_openssl_error(c->bev)))
		if (ERR_GET_LIB(e) != 0)
			first = e; /* libevent returns them newest first */
	return first;
}

/* OpenSSL's word for "the connection went away under me" (EOF or a system
 * call error), as opposed to a protocol or certificate verdict. */
static bool ssl_error_is_transport(unsigned long e)
{
	return ERR_GET_LIB(e) == ERR_LIB_SYS || ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

/* Why a connection attempt failed: DNS, TCP or TLS.  TCP was up if the
 * socket has a peer; then only the TLS handshake can have failed. */
static enum https_error conn_classify_failure(struct conn *c, short events, int err, char *buf, size_t size)
{
	struct https_pool *p = c->pool;
	int dns_err = bufferevent_socket_get_dns_error(c->bev);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	unsigned long ssl_err = openssl_error(c);
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	bool tcp_up = fd >= 0 && getpeername(fd, (struct sockaddr *)&sa, &sl) == 0;

	if (dns_err) {
		snprintf(buf, size, "cannot resolve %s: %s", p->host, evutil_gai_strerror(dns_err));
		return HTTPS_E_RESOLVE;
	}
	/* A certificate that did not verify, or a TLS protocol error, will
	 * fail again: HTTPS_E_TLS, which callers do not retry (fail closed). */
	if (c->ssl && ((ssl_err && !ssl_error_is_transport(ssl_err)) || SSL_get_verify_result(c->ssl) != X509_V_OK)) {
		tls_describe_failure(c->ssl, p->host, ssl_err, buf, size);
		return HTTPS_E_TLS;
	}
	/* TCP was up but the handshake neither failed nor finished: the peer
	 * closed or was too slow.  That is a connection failure, worth
	 * another attempt, not a verdict on the certificate. */
	if (c->ssl && (tcp_up || ssl_err)) {
		snprintf(buf, size, "TLS handshake with %s did not complete: %s", p->host,
			 events & BEV_EVENT_TIMEOUT ? "timed out" : err ? strerror(err) : "connection closed");
		return HTTPS_E_CONNECT;
	}
	snprintf(buf, size, "cannot connect to %s%s port %u: %s", p->via_proxy && !c->tunneled ? "proxy " : "",
		 p->via_proxy && !c->tunneled ? p->opts.proxy->host : p->host,
		 p->via_proxy && !c->tunneled ? (unsigned)p->opts.proxy->port : (unsigned)p->port,
		 c->state == CONN_TUNNELING          ? "the proxy closed the connection"
		 : events & BEV_EVENT_TIMEOUT ? "timed out"
		 : err                      ? strerror(err)
					    : "connection closed");
	return HTTPS_E_CONNECT;
}

/* Setting up c failed with e: c goes, its request (if any) is answered. */
static void conn_setup_failed(struct conn *c, enum https_error e, const char *detail)
{
	struct https_pool *p = c->pool;
	struct https_request *r = conn_take_request(c);

	/* Without a request (a spare one, or its request gave up) nobody
	 * else will report it. */
	if (r)
		log_debug("https %s:%u conn #%u: %s", p->host, (unsigned)p->port, c->id, detail);
	else
		log_info("https %s:%u conn #%u: %s", p->host, (unsigned)p->port, c->id, detail);
	if (r)
		r->outcome.timed_out = c->setup_timed_out;
	conn_close(c);
	pool_dispatch(p);
	if (r)
		request_complete(r, e, detail, NULL);
}

static bool conn_failover(struct conn *c);

static void conn_connect_failed(struct conn *c, short events, int err)
{
	char detail[HTTPS_DETAIL_MAX];
	enum https_error e;

	if (conn_failover(c))
		return;
	e = conn_classify_failure(c, events, err, detail, sizeof(detail));
	conn_setup_failed(c, e, detail);
}

static bool conn_setting_up(const struct conn *c)
{
	return c->state == CONN_RESOLVING || c->state == CONN_CONNECTING || c->state == CONN_TUNNELING;
}

/* TCP is up to the proxy: ask it for a tunnel to the endpoint. */
static void conn_send_connect(struct conn *c)
{
	struct https_pool *p = c->pool;
	const struct proxy_config *px = p->opts.proxy;
	bool v6 = strchr(p->host, ':') != NULL;
	char *req = NULL;
	int n;

	set_nodelay(c);
	n = wipe_asprintf(&req, "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n%s%s%s\r\n", v6 ? "[" : "", p->host,
		     v6 ? "]" : "", (unsigned)p->port, v6 ? "[" : "", p->host, v6 ? "]" : "", (unsigned)p->port,
		     px->authorization ? "Proxy-Authorization: " : "", px->authorization ? px->authorization : "",
		     px->authorization ? "\r\n" : "");
	if (n < 0) {
		conn_setup_failed(c, HTTPS_E_NOMEM, "cannot ask the proxy for a tunnel");
		return;
	}
	conn_set_state(c, CONN_TUNNELING);
	bufferevent_write(c->bev, req, (size_t)n);
	wipe_free_string(req); /* it may carry the proxy password */
}

/* The proxy's answer to CONNECT: on 2xx the same stream carries TLS to the
 * endpoint, under an OpenSSL filter; anything else fails the connection. */
static void conn_tunnel_read(struct conn *c)
{
	struct https_pool *p = c->pool;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char line[128], detail[HTTPS_DETAIL_MAX];
	struct bufferevent *tls;
	int major, minor, status = 0;
	size_t n;

	if (end.pos < 0) {
		if (evbuffer_get_length(in) > HTTPS_PROXY_RESPONSE_MAX)
			conn_setup_failed(c, HTTPS_E_PROTOCOL, "the proxy's answer to CONNECT is too long");
		return;
	}
	n = evbuffer_copyout(in, line, sizeof(line) - 1);
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (evbuffer_get_length(in) > (size_t)end.pos + 4) {
		/* TLS starts with our ClientHello: the far end cannot have
		 * spoken yet. */
		conn_setup_failed(c, HTTPS_E_PROTOCOL, "the proxy sent data after its answer to CONNECT");
		return;
	}
	evbuffer_drain(in, (size_t)end.pos + 4);
	if (sscanf(line, "HTTP/%d.%d %d", &major, &minor, &status) != 3 || status < 200 || status > 299) {
		snprintf(detail, sizeof(detail), "proxy %s:%u refused the tunnel to %s:%u: %s",
			 p->opts.proxy->host, (unsigned)p->opts.proxy->port, p->host, (unsigned)p->port, line);
		conn_setup_failed(c, HTTPS_E_CONNECT, detail);
		return;
	}
	log_debug("https %s:%u conn #%u: tunnel through the proxy is up", p->host, (unsigned)p->port, c->id);
	c->ssl = tls_context_new_ssl(p->tls, p->host, p->port);
	tls = c->ssl ? bufferevent_openssl_filter_new(p->base, c->bev, c->ssl, BUFFEREVENT_SSL_CONNECTING,
						      BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
		     : NULL;
	if (!tls) {
		c->ssl = NULL; /* freed by libevent on failure */
		conn_setup_failed(c, HTTPS_E_NOMEM, "cannot start TLS through the proxy");
		return;
	}
	c->bev = tls; /* it owns the plain one now */
	c->tunneled = true;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	conn_set_state(c, CONN_CONNECTING);
}

static void conn_connected(struct conn *c)
{
	struct https_pool *p = c->pool;
	struct https_request *r;

	set_nodelay(c);
	if (c->ssl) {
		p->stats.tls_handshakes++;
		if (tls_session_reused(c->ssl))
			p->stats.tls_resumed++;
	}
	if (!c->req) {
		/* Its request timed out or was abandoned meanwhile. */
		conn_set_idle(c);
		pool_dispatch(p);
		return;
	}
	if (conn_start_exchange(c) == 0)
		return;
	r = conn_take_request(c);
	conn_close(c);
	pool_dispatch(p);
	request_complete(r, HTTPS_E_NOMEM, "cannot send request", NULL);
}

/* A response is complete: c goes back to idle if it may carry another
 * request, and the request is answered. */
static void conn_response_done(struct conn *c, bool leftover)
{
	struct https_pool *p = c->pool;
	struct http_response *resp = http_parser_take(c->parser);
	struct https_request *r = conn_take_request(c);

	c->exchanges++;
	r->outcome.response_started = 1;
	/* Bytes after the response were never asked for: the stream can no
	 * longer be trusted to line up with requests. */
	if (resp && resp->keep_alive && !leftover)
		conn_set_idle(c);
	else
		conn_close_clean(c);
	pool_dispatch(p);
	if (resp)
		request_complete(r, HTTPS_OK, NULL, resp);
	else
		request_complete(r, HTTPS_E_NOMEM, NULL, NULL);
}

/* The exchange on c failed (error or close before a complete response).
 * A request that went over a reused connection the server had already
 * dropped gets its one retry; anything else is reported. */
static void conn_exchange_failed(struct conn *c, enum https_error e, const char *detail)
{
	struct https_pool *p = c->pool;
	bool started = http_parser_started(c->parser);
	struct https_request *r = conn_take_request(c);

	r->outcome.response_started = started;
	conn_close(c);
	if (e == HTTPS_E_IO && !started && r->outcome.reused_connection && !r->retried && !p->shutting_down) {
		request_requeue(r);
		pool_dispatch(p);
		return;
	}
	pool_dispatch(p);
	request_complete(r, e, detail, NULL);
}

static void conn_read_cb(struct bufferevent *bev, void *userdata)
{
	struct conn *c = userdata;
	struct https_pool *p = c->pool;
	struct evbuffer *in = bufferevent_get_input(bev);
	enum http_parse_status s = HTTP_PARSE_NEED_MORE;

	if (c->state == CONN_TUNNELING) {
		conn_tunnel_read(c);
		return;
	}
	if (c->state != CONN_BUSY) {
		/* Bytes nobody asked for (idle, or before our request went
		 * out): the stream cannot be matched to requests any more. */
		struct https_request *r = conn_take_request(c);
		log_debug("https %s:%u conn #%u: unsolicited data, closing", p->host, (unsigned)p->port, c->id);
		conn_close(c);
		pool_dispatch(p);
		if (r)
			request_complete(r, HTTPS_E_PROTOCOL, "server sent data before the request", NULL);
		return;
	}
	while (s == HTTP_PARSE_NEED_MORE && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		size_t used = 0;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		s = http_parser_feed(c->parser, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
	}
	if (s == HTTP_PARSE_DONE)
		conn_response_done(c, evbuffer_get_length(in) > 0);
	else if (s == HTTP_PARSE_ERROR)
		conn_exchange_failed(c, HTTPS_E_PROTOCOL, http_parser_error(c->parser));
}

static void conn_write_cb(struct bufferevent *bev, void *userdata)
{
	struct conn *c = userdata;

	/* Called when the output buffer has drained.  Deferred, so check it
	 * is still empty: it may be about a previous request. */
	if (c->state == CONN_BUSY && c->req && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		c->req->outcome.request_sent = 1;
}

/* EOF or an error while BUSY.  An EOF may complete a close-delimited body. */
static void conn_busy_event(struct conn *c, short events, int err)
{
	char detail[HTTPS_DETAIL_MAX];
	unsigned long ssl_err = openssl_error(c);

	if ((events & BEV_EVENT_EOF) && http_parser_eof(c->parser) == HTTP_PARSE_DONE) {
		conn_response_done(c, false);
		return;
	}
	if (ssl_err) {
		char e[HTTPS_DETAIL_MAX / 2];
		ERR_error_string_n(ssl_err, e, sizeof(e));
		snprintf(detail, sizeof(detail), "TLS error on the connection to %s: %s", c->pool->host, e);
	} else if (events & BEV_EVENT_EOF)
		snprintf(detail, sizeof(detail), "%s:%u closed the connection: %s", c->pool->host,
			 (unsigned)c->pool->port,
			 http_parser_started(c->parser) ? "incomplete response" : "no response");
	else
		snprintf(detail, sizeof(detail), "connection to %s:%u failed: %s", c->pool->host,
			 (unsigned)c->pool->port, err ? strerror(err) : "I/O error");
	conn_exchange_failed(c, HTTPS_E_IO, detail);
}

static void conn_event_cb(struct bufferevent *bev, short events, void *userdata)
{
	struct conn *c = userdata;
	struct https_pool *p = c->pool;
	/* libevent saves errno for deferred callbacks; it means something
	 * only with BEV_EVENT_ERROR. */
	int err = events & BEV_EVENT_ERROR ? EVUTIL_SOCKET_ERROR() : 0;

	if (events & BEV_EVENT_CONNECTED) {
		if (c->state == CONN_CONNECTING && p->via_proxy && !c->tunneled)
			conn_send_connect(c);
		else if (c->state == CONN_CONNECTING)
			conn_connected(c);
		return;
	}
	if (!(events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	switch (c->state) {
	case CONN_RESOLVING:
	case CONN_CONNECTING:
	case CONN_TUNNELING:
		conn_connect_failed(c, events, err);
		break;
	case CONN_BUSY:
		conn_busy_event(c, events, err);
		break;
	default:
		/* The server dropped an idle connection: just forget it. */
		log_debug("https %s:%u conn #%u: closed while idle after %u requests", p->host, (unsigned)p->port,
			  c->id, c->exchanges);
		conn_close_clean(c);
		pool_dispatch(p);
		break;
	}
}

/* The request on c has no complete response within its response timeout:
 * the server took it and went silent (a half-open connection, a stuck
 * backend).  c is closed, never reused: a late answer on it would be taken
 * for the next request's.  No transparent retry either, as the server may be
 * acting on the request; the caller decides. */
static void conn_response_timeout(struct conn *c)
{
	struct https_pool *p = c->pool;
	bool started = http_parser_started(c->parser);
	struct https_request *r = conn_take_request(c);
	char detail[HTTPS_DETAIL_MAX];

	r->outcome.response_started = started;
	/* On a loop that ran late this timer may come before the (deferred)
	 * write callback that would have said so. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		r->outcome.request_sent = 1;
	snprintf(detail, sizeof(detail), "no %s from %s:%u within %u ms; connection closed",
		 started ? "complete response" : "response", p->host, (unsigned)p->port, r->response_timeout_ms);
	log_debug("https %s:%u conn #%u: %s", p->host, (unsigned)p->port, c->id, detail);
	conn_close(c);
	pool_dispatch(p);
	request_complete(r, HTTPS_E_TIMEOUT, detail, NULL);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *userdata)
{
	struct conn *c = userdata;
	struct https_pool *p = c->pool;

	if (c->state == CONN_BUSY) {
		conn_response_timeout(c);
		return;
	}
	if (c->state == CONN_RESOLVING) {
		char detail[HTTPS_DETAIL_MAX];
		snprintf(detail, sizeof(detail), "cannot resolve %s: timed out",
			 p->via_proxy ? p->opts.proxy->host : p->host);
		conn_setup_failed(c, HTTPS_E_RESOLVE, detail);
		return;
	}
	if (conn_setting_up(c)) {
		c->setup_timed_out = true;
		conn_connect_failed(c, BEV_EVENT_TIMEOUT, 0);
		return;
	}
	log_debug("https %s:%u conn #%u: idle timeout", p->host, (unsigned)p->port, c->id);
	conn_close_clean(c);
	pool_dispatch(p);
}

/* Connects c's socket to sa, remembering it for failover. */
static int conn_connect_addr(struct conn *c, const struct sockaddr *sa, socklen_t len)
{
	memcpy(&c->addr, sa, len);
	c->addr_len = len;
	return bufferevent_socket_connect(c->bev, (struct sockaddr *)sa, (int)len);
}

static void conn_resolved(int error, const struct sockaddr *sa, socklen_t len, const char *detail, void *userdata)
{
	struct conn *c = userdata;
	char buf[HTTPS_DETAIL_MAX];

	c->dns = NULL;
	if (error) {
		conn_setup_failed(c, HTTPS_E_RESOLVE, detail);
		return;
	}
	conn_set_state(c, CONN_CONNECTING);
	if (conn_connect_addr(c, sa, len) < 0) {
		snprintf(buf, sizeof(buf), "cannot connect to %s: %s", c->pool->host, strerror(errno));
		conn_setup_failed(c, HTTPS_E_CONNECT, buf);
		return;
	}
	set_nodelay(c);
}

/* Starts the TCP connection: to the proxy or the endpoint, by an address
 * the DNS cache knows now, after a lookup (RESOLVING), or through libevent's
 * own resolution when the pool has no cache.  0 or -EIO. */
static int conn_start_connect(struct conn *c)
{
	struct https_pool *p = c->pool;
	const char *host = p->via_proxy ? p->opts.proxy->host : p->host;
	uint16_t port = p->via_proxy ? p->opts.proxy->port : p->port;
	struct sockaddr_storage sa;
	socklen_t len;

	if (!p->opts.resolver) {
		if (bufferevent_socket_connect_hostname(c->bev, p->dns, AF_UNSPEC, host, port) < 0)
			return -EIO;
	} else if (dns_cache_lookup(p->opts.resolver, host, port, &sa, &len) == 0) {
		if (conn_connect_addr(c, (struct sockaddr *)&sa, len) < 0)
			return -EIO;
	} else {
		c->state = CONN_RESOLVING;
		c->dns = dns_cache_query(p->opts.resolver, host, port, conn_resolved, c);
		return c->dns ? 0 : -EIO;
	}
	set_nodelay(c); /* the socket exists already */
	return 0;
}

static struct bufferevent *conn_new_bev(struct conn *c)
{
	struct https_pool *p = c->pool;
	/* Deferred callbacks: nothing of ours runs from inside a libevent
	 * call we make (connect, write), only from the loop. */
	int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;

	/* Through a proxy, TLS starts once the tunnel is up. */
	if (!p->tls || p->via_proxy)
		return bufferevent_socket_new(p->base, -1, opts);
	c->ssl = tls_context_new_ssl(p->tls, p->host, p->port);
	if (!c->ssl)
		return NULL;
	/* On failure libevent frees the SSL itself (BEV_OPT_CLOSE_ON_FREE). */
	return bufferevent_openssl_socket_new(p->base, -1, c->ssl, BUFFEREVENT_SSL_CONNECTING, opts);
}

/*
 * c could not reach its address (refused, unreachable, timed out before TCP
 * was up): the DNS cache marks the address dead, and when the name has
 * another, c starts over on that one at once — a fresh socket, the connect
 * timer re-armed, the request still bound (the same attempt).  Returns true
 * when it did (or failed doing so and answered); false when there is
 * nothing else to try, or TCP was up (TLS failed: not the address's fault).
 */
static bool conn_failover(struct conn *c)
{
	struct https_pool *p = c->pool;
	const char *host = p->via_proxy ? p->opts.proxy->host : p->host;
	uint16_t port = p->via_proxy ? p->opts.proxy->port : p->port;
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	struct sockaddr_storage peer;
	socklen_t sl = sizeof(peer);

	if (!p->opts.resolver || c->state != CONN_CONNECTING || c->addr_len == 0 ||
	    (fd >= 0 && getpeername(fd, (struct sockaddr *)&peer, &sl) == 0) ||
	    !dns_cache_report_failure(p->opts.resolver, host, port, (struct sockaddr *)&c->addr, c->addr_len))
		return false;
	bufferevent_free(c->bev); /* and its SSL */
	c->ssl = NULL;
	c->addr_len = 0;
	c->setup_timed_out = false;
	c->bev = conn_new_bev(c);
	if (!c->bev) {
		c->ssl = NULL; /* freed by libevent */
		conn_setup_failed(c, HTTPS_E_CONNECT, "out of memory");
		return true;
	}
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	conn_arm_timer(c, p->opts.connect_timeout_ms);
	if (conn_start_connect(c) < 0)
		conn_setup_failed(c, HTTPS_E_CONNECT, "cannot start a connection to the next address");
	return true;
}

/* Opens a connection for r (NULL: a spare one, idle once up).  Returns 0
 * (r is bound to it), or -ENOMEM / -EIO with nothing left behind. */
static int conn_open(struct https_pool *p, struct https_request *r)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->pool = p;
	c->id = ++p->next_conn_id;
	c->state = CONN_CONNECTING;
	TAILQ_INSERT_TAIL(&p->conns, c, link);
	p->stats.connections_open++;
	p->stats.connections_opened++;
	log_debug("https %s:%u conn #%u: new, %s", p->host, (unsigned)p->port, c->id, conn_state_names[c->state]);

	c->timer = evtimer_new(p->base, conn_timer_cb, c);
	c->bev = c->timer ? conn_new_bev(c) : NULL;
	if (!c->bev) {
		c->ssl = NULL;
		conn_close(c);
		return -ENOMEM;
	}
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	conn_arm_timer(c, p->opts.connect_timeout_ms);
	if (conn_start_connect(c) < 0) {
		conn_close(c);
		return -EIO;
	}
	c->req = r;
	if (r) {
		r->conn = c;
		r->state = REQ_ON_CONN;
	}
	return 0;
}

/* ---- the pool --------------------------------------------------------- */

static struct conn *pool_idle_conn(struct https_pool *p)
{
	struct conn *c = TAILQ_FIRST(&p->conns);

	return c && c->state == CONN_IDLE ? c : NULL;
}

static void request_unqueue(struct https_request *r)
{
	TAILQ_REMOVE(&r->pool->queue, r, queue_link);
	r->pool->stats.queued--;
}

/* Binds queued requests to idle connections, opening new ones up to the
 * limit, in FIFO order.  Never runs callbacks (failures are deferred), so
 * it is safe from https_pool_submit. */
static void pool_dispatch(struct https_pool *p)
{
	struct https_request *r;

	while (!p->shutting_down && (r = TAILQ_FIRST(&p->queue))) {
		struct conn *c = pool_idle_conn(p);
		if (c && !r->fresh_only) {
			request_unqueue(r);
			c->req = r;
			r->conn = c;
			r->state = REQ_ON_CONN;
			if (conn_start_exchange(c) < 0) {
				conn_take_request(c);
				conn_close(c);
				request_fail_later(r, HTTPS_E_NOMEM, "cannot send request");
			}
			continue;
		}
		if (p->stats.connections_open >= p->opts.max_connections) {
			/* A retry wants a fresh connection: make room. */
			if (c && r->fresh_only) {
				conn_close_clean(c);
				continue;
			}
			break;
		}
		request_unqueue(r);
		r->state = REQ_ON_CONN;
		int err = conn_open(p, r);
		if (err < 0) {
			char detail[HTTPS_DETAIL_MAX];
			snprintf(detail, sizeof(detail), "cannot open a connection to %s:%u: %s", p->host,
				 (unsigned)p->port, strerror(-err));
			request_fail_later(r, err == -ENOMEM ? HTTPS_E_NOMEM : HTTPS_E_CONNECT, detail);
			continue;
		}
	}
}

static void request_timeout_cb(evutil_socket_t fd, short what, void *userdata)
{
	struct https_request *r = userdata;
	struct https_pool *p = r->pool;
	struct conn *c = r->conn;

	if (r->state == REQ_FINISHING)
		return;
	if (c) {
		bool busy = c->state == CONN_BUSY;
		r->outcome.response_started = busy && http_parser_started(c->parser);
		conn_take_request(c);
		/* A connection still connecting is kept for later requests;
		 * one carrying our request cannot be reused. */
		if (busy)
			conn_close(c);
	} else if (r->state == REQ_QUEUED) {
		request_unqueue(r);
		r->state = REQ_FINISHING;
	}
	pool_dispatch(p);
	request_complete(r, HTTPS_E_TIMEOUT, "no response within the request timeout", NULL);
}

struct https_pool *https_pool_new(struct event_base *base, struct evdns_base *dns, struct tls_context *tls,
				  const char *host, uint16_t port, const struct https_pool_options *opts)
{
	struct https_pool *p;

	if (!base || !host || port == 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->host = strdup(host);
	if (!p->host) {
		free(p);
		return NULL;
	}
	p->base = base;
	p->dns = dns;
	p->tls = tls;
	p->port = port;
	if (opts)
		p->opts = *opts;
	if (!p->opts.max_connections)
		p->opts.max_connections = HTTPS_POOL_DEFAULT_MAX_CONNECTIONS;
	if (!p->opts.idle_timeout_ms)
		p->opts.idle_timeout_ms = HTTPS_POOL_DEFAULT_IDLE_TIMEOUT_MS;
	if (!p->opts.connect_timeout_ms)
		p->opts.connect_timeout_ms = HTTPS_POOL_DEFAULT_CONNECT_TIMEOUT_MS;
	if (!p->opts.max_response_body)
		p->opts.max_response_body = HTTP_DEFAULT_MAX_BODY;
	p->via_proxy = tls && proxy_applies(p->opts.proxy, host, port);
	if (p->via_proxy)
		log_info("https %s:%u: through proxy %s:%u", host, (unsigned)port, p->opts.proxy->host,
			 (unsigned)p->opts.proxy->port);
	TAILQ_INIT(&p->conns);
	TAILQ_INIT(&p->queue);
	TAILQ_INIT(&p->requests);
	return p;
}

struct https_pool *https_pool_free(struct https_pool *p)
{
	struct https_request *r;
	struct conn *c;

	/* A callback run from below freeing the pool again: the outer call
	 * finishes the job. */
	if (!p || p->shutting_down)
		return NULL;
	p->shutting_down = true;
	while ((c = TAILQ_FIRST(&p->conns))) {
		conn_take_request(c);
		conn_close_clean(c);
	}
	/* One at a time from the head: a callback may abandon others. */
	while ((r = TAILQ_FIRST(&p->requests))) {
		if (r->state == REQ_QUEUED)
			request_unqueue(r);
		r->state = REQ_FINISHING;
		r->conn = NULL;
		request_complete(r, HTTPS_E_SHUTDOWN, "connection pool shut down", NULL);
	}
	free(p->host);
	free(p);
	return NULL;
}

struct https_request *https_pool_submit(struct https_pool *p, const char *request, size_t len, unsigned timeout_ms,
					https_done_fn done, void *userdata)
{
	struct https_request *r;

	if (!p || !request || len == 0 || !done || p->shutting_down || p->stats.queued >= HTTPS_POOL_MAX_QUEUED)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->pool = p;
	r->done = done;
	r->userdata = userdata;
	r->data = malloc(len);
	r->finish = evtimer_new(p->base, request_finish_cb, r);
	if (timeout_ms)
		r->timeout = evtimer_new(p->base, request_timeout_cb, r);
	if (!r->data || !r->finish || (timeout_ms && !r->timeout)) {
		if (r->timeout)
			event_free(r->timeout);
		if (r->finish)
			event_free(r->finish);
		free(r->data); /* nothing copied yet */
		free(r);
		return NULL;
	}
	memcpy(r->data, request, len);
	r->len = len;
	if (r->timeout) {
		struct timeval tv = timeval_from_msec(timeout_ms);
		evtimer_add(r->timeout, &tv);
	}
	r->state = REQ_QUEUED;
	TAILQ_INSERT_TAIL(&p->requests, r, all_link);
	TAILQ_INSERT_TAIL(&p->queue, r, queue_link);
	p->stats.queued++;
	p->stats.requests++;
	pool_dispatch(p);
	return r;
}

void https_request_set_response_timeout(struct https_request *r, unsigned ms)
{
	if (!r || r->state == REQ_FINISHING)
		return;
	r->response_timeout_ms = ms;
	/* Already written over an idle connection from inside submit. */
	if (ms && r->conn && r->conn->state == CONN_BUSY)
		conn_arm_timer(r->conn, ms);
}

void https_request_abandon(struct https_request *r)
{
	struct https_pool *p;
	struct conn *c;

	if (!r)
		return;
	p = r->pool;
	c = r->conn;
	if (c) {
		bool busy = c->state == CONN_BUSY;
		conn_take_request(c);
		if (busy)
			conn_close_clean(c);
	}
	request_free(r);
	pool_dispatch(p);
}

int https_pool_prewarm(struct https_pool *p, unsigned n)
{
	int r = 0;

	if (!p || p->shutting_down)
		return -EINVAL;
	while (r == 0 && p->stats.connections_open < n && p->stats.connections_open < p->opts.max_connections)
		r = conn_open(p, NULL);
	return r;
}

void https_pool_get_stats(const struct https_pool *p, struct https_pool_stats *ret)
{
	if (p && ret)
		*ret = p->stats;
}
