/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The KMS client: awsJson1_1 calls (CancelKeyDeletion, DescribeKey,
 * EnableKey, and the pages of ListKeys and ListAliases) signed with SigV4 and sent over kept-alive HTTPS pools, one per
 * endpoint and account, with the standard retry mode's backoff and clock-skew
 * correction.  One client per daemon; it owns its pools, signing-key cache
 * and (unless a transport is given) its TLS context.
 *
 * kms.c runs the calls (attempts, deadline, rate limit, retries); beside it
 * kms-pools.c keeps the pools and their retry quotas, kms-retry.c the retry
 * and clock-skew arithmetic and the real clocks, kms-wire.c the request body,
 * signature and headers and the answer's body, kms-https.c the default
 * transport (kms-transport.h: the vtable and clock hook tests inject).
 */
#include <stdbool.h>
#include <sys/types.h>

#include "aws-settings.h"
#include "https-pool.h"
#include "kms-transport.h"
#include "kmscancel.h"

struct event_base;
struct evdns_base;
struct json_object;
struct aws_credentials;

enum kms_operation {
	KMS_OP_CANCEL_KEY_DELETION,
	KMS_OP_DESCRIBE_KEY,
	KMS_OP_ENABLE_KEY,
	KMS_OP_LIST_KEYS,    /* one page: the scan of pending deletions (pending.h) */
	KMS_OP_LIST_ALIASES, /* one page, likewise */
	_KMS_OP_MAX,
};
/* "CancelKeyDeletion", … (the X-Amz-Target suffix). */
const char *kms_operation_to_string(enum kms_operation op);

#define KMS_DEFAULT_MAX_ATTEMPTS 3
#define KMS_DEFAULT_RETRY_BASE_MS 1000 /* botocore's base (AWS.md §3.2) */
#define KMS_MAX_BACKOFF_MS 20000
/* [KMS] AttemptTimeout=: how long KMS has to answer an attempt once it is
 * written, when another attempt could follow (see kms_call_start). */
#define KMS_DEFAULT_ATTEMPT_TIMEOUT_MS 10000
/* The standard mode's retry quota, per endpoint (AWS.md §3.2): a failing
 * endpoint soon gets no more retries, only first attempts. */
#define KMS_RETRY_QUOTA_CAPACITY 500
#define KMS_RETRY_COST 5
#define KMS_RETRY_COST_TIMEOUT 10
#define KMS_RETRY_QUOTA_SUCCESS_BONUS 1
/* KMS request quotas per account and Region, requests per second (AWS.md §4). */
#define KMS_DEFAULT_CANCEL_RATE 5.0
#define KMS_DEFAULT_ENABLE_RATE 5.0
#define KMS_DEFAULT_DESCRIBE_RATE 2000.0
/* ListKeys and ListAliases: 100 each (the KMS developer guide's request
 * quotas table); [KMS] ListRate= sets both. */
#define KMS_DEFAULT_LIST_RATE 100.0
/* [KMS] MaxPools=: connection pools (one per endpoint and account) kept at
 * once.  Real deployments use a few regions for a few accounts; a caller
 * naming a thousand regions must not make a thousand pools, and one uid's
 * calls hold at most a quarter of them alone (kms.c, struct endpoint_pool). */
#define KMS_DEFAULT_MAX_POOLS 64
/* GetStatus lists at most this many pools, the busiest (kms_client_list_endpoints). */
#define KMS_STATUS_POOLS_MAX 16

struct kms_client_options {
	const char *endpoint_url; /* overrides every region's endpoint, or NULL */
	const char *ca_bundle;    /* PEM file; NULL: the system trust store */
	bool fips;
	bool dualstack; /* kms.REGION.api.aws (endpoint.h) */
	unsigned max_attempts;  /* total attempts per call, >= 1; 0: the mode's default */
	unsigned retry_base_ms; /* full-jitter backoff base */
	/* What is retried and how (kms-retry.h); adaptive also paces each
	 * endpoint and account after throttling (ratelimit-adaptive.h),
	 * whether or not rate_limit is set. */
	enum aws_retry_mode retry_mode;
	unsigned attempt_timeout_ms;    /* see KMS_DEFAULT_ATTEMPT_TIMEOUT_MS; 0: none, the call's deadline only */
	struct https_pool_options pool; /* resolver and proxy are the client's own */
	/* "HOST:PORT=ADDR:PORT,…" (see dns-cache.h), or NULL */
	const char *connect_to;
	/* where https_proxy / no_proxy are read (see proxy.h); NULL: no proxy */
	const char *(*getenv)(const char *name);
	/* Client-side rate limit (ratelimit.h): every attempt, retries
	 * included, takes a token of its account/region/operation bucket. */
	bool rate_limit;
	double rates[_KMS_OP_MAX]; /* requests per second; 0: the AWS default */
	unsigned max_queued;       /* per caller and bucket; 0: the default */
	unsigned max_pools;        /* pools kept at once; 0: KMS_DEFAULT_MAX_POOLS */
	/* Borrowed, must outlive the client: where requests go.  NULL: the
	 * HTTPS pools (kms-https.h), made from ca_bundle, pool, connect_to and
	 * getenv above and owned by the client.  Unit tests inject a fake. */
	const struct kms_transport *transport;
	/* Copied: the clocks and jitter the client reads; NULL: kms_clock_real. */
	const struct kms_clock *clock;
};

struct kms_client;
/* Returns 0, or a negative errno with *ret_error (malloc'ed) saying why
 * (bad endpoint URL, unreadable CA bundle, unusable proxy or connect_to).  base and dns are borrowed. */
