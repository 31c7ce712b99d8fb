/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "conf.h"

#include "aws-ini.h"
#include "aws-settings.h"
#include "creds.h"
#include "endpoint.h"
#include "log.h"
#include "textfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Where a value was written; parsers of list keys keep it. */
struct pos {
	const char *file;
	unsigned line;
};

/*
 * A value parser.  value is never NULL here except for keys whose default is
 * "not set"; it stores into *field (a member of c).  Returns 0, -EINVAL with
 * *ret_why (static text saying what was expected), or -ENOMEM.
 */
typedef int (*parse_fn)(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			const char **ret_why);

struct key {
	const char *section;
	const char *name;
	parse_fn parse;
	size_t offset;
	const char *default_value; /* what "Key=" and the initial state mean; NULL: not set */
};

/* --- value parsers ------------------------------------------------------- */

static int set_owned_string(char **field, const char *value)
{
	char *v = NULL;

	if (value) {
		v = strdup(value);
		if (!v)
			return -ENOMEM;
	}
	free(*field);
	*field = v;
	return 0;
}

static bool has_control_chars(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int parse_string(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			const char **ret_why)
{
	return set_owned_string(field, value);
}

static int parse_socket_path(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			     const char **ret_why)
{
	if (value[0] != '/' || strlen(value) > SOCKET_PATH_MAX) {
		*ret_why = "expected an absolute path of at most 107 bytes";
		return -EINVAL;
	}
	return set_owned_string(field, value);
}

static int parse_abs_path(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			  const char **ret_why)
{
	if (value && value[0] != '/') {
		*ret_why = "expected an absolute path";
		return -EINVAL;
	}
	return set_owned_string(field, value);
}

static int parse_mode(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
		      const char **ret_why)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(value, &end, 8);
	if (!*value || *end || errno || v > 0777 || value[0] == '-' || value[0] == '+') {
		*ret_why = "expected an octal mode such as 0660";
		return -EINVAL;
	}
	*(mode_t *)field = (mode_t)v;
	return 0;
}

static int parse_log_level(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			   const char **ret_why)
{
	int level = value ? log_level_from_string(value) : -1;

	if (value && (level < LOG_ERR || level > LOG_DEBUG)) {
		*ret_why = "expected err, warning, notice, info or debug";
		return -EINVAL;
	}
	*(int *)field = level;
	return 0;
}

/* A decimal number from min to max (no sign, no suffix). */
static bool parse_number(const char *value, unsigned long min, unsigned long max, unsigned *ret)
{
	unsigned long v;
	char *end;

	if (value[0] < '0' || value[0] > '9')
		return false;
	errno = 0;
	v = strtoul(value, &end, 10);
	if (*end || errno || v < min || v > max)
		return false;
	*ret = (unsigned)v;
	return true;
}

static int parse_limit(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
		       const char **ret_why)
{
	if (!value) {
		*(unsigned *)field = 0;
		return 0;
	}
	if (!parse_number(value, 1, CONFIG_MAX_LIMIT, field)) {
		*ret_why = "expected a number from 1 to 1000000";
		return -EINVAL;
	}
	return 0;
}

static int parse_max_attempts(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			      const char **ret_why)
{
	if (!value) {
		*(unsigned *)field = 0;
		return 0;
	}
	if (!parse_number(value, 1, AWS_MAX_MAX_ATTEMPTS, field)) {
		*ret_why = "expected a number of attempts from 1 to 100";
		return -EINVAL;
	}
	return 0;
}

/*
 * A duration: "30", "2.5" (seconds), "1.5s" or "500ms".  Fractions finer
 * than a millisecond are dropped.  Returns the milliseconds, or -1.
 */
static long parse_duration_ms(const char *s)
{
	unsigned long long whole = 0, frac = 0, scale = 1000;
	bool digits = false;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++, digits = true)
		if ((whole = whole * 10 + (unsigned)(*p - '0')) > 1000000000ULL)
			return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, digits = true)
			if (scale > 1) {
				scale /= 10;
				frac += (unsigned)(*p - '0') * scale;
			}
	if (!digits)
		return -1;
	if (strcmp(p, "ms") == 0)
		return (long)(whole + frac / 1000);
	if (*p == '\0' || strcmp(p, "s") == 0)
		return (long)(whole * 1000 + frac);
	return -1;
}

