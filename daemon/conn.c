/* SPDX-License-Identifier: MIT */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <json-c/json.h>

#include "log.h"
#include "monotime.h"
#include "peer.h"
#include "varlink.h"

struct call {
	TAILQ_ENTRY(call) entry; /* in conn->calls, arrival order */
	struct conn *conn;       /* holds a reference */
	enum call_state state;
	struct varlink_call msg;
	struct evbuffer *pending; /* replies made before earlier calls finished */
};

struct conn {
	const struct conn_env *env;
	unsigned n_ref; /* the open socket + one per call */
	unsigned id;    /* for log lines only */
	enum conn_state state;
	bool eof;     /* the peer shut down its write side */
	bool freeing; /* inside conn_free(): no callbacks, no self-destruction */
	struct peer peer;
	struct bufferevent *bev;     /* NULL once closed */
	struct event *partial_timer; /* a started message must complete in time */
	struct event *idle_timer;    /* nothing to do for idle_timeout_ms: close */
	struct event *resume_ev;     /* re-run input processing from the loop */
	TAILQ_HEAD(, call) calls;
	unsigned n_calls;
	size_t scanned; /* input bytes already known to contain no NUL */
};

static const char *const conn_state_table[_CONN_STATE_MAX] = {
    [CONN_RUNNING] = "running",
    [CONN_SHUTTING_DOWN] = "shutting-down",
    [CONN_CLOSED] = "closed",
};

static const char *const call_state_table[_CALL_STATE_MAX] = {
    [CALL_RUNNING] = "running",
    [CALL_DONE] = "done",
};

/* Connection numbers in log lines; the daemon is single-threaded. */
static unsigned next_conn_id;

const char *conn_state_to_string(enum conn_state s)
{
	return (unsigned)s < _CONN_STATE_MAX ? conn_state_table[s] : NULL;
}

const char *call_state_to_string(enum call_state s)
{
	return (unsigned)s < _CALL_STATE_MAX ? call_state_table[s] : NULL;
}

static void conn_process(struct conn *c);

/* --- lifetime ------------------------------------------------------------------ */

static void conn_set_state(struct conn *c, enum conn_state s)
{
	if (c->state == s)
		return;
	log_debug("conn %u: %s -> %s", c->id, conn_state_to_string(c->state), conn_state_to_string(s));
	c->state = s;
}

static struct conn *conn_ref(struct conn *c)
{
	c->n_ref++;
	return c;
}

static void conn_destroy(struct conn *c)
{
	if (c->partial_timer)
		event_free(c->partial_timer);
	if (c->idle_timer)
		event_free(c->idle_timer);
	if (c->resume_ev)
		event_free(c->resume_ev);
	if (c->bev)
		bufferevent_free(c->bev);
	free(c);
}

/* Drop a reference; the last one frees c, after telling the owner. */
static void conn_unref(struct conn *c)
{
	if (--c->n_ref > 0 || c->freeing)
		return;
	log_debug("conn %u: freed", c->id);
	c->env->ops->freed(c, c->env->owner);
	conn_destroy(c);
}

/* A call stopped running (answered, or freed with its connection): the
 * owner's per-uid count goes down with the total.  Not while conn_free()
 * tears the owner down: nothing may be woken then. */
static void call_ended(struct conn *c)
{
	c->env->stats->calls_in_flight--;
	if (!c->freeing)
		c->env->ops->call_ended(c, c->env->owner);
}

static bool call_oneway(const struct call *call)
{
	return call->msg.flags & VARLINK_CALL_ONEWAY;
}

/* Unlink and free call, dropping its reference on the connection (which may
 * free the connection: callers that go on using it hold their own ref). */
static void call_free(struct call *call)
{
	struct conn *c = call->conn;

	TAILQ_REMOVE(&c->calls, call, entry);
	c->n_calls--;
	if (call->state == CALL_RUNNING)
		call_ended(c);
	varlink_call_done(&call->msg);
	if (call->pending)
		evbuffer_free(call->pending);
	free(call);
	conn_unref(c);
}

