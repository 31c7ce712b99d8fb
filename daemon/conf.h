/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * kmscanceld's own configuration file, /etc/kmscanceld.conf: systemd-style
 * INI.  "[Section]" headers, "Key=Value" lines (whitespace around '=' and at
 * the ends is trimmed), '#' or ';' at the start of a line for comments (a
 * '#' inside a value is part of it).  Section and key names are
 * case-sensitive, as in systemd.  A key given twice keeps the last value,
 * except Allow= and Deny=, which add a rule each time; an empty value
 * ("Key=") resets a key to its default and "Allow=" or "Deny=" clears the
 * rules so far.  Unknown
 * sections and keys are errors, like bad values, naming file:line: a
 * misspelt Deny= or [Policy] must not silently drop a rule.  Every key is
 * declared once, as a row of the keys[] (or account_keys[]) table of conf.c
 * giving its type, bounds and message (conf-types.h); the lines are read by
 * the INI lexer shared with the AWS files (ini-lexer.h).
 *
 * config_load() reads the drop-ins after the file (conf-dropins.h lists
 * them) with the same parser, over the same configuration.
 *
 * (Named conf.h because autoconf's config.h already takes that name.)
 *
 * The file's AWS keys override the AWS environment and shared files:
 * config_apply_to_aws_settings().  See etc/kmscanceld.conf for every key.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "aws-settings.h"

struct aws_settings;

/* One default for daemon, library and units: configure --with-default-socket. */
#define CONFIG_DEFAULT_SOCKET          KMSCANCEL_DEFAULT_SOCKET
#define CONFIG_DEFAULT_SOCKET_MODE     0660
#define CONFIG_DEFAULT_SOCKET_GROUP    "kmscancel"
#define CONFIG_DEFAULT_CALL_TIMEOUT_MS 30000
#define CONFIG_MAX_CALL_TIMEOUT_MS     (10 * 60 * 1000)
#define CONFIG_MAX_RETRY_BASE_MS       20000   /* the backoff cap (AWS.md §3.2) */
#define CONFIG_MAX_LIMIT               1000000 /* for the Max* connection/call limits */
#define CONFIG_MAX_POOL_SIZE           1024    /* [KMS] MaxConnections=, per endpoint */
#define CONFIG_MAX_POOLS               4096    /* [KMS] MaxPools= */
#define CONFIG_DEFAULT_IDLE_CONNECTION_TIMEOUT "60" /* [Daemon] IdleConnectionTimeoutSec= */
#define CONFIG_MAX_IDLE_TIMEOUT_MS     (3600 * 1000)
#define CONFIG_MAX_CONNECT_TIMEOUT_MS   (10 * 60 * 1000)
#define CONFIG_MAX_RATE                1000000 /* requests per second, for the *Rate= keys */
#define CONFIG_MAX_FILE_SIZE           (1024 * 1024)
#define CONFIG_DEFAULT_DRAIN_TIMEOUT_MS 30000
#define CONFIG_MAX_DRAIN_TIMEOUT_MS     (10 * 60 * 1000)
#define CONFIG_MAX_EXIT_IDLE_MS         (24 * 60 * 60 * 1000)
#define CONFIG_MAX_PROCESS_TIMEOUT_MS   (10 * 60 * 1000)
#define CONFIG_MAX_ACCOUNTS             1000  /* [Account N] sections */
#define CONFIG_MAX_REGIONS              32    /* names in a Regions= list */
#define CONFIG_MIN_ROLE_DURATION_SEC    900   /* AssumeRole DurationSeconds= bounds */
#define CONFIG_MAX_ROLE_DURATION_SEC    43200
#define CONFIG_MAX_GUARD_KEYS           1000  /* [Guard] Keys= entries */
#define CONFIG_MIN_GUARD_INTERVAL_MS    1000  /* [Guard] Interval= bounds (guard.h) */
#define CONFIG_MAX_GUARD_INTERVAL_MS    (24 * 60 * 60 * 1000)
#define CONFIG_MAX_EXTERNAL_ID_LEN      1224  /* STS's limit */

/*
 * One [Account 111122223333] section: the credentials that serve that
 * account's keys.  Exactly one of profile and role_arn is set (checked at
 * the end of the file); external_id and duration_sec go with role_arn.
 */
struct config_account {
	char id[13];       /* the section's argument, 12 digits */
	char *profile;     /* Profile=: a profile of the shared files */
	char *role_arn;    /* RoleArn=: assumed with the default credentials */
	char *external_id; /* ExternalId=, NULL: none (a secret of sorts: never logged) */
	char *region;      /* Region=: for its bare key IDs and its STS endpoint, NULL: the default */
	char *regions;     /* Regions=: where ListPendingDeletions looks (spaces between), NULL: its region */
	unsigned duration_sec; /* DurationSeconds=, 0: STS's default (1 h) */
	char *file;        /* where the section starts, for messages */
	unsigned line;
};

/* One [Policy] Allow= or Deny= line, kept raw for the policy module, with
 * where it was written so that its errors can point there. */
struct config_allow {
	bool deny;  /* Deny= */
	char *rule; /* the value, trimmed */
	char *file;
	unsigned line;
};

struct daemon_config {
	char *file;   /* the main file loaded, or NULL when there was none */
	char **files; /* every file read, in order: the main one (if any), then the drop-ins */
	size_t n_files;

	/* [Daemon] */
	char *socket_path;                 /* Socket=, never NULL */
	mode_t socket_mode;                /* SocketMode=, default 0660 */
	char *socket_group;                /* SocketGroup=, never NULL */
	int log_level;                     /* LogLevel= as LOG_ERR..LOG_DEBUG, -1 when not set */
	unsigned max_connections;          /* MaxConnections=, 0: server default */
	unsigned max_connections_per_uid;  /* MaxConnectionsPerUser=, 0: default */
	unsigned max_calls_per_connection; /* MaxCallsPerConnection=, 0: default */
	unsigned max_calls_per_uid;        /* MaxCallsPerUser=, 0: default */
	unsigned drain_timeout_ms;         /* DrainTimeoutSec=: SIGTERM waits this long for calls */
	unsigned exit_idle_ms;             /* ExitIdleSec=: 0 never; only when socket-activated */
	unsigned idle_connection_timeout_ms; /* IdleConnectionTimeoutSec=: 0 never; default 60 s */

	/* [AWS]: NULL when not set (the AWS settings apply) */
	char *region;
	char *regions;           /* Regions=: ListPendingDeletions' regions (spaces between), NULL: the default region */
	char *profile;
	char *endpoint_url;      /* EndpointURL=: the KMS endpoint */
	char *sts_endpoint_url;  /* STSEndpointURL= */
	char *ca_bundle;         /* CABundle= */
	char *account;           /* Account=: 12 digits */
	char *credential_source; /* CredentialSource=: a provider name, NULL: the chain */
	unsigned credential_process_timeout_ms; /* CredentialProcessTimeout=, default 30 s */
	bool imds_v1_fallback;                  /* IMDSv1Fallback=, default no */
	unsigned sts_timeout_ms;                /* STSTimeout=: AssumeRole, GetCallerIdentity; default 10 s */

	/* [KMS] */
	unsigned call_timeout_ms; /* Timeout=, default 30 s */
	unsigned max_attempts;    /* MaxAttempts=, 0 when not set (AWS settings, else the mode's) */
	enum aws_retry_mode retry_mode; /* RetryMode= … */
	bool retry_mode_set;            /* … only counts when set */
	unsigned retry_base_ms;   /* RetryBase=, 0 when not set (the KMS client's default) */
	bool fips;                /* FIPS= … */
	bool fips_set;            /* … only counts when set */
	unsigned pool_max_connections; /* MaxConnections= per endpoint, 0: the pool's default */
	unsigned max_pools;            /* MaxPools=, 0: KMS_DEFAULT_MAX_POOLS */
	unsigned pool_idle_timeout_ms; /* IdleTimeout=, 0: the pool's default */
	unsigned pool_connect_timeout_ms; /* ConnectTimeout=, 0: the pool's default */
	unsigned attempt_timeout_ms;      /* AttemptTimeout=, default 10 s; 0 (no): none */
	bool prewarm;                  /* Prewarm= other than no … */
	char *prewarm_regions;         /* … these regions (spaces between), NULL: the default region */
	bool rate_limit;          /* RateLimit=, default yes */
	double cancel_rate;       /* CancelRate=, req/s; 0 when not set (AWS's quota, 5) */
	double enable_rate;       /* EnableRate=, req/s; 0 when not set (5) */
	double describe_rate;     /* DescribeRate=, req/s; 0 when not set (2000) */
	double list_rate;         /* ListRate=, req/s for ListKeys and for ListAliases; 0 when not set (100) */
	unsigned max_queued;      /* MaxQueued=, 0 when not set (the limiter's default) */

	/* [Policy] */
	struct config_allow *allow; /* Allow= and Deny=, in file order */
	size_t n_allow;
	bool allow_root; /* AllowRoot=, default yes */

	/* [Guard] (guard.h) */
	char **guard_keys; /* Keys=: key ARNs, key IDs, aliases, alias ARNs; each once, in file order */
	size_t n_guard_keys;
	unsigned guard_interval_ms; /* Interval=, default 60 s */
	bool guard_enable;          /* Enable=, default no */

	/* [Account N], in file order, each ID once (a later file's section with
	 * the same ID merges into it; file and line stay the first header's) */
	struct config_account *accounts;
	size_t n_accounts;

	/* Warnings, "FILE:LINE: …", for the caller to log (none today: unknown
	 * sections and keys are errors). */
	char **warnings;
	size_t n_warnings;
};

/*
 * Loads path, then its drop-ins (conf-dropins.h: the directories path names,
 * in lexical order), into *ret (release with config_done()).  A missing main
 * file is an error when required (the user named it with --config),
 * otherwise the drop-ins apply over the defaults.  Each file starts outside
 * any section and is read as the main one: a later file overrides single
 * keys, adds Allow=/Deny= rules after the earlier ones, and merges into an
 * [Account N] an earlier file has (its keys over the earlier ones; within
 * one file a repeated [Account N] stays an error).  ret->files lists the
 * files read.  Returns 0, or a negative errno with *ret untouched and
 * *ret_error (malloc'ed) naming file, line and key, or the drop-in
 * directory that could not be read.  Warnings are collected in
 * ret->warnings, not logged.
 */
int config_load(const char *path, bool required, struct daemon_config *ret, char **ret_error);

/* Parses text as if read from filename (for tests and --check-config of
 * generated text).  Same contract as config_load(). */
int config_load_string(const char *text, const char *filename, struct daemon_config *ret, char **ret_error);

/*
 * The steps config_load_string() is made of, for loading several files in
 * order (a file and its drop-ins): start from config_init_defaults(), apply
 * each file's text with config_parse_into() (later files override single
 * keys, add Allow=/Deny= rules, add [Account N] sections or merge into one an
 * earlier file has, and "Key=" resets),
 * then config_check() the result once.  (config_load() does that for a file
 * and its drop-ins; config_load_string() for text.)
 *
 * config_parse_into() applies text (as read from filename, which must
 * outlive c only for the call: rules copy it) over c.  Returns 0, or a
 * negative errno with *ret_error "FILE:LINE: …"; then c is consistent but
 * partly updated, and the caller should discard it with config_done().
 */
int config_parse_into(struct daemon_config *c, const char *text, const char *filename, char **ret_error);
/* The checks that need the whole configuration (each [Account N] says
 * where its credentials come from, in one way).  0 or -EINVAL with
 * *ret_error naming where the section starts. */
int config_check(const struct daemon_config *c, char **ret_error);

/* Fills *ret with the defaults.  0 or -ENOMEM. */
int config_init_defaults(struct daemon_config *ret);

/* Frees what c owns and zeroes it.  NULL-safe; safe to call twice. */
void config_done(struct daemon_config *c);

/*
 * Applies the [AWS] and [KMS] keys over settings resolved from the AWS
 * environment: Profile= re-resolves the profile-dependent settings, then
 * Region=, EndpointURL=, STSEndpointURL=, CABundle=, MaxAttempts=, RetryMode=,
 * FIPS= and IMDSv1Fallback= replace what the environment said (MaxAttempts
 * unset anywhere: the mode's default).  Returns 0 or a negative errno with
 * *ret_error (malloc'ed); on failure s keeps a consistent state (at worst
 * partly overridden, after -ENOMEM).
 */
int config_apply_to_aws_settings(const struct daemon_config *c, struct aws_settings *s, char **ret_error);

/* The [Account id] section, or NULL. */
const struct config_account *config_find_account(const struct daemon_config *c, const char *id);

/* Whether s is an IAM role ARN (arn:PARTITION:iam::12 DIGITS:role/NAME);
 * when it is and ret_account is not NULL, the account is copied there. */
bool config_role_arn_valid(const char *s, char ret_account[13]);
