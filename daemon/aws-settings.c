/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "aws-settings.h"

#include "aws-ini.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define GETPW_BUFFER_SIZE 16384

static const char *const retry_mode_names[_AWS_RETRY_MODE_MAX] = {
    [AWS_RETRY_MODE_STANDARD] = "standard",
    [AWS_RETRY_MODE_LEGACY] = "legacy",
    [AWS_RETRY_MODE_ADAPTIVE] = "adaptive",
};

const char *aws_retry_mode_to_string(enum aws_retry_mode m)
{
	return m < _AWS_RETRY_MODE_MAX ? retry_mode_names[m] : NULL;
}

unsigned aws_retry_mode_default_attempts(enum aws_retry_mode m)
{
	return m == AWS_RETRY_MODE_LEGACY ? AWS_LEGACY_MAX_ATTEMPTS : AWS_DEFAULT_MAX_ATTEMPTS;
}

int aws_retry_mode_from_string(const char *s, enum aws_retry_mode *ret)
{
	for (size_t i = 0; i < _AWS_RETRY_MODE_MAX; i++)
		if (strcasecmp(s, retry_mode_names[i]) == 0) {
			*ret = (enum aws_retry_mode)i;
			return 0;
		}
	return -EINVAL;
}

const char *aws_getenv(aws_getenv_fn getenv_fn, const char *name)
{
	const char *v = getenv_fn ? getenv_fn(name) : getenv(name);

	return v && *v ? v : NULL;
}

const char *aws_settings_getenv(const struct aws_settings *s, const char *name)
{
	return aws_getenv(s->getenv_fn, name);
}

int aws_settings_set_string(char **field, const char *value)
{
	char *copy = NULL;

	if (value) {
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
	}
	free(*field);
	*field = copy;
	return 0;
}

/* --- where a value comes from ---------------------------------------------- */

/* What one lookup needs: the environment, the parsed files, the profile. */
struct lookup {
	aws_getenv_fn getenv_fn;
	const struct aws_ini *ini;
	const char *profile;
	char *error; /* set by lookup_error() */
};

/* A value and where it was found, so that an error can point there. */
struct found {
	const char *value;                   /* NULL: not set anywhere */
	const char *env;                     /* the variable it came from, or NULL */
	const struct aws_ini_property *prop; /* or the profile key */
};

