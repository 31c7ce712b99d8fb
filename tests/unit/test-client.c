/* SPDX-License-Identifier: MIT */
/*
 * libkmscancel against a tiny fake Varlink server: a thread that accepts on a
 * temporary Unix socket, collects NUL-terminated requests and answers each
 * through a per-test responder that writes whatever bytes the test needs
 * (good replies, errors, garbage, oversized messages, an early close).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli.h"
#include "kmscancel.h"

#define MAX_REQUESTS 64
#define ARN          "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#define KEY          "1234abcd-12ab-34cd-56ef-1234567890ab"

struct fake;
/* Answer request number idx (text without its NUL) on fd.  Return false to
 * close the connection. */
typedef bool (*responder_fn)(struct fake *f, int fd, size_t idx, const char *request);

struct fake {
	char dir[64];
	char path[108];
	int listen_fd;
	pthread_t thread;
	responder_fn respond;
	const char *reply; /* for responders that send one fixed text */
	pthread_mutex_t lock;
	char *requests[MAX_REQUESTS];
	size_t n_requests;
	size_t n_connections;
	size_t n_closed; /* connections the client ended (or the responder did) */
	/* A stream that never ends was answered on this connection: as the
	 * daemon, which replies in order, answer nothing after it. */
	bool stream_open;
	/* The first connection is closed as soon as a request waits on it,
	 * unread (the daemon's idle close crossing a request: ECONNRESET). */
	bool drop_first_unread;
};

/* --- the fake server ---------------------------------------------------------------------- */

static void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return; /* the client went away; the test will tell */
		p += n;
		len -= (size_t)n;
	}
}

/* Send text plus its NUL terminator. */
static void send_message(int fd, const char *text)
{
	send_all(fd, text, strlen(text) + 1);
}

static void send_messagef(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_messagef(int fd, const char *fmt, ...)
{
	char *s;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	send_message(fd, s);
	free(s);
}

/* Serve one connection until the client closes it or the responder says so. */
static void serve_connection(struct fake *f, int fd)
{
	char buf[8192];
	size_t len = 0;

	for (;;) {
		char *nul;
		ssize_t n;

		while ((nul = memchr(buf, '\0', len))) {
			size_t idx, mlen = (size_t)(nul - buf);
			bool keep;

			pthread_mutex_lock(&f->lock);
			idx = f->n_requests;
			if (idx < MAX_REQUESTS)
				f->requests[f->n_requests++] = strdup(buf);
			pthread_mutex_unlock(&f->lock);
			keep = f->respond(f, fd, idx, buf);
			memmove(buf, buf + mlen + 1, len - mlen - 1);
			len -= mlen + 1;
			if (!keep)
				return;
		}
		if (len == sizeof(buf))
			return;
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n <= 0)
			return;
		len += (size_t)n;
	}
}

static void *fake_thread(void *userdata)
{
	struct fake *f = userdata;
	int fd;

	/* Until the listening socket is shut down by fake_stop(). */
	while ((fd = accept(f->listen_fd, NULL, NULL)) >= 0) {
		bool drop;

		pthread_mutex_lock(&f->lock);
		drop = f->drop_first_unread && f->n_connections == 0;
		f->n_connections++;
		pthread_mutex_unlock(&f->lock);
		if (drop) {
			struct pollfd p = {.fd = fd, .events = POLLIN};

			(void)poll(&p, 1, 5000);
			close(fd);
			continue;
		}
		f->stream_open = false;
		serve_connection(f, fd);
		close(fd);
		pthread_mutex_lock(&f->lock);
		f->n_closed++;
		pthread_mutex_unlock(&f->lock);
	}
	return NULL;
}

static struct fake *fake_start(responder_fn respond)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test-client-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/io.kmscancel", f->dir);
	strcpy(sa.sun_path, f->path);
	f->respond = respond;
	pthread_mutex_init(&f->lock, NULL);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listen_fd, 16), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_thread, f), 0);
	return f;
}

static void fake_stop(struct fake *f)
{
	shutdown(f->listen_fd, SHUT_RDWR); /* wakes accept() */
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
	unlink(f->path);
	rmdir(f->dir);
	for (size_t i = 0; i < f->n_requests; i++)
		free(f->requests[i]);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static size_t fake_connections(struct fake *f)
{
	size_t n;

	pthread_mutex_lock(&f->lock);
	n = f->n_connections;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static const char *fake_request(struct fake *f, size_t idx)
{
	const char *r;

	pthread_mutex_lock(&f->lock);
	r = idx < f->n_requests ? f->requests[idx] : NULL;
	pthread_mutex_unlock(&f->lock);
	return r;
}

/* The keyId of a request, crudely (the tests send plain key IDs). */
static void request_key(const char *request, char *buf, size_t size)
{
	const char *p = strstr(request, "\"keyId\"");

	buf[0] = '\0';
	if (!p || !(p = strchr(p + 7, '"')))
		return;
	p++;
	snprintf(buf, size, "%.*s", (int)strcspn(p, "\""), p);
}

/* --- responders ------------------------------------------------------------------------------ */

static bool respond_fixed(struct fake *f, int fd, size_t idx, const char *request)
{
	/* A copy: once the reply is out, the test may free f->reply at once,
	 * and ASan's send() interceptor checks the buffer after the send. */
	char *reply = strdup(f->reply);

	assert_non_null(reply);
	send_message(fd, reply);
	free(reply);
	return true;
}

static bool respond_cancel_ok(struct fake *f, int fd, size_t idx, const char *request)
{
	send_message(fd, "{\"parameters\":{\"keyId\":\"" ARN "\",\"keyState\":\"Disabled\","
			 "\"requestId\":\"8f1e-req\",\"attempts\":2}}");
	return true;
}

/* Echo the key, after every fifth request only, so that the client has
 * several calls in flight at once. */
static bool respond_in_batches(struct fake *f, int fd, size_t idx, const char *request)
{
	if (idx % 5 != 4)
		return true;
	for (size_t i = idx - 4; i <= idx; i++) {
		char key[128];

		request_key(fake_request(f, i), key, sizeof(key));
		send_messagef(fd,
			      "{\"parameters\":{\"keyId\":\"%s\",\"keyState\":\"Disabled\",\"requestId\":\"r%zu\","
			      "\"attempts\":1}}",
			      key, i);
	}
	return true;
}

static bool respond_close(struct fake *f, int fd, size_t idx, const char *request)
{
	return false;
}

static bool respond_oversized(struct fake *f, int fd, size_t idx, const char *request)
{
	size_t len = 70 * 1024;
	char *big = malloc(len);

	assert_non_null(big);
	memset(big, ' ', len); /* JSON whitespace, and no NUL: too big */
	send_all(fd, big, len);
	free(big);
	return true;
}

/* Answer, then close the connection: the daemon closing it once idle. */
static bool respond_ok_then_close(struct fake *f, int fd, size_t idx, const char *request)
{
	respond_cancel_ok(f, fd, idx, request);
	return false;
}

/* Half a reply, then close: the daemon had read the call. */
static bool respond_half_then_close(struct fake *f, int fd, size_t idx, const char *request)
{
	send_all(fd, "{\"parameters\":{\"keyId\"", 20);
	return false;
}

/* The first reply comes late (after the client gave up), the rest at once. */
static bool respond_late_then_ok(struct fake *f, int fd, size_t idx, const char *request)
{
	char key[128];

	if (idx == 0) {
		/* Past the 50 ms limit and the library's 1 s grace. */
		struct timespec ts = {.tv_sec = 1, .tv_nsec = 300 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	request_key(request, key, sizeof(key));
	send_messagef(fd, "{\"parameters\":{\"keyId\":\"%s\",\"keyState\":\"PendingDeletion\"}}", key);
	return true;
}

/* --- tests ----------------------------------------------------------------------------------------- */

static kmscancel *open_fake(struct fake *f)
{
	kmscancel *h = NULL;

	assert_int_equal(kmscancel_open(f->path, &h), KMSCANCEL_OK);
	assert_non_null(h);
	return h;
}

static void test_cancel_success(void **state)
{
	struct fake *f = fake_start(respond_cancel_ok);
	kmscancel *h = open_fake(f);
	kmscancel_cancel_options o = KMSCANCEL_CANCEL_OPTIONS_INIT;
	kmscancel_result *r = NULL;

	o.enable_key = true;
	o.timeout_ms = 2500;
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, &o, &r), KMSCANCEL_OK);
	assert_int_equal(kmscancel_result_error(r), KMSCANCEL_OK);
	assert_null(kmscancel_result_error_name(r));
	assert_null(kmscancel_result_message(r));
	assert_string_equal(kmscancel_result_key_id(r), ARN);
	assert_string_equal(kmscancel_result_key_state(r), "Disabled");
	assert_string_equal(kmscancel_result_request_id(r), "8f1e-req");
	assert_int_equal(kmscancel_result_attempts(r), 2);
	assert_non_null(strstr(kmscancel_result_json(r), "\"attempts\":2"));
	kmscancel_result_free(r);

	/* What went over the wire. */
	assert_non_null(strstr(fake_request(f, 0), "\"method\":\"io.kmscancel.CancelKeyDeletion\""));
	assert_non_null(strstr(fake_request(f, 0), "\"keyId\":\"" KEY "\""));
	assert_non_null(strstr(fake_request(f, 0), "\"enableKey\":true"));
	assert_non_null(strstr(fake_request(f, 0), "\"timeoutMs\":2500"));

	/* Defaults: no enableKey, no timeoutMs; ret may be NULL. */
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, NULL), KMSCANCEL_OK);
	assert_null(strstr(fake_request(f, 1), "enableKey"));
	assert_null(strstr(fake_request(f, 1), "timeoutMs"));
	assert_null(strstr(fake_request(f, 1), "dryRun"));

	/* dry_run goes out as dryRun: true. */
	o = (kmscancel_cancel_options)KMSCANCEL_CANCEL_OPTIONS_INIT;
	o.dry_run = true;
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, &o, NULL), KMSCANCEL_OK);
	assert_non_null(strstr(fake_request(f, 2), "\"dryRun\":true"));
	assert_null(strstr(fake_request(f, 2), "enableKey"));
	assert_int_equal(fake_connections(f), 1);
	kmscancel_close(h);
	fake_stop(f);
}

