/* SPDX-License-Identifier: MIT */
/*
 * End-to-end test of the HTTPS pool against real servers on 127.0.0.1: an
 * evhttp server behind bufferevent_openssl (certificates made at test time
 * by the openssl CLI, $OPENSSL or "openssl"), and a raw server that
 * misbehaves on purpose (garbage, truncated responses, dropped kept-alive
 * connections).  Nothing here leaves loopback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <event2/dns.h>
#include <fcntl.h>

#include "dns-cache.h"
#include "http.h"
#include "log.h"
#include "proxy.h"
#include "https-pool.h"
#include "tls.h"

/* Generous: only reached when something is broken. */
#define TEST_WATCHDOG_SECONDS 20
#define RAW_MAX_CONNS         64

static char tmpdir[64];
static struct event_base *base;

/* ---- certificates ------------------------------------------------------ */

static const char cert_config[] = "[req]\n"
				  "distinguished_name = dn\n"
				  "prompt = no\n"
				  "[dn]\n"
				  "CN = kmscancel test\n"
				  "[ca_ext]\n"
				  "basicConstraints = critical,CA:TRUE\n"
				  "keyUsage = critical,keyCertSign,cRLSign\n"
				  "subjectKeyIdentifier = hash\n"
				  "[srv_ext]\n"
				  "basicConstraints = CA:FALSE\n"
				  "keyUsage = critical,digitalSignature\n"
				  "extendedKeyUsage = serverAuth\n"
				  "subjectAltName = IP:127.0.0.1,DNS:localhost\n"
				  "[other_ext]\n"
				  "basicConstraints = CA:FALSE\n"
				  "keyUsage = critical,digitalSignature\n"
				  "extendedKeyUsage = serverAuth\n"
				  "subjectAltName = DNS:other.example\n";

__attribute__((format(printf, 1, 2))) static int run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static const char *path(const char *name)
{
	static char buf[4][128];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

static int make_certs(void)
{
	const char *o = getenv("OPENSSL") ? getenv("OPENSSL") : "openssl";
	const char *key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
	FILE *f = fopen(path("openssl.cnf"), "w");

	if (!f)
		return -1;
	fputs(cert_config, f);
	fclose(f);
	if (run("cd %s && %s req -x509 -config openssl.cnf -extensions ca_ext %s -keyout ca.key -out ca.pem "
		"-days 2 -subj /CN=test-ca 2>/dev/null",
		tmpdir, o, key) ||
	    run("cd %s && %s req -x509 -config openssl.cnf -extensions ca_ext %s -keyout ca2.key -out ca2.pem "
		"-days 2 -subj /CN=other-ca 2>/dev/null",
		tmpdir, o, key))
		return -1;
	static const char *const leaves[][2] = {{"srv", "srv_ext"}, {"other", "other_ext"}};
	for (size_t i = 0; i < 2; i++)
		if (run("cd %s && %s req -new -config openssl.cnf %s -keyout %s.key -out %s.csr -subj /CN=test "
			"2>/dev/null && %s x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
			"-extfile openssl.cnf -extensions %s -out %s.pem 2>/dev/null",
			tmpdir, o, key, leaves[i][0], leaves[i][0], o, leaves[i][0], leaves[i][1], leaves[i][0]))
			return -1;
	return 0;
}

static SSL_CTX *server_ctx(const char *name)
{
	char cert[128], key[128];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	snprintf(cert, sizeof(cert), "%s/%s.pem", tmpdir, name);
	snprintf(key, sizeof(key), "%s/%s.key", tmpdir, name);
	assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
	return ctx;
}

static uint16_t fd_port(evutil_socket_t fd)
{
	struct sockaddr_in sin;
	socklen_t l = sizeof(sin);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &l), 0);
	return ntohs(sin.sin_port);
}

/* ---- the evhttp server ------------------------------------------------- */

struct web {
	struct evhttp *http;
	SSL_CTX *ctx; /* NULL: plain http */
	uint16_t port;
	int connections;
};

static struct bufferevent *web_bevcb(struct event_base *b, void *userdata)
{
	struct web *w = userdata;