/*
 * Close the socket now.  Calls waiting only for their turn to be written are
 * freed; running ones stay, abandoned, until their handlers complete them.
 * May free c when nothing else holds it.
 */
static void conn_close(struct conn *c, const char *why)
{
	struct call *call, *next;

	if (c->state == CONN_CLOSED)
		return;
	log_debug("conn %u: closing: %s", c->id, why);
	conn_set_state(c, CONN_CLOSED);
	bufferevent_free(c->bev);
	c->bev = NULL;
	event_del(c->partial_timer);
	event_del(c->idle_timer);
	event_del(c->resume_ev);
	conn_ref(c);
	for (call = TAILQ_FIRST(&c->calls); call; call = next) {
		next = TAILQ_NEXT(call, entry);
		if (call->state == CALL_DONE)
			call_free(call);
	}
	c->env->ops->closed(c, c->env->owner);
	conn_unref(c); /* the one just taken */
	conn_unref(c); /* the socket's */
}

struct conn *conn_free(struct conn *c)
{
	if (!c)
		return NULL;
	assert(!c->freeing);
	c->freeing = true;
	c->state = CONN_CLOSED;
	while (!TAILQ_EMPTY(&c->calls))
		call_free(TAILQ_FIRST(&c->calls));
	conn_destroy(c);
	return NULL;
}