static int lookup_error(struct lookup *l, const struct found *f, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int lookup_error(struct lookup *l, const struct found *f, const char *key, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	free(l->error);
	if (f->env)
		r = asprintf(&l->error, "%s: %s", f->env, msg);
	else
		r = asprintf(&l->error, "%s:%u: %s: %s", f->prop->file, f->prop->line, key, msg);
	if (r < 0)
		l->error = NULL;
	free(msg);
	return -EINVAL;
}

/* The first of envs (NULL-terminated) that is set, else the profile's key
 * (key may be NULL: environment only). */
static struct found lookup(const struct lookup *l, const char *const *envs, const char *key)
{
	struct found f = {0};

	for (; envs && *envs; envs++) {
		f.value = aws_getenv(l->getenv_fn, *envs);
		if (f.value) {
			f.env = *envs;
			return f;
		}
	}
	if (key) {
		f.prop = aws_ini_get_property(l->ini, AWS_INI_PROFILE, l->profile, key);
		f.value = f.prop ? f.prop->value : NULL;
	}
	return f;
}

static bool is_single_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* A string setting; *ret is a copy or NULL.  Refuses control characters:
 * these values end up in host names, paths and HTTP requests. */
static int get_string(struct lookup *l, const char *const *envs, const char *key, char **ret)
{
	struct found f = lookup(l, envs, key);
	char *v = NULL;

	if (f.value && *f.value) {
		if (!is_single_line(f.value))
			return lookup_error(l, &f, key, "must be a single line without control characters");
		v = strdup(f.value);
		if (!v)
			return -ENOMEM;
	}
	*ret = v;
	return 0;
}

/* A boolean setting; *ret keeps its default when the setting is absent. */
static int get_bool(struct lookup *l, const char *const *envs, const char *key, bool *ret)
{
	struct found f = lookup(l, envs, key);

	if (!f.value || !*f.value)
		return 0;
	if (strcasecmp(f.value, "true") == 0)
		*ret = true;
	else if (strcasecmp(f.value, "false") == 0)
		*ret = false;
	else
		return lookup_error(l, &f, key, "'%s' is not 'true' or 'false'", f.value);
	return 0;
}

static int get_max_attempts(struct lookup *l, unsigned *ret, bool *ret_set)
{
	static const char *const envs[] = {"AWS_MAX_ATTEMPTS", NULL};
	struct found f = lookup(l, envs, "max_attempts");
	unsigned long v;
	char *end;

	if (!f.value || !*f.value)
		return 0;
	errno = 0;
	v = strtoul(f.value, &end, 10);
	if (f.value[0] < '0' || f.value[0] > '9' || *end || errno || v < 1 || v > AWS_MAX_MAX_ATTEMPTS)
		return lookup_error(l, &f, "max_attempts", "'%s' is not a number of attempts from 1 to %d", f.value,
				    AWS_MAX_MAX_ATTEMPTS);
	*ret = (unsigned)v;
	*ret_set = true;
	return 0;
}

static int get_retry_mode(struct lookup *l, enum aws_retry_mode *ret)
{
	static const char *const envs[] = {"AWS_RETRY_MODE", NULL};
	struct found f = lookup(l, envs, "retry_mode");

	if (!f.value || !*f.value)
		return 0;
	if (aws_retry_mode_from_string(f.value, ret) < 0)
		return lookup_error(l, &f, "retry_mode", "'%s' is not standard, legacy or adaptive", f.value);
	return 0;
}

/* botocore compares the value as written ("Legacy" is an error there too). */
static int get_sts_regional_endpoints(struct lookup *l, bool *ret_legacy)
{
	static const char *const envs[] = {"AWS_STS_REGIONAL_ENDPOINTS", NULL};
	struct found f = lookup(l, envs, "sts_regional_endpoints");

	if (!f.value || !*f.value)
		return 0;
	if (strcmp(f.value, "legacy") != 0 && strcmp(f.value, "regional") != 0)
		return lookup_error(l, &f, "sts_regional_endpoints", "'%s' is not regional or legacy", f.value);
	*ret_legacy = strcmp(f.value, "legacy") == 0;
	return 0;
}

/* The endpoint mode; without one, botocore's older imds_use_ipv6 (a
 * boolean) says IPv6. */
static int get_imds_mode(struct lookup *l, bool *ret_ipv6)
{
	static const char *const envs[] = {"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", NULL};
	static const char *const use_ipv6_envs[] = {"AWS_IMDS_USE_IPV6", NULL};
	struct found f = lookup(l, envs, "ec2_metadata_service_endpoint_mode");

	if (!f.value || !*f.value)
		return get_bool(l, use_ipv6_envs, "imds_use_ipv6", ret_ipv6);
	if (strcasecmp(f.value, "IPv4") == 0)
		*ret_ipv6 = false;
	else if (strcasecmp(f.value, "IPv6") == 0)
		*ret_ipv6 = true;
	else
		return lookup_error(l, &f, "ec2_metadata_service_endpoint_mode", "'%s' is not IPv4 or IPv6", f.value);
	return 0;
}

/*
 * The profile's "services = NAME" entry for service (e.g. "kms"): the
 * endpoint_url sub-key of that service in [services NAME].  A profile naming
 * a section that does not exist is an error, as in botocore.
 */
static int services_endpoint(struct lookup *l, const char *service, const char **ret)
{
	const struct aws_ini_property *p, *svc;
	struct found f = {0};

	p = aws_ini_get_property(l->ini, AWS_INI_PROFILE, l->profile, "services");
	*ret = NULL;
	if (!p || !*p->value)
		return 0;
	if (!aws_ini_has_section(l->ini, AWS_INI_SERVICES, p->value)) {
		f.prop = p;
		return lookup_error(l, &f, "services", "there is no [services %s] section", p->value);
	}
	svc = aws_ini_get_property(l->ini, AWS_INI_SERVICES, p->value, service);
	*ret = aws_ini_property_sub(svc, "endpoint_url");
	return 0;
}

/*
 * A service's endpoint URL, in botocore's order: AWS_ENDPOINT_URL_<SVC>,
 * AWS_ENDPOINT_URL, the services section, the profile's endpoint_url.
 * env_suffix is the service ID upper-cased ("KMS"), key lower-cased ("kms").
 */
static int get_endpoint(struct lookup *l, bool ignore, const char *env_suffix, const char *service, char **ret)
{
	char env[64];
	const char *envs[] = {env, "AWS_ENDPOINT_URL", NULL};
	const char *from_services;
	struct found f;
	int r;

	*ret = NULL;
	if (ignore)
		return 0;
	snprintf(env, sizeof(env), "AWS_ENDPOINT_URL_%s", env_suffix);
	f = lookup(l, envs, NULL);
	if (!f.value) {
		r = services_endpoint(l, service, &from_services);
		if (r < 0)
			return r;
		if (from_services) {
			f.value = from_services;
			f.prop = aws_ini_get_property(l->ini, AWS_INI_PROFILE, l->profile, "services");
		}
	}
	if (!f.value)
		f = lookup(l, NULL, "endpoint_url");
	if (!f.value || !*f.value)
		return 0;
	if (!is_single_line(f.value))
		return lookup_error(l, &f, "endpoint_url", "must be a single line without control characters");
	*ret = strdup(f.value);
	return *ret ? 0 : -ENOMEM;
}

/* --- resolving --------------------------------------------------------------- */

/* Frees the resolved (profile- and environment-dependent) part of s. */
static void resolved_done(struct aws_settings *s)
{
	free(s->region);
	free(s->kms_endpoint_url);
	free(s->sts_endpoint_url);
	free(s->ca_bundle);
	free(s->ec2_metadata_endpoint);
	s->region = s->kms_endpoint_url = s->sts_endpoint_url = s->ca_bundle = s->ec2_metadata_endpoint = NULL;
}

static int resolve_strings(struct lookup *l, struct aws_settings *t)
{
	static const char *const region_envs[] = {"AWS_REGION", "AWS_DEFAULT_REGION", NULL};
	static const char *const ca_envs[] = {"AWS_CA_BUNDLE", NULL};
	static const char *const imds_envs[] = {"AWS_EC2_METADATA_SERVICE_ENDPOINT", NULL};
	int r;

	r = get_string(l, region_envs, "region", &t->region);
	if (r >= 0)
		r = get_endpoint(l, t->ignore_configured_endpoint_urls, "KMS", "kms", &t->kms_endpoint_url);
	if (r >= 0)
		r = get_endpoint(l, t->ignore_configured_endpoint_urls, "STS", "sts", &t->sts_endpoint_url);
	if (r >= 0)
		r = get_string(l, ca_envs, "ca_bundle", &t->ca_bundle);
	if (r >= 0)
		r = get_string(l, imds_envs, "ec2_metadata_service_endpoint", &t->ec2_metadata_endpoint);
	return r;
}

static int resolve_flags(struct lookup *l, struct aws_settings *t)
{
	static const char *const ignore_envs[] = {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", NULL};
	static const char *const fips_envs[] = {"AWS_USE_FIPS_ENDPOINT", NULL};
	static const char *const dualstack_envs[] = {"AWS_USE_DUALSTACK_ENDPOINT", NULL};
	static const char *const imds_off_envs[] = {"AWS_EC2_METADATA_DISABLED", NULL};
	static const char *const v1_off_envs[] = {"AWS_EC2_METADATA_V1_DISABLED", NULL};
	int r;

	r = get_bool(l, ignore_envs, "ignore_configured_endpoint_urls", &t->ignore_configured_endpoint_urls);
	if (r >= 0)
		r = get_bool(l, fips_envs, "use_fips_endpoint", &t->use_fips_endpoint);
	if (r >= 0)
		r = get_bool(l, dualstack_envs, "use_dualstack_endpoint", &t->use_dualstack_endpoint);
	if (r >= 0)
		r = get_sts_regional_endpoints(l, &t->sts_legacy_global);
	/* botocore knows no config key for this one: environment only. */
	if (r >= 0)
		r = get_bool(l, imds_off_envs, NULL, &t->ec2_metadata_disabled);
	if (r >= 0)
		r = get_bool(l, v1_off_envs, "ec2_metadata_v1_disabled", &t->ec2_metadata_v1_disabled);
	if (r >= 0)
		r = get_imds_mode(l, &t->ec2_metadata_ipv6);
	if (r >= 0)
		r = get_retry_mode(l, &t->retry_mode);
	if (r >= 0)
		r = get_max_attempts(l, &t->max_attempts, &t->max_attempts_set);
	if (r >= 0 && !t->max_attempts_set)
		t->max_attempts = aws_retry_mode_default_attempts(t->retry_mode);
	return r;
}

/*
 * Resolves every profile- and environment-dependent setting of s for
 * profile into *t (which starts zeroed); flags first, because
 * ignore_configured_endpoint_urls decides whether endpoints are read.
 */
static int resolve(const struct aws_settings *s, const char *profile, struct aws_settings *t, char **ret_error)
{
	struct lookup l = {.getenv_fn = s->getenv_fn, .ini = s->ini, .profile = profile};
	int r;

	t->max_attempts = AWS_DEFAULT_MAX_ATTEMPTS;
	t->retry_mode = AWS_RETRY_MODE_STANDARD;
	r = resolve_flags(&l, t);
	if (r >= 0)
		r = resolve_strings(&l, t);
	if (r < 0) {
		resolved_done(t);
		if (l.error && ret_error) {
			*ret_error = l.error;
			l.error = NULL;
		}
	}
	free(l.error);
	return r;
}

/* Moves the resolved part of t into s, freeing what s had. */
static void resolved_move(struct aws_settings *s, struct aws_settings *t)
{
	resolved_done(s);
	s->region = t->region;
	s->kms_endpoint_url = t->kms_endpoint_url;
	s->sts_endpoint_url = t->sts_endpoint_url;
	s->ca_bundle = t->ca_bundle;
	s->ec2_metadata_endpoint = t->ec2_metadata_endpoint;
	s->ignore_configured_endpoint_urls = t->ignore_configured_endpoint_urls;
	s->use_fips_endpoint = t->use_fips_endpoint;
	s->use_dualstack_endpoint = t->use_dualstack_endpoint;
	s->sts_legacy_global = t->sts_legacy_global;
	s->ec2_metadata_disabled = t->ec2_metadata_disabled;
	s->ec2_metadata_ipv6 = t->ec2_metadata_ipv6;
	s->ec2_metadata_v1_disabled = t->ec2_metadata_v1_disabled;
	s->max_attempts = t->max_attempts;
	s->max_attempts_set = t->max_attempts_set;
	s->retry_mode = t->retry_mode;
	memset(t, 0, sizeof(*t));
}

/* --- files ------------------------------------------------------------------- */

/* The home directory: $HOME, or the password database when reading the real
 * environment (systemd services may run without $HOME). */
static int home_directory(aws_getenv_fn getenv_fn, char **ret)
{
	const char *home = aws_getenv(getenv_fn, "HOME");
	struct passwd pw, *result = NULL;
	char *buf;

	*ret = NULL;
	if (home) {
		*ret = strdup(home);
		return *ret ? 0 : -ENOMEM;
	}
	if (getenv_fn)
		return 0;
	buf = malloc(GETPW_BUFFER_SIZE);
	if (!buf)
		return -ENOMEM;
	if (getpwuid_r(getuid(), &pw, buf, GETPW_BUFFER_SIZE, &result) == 0 && result && result->pw_dir)
		*ret = strdup(result->pw_dir);
	free(buf);
	return 0;
}

/* The path of a shared file: the variable (with "~/" expanded), else
 * ~/.aws/<name>; NULL when there is no home to put it in. */
static int shared_file_path(aws_getenv_fn getenv_fn, const char *home, const char *env, const char *name, char **ret)
{
	const char *v = aws_getenv(getenv_fn, env);
	int r;

	if (v && strncmp(v, "~/", 2) != 0) {
		*ret = strdup(v);
		return *ret ? 0 : -ENOMEM;
	}
	if (!home) {
		*ret = NULL;
		return 0;
	}
	if (v)
		r = asprintf(ret, "%s/%s", home, v + 2);
	else
		r = asprintf(ret, "%s/.aws/%s", home, name);
	return r < 0 ? -ENOMEM : 0;
}

static int load_one(struct aws_ini *ini, enum aws_ini_file_kind kind, const char *path, char **ret_error)
{
	int r;

	if (!path)
		return 0;
	r = aws_ini_load_file(ini, kind, path, ret_error);
	return r == -ENOENT ? 0 : r;
}

/* Fills in the profile, the file paths and the parsed files. */
static int load_files(struct aws_settings *t, char **ret_error)
{
	char *home = NULL;
	int r;

	r = home_directory(t->getenv_fn, &home);
	if (r >= 0)
		r = shared_file_path(t->getenv_fn, home, "AWS_CONFIG_FILE", "config", &t->config_file);
	if (r >= 0)
		r = shared_file_path(t->getenv_fn, home, "AWS_SHARED_CREDENTIALS_FILE", "credentials",
				     &t->credentials_file);
	free(home);
	if (r < 0)
		return r;
	t->ini = aws_ini_new();
	if (!t->ini)
		return -ENOMEM;
	/* Order does not matter for precedence (aws-ini keeps credentials-file
	 * values over config-file ones), only for which error is seen first. */
	r = load_one(t->ini, AWS_INI_CONFIG, t->config_file, ret_error);
	if (r >= 0)
		r = load_one(t->ini, AWS_INI_CREDENTIALS, t->credentials_file, ret_error);
	return r;
}

int aws_settings_load_ini(const struct aws_settings *s, struct aws_ini **ret, char **ret_error)
{
	struct aws_ini *ini = aws_ini_new();
	int r;

	if (!ini)
		return -ENOMEM;
	r = load_one(ini, AWS_INI_CONFIG, s->config_file, ret_error);
	if (r >= 0)
		r = load_one(ini, AWS_INI_CREDENTIALS, s->credentials_file, ret_error);
	if (r < 0) {
		aws_ini_free(ini);
		return r;
	}
	*ret = ini;
	return 0;
}

static int profile_name(aws_getenv_fn getenv_fn, char **ret, bool *ret_explicit)
{
	const char *p = aws_getenv(getenv_fn, "AWS_PROFILE");

	/* AWS_PROFILE is the name every SDK documents; botocore also reads
	 * the older AWS_DEFAULT_PROFILE (and prefers it).  We keep the
	 * documented one first. */
	if (!p)
		p = aws_getenv(getenv_fn, "AWS_DEFAULT_PROFILE");
	*ret_explicit = p != NULL;
	*ret = strdup(p ? p : AWS_DEFAULT_PROFILE);
	return *ret ? 0 : -ENOMEM;
}

int aws_settings_load(aws_getenv_fn getenv_fn, struct aws_settings *ret, char **ret_error)
{
	struct aws_settings s = {.getenv_fn = getenv_fn}, t = {0};
	int r;

	r = profile_name(getenv_fn, &s.profile, &s.profile_explicit);
	if (r >= 0)
		r = load_files(&s, ret_error);
	if (r >= 0)
		r = resolve(&s, s.profile, &t, ret_error);
	if (r < 0) {
		aws_settings_done(&s);
		return r;
	}
	resolved_move(&s, &t);
	*ret = s;
	return 0;
}

int aws_settings_use_profile(struct aws_settings *s, const char *profile, char **ret_error)
{
	struct aws_settings t = {0};
	char *copy;
	int r;

	copy = strdup(profile);
	if (!copy)
		return -ENOMEM;
	r = resolve(s, profile, &t, ret_error);
	if (r < 0) {
		free(copy);
		return r;
	}
	resolved_move(s, &t);
	free(s->profile);
	s->profile = copy;
	s->profile_explicit = true;
	return 0;
}

void aws_settings_done(struct aws_settings *s)
{
	if (!s)
		return;
	resolved_done(s);
	free(s->profile);
	free(s->config_file);
	free(s->credentials_file);
	aws_ini_free(s->ini);
	memset(s, 0, sizeof(*s));
}
