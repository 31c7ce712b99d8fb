/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * AWS credentials and the providers that find them.
 *
 * A provider is a name plus a resolve function (synchronous: environment,
 * files) or a start function (asynchronous: the network or a child
 * process).  creds_chain_start() asks them in the AWS SDKs' order (botocore's,
 * AWS.md §7.1), with systemd credentials right after the environment:
 *
 *   env           AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN …
 *   systemd       $CREDENTIALS_DIRECTORY/aws-credentials (LoadCredential=)
 *   assume-role   the profile's role_arn with source_profile or
 *                 credential_source: STS AssumeRole, chained (creds-role-chain.h)
 *   web-identity  AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, or the profile's
 *                 web_identity_token_file + role_arn: STS AssumeRoleWithWebIdentity
 *   sso           an IAM Identity Center profile: refused, saying what to use
 *   shared        the active profile's static keys in ~/.aws/credentials, or
 *                 in ~/.aws/config when the profile has no credential_process
 *   process       the profile's credential_process
 *   container     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI (ECS, EKS)
 *   imds          EC2 instance metadata, IMDSv2
 *
 * A provider that is configured but broken stops the walk (its error is the
 * answer): falling through to other credentials would act as someone else.
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
	char *source_owned;      /* source when set by aws_credentials_set_source() */
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

/* Sets c->source to "SOURCE (DETAIL)" ("assume-role (profile a via b)"),
 * a copy c owns; for sources whose name says more than a static string.
 * 0 or -ENOMEM (c unchanged). */
int aws_credentials_set_source(struct aws_credentials *c, const char *source, const char *detail);

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

/* The source names credentials carry (aws_credentials.source). */
#define CREDS_SOURCE_IMDS "imds"

/* IMDS and the container endpoint: botocore's defaults, overridden by
 * AWS_METADATA_SERVICE_TIMEOUT (seconds) / AWS_METADATA_SERVICE_NUM_ATTEMPTS
 * or the profile's metadata_service_timeout / metadata_service_num_attempts. */
#define CREDS_IMDS_DEFAULT_TIMEOUT_MS      1000
#define CREDS_IMDS_DEFAULT_ATTEMPTS        1
#define CREDS_CONTAINER_DEFAULT_TIMEOUT_MS 2000
#define CREDS_CONTAINER_DEFAULT_ATTEMPTS   3
#define CREDS_METADATA_MAX_TIMEOUT_MS      60000
#define CREDS_METADATA_MAX_ATTEMPTS        10
/* Pause between attempts at the container endpoint (botocore: 1 s). */
#define CREDS_CONTAINER_RETRY_DELAY_MS 1000
/* STS AssumeRoleWithWebIdentity: the whole exchange. */
#define CREDS_STS_TIMEOUT_MS 10000
/* credential_process: the whole run, unless [AWS] CredentialProcessTimeout= says otherwise. */
#define CREDS_PROCESS_DEFAULT_TIMEOUT_MS 30000

struct creds_net;
struct aws_ini;

/* What a provider may look at. */
struct creds_context {
	const struct aws_settings *settings;
	aws_getenv_fn getenv_fn; /* NULL: the process environment */
	time_t now;
	/* The shared files as they are on disk now (providers that read
	 * profile keys use this, so an edited file counts without a restart);
	 * NULL: settings->ini, as loaded at start. */
	const struct aws_ini *ini;
	/* For the providers that use the network or run a process; NULL when
	 * only looking (--check-config): they then say what they would do. */
	struct creds_net *net;
	unsigned process_timeout_ms; /* credential_process; 0: CREDS_PROCESS_DEFAULT_TIMEOUT_MS */
	/* Resolving a role chain's source profile: web identity from the
	 * profile's keys alone, not AWS_WEB_IDENTITY_TOKEN_FILE and the like
	 * (botocore's disable_env_vars). */
	bool profile_only;
};

/* The profile settings in force for ctx (ctx->ini, else settings->ini). */
const struct aws_ini *creds_context_ini(const struct creds_context *ctx);

/* An environment variable, else the active profile's key (either may be
 * NULL to skip it); NULL when neither is set. */
const char *creds_context_setting(const struct creds_context *ctx, const char *env, const char *profile_key);

/* The metadata-service timeout and attempts in force (see the defaults
 * above); a malformed value is an error naming the variable. */
int creds_metadata_limits(const struct creds_context *ctx, unsigned default_timeout_ms, unsigned default_attempts,
			  unsigned *ret_timeout_ms, unsigned *ret_attempts, char **ret_error);

/*
 * An asynchronous fetch in progress.  The provider embeds this first in its
 * own state; cancel() stops it, frees it and guarantees the done callback
 * will not run.
 */
struct creds_fetch {
	void (*cancel)(struct creds_fetch *f);
};
/* Cancels f (NULL-safe); returns NULL. */
struct creds_fetch *creds_fetch_cancel(struct creds_fetch *f);

/*
 * How an asynchronous fetch ends, exactly once, from the event loop: r == 0
 * with c (a reference handed over), or a negative errno with error (borrowed,
 * never NULL, never containing a secret).  The fetch object is gone when this
 * runs.
 */
typedef void (*creds_fetch_done_fn)(int r, struct aws_credentials *c, const char *error, void *userdata);