/* Close once a shutdown has answered everything and flushed it. */
static void conn_maybe_finish(struct conn *c)
{
	if (c->state == CONN_SHUTTING_DOWN && c->n_calls == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_close(c, "all calls answered");
}

void conn_shutdown(struct conn *c)
{
	assert(c);
	if (c->state != CONN_RUNNING)
		return;
	conn_set_state(c, CONN_SHUTTING_DOWN);
	bufferevent_disable(c->bev, EV_READ);
	/* Bytes not yet decoded were never accepted as calls. */
	evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
	event_del(c->partial_timer);
	event_del(c->idle_timer);
	conn_maybe_finish(c);
}

/*
 * Lines about a misbehaving client: one per second at most, the next one
 * saying how many were left out.  Whoever can connect can provoke them at
 * will (garbage, half a message, unread replies), and journald drops a
 * service's messages beyond its rate limit (RateLimitBurst=, 10,000 per
 * 30 s by default) whatever they are: a flood of these lines would take
 * every other user's audit records with them.  The server's statistics
 * still count each protocol error.
 */
static struct {
	uint64_t second;
	unsigned long suppressed;
} client_log = {.second = UINT64_MAX};

static void log_client(const struct conn *c, const char *what)
{
	uint64_t now = monotime_sec();

	if (now == client_log.second) {
		client_log.suppressed++;
		return;
	}
	client_log.second = now;
	if (client_log.suppressed)
		log_info("Varlink client pid %d uid %u (%s): %s (and %lu such lines about clients left out in the "
			 "second before)",
			 (int)c->peer.pid, (unsigned)c->peer.uid, peer_comm(&c->peer), what, client_log.suppressed);
	else
		log_info("Varlink client pid %d uid %u (%s): %s", (int)c->peer.pid, (unsigned)c->peer.uid,
			 peer_comm(&c->peer), what);
	client_log.suppressed = 0;
}

static void conn_protocol_error(struct conn *c, const char *why)
{
	char what[160];

	c->env->stats->protocol_errors++;
	snprintf(what, sizeof(what), "%s; closing the connection", why);
	log_client(c, what);
	conn_shutdown(c);
}

/* --- output ---------------------------------------------------------------------- */

static void free_reply(const void *data, size_t len, void *extra)
{
	free((void *)data);
}

/* Queue msg (ownership passes) behind call's earlier replies. */
static int call_queue_reply(struct call *call, char *msg, size_t len)
{
	if (call->conn->state == CONN_CLOSED || call_oneway(call)) {
		free(msg);
		return 0;
	}
	if (!call->pending)
		call->pending = evbuffer_new();
	if (!call->pending || evbuffer_add_reference(call->pending, msg, len, free_reply, NULL) < 0) {
		free(msg);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Writes what it can of data straight to the socket while the bufferevent
 * has nothing queued (else the order would break).  A reply then leaves at
 * once, without arming a write event, waiting a loop turn for it and
 * disarming it: three system calls and a loop turn of latency per call.
 * What the socket does not take stays in data for the bufferevent, which
 * also meets any error on its own write.
 */
static void conn_write_through(struct conn *c, struct evbuffer *data)
{
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		(void)evbuffer_write(data, bufferevent_getfd(c->bev));
}

/*
 * Move replies to the socket in call order: the first call that expects a
 * reply may write; calls behind it wait until it is done.  Oneway calls are
 * skipped (they never write).  Drops a peer whose unread output exceeds the
 * limit.  Returns 0, or -ENOMEM after closing c.
 */
static int conn_flush(struct conn *c)
{
	struct evbuffer *out;
	struct call *call, *next;

	if (c->state == CONN_CLOSED)
		return 0;
	out = bufferevent_get_output(c->bev);
	for (call = TAILQ_FIRST(&c->calls); call; call = next) {
		next = TAILQ_NEXT(call, entry);
		if (call_oneway(call))
			continue;
		if (call->pending)
			conn_write_through(c, call->pending);
		if (call->pending && evbuffer_add_buffer(out, call->pending) < 0) {
			conn_close(c, "out of memory");
			return -ENOMEM;
		}
		if (call->state != CALL_DONE)
			break;
		call_free(call);
	}
	if (evbuffer_get_length(out) > c->env->limits->output_max) {
		log_client(c, "does not read its replies; dropping it");
		conn_close(c, "output limit");
	}
	return 0;
}

/* After a completion or a flush: resume reading, or finish a shutdown. */
static void conn_after_progress(struct conn *c)
{
	if (c->state == CONN_RUNNING)
		event_active(c->resume_ev, 0, 0);
	else
		conn_maybe_finish(c);
}

void call_emit(struct call *call, enum call_emit kind, char *msg, size_t len)
{
	struct conn *c;
	bool final = kind != CALL_EMIT_CONTINUES, broken;

	assert(call && call->state == CALL_RUNNING);
	c = call->conn;
	broken = !msg && !call_oneway(call) && c->state != CONN_CLOSED;
	conn_ref(c);
	if (kind == CALL_EMIT_ERROR)
		c->env->stats->error_replies++;
	if (msg && call_queue_reply(call, msg, len) < 0)
		broken = true;
	if (final) {
		log_debug("conn %u: %s %s -> %s", c->id, call->msg.method, call_state_to_string(call->state),
			  call_state_to_string(CALL_DONE));
		call->state = CALL_DONE;
		call_ended(c);
		if (c->state == CONN_CLOSED || call_oneway(call))
			call_free(call);
	}
	if (broken)
		conn_close(c, "a reply could not be built");
	else if (conn_flush(c) == 0)
		conn_after_progress(c);
	conn_unref(c);
}

/* --- input ----------------------------------------------------------------------- */

/* Too much in flight to take another call: back-pressure, not an error. */
static bool conn_blocked(struct conn *c)
{
	return c->n_calls >= c->env->limits->calls_per_connection_max ||
	       c->env->ops->uid_busy(c->peer.uid, c->env->owner) ||
	       evbuffer_get_length(bufferevent_get_output(c->bev)) >= c->env->limits->message_max;
}

/*
 * Find the NUL ending the next message, scanning only bytes not scanned
 * before (a message dribbled in byte by byte costs linear time).  Returns 1
 * with its length, 0 if more input is needed, -EMSGSIZE if message_max bytes
 * hold no NUL.
 */
static int conn_next_frame(struct conn *c, size_t *ret_len)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in), max = c->env->limits->message_max;
	size_t window = len < max ? len : max;
	struct evbuffer_ptr start, end, hit;

	if (window > c->scanned) {
		if (evbuffer_ptr_set(in, &start, c->scanned, EVBUFFER_PTR_SET) < 0)
			return -EIO;
		if (window < len) {
			if (evbuffer_ptr_set(in, &end, window, EVBUFFER_PTR_SET) < 0)
				return -EIO;
			hit = evbuffer_search_range(in, "", 1, &start, &end);
		} else
			hit = evbuffer_search_range(in, "", 1, &start, NULL);
		if (hit.pos >= 0) {
			*ret_len = (size_t)hit.pos;
			return 1;
		}
		c->scanned = window;
	}
	return len >= max ? -EMSGSIZE : 0;
}

/* Take the message of length len (plus its NUL) off the input and decode it. */
static int conn_decode(struct conn *c, size_t len, struct varlink_call *ret)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	const char *buf;
	int r;

	buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)(len + 1));
	if (!buf)
		return -ENOMEM;
	r = varlink_call_parse_with(c->env->tokener, buf, len, ret);
	evbuffer_drain(in, len + 1);
	c->scanned = 0;
	return r;
}