static void test_errors_mapped(void **state)
{
	static const struct {
		const char *name;
		kmscancel_error code;
		const char *short_name;
	} cases[] = {
	    {"io.kmscancel.NotFoundException", KMSCANCEL_E_NOT_FOUND, "NotFoundException"},
	    {"io.kmscancel.InvalidArnException", KMSCANCEL_E_INVALID_ARN, "InvalidArnException"},
	    {"io.kmscancel.KMSInvalidStateException", KMSCANCEL_E_INVALID_STATE, "KMSInvalidStateException"},
	    {"io.kmscancel.DependencyTimeoutException", KMSCANCEL_E_DEPENDENCY_TIMEOUT, "DependencyTimeoutException"},
	    {"io.kmscancel.KMSInternalException", KMSCANCEL_E_KMS_INTERNAL, "KMSInternalException"},
	    {"io.kmscancel.AccessDeniedException", KMSCANCEL_E_ACCESS_DENIED, "AccessDeniedException"},
	    {"io.kmscancel.ThrottlingException", KMSCANCEL_E_THROTTLING, "ThrottlingException"},
	    {"io.kmscancel.KMSException", KMSCANCEL_E_KMS, "KMSException"},
	    {"io.kmscancel.PermissionDenied", KMSCANCEL_E_PERMISSION_DENIED, "PermissionDenied"},
	    {"io.kmscancel.InvalidKeyId", KMSCANCEL_E_INVALID_KEY_ID, "InvalidKeyId"},
	    {"io.kmscancel.CredentialsUnavailable", KMSCANCEL_E_CREDENTIALS_UNAVAILABLE, "CredentialsUnavailable"},
	    {"io.kmscancel.EndpointUnavailable", KMSCANCEL_E_ENDPOINT_UNAVAILABLE, "EndpointUnavailable"},
	    {"io.kmscancel.Timeout", KMSCANCEL_E_TIMEOUT, "Timeout"},
	    {"io.kmscancel.InternalError", KMSCANCEL_E_INTERNAL, "InternalError"},
	};
	struct fake *f = fake_start(respond_fixed);
	kmscancel *h = open_fake(f);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kmscancel_result *r = NULL;
		char *reply;

		assert_true(asprintf(&reply,
				     "{\"error\":\"%s\",\"parameters\":{\"message\":\"Key '%s' says %zu\","
				     "\"requestId\":\"req-%zu\"}}",
				     cases[i].name, KEY, i, i) >= 0);
		f->reply = reply;
		assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, &r), cases[i].code);
		assert_int_equal(kmscancel_result_error(r), cases[i].code);
		assert_string_equal(kmscancel_result_error_name(r), cases[i].short_name);
		assert_non_null(strstr(kmscancel_result_message(r), "says"));
		assert_non_null(strstr(kmscancel_result_request_id(r), "req-"));
		assert_null(kmscancel_result_key_id(r));
		assert_string_not_equal(kmscancel_strerror(cases[i].code), "unknown error");
		kmscancel_result_free(r);
		f->reply = NULL;
		free(reply);
	}
	kmscancel_close(h);
	fake_stop(f);
}

/* KMSException names the AWS type; unknown and Varlink-level errors are
 * protocol errors that name what the daemon said. */