struct creds_provider {
	const char *name;        /* as in the config's CredentialSource= ("env") */
	const char *description; /* for messages ("environment variables") */
	/*
	 * Synchronous providers.  Returns 0 with *ret (one reference);
	 * -ENOENT when this source is not configured here and the next should
	 * be tried; another negative errno when it is configured but broken.
	 * Either way it may set *ret_error (malloc'ed): for -ENOENT a short
	 * note of what was looked for, otherwise what is wrong.
	 */
	int (*resolve)(const struct creds_context *ctx, struct aws_credentials **ret, char **ret_error);
	/*
	 * Asynchronous providers.  Returns 0 with *ret_fetch when started (done
	 * runs later, never from inside start); -ENOENT (with a note) when not
	 * configured; another negative errno (with a message) when configured
	 * but unusable before any I/O.  With ctx->net NULL nothing is started:
	 * -EINPROGRESS with a note saying what would be fetched, when
	 * configured.  Everything needed from ctx is copied.
	 */
	int (*start)(const struct creds_context *ctx, creds_fetch_done_fn done, void *userdata,
		     struct creds_fetch **ret_fetch, char **ret_error);
};

extern const struct creds_provider creds_provider_env;
extern const struct creds_provider creds_provider_systemd;
extern const struct creds_provider creds_provider_assume_role;
extern const struct creds_provider creds_provider_web_identity;
extern const struct creds_provider creds_provider_sso;
extern const struct creds_provider creds_provider_shared;
extern const struct creds_provider creds_provider_process;
extern const struct creds_provider creds_provider_container;
extern const struct creds_provider creds_provider_imds;

/* The provider called name, or NULL. */
const struct creds_provider *creds_provider_find(const char *name);

/* The providers' names in chain order, space-separated, for messages
 * ("env systemd web-identity …"). */
const char *creds_provider_names(void);

/*
 * Walks the default chain (source NULL) or asks the one named source
 * (CredentialSource=), asynchronously where a provider needs to.
 * Returns 0 with *ret (credentials found without waiting, one reference);
 * -EINPROGRESS with *ret_fetch (done runs later with the outcome); or
 * another negative errno with *ret_error (malloc'ed): -ENOENT listing every
 * source tried and what it looked for, -EINVAL for an unknown source name,
 * else the broken source's error prefixed with its description.  With
 * ctx->net NULL, -EINPROGRESS comes back without a fetch, *ret_error naming
 * the source that would be asked.
 */
int creds_chain_start(const struct creds_context *ctx, const char *source, creds_fetch_done_fn done, void *userdata,
		      struct aws_credentials **ret, struct creds_fetch **ret_fetch, char **ret_error);

/*
 * Synchronous wrappers for --check-config and tests: the chain / one
 * source, without the network (ctx->net NULL).  getenv_fn NULL means the
 * process environment.  A network source that would be asked gives
 * -EINPROGRESS with *ret_error saying which.
 */
int creds_resolve_chain(const struct aws_settings *settings, aws_getenv_fn getenv_fn, struct aws_credentials **ret,
			char **ret_error);
int creds_resolve_source(const char *name, const struct aws_settings *settings, aws_getenv_fn getenv_fn,
			 struct aws_credentials **ret, char **ret_error);

/*
 * Builds credentials from a JSON object as credential_process, the
 * container endpoint and IMDS write them: the member names are given
 * (AccessKeyId, SecretAccessKey, SessionToken or Token, Expiration;
 * AccountId optional; a string with a NUL inside, "\u0000", is malformed).
 * Expiration must be RFC 3339 when present; a provider that needs it
 * checks for it.  Returns 0 or -EINVAL with
 * *ret_error naming the missing or malformed member (never its value).
 */
struct json_object;
int creds_from_json(struct json_object *o, const char *token_member, const char *source, struct aws_credentials **ret,
		    char **ret_error);

/*
 * The parsers of the network and process credential sources, exposed for
 * the fuzzers (tests/fuzz/fuzz-{imds,container,credproc}.c).  Each
 * returns 0 with *ret, or a negative errno with *ret_error (malloc'ed, or
 * NULL when out of memory) saying what is wrong without quoting any
 * secret; *ret is untouched on failure.  body is NUL-terminated.
 *
 * IMDS: the role listing's first line, checked as an IAM role name
 * (-EINVAL otherwise; no *ret_error); the credentials JSON, whose Code
 * must be "Success" when present and which must carry an Expiration.
 */
int creds_imds_parse_role(const char *body, char **ret);
int creds_imds_parse_credentials(const char *body, struct aws_credentials **ret, char **ret_error);
/* The container endpoint's 2xx answer (AWS.md §7). */
int creds_container_parse(const char *body, struct aws_credentials **ret, char **ret_error);
/* credential_process output: one JSON object with "Version": 1. */
int creds_process_parse(const char *out, size_t len, struct aws_credentials **ret, char **ret_error);

/*
 * Static keys of profile in ini (aws_access_key_id, aws_secret_access_key,
 * aws_session_token, aws_account_id): used by the shared-file and systemd
 * providers.  source NULL picks "shared-credentials-file" or "config-file"
 * by where the access key ID was written.  Returns 0; -ENOENT (with a note)
 * when the profile is absent or has neither key; -EINVAL (with file:line)
 * when only one of the pair is there or a field is malformed.
 */
int creds_from_profile(const struct aws_ini *ini, const char *profile, const char *source, struct aws_credentials **ret,
		       char **ret_error);
