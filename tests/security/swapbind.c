/* SPDX-License-Identifier: MIT */
/*
 * swapbind — LD_PRELOADed into the daemon by tests/security/socket-path.sh
 * to make a race deterministic.  Right after a successful bind() of an
 * AF_UNIX socket at $SWAPBIND_PATH it renames $SWAPBIND_WITH over that
 * path, as a local user who can write the socket's directory could do in
 * the moment between the daemon's bind() and its chmod()/chown() of the
 * path.  Everything else passes straight through.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real_bind)(int, const struct sockaddr *, socklen_t);
	const char *path = getenv("SWAPBIND_PATH"), *with = getenv("SWAPBIND_WITH");
	const struct sockaddr_un *un = (const void *)sa;
	int r;

	if (!real_bind)
		real_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
	r = real_bind(fd, sa, len);
	if (r == 0 && path && with && sa && sa->sa_family == AF_UNIX &&
	    strncmp(un->sun_path, path, sizeof(un->sun_path)) == 0 && rename(with, path) < 0)
		perror("swapbind: rename");
	return r;
}
