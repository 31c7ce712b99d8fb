/* Cancel the scheduled deletion of every key named on the command line,
 * all at once, with libkmscancel's asynchronous calls and poll(2).
 *
 *   cc -o example example.c $(pkg-config --cflags --libs libkmscancel)
 *   ./example "" 1234abcd-12ab-34cd-56ef-1234567890ab
 *
 * SOCKET "" means $KMSCANCEL_SOCKET, else the default socket.
 * Exit status: 0 if every key succeeded, 1 if not, 2 on usage errors. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include <kmscancel.h>

struct job {
	const char *key;
	int failed;
};

/* Runs once per call, from kmscancel_process() or kmscancel_close(). */
static void cancelled(kmscancel *h, kmscancel_call *call,
		      kmscancel_result *r, void *userdata)
{
	struct job *job = userdata;
	const char *request_id = kmscancel_result_request_id(r);

	if (kmscancel_result_error(r) == KMSCANCEL_OK) {
		printf("%s: deletion cancelled, %s is %s "
		       "(request %s, %u attempts)\n",
		       job->key, kmscancel_result_key_id(r),
		       kmscancel_result_key_state(r),
		       request_id ? request_id : "-",
		       kmscancel_result_attempts(r));
	} else {
		fprintf(stderr, "%s: %s: %s\n", job->key,
			kmscancel_result_error_name(r),
			kmscancel_result_message(r));
		job->failed = 1;
	}
	kmscancel_result_free(r); /* the result belongs to the callback */
}

int main(int argc, char **argv)
{
	kmscancel_cancel_options opts = KMSCANCEL_CANCEL_OPTIONS_INIT;
	kmscancel *h;
	struct job *jobs;
	kmscancel_error e;
	int n = argc - 2, status = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: %s SOCKET KEY-ID...\n", argv[0]);
		return 2;
	}
	e = kmscancel_open(argv[1][0] ? argv[1] : NULL, &h);
	if (e != KMSCANCEL_OK) {
		fprintf(stderr, "kmscancel_open: %s\n", kmscancel_strerror(e));
		return 1;
	}
	/* 60 s per call; also sent to the daemon as timeoutMs. */
	kmscancel_set_timeout(h, 60000);
	jobs = calloc((size_t)n, sizeof(*jobs));
	if (!jobs) {
		kmscancel_close(h);
		return 1;
	}

	/* Queue every call; they are pipelined on one connection. */
	for (int i = 0; i < n; i++) {
		jobs[i].key = argv[i + 2];
		e = kmscancel_cancel_key_deletion_async(h, jobs[i].key, &opts,
							cancelled, &jobs[i], NULL);
		if (e != KMSCANCEL_OK) { /* not queued: no callback */
			fprintf(stderr, "%s: %s\n", jobs[i].key,
				kmscancel_strerror(e));
			jobs[i].failed = 1;
		}
	}

	/* The event loop: wait as the library asks, then let it work. */
	while (kmscancel_get_pending(h) > 0) {
		struct pollfd p = {
			.fd = kmscancel_get_fd(h),
			.events = (short)kmscancel_get_events(h),
		};
		int timeout = kmscancel_get_timeout(h);

		if (poll(&p, p.fd >= 0 ? 1 : 0, timeout) < 0 &&
		    errno != EINTR) {
			perror("poll");
			break;
		}
		kmscancel_process(h);
	}

	/* Calls still pending (after a poll error) complete as CANCELED. */
	kmscancel_close(h);
	for (int i = 0; i < n; i++)
		status |= jobs[i].failed;
	free(jobs);
	return status;
}
