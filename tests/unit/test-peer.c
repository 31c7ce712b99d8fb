/* SPDX-License-Identifier: MIT */
/* daemon/peer.c: who is on the other end of a socket, and whether /proc
 * lets the daemon read callers' names. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "peer.h"

static void test_unix_peer(void **state)
{
	struct peer p;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	prctl(PR_SET_NAME, "test-peer");
	assert_int_equal(peer_from_socket(sv[0], &p), 0);
	assert_int_equal(p.uid, geteuid());
	assert_int_equal(p.gid, getegid());
	assert_int_equal(p.pid, getpid());
	assert_false(p.comm_unknown);
	assert_string_equal(p.comm, "test-peer");
	assert_string_equal(peer_comm(&p), "test-peer");
	close(sv[0]);
	close(sv[1]);
}

/* A TCP peer has no credentials: SO_PEERCRED reads uid (uid_t)-1, which
 * must never reach the policy. */
static void test_tcp_peer_is_refused(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), a;
	struct peer p = {0};

	assert_true(l >= 0 && c >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	assert_int_equal(peer_from_socket(a, &p), -ENODATA);
	close(a);
	close(c);
	close(l);
}

/* The caller names itself: nothing in its name may hide or forge the audit
 * record around it. */
static void test_hostile_names(void **state)
{
	static const struct {
		const char *name, *want;
	} cases[] = {
	    {"a\nb", "a?b"},                       /* a line break */
	    {"\x1b[31mred", "?[31mred"},           /* a terminal escape */
	    {"x\xffy", "x?y"},                     /* not UTF-8: a blob in journalctl */
	    {"caf\xc3\xa9", "caf\xc3\xa9"},        /* UTF-8 stays */
	    {"ab\xc3", "ab?"},                     /* cut inside a character */
	    {"\xe2\x80\xaetxt.exe", "???txt.exe"}, /* U+202E RIGHT-TO-LEFT OVERRIDE */
	    {"\xc2\x9bx", "??x"},                  /* U+009B, a C1 control (CSI) */
	};
	struct peer p;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		prctl(PR_SET_NAME, cases[i].name);
		assert_int_equal(peer_from_socket(sv[0], &p), 0);
		assert_string_equal(p.comm, cases[i].want);
	}
	prctl(PR_SET_NAME, "test-peer");
	close(sv[0]);
	close(sv[1]);
}

/* A child that names itself "impostor" and waits for SIGKILL, made to get
 * pid want through ns_last_pid (root only).  Its pid once it has its name,
 * or -1. */
static pid_t impostor_at(pid_t want)
{
	for (int tries = 0; tries < 100; tries++) {
		char last[32];
		int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC), ready[2];
		pid_t pid;

		if (fd < 0)
			return -1;
		snprintf(last, sizeof(last), "%d", (int)want - 1);
		if (write(fd, last, strlen(last)) < 0) {
			close(fd);
			return -1;
		}
		close(fd);
		if (pipe(ready) < 0)
			return -1;
		pid = fork();
		if (pid == 0) {
			prctl(PR_SET_NAME, "impostor");
			(void)!write(ready[1], "", 1);
			for (;;)
				pause();
		}
		close(ready[1]);
		if (pid == want && read(ready[0], last, 1) == 1) {
			close(ready[0]);
			return pid;
		}
		close(ready[0]);
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	return -1;
}

/* A caller that connects and exits, its pid taken by another process
 * before the daemon accepts: the record must not carry the other
 * process's name (SO_PEERPIDFD: the name is checked to be the caller's). */