static int parse_timeout(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			 const char **ret_why)
{
	long ms = parse_duration_ms(value);

	if (ms < 1 || ms > CONFIG_MAX_CALL_TIMEOUT_MS) {
		*ret_why = "expected a time such as 30, 2.5 or 500ms, from 1ms to 600s";
		return -EINVAL;
	}
	*(unsigned *)field = (unsigned)ms;
	return 0;
}

static int parse_drain_timeout(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			       const char **ret_why)
{
	long ms = parse_duration_ms(value);

	if (ms < 1 || ms > CONFIG_MAX_DRAIN_TIMEOUT_MS) {
		*ret_why = "expected a time such as 30 or 500ms, from 1ms to 600s";
		return -EINVAL;
	}
	*(unsigned *)field = (unsigned)ms;
	return 0;
}

/* "0", "no" or empty: never exit; else a time. */
static int parse_exit_idle(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			   const char **ret_why)
{
	long ms;

	if (!value || strcmp(value, "no") == 0) {
		*(unsigned *)field = 0;
		return 0;
	}
	ms = parse_duration_ms(value);
	if (ms < 0 || ms > CONFIG_MAX_EXIT_IDLE_MS) {
		*ret_why = "expected no, 0, or a time such as 60 or 1500ms, up to 86400s";
		return -EINVAL;
	}
	*(unsigned *)field = (unsigned)ms;
	return 0;
}

/* A time from 1 ms to max_ms into *field, or 0 for "Key=" (not set: the
 * module's default).  Returns 0 or -EINVAL. */
static int parse_optional_duration(void *field, const char *value, long max_ms)
{
	long ms = value ? parse_duration_ms(value) : 0;

	if (value && (ms < 1 || ms > max_ms))
		return -EINVAL;
	*(unsigned *)field = (unsigned)ms;
	return 0;
}

static int parse_retry_base(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			    const char **ret_why)
{
	if (parse_optional_duration(field, value, CONFIG_MAX_RETRY_BASE_MS) < 0) {
		*ret_why = "expected a time such as 1 or 100ms, from 1ms to 20s";
		return -EINVAL;
	}
	return 0;
}

/* "no" or "0": no attempt timeout (the call's deadline only); else a time. */
static int parse_attempt_timeout(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
				 const char **ret_why)
{
	long ms;

	if (strcmp(value, "no") == 0) {
		*(unsigned *)field = 0;
		return 0;
	}
	ms = parse_duration_ms(value);
	if (ms < 0 || ms > CONFIG_MAX_CALL_TIMEOUT_MS) {
		*ret_why = "expected no, 0, or a time such as 10, 2.5 or 500ms, up to 600s";
		return -EINVAL;
	}
	*(unsigned *)field = (unsigned)ms;
	return 0;
}

/* A request rate in requests per second: "5", "0.5", "100". */
static int parse_rate(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
		      const char **ret_why)
{
	double v = 0;
	char *end;

	if (value) {
		errno = 0;
		v = strtod(value, &end);
		if (value[0] < '0' || value[0] > '9' || *end || errno || !(v > 0) || v > CONFIG_MAX_RATE) {
			*ret_why =
			    "expected requests per second, a number such as 5 or 0.5, above 0 and at most 1000000";
			return -EINVAL;
		}
	}
	*(double *)field = v;
	return 0;
}

static int parse_process_timeout(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
				 const char **ret_why)
{
	long ms = parse_duration_ms(value);

	if (ms < 1 || ms > CONFIG_MAX_PROCESS_TIMEOUT_MS) {
		*ret_why = "expected a time such as 30, 2.5 or 500ms, from 1ms to 600s";
		return -EINVAL;
	}
	*(unsigned *)field = (unsigned)ms;
	return 0;
}

static int bool_from_string(const char *s)
{
	static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -EINVAL;
}

static int parse_bool(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
		      const char **ret_why)
{
	int b = bool_from_string(value);

	if (b < 0) {
		*ret_why = "expected yes or no";
		return -EINVAL;
	}
	*(bool *)field = b;
	return 0;
}

/* FIPS= also records that it was given, so that an unset key leaves
 * AWS_USE_FIPS_ENDPOINT in charge. */
static int parse_fips(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
		      const char **ret_why)
{
	if (!value) {
		c->fips = false;
		c->fips_set = false;
		return 0;
	}
	c->fips_set = true;
	return parse_bool(c, field, value, pos, ret_why);
}