/* Queue a decoded call (ownership of *msg passes) and hand it to the
 * owner's dispatcher. */
static int conn_dispatch(struct conn *c, struct varlink_call *msg)
{
	struct call *call = calloc(1, sizeof(*call));

	if (!call) {
		varlink_call_done(msg);
		return -ENOMEM;
	}
	call->msg = *msg;
	call->state = CALL_RUNNING;
	call->conn = conn_ref(c);
	TAILQ_INSERT_TAIL(&c->calls, call, entry);
	c->n_calls++;
	c->env->stats->calls_total++;
	c->env->stats->calls_in_flight++;
	c->env->ops->call_started(c, c->env->owner);
	log_debug("conn %u: call %s%s%s", c->id, call->msg.method, call_oneway(call) ? " (oneway)" : "",
		  (call->msg.flags & VARLINK_CALL_MORE) ? " (more)" : "");
	c->env->ops->dispatch(call, c->env->owner);
	return 0;
}

/* Decode and dispatch one call.  Returns 1 if one was dispatched, 0 if more
 * input is needed or the connection stopped reading. */
static int conn_read_one(struct conn *c)
{
	struct varlink_call msg;
	size_t len;
	int r;

	r = conn_next_frame(c, &len);
	if (r == 0 && c->eof)
		conn_shutdown(c); /* what is left is a fragment that will never complete */
	if (r == -EMSGSIZE)
		conn_protocol_error(c, "message larger than the limit");
	else if (r < 0)
		conn_close(c, "input error");
	if (r <= 0)
		return 0;

	r = conn_decode(c, len, &msg);
	if (r == -ENOMEM) {
		conn_close(c, "out of memory");
		return 0;
	}
	if (r < 0) {
		conn_protocol_error(c, r == -EINVAL ? "invalid method name" : "malformed message");
		return 0;
	}
	if (msg.flags & VARLINK_CALL_UPGRADE) {
		varlink_call_done(&msg);
		conn_protocol_error(c, "protocol upgrade requested, none is offered");
		return 0;
	}
	if (conn_dispatch(c, &msg) < 0) {
		conn_close(c, "out of memory");
		return 0;
	}
	return 1;
}

/*
 * Idle: running, no call (in flight or waiting to be written), nothing
 * unsent, nothing unread in our buffer.  Unread bytes still in the socket
 * are checked when the timer fires (conn_idle_timeout_cb).
 */
static bool conn_is_idle(struct conn *c)
{
	return c->state == CONN_RUNNING && c->n_calls == 0 &&
	       evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
	       evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
}

/* Starts the idle clock when c becomes idle, stops it when it is not.  A
 * clock already running keeps running: idleness counts from its start. */
static void conn_update_idle(struct conn *c)
{
	const struct timeval *tv = c->env->idle_timeout;

	if (!tv)
		return;
	if (!conn_is_idle(c))
		event_del(c->idle_timer);
	else if (!evtimer_pending(c->idle_timer, NULL))
		evtimer_add(c->idle_timer, tv);
}

/* Read enabling, the partial-message and idle timers, after input was
 * processed. */
