/* SPDX-License-Identifier: MIT */
/*
 * libkmscancel's reply handling (client/libkmscancel.c), through its public
 * API: a program using the library must survive whatever the socket it was
 * pointed at answers.  The harness listens on an abstract Unix socket, makes
 * three pipelined calls and two streaming ones (ListPendingDeletions, then
 * WatchGuard), answers them with the input bytes and closes; a
 * call the library sends again after that close (at most once) meets a
 * connection closed unanswered.  Every call must then complete exactly
 * once, no stream item may come after its call's completion, and every
 * accessor of every result, key and event must work.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz.h"
#include "kmscancel.h"

#define FUZZ_CLIENT_CALLS 5
/* kmscancel_process() rounds before a call that should have completed is a
 * finding (the harness closed its end, so nothing is left to wait for). */
#define FUZZ_CLIENT_MAX_ROUNDS 100000

static int listen_fd = -1;
static char socket_name[64];

static void setup(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len;

	snprintf(socket_name, sizeof(socket_name), "@kmscancel-fuzz-client-%ld", (long)getpid());
	len = strlen(socket_name);
	memcpy(sa.sun_path, socket_name, len);
	sa.sun_path[0] = '\0';
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	FUZZ_CHECK(listen_fd >= 0);
	FUZZ_CHECK(bind(listen_fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) ==
		   0);
	FUZZ_CHECK(listen(listen_fd, 16) == 0);
}

/* What the callbacks saw: completions, and for each stream whether it has
 * completed (an item after that is a finding). */
struct seen {
	unsigned completed;
	bool listing_done, watch_done;
};

static void on_key(kmscancel *h, kmscancel_call *call, kmscancel_pending_key *k, void *userdata)
{
	struct seen *seen = userdata;

	FUZZ_CHECK(!seen->listing_done);
	FUZZ_CHECK(kmscancel_pending_key_id(k) && kmscancel_pending_key_state(k) && kmscancel_pending_key_account(k) &&
		   kmscancel_pending_key_region(k) && kmscancel_pending_key_json(k));
	(void)kmscancel_pending_key_deletion_date(k);
	(void)kmscancel_pending_key_window_days(k);
	(void)kmscancel_pending_key_description(k);
	for (size_t i = 0; i < kmscancel_pending_key_alias_count(k); i++)
		FUZZ_CHECK(kmscancel_pending_key_alias(k, i) != NULL);
	kmscancel_pending_key_free(k);
}

static void on_event(kmscancel *h, kmscancel_call *call, kmscancel_guard_event *e, void *userdata)
{
	struct seen *seen = userdata;

	FUZZ_CHECK(!seen->watch_done);
	if (!e)
		return; /* the watch is in place */
	FUZZ_CHECK(kmscancel_guard_event_time(e) && kmscancel_guard_event_name(e) && kmscancel_guard_event_key(e) &&
		   kmscancel_guard_event_json(e));
	(void)kmscancel_guard_event_key_id(e);
	(void)kmscancel_guard_event_account(e);
	(void)kmscancel_guard_event_region(e);
	(void)kmscancel_guard_event_deletion_date(e);
	(void)kmscancel_guard_event_key_state(e);
	(void)kmscancel_guard_event_error(e);
	(void)kmscancel_guard_event_message(e);
	for (size_t i = 0; i < kmscancel_guard_event_request_id_count(e); i++)
		FUZZ_CHECK(kmscancel_guard_event_request_id(e, i) != NULL);
	kmscancel_guard_event_free(e);
}

