/* SPDX-License-Identifier: MIT */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "server.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <json-c/json.h>

#include "conn.h"
#include "log.h"
#include "monotime.h"
#include "peer.h"
#include "server-socket.h"
#include "varlink.h"

struct uid_usage {
	uid_t uid;
	unsigned connections; /* open, not closed */
	unsigned calls;       /* dispatched and not yet answered, abandoned ones too */
};

struct listener {
	struct evconnlistener *l;
	struct bound_path bound; /* .path NULL for adopted fds */
};

struct server {
	struct event_base *base;
	struct server_limits limits;
	struct server_stats stats;
	struct conn_env env;
	const struct method *methods; /* what varlink_service_dispatch() routes to */
	void *userdata;               /* for the handlers */

	struct listener *listeners;
	size_t n_listeners;
	struct event *backoff_timer; /* re-enables accepting after EMFILE & co */
	int fd_ceiling;              /* accepted fds at or above this are refused; INT_MAX: no check */
	time_t last_reject_log;      /* one rejection line per second at most */

	struct conn **conns; /* open and closed-but-busy connections */
	size_t n_conns, cap_conns;

	/* What each uid holds: open connections and calls in flight.  An
	 * entry goes when both are zero, so there are never more entries
	 * than connections. */
	struct uid_usage *uids;
	size_t n_uids, cap_uids;

	bool draining;
	bool drained_fired;
	struct event *drained_ev;
	server_drained_fn drained_fn;
	void *drained_userdata;
};

void server_limits_init(struct server_limits *l)
{
	assert(l);
	*l = (struct server_limits){
	    .message_max = VARLINK_MESSAGE_MAX,
	    .connections_max = SERVER_CONNECTIONS_MAX,
	    .connections_per_uid_max = SERVER_CONNECTIONS_PER_UID_MAX,
	    .calls_per_connection_max = SERVER_CALLS_PER_CONNECTION_MAX,
	    .calls_per_uid_max = SERVER_CALLS_PER_UID_MAX,
	    .output_max = SERVER_OUTPUT_MAX,
	    .partial_message_timeout_ms = SERVER_PARTIAL_MESSAGE_TIMEOUT_MS,
	    .write_timeout_ms = SERVER_WRITE_TIMEOUT_MS,
	    .accept_backoff_ms = SERVER_ACCEPT_BACKOFF_MS,
	    .idle_timeout_ms = SERVER_IDLE_TIMEOUT_MS,
	};
}

/* --- connections: the owner operations of conn.h ------------------------------------------ */

static void server_check_drained(struct server *s)
{
	if (s->draining && s->n_conns == 0 && !s->drained_fired) {
		s->drained_fired = true;
		event_active(s->drained_ev, 0, 0);
	}
}

/* --- per-uid usage ------------------------------------------------------------------------- */

static struct uid_usage *uid_find(struct server *s, uid_t uid)
{
	for (size_t i = 0; i < s->n_uids; i++)
		if (s->uids[i].uid == uid)
			return &s->uids[i];
	return NULL;
}

/* The entry of uid, made if needed; NULL only when out of memory. */
static struct uid_usage *uid_get(struct server *s, uid_t uid)
{
	struct uid_usage *u = uid_find(s, uid);

	if (u)
		return u;
	if (s->n_uids == s->cap_uids) {
		size_t cap = s->cap_uids ? s->cap_uids * 2 : 16;
		struct uid_usage *n = realloc(s->uids, cap * sizeof(*n));

		if (!n)
			return NULL;
		s->uids = n;
		s->cap_uids = cap;
	}
	u = &s->uids[s->n_uids++];
	*u = (struct uid_usage){.uid = uid};
	return u;
}

static void uid_put(struct server *s, struct uid_usage *u)
{
	if (u->connections == 0 && u->calls == 0)
		*u = s->uids[--s->n_uids];
}

static void conn_closed(struct conn *c, void *data)
{
	struct server *s = data;
	struct uid_usage *u = uid_find(s, conn_peer(c)->uid);

	s->stats.connections--;
	if (u) {
		u->connections--;
		uid_put(s, u);
	}
}

