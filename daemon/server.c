/* SPDX-License-Identifier: MIT */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <json-c/json.h>

#include "conn.h"
#include "log.h"
#include "peer.h"
#include "varlink.h"

/* The socket path a listener bound, remembered so that server_free()
 * removes it only while it is still ours. */
struct bound_path {
	char *path;
	dev_t dev;
	ino_t ino;
};

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

/* --- connections ------------------------------------------------------------------------- */

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

static void on_conn_close(struct conn *c, void *data)
{
	struct server *s = data;
	struct uid_usage *u = uid_find(s, conn_peer(c)->uid);

	s->stats.connections--;
	if (u) {
		u->connections--;
		uid_put(s, u);
	}
}

static void on_call_start(struct conn *c, void *data)
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
static void on_call_end(struct conn *c, void *data)
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

static void on_conn_free(struct conn *c, void *data)
{
	struct server *s = data;

	for (size_t i = 0; i < s->n_conns; i++)
		if (s->conns[i] == c) {
			s->conns[i] = s->conns[--s->n_conns];
			break;
		}
	server_check_drained(s);
}

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
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

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

static void unlink_bound(const struct bound_path *b);

/* --- binding a path ------------------------------------------------------------------------- */

/* Remove a socket file left by a dead daemon.  A live one is -EADDRINUSE,
 * anything but a socket -EEXIST. */
static int remove_stale_socket(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? -EADDRINUSE : -errno;
	close(fd);
	if (r == -EADDRINUSE || r == -EAGAIN)
		return -EADDRINUSE; /* someone accepts there (EAGAIN: backlog full) */
	if (r != -ECONNREFUSED)
		return r;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

/* Resolve a group name or number; 0 and *ret, or -ENOENT if there is none. */
/* A group's entry can be larger than any fixed buffer (every member is
 * listed): grow it on ERANGE, up to this. */
#define GROUP_BUFFER_MAX (4u << 20)

/* The gid of name (a group name or a number).  0, -ENOENT (no such group)
 * or another negative errno (the lookup itself failed). */
static int lookup_group(const char *name, gid_t *ret)
{
	struct group gr, *res = NULL;
	size_t size = 16384;
	char *buf = NULL, *end;
	unsigned long n;
	int r;

	errno = 0;
	n = strtoul(name, &end, 10);
	if (*name && !*end && errno == 0 && n < (gid_t)-1) {
		*ret = (gid_t)n;
		return 0;
	}
	for (;;) {
		char *grown = realloc(buf, size);

		if (!grown) {
			free(buf);
			return -ENOMEM;
		}
		buf = grown;
		r = getgrnam_r(name, &gr, buf, size, &res);
		if (r != ERANGE || size >= GROUP_BUFFER_MAX)
			break;
		size *= 2;
	}
	if (r == 0 && !res)
		r = ENOENT;
	if (r == 0)
		*ret = res->gr_gid;
	free(buf);
	return -r;
}

/* Give the socket file (pfd, an O_PATH descriptor of it) its group.
 * Through the descriptor, never the path: a path can be swapped for a
 * symlink to some other file between bind() and here. */
static int apply_group(int pfd, const char *path, const char *group)
{
	gid_t gid = 0; /* set by lookup_group() when it returns 0 */
	int r;

	if (!group || !*group)
		return 0;
	r = lookup_group(group, &gid);
	if (r == -ENOENT) {
		log_warning("Group '%s' does not exist; %s keeps the daemon's group", group, path);
		return 0;
	}
	if (r < 0) {
		/* Keeping the daemon's own group is the narrower choice. */
		log_warning("Cannot look up group '%s' (%s); %s keeps the daemon's group", group, strerror(-r), path);
		return 0;
	}
	if (fchownat(pfd, "", (uid_t)-1, gid, AT_EMPTY_PATH) < 0) {
		r = -errno;
		/* Not in the group, or chown() refused by a seccomp filter:
		 * keep the narrower group, as for a missing one. */
		if (r == -EPERM) {
			log_warning("%s keeps the daemon's group: cannot give it group '%s' (not a member, "
				    "or chown filtered)",
				    path, group);
			return 0;
		}
		log_error("chown(%s, group %s): %s", path, group, strerror(-r));
		return r;
	}
	return 0;
}

/* chmod of the inode pfd (O_PATH) refers to: Linux has no fchmod() on an
 * O_PATH descriptor, but /proc/self/fd/N leads to exactly that inode and no
 * other, whatever the path now names. */
static int chmod_opath(int pfd, mode_t mode)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	return chmod(proc, mode) < 0 ? -errno : 0;
}