	w->connections++;
	return bufferevent_openssl_socket_new(b, -1, SSL_new(w->ctx), BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

/* "/" answers "hello"; "/close" answers and closes; "/slow" never answers. */
static void web_handler(struct evhttp_request *req, void *userdata)
{
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *b;

	if (strcmp(uri, "/slow") == 0)
		return;
	b = evbuffer_new();
	evbuffer_add_printf(b, "hello %s", uri);
	if (strcmp(uri, "/close") == 0)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void web_start(struct web *w, const char *cert)
{
	struct evhttp_bound_socket *s;

	memset(w, 0, sizeof(*w));
	w->http = evhttp_new(base);
	assert_non_null(w->http);
	if (cert) {
		w->ctx = server_ctx(cert);
		evhttp_set_bevcb(w->http, web_bevcb, w);
	}
	evhttp_set_gencb(w->http, web_handler, w);
	s = evhttp_bind_socket_with_handle(w->http, "127.0.0.1", 0);
	assert_non_null(s);
	w->port = fd_port(evhttp_bound_socket_get_fd(s));
}

static void web_stop(struct web *w)
{
	evhttp_free(w->http);
	SSL_CTX_free(w->ctx);
}

/* ---- the misbehaving server -------------------------------------------- */

enum raw_mode {
	RAW_GARBAGE,     /* answers with something that is not HTTP */
	RAW_TRUNCATE,    /* promises 100 bytes, sends 7, closes */
	RAW_DROP_SECOND, /* answers the first request, closes on the second */
	RAW_OK_PLAIN,    /* a good keep-alive answer */
	RAW_OK_THEN_CLOSE, /* a good keep-alive answer, then closes anyway */
	RAW_RESET_MID,   /* half a response, then a TCP reset */
	RAW_CLOSE_AT_ACCEPT, /* accepts TCP, closes before any TLS byte */
};

struct raw_server {
	struct evconnlistener *l;
	SSL_CTX *ctx;
	enum raw_mode mode;
	uint16_t port;
	int connections;
	struct raw_conn *conns[RAW_MAX_CONNS];
};

struct raw_conn {
	struct raw_server *s;
	struct bufferevent *bev;
	int slot;
	int requests;
	bool close_after_write;
};

static void raw_conn_free(struct raw_conn *c)
{
	c->s->conns[c->slot] = NULL;
	bufferevent_free(c->bev);
	free(c);
}

static const char ok_response[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

static void raw_read_cb(struct bufferevent *bev, void *userdata)
{
	struct raw_conn *c = userdata;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);

	if (end.pos < 0)
		return;
	evbuffer_drain(in, evbuffer_get_length(in));
	c->requests++;
	switch (c->s->mode) {
	case RAW_GARBAGE:
		bufferevent_write(bev, "SPAM 42 not http\r\n\r\n", 20);
		break;
	case RAW_TRUNCATE:
		bufferevent_write(bev, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", 47);
		c->close_after_write = true;
		break;
	case RAW_OK_THEN_CLOSE:
		bufferevent_write(bev, ok_response, sizeof(ok_response) - 1);
		c->close_after_write = true;
		break;
	case RAW_RESET_MID: {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		evutil_socket_t fd = bufferevent_getfd(bev);
		/* Written straight to the socket so it is out before the RST. */
		assert_true(write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf", 44) == 44);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		raw_conn_free(c);
		return;
	}
	case RAW_CLOSE_AT_ACCEPT: /* never gets this far */
		break;
	case RAW_DROP_SECOND:
		if (c->requests > 1) {
			raw_conn_free(c);
			return;
		}
		/* fall through */
	case RAW_OK_PLAIN:
		bufferevent_write(bev, ok_response, sizeof(ok_response) - 1);
		break;
	}
}

static void raw_write_cb(struct bufferevent *bev, void *userdata)
{
	struct raw_conn *c = userdata;

	if (c->close_after_write)
		raw_conn_free(c);
}

static void raw_event_cb(struct bufferevent *bev, short events, void *userdata)
{
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		raw_conn_free(userdata);
}

static void raw_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *userdata)
{
	struct raw_server *s = userdata;
	struct raw_conn *c = calloc(1, sizeof(*c));
	int slot = 0;

	if (s->mode == RAW_CLOSE_AT_ACCEPT) {
		s->connections++;
		close(fd);
		free(c);
		return;
	}
	while (slot < RAW_MAX_CONNS && s->conns[slot])
		slot++;
	assert_true(slot < RAW_MAX_CONNS);
	s->connections++;
	c->s = s;
	c->slot = slot;
	s->conns[slot] = c;
	if (s->ctx)
		c->bev = bufferevent_openssl_socket_new(base, fd, SSL_new(s->ctx), BUFFEREVENT_SSL_ACCEPTING,
							BEV_OPT_CLOSE_ON_FREE);
	else
		c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, raw_read_cb, raw_write_cb, raw_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void raw_start(struct raw_server *s, enum raw_mode mode, bool tls)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	if (tls)
		s->ctx = server_ctx("srv");
	s->l = evconnlistener_new_bind(base, raw_accept_cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
				       (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(s->l);
	s->port = fd_port(evconnlistener_get_fd(s->l));
}

static void raw_stop(struct raw_server *s)
{
	for (int i = 0; i < RAW_MAX_CONNS; i++)
		if (s->conns[i])
			raw_conn_free(s->conns[i]);
	evconnlistener_free(s->l);
	SSL_CTX_free(s->ctx);
}

/* ---- the client side ---------------------------------------------------- */

struct result {
	bool done;
	int calls;
	struct https_outcome o;
	char detail[HTTPS_DETAIL_MAX];
	struct http_response *resp;
	int order; /* completion order, for FIFO checks */
};

static int completions;
static bool in_submit;

static void on_done(const struct https_outcome *o, struct http_response *resp, void *userdata)
{
	struct result *r = userdata;

	assert_false(in_submit); /* never from inside https_pool_submit */
	r->calls++;
	r->done = true;
	r->o = *o;
	r->o.detail = NULL;
	snprintf(r->detail, sizeof(r->detail), "%s", o->detail ? o->detail : "");
	r->resp = resp;
	r->order = ++completions;
}

static char *make_request(const char *target, size_t *len)
{
	char *req;

	assert_int_equal(http_request_format("GET", target, "127.0.0.1", NULL, 0, NULL, 0, &req, len), 0);
	return req;
}

static struct https_request *submit(struct https_pool *p, const char *target, unsigned timeout_ms, https_done_fn done,
				    struct result *res)
{
	size_t len;
	char *req = make_request(target, &len);
	struct https_request *r;

	in_submit = true;
	r = https_pool_submit(p, req, len, timeout_ms, done, res);
	in_submit = false;
	free(req);
	assert_non_null(r);
	assert_false(res->done);
	return r;
}

static void watchdog_cb(evutil_socket_t fd, short what, void *userdata)
{
	fail_msg("watchdog: test took too long");
}

/* Runs the loop until every result in rs[0..n) is done. */
static void wait_for(struct result **rs, size_t n)
{
	struct event *wd = evtimer_new(base, watchdog_cb, NULL);
	struct timeval tv = {.tv_sec = TEST_WATCHDOG_SECONDS};

	evtimer_add(wd, &tv);
	for (;;) {
		size_t i;
		for (i = 0; i < n && rs[i]->done; i++)
			;
		if (i == n)
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(wd);
}

static void wait_one(struct result *r)
{
	wait_for(&r, 1);
}

/* Spins the loop for ms milliseconds. */
static void run_for(unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static struct tls_context *client_tls(const char *ca)
{
	struct tls_context *t = NULL;
	char *err = NULL;

	assert_int_equal(tls_context_new(path(ca), &t, &err), 0);
	assert_null(err);
	return t;
}

static void result_done(struct result *r)
{
	http_response_free(r->resp);
	memset(r, 0, sizeof(*r));
}

/* ---- tests ----------------------------------------------------------- */

static void test_success_and_reuse(void **state)
{
	struct web w;
	struct tls_context *t = client_tls("ca.pem");
	struct https_pool *p;
	struct https_pool_stats st;
	struct result r = {0};

	web_start(&w, "srv");
	p = https_pool_new(base, NULL, t, "127.0.0.1", w.port, NULL);
	assert_non_null(p);

	submit(p, "/first", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_OK);
	assert_non_null(r.resp);
	assert_int_equal(r.resp->status, 200);
	assert_string_equal(r.resp->body, "hello /first");
	assert_true(r.o.request_sent);
	assert_true(r.o.response_started);
	assert_false(r.o.reused_connection);
	assert_int_equal(r.calls, 1);
	result_done(&r);

	for (int i = 0; i < 10; i++) {
		submit(p, "/", 5000, on_done, &r);
		wait_one(&r);
		assert_int_equal(r.o.error, HTTPS_OK);
		assert_true(r.o.reused_connection);
		result_done(&r);
	}
	assert_int_equal(w.connections, 1);
	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_opened, 1);
	assert_int_equal(st.requests, 11);
	assert_int_equal(st.reused, 10);
	assert_int_equal(st.tls_handshakes, 1);
	assert_int_equal(st.connections_idle, 1);
	assert_int_equal(st.connections_open, 1);

	https_pool_free(p);
	tls_context_free(t);
	web_stop(&w);
}

static void test_session_resumption(void **state)
{
	struct web w;
	struct tls_context *t = client_tls("ca.pem");
	struct https_pool *p;
	struct https_pool_stats st;
	struct result r = {0};

	web_start(&w, "srv");
	p = https_pool_new(base, NULL, t, "127.0.0.1", w.port, NULL);

	/* The server closes after this one, so the next needs a new
	 * connection, which should resume the first one's session. */
	submit(p, "/close", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_OK);
	assert_false(r.resp->keep_alive);
	result_done(&r);
	submit(p, "/", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_OK);
	assert_false(r.o.reused_connection);
	result_done(&r);

	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_opened, 2);
	assert_int_equal(st.tls_handshakes, 2);
	assert_int_equal(st.tls_resumed, 1);
	assert_int_equal(w.connections, 2);

	https_pool_free(p);
	tls_context_free(t);
	web_stop(&w);
}

static void expect_failure(struct tls_context *t, uint16_t port, const char *target, unsigned timeout_ms,
			   enum https_error e, const char *detail_part, struct result *out)
{
	struct https_pool *p = https_pool_new(base, NULL, t, "127.0.0.1", port, NULL);
	struct result r = {0};

	submit(p, target, timeout_ms, on_done, &r);
	wait_one(&r);
	if (r.o.error != e)
		fail_msg("expected %s, got %s: %s", https_error_to_string(e), https_error_to_string(r.o.error),
			 r.detail);
	assert_null(r.resp);
	assert_int_equal(r.calls, 1);
	if (detail_part && !strstr(r.detail, detail_part))
		fail_msg("detail \"%s\" lacks \"%s\"", r.detail, detail_part);
	if (out)
		*out = r;
	https_pool_free(p);
	assert_int_equal(r.calls, 1);
}

static void test_wrong_ca(void **state)
{
	struct web w;
	struct tls_context *t = client_tls("ca2.pem");
	struct result r;

	web_start(&w, "srv");
	expect_failure(t, w.port, "/", 5000, HTTPS_E_TLS, "certificate verification failed for 127.0.0.1", &r);
	assert_false(r.o.request_sent);
	tls_context_free(t);
	web_stop(&w);
}

static void test_wrong_host(void **state)
{
	struct web w;
	struct tls_context *t = client_tls("ca.pem");

	web_start(&w, "other"); /* valid chain, but for other.example */
	expect_failure(t, w.port, "/", 5000, HTTPS_E_TLS, "mismatch", NULL);
	tls_context_free(t);
	web_stop(&w);
}

static void test_refused(void **state)
{
	struct tls_context *t = client_tls("ca.pem");
	struct result r;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	/* A port that was just free: nobody listens there. */
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	port = fd_port(fd);
	close(fd);
	expect_failure(t, port, "/", 5000, HTTPS_E_CONNECT, "refused", &r);
	assert_false(r.o.timed_out);
	expect_failure(NULL, port, "/", 5000, HTTPS_E_CONNECT, "refused", NULL);
	tls_context_free(t);
}

/* A server whose kernel completes TCP but that never accepts: the TLS
 * handshake hangs until the connect timeout, which fails the request as a
 * connection failure (worth another attempt) marked timed_out, the mark
 * that prices its retry as a timeout's (AWS.md §3.2). */
static void test_handshake_timeout(void **state)
{
	struct tls_context *t = client_tls("ca.pem");
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct https_pool_options o = {.connect_timeout_ms = 200};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct https_pool *p;
	struct result r = {0};

	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 4), 0);
	p = https_pool_new(base, NULL, t, "127.0.0.1", fd_port(fd), &o);
	submit(p, "/", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_E_CONNECT);
	assert_non_null(strstr(r.detail, "timed out"));
	assert_true(r.o.timed_out);
	assert_false(r.o.request_sent);
	https_pool_free(p);
	close(fd);
	tls_context_free(t);
}

static void test_garbage(void **state)
{
	struct raw_server s;
	struct tls_context *t = client_tls("ca.pem");
	struct result r;

	raw_start(&s, RAW_GARBAGE, true);
	expect_failure(t, s.port, "/", 5000, HTTPS_E_PROTOCOL, "status line", &r);
	assert_true(r.o.response_started);
	raw_stop(&s);
	tls_context_free(t);
}

/* TCP up, then the peer hangs up before the TLS handshake finishes: a
 * connection failure worth another attempt, not a certificate verdict
 * (HTTPS_E_TLS, which callers never retry). */
static void test_handshake_cut(void **state)
{
	struct raw_server s;
	struct tls_context *t = client_tls("ca.pem");
	struct result r;

	raw_start(&s, RAW_CLOSE_AT_ACCEPT, false);
	expect_failure(t, s.port, "/", 5000, HTTPS_E_CONNECT, "did not complete", &r);
	assert_false(r.o.request_sent);
	raw_stop(&s);
	tls_context_free(t);
}

static void test_truncated(void **state)
{
	struct raw_server s;
	struct tls_context *t = client_tls("ca.pem");
	struct result r;

	raw_start(&s, RAW_TRUNCATE, true);
	expect_failure(t, s.port, "/", 5000, HTTPS_E_IO, NULL, &r);
	assert_true(r.o.request_sent);
	assert_true(r.o.response_started);
	raw_stop(&s);
	tls_context_free(t);
}

static void test_timeout(void **state)
{
	struct web w;
	struct tls_context *t = client_tls("ca.pem");
	struct result r;

	web_start(&w, "srv");
	expect_failure(t, w.port, "/slow", 200, HTTPS_E_TIMEOUT, NULL, &r);
	assert_true(r.o.request_sent);
	assert_false(r.o.response_started);
	tls_context_free(t);
	web_stop(&w);
}

/* The response timeout: a request a server took and never answered fails
 * with HTTPS_E_TIMEOUT well before the request's own timeout, its
 * connection is closed (never reused), and the next request gets another.
 * The first /slow goes over a kept-alive connection, so it is already
 * written when the timeout is set; the second over a fresh one.  (500 ms:
 * client and server share one loop, and a loaded sanitizer run can hold
 * that loop long enough for a shorter timeout to beat the write itself.) */
static void test_response_timeout(void **state)
{
	struct web w;
	struct tls_context *t = client_tls("ca.pem");
	struct https_pool *p;
	struct https_pool_stats st;
	struct result r = {0};
	struct https_request *h;

	web_start(&w, "srv");
	p = https_pool_new(base, NULL, t, "127.0.0.1", w.port, NULL);
	submit(p, "/", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_OK);
	result_done(&r);

	for (int i = 0; i < 2; i++) {
		h = submit(p, "/slow", 5000, on_done, &r);
		https_request_set_response_timeout(h, 500);
		wait_one(&r);
		assert_int_equal(r.o.error, HTTPS_E_TIMEOUT);
		assert_true(r.o.timed_out);
		assert_true(r.o.request_sent);
		assert_false(r.o.response_started);
		assert_int_equal(r.o.reused_connection, i == 0);
		assert_non_null(strstr(r.detail, "within 500 ms; connection closed"));
		result_done(&r);
		https_pool_get_stats(p, &st);
		assert_int_equal(st.connections_open, 0);
	}

	submit(p, "/", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_OK);
	assert_false(r.o.reused_connection);
	result_done(&r);
	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_opened, 3);
	https_request_set_response_timeout(NULL, 100);
	https_pool_free(p);
	tls_context_free(t);
	web_stop(&w);
}

/* A kept-alive connection the server dropped is retried once on a fresh one. */
static void test_dead_reused_connection_retried(void **state)
{
	struct raw_server s;
	struct tls_context *t = client_tls("ca.pem");
	struct https_pool *p;
	struct https_pool_stats st;
	struct result r = {0};

	raw_start(&s, RAW_DROP_SECOND, true);
	p = https_pool_new(base, NULL, t, "127.0.0.1", s.port, NULL);
	submit(p, "/", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_OK);
	result_done(&r);
	submit(p, "/", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_OK);
	assert_false(r.o.reused_connection);
	result_done(&r);
	https_pool_get_stats(p, &st);
	assert_int_equal(st.retried, 1);
	assert_int_equal(st.connections_opened, 2);
	assert_int_equal(s.connections, 2);
	https_pool_free(p);
	raw_stop(&s);
	tls_context_free(t);
}

static void test_abandon(void **state)
{
	struct web w;
	struct tls_context *t = client_tls("ca.pem");
	struct https_pool *p;
	struct https_pool_stats st;
	struct result a = {0}, b = {0}, c = {0};
	struct https_request *ra, *rb;

	web_start(&w, "srv");
	p = https_pool_new(base, NULL, t, "127.0.0.1", w.port, NULL);

	/* Abandoned while its connection is still being set up. */
	ra = submit(p, "/", 0, on_done, &a);
	https_request_abandon(ra);
	/* Abandoned once written: its connection must go. */
	rb = submit(p, "/slow", 0, on_done, &b);
	run_for(200);
	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_open, 2);
	https_request_abandon(rb);
	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_open, 1); /* the first one, now idle */
	assert_int_equal(st.connections_idle, 1);

	submit(p, "/", 5000, on_done, &c);
	wait_one(&c);
	assert_int_equal(c.o.error, HTTPS_OK);
	assert_true(c.o.reused_connection);
	run_for(50);
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 0);
	https_request_abandon(NULL);
	result_done(&c);
	https_pool_free(p);
	tls_context_free(t);
	web_stop(&w);
}

