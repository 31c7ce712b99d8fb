/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "fd-budget.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "conf.h"
#include "errorf.h"
#include "https-pool.h"
#include "kms.h"
#include "server.h"

static unsigned long rlim_to_ulong(rlim_t v)
{
	return v == RLIM_INFINITY || v > ULONG_MAX ? ULONG_MAX : (unsigned long)v;
}

unsigned long fd_limit_get(bool hard)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024; /* cannot happen; the kernel's default */
	return rlim_to_ulong(hard ? rl.rlim_max : rl.rlim_cur);
}

unsigned long fd_limit_raise(unsigned long *ret_old)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		*ret_old = 1024;
		return 1024; /* cannot happen */
	}
	*ret_old = rlim_to_ulong(rl.rlim_cur);
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return *ret_old;
	}
	return rlim_to_ulong(rl.rlim_cur);
}

long fd_count_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

unsigned long fd_budget_reserve(const struct fd_budget *b)
{
	return b->kms + b->credentials + b->daemon;
}

int fd_budget_compute(const struct daemon_config *c, unsigned long limit, struct fd_budget *ret, char **ret_error)
{
	struct fd_budget b = {
	    .limit = limit,
	    .connections = c->max_connections ? c->max_connections : SERVER_CONNECTIONS_MAX,
	    .connections_per_uid =
		c->max_connections_per_uid ? c->max_connections_per_uid : SERVER_CONNECTIONS_PER_UID_MAX,
	    .kms = (unsigned long)(c->max_pools ? c->max_pools : KMS_DEFAULT_MAX_POOLS) *
		   (c->pool_max_connections ? c->pool_max_connections : HTTPS_POOL_DEFAULT_MAX_CONNECTIONS),
	    .credentials = (unsigned long)(c->n_accounts + 1) * FD_BUDGET_PER_CREDENTIALS,
	    .daemon = FD_BUDGET_DAEMON,
	};
	unsigned long reserve = fd_budget_reserve(&b), need = reserve + b.connections;

	if (need > limit && !c->max_connections && limit > reserve && limit - reserve >= FD_BUDGET_MIN_CONNECTIONS) {
		b.connections = (unsigned)(limit - reserve);
		b.clamped = true;
	} else if (need > limit) {
		errorf(
		    ret_error, -EMFILE,
		    "the file descriptor limit (RLIMIT_NOFILE, %lu) is too small for [Daemon] "
		    "MaxConnections=%u%s, [KMS] MaxPools= x MaxConnections= (%lu) and %lu for credentials "
		    "and the daemon itself (%lu in all): lower MaxConnections=%s, or raise LimitNOFILE= in "
		    "kmscanceld.service to at least %lu",
		    limit, b.connections, c->max_connections ? "" : " (the default)", b.kms, b.credentials + b.daemon,
		    need,
		    limit > reserve + FD_BUDGET_MIN_CONNECTIONS ? "" : " and [KMS] MaxPools= or MaxConnections=", need);
		if (limit > reserve && limit - reserve >= FD_BUDGET_MIN_CONNECTIONS) {
			char *more = NULL;

			if (*ret_error &&
			    asprintf(&more, "%s (MaxConnections=%lu would fit)", *ret_error, limit - reserve) >= 0) {
				free(*ret_error);
				*ret_error = more;
			}
		}
		return -EMFILE;
	}
	if (b.connections_per_uid > b.connections)
		b.connections_per_uid = b.connections;
	*ret = b;
	return 0;
}