/*
 * The file bind() made at path, opened without following a symlink (an
 * O_PATH descriptor in *ret_fd, its stat in *ret_st): it must still be a
 * socket of ours.  If someone who can write the directory replaced it
 * (with a symlink to /etc/shadow, say), -EEXIST: nothing is changed on
 * whatever is there now.  The mode normally came right from bind() (under
 * the umask); a default ACL on the directory can change it, so it is set
 * again, on the inode itself, when it differs.
 */
static int open_bound(const char *path, mode_t mode, int *ret_fd, struct stat *ret_st)
{
	struct stat st;
	int pfd, r;

	pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0) {
		r = -errno;
		log_error("%s vanished after bind(): %s", path, strerror(-r));
		return r;
	}
	if (fstat(pfd, &st) < 0) {
		r = -errno;
		close(pfd);
		return r;
	}
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
		log_error("%s was replaced after bind() (it is %s now): refusing to use it", path,
			  S_ISLNK(st.st_mode) ? "a symlink" : "not our socket");
		close(pfd);
		return -EEXIST;
	}
	if ((st.st_mode & 0777) != mode) {
		r = chmod_opath(pfd, mode);
		if (r < 0) {
			log_error("chmod(%s, %04o): %s", path, (unsigned)mode, strerror(-r));
			close(pfd);
			return r;
		}
	}
	*ret_fd = pfd;
	*ret_st = st;
	return 0;
}

/* socket + bind under a umask that gives the file exactly mode; returns the
 * fd.  No chmod(path) afterwards: it would follow a symlink put there. */
static int bind_socket(const char *path, const struct sockaddr_un *sa, mode_t mode)
{
	mode_t old;
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		log_error("socket(AF_UNIX): %s", strerror(-r));
		return r;
	}
	/* The socket must never exist with looser permissions, even briefly. */
	old = umask(~mode & 0777);
	r = bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ? -errno : 0;
	umask(old);
	if (r < 0) {
		log_error("bind(%s): %s", path, strerror(-r));
		close(fd);
		return r;
	}
	return fd;
}

int server_listen_path(struct server *s, const char *path, mode_t mode, const char *group)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct bound_path bound = {0};
	struct stat st = {0};
	int fd = -1, pfd = -1, r;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
		log_error("Invalid socket path '%s' (empty or longer than %zu bytes)", path ? path : "",
			  sizeof(sa.sun_path) - 1);
		return -EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = remove_stale_socket(path, &sa);
	if (r < 0) {
		log_error("Cannot use %s: %s", path,
			  r == -EADDRINUSE ? "another process is listening there"
			  : r == -EEXIST   ? "it exists and is not a socket"
					   : strerror(-r));
		return r;
	}
	fd = bind_socket(path, &sa, mode);
	if (fd < 0)
		return fd;
	/* Listen at once: from bind() on the path exists, and until listen()
	 * a client (or another kmscanceld's stale-socket check, which would
	 * unlink it) gets ECONNREFUSED, and the group lookup in between can
	 * take a while (NSS).  Until the chown the socket carries the
	 * daemon's own group, under the same mode. */
	if (listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		log_error("listen(%s): %s", path, strerror(-r));
		goto fail;
	}
	r = open_bound(path, mode & 0777, &pfd, &st);
	if (r < 0)
		goto fail;
	r = apply_group(pfd, path, group);
	if (r < 0)
		goto fail;
	bound = (struct bound_path){.path = strdup(path), .dev = st.st_dev, .ino = st.st_ino};
	if (!bound.path) {
		r = -ENOMEM;
		goto fail;
	}
	r = add_listener(s, fd, &bound);
	if (r < 0)
		goto fail;
	close(pfd);
	log_info("Listening on %s", path);
	return 0;
fail:
	free(bound.path);
	close(fd);
	/* Only what we made: whatever replaced it is not ours to remove. */
	if (pfd >= 0) {
		unlink_bound(&(struct bound_path){.path = (char *)path, .dev = st.st_dev, .ino = st.st_ino});
		close(pfd);
	}
	return r;
}

static const char *family_name(int family)
{
	switch (family) {
	case AF_UNIX:
		return "AF_UNIX";
	case AF_INET:
		return "AF_INET";
	case AF_INET6:
		return "AF_INET6";
	case AF_NETLINK:
		return "AF_NETLINK";
	default:
		return NULL;
	}
}

static const char *type_name(int type)
{
	switch (type) {
	case SOCK_STREAM:
		return "SOCK_STREAM";
	case SOCK_DGRAM:
		return "SOCK_DGRAM";
	case SOCK_SEQPACKET:
		return "SOCK_SEQPACKET";
	case SOCK_RAW:
		return "SOCK_RAW";
	default:
		return NULL;
	}
}

/* "an AF_INET SOCK_STREAM socket listening on 127.0.0.1:8080", for the
 * message that refuses it. */
