/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "log.h"
#include "secret-env.h"
#include "wipe.h"

static void help(void)
{
	printf("Usage: kmscanceld [OPTION]...\n"
	       "Serve AWS KMS CancelKeyDeletion to local clients over Varlink.\n\n"
	       "  -c, --config FILE   configuration file (default %s/kmscanceld.conf)\n"
	       "  -s, --socket PATH   listen on PATH (default from the config, else %s)\n"
	       "  -f, --foreground    stay in the foreground (the default; kept for scripts)\n"
	       "      --check-config  load and validate the configuration, then exit\n"
	       "  -h, --help          show this help\n"
	       "      --version       show the version\n\n"
	       "Drop-ins (*.conf) are read after the file: from kmscanceld.conf.d/ in %s,\n"
	       "/run and /usr/lib for the default file, from FILE.d/ alone for --config FILE.\n\n"
	       "See kmscanceld(8) and kmscanceld.conf(5).\n",
	       SYSCONFDIR, KMSCANCEL_DEFAULT_SOCKET, SYSCONFDIR);
}

/* The listening socket systemd passed, if any: the one named "varlink"
 * (FileDescriptorName=varlink), else the only one.  -1 when not activated. */
static int activation_fd(void)
{
	char **names = NULL;
	int n, fd = -1;

	n = sd_listen_fds_with_names(1, &names);
	if (n <= 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (fd < 0 && names && names[i] && strcmp(names[i], "varlink") == 0)
			fd = SD_LISTEN_FDS_START + i;
	if (fd < 0 && n == 1)
		fd = SD_LISTEN_FDS_START;
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	return fd;
}

/* Size of OpenSSL's secure heap, where credentials and derived signing keys
 * live: locked in RAM (never swapped), with guard pages.  A credential set
 * takes a few KiB at most (the session token dominates), so this holds
 * dozens of accounts.  A power of two, as OpenSSL requires.  On Linux
 * OpenSSL locks with MLOCK_ONFAULT: a page is resident only once used, so
 * the size costs address space, not memory (28 KiB resident with one
 * credential set). */
#define SECURE_HEAP_SIZE (256 * 1024)
#define SECURE_HEAP_MIN_ALLOC 32

/* What an errno from mlock() means for the secure heap, in terms an
 * administrator can act on; NULL when strerror() says it all. */
static const char *mlock_errno_meaning(int e)
{
	switch (e) {
	case EPERM:
		return "RLIMIT_MEMLOCK is 0, or a seccomp filter refuses mlock";
	case ENOMEM:
		return "more than RLIMIT_MEMLOCK allows: LimitMEMLOCK=, ulimit -l";
	case EAGAIN:
		return "the kernel could not lock the pages";
	case ENOSYS:
		return "this kernel has no mlock";
	default:
		return NULL;
	}
}

static void secure_heap_setup(void)
{
	int r, e;

	/* 2 when the heap is there but not locked (mlock2() or mlock() failed,
	 * or madvise(MADV_DONTDUMP): errno is the failed call's); 0 when it
	 * cannot be made at all, and secrets then live in the ordinary heap.
	 * Wiped when dropped either way: not fatal. */
	errno = 0;
	r = CRYPTO_secure_malloc_init(SECURE_HEAP_SIZE, SECURE_HEAP_MIN_ALLOC);
	e = errno;
	if (r == 1)
		return;
	if (e == 0)
		log_notice("cannot %s a %d KiB secure heap (no reason given): secrets may be swapped",
			   r == 2 ? "lock" : "make", SECURE_HEAP_SIZE / 1024);
	else
		log_notice("cannot %s a %d KiB secure heap: %s (%s%s%s): secrets may be swapped",
			   r == 2 ? "lock" : "make", SECURE_HEAP_SIZE / 1024, strerror(e), strerrorname_np(e),
			   mlock_errno_meaning(e) ? ": " : "", mlock_errno_meaning(e) ? mlock_errno_meaning(e) : "");
}

/* libevent's buffers carry what goes over the wire: requests with session
 * tokens, STS, IMDS and container answers with credentials.  It frees them
 * without wiping, so its allocator is replaced by one that wipes every block
 * it frees or moves (wipe.h).  Must come before any other libevent call. */
static void libevent_wiping_allocator(void)
{
	event_set_mem_functions(wipe_any_malloc, wipe_any_realloc, wipe_any_free);
}

int main(int argc, char **argv)
{
	enum { OPT_CHECK_CONFIG = 0x100, OPT_VERSION };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_options o = { .listen_fd = -1 };
	bool check_only = false;
	struct daemon *d = NULL;
	char *error = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:s:fh", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			o.config_path = optarg;
			break;
		case 's':
			o.socket_path = optarg;
			break;
		case 'f':
			break;
		case OPT_CHECK_CONFIG:
			check_only = true;
			break;
		case 'h':
			help();
			return EXIT_SUCCESS;
		case OPT_VERSION:
			printf("kmscanceld %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		default:
			fprintf(stderr, "Try 'kmscanceld --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kmscanceld: unexpected argument '%s'\nTry 'kmscanceld --help'.\n", argv[optind]);
		return 2;
	}

	libevent_wiping_allocator();
	log_setup();
	/* The process holds AWS secrets: no core dumps, no ptrace by peers. */
	prctl(PR_SET_DUMPABLE, 0);
	secure_heap_setup();
	/* Before anything forks or logs: the environment's AWS secrets move
	 * into the secure heap (secret-env.h). */
	if (secret_env_take() < 0)
		log_warning("cannot move the AWS secrets out of the environment: out of memory");
	atexit(secret_env_release);

	if (check_only)
		return daemon_check_config(&o) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

	/* Nothing here needs privileges: the unit runs us as User=kmscanceld.
	 * Root works (a test, a quick try) but holds far more than the job
	 * needs. */
	if (geteuid() == 0)
		log_warning("running as root: kmscanceld needs no privileges and no capabilities; run it as an "
			    "unprivileged user (the unit's User=kmscanceld)");
	o.listen_fd = activation_fd();
	r = daemon_new(&o, &d, &error);
	if (r < 0) {
		log_error("%s", error ? error : strerror(-r));
		free(error);
		sd_notifyf(0, "STATUS=Failed to start: %s\nERRNO=%d", strerror(-r), -r);
		return EXIT_FAILURE;
	}
	r = daemon_run(d);
	daemon_free(d);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
