/* SPDX-License-Identifier: MIT */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "utf8.h"

/* Code points that reorder or hide text on display: C1 controls, bidi
 * embeddings, overrides and isolates, and the direction marks. */
static bool invisible_code_point(const unsigned char *s, size_t n)
{
	unsigned cp;

	if (n == 2)
		return s[0] == 0xc2 && s[1] < 0xa0; /* U+0080..U+009F */
	if (n != 3 || s[0] != 0xe2)
		return false;
	cp = ((s[0] & 0x0fU) << 12) | ((s[1] & 0x3fU) << 6) | (s[2] & 0x3fU);
	return cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/*
 * A process names itself: its name can hold any byte but NUL.  Control
 * bytes become '?', as ps(1) shows them, so that every log line that names
 * the caller stays one line; only the newline the kernel appends is cut.
 * So do bytes that are not UTF-8 (a journal field that is not valid UTF-8
 * shows as "[blob data]" in journalctl, hiding the whole audit MESSAGE) and
 * characters that reorder or hide the text around them on display.
 */
static void sanitize_comm(char *comm, size_t n)
{
	if (n > 0 && comm[n - 1] == '\n')
		comm[--n] = '\0';
	for (size_t i = 0; i < n;) {
		unsigned char *c = (unsigned char *)comm + i;
		size_t len = *c < 0x80 ? 1 : utf8_sequence(comm + i, n - i, NULL);

		if (len == 0 || *c < 0x20 || *c == 0x7f || invisible_code_point(c, len)) {
			/* each byte of it: the name keeps its length */
			for (size_t k = 0; k < (len ? len : 1); k++)
				c[k] = '?';
			len = len ? len : 1;
		}
		i += len;
	}
}

/* /proc/PID/comm into p->comm; comm_unknown when it cannot be read (hidepid,
 * or the caller is already gone: racy by nature, informational only). */
static void read_comm(struct peer *p)
{
	char path[64];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)p->pid);
	fd = p->pid > 0 ? open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) : -1;
	if (fd >= 0) {
		n = read(fd, p->comm, sizeof(p->comm) - 1);
		close(fd);
	}
	if (n > 0) {
		p->comm[n] = '\0';
		sanitize_comm(p->comm, (size_t)n);
	} else {
		p->comm[0] = '\0';
		p->comm_unknown = true;
	}
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5; older headers lack it */
#endif

/* A pidfd of fd's peer, the process that connected, or -1 where the kernel
 * (before 6.5: ENOPROTOOPT), valgrind or the descriptor limit gives none. */
static int peer_pidfd(int fd)
{
	int pidfd = -1;
	socklen_t len = sizeof(pidfd);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0 || len != sizeof(pidfd))
		return -1;
	return pidfd;
}

/*
 * Whether pidfd still names a live (or not yet reaped) process numbered
 * pid: the "Pid:" line of its /proc/self/fdinfo, which reads -1 once the
 * process is gone.  A process holds its pid until it is reaped, so a name
 * read from /proc/PID/comm before this says true was that process's, never
 * a later one's that reused the pid.  -errno when fdinfo cannot be read.
 */
static int pidfd_is_pid(int pidfd, pid_t pid)
{
	char path[64], buf[512];
	const char *line;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	line = strstr(buf, "\nPid:");
	if (!line)
		return -ENOENT;
	return strtol(line + strlen("\nPid:"), NULL, 10) == (long)pid;
}

/*
 * The caller's name, read at accept, must be the caller's: one that
 * connected and exited may have had its pid reused by another process
 * (which then names the record).  With the peer's pidfd, the name is
 * checked after the read to come from the process that connected, and is
 * unknown when it cannot have.  Without one (old kernels), as before.
 */
static void read_comm_checked(int fd, struct peer *p)
{
	int pidfd = peer_pidfd(fd);

	read_comm(p);
	if (pidfd < 0)
		return;
	if (!p->comm_unknown && pidfd_is_pid(pidfd, p->pid) == 0) {
		p->comm[0] = '\0';
		p->comm_unknown = true;
	}
	close(pidfd);
}