static void describe_socket(int fd, int family, int type, bool listening, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char fam[16], typ[16], addr[INET6_ADDRSTRLEN + 16] = "";
	const char *f = family_name(family), *t = type_name(type);

	if (!f)
		snprintf(fam, sizeof(fam), "family %d", family);
	if (!t)
		snprintf(typ, sizeof(typ), "type %d", type);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		char host[INET6_ADDRSTRLEN] = "?";

		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
			snprintf(addr, sizeof(addr), " %s:%u", host, (unsigned)ntohs(in->sin_port));
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
			snprintf(addr, sizeof(addr), " [%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
		}
	}
	if (listening)
		snprintf(buf, size, "an %s %s socket, listening%s%s", f ? f : fam, t ? t : typ, *addr ? " on" : "",
			 addr);
	else
		snprintf(buf, size, "an %s %s socket, not listening%s%s%s", f ? f : fam, t ? t : typ,
			 *addr ? " (bound to" : "", addr, *addr ? ")" : "");
}

/*
 * Take a socket systemd (or another supervisor) passed.  Only an AF_UNIX
 * SOCK_STREAM socket that is listening will do: the policy identifies
 * callers by SO_PEERCRED, which a TCP peer does not have (it reads as uid
 * 4294967295, and a "*" rule would let anyone on the network in), and
 * Varlink needs a stream.  Anything else is a misconfigured .socket unit
 * (ListenStream=127.0.0.1:… in a drop-in, ListenDatagram=): refused with a
 * message that names what was passed.  -ENOTSOCK, -EAFNOSUPPORT,
 * -ESOCKTNOSUPPORT, -EINVAL (not listening), or what getsockopt() said.
 */
int server_adopt_fd(struct server *s, int fd)
{
	struct bound_path none = {0};
	int family = 0, type = 0, listening = 0, flags, r = 0;
	socklen_t len = sizeof(family);
	char what[128];

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0) {
		r = -errno;
		log_error("The inherited fd %d is not a socket the daemon can use: %s", fd, strerror(-r));
		return r;
	}
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	len = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
		return -errno;
	if (family != AF_UNIX)
		r = -EAFNOSUPPORT;
	else if (type != SOCK_STREAM)
		r = -ESOCKTNOSUPPORT;
	else if (!listening)
		r = -EINVAL;
	if (r < 0) {
		describe_socket(fd, family, type, listening, what, sizeof(what));
		log_error("The inherited fd %d is %s; kmscanceld serves only a listening AF_UNIX stream socket "
			  "(ListenStream=/path in kmscanceld.socket): refusing to start",
			  fd, what);
		return r;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
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

	if (!base)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base = base;
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
	    .methods = methods,
	    .userdata = userdata,
	    .stats = &s->stats,
	    .tokener = varlink_tokener_new(),
	    .on_close = on_conn_close,
	    .on_free = on_conn_free,
	    .on_call_start = on_call_start,
	    .on_call_end = on_call_end,
	    .uid_busy = uid_busy,
	    .data = s,
	};
	peer_check_proc();
	if (s->limits.idle_timeout_ms) {
		struct timeval tv = {.tv_sec = s->limits.idle_timeout_ms / 1000,
				     .tv_usec = (s->limits.idle_timeout_ms % 1000) * 1000};

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

/* Unlink our socket file, unless someone replaced it meanwhile. */
static void unlink_bound(const struct bound_path *b)
{
	struct stat st;

	if (b->path && lstat(b->path, &st) == 0 && st.st_dev == b->dev && st.st_ino == b->ino)
		unlink(b->path);
}

static void listeners_free(struct server *s)
{
	for (size_t i = 0; i < s->n_listeners; i++) {
		evconnlistener_free(s->listeners[i].l);
		unlink_bound(&s->listeners[i].bound);
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
	if (s->draining)
		return;
	s->draining = true;
	log_debug("Varlink server draining: %zu connection(s), %u call(s) in flight", s->n_conns,
		  s->stats.calls_in_flight);
	/* Stop taking connections; the sockets stay bound until server_free(),
	 * so clients queue in the backlog (or systemd keeps the fd). */
	listeners_enable(s, false);
	event_del(s->backoff_timer);
	/* Backwards: a shutdown may free conns[i], which on_conn_free() replaces
	 * with the last entry, one already visited. */
	for (size_t i = s->n_conns; i-- > 0;)
		if (i < s->n_conns)
			conn_shutdown(s->conns[i]);
	server_check_drained(s);
}

void server_set_drained_callback(struct server *s, server_drained_fn fn, void *userdata)
{
	s->drained_fn = fn;
	s->drained_userdata = userdata;
}

bool server_is_drained(const struct server *s)
{
	return s->draining && s->n_conns == 0;
}

void server_get_stats(const struct server *s, struct server_stats *ret)
{
	*ret = s->stats;
}

void server_get_limits(const struct server *s, struct server_limits *ret)
{
	*ret = s->limits;
}
