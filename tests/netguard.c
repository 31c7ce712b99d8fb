/* SPDX-License-Identifier: MIT */
/*
 * netguard — LD_PRELOADed into every test process.  Tests must reach only
 * loopback; a test that forgets to point an endpoint at a fake must fail,
 * not go out.  connect(), sendto() and sendmsg() to any address outside
 * 127.0.0.0/8 and ::1 (IPv4-mapped loopback included) fail with
 * ENETUNREACH, and the attempt is appended to $NETGUARD_LOG so the test
 * harness fails the test even if the program under test shrugs it off.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool address_allowed(const struct sockaddr *sa, socklen_t len)
{
	if (!sa)
		return true; /* connected socket: checked at connect() */
	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const void *)sa;
		return len >= sizeof(*in) && (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		const uint8_t *b = in6->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		if (len < sizeof(*in6))
			return false;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return memcmp(b, mapped, 12) == 0 && b[12] == 127;
	}
	default:
		return true; /* AF_UNIX, AF_NETLINK…: local by nature */
	}
}

static void report(const char *what, const struct sockaddr *sa)
{
	char addr[INET6_ADDRSTRLEN] = "?", line[256];
	const char *log = getenv("NETGUARD_LOG");
	int n, fd;

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr, sizeof(addr));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, addr, sizeof(addr));
	n = snprintf(line, sizeof(line), "netguard: refused %s to %s from pid %d (tests may reach loopback only)\n",
		     what, addr, (int)getpid());
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nothing more to do */
	}
	if (log && (fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) >= 0) {
		if (write(fd, line, (size_t)n) < 0) {
			/* the stderr line still tells */
		}
		close(fd);
	}
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);

	if (!address_allowed(sa, len)) {
		report("connect", sa);
		errno = ENETUNREACH;
		return -1;
	}
	if (!real)
		real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
	return real(fd, sa, len);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa, socklen_t len)
{
	static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);

	if (!address_allowed(sa, len)) {
		report("sendto", sa);
		errno = ENETUNREACH;
		return -1;
	}
	if (!real)
		real = (ssize_t(*)(int, const void *, size_t, int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT,
													  "sendto");
	return real(fd, buf, n, flags, sa, len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	static ssize_t (*real)(int, const struct msghdr *, int);

	if (msg && !address_allowed(msg->msg_name, msg->msg_namelen)) {
		report("sendmsg", msg->msg_name);
		errno = ENETUNREACH;
		return -1;
	}
	if (!real)
		real = (ssize_t(*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
	return real(fd, msg, flags);
}