static int parse_region(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			const char **ret_why)
{
	if (value && !endpoint_region_valid(value)) {
		*ret_why = "expected a region name such as us-east-1";
		return -EINVAL;
	}
	return set_owned_string(field, value);
}

static int parse_profile(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			 const char **ret_why)
{
	if (value && !aws_ini_name_valid(value)) {
		*ret_why = "expected a profile name (letters, digits, -/.%@_:+)";
		return -EINVAL;
	}
	return set_owned_string(field, value);
}

static int parse_url(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
		     const char **ret_why)
{
	if (value && ((strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0) ||
		      strpbrk(value, " \t") || has_control_chars(value))) {
		*ret_why = "expected an https:// URL";
		return -EINVAL;
	}
	return set_owned_string(field, value);
}

static int parse_account(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			 const char **ret_why)
{
	if (value && !creds_field_valid(CREDS_FIELD_ACCOUNT_ID, value)) {
		*ret_why = "expected a 12-digit account ID";
		return -EINVAL;
	}
	return set_owned_string(field, value);
}

static int parse_credential_source(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
				   const char **ret_why)
{
	if (value && !creds_provider_find(value)) {
		*ret_why = "expected a credential source: env, systemd, assume-role, web-identity, sso, shared, process, "
			   "container or imds";
		return -EINVAL;
	}
	return set_owned_string(field, value);
}

static void allow_clear(struct daemon_config *c)
{
	for (size_t i = 0; i < c->n_allow; i++) {
		free(c->allow[i].rule);
		free(c->allow[i].file);
	}
	free(c->allow);
	c->allow = NULL;
	c->n_allow = 0;
}

/* Prewarm=: "no", "yes" (the default region), or regions separated by
 * spaces.  Kept as the validated text; an empty list means the default region. */
static int parse_prewarm(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			 const char **ret_why)
{
	int b = value ? bool_from_string(value) : 0;
	char *copy, *save = NULL;

	c->prewarm = false;
	free(c->prewarm_regions);
	c->prewarm_regions = NULL;
	if (b >= 0) {
		c->prewarm = b;
		return 0;
	}
	copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		if (!endpoint_region_valid(w)) {
			free(copy);
			*ret_why = "expected yes, no or region names such as us-east-1 eu-west-1";
			return -EINVAL;
		}
	free(copy);
	c->prewarm = true;
	return set_owned_string(&c->prewarm_regions, value);
}

static int parse_pool_size(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			   const char **ret_why)
{
	if (!value) {
		*(unsigned *)field = 0;
		return 0;
	}
	if (!parse_number(value, 1, CONFIG_MAX_POOL_SIZE, field)) {
		*ret_why = "expected a number of connections from 1 to 1024";
		return -EINVAL;
	}
	return 0;
}

static int parse_max_pools(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			   const char **ret_why)
{
	if (!value) {
		*(unsigned *)field = 0;
		return 0;
	}
	if (!parse_number(value, 1, CONFIG_MAX_POOLS, field)) {
		*ret_why = "expected a number of pools from 1 to 4096";
		return -EINVAL;
	}
	return 0;
}

static int parse_connect_timeout(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
				 const char **ret_why)
{
	if (parse_optional_duration(field, value, CONFIG_MAX_CONNECT_TIMEOUT_MS) < 0) {
		*ret_why = "expected a time such as 5 or 500ms, from 1ms to 600s";
		return -EINVAL;
	}
	return 0;
}

static int parse_idle_timeout(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
			      const char **ret_why)
{
	if (parse_optional_duration(field, value, CONFIG_MAX_IDLE_TIMEOUT_MS) < 0) {
		*ret_why = "expected a time such as 50 or 500ms, from 1ms to 3600s";
		return -EINVAL;
	}
	return 0;
}

