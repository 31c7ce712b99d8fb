/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One set of AWS credentials, shared by every request, fetched once and
 * refreshed in the background ahead of expiry.  One cache per identity: the
 * daemon's default credentials now, one per [Account N] later (give such a
 * cache its own fetch function in the options).
 *
 * States (creds_cache_state_to_string(); transitions logged at debug):
 *
 *   EMPTY       nothing fetched yet (or dropped by a reload)
 *   FETCHING    no usable set; one fetch runs; requests wait for it
 *   VALID       a usable set; a refresh is scheduled ahead of its expiry
 *   REFRESHING  a usable set is served; one background fetch runs
 *   STALE       a usable set is served; the last refresh failed, the next
 *               try is scheduled with backoff
 *   FAILED      no usable set; the last fetch failed; requests fail at once
 *               with that error (CredentialsUnavailable), and a retry is
 *               scheduled with backoff
 *
 * Rules:
 *   - A request never waits while a usable set is cached; it waits only when
 *     there is none and a fetch is running (bounded by the providers' own
 *     timeouts), and however many wait, one fetch runs.
 *   - Refresh at expiry minus a window of CREDS_REFRESH_WINDOW_SEC plus up
 *     to CREDS_REFRESH_JITTER_SEC (10–15 min, like the SDKs), or half the
 *     set's lifetime when that is shorter.  A set stops being used
 *     CREDS_EXPIRY_MARGIN_SEC (or a quarter of its lifetime) before it
 *     expires, so a request signed with it still lands in time.
 *   - A failed refresh is logged and retried with jittered exponential
 *     backoff; the old set stays in use until it expires.
 *   - Static stability for IMDS (AWS.md §7.8): a set IMDS hands out already
 *     expired, or no newer than the one we had, is used for another 5–10
 *     minutes before asking again; and when IMDS cannot be reached after
 *     the set expired, the set is extended by 5–10 minutes (logged), as the
 *     SDKs do, rather than failing every call during an IMDS outage.
 *   - The shared credentials/config files and the systemd credential are
 *     watched (stat: device, inode, size, mtime), on access at most once a
 *     CREDS_FILE_CHECK_INTERVAL_MS: a change starts a fetch.
 *
 * Secrets stay inside struct aws_credentials (wiped when the last reference
 * goes); nothing here logs or reports more than the source, the last four
 * characters of the access key ID and the expiry.
 *
 * Not thread-safe: the loop thread only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "aws-settings.h"

struct event_base;
struct evdns_base;
struct aws_credentials;
struct creds_fetch;
struct creds_cache;

#define CREDS_REFRESH_WINDOW_SEC       600 /* refresh this long before expiry … */
#define CREDS_REFRESH_JITTER_SEC       300 /* … plus up to this much more */
#define CREDS_EXPIRY_MARGIN_SEC        30  /* stop using a set this long before it expires */
#define CREDS_BACKOFF_BASE_MS          1000
#define CREDS_BACKOFF_MAX_MS           60000
#define CREDS_ON_DEMAND_RETRY_MS       5000 /* with no usable set, a request may trigger a fetch this long after the last */
#define CREDS_FILE_CHECK_INTERVAL_MS   1000
#define CREDS_STATIC_STABILITY_MIN_SEC 300 /* IMDS extension: 5 … */
#define CREDS_STATIC_STABILITY_MAX_SEC 600 /* … to 10 minutes */

enum creds_cache_state {
	CREDS_CACHE_EMPTY,
	CREDS_CACHE_FETCHING,
	CREDS_CACHE_VALID,
	CREDS_CACHE_REFRESHING,
	CREDS_CACHE_STALE,
	CREDS_CACHE_FAILED,
	_CREDS_CACHE_STATE_MAX,
};
/* "empty", "fetching", "valid", "refreshing", "stale", "failed". */
const char *creds_cache_state_to_string(enum creds_cache_state s);