static void test_other_errors(void **state)
{
	struct fake *f = fake_start(respond_fixed);
	kmscancel *h = open_fake(f);
	kmscancel_result *r = NULL;

	f->reply = "{\"error\":\"io.kmscancel.KMSException\",\"parameters\":{\"message\":\"bad sig\","
		   "\"type\":\"KMSInvalidSignatureException\",\"requestId\":\"x\"}}";
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, &r), KMSCANCEL_E_KMS);
	assert_string_equal(kmscancel_result_error_name(r), "KMSInvalidSignatureException");
	assert_string_equal(kmscancel_result_message(r), "bad sig");
	kmscancel_result_free(r);

	f->reply = "{\"error\":\"io.kmscancel.BrandNewError\",\"parameters\":{\"message\":\"m\"}}";
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, &r), KMSCANCEL_E_PROTOCOL);
	assert_non_null(strstr(kmscancel_result_message(r), "io.kmscancel.BrandNewError"));
	kmscancel_result_free(r);

	f->reply = "{\"error\":\"org.varlink.service.InvalidParameter\",\"parameters\":{\"parameter\":\"keyId\"}}";
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, &r), KMSCANCEL_E_PROTOCOL);
	assert_string_equal(kmscancel_result_error_name(r), "InvalidParameter");
	assert_non_null(strstr(kmscancel_result_message(r), "org.varlink.service.InvalidParameter"));
	assert_non_null(strstr(kmscancel_result_message(r), "keyId"));
	kmscancel_result_free(r);

	f->reply = "{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":{\"method\":\"x.Y\"}}";
	assert_int_equal(kmscancel_describe_key(h, KEY, &r), KMSCANCEL_E_PROTOCOL);
	kmscancel_result_free(r);

	f->reply = "{\"error\":\"org.varlink.service.PermissionDenied\"}";
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, &r), KMSCANCEL_E_PERMISSION_DENIED);
	assert_string_equal(kmscancel_result_error_name(r), "PermissionDenied");
	assert_non_null(kmscancel_result_message(r));
	assert_null(kmscancel_result_request_id(r));
	kmscancel_result_free(r);

	/* Well-formed but without the fields a cancel reply must have: the call
	 * fails, the connection survives. */
	f->reply = "{\"parameters\":{\"keyState\":\"Disabled\"}}";
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, &r), KMSCANCEL_E_PROTOCOL);
	assert_non_null(strstr(kmscancel_result_message(r), "keyId"));
	kmscancel_result_free(r);
	assert_int_equal(fake_connections(f), 1);

	kmscancel_close(h);
	fake_stop(f);
}

static void test_describe_and_status(void **state)
{
	struct fake *f = fake_start(respond_fixed);
	kmscancel *h = open_fake(f);
	kmscancel_result *r = NULL;

	f->reply = "{\"parameters\":{\"keyId\":\"" ARN "\",\"arn\":\"" ARN "\",\"keyState\":\"PendingDeletion\","
		   "\"enabled\":false,\"multiRegion\":true,\"deletionDate\":\"2030-01-02T03:04:05Z\","
		   "\"requestId\":\"d-1\"}}";
	assert_int_equal(kmscancel_describe_key(h, KEY, &r), KMSCANCEL_OK);
	assert_string_equal(kmscancel_result_key_id(r), ARN);
	assert_string_equal(kmscancel_result_arn(r), ARN);
	assert_string_equal(kmscancel_result_key_state(r), "PendingDeletion");
	assert_int_equal(kmscancel_result_enabled(r), 0);
	assert_int_equal(kmscancel_result_multi_region(r), 1);
	assert_string_equal(kmscancel_result_deletion_date(r), "2030-01-02T03:04:05Z");
	assert_int_equal(kmscancel_result_attempts(r), 0);
	kmscancel_result_free(r);
	assert_non_null(strstr(fake_request(f, 0), "\"method\":\"io.kmscancel.DescribeKey\""));

	f->reply = "{\"parameters\":{\"keyId\":\"" ARN "\",\"keyState\":\"Enabled\"}}";
	assert_int_equal(kmscancel_describe_key(h, KEY, &r), KMSCANCEL_OK);
	assert_int_equal(kmscancel_result_enabled(r), -1);
	assert_null(kmscancel_result_deletion_date(r));
	assert_null(kmscancel_result_request_id(r));
	kmscancel_result_free(r);

	f->reply = "{\"parameters\":{\"version\":\"0.1.0\",\"uptimeSec\":5}}";
	assert_int_equal(kmscancel_get_status(h, &r), KMSCANCEL_OK);
	assert_string_equal(kmscancel_result_json(r), "{\"version\":\"0.1.0\",\"uptimeSec\":5}");
	kmscancel_result_free(r);
	assert_non_null(strstr(fake_request(f, 2), "\"method\":\"io.kmscancel.GetStatus\""));

	/* Newer systemd omits empty parameters. */
	f->reply = "{}";
	assert_int_equal(kmscancel_get_status(h, &r), KMSCANCEL_OK);
	assert_string_equal(kmscancel_result_json(r), "{}");
	kmscancel_result_free(r);
	kmscancel_close(h);
	fake_stop(f);
}

static void test_connect_fails(void **state)
{
	kmscancel *h = NULL;
	kmscancel_result *r = NULL;

	assert_int_equal(kmscancel_open("/nonexistent/kmscancel-test/socket", &h), KMSCANCEL_OK);
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, &r), KMSCANCEL_E_CONNECT);
	assert_string_equal(kmscancel_result_error_name(r), "DaemonUnavailable");
	assert_non_null(strstr(kmscancel_result_message(r), "/nonexistent/kmscancel-test/socket"));
	assert_non_null(strstr(kmscancel_result_message(r), strerror(ENOENT)));
	/* … and says what to do about it. */
	assert_non_null(strstr(kmscancel_result_message(r), "is kmscanceld.socket running?"));
	kmscancel_result_free(r);
	assert_int_equal(kmscancel_get_fd(h), -1);
	kmscancel_close(h);

	/* A path too long for sockaddr_un is a connect failure with a reason. */
	{
		char path[200];

		memset(path, 'a', sizeof(path) - 1);
		path[0] = '/';
		path[sizeof(path) - 1] = '\0';
		assert_int_equal(kmscancel_open(path, &h), KMSCANCEL_OK);
		assert_int_equal(kmscancel_get_status(h, &r), KMSCANCEL_E_CONNECT);
		assert_non_null(strstr(kmscancel_result_message(r), strerror(ENAMETOOLONG)));
		kmscancel_result_free(r);
		kmscancel_close(h);
	}

	/* Bad arguments. */
	assert_int_equal(kmscancel_open("", &h), KMSCANCEL_E_INVALID_ARGUMENT);
	assert_int_equal(kmscancel_open(NULL, NULL), KMSCANCEL_E_INVALID_ARGUMENT);
	r = (kmscancel_result *)&r;
	assert_int_equal(kmscancel_cancel_key_deletion(NULL, KEY, NULL, &r), KMSCANCEL_E_INVALID_ARGUMENT);
	assert_null(r);
	kmscancel_close(NULL);
	kmscancel_result_free(NULL);
}

static void test_uninitialised_options(void **state)
{
	struct fake *f = fake_start(respond_cancel_ok);
	kmscancel *h = open_fake(f);
	kmscancel_cancel_options o = {0};
	kmscancel_result *r = NULL;

	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, &o, &r), KMSCANCEL_E_INVALID_ARGUMENT);
	assert_null(r);
	/* An older, shorter struct: only its fields are read. */
	o.size = offsetof(kmscancel_cancel_options, enable_key) + sizeof(bool);
	o.enable_key = true;
	o.timeout_ms = 1234;
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, &o, &r), KMSCANCEL_OK);
	assert_null(strstr(fake_request(f, 0), "timeoutMs"));
	assert_non_null(strstr(fake_request(f, 0), "enableKey"));
	kmscancel_result_free(r);
	kmscancel_close(h);
	fake_stop(f);
}

/* account and region go out as the parameters of the same names, for
 * cancel and describe; absent unless set; a binary built against the
 * header before them (a shorter size) sends neither. */