/* Allow= adds a rule; an empty Allow= drops the rules given so far. */
/* Allow= and Deny= make one list, in file order (first match wins). */
static int add_rule(struct daemon_config *c, const char *value, const struct pos *pos, bool deny)
{
	struct config_allow a = {.deny = deny}, *n;

	if (!value) {
		allow_clear(c);
		return 0;
	}
	n = realloc(c->allow, (c->n_allow + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->allow = n;
	a.rule = strdup(value);
	a.file = strdup(pos->file);
	a.line = pos->line;
	if (!a.rule || !a.file) {
		free(a.rule);
		free(a.file);
		return -ENOMEM;
	}
	c->allow[c->n_allow++] = a;
	return 0;
}

static int parse_allow(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
		       const char **ret_why)
{
	return add_rule(c, value, pos, false);
}

static int parse_deny(struct daemon_config *c, void *field, const char *value, const struct pos *pos,
		      const char **ret_why)
{
	return add_rule(c, value, pos, true);
}

#define F(m) offsetof(struct daemon_config, m)

static const struct key keys[] = {
    {"Daemon", "Socket", parse_socket_path, F(socket_path), CONFIG_DEFAULT_SOCKET},
    {"Daemon", "SocketMode", parse_mode, F(socket_mode), "0660"},
    {"Daemon", "SocketGroup", parse_string, F(socket_group), CONFIG_DEFAULT_SOCKET_GROUP},
    {"Daemon", "LogLevel", parse_log_level, F(log_level), NULL},
    {"Daemon", "MaxConnections", parse_limit, F(max_connections), NULL},
    {"Daemon", "MaxConnectionsPerUser", parse_limit, F(max_connections_per_uid), NULL},
    {"Daemon", "MaxCallsPerConnection", parse_limit, F(max_calls_per_connection), NULL},
    {"Daemon", "MaxCallsPerUser", parse_limit, F(max_calls_per_uid), NULL},
    {"Daemon", "DrainTimeoutSec", parse_drain_timeout, F(drain_timeout_ms), "30"},
    {"Daemon", "ExitIdleSec", parse_exit_idle, F(exit_idle_ms), NULL},
    /* "no" or 0: never, else a time up to a day, as ExitIdleSec= */
    {"Daemon", "IdleConnectionTimeoutSec", parse_exit_idle, F(idle_connection_timeout_ms),
     CONFIG_DEFAULT_IDLE_CONNECTION_TIMEOUT},
    {"AWS", "Region", parse_region, F(region), NULL},
    {"AWS", "Profile", parse_profile, F(profile), NULL},
    {"AWS", "EndpointURL", parse_url, F(endpoint_url), NULL},
    {"AWS", "STSEndpointURL", parse_url, F(sts_endpoint_url), NULL},
    {"AWS", "CABundle", parse_abs_path, F(ca_bundle), NULL},
    {"AWS", "Account", parse_account, F(account), NULL},
    {"AWS", "CredentialSource", parse_credential_source, F(credential_source), NULL},
    {"AWS", "CredentialProcessTimeout", parse_process_timeout, F(credential_process_timeout_ms), "30"},
    {"AWS", "IMDSv1Fallback", parse_bool, F(imds_v1_fallback), "no"},
    {"AWS", "STSTimeout", parse_process_timeout, F(sts_timeout_ms), "10"},
    {"KMS", "Timeout", parse_timeout, F(call_timeout_ms), "30"},
    {"KMS", "MaxAttempts", parse_max_attempts, F(max_attempts), NULL},
    {"KMS", "RetryBase", parse_retry_base, F(retry_base_ms), NULL},
    {"KMS", "FIPS", parse_fips, F(fips), NULL},
    {"KMS", "MaxConnections", parse_pool_size, F(pool_max_connections), NULL},
    {"KMS", "MaxPools", parse_max_pools, F(max_pools), NULL},
    {"KMS", "IdleTimeout", parse_idle_timeout, F(pool_idle_timeout_ms), NULL},
    {"KMS", "ConnectTimeout", parse_connect_timeout, F(pool_connect_timeout_ms), NULL},
    {"KMS", "AttemptTimeout", parse_attempt_timeout, F(attempt_timeout_ms), "10"},
    {"KMS", "Prewarm", parse_prewarm, F(prewarm), NULL},
    {"KMS", "RateLimit", parse_bool, F(rate_limit), "yes"},
    {"KMS", "CancelRate", parse_rate, F(cancel_rate), NULL},
    {"KMS", "EnableRate", parse_rate, F(enable_rate), NULL},
    {"KMS", "DescribeRate", parse_rate, F(describe_rate), NULL},
    {"KMS", "MaxQueued", parse_limit, F(max_queued), NULL},
    {"Policy", "Allow", parse_allow, F(allow), NULL},
    {"Policy", "Deny", parse_deny, F(allow), NULL},
    {"Policy", "AllowRoot", parse_bool, F(allow_root), "yes"},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))


/* --- the file -------------------------------------------------------------- */

struct parser {
	struct daemon_config *c;
	struct pos pos;
	const char *section; /* the current section (known: an unknown one is an error) */
	long account;        /* index in c->accounts while in an [Account N] section, else -1 */
	bool in_section;     /* any header seen */
	char *error;
};

static int parser_error(struct parser *p, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int parser_error(struct parser *p, int r, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(p->error);
	if (!msg || asprintf(&p->error, "%s:%u: %s", p->pos.file, p->pos.line, msg) < 0)
		p->error = NULL;
	free(msg);
	return r;
}

/* --- [Account N] ------------------------------------------------------------ */

bool config_role_arn_valid(const char *s, char ret_account[13])
{
	/* arn:PARTITION:iam::ACCOUNT:role/NAME (NAME may have a path) */
	const char *p = s, *account;
	size_t n = strlen(s);

	if (n > 2048 || strncmp(p, "arn:", 4) != 0 || has_control_chars(s) || strpbrk(s, " \t"))
		return false;
	p += 4;
	p += strcspn(p, ":");
	if (p == s + 4 || strncmp(p, ":iam::", 6) != 0)
		return false;
	account = p + 6;
	if (strspn(account, "0123456789") != 12 || strncmp(account + 12, ":role/", 6) != 0 || !account[18])
		return false;
	if (ret_account) {
		memcpy(ret_account, account, 12);
		ret_account[12] = '\0';
	}
	return true;
}

const struct config_account *config_find_account(const struct daemon_config *c, const char *id)
{
	for (size_t i = 0; id && i < c->n_accounts; i++)
		if (strcmp(c->accounts[i].id, id) == 0)
			return &c->accounts[i];
	return NULL;
}

static void account_done(struct config_account *a)
{
	free(a->profile);
	free(a->role_arn);
	if (a->external_id) {
		explicit_bzero(a->external_id, strlen(a->external_id));
		free(a->external_id);
	}
	free(a->region);
	free(a->file);
	memset(a, 0, sizeof(*a));
}

static int parse_account_header(struct parser *p, const char *id)
{
	struct daemon_config *c = p->c;
	struct config_account *n;

	if (!creds_field_valid(CREDS_FIELD_ACCOUNT_ID, id))
		return parser_error(p, -EINVAL, "[Account %s]: expected a 12-digit account ID", id);
	if (config_find_account(c, id))
		return parser_error(p, -EINVAL, "[Account %s] given twice", id);
	if (c->n_accounts >= CONFIG_MAX_ACCOUNTS)
		return parser_error(p, -E2BIG, "more than %d [Account] sections", CONFIG_MAX_ACCOUNTS);
	n = realloc(c->accounts, (c->n_accounts + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->accounts = n;
	n = &c->accounts[c->n_accounts];
	*n = (struct config_account){.line = p->pos.line};
	memcpy(n->id, id, 13);
	n->file = strdup(p->pos.file);
	if (!n->file)
		return -ENOMEM;
	p->account = (long)c->n_accounts++;
	p->section = "Account";
	return 0;
}

static bool external_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > CONFIG_MAX_EXTERNAL_ID_LEN)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("_+=,.@:/-", *s)))
			return false;
	return true;
}