static void conn_update_reading(struct conn *c, bool consumed)
{
	size_t buffered = evbuffer_get_length(bufferevent_get_input(c->bev));
	unsigned ms = c->env->limits->partial_message_timeout_ms;
	struct timeval tv = timeval_from_msec(ms);

	conn_update_idle(c);
	if (conn_blocked(c)) {
		/* Waiting on us, not on the peer: no timer. */
		bufferevent_disable(c->bev, EV_READ);
		event_del(c->partial_timer);
		return;
	}
	if (!c->eof)
		bufferevent_enable(c->bev, EV_READ);
	if (buffered == 0)
		event_del(c->partial_timer);
	else if (consumed || !evtimer_pending(c->partial_timer, NULL))
		evtimer_add(c->partial_timer, &tv); /* the clock starts with the message */
}

/* Decode and dispatch every complete message the limits allow. */
static void conn_process(struct conn *c)
{
	bool consumed = false;

	conn_ref(c);
	while (c->state == CONN_RUNNING && !conn_blocked(c) && conn_read_one(c) > 0)
		consumed = true;
	if (c->state == CONN_RUNNING)
		conn_update_reading(c, consumed);
	conn_unref(c);
}

/* --- libevent callbacks -------------------------------------------------------------- */

static void read_cb(struct bufferevent *bev, void *data)
{
	conn_process(data);
}

/* Output fully written (write low watermark 0). */
static void write_cb(struct bufferevent *bev, void *data)
{
	struct conn *c = data;

	conn_ref(c);
	if (c->state == CONN_RUNNING)
		conn_process(c); /* reading may have paused for the backlog */
	else
		conn_maybe_finish(c);
	conn_unref(c);
}

/*
 * At EOF: did the peer close its end altogether, rather than only shut
 * down its writing side?  Then no reply can reach it, and the calls still
 * running (a ListPendingDeletions scan with nothing to send yet, a
 * WatchGuard between events) must learn now that they are abandoned, not
 * when they next write.  Linux reports POLLHUP on a Unix socket whose peer
 * is closed, and not after a mere shutdown(SHUT_WR).  Only once every
 * complete call in the input has been dispatched: a oneway call sent just
 * before the close still runs, as do the calls in flight (only their
 * replies are dropped).
 */
static bool peer_is_gone(struct conn *c)
{
	struct pollfd p = {.fd = bufferevent_getfd(c->bev), .events = 0};

	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		return false;
	return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
}