static void test_account_region_options(void **state)
{
	struct fake *f = fake_start(respond_cancel_ok);
	kmscancel *h = open_fake(f);
	kmscancel_cancel_options o = KMSCANCEL_CANCEL_OPTIONS_INIT;
	kmscancel_describe_options d = KMSCANCEL_DESCRIBE_OPTIONS_INIT;
	kmscancel_result *r = NULL;

	o.account = "444455556666";
	o.region = "eu-west-1";
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, &o, NULL), KMSCANCEL_OK);
	assert_non_null(strstr(fake_request(f, 0), "\"account\":\"444455556666\""));
	assert_non_null(strstr(fake_request(f, 0), "\"region\":\"eu-west-1\""));

	o.size = offsetof(kmscancel_cancel_options, account);
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, &o, NULL), KMSCANCEL_OK);
	assert_null(strstr(fake_request(f, 1), "account"));
	assert_null(strstr(fake_request(f, 1), "region"));

	d.region = "ap-south-2";
	d.timeout_ms = 700;
	assert_int_equal(kmscancel_describe_key_with_options(h, KEY, &d, &r), KMSCANCEL_OK);
	assert_string_equal(kmscancel_result_key_id(r), ARN);
	kmscancel_result_free(r);
	assert_non_null(strstr(fake_request(f, 2), "\"method\":\"io.kmscancel.DescribeKey\""));
	assert_non_null(strstr(fake_request(f, 2), "\"region\":\"ap-south-2\""));
	assert_non_null(strstr(fake_request(f, 2), "\"timeoutMs\":700"));
	assert_null(strstr(fake_request(f, 2), "account"));

	assert_int_equal(kmscancel_describe_key_with_options(h, KEY, NULL, NULL), KMSCANCEL_OK);
	assert_null(strstr(fake_request(f, 3), "region"));
	d = (kmscancel_describe_options){0};
	assert_int_equal(kmscancel_describe_key_with_options(h, KEY, &d, &r), KMSCANCEL_E_INVALID_ARGUMENT);
	assert_null(r);

	/* Malformed values are the caller's error; nothing is sent. */
	d = (kmscancel_describe_options)KMSCANCEL_DESCRIBE_OPTIONS_INIT;
	d.region = "EU-WEST-1";
	assert_int_equal(kmscancel_describe_key_with_options(h, KEY, &d, &r), KMSCANCEL_E_INVALID_ARGUMENT);
	assert_null(r);
	o = (kmscancel_cancel_options)KMSCANCEL_CANCEL_OPTIONS_INIT;
	o.account = "44445555666";
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, &o, &r), KMSCANCEL_E_INVALID_ARGUMENT);
	assert_null(r);
	o.account = "444455556666x";
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, &o, NULL), KMSCANCEL_E_INVALID_ARGUMENT);
	o.account = NULL;
	o.region = "eu-west-1-";
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, &o, NULL), KMSCANCEL_E_INVALID_ARGUMENT);
	assert_null(fake_request(f, 4));
	kmscancel_close(h);
	fake_stop(f);
}

static void test_garbage_reply(void **state)
{
	struct fake *f = fake_start(respond_fixed);
	kmscancel *h = open_fake(f);
	kmscancel_result *r = NULL;

	f->reply = "this is not json";
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, &r), KMSCANCEL_E_PROTOCOL);
	assert_non_null(strstr(kmscancel_result_message(r), "malformed"));
	kmscancel_result_free(r);

	f->reply = "{\"parameters\":{},\"surprise\":1}";
	assert_int_equal(kmscancel_get_status(h, &r), KMSCANCEL_E_PROTOCOL);
	kmscancel_result_free(r);

	f->reply = "{\"parameters\":{\"keyId\":\"k\",\"keyState\":\"s\"},\"continues\":true}";
	assert_int_equal(kmscancel_describe_key(h, KEY, &r), KMSCANCEL_E_PROTOCOL);
	assert_non_null(strstr(kmscancel_result_message(r), "streamed"));
	kmscancel_result_free(r);

	/* Each failure dropped the connection; the next call reconnected. */
	assert_int_equal(fake_connections(f), 3);
	kmscancel_close(h);
	fake_stop(f);
}

static void test_oversized_reply(void **state)
{
	struct fake *f = fake_start(respond_oversized);
	kmscancel *h = open_fake(f);
	kmscancel_result *r = NULL;

	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, &r), KMSCANCEL_E_PROTOCOL);
	assert_non_null(strstr(kmscancel_result_message(r), "larger than"));
	kmscancel_result_free(r);
	kmscancel_close(h);
	fake_stop(f);
}

static void test_early_close(void **state)
{
	struct fake *f = fake_start(respond_close);
	kmscancel *h = open_fake(f);
	kmscancel_result *r = NULL;

	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, &r), KMSCANCEL_E_DISCONNECTED);
	assert_string_equal(kmscancel_result_error_name(r), "Disconnected");
	assert_non_null(kmscancel_result_message(r));
	kmscancel_result_free(r);
	kmscancel_close(h);
	fake_stop(f);
}

/* A long-lived handle whose idle connection the daemon closed: the next call
 * notices before sending and connects afresh, without an error. */
static void test_idle_close_reconnects(void **state)
{
	struct fake *f = fake_start(respond_ok_then_close);
	kmscancel *h = open_fake(f);
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};

	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, NULL), KMSCANCEL_OK);
	nanosleep(&ts, NULL); /* the close has arrived */
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, NULL), KMSCANCEL_OK);
	assert_int_equal(fake_connections(f), 2);
	kmscancel_close(h);
	fake_stop(f);
}

/* The close crosses the request (it reaches a connection being closed with
 * it unread: ECONNRESET): the call is sent again on a new connection. */
static void test_idle_close_race_resends(void **state)
{
	struct fake *f = fake_start(respond_cancel_ok);
	kmscancel *h;
	kmscancel_result *r = NULL;

	f->drop_first_unread = true;
	h = open_fake(f);
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, &r), KMSCANCEL_OK);
	assert_string_equal(kmscancel_result_key_id(r), ARN);
	kmscancel_result_free(r);
	assert_int_equal(fake_connections(f), 2);
	assert_non_null(fake_request(f, 0));
	assert_null(fake_request(f, 1)); /* the first connection read nothing */
	kmscancel_close(h);
	fake_stop(f);
}

/* A call is sent again at most once, and never when part of a reply came:
 * then the daemon had read it. */
static void test_resend_limits(void **state)
{
	struct fake *f = fake_start(respond_close);
	kmscancel *h = open_fake(f);

	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, NULL), KMSCANCEL_E_DISCONNECTED);
	assert_int_equal(fake_connections(f), 2); /* one resend, no more */
	kmscancel_close(h);
	fake_stop(f);

	f = fake_start(respond_half_then_close);
	h = open_fake(f);
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, NULL), KMSCANCEL_E_DISCONNECTED);
	assert_int_equal(fake_connections(f), 1);
	kmscancel_close(h);
	fake_stop(f);
}

struct collected {
	size_t n;
	char keys[MAX_REQUESTS][64];
	kmscancel_error errors[MAX_REQUESTS];
};

static void collect(kmscancel *h, kmscancel_call *call, kmscancel_result *r, void *userdata)
{
	struct collected *c = userdata;
	const char *key = kmscancel_result_key_id(r);

	snprintf(c->keys[c->n], sizeof(c->keys[c->n]), "%s", key ? key : "-");
	c->errors[c->n++] = kmscancel_result_error(r);
	kmscancel_result_free(r);
}