/* One Key=Value in an [Account N] section; value NULL resets the key. */
static int parse_account_key(struct parser *p, const char *name, const char *value)
{
	struct config_account *a = &p->c->accounts[p->account];
	char arn_account[13];
	unsigned v;

	if (strcmp(name, "Profile") == 0) {
		if (value && !aws_ini_name_valid(value))
			return parser_error(p, -EINVAL, "Profile=%s: expected a profile name (letters, digits, -/.%%@_:+)",
					    value);
		return set_owned_string(&a->profile, value);
	}
	if (strcmp(name, "RoleArn") == 0) {
		if (value && !config_role_arn_valid(value, arn_account))
			return parser_error(p, -EINVAL,
					    "RoleArn=%s: expected a role ARN such as arn:aws:iam::%s:role/NAME", value,
					    a->id);
		if (value && strcmp(arn_account, a->id) != 0)
			return parser_error(p, -EINVAL,
					    "RoleArn=%s: the role belongs to account %s, not %s: a key is served only "
					    "by credentials of its own account",
					    value, arn_account, a->id);
		return set_owned_string(&a->role_arn, value);
	}
	if (strcmp(name, "ExternalId") == 0) {
		if (value && !external_id_valid(value))
			return parser_error(p, -EINVAL,
					    "ExternalId=: expected 2 to 1224 characters of letters, digits and _+=,.@:/-");
		if (a->external_id)
			explicit_bzero(a->external_id, strlen(a->external_id));
		return set_owned_string(&a->external_id, value);
	}
	if (strcmp(name, "Region") == 0) {
		if (value && !endpoint_region_valid(value))
			return parser_error(p, -EINVAL, "Region=%s: expected a region name such as us-east-1", value);
		return set_owned_string(&a->region, value);
	}
	if (strcmp(name, "DurationSeconds") == 0) {
		if (!value) {
			a->duration_sec = 0;
			return 0;
		}
		if (!parse_number(value, CONFIG_MIN_ROLE_DURATION_SEC, CONFIG_MAX_ROLE_DURATION_SEC, &v))
			return parser_error(p, -EINVAL, "DurationSeconds=%s: expected seconds from 900 to 43200", value);
		a->duration_sec = v;
		return 0;
	}
	return parser_error(p, -EINVAL,
			    "unknown key %s= in [Account %s] (expected Profile=, RoleArn=, ExternalId=, Region= or "
			    "DurationSeconds=)",
			    name, a->id);
}