static void test_reused_pid(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 +
			(socklen_t)snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "test-peer-%d", (int)getpid());
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), a;
	pid_t caller, impostor;
	struct peer p;

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(listen(l, 1), 0);
	caller = fork();
	assert_true(caller >= 0);
	if (caller == 0) {
		int c = socket(AF_UNIX, SOCK_STREAM, 0);

		_exit(c >= 0 && connect(c, (struct sockaddr *)&sa, len) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(caller, NULL, 0), caller);
	impostor = impostor_at(caller);
	if (impostor < 0) {
		close(l);
		skip(); /* not root, or other processes kept taking the pid */
	}
	a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	assert_int_equal(peer_from_socket(a, &p), 0);
	kill(impostor, SIGKILL);
	waitpid(impostor, NULL, 0);
	assert_int_equal(p.pid, caller);
	if (!p.comm_unknown)
		print_error("the name read for pid %d is \"%s\", another process's\n", (int)p.pid, p.comm);
	assert_true(p.comm_unknown);
	close(a);
	close(l);
}

static void test_unknown_comm_name(void **state)
{
	struct peer p = {.pid = 7, .comm_unknown = true};

	assert_string_equal(peer_comm(&p), "unknown command");
}

/* mountinfo text in a file; returns its path (static). */
static const char *mountinfo(const char *text)
{
	static char path[] = "/tmp/test-peer-mountinfo.XXXXXX";
	int fd;

	strcpy(path, "/tmp/test-peer-mountinfo.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static int hides_as(const char *text, uid_t euid, const char **how)
{
	const char *path = mountinfo(text);
	int r;

	*how = NULL;
	r = peer_proc_hides_others(path, euid, how);
	unlink(path);
	return r;
}

/* As an unprivileged daemon (the unit's User=kmscanceld). */
static int hides(const char *text, const char **how)
{
	return hides_as(text, 4242, how);
}

#define ROOTFS      "21 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
#define PROC(super) "22 21 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc " super "\n"

static void test_hidepid(void **state)
{
	const char *how;

	/* root sees everything: never a warning */
	assert_int_equal(hides_as(ROOTFS PROC("rw,hidepid=invisible"), 0, &how), 0);
	assert_int_equal(hides(ROOTFS PROC("rw"), &how), 0);
	assert_int_equal(hides(ROOTFS PROC("rw,hidepid=off"), &how), 0);
	assert_int_equal(hides(ROOTFS PROC("rw,hidepid=0"), &how), 0);
	assert_int_equal(hides(ROOTFS PROC("rw,hidepid=invisible"), &how), 1);
	assert_string_equal(how, "hidepid=invisible");
	assert_int_equal(hides(ROOTFS PROC("rw,hidepid=2"), &how), 1);
	assert_string_equal(how, "hidepid=invisible");
	assert_int_equal(hides(ROOTFS PROC("rw,hidepid=ptraceable,subset=pid"), &how), 1);
	assert_string_equal(how, "hidepid=ptraceable");
	assert_int_equal(hides(ROOTFS PROC("rw,hidepid=noaccess"), &how), 1);
	/* The last mount on /proc is the one in use (systemd's ProtectProc=
	 * mounts a new instance over the host's). */
	assert_int_equal(hides(ROOTFS PROC("rw") "66 22 0:40 / /proc rw - proc proc rw,hidepid=invisible\n", &how), 1);
	assert_int_equal(hides(ROOTFS "66 21 0:40 / /proc rw - proc proc rw,hidepid=invisible\n" PROC("rw"), &how), 0);
	/* Exempt through gid=. */
	{
		char text[512];

		snprintf(text, sizeof(text), ROOTFS PROC("rw,hidepid=invisible,gid=%u"), (unsigned)getegid());
		assert_int_equal(hides(text, &how), 0);
	}
	/* Not proc, or another mount point. */
	assert_int_equal(hides(ROOTFS "30 21 0:50 / /proc/sys ro - proc proc rw,hidepid=2\n", &how), 0);
	assert_int_equal(peer_proc_hides_others("/nonexistent/mountinfo", 4242, &how), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unix_peer),     cmocka_unit_test(test_tcp_peer_is_refused),
	    cmocka_unit_test(test_hostile_names), cmocka_unit_test(test_unknown_comm_name),
	    cmocka_unit_test(test_hidepid),       cmocka_unit_test(test_reused_pid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