static void event_cb(struct bufferevent *bev, short what, void *data)
{
	struct conn *c = data;

	if (what & BEV_EVENT_EOF) {
		/* Half-close: answer what was sent, then close (as sd-varlink). */
		c->eof = true;
		conn_ref(c);
		if (c->state == CONN_RUNNING)
			conn_process(c);
		else
			conn_maybe_finish(c);
		if (c->state != CONN_CLOSED && peer_is_gone(c))
			conn_close(c, "the peer hung up");
		conn_unref(c);
	} else if (what & BEV_EVENT_ERROR)
		conn_close(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else if (what & BEV_EVENT_TIMEOUT) {
		log_client(c, "write timed out; dropping it");
		conn_close(c, "write timeout");
	}
}

static void partial_timeout_cb(evutil_socket_t fd, short what, void *data)
{
	struct conn *c = data;

	log_client(c, "left a message incomplete; closing the connection");
	conn_close(c, "partial message timeout");
}

static void resume_cb(evutil_socket_t fd, short what, void *data)
{
	conn_process(data);
}

/*
 * The connection had nothing to do for idle_timeout_ms: close it, unless
 * the peer has just sent something we have not read yet.
 *
 * This is what makes libkmscancel's transparent reconnect safe: an idle
 * connection is closed only while no call of it was ever read and left
 * unanswered — no call in flight, nothing in our input buffer, and (checked
 * here, with FIONREAD) nothing in the socket's receive queue.  The daemon is
 * single-threaded, so nothing is read between that check and the close.  A
 * request the client wrote meanwhile therefore reached no handler: the
 * client sees EOF, or ECONNRESET if its bytes were still queued when we
 * closed, with no byte of a reply, and may send it again on a new
 * connection.
 */
static void idle_timeout_cb(evutil_socket_t fd, short what, void *data)
{
	struct conn *c = data;
	int unread = 0;

	if (!conn_is_idle(c))
		return;
	if (ioctl(bufferevent_getfd(c->bev), FIONREAD, &unread) < 0 || unread > 0) {
		/* Input is on its way: the read callback takes it from here
		 * (or, while reading is paused, conn_resume() does). */
		return;
	}
	c->env->stats->connections_idle_closed++;
	log_debug("conn %u: pid %d uid %u (%s) idle for %ld ms", c->id, (int)c->peer.pid, (unsigned)c->peer.uid,
		  c->peer.comm, (long)c->env->idle_timeout->tv_sec * 1000 + c->env->idle_timeout->tv_usec / 1000);
	conn_close(c, "idle timeout");
}

/* --- construction ------------------------------------------------------------------ */

int conn_new(const struct conn_env *env, int fd, const struct peer *peer, struct conn **ret)
{
	unsigned ms;
	struct timeval wt;
	struct conn *c;

	assert(env && env->base && env->limits && env->stats && env->tokener && env->ops && peer && ret);
	assert(env->ops->dispatch && env->ops->closed && env->ops->freed && env->ops->call_started &&
	       env->ops->call_ended && env->ops->uid_busy);
	ms = env->limits->write_timeout_ms;
	wt = timeval_from_msec(ms);
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->env = env;
	c->n_ref = 1;
	c->id = ++next_conn_id;
	c->peer = *peer;
	c->state = CONN_RUNNING;
	TAILQ_INIT(&c->calls);
	c->partial_timer = evtimer_new(env->base, partial_timeout_cb, c);
	c->resume_ev = event_new(env->base, -1, 0, resume_cb, c);
	c->idle_timer = evtimer_new(env->base, idle_timeout_cb, c);
	if (!c->partial_timer || !c->resume_ev || !c->idle_timer)
		goto fail;
	c->bev = bufferevent_socket_new(env->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		goto fail;
	fd = -1; /* the bufferevent owns it now */
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	/* Never buffer more than one maximal message of input. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, env->limits->message_max);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (bufferevent_set_timeouts(c->bev, NULL, ms ? &wt : NULL) < 0 || bufferevent_enable(c->bev, EV_READ) < 0)
		goto fail;
	conn_update_idle(c);
	log_debug("conn %u: pid %d uid %u gid %u (%s) connected", c->id, (int)peer->pid, (unsigned)peer->uid,
		  (unsigned)peer->gid, peer_comm(peer));
	*ret = c;
	return 0;
fail:
	if (fd >= 0)
		evutil_closesocket(fd);
	if (c)
		conn_destroy(c);
	return -ENOMEM;
}

void conn_resume(struct conn *c)
{
	assert(c);
	if (c->state == CONN_RUNNING && !c->freeing)
		event_active(c->resume_ev, 0, 0);
}

const struct peer *conn_peer(const struct conn *c)
{
	assert(c);
	return &c->peer;
}

enum conn_state conn_get_state(const struct conn *c)
{
	assert(c);
	return c->state;
}

/* --- the call accessors of call.h --------------------------------------------------------- */

const struct peer *call_peer(const struct call *call)
{
	assert(call);
	return &call->conn->peer;
}

const char *call_method(const struct call *call)
{
	assert(call);
	return call->msg.method;
}

struct json_object *call_parameters(const struct call *call)
{
	assert(call);
	return call->msg.parameters;
}

bool call_is_oneway(const struct call *call)
{
	assert(call);
	return call_oneway(call);
}

bool call_wants_more(const struct call *call)
{
	assert(call);
	return call->msg.flags & VARLINK_CALL_MORE;
}

bool call_is_abandoned(const struct call *call)
{
	assert(call);
	return call->conn->state == CONN_CLOSED;
}
