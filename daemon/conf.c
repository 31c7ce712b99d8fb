/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "conf.h"

#include "aws-ini.h"
#include "aws-settings.h"
#include "conf-dropins.h"
#include "conf-types.h"
#include "creds.h"
#include "endpoint.h"
#include "errorf.h"
#include "ini-lexer.h"
#include "keyid.h"
#include "log.h"
#include "textfile.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* --- what strings must look like -------------------------------------------- */

static bool has_control_chars(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool socket_path_valid(const char *s)
{
	return s[0] == '/' && strlen(s) <= SOCKET_PATH_MAX;
}

static bool abs_path_valid(const char *s)
{
	return s[0] == '/';
}

static bool url_valid(const char *s)
{
	return (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0) && !strpbrk(s, " \t") &&
	       !has_control_chars(s);
}

/* Regions=: region names separated by spaces or tabs, at least one, at
 * most CONFIG_MAX_REGIONS. */
static bool region_list_valid(const char *s)
{
	char *copy = strdup(s), *save = NULL;
	unsigned n = 0;
	bool ok = copy != NULL;

	for (char *w = ok ? strtok_r(copy, " \t", &save) : NULL; w && ok; w = strtok_r(NULL, " \t", &save))
		ok = endpoint_region_valid(w) && ++n <= CONFIG_MAX_REGIONS;
	free(copy);
	return ok && n > 0;
}

static bool account_id_valid(const char *s)
{
	return creds_field_valid(CREDS_FIELD_ACCOUNT_ID, s);
}

static bool credential_source_valid(const char *s)
{
	return creds_provider_find(s) != NULL;
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

/* --- the keys with a parser of their own ------------------------------------ */

static int parse_mode(void *obj, void *field, const char *value, const struct conf_pos *pos)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(value, &end, 8);
	if (!*value || *end || errno || v > 0777 || value[0] == '-' || value[0] == '+')
		return -EINVAL;
	*(mode_t *)field = (mode_t)v;
	return 0;
}

static int parse_log_level(void *obj, void *field, const char *value, const struct conf_pos *pos)
{
	int level = value ? log_level_from_string(value) : -1;

	if (value && (level < LOG_ERR || level > LOG_DEBUG))
		return -EINVAL;
	*(int *)field = level;
	return 0;
}

/* FIPS= also records that it was given, so that an unset key leaves
 * AWS_USE_FIPS_ENDPOINT in charge. */
static int parse_fips(void *obj, void *field, const char *value, const struct conf_pos *pos)
{
	struct daemon_config *c = obj;
	int b = value ? conf_bool_from_string(value) : 0;

	if (b < 0)
		return -EINVAL;
	c->fips = b;
	c->fips_set = value != NULL;
	return 0;
}

/* RetryMode=: standard, adaptive or legacy, as AWS_RETRY_MODE; empty:
 * not set (the AWS settings decide). */
static int parse_retry_mode(void *obj, void *field, const char *value, const struct conf_pos *pos)
{
	struct daemon_config *c = obj;

	c->retry_mode_set = value && *value;
	if (!c->retry_mode_set) {
		c->retry_mode = AWS_RETRY_MODE_STANDARD;
		return 0;
	}
	return aws_retry_mode_from_string(value, &c->retry_mode);
}

/* Prewarm=: "no", "yes" (the default region), or regions separated by
 * spaces.  Kept as the validated text; an empty list means the default region. */
static int parse_prewarm(void *obj, void *field, const char *value, const struct conf_pos *pos)
{
	struct daemon_config *c = obj;
	int b = value ? conf_bool_from_string(value) : 0;
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
			return -EINVAL;
		}
	free(copy);
	c->prewarm = true;
	return conf_set_string(&c->prewarm_regions, value, false);
}

static void guard_keys_clear(struct daemon_config *c)
{
	for (size_t i = 0; i < c->n_guard_keys; i++)
		free(c->guard_keys[i]);
	free(c->guard_keys);
	c->guard_keys = NULL;
	c->n_guard_keys = 0;
}