static void test_plain_http(void **state)
{
	struct web w;
	struct https_pool *p;
	struct https_pool_stats st;
	struct result r = {0};

	web_start(&w, NULL);
	p = https_pool_new(base, NULL, NULL, "127.0.0.1", w.port, NULL);
	for (int i = 0; i < 3; i++) {
		submit(p, "/plain", 5000, on_done, &r);
		wait_one(&r);
		assert_int_equal(r.o.error, HTTPS_OK);
		assert_string_equal(r.resp->body, "hello /plain");
		result_done(&r);
	}
	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_opened, 1);
	assert_int_equal(st.reused, 2);
	assert_int_equal(st.tls_handshakes, 0);
	https_pool_free(p);
	web_stop(&w);
}

/* max_connections 1: requests wait in a FIFO queue and share one connection. */
static void test_queue_fifo(void **state)
{
	struct raw_server s;
	struct https_pool_options o = {.max_connections = 1};
	struct https_pool *p;
	struct https_pool_stats st;
	struct result r[4] = {{0}};
	struct result *rs[4] = {&r[0], &r[1], &r[2], &r[3]};

	raw_start(&s, RAW_OK_PLAIN, false);
	p = https_pool_new(base, NULL, NULL, "127.0.0.1", s.port, &o);
	completions = 0;
	for (int i = 0; i < 4; i++)
		submit(p, "/", 5000, on_done, &r[i]);
	https_pool_get_stats(p, &st);
	assert_int_equal(st.queued, 3);
	wait_for(rs, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r[i].o.error, HTTPS_OK);
		assert_int_equal(r[i].order, i + 1);
		result_done(&r[i]);
	}
	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_opened, 1);
	assert_int_equal(st.queued, 0);
	https_pool_free(p);
	raw_stop(&s);
}