int kms_client_new(struct event_base *base, struct evdns_base *dns, const struct kms_client_options *o,
		   struct kms_client **ret, char **ret_error);
/* Fails nothing silently: every pending call (in flight, backing off or
 * waiting for a token) completes with EndpointUnavailable, its callback run
 * from here; kms_call_start() refuses new calls meanwhile.  Free the client
 * before whatever the callbacks reply to.  NULL-safe, returns NULL. */
struct kms_client *kms_client_free(struct kms_client *c);

/* What a call ended with.  Borrowed by the callback, valid only during it. */
struct kms_result {
	kmscancel_error error;     /* KMSCANCEL_OK or the io.kmscancel error */
	const char *error_code;    /* AWS error code ("NotFoundException"), or NULL */
	const char *message;       /* human-readable, never NULL when error != OK */
	const char *request_id;    /* x-amzn-RequestId of the last response, or NULL */
	unsigned attempts;         /* HTTP attempts made */
	struct json_object *body;  /* parsed response body on success ({} if empty) */
	/* An earlier attempt was sent but its answer was lost (reset,
	 * timeout, garbled reply): KMS may have carried it out, so an error
	 * from a later attempt (KMSInvalidStateException) may be the echo of
	 * our own success. */
	bool response_lost;
};
typedef void (*kms_done_fn)(const struct kms_result *r, void *userdata);

struct kms_request {
	enum kms_operation op;
	const char *key_id;     /* as sent on the wire: key ID or key ARN; NULL for ListKeys and
				 * a ListAliases of every alias */
	/* ListKeys, ListAliases: the page asked for */
	unsigned limit;         /* Limit, 0: KMS's default */
	const char *marker;     /* the previous page's NextMarker, NULL: the first page */
	const char *region;     /* signing region and endpoint region */
	const char *partition;  /* from the ARN, or NULL (derived from region) */
	struct aws_credentials *credentials; /* referenced for the call's lifetime */
	unsigned timeout_ms;    /* deadline for the whole call, retries included */
	const char *account;    /* the key's account, for the rate limit and the pool; NULL: unknown */
	uid_t caller;           /* who asked: the rate limiter's fair queue, the pools' per-uid share */
};

/* Opens one connection to the endpoint of region (the override if any)
 * ahead of the first call: [KMS] Prewarm=.  Returns 0, -EINVAL for an
 * unusable region, -ENOMEM, -EIO. */
int kms_client_prewarm(struct kms_client *c, const char *region);

struct kms_call;
/* Starts a call; done runs exactly once, later (never from inside this
 * function), unless the call is abandoned.  Returns NULL only when out of
 * memory.  Everything in req is copied.
 *
 * Each attempt first waits for a token of the rate limiter (when enabled);
 * a caller with too many requests waiting gets ThrottlingException at once.
 * At the deadline the call completes with KMSCANCEL_E_TIMEOUT wherever it
 * is (waiting for a token, backing off, or with a request in flight, which
 * is abandoned).
 *
 * An attempt KMS does not answer within the attempt timeout once written
 * (a half-open kept-alive connection, a stuck server) is given up, its
 * connection closed, and retried like any timeout, within the deadline.
 * Only an attempt that a retry could follow is cut short this way (attempts
 * and retry quota left, and the timeout plus the longest backoff within the
 * deadline); any other waits for its answer until the deadline. */
struct kms_call *kms_call_start(struct kms_client *c, const struct kms_request *req, kms_done_fn done,
				void *userdata);
/* The caller lost interest: done will not run; in-flight I/O is dropped. */
void kms_call_abandon(struct kms_call *call);

struct kms_client_stats {
	unsigned long calls;
	unsigned long attempts;
	unsigned long retries;
	unsigned long throttled;       /* throttling errors AWS answered */
	unsigned long retry_quota_out; /* retries refused by the retry quota */
	unsigned long rate_limited;    /* attempts that waited for a token */
	unsigned long rate_rejected;   /* calls refused: the caller's queue was full */
	unsigned rate_waiting;         /* attempts waiting for a token now */
	unsigned long adaptive_waited; /* attempts that waited for the adaptive mode's send rate */
	long clock_offset_sec;
	struct https_pool_stats pools; /* summed over every endpoint */
	unsigned n_pools;
	unsigned max_pools;            /* MaxPools= in force */
	unsigned long pools_evicted;   /* pools freed: idle too long, or room for another */
	unsigned long pools_refused;   /* calls refused: every pool was in use (MaxPools=) */
	unsigned long in_flight; /* calls started, not yet completed or abandoned */
};
void kms_client_get_stats(const struct kms_client *c, struct kms_client_stats *ret);

/* One endpoint's pool, for GetStatus.  url is borrowed from the client and
 * valid until its next call or its free. */
struct kms_endpoint_stats {
	const char *url;
	const char *account;      /* whose calls it carries, NULL: not yet known */
	unsigned max_connections; /* the pool's size */
	bool adaptive_paced;      /* adaptive mode, throttled: sending at send_rate */
	double send_rate;         /* requests per second (adaptive_paced only) */
	struct https_pool_stats pool;
};
/* The busiest max pools into ret[] (connections in use and queued requests
 * first, then requests sent), whatever their number: a reply listing them
 * must stay small however many there are.  Returns how many pools there are
 * in all (possibly more than max), or -ENOMEM. */
long kms_client_list_endpoints(const struct kms_client *c, struct kms_endpoint_stats *ret, size_t max);