static void uid_call_started(struct conn *c, void *data)
{
	struct server *s = data;
	struct uid_usage *u = uid_find(s, conn_peer(c)->uid);

	/* The connection's own entry exists while it is open, and calls are
	 * dispatched only on open connections. */
	if (u)
		u->calls++;
}

/* A call of uid ended.  If uid was at its limit, its connections held back
 * may read again. */
static void uid_call_ended(struct conn *c, void *data)
{
	struct server *s = data;
	uid_t uid = conn_peer(c)->uid;
	struct uid_usage *u = uid_find(s, uid);
	bool was_full;

	if (!u || u->calls == 0)
		return;
	was_full = u->calls >= s->limits.calls_per_uid_max;
	u->calls--;
	uid_put(s, u);
	if (!was_full)
		return;
	for (size_t i = 0; i < s->n_conns; i++)
		if (conn_peer(s->conns[i])->uid == uid)
			conn_resume(s->conns[i]);
}

static bool uid_busy(uid_t uid, void *data)
{
	struct server *s = data;
	const struct uid_usage *u = uid_find(s, uid);

	if (u && u->calls >= s->limits.calls_per_uid_max) {
		s->stats.calls_held_back++;
		return true;
	}
	return false;
}

static void conn_freed(struct conn *c, void *data)
{
	struct server *s = data;

	for (size_t i = 0; i < s->n_conns; i++)
		if (s->conns[i] == c) {
			s->conns[i] = s->conns[--s->n_conns];
			break;
		}
	server_check_drained(s);
}

static void dispatch(struct call *call, void *data)
{
	struct server *s = data;

	varlink_service_dispatch(call, s->methods, s->userdata);
}

static const struct conn_owner_ops conn_owner_ops = {
    .dispatch = dispatch,
    .closed = conn_closed,
    .freed = conn_freed,
    .call_started = uid_call_started,
    .call_ended = uid_call_ended,
    .uid_busy = uid_busy,
};

