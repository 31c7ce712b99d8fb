/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the KMS client needs from the network, behind a vtable (as aws-c-auth
 * and libcurl put HTTP behind one): per endpoint a pool that takes a request
 * and answers it once through a callback, and can drop a request in flight;
 * and the clocks and randomness the retry logic reads.  The daemon uses the
 * HTTPS pools (kms-https.h) and the real clocks; unit tests inject a fake of
 * each and run without TLS, a server or a network.
 *
 * Everything runs on the thread of the client's event_base.
 */
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "https-pool.h"

struct url;

/* One HTTP request, borrowed for the duration of submit: the transport
 * serialises or copies what it keeps.  headers are those signed and sent
 * (Host and Content-Length are the transport's to add). */
struct kms_http_request {
	const char *method;
	const char *path;
	const char *host_header;
	const struct http_request_header *headers;
	size_t n_headers;
	const char *body;
	size_t body_len;
	/* bounds the whole exchange, queueing and connecting included (0: none) */
	unsigned timeout_ms;
	/* once written, the answer must arrive within this (0: no such limit);
	 * see https_request_set_response_timeout */
	unsigned response_timeout_ms;
};

/*
 * A transport.  Handles are the implementation's own (void *): a pool per
 * endpoint, a request per submit.  The contracts are https-pool.h's, which
 * every implementation keeps:
 *  - pool_new: a pool for u's scheme, host and port, NULL when out of memory;
 *  - pool_free: fails pending requests with HTTPS_E_SHUTDOWN, NULL-safe;
 *  - submit: done runs exactly once, later, from the event loop (never from
 *    inside submit or abandon) unless the request is abandoned first; NULL
 *    on allocation failure or a full queue (done not run then); the
 *    request may carry secrets: wipe copies when dropped;
 *  - abandon: done will not run; NULL-safe; not once done has started;
 *  - prewarm: opens up to n connections ahead of use, 0 or a negative errno;
 *  - get_stats: the pool's counters (queued is checked against
 *    HTTPS_POOL_MAX_QUEUED before each submit);
 *  - free: frees the implementation (the client's pools are freed first).
 */
struct kms_transport_ops {
	void *(*pool_new)(void *impl, const struct url *u);
	void (*pool_free)(void *pool);
	void *(*submit)(void *pool, const struct kms_http_request *req, https_done_fn done, void *userdata);
	void (*abandon)(void *request);
	int (*prewarm)(void *pool, unsigned n);
	void (*get_stats)(const void *pool, struct https_pool_stats *ret);
	void (*free)(void *impl);
};

struct kms_transport {
	const struct kms_transport_ops *ops;
	void *impl;
};

/*
 * Time and chance as the client sees them.  now_wall: seconds since the
 * epoch (X-Amz-Date, the clock-skew measure); now_mono_ms: a monotonic
 * clock in milliseconds (deadlines, attempt timeouts, pool idleness);
 * random: uniform 32 bits (the backoff's full jitter).  Timers stay on the
 * event_base: a test that moves now_mono_ms forward sees deadlines and
 * backoffs computed from it, while the timers themselves fire in real time.
 */
struct kms_clock {
	time_t (*now_wall)(void *ctx);
	uint64_t (*now_mono_ms)(void *ctx);
	uint32_t (*random)(void *ctx);
	void *ctx;
};

/* The real clocks (time, CLOCK_MONOTONIC) and getrandom (kms-retry.c). */
extern const struct kms_clock kms_clock_real;