static void on_result(kmscancel *h, kmscancel_call *call, kmscancel_result *r, void *userdata)
{
	struct seen *seen = userdata;
	kmscancel_error e = kmscancel_result_error(r);

	seen->completed++;
	FUZZ_CHECK(kmscancel_result_message(r) != NULL || e == KMSCANCEL_OK);
	(void)kmscancel_strerror(e);
	(void)kmscancel_result_error_name(r);
	(void)kmscancel_result_key_id(r);
	(void)kmscancel_result_key_state(r);
	(void)kmscancel_result_request_id(r);
	(void)kmscancel_result_attempts(r);
	(void)kmscancel_result_arn(r);
	(void)kmscancel_result_enabled(r);
	(void)kmscancel_result_multi_region(r);
	(void)kmscancel_result_deletion_date(r);
	(void)kmscancel_result_json(r);
	for (size_t i = 0; i < kmscancel_result_scan_count(r); i++)
		FUZZ_CHECK(kmscancel_result_scan_account(r, i) && kmscancel_result_scan_region(r, i));
	kmscancel_result_free(r);
}

static void on_listing(kmscancel *h, kmscancel_call *call, kmscancel_result *r, void *userdata)
{
	((struct seen *)userdata)->listing_done = true;
	on_result(h, call, r, userdata);
}

static void on_watch(kmscancel *h, kmscancel_call *call, kmscancel_result *r, void *userdata)
{
	((struct seen *)userdata)->watch_done = true;
	on_result(h, call, r, userdata);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char key[] = "1234abcd-12ab-34cd-56ef-1234567890ab";
	kmscancel_cancel_options opts = KMSCANCEL_CANCEL_OPTIONS_INIT;
	struct seen seen = {0};
	unsigned rounds = 0;
	size_t sent = 0;
	bool shut = false;
	kmscancel *h = NULL;
	int peer = -1;
	char sink[4096];

	if (listen_fd < 0)
		setup();
	FUZZ_CHECK(kmscancel_open(socket_name, &h) == KMSCANCEL_OK);
	opts.enable_key = true;
	FUZZ_CHECK(kmscancel_cancel_key_deletion_async(h, key, &opts, on_result, &seen, NULL) == KMSCANCEL_OK);
	FUZZ_CHECK(kmscancel_describe_key_async(h, key, on_result, &seen, NULL) == KMSCANCEL_OK);
	FUZZ_CHECK(kmscancel_cancel_key_deletion_async(h, key, NULL, on_result, &seen, NULL) == KMSCANCEL_OK);
	FUZZ_CHECK(kmscancel_list_pending_deletions_async(h, NULL, on_key, on_listing, &seen, NULL) == KMSCANCEL_OK);
	FUZZ_CHECK(kmscancel_watch_guard_async(h, NULL, on_event, on_watch, &seen, NULL) == KMSCANCEL_OK);

	while (seen.completed < FUZZ_CLIENT_CALLS) {
		FUZZ_CHECK(++rounds < FUZZ_CLIENT_MAX_ROUNDS);
		(void)kmscancel_process(h);
		if (peer < 0) {
			peer = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			FUZZ_CHECK(peer >= 0 || errno == EAGAIN);
			if (peer < 0)
				continue;
		} else {
			/* A call that met the close with nothing of its reply
			 * read is sent again, once, on a new connection (the
			 * daemon's idle close): that one is closed unanswered,
			 * and the call must then complete. */
			int again = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			FUZZ_CHECK(again >= 0 || errno == EAGAIN);
			if (again >= 0)
				close(again);
		}
		while (recv(peer, sink, sizeof(sink), 0) > 0)
			;
		if (sent < size) {
			ssize_t n = send(peer, data + sent, size - sent, MSG_NOSIGNAL);

			if (n > 0)
				sent += (size_t)n;
			else if (errno != EAGAIN)
				sent = size; /* the client gave up on us */
		} else if (!shut) {
			shutdown(peer, SHUT_WR);
			shut = true;
		}
	}
	FUZZ_CHECK(seen.completed == FUZZ_CLIENT_CALLS && kmscancel_get_pending(h) == 0);
	kmscancel_close(h);
	if (peer >= 0)
		close(peer);
	/* A connection the client made but never got to: drop it. */
	while ((peer = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0)
		close(peer);
	return 0;
}