/* [Guard] Keys=: words, each a key ARN, a key ID, an alias or an alias ARN
 * (keyid.h); a later Keys= adds to the list, an empty one empties it, as
 * for systemd's list settings.  A key listed twice is kept once. */
static int parse_guard_keys(void *obj, void *field, const char *value, const struct conf_pos *pos)
{
	struct daemon_config *c = obj;
	char *copy, *save = NULL;
	int r = 0;

	if (!value || !*value) {
		guard_keys_clear(c);
		return 0;
	}
	copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	for (char *w = strtok_r(copy, " \t", &save); w && r == 0; w = strtok_r(NULL, " \t", &save)) {
		struct keyid_alias alias;
		bool seen = false;
		char **n;

		if (!keyid_is_valid(w) && keyid_alias_parse(w, &alias, NULL) < 0) {
			r = -EINVAL;
			break;
		}
		for (size_t i = 0; i < c->n_guard_keys && !seen; i++)
			seen = strcmp(c->guard_keys[i], w) == 0;
		if (seen)
			continue;
		if (c->n_guard_keys >= CONFIG_MAX_GUARD_KEYS) {
			r = -E2BIG;
			break;
		}
		n = realloc(c->guard_keys, (c->n_guard_keys + 1) * sizeof(*n));
		if (!n || !(n[c->n_guard_keys] = strdup(w))) {
			if (n)
				c->guard_keys = n;
			r = -ENOMEM;
			break;
		}
		c->guard_keys = n;
		c->n_guard_keys++;
	}
	free(copy);
	return r == -E2BIG ? -EINVAL : r;
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

/* Allow= and Deny= make one list, in file order (first match wins); an
 * empty one drops the rules given so far. */
static int add_rule(struct daemon_config *c, const char *value, const struct conf_pos *pos, bool deny)
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

static int parse_allow(void *obj, void *field, const char *value, const struct conf_pos *pos)
{
	return add_rule(obj, value, pos, false);
}

static int parse_deny(void *obj, void *field, const char *value, const struct conf_pos *pos)
{
	return add_rule(obj, value, pos, true);
}

/* --- the keys ------------------------------------------------------------------ */

#define F(m) offsetof(struct daemon_config, m)
/* clang-format off */
#define KEY(s, n, t, m, def, lo, hi, what) \
	.section = s, .name = n, .type = t, .offset = F(m), .default_value = def, .min = lo, .max = hi, .expected = what
#define STRING(s, n, m, def, fn, what)     {KEY(s, n, CONF_STRING, m, def, 0, 0, what), .valid = fn}
#define UINT(s, n, m, lo, hi, noun)        {KEY(s, n, CONF_UINT, m, NULL, lo, hi, noun)}
#define DURATION(s, n, m, def, lo, hi, ex) {KEY(s, n, CONF_DURATION, m, def, lo, hi, ex)}
#define RATE(s, n, m, hi, what)            {KEY(s, n, CONF_RATE, m, NULL, 0, hi, what)}
#define BOOL(s, n, m, def)                 {KEY(s, n, CONF_BOOL, m, def, 0, 0, "yes or no")}
#define CUSTOM(s, n, m, def, fn, what)     {KEY(s, n, CONF_CUSTOM, m, def, 0, 0, what), .parse = fn}
/* clang-format on */

#define REGION_WHAT  "a region name such as us-east-1"
#define REGIONS_WHAT "region names separated by spaces, such as us-east-1 eu-west-1 (at most 32)"
#define PROFILE_WHAT "a profile name (letters, digits, -/.%@_:+)"
#define LIMIT_WHAT   "a number"
#define RATE_WHAT    "requests per second, a number such as 5 or 0.5, above 0 and at most 1000000"

static const struct conf_key keys[] = {
    STRING("Daemon", "Socket", socket_path, CONFIG_DEFAULT_SOCKET, socket_path_valid,
	   "an absolute path of at most 107 bytes"),
    CUSTOM("Daemon", "SocketMode", socket_mode, "0660", parse_mode, "an octal mode such as 0660"),
    STRING("Daemon", "SocketGroup", socket_group, CONFIG_DEFAULT_SOCKET_GROUP, NULL, NULL),
    CUSTOM("Daemon", "LogLevel", log_level, NULL, parse_log_level, "err, warning, notice, info or debug"),
    UINT("Daemon", "MaxConnections", max_connections, 1, CONFIG_MAX_LIMIT, LIMIT_WHAT),
    UINT("Daemon", "MaxConnectionsPerUser", max_connections_per_uid, 1, CONFIG_MAX_LIMIT, LIMIT_WHAT),
    UINT("Daemon", "MaxCallsPerConnection", max_calls_per_connection, 1, CONFIG_MAX_LIMIT, LIMIT_WHAT),
    UINT("Daemon", "MaxCallsPerUser", max_calls_per_uid, 1, CONFIG_MAX_LIMIT, LIMIT_WHAT),
    DURATION("Daemon", "DrainTimeoutSec", drain_timeout_ms, "30", 1, CONFIG_MAX_DRAIN_TIMEOUT_MS, "30 or 500ms"),
    /* "no" or 0: never, else a time up to a day */
    DURATION("Daemon", "ExitIdleSec", exit_idle_ms, NULL, 0, CONFIG_MAX_EXIT_IDLE_MS, "60 or 1500ms"),
    DURATION("Daemon", "IdleConnectionTimeoutSec", idle_connection_timeout_ms, CONFIG_DEFAULT_IDLE_CONNECTION_TIMEOUT,
	     0, CONFIG_MAX_EXIT_IDLE_MS, "60 or 1500ms"),
    STRING("AWS", "Region", region, NULL, endpoint_region_valid, REGION_WHAT),
    STRING("AWS", "Regions", regions, NULL, region_list_valid, REGIONS_WHAT),
    STRING("AWS", "Profile", profile, NULL, aws_ini_name_valid, PROFILE_WHAT),
    STRING("AWS", "EndpointURL", endpoint_url, NULL, url_valid, "an https:// URL"),
    STRING("AWS", "STSEndpointURL", sts_endpoint_url, NULL, url_valid, "an https:// URL"),
    STRING("AWS", "CABundle", ca_bundle, NULL, abs_path_valid, "an absolute path"),
    STRING("AWS", "Account", account, NULL, account_id_valid, "a 12-digit account ID"),
    STRING("AWS", "CredentialSource", credential_source, NULL, credential_source_valid,
	   "a credential source: env, systemd, assume-role, web-identity, sso, shared, process, container or imds"),
    DURATION("AWS", "CredentialProcessTimeout", credential_process_timeout_ms, "30", 1, CONFIG_MAX_PROCESS_TIMEOUT_MS,
	     "30, 2.5 or 500ms"),
    BOOL("AWS", "IMDSv1Fallback", imds_v1_fallback, "no"),
    DURATION("AWS", "STSTimeout", sts_timeout_ms, "10", 1, CONFIG_MAX_PROCESS_TIMEOUT_MS, "30, 2.5 or 500ms"),
    DURATION("KMS", "Timeout", call_timeout_ms, "30", 1, CONFIG_MAX_CALL_TIMEOUT_MS, "30, 2.5 or 500ms"),
    UINT("KMS", "MaxAttempts", max_attempts, 1, AWS_MAX_MAX_ATTEMPTS, "a number of attempts"),
    CUSTOM("KMS", "RetryMode", retry_mode, NULL, parse_retry_mode, "standard, adaptive or legacy"),
    DURATION("KMS", "RetryBase", retry_base_ms, NULL, 1, CONFIG_MAX_RETRY_BASE_MS, "1 or 100ms"),
    CUSTOM("KMS", "FIPS", fips, NULL, parse_fips, "yes or no"),
    UINT("KMS", "MaxConnections", pool_max_connections, 1, CONFIG_MAX_POOL_SIZE, "a number of connections"),
    UINT("KMS", "MaxPools", max_pools, 1, CONFIG_MAX_POOLS, "a number of pools"),
    DURATION("KMS", "IdleTimeout", pool_idle_timeout_ms, NULL, 1, CONFIG_MAX_IDLE_TIMEOUT_MS, "50 or 500ms"),
    DURATION("KMS", "ConnectTimeout", pool_connect_timeout_ms, NULL, 1, CONFIG_MAX_CONNECT_TIMEOUT_MS, "5 or 500ms"),
    /* "no" or 0: no attempt timeout (the call's deadline only) */
    DURATION("KMS", "AttemptTimeout", attempt_timeout_ms, "10", 0, CONFIG_MAX_CALL_TIMEOUT_MS, "10, 2.5 or 500ms"),
    CUSTOM("KMS", "Prewarm", prewarm, NULL, parse_prewarm, "yes, no or region names such as us-east-1 eu-west-1"),
    BOOL("KMS", "RateLimit", rate_limit, "yes"),
    RATE("KMS", "CancelRate", cancel_rate, CONFIG_MAX_RATE, RATE_WHAT),
    RATE("KMS", "EnableRate", enable_rate, CONFIG_MAX_RATE, RATE_WHAT),
    RATE("KMS", "DescribeRate", describe_rate, CONFIG_MAX_RATE, RATE_WHAT),
    RATE("KMS", "ListRate", list_rate, CONFIG_MAX_RATE, RATE_WHAT),
    UINT("KMS", "MaxQueued", max_queued, 1, CONFIG_MAX_LIMIT, LIMIT_WHAT),
    CUSTOM("Policy", "Allow", allow, NULL, parse_allow, NULL),
    CUSTOM("Policy", "Deny", allow, NULL, parse_deny, NULL),
    BOOL("Policy", "AllowRoot", allow_root, "yes"),
    CUSTOM("Guard", "Keys", guard_keys, NULL, parse_guard_keys,
	   "key ARNs, key IDs, alias/NAME or alias ARNs separated by spaces (at most 1000)"),
    DURATION("Guard", "Interval", guard_interval_ms, "60", CONFIG_MIN_GUARD_INTERVAL_MS, CONFIG_MAX_GUARD_INTERVAL_MS,
	     "60, 1.5 or 1500ms"),
    BOOL("Guard", "Enable", guard_enable, "no"),
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

#undef F
#define F(m) offsetof(struct config_account, m)

/* [Account N]: RoleArn= is checked against the section's ID apart. */
static const struct conf_key account_keys[] = {
    STRING("Account", "Profile", profile, NULL, aws_ini_name_valid, PROFILE_WHAT),
    {KEY("Account", "ExternalId", CONF_STRING, external_id, NULL, 0, 0,
	 "2 to 1224 characters of letters, digits and _+=,.@:/-"),
     .secret = true, .valid = external_id_valid},
    STRING("Account", "Region", region, NULL, endpoint_region_valid, REGION_WHAT),
    STRING("Account", "Regions", regions, NULL, region_list_valid, REGIONS_WHAT),
    UINT("Account", "DurationSeconds", duration_sec, CONFIG_MIN_ROLE_DURATION_SEC, CONFIG_MAX_ROLE_DURATION_SEC,
	 "seconds"),
};
#define N_ACCOUNT_KEYS (sizeof(account_keys) / sizeof(account_keys[0]))

static const struct conf_key *find_key(const struct conf_key *table, size_t n, const char *section, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(table[i].section, section) == 0 && strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

static const char *known_section(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, name) == 0)
			return keys[i].section;
	return NULL;
}

/* --- the file -------------------------------------------------------------- */

static const struct ini_dialect conf_dialect = {
    .expected_assignment = "expected Key=Value",
};

struct parser {
	struct daemon_config *c;
	struct ini_lexer lx;
	const char *section; /* the current section (known: an unknown one is an error) */
	long account;        /* index in c->accounts while in an [Account N] section, else -1 */
	bool in_section;     /* any header seen */
	bool here[CONFIG_MAX_ACCOUNTS]; /* c->accounts[i] has a header in this file */
};

/* Applies value (the default when the line said "Key=") to obj by k; a bad
 * value is an error naming the key and what was written (unless secret). */
static int parser_apply(struct parser *p, const struct conf_key *k, void *obj, const char *name, const char *value,
			const char *written)
{
	struct conf_pos pos = {p->lx.file, p->lx.line};
	char why[192];
	int r = conf_key_apply(k, obj, value, &pos);

	if (r != -EINVAL)
		return r;
	conf_key_describe(k, why, sizeof(why));
	return ini_lexer_error(&p->lx, r, "%s=%s: %s", name, k->secret ? "" : written, why);
}

/* --- [Account N] ------------------------------------------------------------ */

bool config_role_arn_valid(const char *s, char ret_account[13])
{
	/* arn:PARTITION:iam::ACCOUNT:role/NAME (NAME may have a path) */
	const char *p = s, *account;
	size_t n;

	assert(s);
	n = strlen(s);
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
	assert(c);
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
	free(a->regions);
	free(a->file);
	memset(a, 0, sizeof(*a));
}

static int parse_account_header(struct parser *p, const char *id)
{
	struct daemon_config *c = p->c;
	struct config_account *n;

	if (!creds_field_valid(CREDS_FIELD_ACCOUNT_ID, id))
		return ini_lexer_error(&p->lx, -EINVAL, "[Account %s]: expected a 12-digit account ID", id);
	for (size_t i = 0; i < c->n_accounts; i++) {
		if (strcmp(c->accounts[i].id, id) != 0)
			continue;
		/* Across files, as systemd merges a section its drop-ins
		 * repeat: the later file's keys go over the earlier ones. */
		if (p->here[i])
			return ini_lexer_error(&p->lx, -EINVAL, "[Account %s] given twice", id);
		p->here[i] = true;
		p->account = (long)i;
		p->section = "Account";
		return 0;
	}
	if (c->n_accounts >= CONFIG_MAX_ACCOUNTS)
		return ini_lexer_error(&p->lx, -E2BIG, "more than %d [Account] sections", CONFIG_MAX_ACCOUNTS);
	n = realloc(c->accounts, (c->n_accounts + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->accounts = n;
	n = &c->accounts[c->n_accounts];
	*n = (struct config_account){.line = p->lx.line};
	memcpy(n->id, id, 13);
	n->file = strdup(p->lx.file);
	if (!n->file)
		return -ENOMEM;
	p->here[c->n_accounts] = true;
	p->account = (long)c->n_accounts++;
	p->section = "Account";
	return 0;
}

/* RoleArn= names a role of the section's own account. */
static int parse_role_arn(struct parser *p, struct config_account *a, const char *value)
{
	char arn_account[13];

	if (value && !config_role_arn_valid(value, arn_account))
		return ini_lexer_error(
		    &p->lx, -EINVAL, "RoleArn=%s: expected a role ARN such as arn:aws:iam::%s:role/NAME", value, a->id);
	if (value && strcmp(arn_account, a->id) != 0)
		return ini_lexer_error(&p->lx, -EINVAL,
				       "RoleArn=%s: the role belongs to account %s, not %s: a key is served only "
				       "by credentials of its own account",
				       value, arn_account, a->id);
	return conf_set_string(&a->role_arn, value, false);
}

/* One Key=Value in an [Account N] section; value NULL resets the key. */
static int parse_account_key(struct parser *p, const char *name, const char *value)
{
	struct config_account *a = &p->c->accounts[p->account];
	const struct conf_key *k;

	if (strcmp(name, "RoleArn") == 0)
		return parse_role_arn(p, a, value);
	k = find_key(account_keys, N_ACCOUNT_KEYS, "Account", name);
	if (!k)
		return ini_lexer_error(&p->lx, -EINVAL,
				       "unknown key %s= in [Account %s] (expected Profile=, RoleArn=, ExternalId=, "
				       "Region= or DurationSeconds=)",
				       name, a->id);
	return parser_apply(p, k, a, name, value, value ? value : "");
}

int config_check(const struct daemon_config *c, char **ret_error)
{
	assert(c);
	for (size_t i = 0; i < c->n_accounts; i++) {
		const struct config_account *a = &c->accounts[i];

		if (!a->profile == !a->role_arn)
			return errorf(ret_error, -EINVAL, "%s:%u: [Account %s]: expected either Profile= or RoleArn=%s",
				      a->file, a->line, a->id, a->profile ? ", not both" : "");
		if (a->profile && (a->external_id || a->duration_sec))
			return errorf(ret_error, -EINVAL,
				      "%s:%u: [Account %s]: ExternalId= and DurationSeconds= go with RoleArn=, not "
				      "Profile=",
				      a->file, a->line, a->id);
	}
	return 0;
}

static int parse_header(struct parser *p, char *name)
{
	p->in_section = true;
	p->account = -1;
	if (strcmp(name, "Account") == 0)
		return ini_lexer_error(&p->lx, -EINVAL, "expected [Account ID] with a 12-digit account ID");
	if (strncmp(name, "Account", 7) == 0 && (name[7] == ' ' || name[7] == '\t'))
		return parse_account_header(p, text_strip(name + 8));
	/* An unknown section is an error, not a warning: a misspelt [Policy]
	 * would silently drop every Deny= in it. */
	p->section = known_section(name);
	if (!p->section)
		return ini_lexer_error(&p->lx, -EINVAL, "unknown section [%s]", name);
	return 0;
}

static int parse_assignment(struct parser *p, struct ini_line *l)
{
	const struct conf_key *k;
	char *name, *value;
	int r;

	r = ini_lexer_split(&p->lx, l, &name, &value);
	if (r < 0)
		return r;
	if (!p->in_section)
		return ini_lexer_error(&p->lx, -EINVAL, "%s= outside of any section", name);
	if (p->account >= 0)
		return parse_account_key(p, name, *value ? value : NULL);
	k = find_key(keys, N_KEYS, p->section, name);
	/* Unknown keys are errors: a misspelt Deny= would otherwise be a rule
	 * that silently does not exist. */
	if (!k)
		return ini_lexer_error(&p->lx, -EINVAL, "unknown key %s= in [%s]", name, p->section);
	return parser_apply(p, k, p->c, name, *value ? value : k->default_value, value);
}

int config_init_defaults(struct daemon_config *ret)
{
	struct daemon_config c = {0};
	struct conf_pos pos = {"(defaults)", 0};

	assert(ret);
	for (size_t i = 0; i < N_KEYS; i++)
		if (conf_key_apply(&keys[i], &c, keys[i].default_value, &pos) < 0) {
			config_done(&c);
			return -ENOMEM;
		}
	*ret = c;
	return 0;
}

int config_parse_into(struct daemon_config *c, const char *text, const char *filename, char **ret_error)
{
	struct parser p = {.c = c, .account = -1};
	struct ini_line l;
	size_t len;
	char *buf;
	int r;

	assert(c && text && filename);
	len = strlen(text);
	buf = strndup(text, len);
	if (!buf)
		return -ENOMEM;
	ini_lexer_init(&p.lx, &conf_dialect, buf, filename);
	while ((r = ini_lexer_next(&p.lx, &l)) > 0) {
		r = l.kind == INI_SECTION ? parse_header(&p, l.section) : parse_assignment(&p, &l);
		if (r < 0)
			break;
	}
	ini_lexer_take_error(&p.lx, r < 0 ? ret_error : NULL);
	textfile_free(buf, len); /* ExternalId= values are secrets of sorts */
	return r;
}

/* Appends a copy of path to c->files. */
static int files_add(struct daemon_config *c, const char *path)
{
	char **n = realloc(c->files, (c->n_files + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	c->files = n;
	c->files[c->n_files] = strdup(path);
	if (!c->files[c->n_files])
		return -ENOMEM;
	c->n_files++;
	return 0;
}

/* The end of a load that got r so far: the checks, then c handed over to
 * *ret, or freed on failure (*ret untouched). */
static int load_finish(struct daemon_config *c, int r, struct daemon_config *ret, char **ret_error)
{
	if (r >= 0)
		r = config_check(c, ret_error);
	if (r < 0) {
		config_done(c);
		return r;
	}
	*ret = *c;
	return 0;
}

int config_load_string(const char *text, const char *filename, struct daemon_config *ret, char **ret_error)
{
	struct daemon_config c;
	int r;

	assert(text && filename && ret);
	r = config_init_defaults(&c);
	if (r < 0)
		return r;
	c.file = strdup(filename);
	r = c.file ? files_add(&c, filename) : -ENOMEM;
	if (r >= 0)
		r = config_parse_into(&c, text, filename, ret_error);
	return load_finish(&c, r, ret, ret_error);
}

/* Reads path and applies it over c, adding it to c->files.  -ENOENT
 * without a message when missing_ok and the file does not exist. */
static int load_file(struct daemon_config *c, const char *path, bool missing_ok, char **ret_error)
{
	char *buf = NULL;
	size_t size;
	int r;

	r = textfile_read(path, CONFIG_MAX_FILE_SIZE, &buf, &size);
	if (r == -ENOENT && missing_ok)
		return r;
	if (r < 0) {
		const char *why = r == -EFBIG    ? "file too large"
				  : r == -EINVAL ? "not a regular text file"
						 : strerror(-r);

		return errorf(ret_error, r, "%s: %s", path, why);
	}
	r = config_parse_into(c, buf, path, ret_error);
	textfile_free(buf, size);
	return r < 0 ? r : files_add(c, path);
}

/* The drop-ins of main_path (conf-dropins.h), each applied over c in
 * order.  One removed since its directory was listed is skipped, as if
 * the listing had come a moment later. */
static int load_dropins(struct daemon_config *c, const char *main_path, char **ret_error)
{
	struct conf_dropins d = {0};
	const char *failed = NULL;
	char **dirs = NULL;
	size_t n_dirs = 0;
	int r;

	r = conf_dropin_dirs(main_path, &dirs, &n_dirs);
	if (r < 0)
		return r;
	r = conf_dropins_find((const char *const *)dirs, n_dirs, &d, &failed);
	if (r < 0 && failed)
		r = errorf(ret_error, r, "cannot read drop-in directory %s: %s", failed, strerror(-r));
	else if (r == -E2BIG)
		r = errorf(ret_error, r, "too many drop-ins in %s%s (at most %d)", dirs[0],
			   n_dirs > 1 ? " and the directories after it" : "", CONF_DROPINS_MAX);
	for (size_t i = 0; r >= 0 && i < d.n; i++) {
		r = load_file(c, d.paths[i], true, ret_error);
		if (r == -ENOENT)
			r = 0;
	}
	conf_dropins_done(&d);
	conf_dropin_dirs_free(dirs, n_dirs);
	return r;
}

int config_load(const char *path, bool required, struct daemon_config *ret, char **ret_error)
{
	struct daemon_config c;
	int r;

	assert(path && ret);
	r = config_init_defaults(&c);
	if (r < 0)
		return r;
	r = load_file(&c, path, !required, ret_error);
	if (r >= 0 && !(c.file = strdup(path)))
		r = -ENOMEM;
	if (r == -ENOENT && !required) /* the defaults, and the drop-ins */
		r = 0;
	if (r >= 0)
		r = load_dropins(&c, path, ret_error);
	return load_finish(&c, r, ret, ret_error);
}

void config_done(struct daemon_config *c)
{
	if (!c)
		return;
	free(c->file);
	for (size_t i = 0; i < c->n_files; i++)
		free(c->files[i]);
	free(c->files);
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
	free(c->regions);
	allow_clear(c);
	guard_keys_clear(c);
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

	assert(c && s);
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
	if (c->retry_mode_set)
		s->retry_mode = c->retry_mode;
	if (c->max_attempts) {
		s->max_attempts = c->max_attempts;
		s->max_attempts_set = true;
	} else if (!s->max_attempts_set) {
		s->max_attempts = aws_retry_mode_default_attempts(s->retry_mode);
	}
	if (c->fips_set)
		s->use_fips_endpoint = c->fips;
	s->ec2_metadata_v1_fallback = c->imds_v1_fallback;
	return 0;
}