/* At the end of the file: every section says where its credentials come
 * from, in one way. */
static int check_accounts(struct parser *p)
{
	for (size_t i = 0; i < p->c->n_accounts; i++) {
		const struct config_account *a = &p->c->accounts[i];

		p->pos.line = a->line;
		if (!a->profile == !a->role_arn)
			return parser_error(p, -EINVAL, "[Account %s]: expected either Profile= or RoleArn=%s", a->id,
					    a->profile ? ", not both" : "");
		if (a->profile && (a->external_id || a->duration_sec))
			return parser_error(p, -EINVAL,
					    "[Account %s]: ExternalId= and DurationSeconds= go with RoleArn=, not "
					    "Profile=",
					    a->id);
	}
	return 0;
}

static const char *known_section(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, name) == 0)
			return keys[i].section;
	return NULL;
}

static const struct key *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int apply_key(struct daemon_config *c, const struct key *k, const char *value, const struct pos *pos,
		     const char **ret_why)
{
	return k->parse(c, (char *)c + k->offset, value, pos, ret_why);
}

static int parse_header(struct parser *p, char *line)
{
	size_t n = strlen(line);

	if (line[n - 1] != ']')
		return parser_error(p, -EINVAL, "section header does not end with ']'");
	line[n - 1] = '\0';
	p->in_section = true;
	p->account = -1;
	if (strcmp(line + 1, "Account") == 0)
		return parser_error(p, -EINVAL, "expected [Account ID] with a 12-digit account ID");
	if (strncmp(line + 1, "Account", 7) == 0 && (line[8] == ' ' || line[8] == '\t'))
		return parse_account_header(p, text_strip(line + 9));
	/* An unknown section is an error, not a warning: a misspelt [Policy]
	 * would silently drop every Deny= in it. */
	p->section = known_section(line + 1);
	if (!p->section)
		return parser_error(p, -EINVAL, "unknown section [%s]", line + 1);
	return 0;
}

static int parse_assignment(struct parser *p, char *line)
{
	const char *why = "invalid value";
	const struct key *k;
	char *eq = strchr(line, '='), *name, *value;
	int r;

	if (!eq)
		return parser_error(p, -EINVAL, "expected Key=Value");
	*eq = '\0';
	name = text_strip(line);
	value = text_strip(eq + 1);
	if (!p->in_section)
		return parser_error(p, -EINVAL, "%s= outside of any section", name);
	if (p->account >= 0)
		return parse_account_key(p, name, *value ? value : NULL);
	k = find_key(p->section, name);
	/* Unknown keys are errors: a misspelt Deny= would otherwise be a rule
	 * that silently does not exist. */
	if (!k)
		return parser_error(p, -EINVAL, "unknown key %s= in [%s]", name, p->section);
	r = apply_key(p->c, k, *value ? value : k->default_value, &p->pos, &why);
	if (r == -EINVAL)
		return parser_error(p, r, "%s=%s: %s", name, value, why);
	return r;
}