/* Drive h with poll() until nothing is pending. */
static void run_until_idle(kmscancel *h)
{
	while (kmscancel_get_pending(h) > 0) {
		struct pollfd p = {.fd = kmscancel_get_fd(h), .events = (short)kmscancel_get_events(h)};

		poll(&p, p.fd >= 0 ? 1 : 0, kmscancel_get_timeout(h));
		kmscancel_process(h);
	}
}

static void test_pipelined(void **state)
{
	struct fake *f = fake_start(respond_in_batches);
	kmscancel *h = open_fake(f);
	struct collected got = {0};
	kmscancel_call *calls[11];

	for (size_t i = 0; i < 11; i++) {
		char key[32];

		snprintf(key, sizeof(key), "key-%02zu", i);
		assert_int_equal(kmscancel_cancel_key_deletion_async(h, key, NULL, collect, &got, &calls[i]),
				 KMSCANCEL_OK);
	}
	/* Not sent yet: cancelling means it never goes out. */
	kmscancel_call_cancel(calls[3]);
	assert_int_equal(kmscancel_get_pending(h), 11);
	assert_true(kmscancel_get_fd(h) >= 0);
	assert_true(kmscancel_get_events(h) & POLLOUT);
	assert_int_equal(kmscancel_get_timeout(h), 0); /* a completion waits for its callback */

	run_until_idle(h);
	assert_int_equal(got.n, 11);
	/* The cancelled one first (it completed first), then the replies in
	 * call order, each matched to its own call. */
	assert_int_equal(got.errors[0], KMSCANCEL_E_CANCELED);
	for (size_t i = 1, k = 0; i < got.n; i++, k++) {
		char key[32];

		if (k == 3)
			k++;
		snprintf(key, sizeof(key), "key-%02zu", k);
		assert_int_equal(got.errors[i], KMSCANCEL_OK);
		assert_string_equal(got.keys[i], key);
	}
	assert_int_equal(f->n_requests, 10);
	assert_int_equal(fake_connections(f), 1);
	kmscancel_close(h);
	fake_stop(f);
}

/* A call that times out keeps its place: the late reply is absorbed and the
 * next call gets its own answer. */
static void test_timeout_keeps_order(void **state)
{
	struct fake *f = fake_start(respond_late_then_ok);
	kmscancel *h = open_fake(f);
	kmscancel_result *r = NULL;

	assert_int_equal(kmscancel_set_timeout(h, 50), KMSCANCEL_OK);
	assert_int_equal(kmscancel_describe_key(h, "first", &r), KMSCANCEL_E_TIMEOUT);
	assert_string_equal(kmscancel_result_error_name(r), "Timeout");
	kmscancel_result_free(r);
	/* The limit went to the daemon too, which would normally answer first. */
	pthread_mutex_lock(&f->lock);
	assert_non_null(strstr(f->requests[0], "\"timeoutMs\":50"));
	pthread_mutex_unlock(&f->lock);
	assert_int_equal(kmscancel_set_timeout(h, 0), KMSCANCEL_OK);
	assert_int_equal(kmscancel_describe_key(h, "second", &r), KMSCANCEL_OK);
	assert_string_equal(kmscancel_result_key_id(r), "second");
	kmscancel_result_free(r);
	kmscancel_close(h);
	fake_stop(f);
}

/* Closing the handle completes pending calls with CANCELED. */
static void test_close_cancels(void **state)
{
	struct fake *f = fake_start(respond_in_batches);
	kmscancel *h = open_fake(f);
	struct collected got = {0};

	for (size_t i = 0; i < 3; i++)
		assert_int_equal(kmscancel_describe_key_async(h, "k", collect, &got, NULL), KMSCANCEL_OK);
	kmscancel_process(h); /* sends them; the fake waits for five */
	kmscancel_close(h);
	assert_int_equal(got.n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(got.errors[i], KMSCANCEL_E_CANCELED);
	fake_stop(f);
}

static void test_env_socket(void **state)
{
	struct fake *f = fake_start(respond_cancel_ok);
	kmscancel *h = NULL;

	setenv("KMSCANCEL_SOCKET", f->path, 1);
	assert_int_equal(kmscancel_open(NULL, &h), KMSCANCEL_OK);
	assert_string_equal(kmscancel_get_socket_path(h), f->path);
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, NULL), KMSCANCEL_OK);
	kmscancel_close(h);

	/* An explicit path wins. */
	assert_int_equal(kmscancel_open("/elsewhere", &h), KMSCANCEL_OK);
	assert_string_equal(kmscancel_get_socket_path(h), "/elsewhere");
	kmscancel_close(h);

	/* Empty means unset. */
	setenv("KMSCANCEL_SOCKET", "", 1);
	assert_int_equal(kmscancel_open(NULL, &h), KMSCANCEL_OK);
	assert_string_not_equal(kmscancel_get_socket_path(h), "");
	kmscancel_close(h);
	unsetenv("KMSCANCEL_SOCKET");
	fake_stop(f);
}

/* --- streaming calls --------------------------------------------------------------------------------- */

#define PENDING_KEY(id, date, extra)                                                                                   \
	"{\"continues\":true,\"parameters\":{\"key\":{\"keyId\":\"arn:aws:kms:eu-west-1:111122223333:key/" id          \
	"\",\"keyState\":\"PendingDeletion\",\"deletionDate\":" date ",\"account\":\"111122223333\","                  \
	"\"region\":\"eu-west-1\"" extra "}}}"

/* ListPendingDeletions: three keys, then the scans, one of which failed.
 * A call without "more" gets ExpectedMore, as from the daemon. */
static bool respond_pending(struct fake *f, int fd, size_t idx, const char *request)
{
	if (!strstr(request, "ListPendingDeletions")) {
		respond_cancel_ok(f, fd, idx, request);
		return true;
	}
	if (!strstr(request, "\"more\":true")) {
		send_message(fd, "{\"error\":\"org.varlink.service.ExpectedMore\",\"parameters\":{}}");
		return true;
	}
	send_message(fd, PENDING_KEY("k1", "\"2026-12-10T07:00:00Z\"",
				     ",\"description\":\"prod db\",\"aliases\":[\"alias/a\",\"alias/b\"]"));
	send_message(fd, "{\"continues\":true,\"parameters\":{}}"); /* no key: skipped */
	send_message(fd,
		     PENDING_KEY("k2", "null", ",\"keyState2\":1,\"pendingDeletionWindowInDays\":7,\"aliases\":[]"));
	send_message(fd, PENDING_KEY("k3", "\"2026-12-08T00:00:00Z\"", ""));
	send_message(fd, "{\"parameters\":{\"scans\":[{\"account\":\"111122223333\",\"region\":\"eu-west-1\"},"
			 "{\"account\":\"111122223333\",\"region\":\"us-east-1\",\"error\":\"AccessDeniedException\","
			 "\"message\":\"no kms:ListKeys\"}]}}");
	return true;
}

struct stream_log {
	size_t n_keys;
	kmscancel_pending_key *keys[8];
	size_t n_events;
	kmscancel_guard_event *events[8];
	size_t n_confirmed; /* watch-in-place notices */
	bool done;
	kmscancel_result *result;
	bool items_after_done;
	bool cancel_at_first; /* cancel the call from its first item callback */
};