static int conns_reserve(struct server *s)
{
	struct conn **n;
	size_t cap;

	if (s->n_conns < s->cap_conns)
		return 0;
	cap = s->cap_conns ? s->cap_conns * 2 : 64;
	n = realloc(s->conns, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->conns = n;
	s->cap_conns = cap;
	return 0;
}

static void log_reject(struct server *s, const struct peer *p, const char *why)
{
	time_t now = time(NULL);

	s->stats.connections_rejected++;
	if (now == s->last_reject_log)
		return;
	s->last_reject_log = now;
	log_warning("Refusing Varlink connection from pid %d uid %u (%s): %s", (int)p->pid, (unsigned)p->uid,
		    peer_comm(p), why);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int socklen, void *data)
{
	struct server *s = data;
	struct uid_usage *u;
	struct peer peer;
	struct conn *c;
	int r;

	r = peer_from_socket(fd, &peer);
	if (r == 0 && fd >= s->fd_ceiling) {
		/* The descriptors left are the daemon's own (KMS, STS,
		 * credentials): a client may not take them.  fd is the lowest
		 * free number, so every one below it is in use. */
		s->stats.connections_fd_rejected++;
		log_reject(s, &peer, "file descriptors are running out (RLIMIT_NOFILE)");
		evutil_closesocket(fd);
		return;
	}
	if (r < 0) {
		log_warning("Refusing a Varlink connection: %s",
			    r == -ENODATA ? "the kernel cannot name its peer (SO_PEERCRED gave no uid)" : strerror(-r));
		s->stats.connections_rejected++;
		evutil_closesocket(fd);
		return;
	}
	if (s->stats.connections >= s->limits.connections_max) {
		log_reject(s, &peer, "too many connections");
		evutil_closesocket(fd);
		return;
	}
	u = uid_find(s, peer.uid);
	if (u && u->connections >= s->limits.connections_per_uid_max) {
		log_reject(s, &peer, "too many connections from this user");
		evutil_closesocket(fd);
		return;
	}
	if (conns_reserve(s) < 0 || !(u = uid_get(s, peer.uid))) {
		evutil_closesocket(fd);
		log_error("Out of memory accepting a Varlink connection");
		return;
	}
	if (conn_new(&s->env, fd, &peer, &c) < 0) { /* it closed fd */
		uid_put(s, u);
		log_error("Out of memory accepting a Varlink connection");
		return;
	}
	u->connections++;
	s->conns[s->n_conns++] = c;
	s->stats.connections++;
	s->stats.connections_total++;
}

/* --- accepting and backing off ------------------------------------------------------------- */

static void listeners_enable(struct server *s, bool on)
{
	for (size_t i = 0; i < s->n_listeners; i++)
		if (on)
			evconnlistener_enable(s->listeners[i].l);
		else
			evconnlistener_disable(s->listeners[i].l);
}

/*
 * accept() failed with an error libevent does not retry by itself: out of
 * descriptors (EMFILE/ENFILE) or memory.  The pending connection stays in
 * the backlog, so accepting again at once would spin; pause instead (tmux
 * does the same) and try again after accept_backoff_ms.
 */
static void accept_error_cb(struct evconnlistener *l, void *data)
{
	struct server *s = data;
	int err = EVUTIL_SOCKET_ERROR();
	unsigned ms = s->limits.accept_backoff_ms;
	struct timeval tv = timeval_from_msec(ms);

	log_warning("accept() on the Varlink socket failed: %s; pausing for %u ms", evutil_socket_error_to_string(err),
		    ms);
	listeners_enable(s, false);
	evtimer_add(s->backoff_timer, &tv);
}

static void backoff_cb(evutil_socket_t fd, short what, void *data)
{
	struct server *s = data;

	if (!s->draining)
		listeners_enable(s, true);
}

static void drained_cb(evutil_socket_t fd, short what, void *data)
{
	struct server *s = data;

	log_debug("Varlink server drained");
	if (s->drained_fn)
		s->drained_fn(s, s->drained_userdata);
}

/* Start accepting on fd (listening already); takes it on success. */
static int add_listener(struct server *s, int fd, const struct bound_path *bound)
{
	struct listener *n;
	struct evconnlistener *l;

	n = realloc(s->listeners, (s->n_listeners + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->listeners = n;
	/* backlog 0: listen() was already called, by us or by systemd */
	l = evconnlistener_new(s->base, accept_cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!l)
		return -ENOMEM;
	evconnlistener_set_error_cb(l, accept_error_cb);
	if (s->draining)
		evconnlistener_disable(l);
	s->listeners[s->n_listeners++] = (struct listener){.l = l, .bound = *bound};
	return 0;
}

/* --- sockets (made or checked by server-socket.c) --------------------------------------------- */

int server_listen_path(struct server *s, const char *path, mode_t mode, const char *group)
{
	struct bound_path bound;
	int fd, r;

	assert(s);
	r = server_socket_bind(path, mode, group, &fd, &bound);
	if (r < 0)
		return r;
	r = add_listener(s, fd, &bound);
	if (r < 0) {
		close(fd);
		server_socket_unlink(&bound);
		free(bound.path);
		return r;
	}
	log_info("Listening on %s", path);
	return 0;
}

int server_adopt_fd(struct server *s, int fd)
{
	struct bound_path none = {0};
	int r;

	assert(s);
	r = server_socket_check_inherited(fd);
	if (r < 0)
		return r;
	return add_listener(s, fd, &none);
}

/* --- life cycle ------------------------------------------------------------------------------ */

/* The lowest descriptor number a client connection may not have: reserve
 * below the soft RLIMIT_NOFILE (read once: the daemon sets it before it
 * makes the server).  INT_MAX when there is no reserve or no finite limit. */
static int fd_ceiling(unsigned reserve)
{
	struct rlimit rl;

	if (reserve == 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > INT_MAX)
		return INT_MAX;
	return rl.rlim_cur > reserve ? (int)(rl.rlim_cur - reserve) : 0;
}

int server_new(struct event_base *base, const struct server_limits *limits, const struct method *methods,
	       void *userdata, struct server **ret)
{
	struct server *s;

	assert(ret);
	if (!base)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base = base;
	s->methods = methods;
	s->userdata = userdata;
	if (limits)
		s->limits = *limits;
	else
		server_limits_init(&s->limits);
	if (s->limits.message_max == 0 || s->limits.message_max > VARLINK_MESSAGE_MAX)
		s->limits.message_max = VARLINK_MESSAGE_MAX;
	if (s->limits.calls_per_uid_max == 0)
		s->limits.calls_per_uid_max = SERVER_CALLS_PER_UID_MAX;
	s->env = (struct conn_env){
	    .base = base,
	    .limits = &s->limits,
	    .stats = &s->stats,
	    .tokener = varlink_tokener_new(),
	    .ops = &conn_owner_ops,
	    .owner = s,
	};
	peer_check_proc();
	if (s->limits.idle_timeout_ms) {
		struct timeval tv = timeval_from_msec(s->limits.idle_timeout_ms);

		/* Every connection's idle timer has this duration: a common
		 * timeout keeps them in one queue instead of the heap. */
		s->env.idle_timeout = event_base_init_common_timeout(base, &tv);
	}
	s->fd_ceiling = fd_ceiling(s->limits.fd_reserve);
	s->backoff_timer = evtimer_new(base, backoff_cb, s);
	s->drained_ev = event_new(base, -1, 0, drained_cb, s);
	if (!s->backoff_timer || !s->drained_ev || !s->env.tokener || (s->limits.idle_timeout_ms && !s->env.idle_timeout)) {
		server_free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

static void listeners_free(struct server *s)
{
	for (size_t i = 0; i < s->n_listeners; i++) {
		evconnlistener_free(s->listeners[i].l);
		server_socket_unlink(&s->listeners[i].bound);
		free(s->listeners[i].bound.path);
	}
	free(s->listeners);
	s->listeners = NULL;
	s->n_listeners = 0;
}

struct server *server_free(struct server *s)
{
	if (!s)
		return NULL;
	listeners_free(s);
	/* conn_free() runs no callbacks, so the array stays as it is. */
	for (size_t i = 0; i < s->n_conns; i++)
		conn_free(s->conns[i]);
	free(s->conns);
	free(s->uids);
	if (s->backoff_timer)
		event_free(s->backoff_timer);
	if (s->drained_ev)
		event_free(s->drained_ev);
	if (s->env.tokener)
		json_tokener_free(s->env.tokener);
	free(s);
	return NULL;
}

void server_stop_accepting(struct server *s)
{
	assert(s);
	if (s->draining)
		return;
	s->draining = true;
	log_debug("Varlink server draining: %zu connection(s), %u call(s) in flight", s->n_conns,
		  s->stats.calls_in_flight);
	/* Stop taking connections; the sockets stay bound until server_free(),
	 * so clients queue in the backlog (or systemd keeps the fd). */
	listeners_enable(s, false);
	event_del(s->backoff_timer);
	/* Backwards: a shutdown may free conns[i], which conn_freed() replaces
	 * with the last entry, one already visited. */
	for (size_t i = s->n_conns; i-- > 0;)
		if (i < s->n_conns)
			conn_shutdown(s->conns[i]);
	server_check_drained(s);
}

void server_set_drained_callback(struct server *s, server_drained_fn fn, void *userdata)
{
	assert(s);
	s->drained_fn = fn;
	s->drained_userdata = userdata;
}

bool server_is_drained(const struct server *s)
{
	assert(s);
	return s->draining && s->n_conns == 0;
}

void server_get_stats(const struct server *s, struct server_stats *ret)
{
	assert(s && ret);
	*ret = s->stats;
}

void server_get_limits(const struct server *s, struct server_limits *ret)
{
	assert(s && ret);
	*ret = s->limits;
}
