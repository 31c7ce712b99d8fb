/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * AWS credentials and the providers that find them.
 *
 * A provider is a name plus a resolve function; creds_resolve_chain() asks
 * them in order (AWS.md §7.1, with systemd credentials second):
 *
 *   env      AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN …
 *   systemd  $CREDENTIALS_DIRECTORY/aws-credentials (LoadCredential=)
 *   shared   the active profile's static keys in ~/.aws/credentials and
 *            ~/.aws/config
 *
 * Later sources (credential_process, web identity, assume-role, ECS, IMDS)
 * are added as more providers in this table; those that need the network
 * will get an asynchronous resolve member next to the synchronous one.
 *
 * Secrets (secret access key, session token) are never logged and never
 * appear in an error message; they are wiped when the last reference goes.
 * Not thread-safe: everything runs on the daemon's loop thread.
 */
#include <stdbool.h>
#include <time.h>

#include "aws-settings.h"

/* Bounds on what we accept as a key or token; real ones are far smaller
 * (AKIDs 16..128 chars, secrets 40, STS tokens a few KiB). */
#define CREDS_MAX_KEY_LEN   256
#define CREDS_MAX_TOKEN_LEN 65536

/* The file name systemd credentials are looked up under:
 * LoadCredential=aws-credentials:/path/to/file */
#define CREDS_SYSTEMD_ID "aws-credentials"

struct aws_credentials {
	char *access_key_id;
	char *secret_access_key; /* secret: wiped on free */
	char *session_token;     /* secret, NULL for long-term keys */
	time_t expiration;       /* 0 = none */
	const char *source;      /* static: "environment", "systemd-credentials",
				  * "shared-credentials-file", "config-file", … */
	char *account_id;        /* 12 digits, or NULL when unknown */
	unsigned n_ref;
};

/*
 * New credentials with one reference; every string is copied.  token and
 * account_id may be NULL (or ""); source must be a static string.
 * Returns 0, -EINVAL when a field is malformed (see creds_check_fields()),
 * or -ENOMEM.
 */
int aws_credentials_new(const char *access_key_id, const char *secret_access_key, const char *session_token,
			time_t expiration, const char *source, const char *account_id, struct aws_credentials **ret);

/* Adds a reference; NULL-safe; returns c. */
struct aws_credentials *aws_credentials_ref(struct aws_credentials *c);
/* Drops a reference; the last one wipes the secret and token and frees.
 * NULL-safe; returns NULL. */
struct aws_credentials *aws_credentials_unref(struct aws_credentials *c);

/* The fields of credentials a source supplies, for validation and messages. */
enum creds_field {
	CREDS_FIELD_ACCESS_KEY_ID,
	CREDS_FIELD_SECRET_ACCESS_KEY,
	CREDS_FIELD_SESSION_TOKEN,
	CREDS_FIELD_ACCOUNT_ID,
	_CREDS_FIELD_MAX,
};
/* "access key ID", "secret access key", "session token", "account ID". */
const char *creds_field_to_string(enum creds_field f);

/*
 * Whether value is acceptable for field: keys 1..CREDS_MAX_KEY_LEN and
 * tokens 1..CREDS_MAX_TOKEN_LEN printable ASCII characters without spaces
 * (they go into HTTP headers); an account ID is 12 digits.  NULL is never
 * valid (optional fields are checked only when present).
 */
bool creds_field_valid(enum creds_field f, const char *value);

/* The first bad field among the given ones (token and account_id may be
 * NULL or ""), as creds_field_to_string() names it; NULL when all is well.
 * Fit for an error message: it never quotes the value. */
const char *creds_check_fields(const char *access_key_id, const char *secret_access_key, const char *session_token,
			       const char *account_id);

/* What a provider may look at. */
struct creds_context {
	const struct aws_settings *settings;
	aws_getenv_fn getenv_fn; /* NULL: the process environment */
	time_t now;
};

struct creds_provider {
	const char *name;        /* as in the config's CredentialSource= ("env") */
	const char *description; /* for messages ("environment variables") */
	/*
	 * Returns 0 with *ret (one reference); -ENOENT when this source is
	 * not configured here and the next should be tried; another negative
	 * errno when it is configured but broken.  Either way it may set
	 * *ret_error (malloc'ed): for -ENOENT a short note of what was looked
	 * for, otherwise what is wrong.
	 */
	int (*resolve)(const struct creds_context *ctx, struct aws_credentials **ret, char **ret_error);
};

extern const struct creds_provider creds_provider_env;
extern const struct creds_provider creds_provider_systemd;
extern const struct creds_provider creds_provider_shared;

/* The provider called name, or NULL. */
const struct creds_provider *creds_provider_find(const char *name);

/* The providers' names in chain order, space-separated, for messages
 * ("env systemd shared"). */
const char *creds_provider_names(void);

/*
 * Walks the default chain and returns the first credentials found (*ret, one
 * reference).  A provider that is configured but broken stops the walk: its
 * error is returned, since silently falling through to other credentials
 * would act as someone else.  When no provider has credentials, returns
 * -ENOENT with *ret_error listing every source tried and what it looked for.
 * getenv_fn NULL means the process environment.
 */
int creds_resolve_chain(const struct aws_settings *settings, aws_getenv_fn getenv_fn, struct aws_credentials **ret,
			char **ret_error);

/* The same for one named source only (CredentialSource=).  -EINVAL with a
 * message for an unknown name. */
int creds_resolve_source(const char *name, const struct aws_settings *settings, aws_getenv_fn getenv_fn,
			 struct aws_credentials **ret, char **ret_error);

/*
 * Static keys of profile in ini (aws_access_key_id, aws_secret_access_key,
 * aws_session_token, aws_account_id): used by the shared-file and systemd
 * providers.  source NULL picks "shared-credentials-file" or "config-file"
 * by where the access key ID was written.  Returns 0; -ENOENT (with a note)
 * when the profile is absent or has neither key; -EINVAL (with file:line)
 * when only one of the pair is there or a field is malformed.
 */
struct aws_ini;
int creds_from_profile(const struct aws_ini *ini, const char *profile, const char *source, struct aws_credentials **ret,
		       char **ret_error);