int peer_from_socket(int fd, struct peer *ret)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct peer p = {0};

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (len != sizeof(cred) || cred.uid == (uid_t)-1)
		return -ENODATA;
	p.uid = cred.uid;
	p.gid = cred.gid;
	p.pid = cred.pid;
	read_comm_checked(fd, &p);
	*ret = p;
	return 0;
}

const char *peer_comm(const struct peer *p)
{
	return p->comm_unknown ? "unknown command" : p->comm;
}

/* The value of option name= in a comma-separated option list, copied to
 * buf; false if absent. */
static bool mount_option(const char *options, const char *name, char *buf, size_t size)
{
	size_t n = strlen(name);

	for (const char *o = options; o && *o; o = strchr(o, ',') ? strchr(o, ',') + 1 : NULL) {
		size_t len = strcspn(o, ",");

		if (len > n && strncmp(o, name, n) == 0 && o[n] == '=') {
			snprintf(buf, size, "%.*s", (int)(len - n - 1), o + n + 1);
			return true;
		}
	}
	return false;
}

/* The hidepid= of a proc mount's super options, as a static string; NULL
 * when it hides nothing. */
static const char *hidepid_how(const char *super_options)
{
	static const struct {
		const char *value, *how;
	} table[] = {
	    {"1", "hidepid=noaccess"},          {"noaccess", "hidepid=noaccess"}, {"2", "hidepid=invisible"},
	    {"invisible", "hidepid=invisible"}, {"4", "hidepid=ptraceable"},      {"ptraceable", "hidepid=ptraceable"},
	};
	char value[32];

	if (!mount_option(super_options, "hidepid", value, sizeof(value)))
		return NULL;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(value, table[i].value) == 0)
			return table[i].how;
	return NULL; /* 0, off */
}

/* Whether this process belongs to group gid (primary or supplementary). */
static bool in_group(gid_t gid)
{
	gid_t groups[256];
	int n;

	if (getegid() == gid)
		return true;
	n = getgroups(sizeof(groups) / sizeof(groups[0]), groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

int peer_proc_hides_others(const char *mountinfo, uid_t euid, const char **ret_how)
{
	char *line = NULL, super[512] = "";
	size_t size = 0;
	bool found = false;
	FILE *f;

	f = fopen(mountinfo, "re");
	if (!f)
		return -errno;
	/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SOURCE SUPER";
	 * the last mount on /proc is the one in use. */
	while (getline(&line, &size, f) > 0) {
		char mountpoint[64], fstype[32], source[64], opts[512];
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %*s %63s", mountpoint) != 1 || strcmp(mountpoint, "/proc") != 0)
			continue;
		if (sscanf(dash + 3, "%31s %63s %511s", fstype, source, opts) != 3 || strcmp(fstype, "proc") != 0)
			continue;
		memcpy(super, opts, sizeof(super));
		found = true;
	}
	free(line);
	fclose(f);
	if (found && euid != 0) {
		const char *how = hidepid_how(super);
		char gid[32], *end;

		if (how && mount_option(super, "gid", gid, sizeof(gid)) && in_group((gid_t)strtoul(gid, &end, 10)) &&
		    *end == '\0')
			how = NULL;
		if (how) {
			*ret_how = how;
			return 1;
		}
	}
	return 0;
}

void peer_check_proc(void)
{
	const char *how = NULL;

	if (peer_proc_hides_others("/proc/self/mountinfo", geteuid(), &how) > 0)
		log_warning("/proc is mounted with %s: the daemon cannot read other users' /proc/PID/comm, so logs and "
			    "audit records cannot name the caller's command (only uid and pid); under systemd use "
			    "ProtectProc=default, as the shipped unit does",
			    how);
}
