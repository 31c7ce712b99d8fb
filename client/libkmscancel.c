/* SPDX-License-Identifier: MIT */
/*
 * libkmscancel: the client side of the io.kmscancel Varlink interface.
 *
 * A handle is one Unix-socket connection with
 *  - a FIFO of calls in the order their requests go out, which is the order
 *    the daemon answers them (Varlink pipelining): a reply always belongs to
 *    the call at the head of the FIFO;
 *  - an input buffer that accumulates bytes until a NUL ends a message;
 *  - a queue of completed calls whose callbacks have not run yet.
 *
 * Each call carries its own formatted request; the writer sends the FIFO's
 * requests in order from the first one not completely written.  A call
 * cancelled or timed out before any byte of it went out simply leaves the
 * FIFO; one already (partly) sent stays there as a placeholder, because its
 * request must be finished and its reply must be absorbed to keep the
 * replies matched.
 *
 * The blocking calls are "queue an asynchronous call, then poll and process
 * until it completes".
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "kmscancel.h"
#include "libkmscancel-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "error-names.h"
#include "keyid.h"
#include "monotime.h"
#include "varlink.h"

#ifndef KMSCANCEL_DEFAULT_SOCKET
#define KMSCANCEL_DEFAULT_SOCKET "/run/kmscanceld/io.kmscancel"
#endif

/* How much longer than the time limit it sent to the daemon the library
 * waits, so that the daemon's own io.kmscancel.Timeout (which says what it
 * was waiting for) normally arrives before the library gives up. */
#define TIMEOUT_GRACE_MS 1000U

/* Requests handed to one sendmsg(). */
#define WRITE_IOV_MAX 64

#define USEC_PER_MSEC 1000ULL
#define USEC_PER_SEC  1000000ULL

enum call_kind {
	CALL_CANCEL_KEY_DELETION,
	CALL_DESCRIBE_KEY,
	CALL_GET_STATUS,
	CALL_LIST_PENDING, /* streams: one reply per key */
	CALL_WATCH_GUARD,  /* streams: one reply per event, until hung up */
	_CALL_KIND_MAX,
};

static const char *const call_method[_CALL_KIND_MAX] = {
    [CALL_CANCEL_KEY_DELETION] = "io.kmscancel.CancelKeyDeletion",
    [CALL_DESCRIBE_KEY] = "io.kmscancel.DescribeKey",
    [CALL_GET_STATUS] = "io.kmscancel.GetStatus",
    [CALL_LIST_PENDING] = "io.kmscancel.ListPendingDeletions",
    [CALL_WATCH_GUARD] = "io.kmscancel.WatchGuard",
};

static bool kind_streams(enum call_kind kind)
{
	return kind == CALL_LIST_PENDING || kind == CALL_WATCH_GUARD;
}

/* A call's life.  Independently of the state, a call sits in the FIFO from
 * the moment it is queued until its reply arrives (or it is dropped unsent,
 * or the connection breaks). */
enum call_state {
	CALL_QUEUED,     /* request not completely written yet */
	CALL_SENT,       /* request written, waiting for the reply */
	CALL_COMPLETED,  /* outcome known; in the done queue, waiting for its callback */
	CALL_DISPATCHED, /* callback ran; kept only as a FIFO placeholder */
	_CALL_STATE_MAX,
};

/* An entry of a handle's queue of callbacks to run: an item a stream
 * delivered, or a call's completion.  One queue for both keeps them in the
 * order the replies came, and a call's items before its completion. */
struct notice {
	struct notice *next;
	kmscancel_call *call;
	void *item; /* a kmscancel_pending_key or kmscancel_guard_event; NULL: the completion */
};

struct kmscancel_call {
	kmscancel *handle;
	enum call_kind kind;
	enum call_state state;
	char *request; /* the formatted message, NUL included */
	size_t request_len;
	size_t written;      /* bytes of request already sent */
	uint64_t deadline;   /* CLOCK_MONOTONIC µs; 0: none */
	unsigned timeout_ms; /* what the deadline was made of, for the message */
	kmscancel_result *result;
	kmscancel_callback callback;
	void *userdata;
	/* Streams: the item callback (one of them, by kind). */
	kmscancel_pending_key_callback key_callback;
	kmscancel_guard_event_callback event_callback;
	void *item_userdata;  /* what the item callback gets: userdata, but for the blocking listing */
	bool watch_confirmed; /* WatchGuard: the "watch in place" reply was handed out */
	bool drop_items;      /* cancelled: items still queued are freed, not handed out */

	bool resent; /* sent again on a new connection (conn_resend): never twice */
	bool in_fifo;
	kmscancel_call *fifo_prev, *fifo_next;
	struct notice done; /* the completion's entry in the notice queue */
};

struct kmscancel {
	char *socket_path;
	int fd; /* -1 while not connected */
	unsigned timeout_ms;

	kmscancel_call *fifo_head, *fifo_tail;
	kmscancel_call *first_unsent; /* first FIFO call with unwritten bytes */
	struct notice *notice_head, *notice_tail; /* callbacks to run, in order */
	size_t n_pending; /* calls whose callback has not run */

	char *in; /* VARLINK_MESSAGE_MAX bytes */
	size_t in_len;
	bool write_failed; /* the peer stopped reading; fail once its replies are drained */
	bool heard;        /* a byte arrived since the connection was last idle (no call in the FIFO) */
	bool closing;
	kmscancel_error broken; /* what broke the connection during the current kmscancel_process() */
};

/* --- errors ------------------------------------------------------------------------------------------------- */

static const char *const error_text[] = {
    [KMSCANCEL_OK] = "success",
    [KMSCANCEL_E_NOT_FOUND] = "the key does not exist",
    [KMSCANCEL_E_INVALID_ARN] = "the key ARN is not valid",
    [KMSCANCEL_E_INVALID_STATE] = "the key is not in a state that allows the operation (not pending deletion?)",
    [KMSCANCEL_E_DEPENDENCY_TIMEOUT] = "KMS timed out waiting for a dependency",
    [KMSCANCEL_E_KMS_INTERNAL] = "internal error in KMS",
    [KMSCANCEL_E_ACCESS_DENIED] = "AWS denied access to the key",
    [KMSCANCEL_E_THROTTLING] = "KMS throttled the request",
    [KMSCANCEL_E_KMS] = "KMS returned an error",
    [KMSCANCEL_E_PERMISSION_DENIED] = "the local policy of kmscanceld does not allow this",
    [KMSCANCEL_E_INVALID_KEY_ID] = "not a key ID or key ARN",
    [KMSCANCEL_E_CREDENTIALS_UNAVAILABLE] = "kmscanceld has no usable AWS credentials",
    [KMSCANCEL_E_ENDPOINT_UNAVAILABLE] = "the KMS endpoint cannot be reached",
    [KMSCANCEL_E_TIMEOUT] = "the call timed out",
    [KMSCANCEL_E_INTERNAL] = "kmscanceld failed internally (out of memory)",
    [KMSCANCEL_E_CONNECT] = "kmscanceld cannot be reached",
    [KMSCANCEL_E_PROTOCOL] = "protocol error talking to kmscanceld",
    [KMSCANCEL_E_INVALID_ARGUMENT] = "invalid argument",
    [KMSCANCEL_E_NO_MEMORY] = "out of memory",
    [KMSCANCEL_E_CANCELED] = "the call was cancelled",
    [KMSCANCEL_E_DISCONNECTED] = "kmscanceld closed the connection",
};