static void log_key(kmscancel *h, kmscancel_call *call, kmscancel_pending_key *key, void *userdata)
{
	struct stream_log *l = userdata;

	l->items_after_done = l->items_after_done || l->done;
	assert_true(l->n_keys < 8);
	l->keys[l->n_keys++] = key;
	if (l->cancel_at_first)
		kmscancel_call_cancel(call);
}

static void log_event(kmscancel *h, kmscancel_call *call, kmscancel_guard_event *event, void *userdata)
{
	struct stream_log *l = userdata;

	l->items_after_done = l->items_after_done || l->done;
	if (!event) {
		assert_int_equal(l->n_events, 0); /* the notice comes first */
		l->n_confirmed++;
		return;
	}
	assert_true(l->n_events < 8);
	l->events[l->n_events++] = event;
	if (l->cancel_at_first)
		kmscancel_call_cancel(call);
}

static void log_done(kmscancel *h, kmscancel_call *call, kmscancel_result *result, void *userdata)
{
	struct stream_log *l = userdata;

	assert_false(l->done);
	l->done = true;
	l->result = result;
}

static void stream_log_done(struct stream_log *l)
{
	for (size_t i = 0; i < l->n_keys; i++)
		kmscancel_pending_key_free(l->keys[i]);
	for (size_t i = 0; i < l->n_events; i++)
		kmscancel_guard_event_free(l->events[i]);
	kmscancel_result_free(l->result);
	*l = (struct stream_log){0};
}

static void drive_until(kmscancel *h, const bool *flag)
{
	for (int i = 0; i < 2000 && !*flag; i++) {
		struct pollfd p = {.fd = kmscancel_get_fd(h), .events = (short)kmscancel_get_events(h)};

		poll(&p, p.fd >= 0 ? 1 : 0, 10);
		kmscancel_process(h);
	}
	assert_true(*flag);
}

static void test_pending_stream(void **state)
{
	struct fake *f = fake_start(respond_pending);
	kmscancel *h = open_fake(f);
	kmscancel_pending_options o = KMSCANCEL_PENDING_OPTIONS_INIT;
	struct stream_log l = {0};
	kmscancel_result *r = NULL;

	o.account = "111122223333";
	o.region = "eu-west-1";
	o.timeout_ms = 30000;
	assert_int_equal(kmscancel_list_pending_deletions_async(h, &o, log_key, log_done, &l, NULL), KMSCANCEL_OK);
	drive_until(h, &l.done);
	assert_false(l.items_after_done);
	assert_non_null(strstr(fake_request(f, 0), "\"method\":\"io.kmscancel.ListPendingDeletions\""));
	assert_non_null(strstr(fake_request(f, 0), "\"more\":true"));
	assert_non_null(strstr(fake_request(f, 0), "\"account\":\"111122223333\""));
	assert_non_null(strstr(fake_request(f, 0), "\"region\":\"eu-west-1\""));
	assert_non_null(strstr(fake_request(f, 0), "\"timeoutMs\":30000"));

	/* The keys, in arrival order, every field. */
	assert_int_equal(l.n_keys, 3);
	assert_string_equal(kmscancel_pending_key_id(l.keys[0]), "arn:aws:kms:eu-west-1:111122223333:key/k1");
	assert_string_equal(kmscancel_pending_key_state(l.keys[0]), "PendingDeletion");
	assert_string_equal(kmscancel_pending_key_deletion_date(l.keys[0]), "2026-12-10T07:00:00Z");
	assert_string_equal(kmscancel_pending_key_account(l.keys[0]), "111122223333");
	assert_string_equal(kmscancel_pending_key_region(l.keys[0]), "eu-west-1");
	assert_string_equal(kmscancel_pending_key_description(l.keys[0]), "prod db");
	assert_int_equal(kmscancel_pending_key_alias_count(l.keys[0]), 2);
	assert_string_equal(kmscancel_pending_key_alias(l.keys[0], 1), "alias/b");
	assert_null(kmscancel_pending_key_alias(l.keys[0], 2));
	assert_int_equal(kmscancel_pending_key_window_days(l.keys[0]), -1);
	assert_null(kmscancel_pending_key_deletion_date(l.keys[1]));
	assert_int_equal(kmscancel_pending_key_window_days(l.keys[1]), 7);
	assert_null(kmscancel_pending_key_description(l.keys[1]));
	assert_int_equal(kmscancel_pending_key_alias_count(l.keys[2]), 0);
	/* A newer daemon's field stays readable. */
	assert_non_null(strstr(kmscancel_pending_key_json(l.keys[1]), "\"keyState2\":1"));

	/* The scans. */
	assert_int_equal(kmscancel_result_error(l.result), KMSCANCEL_OK);
	assert_int_equal(kmscancel_result_scan_count(l.result), 2);
	assert_string_equal(kmscancel_result_scan_region(l.result, 0), "eu-west-1");
	assert_null(kmscancel_result_scan_error(l.result, 0));
	assert_string_equal(kmscancel_result_scan_account(l.result, 1), "111122223333");
	assert_string_equal(kmscancel_result_scan_error(l.result, 1), "AccessDeniedException");
	assert_string_equal(kmscancel_result_scan_message(l.result, 1), "no kms:ListKeys");
	assert_null(kmscancel_result_scan_region(l.result, 2));
	stream_log_done(&l);

	/* Blocking: keys reach the caller's userdata, the result *ret; the
	 * connection is free again for the next call. */
	assert_int_equal(kmscancel_list_pending_deletions(h, NULL, log_key, &l, &r), KMSCANCEL_OK);
	assert_int_equal(l.n_keys, 3);
	assert_int_equal(kmscancel_result_scan_count(r), 2);
	assert_null(strstr(fake_request(f, 1), "account"));
	assert_null(strstr(fake_request(f, 1), "timeoutMs"));
	kmscancel_result_free(r);
	assert_int_equal(kmscancel_cancel_key_deletion(h, KEY, NULL, NULL), KMSCANCEL_OK);
	assert_int_equal(fake_connections(f), 1);
	stream_log_done(&l);

	/* Bad scope: nothing sent. */
	o.account = "12345";
	assert_int_equal(kmscancel_list_pending_deletions(h, &o, log_key, &l, &r), KMSCANCEL_E_INVALID_ARGUMENT);
	assert_null(r);
	kmscancel_close(h);
	fake_stop(f);
}

/* A key with a field of the wrong type breaks the stream (PROTOCOL); an
 * error reply is the outcome, with no key; so is a malformed final reply. */