/* Callbacks may submit, and may free the pool. */
static struct https_pool *cb_pool;
static struct result cb_second, cb_queued;

static void on_done_submit(const struct https_outcome *o, struct http_response *resp, void *userdata)
{
	on_done(o, resp, userdata);
	submit(cb_pool, "/", 5000, on_done, &cb_second);
}

static void on_done_free_pool(const struct https_outcome *o, struct http_response *resp, void *userdata)
{
	on_done(o, resp, userdata);
	cb_pool = https_pool_free(cb_pool);
}

static void test_callback_reentrancy(void **state)
{
	struct raw_server s;
	struct https_pool_options o = {.max_connections = 1};
	struct result first = {0}, last = {0};

	raw_start(&s, RAW_OK_PLAIN, false);
	cb_pool = https_pool_new(base, NULL, NULL, "127.0.0.1", s.port, &o);
	submit(cb_pool, "/", 5000, on_done_submit, &first);
	wait_one(&first);
	wait_one(&cb_second);
	assert_int_equal(cb_second.o.error, HTTPS_OK);
	result_done(&first);
	result_done(&cb_second);

	/* The first request's callback frees the pool with one more queued. */
	submit(cb_pool, "/", 5000, on_done_free_pool, &last);
	submit(cb_pool, "/", 5000, on_done, &cb_queued);
	wait_one(&last);
	assert_null(cb_pool);
	assert_true(cb_queued.done);
	assert_int_equal(cb_queued.o.error, HTTPS_E_SHUTDOWN);
	assert_int_equal(last.o.error, HTTPS_OK);
	result_done(&last);
	result_done(&cb_queued);
	run_for(20);
	raw_stop(&s);
}