KMSCANCEL_API const char *kmscancel_strerror(kmscancel_error e)
{
	if ((unsigned)e < sizeof(error_text) / sizeof(error_text[0]) && error_text[e])
		return error_text[e];
	return "unknown error";
}

/* --- results ------------------------------------------------------------------------------------------------ */

KMSCANCEL_API void kmscancel_result_free(kmscancel_result *r)
{
	if (!r)
		return;
	free(r->error_name);
	free(r->message);
	json_object_put(r->parameters);
	free(r);
}

/* Record a library-local outcome.  Out of memory for the strings is not an
 * error: the accessors fall back to the fixed texts. */
static void result_set_local(kmscancel_result *r, kmscancel_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void result_set_local(kmscancel_result *r, kmscancel_error e, const char *fmt, ...)
{
	va_list ap;

	r->error = e;
	free(r->message);
	r->message = NULL;
	va_start(ap, fmt);
	if (vasprintf(&r->message, fmt, ap) < 0)
		r->message = NULL;
	va_end(ap);
}

KMSCANCEL_API kmscancel_error kmscancel_result_error(const kmscancel_result *r)
{
	return r ? r->error : KMSCANCEL_E_INVALID_ARGUMENT;
}

KMSCANCEL_API const char *kmscancel_result_error_name(const kmscancel_result *r)
{
	if (!r || r->error == KMSCANCEL_OK)
		return NULL;
	return r->error_name ? r->error_name : kmscancel_error_short_name(r->error);
}

KMSCANCEL_API const char *kmscancel_result_message(const kmscancel_result *r)
{
	if (!r || r->error == KMSCANCEL_OK)
		return NULL;
	return r->message ? r->message : kmscancel_strerror(r->error);
}

static const char *result_string(const kmscancel_result *r, const char *key)
{
	const char *s;

	if (!r || !r->parameters || varlink_get_string(r->parameters, key, &s) < 0)
		return NULL;
	return s;
}

static int result_bool(const kmscancel_result *r, const char *key)
{
	bool b;

	if (!r || !r->parameters || varlink_get_bool(r->parameters, key, &b) < 0)
		return -1;
	return b;
}

KMSCANCEL_API const char *kmscancel_result_key_id(const kmscancel_result *r)
{
	return r && r->error == KMSCANCEL_OK ? result_string(r, "keyId") : NULL;
}

KMSCANCEL_API const char *kmscancel_result_key_state(const kmscancel_result *r)
{
	return r && r->error == KMSCANCEL_OK ? result_string(r, "keyState") : NULL;
}

KMSCANCEL_API const char *kmscancel_result_request_id(const kmscancel_result *r)
{
	const char *s = result_string(r, "requestId");

	/* The daemon sends "" where AWS gave no ID. */
	return s && *s ? s : NULL;
}

KMSCANCEL_API unsigned kmscancel_result_attempts(const kmscancel_result *r)
{
	int64_t n;

	if (!r || !r->parameters || varlink_get_int64(r->parameters, "attempts", &n) < 0 || n < 0)
		return 0;
	return n > UINT_MAX ? UINT_MAX : (unsigned)n;
}

KMSCANCEL_API const char *kmscancel_result_arn(const kmscancel_result *r)
{
	return r && r->error == KMSCANCEL_OK ? result_string(r, "arn") : NULL;
}

KMSCANCEL_API int kmscancel_result_enabled(const kmscancel_result *r)
{
	return r && r->error == KMSCANCEL_OK ? result_bool(r, "enabled") : -1;
}

KMSCANCEL_API int kmscancel_result_multi_region(const kmscancel_result *r)
{
	return r && r->error == KMSCANCEL_OK ? result_bool(r, "multiRegion") : -1;
}

KMSCANCEL_API const char *kmscancel_result_deletion_date(const kmscancel_result *r)
{
	return r && r->error == KMSCANCEL_OK ? result_string(r, "deletionDate") : NULL;
}

KMSCANCEL_API const char *kmscancel_result_json(const kmscancel_result *r)
{
	if (!r || !r->parameters)
		return NULL;
	return json_object_to_json_string_ext(r->parameters, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* --- decoding replies ---------------------------------------------------------------------------------------- */

/* "parameter keyId" / "method Foo" / "interface bar": what the standard
 * org.varlink.service errors carry, for the message. */
static const char *varlink_error_detail(struct json_object *params, const char **ret_what)
{
	static const char *const keys[] = {"parameter", "method", "interface"};
	const char *s;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (varlink_get_string(params, keys[i], &s) == 0) {
			*ret_what = keys[i];
			return s;
		}
	return NULL;
}

/* Fill r from an error reply; takes ownership of params. */
static void result_set_error_reply(kmscancel_result *r, const char *name, struct json_object *params)
{
	const char *member = name, *message = NULL, *type = NULL, *what = NULL, *detail;
	size_t iface_len;
	bool ours = strncmp(name, "io.kmscancel.", strlen("io.kmscancel.")) == 0;

	(void)varlink_qualified_name_split(name, &iface_len, &member);
	(void)varlink_get_string(params, "message", &message);
	r->parameters = params;

	if (strcmp(name, "org.varlink.service.PermissionDenied") == 0)
		r->error = KMSCANCEL_E_PERMISSION_DENIED;
	else
		r->error = ours ? kmscancel_error_from_varlink(name) : KMSCANCEL_E_PROTOCOL;
	if (r->error == KMSCANCEL_E_KMS && varlink_get_string(params, "type", &type) == 0 && *type)
		member = type;
	r->error_name = strdup(member);

	if (r->error != KMSCANCEL_E_PROTOCOL) {
		r->message = strdup(message && *message ? message : kmscancel_strerror(r->error));
		return;
	}
	/* A Varlink-level refusal (or a newer daemon's error): name it whole,
	 * it is what a bug report needs. */
	detail = varlink_error_detail(params, &what);
	if (asprintf(&r->message, "kmscanceld answered %s%s%s%s%s%s%s", ours ? "unknown error " : "", name,
		     detail ? " (" : "", detail ? what : "", detail ? " " : "", detail ? detail : "",
		     detail ? ")" : "") < 0)
		r->message = NULL;
	if (message && *message) {
		char *m = NULL;

		if (r->message && asprintf(&m, "%s: %s", r->message, message) >= 0) {
			free(r->message);
			r->message = m;
		}
	}
}

/* The fields a successful reply must have, per method (the rest are
 * optional or informational). */
static const char *missing_field(enum call_kind kind, struct json_object *params)
{
	static const char *const required[] = {"keyId", "keyState"};
	const char *s;

	if (kind == CALL_GET_STATUS || kind_streams(kind))
		return NULL;
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (varlink_get_string(params, required[i], &s) < 0)
			return required[i];
	return NULL;
}

/* Fill the call's result from its reply; takes the reply's members. */
static void call_set_reply(kmscancel_call *c, struct varlink_reply *reply)
{
	kmscancel_result *r = c->result;
	struct json_object *params = reply->parameters;
	const char *missing;

	reply->parameters = NULL;
	if (reply->error) {
		result_set_error_reply(r, reply->error, params);
		return;
	}
	if (c->kind == CALL_LIST_PENDING && (missing = pending_scans_check(params))) {
		json_object_put(params);
		result_set_local(r, KMSCANCEL_E_PROTOCOL, "the final reply to %s is malformed: %s",
				 call_method[c->kind], missing);
		return;
	}
	missing = missing_field(c->kind, params);
	if (missing) {
		json_object_put(params);
		result_set_local(r, KMSCANCEL_E_PROTOCOL, "reply to %s lacks the string field \"%s\"",
				 call_method[c->kind], missing);
		return;
	}
	r->error = KMSCANCEL_OK;
	r->parameters = params;
	r->listing = c->kind == CALL_LIST_PENDING;
}

/* --- calls and their queues ------------------------------------------------------------------------------------ */

/* strerror() is not thread-safe; the handle's user may have other threads. */
#define ERRNO_TEXT_MAX 128
static const char *errno_text(int err, char buf[static ERRNO_TEXT_MAX])
{
	return strerror_r(err, buf, ERRNO_TEXT_MAX);
}

static void call_free(kmscancel_call *c)
{
	if (!c)
		return;
	free(c->request);
	kmscancel_result_free(c->result);
	free(c);
}

/* Free c once nothing refers to it any more: its callback ran and it no
 * longer holds a place in the FIFO. */
static void call_release_if_unused(kmscancel_call *c)
{
	if (c->state == CALL_DISPATCHED && !c->in_fifo)
		call_free(c);
}

static void fifo_append(kmscancel *h, kmscancel_call *c)
{
	c->fifo_prev = h->fifo_tail;
	c->fifo_next = NULL;
	if (h->fifo_tail)
		h->fifo_tail->fifo_next = c;
	else
		h->fifo_head = c;
	h->fifo_tail = c;
	c->in_fifo = true;
	if (!h->first_unsent)
		h->first_unsent = c;
}

static void fifo_remove(kmscancel *h, kmscancel_call *c)
{
	if (!c->in_fifo)
		return;
	if (h->first_unsent == c)
		h->first_unsent = c->fifo_next;
	if (c->fifo_prev)
		c->fifo_prev->fifo_next = c->fifo_next;
	else
		h->fifo_head = c->fifo_next;
	if (c->fifo_next)
		c->fifo_next->fifo_prev = c->fifo_prev;
	else
		h->fifo_tail = c->fifo_prev;
	c->fifo_prev = c->fifo_next = NULL;
	c->in_fifo = false;
}

static bool call_is_waiting(const kmscancel_call *c)
{
	return c->state == CALL_QUEUED || c->state == CALL_SENT;
}

static void notice_append(kmscancel *h, struct notice *n)
{
	n->next = NULL;
	if (h->notice_tail)
		h->notice_tail->next = n;
	else
		h->notice_head = n;
	h->notice_tail = n;
}

static void item_free(enum call_kind kind, void *item)
{
	if (kind == CALL_LIST_PENDING)
		kmscancel_pending_key_free(item);
	else
		kmscancel_guard_event_free(item);
}

/* Queue the callback of item (owned; NULL for WatchGuard's "watch in
 * place") for stream c.  -ENOMEM, and item freed, when out of memory. */
static int call_queue_item(kmscancel_call *c, void *item)
{
	struct notice *n = malloc(sizeof(*n));

	if (!n) {
		item_free(c->kind, item);
		return -ENOMEM;
	}
	*n = (struct notice){.call = c, .item = item};
	notice_append(c->handle, n);
	return 0;
}

/* Hand one stream item to its callback (which owns it then), or free it
 * if the call was cancelled since it arrived. */
static void dispatch_item(kmscancel *h, kmscancel_call *c, void *item)
{
	if (c->drop_items) {
		item_free(c->kind, item);
		return;
	}
	if (c->kind == CALL_LIST_PENDING && c->key_callback)
		c->key_callback(h, c, item, c->item_userdata);
	else if (c->kind == CALL_WATCH_GUARD && c->event_callback)
		c->event_callback(h, c, item, c->item_userdata);
	else
		item_free(c->kind, item);
}

/* The outcome of c is in c->result: queue its callback.  A call of which
 * nothing was sent leaves the FIFO (no reply will come); a (partly) sent one
 * stays there until its reply arrives. */
static void call_complete(kmscancel_call *c)
{
	kmscancel *h = c->handle;

	if (!call_is_waiting(c))
		return;
	c->state = CALL_COMPLETED;
	if (c->in_fifo && c->written == 0)
		fifo_remove(h, c);
	c->done = (struct notice){.call = c};
	notice_append(h, &c->done);
}

static void call_fail(kmscancel_call *c, kmscancel_error e, const char *message)
{
	if (!call_is_waiting(c))
		return;
	result_set_local(c->result, e, "%s", message);
	call_complete(c);
}

/* Run the callbacks of completed calls, one at a time so that a callback may
 * queue, cancel or even wait for other calls. */
static void dispatch_done(kmscancel *h)
{
	struct notice *n;

	while ((n = h->notice_head)) {
		kmscancel_call *c = n->call;
		kmscancel_result *r;

		h->notice_head = n->next;
		if (!h->notice_head)
			h->notice_tail = NULL;
		if (n != &c->done) {
			void *item = n->item;

			/* An item: the call stays alive until its completion,
			 * which is queued after it. */
			free(n);
			dispatch_item(h, c, item);
			continue;
		}
		r = c->result;
		c->result = NULL;
		c->state = CALL_DISPATCHED;
		h->n_pending--;
		if (c->callback)
			c->callback(h, c, r, c->userdata);
		else
			kmscancel_result_free(r);
		call_release_if_unused(c);
	}
}

/* --- the connection ------------------------------------------------------------------------------------------- */

static void conn_close(kmscancel *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->in_len = 0;
	h->write_failed = false;
	h->heard = false;
}

/* The connection is unusable: every call on it fails with e (placeholders
 * are dropped), and the next call connects afresh. */
static void conn_fail(kmscancel *h, kmscancel_error e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void conn_fail(kmscancel *h, kmscancel_error e, const char *fmt, ...)
{
	char *message = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&message, fmt, ap) < 0)
		message = NULL;
	va_end(ap);

	conn_close(h);
	h->broken = e;
	while (h->fifo_head) {
		kmscancel_call *c = h->fifo_head;

		fifo_remove(h, c);
		call_fail(c, e, message ? message : kmscancel_strerror(e));
		call_release_if_unused(c);
	}
	free(message);
}

static int socket_address(const char *path, struct sockaddr_un *sa, socklen_t *ret_len)
{
	size_t len = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, len);
	if (path[0] == '@')
		sa->sun_path[0] = '\0'; /* abstract namespace, as systemd spells it */
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
	return 0;
}

/* Connect h; on failure return a negative errno and leave h unconnected.
 * The connect itself blocks (a Unix socket answers at once unless the
 * daemon's backlog is full, and then waiting is right); the socket is
 * non-blocking afterwards. */
static int conn_open(kmscancel *h)
{
	struct sockaddr_un sa;
	socklen_t sa_len;
	int fd, r;

	r = socket_address(h->socket_path, &sa, &sa_len);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	while ((r = connect(fd, (struct sockaddr *)&sa, sa_len)) < 0 && errno == EINTR)
		;
	if (r < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	h->fd = fd;
	h->in_len = 0;
	h->write_failed = false;
	h->heard = false;
	return 0;
}

static void conn_write(kmscancel *h);

/*
 * The daemon closes connections that sat idle for its
 * IdleConnectionTimeoutSec= (60 s by default).  Before a call goes out on a
 * connection with nothing in flight, look whether that already happened
 * (EOF or a reset waiting to be read) and if so start a new one: the common
 * case of a long-lived handle costs one recv() and no error.
 */
static void conn_drop_if_closed(kmscancel *h)
{
	char b;
	ssize_t n;

	if (h->fd < 0 || h->fifo_head)
		return;
	n = recv(h->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		conn_close(h);
}

/*
 * The connection ended (EOF, or ECONNRESET/EPIPE) with calls in the FIFO.
 * Send them again on a new connection, once, if nothing at all arrived since
 * the connection was last idle.
 *
 * Why that is safe: the daemon closes an idle connection only when it has
 * read nothing it has not answered — no call in flight, its input buffer
 * empty, and FIONREAD 0 on the socket, checked on its single thread right
 * before the close (daemon/conn.c, idle_timeout_cb).  So when the daemon's
 * idle close crosses our requests, none of them reached a handler: we see
 * EOF, or ECONNRESET when our bytes were still queued at its close, and no
 * byte of any reply.  Had it read one of them, it would not have closed
 * the connection as idle, and would have answered it before any other close
 * but a crash or a drain that timed out.  Those two remain indistinguishable
 * from here; a call resent after them is still harmless, because every
 * io.kmscancel method is idempotent (a second CancelKeyDeletion of a key
 * already cancelled answers KMSInvalidStateException, DescribeKey and
 * GetStatus only read), and a call is never resent twice.  Calls completed
 * meanwhile (cancelled, timed out) are not sent again.
 *
 * Returns true when the calls are on their way again.
 */
static void conn_requeue(kmscancel *h);

static bool conn_resend(kmscancel *h)
{
	if (h->heard || !h->fifo_head)
		return false;
	for (kmscancel_call *c = h->fifo_head; c; c = c->fifo_next)
		if (c->resent)
			return false;
	conn_close(h);
	if (conn_open(h) < 0)
		return false;
	conn_requeue(h);
	return true;
}

/* Every call of the FIFO that still waits goes out again, from its first
 * byte, on the (new) connection; placeholders leave. */
static void conn_requeue(kmscancel *h)
{
	for (kmscancel_call *c = h->fifo_head, *next; c; c = next) {
		next = c->fifo_next;
		if (!call_is_waiting(c)) {
			fifo_remove(h, c); /* a placeholder: no reply is wanted */
			call_release_if_unused(c);
			continue;
		}
		c->written = 0;
		c->state = CALL_QUEUED;
		c->resent = true;
	}
	h->first_unsent = h->fifo_head;
	if (h->fifo_head)
		conn_write(h);
}

/* A stream the caller gave up on (cancelled, timed out) heads the FIFO: the
 * calls before it have been answered, and only hanging up stops it. */
static bool stream_abandoned(const kmscancel *h)
{
	const kmscancel_call *c = h->fifo_head;

	return h->fd >= 0 && c && kind_streams(c->kind) && !call_is_waiting(c);
}

/*
 * Hang up on an abandoned stream: closing the connection is how a Varlink
 * client ends a "more" call, and the daemon then stops its work (a scan's
 * KMS requests, a watch).  The calls made after the stream were waiting
 * behind it; they go out again on a new connection (each io.kmscancel
 * method is idempotent, so one the daemon had read already is harmless to
 * repeat), or fail with KMSCANCEL_E_CONNECT if there is none to be had.
 */
static void conn_hangup_abandoned(kmscancel *h)
{
	kmscancel_call *c;
	int r;

	if (!stream_abandoned(h))
		return;
	c = h->fifo_head;
	fifo_remove(h, c);
	call_release_if_unused(c);
	conn_close(h);
	if (!h->fifo_head)
		return;
	r = conn_open(h);
	if (r < 0) {
		char buf[ERRNO_TEXT_MAX];

		conn_fail(h, KMSCANCEL_E_CONNECT, "cannot reach kmscanceld at %s again: %s", h->socket_path,
			  errno_text(-r, buf));
		return;
	}
	conn_requeue(h);
}

/* Write as much of the queued requests as the socket takes. */
static void conn_write(kmscancel *h)
{
	while (h->fd >= 0 && !h->write_failed && h->first_unsent) {
		struct iovec iov[WRITE_IOV_MAX];
		struct msghdr mh = {.msg_iov = iov};
		kmscancel_call *c = h->first_unsent;
		ssize_t n;

		for (; c && mh.msg_iovlen < WRITE_IOV_MAX; c = c->fifo_next, mh.msg_iovlen++) {
			iov[mh.msg_iovlen].iov_base = c->request + c->written;
			iov[mh.msg_iovlen].iov_len = c->request_len - c->written;
		}
		/* MSG_NOSIGNAL: a library must not kill its caller with SIGPIPE. */
		n = sendmsg(h->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				h->write_failed = true; /* read the replies already sent first */
			return;
		}
		for (c = h->first_unsent; c && n > 0; c = c->fifo_next) {
			size_t k = c->request_len - c->written < (size_t)n ? c->request_len - c->written : (size_t)n;

			c->written += k;
			n -= (ssize_t)k;
			if (c->written == c->request_len) {
				if (c->state == CALL_QUEUED)
					c->state = CALL_SENT;
				h->first_unsent = c->fifo_next;
			}
		}
	}
}

/*
 * The item of one reply to stream c (params borrowed), queued for its
 * callback; for WatchGuard, the first continued reply also queues the
 * "watch in place" notice (event NULL), before its event if it has one.
 * A reply without an item (a newer daemon's progress, the final reply) adds
 * nothing.  0, -EBADMSG for a malformed item, or -ENOMEM.
 */
static int call_take_item(kmscancel_call *c, struct json_object *params, bool continues)
{
	kmscancel_pending_key *key = NULL;
	kmscancel_guard_event *event = NULL;
	int r;

	if (c->kind == CALL_LIST_PENDING) {
		r = pending_key_from_reply(params, &key);
		return r < 0 || !key ? r : call_queue_item(c, key);
	}
	r = guard_event_from_reply(params, &event);
	if (r < 0)
		return r;
	if (continues && !c->watch_confirmed) {
		c->watch_confirmed = true;
		r = call_queue_item(c, NULL);
		if (r < 0) {
			kmscancel_guard_event_free(event);
			return r;
		}
	}
	return event ? call_queue_item(c, event) : 0;
}

/* One complete message msg[0..len) arrived: it answers the FIFO's head.
 * Returns false if the connection had to be given up. */
static bool conn_handle_message(kmscancel *h, const char *msg, size_t len)
{
	kmscancel_call *c = h->fifo_head;
	struct varlink_reply reply;
	int r;

	if (!c || c->written < c->request_len) {
		conn_fail(h, KMSCANCEL_E_PROTOCOL, "kmscanceld sent a reply to no call");
		return false;
	}
	r = varlink_reply_parse(msg, len, &reply);
	if (r == -ENOMEM) {
		conn_fail(h, KMSCANCEL_E_NO_MEMORY, "out of memory reading a reply");
		return false;
	}
	if (r < 0) {
		conn_fail(h, KMSCANCEL_E_PROTOCOL, "kmscanceld sent a malformed Varlink reply to %s",
			  call_method[c->kind]);
		return false;
	}
	if (reply.continues && !kind_streams(c->kind)) {
		/* Only streams ask for "more": what follows could not be matched. */
		varlink_reply_done(&reply);
		conn_fail(h, KMSCANCEL_E_PROTOCOL, "kmscanceld sent a streamed reply to %s, which did not ask for one",
			  call_method[c->kind]);
		return false;
	}
	if (kind_streams(c->kind) && call_is_waiting(c) && !reply.error &&
	    (r = call_take_item(c, reply.parameters, reply.continues)) < 0) {
		varlink_reply_done(&reply);
		if (r == -ENOMEM)
			conn_fail(h, KMSCANCEL_E_NO_MEMORY, "out of memory reading a reply");
		else
			conn_fail(h, KMSCANCEL_E_PROTOCOL, "kmscanceld sent a malformed %s in a reply to %s",
				  c->kind == CALL_LIST_PENDING ? "key" : "event", call_method[c->kind]);
		return false;
	}
	if (reply.continues) {
		varlink_reply_done(&reply); /* the stream goes on: c still heads the FIFO */
		return true;
	}
	fifo_remove(h, c);
	if (call_is_waiting(c)) {
		call_set_reply(c, &reply);
		call_complete(c);
	}
	varlink_reply_done(&reply);
	call_release_if_unused(c);
	return true;
}

/* Split the input buffer into messages and handle them. */
static void conn_parse_input(kmscancel *h)
{
	size_t off = 0, len;
	int r;

	while ((r = varlink_frame_find(h->in + off, h->in_len - off, &len)) > 0) {
		if (!conn_handle_message(h, h->in + off, len))
			return; /* the buffer was reset */
		off += len + 1;
	}
	if (r < 0) {
		conn_fail(h, KMSCANCEL_E_PROTOCOL, "kmscanceld sent a message larger than %u bytes",
			  VARLINK_MESSAGE_MAX);
		return;
	}
	memmove(h->in, h->in + off, h->in_len - off);
	h->in_len -= off;
}

/* Read and handle what has arrived, until the socket would block. */
static void conn_read(kmscancel *h)
{
	while (h->fd >= 0) {
		ssize_t n = recv(h->fd, h->in + h->in_len, VARLINK_MESSAGE_MAX - h->in_len, MSG_DONTWAIT);

		if (n > 0) {
			h->heard = true;
			h->in_len += (size_t)n;
			conn_parse_input(h);
			if (!h->fifo_head && h->in_len == 0)
				h->heard = false; /* idle again */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (!h->fifo_head && n == 0) {
			conn_close(h); /* the daemon closed an idle connection: fine */
			return;
		}
		if ((n == 0 || errno == ECONNRESET || errno == EPIPE) && conn_resend(h))
			continue;
		if (n == 0) {
			conn_fail(h, KMSCANCEL_E_DISCONNECTED, "kmscanceld closed the connection before replying");
		} else {
			char buf[ERRNO_TEXT_MAX];

			conn_fail(h, KMSCANCEL_E_DISCONNECTED, "lost the connection to kmscanceld: %s",
				  errno_text(errno, buf));
		}
	}
}

/* Complete every waiting call whose time limit has passed. */
static void expire_calls(kmscancel *h)
{
	uint64_t now = 0;

	for (kmscancel_call *c = h->fifo_head, *next; c; c = next) {
		next = c->fifo_next;
		if (!call_is_waiting(c) || c->deadline == 0)
			continue;
		if (now == 0)
			now = monotime_usec();
		if (now >= c->deadline && call_is_waiting(c)) {
			c->drop_items = true;
			result_set_local(c->result, KMSCANCEL_E_TIMEOUT, "no answer from kmscanceld within %u ms",
					 c->timeout_ms);
			call_complete(c);
		}
	}
}

/* --- the asynchronous API ----------------------------------------------------------------------------------------- */

KMSCANCEL_API int kmscancel_get_fd(const kmscancel *h)
{
	return h ? h->fd : -1;
}

KMSCANCEL_API int kmscancel_get_events(const kmscancel *h)
{
	if (!h || h->fd < 0)
		return 0;
	return POLLIN | (h->first_unsent && !h->write_failed ? POLLOUT : 0);
}

KMSCANCEL_API int kmscancel_get_timeout(const kmscancel *h)
{
	uint64_t first = 0, now, ms;

	if (!h)
		return -1;
	if (h->notice_head || h->write_failed || stream_abandoned(h))
		return 0;
	for (const kmscancel_call *c = h->fifo_head; c; c = c->fifo_next)
		if (call_is_waiting(c) && c->deadline && (first == 0 || c->deadline < first))
			first = c->deadline;
	if (first == 0)
		return -1;
	now = monotime_usec();
	if (first <= now)
		return 0;
	/* Round up, so that poll() does not wake a hair early and spin. */
	ms = (first - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

KMSCANCEL_API size_t kmscancel_get_pending(const kmscancel *h)
{
	return h ? h->n_pending : 0;
}

KMSCANCEL_API kmscancel_error kmscancel_process(kmscancel *h)
{
	kmscancel_error broken;

	if (!h)
		return KMSCANCEL_E_INVALID_ARGUMENT;
	h->broken = KMSCANCEL_OK;
	conn_write(h);
	conn_read(h);
	if (h->fd >= 0 && h->write_failed)
		conn_fail(h, KMSCANCEL_E_DISCONNECTED, "kmscanceld stopped reading requests");
	expire_calls(h);
	conn_hangup_abandoned(h);
	/* Callbacks may run nested kmscancel_process() calls: take the
	 * answer before them. */
	broken = h->broken;
	dispatch_done(h);
	/* A callback may have cancelled the stream that heads the FIFO. */
	conn_hangup_abandoned(h);
	return broken;
}

KMSCANCEL_API void kmscancel_call_cancel(kmscancel_call *call)
{
	if (!call || !call_is_waiting(call))
		return;
	call->drop_items = true;
	call_fail(call, KMSCANCEL_E_CANCELED, "cancelled by the caller");
}

/* What to do about a failed connect, for the message: the daemon is not
 * running (nothing bound, or a stale socket), or the caller may not use its
 * socket (mode 0660, group kmscancel by default). */
static const char *connect_hint(int err)
{
	switch (err) {
	case ENOENT:
	case ECONNREFUSED:
		return " \u2014 is kmscanceld.socket running?";
	case EACCES:
	case EPERM:
		return " \u2014 is your user in the socket's group (kmscancel by default)?";
	case EAGAIN:
		return " \u2014 kmscanceld is overloaded; try again";
	default:
		return "";
	}
}

/* Queue a call of the given kind with parameters params (borrowed).
 * timeout_ms: the client-side limit, 0 for none. */
static kmscancel_error call_queue(kmscancel *h, enum call_kind kind, struct json_object *params, unsigned timeout_ms,
				  kmscancel_callback callback, void *userdata, kmscancel_call **ret_call)
{
	kmscancel_call *c;
	int r;

	if (h->closing)
		return KMSCANCEL_E_INVALID_ARGUMENT;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->result = calloc(1, sizeof(*c->result)))) {
		free(c);
		return KMSCANCEL_E_NO_MEMORY;
	}
	r = varlink_format_call(call_method[kind], params, kind_streams(kind) ? VARLINK_CALL_MORE : 0, &c->request,
				&c->request_len);
	if (r < 0) {
		call_free(c);
		return r == -ENOMEM ? KMSCANCEL_E_NO_MEMORY : KMSCANCEL_E_INVALID_ARGUMENT;
	}
	c->handle = h;
	c->kind = kind;
	c->state = CALL_QUEUED;
	c->callback = callback;
	c->userdata = userdata;
	c->timeout_ms = timeout_ms;
	c->deadline = timeout_ms ? monotime_usec() + timeout_ms * USEC_PER_MSEC : 0;
	h->n_pending++;

	/* Connect lazily; a failure is this call's outcome, reported through
	 * its callback like any other. */
	conn_drop_if_closed(h);
	if (h->fd < 0 && (r = conn_open(h)) < 0) {
		char buf[ERRNO_TEXT_MAX];

		result_set_local(c->result, KMSCANCEL_E_CONNECT, "cannot reach kmscanceld at %s: %s%s", h->socket_path,
				 errno_text(-r, buf), connect_hint(-r));
		call_complete(c);
	} else {
		fifo_append(h, c);
	}
	if (ret_call)
		*ret_call = c;
	return KMSCANCEL_OK;
}

/* The options actually given (size bytes at opts, their first a size_t
 * set by an INIT macro) into ret, whose size is ret_size and whose size
 * field is already set: fields beyond the caller's size keep their
 * defaults, so a binary built against an older header still works. */
static kmscancel_error options_read(const void *opts, void *ret, size_t ret_size)
{
	size_t size;

	if (!opts)
		return KMSCANCEL_OK;
	memcpy(&size, opts, sizeof(size));
	if (size < sizeof(size))
		return KMSCANCEL_E_INVALID_ARGUMENT; /* not initialised with the INIT macro */
	memcpy((char *)ret + sizeof(size), (const char *)opts + sizeof(size),
	       (size < ret_size ? size : ret_size) - sizeof(size));
	return KMSCANCEL_OK;
}

/* account and region, when given, as the daemon accepts them: a bad one
 * is the caller's error (KMSCANCEL_E_INVALID_ARGUMENT), found before
 * anything is sent. */
static bool key_options_valid(const char *account, const char *region)
{
	return (!account || keyid_account_is_valid(account)) && (!region || keyid_region_is_valid(region));
}

/* The parameters every key call has: keyId, and account and region when
 * given.  NULL when out of memory. */
static struct json_object *key_parameters(const char *key_id, const char *account, const char *region)
{
	struct json_object *p = json_object_new_object(), *s = json_object_new_string(key_id);

	if (!p || !s || json_object_object_add(p, "keyId", s) < 0) {
		json_object_put(p);
		json_object_put(s);
		return NULL;
	}
	if ((account && json_object_object_add(p, "account", json_object_new_string(account)) < 0) ||
	    (region && json_object_object_add(p, "region", json_object_new_string(region)) < 0)) {
		json_object_put(p);
		return NULL;
	}
	return p;
}

KMSCANCEL_API kmscancel_error kmscancel_cancel_key_deletion_async(kmscancel *h, const char *key_id,
								  const kmscancel_cancel_options *opts,
								  kmscancel_callback callback, void *userdata,
								  kmscancel_call **ret_call)
{
	kmscancel_cancel_options o = KMSCANCEL_CANCEL_OPTIONS_INIT;
	struct json_object *params = NULL;
	kmscancel_error e;
	unsigned timeout;
	bool ok;

	if (!h || !key_id || options_read(opts, &o, sizeof(o)) != KMSCANCEL_OK ||
	    !key_options_valid(o.account, o.region))
		return KMSCANCEL_E_INVALID_ARGUMENT;
	timeout = o.timeout_ms ? o.timeout_ms : h->timeout_ms;
	params = key_parameters(key_id, o.account, o.region);
	ok = params != NULL;
	if (ok && o.enable_key)
		ok = json_object_object_add(params, "enableKey", json_object_new_boolean(true)) == 0;
	if (ok && timeout)
		ok = json_object_object_add(params, "timeoutMs", json_object_new_int64(timeout)) == 0;
	if (ok && o.dry_run)
		ok = json_object_object_add(params, "dryRun", json_object_new_boolean(true)) == 0;
	e = ok ? call_queue(h, CALL_CANCEL_KEY_DELETION, params, timeout ? timeout + TIMEOUT_GRACE_MS : 0, callback,
			    userdata, ret_call)
	       : KMSCANCEL_E_NO_MEMORY;
	json_object_put(params);
	return e;
}

KMSCANCEL_API kmscancel_error kmscancel_describe_key_with_options_async(kmscancel *h, const char *key_id,
									const kmscancel_describe_options *opts,
									kmscancel_callback callback, void *userdata,
									kmscancel_call **ret_call)
{
	kmscancel_describe_options o = KMSCANCEL_DESCRIBE_OPTIONS_INIT;
	struct json_object *params;
	kmscancel_error e;
	unsigned timeout;

	if (!h || !key_id || options_read(opts, &o, sizeof(o)) != KMSCANCEL_OK ||
	    !key_options_valid(o.account, o.region))
		return KMSCANCEL_E_INVALID_ARGUMENT;
	timeout = o.timeout_ms ? o.timeout_ms : h->timeout_ms;
	params = key_parameters(key_id, o.account, o.region);
	if (params && timeout && json_object_object_add(params, "timeoutMs", json_object_new_int64(timeout)) < 0) {
		json_object_put(params);
		params = NULL;
	}
	if (!params)
		return KMSCANCEL_E_NO_MEMORY;
	/* As for a cancel: the daemon's own Timeout should win the race. */
	e = call_queue(h, CALL_DESCRIBE_KEY, params, timeout ? timeout + TIMEOUT_GRACE_MS : 0, callback, userdata,
		       ret_call);
	json_object_put(params);
	return e;
}

KMSCANCEL_API kmscancel_error kmscancel_describe_key_async(kmscancel *h, const char *key_id,
							   kmscancel_callback callback, void *userdata,
							   kmscancel_call **ret_call)
{
	return kmscancel_describe_key_with_options_async(h, key_id, NULL, callback, userdata, ret_call);
}

/* --- the streaming calls ------------------------------------------------------------------------------------------ */

/* The parameters of ListPendingDeletions; NULL when out of memory. */
static struct json_object *pending_parameters(const kmscancel_pending_options *o, unsigned timeout)
{
	struct json_object *p = json_object_new_object();

	if (p && ((o->account && json_object_object_add(p, "account", json_object_new_string(o->account)) < 0) ||
		  (o->region && json_object_object_add(p, "region", json_object_new_string(o->region)) < 0) ||
		  (timeout && json_object_object_add(p, "timeoutMs", json_object_new_int64(timeout)) < 0))) {
		json_object_put(p);
		return NULL;
	}
	return p;
}

KMSCANCEL_API kmscancel_error kmscancel_list_pending_deletions_async(kmscancel *h,
								     const kmscancel_pending_options *opts,
								     kmscancel_pending_key_callback key_callback,
								     kmscancel_callback callback, void *userdata,
								     kmscancel_call **ret_call)
{
	kmscancel_pending_options o = KMSCANCEL_PENDING_OPTIONS_INIT;
	kmscancel_call *c = NULL;
	struct json_object *params;
	kmscancel_error e;
	unsigned timeout;

	if (!h || options_read(opts, &o, sizeof(o)) != KMSCANCEL_OK || !key_options_valid(o.account, o.region))
		return KMSCANCEL_E_INVALID_ARGUMENT;
	timeout = o.timeout_ms ? o.timeout_ms : h->timeout_ms;
	params = pending_parameters(&o, timeout);
	if (!params)
		return KMSCANCEL_E_NO_MEMORY;
	/* As for a cancel: the daemon's own Timeout should win the race. */
	e = call_queue(h, CALL_LIST_PENDING, params, timeout ? timeout + TIMEOUT_GRACE_MS : 0, callback, userdata, &c);
	json_object_put(params);
	if (e != KMSCANCEL_OK)
		return e;
	c->key_callback = key_callback;
	c->item_userdata = userdata;
	if (ret_call)
		*ret_call = c;
	return KMSCANCEL_OK;
}

KMSCANCEL_API kmscancel_error kmscancel_watch_guard_async(kmscancel *h, const kmscancel_watch_options *opts,
							  kmscancel_guard_event_callback event_callback,
							  kmscancel_callback callback, void *userdata,
							  kmscancel_call **ret_call)
{
	kmscancel_watch_options o = KMSCANCEL_WATCH_OPTIONS_INIT;
	kmscancel_call *c = NULL;
	kmscancel_error e;

	if (!h || options_read(opts, &o, sizeof(o)) != KMSCANCEL_OK)
		return KMSCANCEL_E_INVALID_ARGUMENT;
	/* WatchGuard takes no parameters; the limit is the library's alone. */
	e = call_queue(h, CALL_WATCH_GUARD, NULL, o.timeout_ms, callback, userdata, &c);
	if (e != KMSCANCEL_OK)
		return e;
	c->event_callback = event_callback;
	c->item_userdata = userdata;
	if (ret_call)
		*ret_call = c;
	return KMSCANCEL_OK;
}

/* --- the blocking API ----------------------------------------------------------------------------------------------
 */

struct wait_slot {
	bool done;
	kmscancel_result *result;
};

static void wait_slot_fill(kmscancel *h, kmscancel_call *call, kmscancel_result *result, void *userdata)
{
	struct wait_slot *slot = userdata;

	slot->done = true;
	slot->result = result;
}

/* Drive h until the call reporting to slot has completed; hand its result
 * to *ret (or free it). */
static kmscancel_error wait_for(kmscancel *h, struct wait_slot *slot, kmscancel_result **ret)
{
	kmscancel_error e;

	for (;;) {
		struct pollfd p;
		int timeout;

		kmscancel_process(h);
		if (slot->done)
			break;
		p = (struct pollfd){.fd = h->fd, .events = (short)kmscancel_get_events(h)};
		timeout = kmscancel_get_timeout(h);
		/* A waiting call is either on the connection or already
		 * completed (timeout 0), so this never sleeps forever. */
		if (poll(&p, h->fd >= 0 ? 1 : 0, timeout) < 0 && errno != EINTR && errno != EAGAIN) {
			char buf[ERRNO_TEXT_MAX];

			conn_fail(h, KMSCANCEL_E_DISCONNECTED, "poll: %s", errno_text(errno, buf));
		}
	}
	e = slot->result->error;
	if (ret)
		*ret = slot->result;
	else
		kmscancel_result_free(slot->result);
	return e;
}

/* The common frame of the blocking calls: *ret is NULL unless a result
 * exists. */
static kmscancel_error wait_queued(kmscancel *h, kmscancel_error queued, struct wait_slot *slot, kmscancel_result **ret)
{
	if (queued != KMSCANCEL_OK) {
		if (ret)
			*ret = NULL;
		return queued;
	}
	return wait_for(h, slot, ret);
}

KMSCANCEL_API kmscancel_error kmscancel_cancel_key_deletion(kmscancel *h, const char *key_id,
							    const kmscancel_cancel_options *opts,
							    kmscancel_result **ret)
{
	struct wait_slot slot = {0};

	return wait_queued(h, kmscancel_cancel_key_deletion_async(h, key_id, opts, wait_slot_fill, &slot, NULL), &slot,
			   ret);
}

KMSCANCEL_API kmscancel_error kmscancel_describe_key(kmscancel *h, const char *key_id, kmscancel_result **ret)
{
	struct wait_slot slot = {0};

	return wait_queued(h, kmscancel_describe_key_async(h, key_id, wait_slot_fill, &slot, NULL), &slot, ret);
}

KMSCANCEL_API kmscancel_error kmscancel_describe_key_with_options(kmscancel *h, const char *key_id,
								  const kmscancel_describe_options *opts,
								  kmscancel_result **ret)
{
	struct wait_slot slot = {0};

	return wait_queued(h, kmscancel_describe_key_with_options_async(h, key_id, opts, wait_slot_fill, &slot, NULL),
			   &slot, ret);
}

KMSCANCEL_API kmscancel_error kmscancel_list_pending_deletions(kmscancel *h, const kmscancel_pending_options *opts,
							       kmscancel_pending_key_callback key_callback,
							       void *userdata, kmscancel_result **ret)
{
	struct wait_slot slot = {0};
	kmscancel_call *c = NULL;
	kmscancel_error e = kmscancel_list_pending_deletions_async(h, opts, key_callback, wait_slot_fill, &slot, &c);

	/* The keys go to the caller's userdata, the outcome to the slot. */
	if (e == KMSCANCEL_OK)
		c->item_userdata = userdata;
	return wait_queued(h, e, &slot, ret);
}

KMSCANCEL_API kmscancel_error kmscancel_get_status(kmscancel *h, kmscancel_result **ret)
{
	struct wait_slot slot = {0};

	if (!h) {
		if (ret)
			*ret = NULL;
		return KMSCANCEL_E_INVALID_ARGUMENT;
	}
	return wait_queued(h, call_queue(h, CALL_GET_STATUS, NULL, h->timeout_ms, wait_slot_fill, &slot, NULL), &slot,
			   ret);
}

/* --- the handle ----------------------------------------------------------------------------------------------------
 */

static const char *socket_path_default(void)
{
	const char *e = secure_getenv(KMSCANCEL_SOCKET_ENV);

	return e && *e ? e : KMSCANCEL_DEFAULT_SOCKET;
}

KMSCANCEL_API kmscancel_error kmscancel_open(const char *socket_path, kmscancel **ret)
{
	kmscancel *h;

	if (!ret || (socket_path && !*socket_path))
		return KMSCANCEL_E_INVALID_ARGUMENT;
	h = calloc(1, sizeof(*h));
	if (!h)
		return KMSCANCEL_E_NO_MEMORY;
	h->fd = -1;
	h->socket_path = strdup(socket_path ? socket_path : socket_path_default());
	h->in = malloc(VARLINK_MESSAGE_MAX);
	if (!h->socket_path || !h->in) {
		kmscancel_close(h);
		return KMSCANCEL_E_NO_MEMORY;
	}
	*ret = h;
	return KMSCANCEL_OK;
}

KMSCANCEL_API void kmscancel_close(kmscancel *h)
{
	if (!h)
		return;
	h->closing = true;
	for (kmscancel_call *c = h->fifo_head, *next; c; c = next) {
		next = c->fifo_next; /* call_fail() may take c out of the FIFO */
		c->drop_items = true;
		call_fail(c, KMSCANCEL_E_CANCELED, "the handle was closed");
	}
	dispatch_done(h);
	while (h->fifo_head) {
		kmscancel_call *c = h->fifo_head;

		fifo_remove(h, c);
		call_release_if_unused(c);
	}
	conn_close(h);
	free(h->in);
	free(h->socket_path);
	free(h);
}

KMSCANCEL_API const char *kmscancel_get_socket_path(const kmscancel *h)
{
	return h ? h->socket_path : NULL;
}

KMSCANCEL_API kmscancel_error kmscancel_set_timeout(kmscancel *h, unsigned timeout_ms)
{
	if (!h)
		return KMSCANCEL_E_INVALID_ARGUMENT;
	h->timeout_ms = timeout_ms;
	return KMSCANCEL_OK;
}
