/* SPDX-License-Identifier: MIT */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "server-socket.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "log.h"

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
		return log_error_errno(r, "chown(%s, group %s): %s", path, group, strerror(-r));
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
		return log_error_errno(r, "%s vanished after bind(): %s", path, strerror(-r));
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
		return log_error_errno(r, "socket(AF_UNIX): %s", strerror(-r));
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

int server_socket_bind(const char *path, mode_t mode, const char *group, int *ret_fd, struct bound_path *ret_bound)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct bound_path bound = {0};
	struct stat st = {0};
	int fd = -1, pfd = -1, r;

	assert(ret_fd && ret_bound);
	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
		log_error("Invalid socket path '%s' (empty or longer than %zu bytes)", path ? path : "",
			  sizeof(sa.sun_path) - 1);
		return -EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = remove_stale_socket(path, &sa);
	if (r < 0) {
		return log_error_errno(r, "Cannot use %s: %s", path,
			  r == -EADDRINUSE ? "another process is listening there"
			  : r == -EEXIST   ? "it exists and is not a socket"
					   : strerror(-r));
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
	close(pfd);
	*ret_fd = fd;
	*ret_bound = bound;
	return 0;
fail:
	free(bound.path);
	close(fd);
	/* Only what we made: whatever replaced it is not ours to remove. */
	if (pfd >= 0) {
		server_socket_unlink(&(struct bound_path){.path = (char *)path, .dev = st.st_dev, .ino = st.st_ino});
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
 * Check a socket systemd (or another supervisor) passed.  Only an AF_UNIX
 * SOCK_STREAM socket that is listening will do: the policy identifies
 * callers by SO_PEERCRED, which a TCP peer does not have (it reads as uid
 * 4294967295, and a "*" rule would let anyone on the network in), and
 * Varlink needs a stream.  Anything else is a misconfigured .socket unit
 * (ListenStream=127.0.0.1:… in a drop-in, ListenDatagram=): refused with a
 * message that names what was passed.  -ENOTSOCK, -EAFNOSUPPORT,
 * -ESOCKTNOSUPPORT, -EINVAL (not listening), or what getsockopt() said.
 */
int server_socket_check_inherited(int fd)
{
	int family = 0, type = 0, listening = 0, flags, r = 0;
	socklen_t len = sizeof(family);
	char what[128];

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0) {
		r = -errno;
		return log_error_errno(r, "The inherited fd %d is not a socket the daemon can use: %s", fd, strerror(-r));
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
	return 0;
}

void server_socket_unlink(const struct bound_path *b)
{
	struct stat st;

	assert(b);
	if (b->path && lstat(b->path, &st) == 0 && st.st_dev == b->dev && st.st_ino == b->ino)
		unlink(b->path);
}
