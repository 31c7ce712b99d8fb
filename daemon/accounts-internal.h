/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Inside the accounts (accounts.h), shared by its files: accounts.c (the
 * table, its caches, reload, status), accounts-route.c (routing a key to
 * its credentials, learning the default credentials' account) and
 * accounts-role.c (the AssumeRole fetch of RoleArn= accounts, the
 * environment Profile= accounts see).  Nothing else includes this.
 */
#include <stdint.h>

#include "accounts.h"
#include "creds.h"

struct creds_net;
struct sts_call;

/* One [Account N] section, or the default credentials, and their cache.
 * Refcounted: the table holds one reference, each call routed to it one
 * (account_ref()). */
struct account {
	unsigned n_ref;
	struct accounts *owner; /* NULL once the table let it go */
	char *gone;             /* why once the table let it go (account_credentials_get()), else NULL */
	enum account_source source;
	char id[13];
	char *profile, *role_arn, *external_id, *region;
	unsigned duration_sec;
	char *label;
	struct aws_settings *settings; /* Profile=: the profile's own settings */
	struct creds_cache *cache;     /* NULL once the table let it go */
};

/* A request waiting to learn the default account. */
struct accounts_wait {
	struct accounts_wait *next;
	char account[13];
	accounts_route_fn done;
	void *userdata;
};

/* creds_cache_get() on the default credentials cannot be withdrawn: the
 * object it calls back outlives a cancel and is freed by that callback. */
struct identity_get {
	struct accounts *a; /* NULL once cancelled */
};

struct accounts {
	struct accounts_options o; /* config and hostname are not kept */
	char session_name[ACCOUNTS_SESSION_NAME_MAX + 1];
	char *config_file;         /* for messages */
	unsigned sts_timeout_ms;
	struct account *default_acct; /* the default credentials (source ACCOUNT_SOURCE_DEFAULT) */
	struct account **list;        /* the [Account N] sections, in file order */
	size_t n;
	struct creds_net *net; /* STS calls: GetCallerIdentity, AssumeRole */

	/* The default credentials' account. */
	char configured[13]; /* [AWS] Account=, "" when not set */
	enum accounts_identity_state identity;
	char learned[13];
	char *identity_error;
	uint64_t identity_failed_at_ms; /* monotime_msec() */
	struct identity_get *identity_get;  /* waiting for the default credentials */
	struct sts_call *identity_call;     /* GetCallerIdentity in flight */
	struct accounts_wait *waiters, **waiters_tail;
};

/* accounts.c */
/* The [Account N] section for id (NULL: none), or NULL. */
struct account *account_find(const struct accounts *a, const char *id);

/* accounts-route.c */
void identity_set_state(struct accounts *a, enum accounts_identity_state s);
/* Starts learning the default account, unless it is known or being learned. */
void identity_start(struct accounts *a);
/* Stops learning (reload, free): the lookup in flight is dropped. */
void identity_stop(struct accounts *a);
/* Answers every waiting request now that the default account is known or
 * could not be learned. */
void serve_waiters(struct accounts *a);

/* accounts-role.c */
/* creds_cache_fetch_fn of a RoleArn= account (fetch_userdata: its struct
 * account): the default credentials, then STS AssumeRole. */
int role_fetch_start(void *fetch_userdata, creds_fetch_done_fn done, void *userdata, struct aws_credentials **ret,
		     struct creds_fetch **ret_fetch, char **ret_error);