/* Freeing a pool fails what is pending, exactly once. */
static void test_free_with_pending(void **state)
{
	struct web w;
	struct tls_context *t = client_tls("ca.pem");
	struct https_pool *p;
	struct result a = {0}, b = {0};

	web_start(&w, "srv");
	p = https_pool_new(base, NULL, t, "127.0.0.1", w.port, NULL);
	submit(p, "/slow", 0, on_done, &a);
	submit(p, "/slow", 0, on_done, &b);
	run_for(100);
	assert_null(https_pool_free(p));
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(a.o.error, HTTPS_E_SHUTDOWN);
	run_for(20);
	assert_int_equal(a.calls, 1);
	assert_null(https_pool_free(NULL));
	tls_context_free(t);
	web_stop(&w);
}

/* Never more connections than max_connections, however many requests. */
static void test_bounded(void **state)
{
	struct web w;
	struct tls_context *t = client_tls("ca.pem");
	struct https_pool_options o = {.max_connections = 2};
	struct https_pool *p;
	struct https_pool_stats st;
	struct result r[6] = {{0}};
	struct result *rs[6];

	web_start(&w, "srv");
	p = https_pool_new(base, NULL, t, "127.0.0.1", w.port, &o);
	for (int i = 0; i < 6; i++) {
		rs[i] = &r[i];
		submit(p, "/", 5000, on_done, &r[i]);
	}
	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_open, 2);
	assert_int_equal(st.queued, 4);
	wait_for(rs, 6);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(r[i].o.error, HTTPS_OK);
		result_done(&r[i]);
	}
	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_opened, 2);
	assert_int_equal(w.connections, 2);
	https_pool_free(p);
	tls_context_free(t);
	web_stop(&w);
}

