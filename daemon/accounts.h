/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Which credentials serve which account.  CancelKeyDeletion never crosses
 * accounts (DESIGN.md §5), so a key ARN's account picks the credentials:
 *
 *   [Account N] Profile=P    a profile of the shared files, with a cache
 *                            of its own (the environment's keys, IMDS and
 *                            the container endpoint are the default
 *                            credentials' and never used for it)
 *   [Account N] RoleArn=R    STS AssumeRole with the default credentials
 *                            (ExternalId=, DurationSeconds=), a cache of
 *                            its own refreshed ahead of expiry
 *   the default credentials  their own account only: [AWS] Account=, else
 *                            the account the credentials carry, else
 *                            learned once with STS GetCallerIdentity
 *
 * An ARN of any other account is refused before any request is made.
 * Bare key IDs use the default credentials (and the default region).
 *
 * Each account's credentials, the default ones included, live in a
 * creds_cache (creds-cache.h) that this module owns: one fetch at a time
 * however many requests wait, refreshed ahead of expiry, the old set
 * served while a refresh fails.  Reload keeps the accounts that stay and
 * their caches (their new options apply at once), makes new ones and drops
 * the ones whose section went away.  A call keeps a reference to the
 * account it was routed to (account_ref()) and asks it for credentials
 * (account_credentials_get()): once a reload took the account away, or the
 * default credentials turned out to serve another account, it gets why
 * instead of other credentials.
 *
 * Not thread-safe: the loop thread only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "creds-cache.h"

struct event_base;
struct evdns_base;
struct aws_settings;
struct aws_credentials;
struct daemon_config;
struct accounts;
struct account;

/* GetCallerIdentity: a failed attempt is not repeated for this long (a
 * request that needs the answer meanwhile gets the failure at once). */
#define ACCOUNTS_IDENTITY_RETRY_MS 5000
/* RoleSessionName is at most 64 characters of [\w+=,.@-]. */
#define ACCOUNTS_SESSION_NAME_MAX 64

/* Where an account's credentials come from. */
enum account_source {
	ACCOUNT_SOURCE_DEFAULT, /* the default credentials (their own account) */
	ACCOUNT_SOURCE_PROFILE, /* [Account N] Profile= */
	ACCOUNT_SOURCE_ROLE,    /* [Account N] RoleArn= */
	_ACCOUNT_SOURCE_MAX,
};
/* "default", "profile", "role". */
const char *account_source_to_string(enum account_source s);

/* Whether the default credentials' account is known. */
enum accounts_identity_state {
	IDENTITY_UNKNOWN,  /* not asked yet */
	IDENTITY_ASKING,   /* GetCallerIdentity (or the credentials) pending */
	IDENTITY_KNOWN,    /* [AWS] Account=, the credentials' AccountId, or STS said */
	IDENTITY_FAILED,   /* the last attempt failed; retried on demand */
	_IDENTITY_STATE_MAX,
};
const char *accounts_identity_state_to_string(enum accounts_identity_state s);

struct accounts_options {
	struct event_base *base;             /* borrowed */
	struct evdns_base *dns;              /* borrowed, may be NULL */
	const struct daemon_config *config;  /* borrowed during the call: [Account N], [AWS] Account=,
					      * CredentialSource= of the default credentials */
	const struct aws_settings *settings; /* borrowed; must outlive the object (daemon's, replaced by reload) */
	aws_getenv_fn getenv_fn;             /* the process environment's lookup (Profile= accounts filter it) */
	unsigned process_timeout_ms;         /* credential_process */
	const char *hostname;                /* for RoleSessionName; NULL: gethostname() */
};

/*
 * Builds the default credentials and the table from o->config; starts
 * fetching every account's credentials (a failure is retried in the
 * background, not an error here) and, unless the default account is
 * configured, learning it.  Returns 0, or a negative errno with *ret_error
 * (malloc'ed, may be NULL).
 */
int accounts_new(const struct accounts_options *o, struct accounts **ret, char **ret_error);
/* Waiting requests get an error.  NULL-safe, returns NULL. */
struct accounts *accounts_free(struct accounts *a);

/*
 * SIGHUP: the new configuration and settings.  The default credentials are
 * fetched afresh (the current set serves until the new one arrives; when
 * that cannot start, the error is returned and the accounts stay as they
 * were).  Accounts that stay keep their cache (reloaded with the new
 * options: files re-read, roles assumed again); new ones get a cache,
 * removed ones are dropped (their waiting requests fail with -ECANCELED and
 * a message saying the section went away).  The default account is learned
 * again unless configured.  0 or -ENOMEM (then the accounts did not change).
 */
int accounts_reload(struct accounts *a, const struct accounts_options *o);

/* What serves an account's keys: filled by accounts_route(). */
struct account_route {
	enum account_source source;
	char account[13];         /* "" for a bare key ID whose account is unknown */
	const char *region;       /* default region for its bare key IDs, or NULL (the daemon's) */
	struct account *acct;     /* borrowed during the callback: account_ref() to keep it */
	const char *label;        /* "default", "profile prod", "role arn:…": for audit, never a secret */
};

/* done for accounts_route(): r == 0 with route (borrowed, valid during the
 * callback), else r < 0 with error (borrowed, never a secret):
 *   -EPERM       no credentials for that account (refused, nothing sent)
 *   -EKEYEXPIRED the default account could not be learned (CredentialsUnavailable) */
typedef void (*accounts_route_fn)(int r, const struct account_route *route, const char *error, void *userdata);

struct accounts_wait;

/*
 * The credentials for a key of account (its ARN's, NULL for a bare key
 * ID).  A section, or the default credentials for their own account, is
 * answered at once (done runs before this returns; *ret_wait is NULL).
 * When account names no section and the default account is not known
 * yet, the default credentials are asked (GetCallerIdentity when they do
 * not say), one lookup however many wait, and done runs later with
 * *ret_wait set until then (accounts_wait_cancel() to give up).
 * Returns 0, or -ENOMEM (done not called).
 */
int accounts_route(struct accounts *a, const char *account, accounts_route_fn done, void *userdata,
		   struct accounts_wait **ret_wait);
/*
 * accounts_route() for a bare key ID of the default credentials when the
 * policy needs its account (policy.h): waits, as above, while their account
 * is being learned (starting GetCallerIdentity unless it failed less than
 * ACCOUNTS_IDENTITY_RETRY_MS ago), then done(0) with the default route,
 * whose account is "" when it could not be learned.
 */
int accounts_route_learning(struct accounts *a, accounts_route_fn done, void *userdata,
			    struct accounts_wait **ret_wait);
/* done will not run.  NULL-safe, returns NULL. */
struct accounts_wait *accounts_wait_cancel(struct accounts *a, struct accounts_wait *w);

/* A reference to acct, which stays valid (though maybe gone: see below)
 * after reloads and accounts_free(). */
struct account *account_ref(struct account *acct);
/* NULL-safe, returns NULL. */
struct account *account_unref(struct account *acct);

/*
 * The credentials of the account a call was routed to, for a key of
 * account expected ("" or NULL: unknown), as creds_cache_get() gives them:
 * done runs once, maybe before this returns.  A call keeps its account's
 * credentials or fails, it never falls back to other ones (the enable
 * step, settle and ExpiredToken retries): -ENOENT with why (never a
 * secret; done not called) when a reload removed acct's [Account N]
 * section, when the daemon is shutting down, or when the default
 * credentials now serve another account than expected.  -ENOMEM (done not
 * called).
 */
int account_credentials_get(struct account *acct, const char *expected, creds_cache_done_fn done, void *userdata,
			    char *why, size_t size);
/* A request waiting in account_credentials_get() gives up (creds_cache_cancel()). */
void account_credentials_cancel(struct account *acct, creds_cache_done_fn done, void *userdata);
/* KMS said bad's token expired (creds_cache_expired()); nothing once acct
 * is gone. */
void account_credentials_expired(struct account *acct, const struct aws_credentials *bad);

/* The default credentials' cached set if usable now (borrowed), else NULL.
 * Does not fetch. */
struct aws_credentials *accounts_default_peek(struct accounts *a);

/* The default credentials' account if known, else NULL. */
const char *accounts_default_account(struct accounts *a);

/* One entry of GetStatus "accounts" and --check-config: index 0 is the
 * default credentials, then the sections in file order.  Strings are
 * borrowed until the next call into a.  0, or -ENOENT past the last. */
struct account_status {
	enum account_source source;
	const char *account; /* NULL: not known (default credentials) */
	const char *profile, *role_arn, *region;
	bool external_id;    /* one is set (its value is never shown) */
	struct creds_cache_status creds;
};
int accounts_get_status(struct accounts *a, size_t index, struct account_status *ret);
enum accounts_identity_state accounts_identity_state(const struct accounts *a);
/* Why the default account is not known (the last failure), or NULL. */
const char *accounts_identity_error(const struct accounts *a);

/*
 * --check-config: one "account:" line per account on out, saying what
 * serves it (the default credentials and how their account is known; the
 * profile and what its credentials resolve to, without the network; the
 * role, where it is assumed, whether an external ID is set) — never a
 * secret.  0, or a negative errno after printing why (a section whose
 * profile cannot be used).
 */
#include <stdio.h>
int accounts_check_config(const struct daemon_config *c, const struct aws_settings *s, FILE *out);

/* The RoleSessionName used for AssumeRole: "kmscanceld@HOST", HOST cut and
 * cleaned to STS's alphabet, 64 characters at most.  ret: at least
 * ACCOUNTS_SESSION_NAME_MAX + 1 bytes. */
void accounts_session_name(const char *hostname, char *ret);

/* Profile= accounts read the process environment through this filter:
 * the default credentials' variables (keys, web identity, container,
 * CREDENTIALS_DIRECTORY, AWS_PROFILE) are hidden and IMDS is off, so only
 * the named profile can answer. */
const char *accounts_profile_getenv(const char *name);