/* done for creds_cache_get(): r == 0 with c (borrowed: take a reference to
 * keep it past the callback), or r < 0 with error (borrowed, no secret). */
typedef void (*creds_cache_done_fn)(int r, struct aws_credentials *c, const char *error, void *userdata);

/* A custom fetch (AssumeRole per account; tests): the same contract as
 * creds_chain_start() in creds.h. */
typedef int (*creds_cache_fetch_fn)(void *fetch_userdata,
				    void (*done)(int r, struct aws_credentials *c, const char *error, void *userdata),
				    void *userdata, struct aws_credentials **ret, struct creds_fetch **ret_fetch,
				    char **ret_error);

struct creds_cache_options {
	const char *name;                    /* for the log: "default", "account 111122223333" */
	struct event_base *base;             /* borrowed */
	struct evdns_base *dns;              /* borrowed, may be NULL */
	const struct aws_settings *settings; /* borrowed; may change between fetches (reload) */
	const char *source;                  /* CredentialSource=, NULL: the chain; copied */
	unsigned process_timeout_ms;         /* credential_process, 0: the default */
	creds_cache_fetch_fn fetch;          /* NULL: the provider chain / source */
	void *fetch_userdata;
	time_t (*now)(void); /* wall clock; NULL: time() (tests inject) */
};

/* A cache; starts fetching at once.  0 or -ENOMEM. */
int creds_cache_new(const struct creds_cache_options *o, struct creds_cache **ret);
/* Cancels a running fetch; waiting requests get an error ("kmscanceld is
 * shutting down").  NULL-safe, returns NULL. */
struct creds_cache *creds_cache_free(struct creds_cache *c);
/* The same, with why as the waiting requests' error (-ECANCELED): an
 * [Account N] section that a reload removed.  NULL-safe, returns NULL. */
struct creds_cache *creds_cache_close(struct creds_cache *c, const char *why);

/*
 * The credentials for one request.  done runs exactly once: immediately
 * (before this returns) when a usable set is cached or the failure is
 * already known, else from the loop when the running fetch ends.  Never
 * blocks.  Returns 0, or -ENOMEM (done not called).
 */
int creds_cache_get(struct creds_cache *c, creds_cache_done_fn done, void *userdata);
/* A request that waits in creds_cache_get() (same done and userdata) gives
 * up: done will not run for it.  Nothing if it does not wait (its done has
 * run).  NULL-safe. */
void creds_cache_cancel(struct creds_cache *c, creds_cache_done_fn done, void *userdata);

/*
 * KMS said the token of bad has expired (ExpiredTokenException): unless the
 * cache has already moved on to another set, that set is no longer used and
 * one fetch starts; a creds_cache_get() after this waits for it.  Many
 * requests reporting the same set cause one fetch.
 */
void creds_cache_expired(struct creds_cache *c, const struct aws_credentials *bad);

/*
 * SIGHUP, or settings reloaded: fetch again now (files re-read, the chain
 * walked again).  The current set is served until the new one arrives; if
 * the fetch fails it stays in use until it expires.  Optionally new
 * options (settings, source, timeouts) first: o may be NULL.
 */
int creds_cache_reload(struct creds_cache *c, const struct creds_cache_options *o);

/* The cached set, if usable now (borrowed), else NULL.  Does not fetch. */
struct aws_credentials *creds_cache_peek(struct creds_cache *c);

struct creds_cache_status {
	enum creds_cache_state state;
	const char *source;     /* of the cached set, or NULL */
	char key_id_suffix[5];  /* last 4 characters of the access key ID, "" if none */
	time_t expiration;      /* 0: none or never */
	time_t next_refresh;    /* 0: none scheduled */
	const char *last_error; /* of the last failed fetch while still relevant, or NULL */
	unsigned long fetches;  /* started since creation */
	unsigned long failures; /* of those, failed */
};
/* Borrowed strings valid until the next call into c.  Never a secret. */
void creds_cache_get_status(struct creds_cache *c, struct creds_cache_status *ret);