/* Idle connections are closed after idle_timeout_ms, cleanly enough that
 * the next one resumes the TLS session. */
static void test_idle_close(void **state)
{
	struct web w;
	struct tls_context *t = client_tls("ca.pem");
	struct https_pool_options o = {.idle_timeout_ms = 100};
	struct https_pool *p;
	struct https_pool_stats st;
	struct result r = {0};

	web_start(&w, "srv");
	p = https_pool_new(base, NULL, t, "127.0.0.1", w.port, &o);
	submit(p, "/", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_OK);
	result_done(&r);
	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_idle, 1);
	run_for(300);
	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_open, 0);
	submit(p, "/", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_OK);
	assert_false(r.o.reused_connection);
	result_done(&r);
	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_opened, 2);
	assert_int_equal(st.tls_resumed, 1);
	https_pool_free(p);
	tls_context_free(t);
	web_stop(&w);
}

/* A server closing a kept-alive connection is noticed while it idles, so
 * the next request needs no retry. */
static void test_server_closes_idle(void **state)
{
	struct raw_server s;
	struct https_pool *p;
	struct https_pool_stats st;
	struct result r = {0};

	raw_start(&s, RAW_OK_THEN_CLOSE, false);
	p = https_pool_new(base, NULL, NULL, "127.0.0.1", s.port, NULL);
	submit(p, "/", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_OK);
	result_done(&r);
	run_for(100);
	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_open, 0);
	submit(p, "/", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_OK);
	result_done(&r);
	https_pool_get_stats(p, &st);
	assert_int_equal(st.retried, 0);
	assert_int_equal(st.connections_opened, 2);
	https_pool_free(p);
	raw_stop(&s);
}