static void test_pending_malformed_and_errors(void **state)
{
	struct fake *f = fake_start(respond_fixed);
	kmscancel *h = open_fake(f);
	struct stream_log l = {0};
	kmscancel_result *r = NULL;

	f->reply = "{\"continues\":true,\"parameters\":{\"key\":{\"keyId\":\"x\",\"keyState\":1,\"account\":\"1\","
		   "\"region\":\"r\"}}}";
	assert_int_equal(kmscancel_list_pending_deletions(h, NULL, log_key, &l, &r), KMSCANCEL_E_PROTOCOL);
	assert_int_equal(l.n_keys, 0);
	assert_non_null(strstr(kmscancel_result_message(r), "malformed key"));
	kmscancel_result_free(r);

	f->reply = "{\"error\":\"io.kmscancel.PermissionDenied\",\"parameters\":{\"message\":\"no key for you\"}}";
	assert_int_equal(kmscancel_list_pending_deletions(h, NULL, log_key, &l, &r), KMSCANCEL_E_PERMISSION_DENIED);
	assert_string_equal(kmscancel_result_message(r), "no key for you");
	assert_int_equal(kmscancel_result_scan_count(r), 0);
	kmscancel_result_free(r);

	f->reply = "{\"parameters\":{\"scans\":[{\"account\":\"111122223333\"}]}}";
	assert_int_equal(kmscancel_list_pending_deletions(h, NULL, log_key, &l, &r), KMSCANCEL_E_PROTOCOL);
	assert_non_null(strstr(kmscancel_result_message(r), "scans"));
	kmscancel_result_free(r);

	/* A streamed reply to a call that is not a stream is still refused. */
	f->reply = "{\"continues\":true,\"parameters\":{\"keyId\":\"k\",\"keyState\":\"Disabled\"}}";
	assert_int_equal(kmscancel_describe_key(h, "k", &r), KMSCANCEL_E_PROTOCOL);
	kmscancel_result_free(r);
	assert_int_equal(l.n_keys, 0);
	kmscancel_close(h);
	fake_stop(f);
}

/* One key, then nothing more until the client hangs up (a long scan, a
 * watch); other calls are answered normally. */
static bool respond_stream_forever(struct fake *f, int fd, size_t idx, const char *request)
{
	if (f->stream_open)
		return true;
	f->stream_open = strstr(request, "WatchGuard") || strstr(request, "ListPendingDeletions");
	if (strstr(request, "WatchGuard")) {
		send_message(fd, "{\"continues\":true,\"parameters\":{}}");
		send_message(fd, "{\"continues\":true,\"parameters\":{\"event\":{\"time\":\"2026-12-07T03:00:00Z\","
				 "\"event\":\"rescued\",\"key\":\"alias/prod\",\"keyId\":\"" ARN "\","
				 "\"account\":\"111122223333\",\"region\":\"us-east-1\","
				 "\"deletionDate\":\"2026-12-14T03:00:00Z\",\"keyState\":\"Disabled\","
				 "\"requestIds\":[\"r-1\",\"r-2\"]}}}");
		send_message(fd, "{\"continues\":true,\"parameters\":{\"event\":{\"time\":\"2026-12-07T03:01:00Z\","
				 "\"event\":\"unreadable\",\"key\":\"alias/gone\",\"error\":\"NotFoundException\","
				 "\"message\":\"Alias is not found.\"}}}");
	} else if (strstr(request, "ListPendingDeletions")) {
		send_message(fd, PENDING_KEY("k1", "\"2026-12-10T07:00:00Z\"", ""));
		send_message(fd, PENDING_KEY("k2", "\"2026-12-10T07:00:00Z\"", ""));
	} else {
		respond_cancel_ok(f, fd, idx, request);
	}
	return true;
}

static size_t fake_closed(struct fake *f)
{
	size_t n;

	pthread_mutex_lock(&f->lock);
	n = f->n_closed;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static void wait_closed(struct fake *f, size_t n)
{
	for (int i = 0; i < 500 && fake_closed(f) < n; i++)
		usleep(10000);
	assert_int_equal(fake_closed(f), n);
}

/* Cancelling a stream hangs up, which is what stops the daemon's work; a
 * call made after it goes out again on a new connection. */
static void test_stream_cancel_hangs_up(void **state)
{
	struct fake *f = fake_start(respond_stream_forever);
	kmscancel *h = open_fake(f);
	struct stream_log l = {.cancel_at_first = true};
	struct collected got = {0};

	assert_int_equal(kmscancel_list_pending_deletions_async(h, NULL, log_key, log_done, &l, NULL), KMSCANCEL_OK);
	assert_int_equal(kmscancel_describe_key_async(h, "after", collect, &got, NULL), KMSCANCEL_OK);
	drive_until(h, &l.done);
	/* Cancelled from the first key's callback: the second key is dropped. */
	assert_int_equal(l.n_keys, 1);
	assert_int_equal(kmscancel_result_error(l.result), KMSCANCEL_E_CANCELED);
	wait_closed(f, 1);
	run_until_idle(h);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.errors[0], KMSCANCEL_OK);
	assert_int_equal(fake_connections(f), 2);
	stream_log_done(&l);

	/* The time limit of a stream hangs up too. */
	{
		kmscancel_pending_options o = KMSCANCEL_PENDING_OPTIONS_INIT;
		kmscancel_result *r = NULL;

		o.timeout_ms = 1;
		assert_int_equal(kmscancel_list_pending_deletions(h, &o, NULL, NULL, &r), KMSCANCEL_E_TIMEOUT);
		kmscancel_result_free(r);
		kmscancel_process(h);
		wait_closed(f, 2);
	}
	kmscancel_close(h);
	fake_stop(f);
}

static void test_watch_guard(void **state)
{
	struct fake *f = fake_start(respond_stream_forever);
	kmscancel *h = open_fake(f);
	struct stream_log l = {0};
	kmscancel_call *call = NULL;
	kmscancel_guard_event *e;

	assert_int_equal(kmscancel_watch_guard_async(h, NULL, log_event, log_done, &l, &call), KMSCANCEL_OK);
	for (int i = 0; i < 500 && l.n_events < 2; i++) {
		struct pollfd p = {.fd = kmscancel_get_fd(h), .events = (short)kmscancel_get_events(h)};

		poll(&p, 1, 10);
		kmscancel_process(h);
	}
	assert_non_null(strstr(fake_request(f, 0), "\"method\":\"io.kmscancel.WatchGuard\""));
	assert_non_null(strstr(fake_request(f, 0), "\"more\":true"));
	assert_int_equal(l.n_confirmed, 1);
	assert_int_equal(l.n_events, 2);
	assert_false(l.done);
	e = l.events[0];
	assert_string_equal(kmscancel_guard_event_time(e), "2026-12-07T03:00:00Z");
	assert_string_equal(kmscancel_guard_event_name(e), "rescued");
	assert_string_equal(kmscancel_guard_event_key(e), "alias/prod");
	assert_string_equal(kmscancel_guard_event_key_id(e), ARN);
	assert_string_equal(kmscancel_guard_event_account(e), "111122223333");
	assert_string_equal(kmscancel_guard_event_region(e), "us-east-1");
	assert_string_equal(kmscancel_guard_event_deletion_date(e), "2026-12-14T03:00:00Z");
	assert_string_equal(kmscancel_guard_event_key_state(e), "Disabled");
	assert_int_equal(kmscancel_guard_event_request_id_count(e), 2);
	assert_string_equal(kmscancel_guard_event_request_id(e, 1), "r-2");
	assert_null(kmscancel_guard_event_error(e));
	e = l.events[1];
	assert_null(kmscancel_guard_event_key_id(e));
	assert_string_equal(kmscancel_guard_event_error(e), "NotFoundException");
	assert_string_equal(kmscancel_guard_event_message(e), "Alias is not found.");
	assert_int_equal(kmscancel_guard_event_request_id_count(e), 0);

	/* The caller stops watching: CANCELED, and the connection hangs up. */
	kmscancel_call_cancel(call);
	assert_int_equal(kmscancel_get_timeout(h), 0);
	kmscancel_process(h);
	assert_true(l.done);
	assert_int_equal(kmscancel_result_error(l.result), KMSCANCEL_E_CANCELED);
	assert_int_equal(kmscancel_get_fd(h), -1);
	wait_closed(f, 1);
	stream_log_done(&l);
	kmscancel_close(h);
	fake_stop(f);
}

