/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Who is on the other end of a Varlink connection: SO_PEERCRED, and the
 * caller's command name from /proc/PID/comm for the logs and the audit
 * trail (informational: the caller chooses it, and it is read at accept;
 * with SO_PEERPIDFD, never another process's that reused the pid).
 *
 * A /proc mounted with hidepid= (the unit's ProtectProc=invisible does
 * that) hides other users' processes from the daemon, and every caller's
 * name with them: peer_check_proc() says so once at start, and a peer whose
 * name could not be read has comm_unknown set, which the logs and the audit
 * trail show as unknown rather than as an empty name.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "call.h" /* struct peer */

/* The peer of the connected socket fd.  0; -ENODATA if the kernel cannot
 * name the peer (no uid: not an AF_UNIX socket, whose SO_PEERCRED reads as
 * uid (uid_t)-1 and must never reach the policy); -errno of getsockopt(). */
int peer_from_socket(int fd, struct peer *ret);

/* The name of p for log lines: its comm, or "unknown command". */
const char *peer_comm(const struct peer *p);

/*
 * Does /proc (as mountinfo, normally /proc/self/mountinfo, describes it)
 * hide other users' processes from this process, running as euid?  1 and
 * *ret_how (a static string, "hidepid=invisible" say) when it does; 0 when
 * it does not (no hidepid=, hidepid=0/off, euid 0, or this process is in
 * the group gid= exempts); -errno if mountinfo cannot be read.
 */
int peer_proc_hides_others(const char *mountinfo, uid_t euid, const char **ret_how);

/* At start: one warning if callers' names cannot be read (see above). */
void peer_check_proc(void);