/* A reset after part of the response: an I/O error, never retried (the
 * server may have acted on it). */
static void test_reset_mid_response(void **state)
{
	struct raw_server s;
	struct https_pool *p;
	struct https_pool_stats st;
	struct result r = {0};

	raw_start(&s, RAW_RESET_MID, false);
	p = https_pool_new(base, NULL, NULL, "127.0.0.1", s.port, NULL);
	submit(p, "/", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_E_IO);
	assert_true(r.o.request_sent);
	assert_true(r.o.response_started);
	https_pool_get_stats(p, &st);
	assert_int_equal(st.retried, 0);
	assert_int_equal(s.connections, 1);
	result_done(&r);
	https_pool_free(p);
	raw_stop(&s);
}

/* Prewarm opens connections before any request; the first request finds
 * one ready. */
static void test_prewarm(void **state)
{
	struct web w;
	struct tls_context *t = client_tls("ca.pem");
	struct https_pool *p;
	struct https_pool_stats st;
	struct result r = {0};

	web_start(&w, "srv");
	p = https_pool_new(base, NULL, t, "127.0.0.1", w.port, NULL);
	assert_int_equal(https_pool_prewarm(p, 2), 0);
	run_for(300);
	https_pool_get_stats(p, &st);
	assert_int_equal(st.connections_idle, 2);
	assert_int_equal(st.tls_handshakes, 2);
	submit(p, "/", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_OK);
	assert_true(r.o.reused_connection);
	result_done(&r);
	https_pool_free(p);
	tls_context_free(t);
	web_stop(&w);
}

/* Through the DNS cache: a connect-to override sends a made-up name to the
 * loopback server (TLS checks the certificate against that name: here
 * "localhost" resolved from /etc/hosts, cached). */