/* The daemon ends the watch (it stops): the final reply, KMSCANCEL_OK. */
static void test_watch_guard_ended(void **state)
{
	struct fake *f = fake_start(respond_fixed);
	kmscancel *h = open_fake(f);
	struct stream_log l = {0};

	f->reply = "{\"parameters\":{}}";
	assert_int_equal(kmscancel_watch_guard_async(h, NULL, log_event, log_done, &l, NULL), KMSCANCEL_OK);
	drive_until(h, &l.done);
	assert_int_equal(kmscancel_result_error(l.result), KMSCANCEL_OK);
	assert_int_equal(l.n_confirmed, 0); /* never in place */
	assert_int_equal(l.n_events, 0);
	stream_log_done(&l);
	/* Closing the handle ends a watch with CANCELED. */
	f->reply = "{\"continues\":true,\"parameters\":{}}";
	assert_int_equal(kmscancel_watch_guard_async(h, NULL, log_event, log_done, &l, NULL), KMSCANCEL_OK);
	for (int i = 0; i < 500 && !l.n_confirmed; i++) {
		struct pollfd p = {.fd = kmscancel_get_fd(h), .events = (short)kmscancel_get_events(h)};

		poll(&p, 1, 10);
		kmscancel_process(h);
	}
	assert_int_equal(l.n_confirmed, 1);
	kmscancel_close(h);
	assert_true(l.done);
	assert_int_equal(kmscancel_result_error(l.result), KMSCANCEL_E_CANCELED);
	stream_log_done(&l);
	fake_stop(f);
}

/* --- the CLI's dates (cli-when.c), with the clock given ---------------------------------------------- */

static void test_when_format(void **state)
{
	static const struct {
		long long delta;
		const char *text;
	} cases[] = {
	    {3 * 86400 + 4 * 3600 + 59 * 60 + 59, "in 3d 4h"},
	    {86400, "in 1d 0h"},
	    {86399, "in 23h 59m"},
	    {3600, "in 1h 0m"},
	    {3599, "in 59m"},
	    {60, "in 1m"},
	    {59, "in <1m"},
	    {1, "in <1m"},
	    {0, "due now"},
	    {-3600, "due now"},
	    {30LL * 86400, "in 30d 0h"},
	};
	time_t now = 1796000000; /* any fixed instant */

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];

		when_format_in(now + (time_t)cases[i].delta, now, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
	}
}

static void test_when_parse(void **state)
{
	time_t t = 0, u = 0;

	assert_int_equal(when_parse("2026-12-10T07:00:00Z", &t), 0);
	assert_int_equal((long long)t, 1796886000LL);
	assert_int_equal(when_parse("2026-12-10T07:00:00.123Z", &u), 0);
	assert_int_equal((long long)u, (long long)t);
	assert_int_equal(when_parse("2026-12-10T08:30:00+01:30", &u), 0);
	assert_int_equal((long long)u, (long long)t);
	assert_int_equal(when_parse("2026-12-10T02:00:00-05:00", &u), 0);
	assert_int_equal((long long)u, (long long)t);
	u = 42;
	assert_int_equal(when_parse("2026-12-10 07:00:00Z", &u), -EINVAL);
	assert_int_equal(when_parse("2026-12-10T07:00:00", &u), -EINVAL);
	assert_int_equal(when_parse("2026-12-10T07:00:00Zjunk", &u), -EINVAL);
	assert_int_equal(when_parse("2026-12-10T07:00:00+1:00", &u), -EINVAL);
	assert_int_equal(when_parse(NULL, &u), -EINVAL);
	assert_int_equal((long long)u, 42); /* untouched on failure */
}

/* Keys as the daemon streams them, in no order; sorted: by date, the
 * earliest first, undated ones last, ties by account, region, ARN. */
static bool respond_unsorted(struct fake *f, int fd, size_t idx, const char *request)
{
	static const char *const keys[][4] = {
	    {"k-late", "\"2026-12-30T00:00:00Z\"", "111122223333", "eu-west-1"},
	    {"k-undated-b", "null", "444455556666", "eu-west-1"},
	    {"k-tie-2", "\"2026-12-09T00:00:00Z\"", "111122223333", "us-east-1"},
	    {"k-first", "\"2026-12-08T00:00:00.5Z\"", "111122223333", "eu-west-1"},
	    {"k-undated-a", "null", "111122223333", "eu-west-1"},
	    {"k-tie-1", "\"2026-12-09T01:00:00+01:00\"", "111122223333", "eu-west-1"},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		send_messagef(fd,
			      "{\"continues\":true,\"parameters\":{\"key\":{\"keyId\":\"%s\",\"keyState\":"
			      "\"PendingDeletion\",\"deletionDate\":%s,\"account\":\"%s\",\"region\":\"%s\"}}}",
			      keys[i][0], keys[i][1], keys[i][2], keys[i][3]);
	send_message(fd, "{\"parameters\":{\"scans\":[]}}");
	return true;
}

static void test_when_sort_keys(void **state)
{
	static const char *const order[] = {"k-first", "k-tie-1", "k-tie-2", "k-late", "k-undated-a", "k-undated-b"};
	struct fake *f = fake_start(respond_unsorted);
	kmscancel *h = open_fake(f);
	struct stream_log l = {0};

	assert_int_equal(kmscancel_list_pending_deletions(h, NULL, log_key, &l, NULL), KMSCANCEL_OK);
	assert_int_equal(l.n_keys, 6);
	when_sort_keys(l.keys, l.n_keys);
	for (size_t i = 0; i < l.n_keys; i++)
		assert_string_equal(kmscancel_pending_key_id(l.keys[i]), order[i]);
	when_sort_keys(l.keys, 0);
	stream_log_done(&l);
	kmscancel_close(h);
	fake_stop(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cancel_success),
	    cmocka_unit_test(test_errors_mapped),
	    cmocka_unit_test(test_other_errors),
	    cmocka_unit_test(test_describe_and_status),
	    cmocka_unit_test(test_connect_fails),
	    cmocka_unit_test(test_uninitialised_options),
	    cmocka_unit_test(test_garbage_reply),
	    cmocka_unit_test(test_oversized_reply),
	    cmocka_unit_test(test_early_close),
	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_timeout_keeps_order),
	    cmocka_unit_test(test_close_cancels),
	    cmocka_unit_test(test_env_socket),
	    cmocka_unit_test(test_idle_close_reconnects),
	    cmocka_unit_test(test_idle_close_race_resends),
	    cmocka_unit_test(test_resend_limits),
	    cmocka_unit_test(test_account_region_options),
	    cmocka_unit_test(test_pending_stream),
	    cmocka_unit_test(test_pending_malformed_and_errors),
	    cmocka_unit_test(test_stream_cancel_hangs_up),
	    cmocka_unit_test(test_watch_guard),
	    cmocka_unit_test(test_watch_guard_ended),
	    cmocka_unit_test(test_when_format),
	    cmocka_unit_test(test_when_parse),
	    cmocka_unit_test(test_when_sort_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