static int parse_line(struct parser *p, char *raw)
{
	char *line = text_strip(raw);

	if (*line == '\0' || *line == '#' || *line == ';')
		return 0;
	if (*line == '[')
		return parse_header(p, line);
	return parse_assignment(p, line);
}

int config_init_defaults(struct daemon_config *ret)
{
	struct daemon_config c = {0};
	struct pos pos = {"(defaults)", 0};
	const char *why;

	for (size_t i = 0; i < N_KEYS; i++)
		if (apply_key(&c, &keys[i], keys[i].default_value, &pos, &why) < 0) {
			config_done(&c);
			return -ENOMEM;
		}
	*ret = c;
	return 0;
}

int config_load_string(const char *text, const char *filename, struct daemon_config *ret, char **ret_error)
{
	struct parser p = {.pos = {.file = filename}, .account = -1};
	struct daemon_config c;
	char *buf, *cursor, *line;
	int r;

	r = config_init_defaults(&c);
	if (r < 0)
		return r;
	buf = strdup(text);
	c.file = strdup(filename);
	if (!buf || !c.file) {
		r = -ENOMEM;
		goto out;
	}
	p.c = &c;
	cursor = buf;
	while ((line = textfile_next_line(&cursor))) {
		p.pos.line++;
		r = parse_line(&p, line);
		if (r < 0)
			goto out;
	}
	r = check_accounts(&p);
	if (r < 0)
		goto out;
	*ret = c;
	memset(&c, 0, sizeof(c));
out:
	if (r < 0 && ret_error && p.error) {
		*ret_error = p.error;
		p.error = NULL;
	}
	free(p.error);
	free(buf);
	config_done(&c);
	return r;
}

int config_load(const char *path, bool required, struct daemon_config *ret, char **ret_error)
{
	char *buf = NULL;
	size_t size;
	int r;

	r = textfile_read(path, CONFIG_MAX_FILE_SIZE, &buf, &size);
	if (r == -ENOENT && !required)
		return config_init_defaults(ret);
	if (r < 0) {
		const char *why = r == -EFBIG    ? "file too large"
				  : r == -EINVAL ? "not a regular text file"
						 : strerror(-r);

		if (ret_error && asprintf(ret_error, "%s: %s", path, why) < 0)
			*ret_error = NULL;
		return r;
	}
	r = config_load_string(buf, path, ret, ret_error);
	textfile_free(buf, size);
	return r;
}

void config_done(struct daemon_config *c)
{
	if (!c)
		return;
	free(c->file);
	free(c->socket_path);
	free(c->socket_group);
	free(c->region);
	free(c->profile);
	free(c->endpoint_url);
	free(c->sts_endpoint_url);
	free(c->ca_bundle);
	free(c->account);
	free(c->credential_source);
	free(c->prewarm_regions);
	allow_clear(c);
	for (size_t i = 0; i < c->n_accounts; i++)
		account_done(&c->accounts[i]);
	free(c->accounts);
	for (size_t i = 0; i < c->n_warnings; i++)
		free(c->warnings[i]);
	free(c->warnings);
	memset(c, 0, sizeof(*c));
}

/* --- over the AWS settings ---------------------------------------------------- */

int config_apply_to_aws_settings(const struct daemon_config *c, struct aws_settings *s, char **ret_error)
{
	int r = 0;

	if (c->profile) {
		r = aws_settings_use_profile(s, c->profile, ret_error);
		if (r < 0)
			return r;
	}
	if (c->region)
		r = aws_settings_set_string(&s->region, c->region);
	if (r >= 0 && c->endpoint_url)
		r = aws_settings_set_string(&s->kms_endpoint_url, c->endpoint_url);
	if (r >= 0 && c->sts_endpoint_url)
		r = aws_settings_set_string(&s->sts_endpoint_url, c->sts_endpoint_url);
	if (r >= 0 && c->ca_bundle)
		r = aws_settings_set_string(&s->ca_bundle, c->ca_bundle);
	if (r < 0)
		return r;
	if (c->max_attempts)
		s->max_attempts = c->max_attempts;
	if (c->fips_set)
		s->use_fips_endpoint = c->fips;
	s->ec2_metadata_v1_fallback = c->imds_v1_fallback;
	return 0;
}