static void test_dns_cache(void **state)
{
	struct web w;
	struct tls_context *t = client_tls("ca.pem");
	struct evdns_base *dns = evdns_base_new(base, 0);
	struct dns_cache *cache = dns_cache_new(base, dns);
	struct https_pool_options o = {.resolver = cache, .connect_timeout_ms = 1000};
	struct dns_cache_stats ds;
	struct https_pool *p;
	struct result r = {0};
	char spec[128];

	web_start(&w, NULL);
	evdns_base_load_hosts(dns, NULL);
	snprintf(spec, sizeof(spec), "kms.test.invalid:443=127.0.0.1:%u", (unsigned)w.port);
	assert_int_equal(dns_cache_add_overrides(cache, "nonsense"), -EINVAL);
	assert_int_equal(dns_cache_add_overrides(cache, spec), 0);
	p = https_pool_new(base, NULL, NULL, "kms.test.invalid", 443, &o);
	submit(p, "/via-override", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_OK);
	assert_string_equal(r.resp->body, "hello /via-override");
	result_done(&r);
	https_pool_free(p);

	/* localhost: a lookup the first time, from the cache afterwards. */
	for (int i = 0; i < 2; i++) {
		p = https_pool_new(base, NULL, NULL, "localhost", w.port, &o);
		submit(p, "/", 5000, on_done, &r);
		wait_one(&r);
		assert_int_equal(r.o.error, HTTPS_OK);
		result_done(&r);
		https_pool_free(p);
	}
	dns_cache_get_stats(cache, &ds);
	assert_int_equal(ds.lookups, 1);
	assert_true(ds.hits >= 2);

	/* A name nobody knows fails as a resolve error. */
	p = https_pool_new(base, NULL, NULL, "no-such-host.invalid", w.port, &o);
	submit(p, "/", 5000, on_done, &r);
	wait_one(&r);
	assert_int_equal(r.o.error, HTTPS_E_RESOLVE);
	assert_non_null(strstr(r.detail, "no-such-host.invalid"));
	result_done(&r);
	https_pool_free(p);

	dns_cache_free(cache);
	evdns_base_free(dns, 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	tls_context_free(t);
	web_stop(&w);
}

static const char *fake_env[8][2];
static const char *fake_getenv(const char *name)
{
	for (size_t i = 0; i < 8 && fake_env[i][0]; i++)
		if (strcmp(fake_env[i][0], name) == 0)
			return fake_env[i][1];
	return NULL;
}

static struct proxy_config *proxy_from(const char *https_proxy, const char *no_proxy)
{
	struct proxy_config *p = NULL;
	char *err = NULL;

	memset(fake_env, 0, sizeof(fake_env));
	fake_env[0][0] = "HTTPS_PROXY";
	fake_env[0][1] = https_proxy;
	fake_env[1][0] = "NO_PROXY";
	fake_env[1][1] = no_proxy;
	assert_int_equal(proxy_config_from_env(fake_getenv, &p, &err), 0);
	assert_null(err);
	return p;
}

static void test_proxy_config(void **state)
{
	struct proxy_config *p;
	char *err = NULL;

	p = proxy_from("http://u%3Ax:p%40ss@proxy.example:3128/", "*.internal, example.com,10.0.0.1,host:8443,[::1]");
	assert_string_equal(p->host, "proxy.example");
	assert_int_equal(p->port, 3128);
	assert_string_equal(p->authorization, "Basic dTp4OnBAc3M="); /* base64("u:x:p@ss") */
	assert_true(proxy_applies(p, "kms.us-east-1.amazonaws.com", 443));
	assert_false(proxy_applies(p, "a.internal", 443));
	assert_false(proxy_applies(p, "example.com", 443));
	assert_false(proxy_applies(p, "kms.EXAMPLE.com", 443));
	assert_true(proxy_applies(p, "badexample.com", 443));
	assert_false(proxy_applies(p, "10.0.0.1", 443));
	assert_false(proxy_applies(p, "host", 8443));
	assert_true(proxy_applies(p, "host", 443));
	assert_false(proxy_applies(p, "::1", 443));
	proxy_config_free(p);

	p = proxy_from("127.0.0.1:8080", "*");
	assert_string_equal(p->host, "127.0.0.1");
	assert_int_equal(p->port, 8080);
	assert_null(p->authorization);
	assert_false(proxy_applies(p, "kms.us-east-1.amazonaws.com", 443));
	proxy_config_free(p);

	p = proxy_from("http://proxy", NULL);
	assert_int_equal(p->port, 80);
	assert_true(proxy_applies(p, "anything", 443));
	proxy_config_free(p);
	assert_false(proxy_applies(NULL, "anything", 443));

	/* lower case first */
	memset(fake_env, 0, sizeof(fake_env));
	fake_env[0][0] = "https_proxy";
	fake_env[0][1] = "http://lower:1";
	fake_env[1][0] = "HTTPS_PROXY";
	fake_env[1][1] = "http://upper:2";
	assert_int_equal(proxy_config_from_env(fake_getenv, &p, &err), 0);
	assert_string_equal(p->host, "lower");
	proxy_config_free(p);

	memset(fake_env, 0, sizeof(fake_env));
	assert_int_equal(proxy_config_from_env(fake_getenv, &p, &err), 0);
	assert_null(p);
	fake_env[0][0] = "HTTPS_PROXY";
	fake_env[0][1] = "https://secure-proxy:443";
	assert_int_equal(proxy_config_from_env(fake_getenv, &p, &err), -EINVAL);
	assert_non_null(err);
	free(err);
	err = NULL;
	fake_env[0][1] = "http://u:secret@bad host:1";
	assert_int_equal(proxy_config_from_env(fake_getenv, &p, &err), -EINVAL);
	assert_non_null(err);
	assert_null(strstr(err, "secret"));
	free(err);
}

static void test_bad_ca_bundle(void **state)
{
	struct tls_context *t = NULL;
	char *err = NULL;

	assert_int_equal(tls_context_new(path("does-not-exist.pem"), &t, &err), -EINVAL);
	assert_null(t);
	assert_non_null(err);
	assert_non_null(strstr(err, "does-not-exist.pem"));
	free(err);
	assert_null(tls_context_free(NULL));
}

static int setup(void **state)
{
	if (getenv("TEST_DEBUG"))
		log_set_max_level(LOG_DEBUG);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-https-pool.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	if (make_certs() < 0) {
		fprintf(stderr, "cannot create test certificates with the openssl CLI\n");
		return -1;
	}
	base = event_base_new();
	return base ? 0 : -1;
}

static int teardown(void **state)
{
	if (base)
		event_base_free(base);
	run("rm -rf %s", tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_success_and_reuse),
	    cmocka_unit_test(test_session_resumption),
	    cmocka_unit_test(test_wrong_ca),
	    cmocka_unit_test(test_wrong_host),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_handshake_timeout),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_handshake_cut),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_response_timeout),
	    cmocka_unit_test(test_dead_reused_connection_retried),
	    cmocka_unit_test(test_abandon),
	    cmocka_unit_test(test_plain_http),
	    cmocka_unit_test(test_queue_fifo),
	    cmocka_unit_test(test_callback_reentrancy),
	    cmocka_unit_test(test_free_with_pending),
	    cmocka_unit_test(test_bad_ca_bundle),
	    cmocka_unit_test(test_bounded),
	    cmocka_unit_test(test_idle_close),
	    cmocka_unit_test(test_server_closes_idle),
	    cmocka_unit_test(test_reset_mid_response),
	    cmocka_unit_test(test_prewarm),
	    cmocka_unit_test(test_dns_cache),
	    cmocka_unit_test(test_proxy_config),
	};

	/* As in the daemon: a write to a peer that hung up is an error to
	 * handle, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
