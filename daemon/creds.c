/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds.h"

#include "aws-ini.h"
#include "errorf.h"
#include "timeutil.h"

#include <errno.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCOUNT_ID_LEN 12

/* The default chain, in botocore's order (AWS.md §7.1) with systemd
 * credentials after the environment.  CredentialSource= names one of these. */
static const struct creds_provider *const chain[] = {
    &creds_provider_env,    &creds_provider_systemd, &creds_provider_assume_role, &creds_provider_web_identity,
    &creds_provider_sso,    &creds_provider_shared,  &creds_provider_process,     &creds_provider_container,
    &creds_provider_imds,
};
#define CHAIN_LEN (sizeof(chain) / sizeof(chain[0]))

static const char *const field_names[_CREDS_FIELD_MAX] = {
    [CREDS_FIELD_ACCESS_KEY_ID] = "access key ID",
    [CREDS_FIELD_SECRET_ACCESS_KEY] = "secret access key",
    [CREDS_FIELD_SESSION_TOKEN] = "session token",
    [CREDS_FIELD_ACCOUNT_ID] = "account ID",
};

const char *creds_field_to_string(enum creds_field f)
{
	return f < _CREDS_FIELD_MAX ? field_names[f] : NULL;
}

static bool is_token_chars(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

bool creds_field_valid(enum creds_field f, const char *value)
{
	if (!value)
		return false;
	switch (f) {
	case CREDS_FIELD_ACCESS_KEY_ID:
	case CREDS_FIELD_SECRET_ACCESS_KEY:
		return is_token_chars(value, CREDS_MAX_KEY_LEN);
	case CREDS_FIELD_SESSION_TOKEN:
		return is_token_chars(value, CREDS_MAX_TOKEN_LEN);
	case CREDS_FIELD_ACCOUNT_ID:
		return strlen(value) == ACCOUNT_ID_LEN && strspn(value, "0123456789") == ACCOUNT_ID_LEN;
	default:
		return false;
	}
}

const char *creds_check_fields(const char *access_key_id, const char *secret_access_key, const char *session_token,
			       const char *account_id)
{
	const char *values[_CREDS_FIELD_MAX] = {access_key_id, secret_access_key, session_token, account_id};

	for (size_t f = 0; f < _CREDS_FIELD_MAX; f++) {
		bool optional = f == CREDS_FIELD_SESSION_TOKEN || f == CREDS_FIELD_ACCOUNT_ID;

		if (optional && (!values[f] || !*values[f]))
			continue;
		if (!creds_field_valid((enum creds_field)f, values[f]))
			return field_names[f];
	}
	return NULL;
}

/* Secrets live in OpenSSL's secure heap when the daemon set one up
 * (main.c): locked in RAM, never swapped, guarded, and wiped on free.
 * Without it OPENSSL_secure_malloc falls back to plain malloc. */
static char *strdup_secret(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = OPENSSL_secure_malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

static void free_secret(char *s)
{
	if (s)
		OPENSSL_secure_clear_free(s, strlen(s) + 1);
}

static void credentials_free(struct aws_credentials *c)
{
	free_secret(c->access_key_id);
	free_secret(c->secret_access_key);
	free_secret(c->session_token);
	free(c->account_id);
	free(c->source_owned);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

static int dup_optional(const char *s, char **ret)
{
	*ret = NULL;
	if (!s || !*s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int dup_optional_secret(const char *s, char **ret)
{
	*ret = NULL;
	if (!s || !*s)
		return 0;
	*ret = strdup_secret(s);
	return *ret ? 0 : -ENOMEM;
}

int aws_credentials_new(const char *access_key_id, const char *secret_access_key, const char *session_token,
			time_t expiration, const char *source, const char *account_id, struct aws_credentials **ret)
{
	struct aws_credentials *c;

	if (creds_check_fields(access_key_id, secret_access_key, session_token, account_id))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->n_ref = 1;
	c->expiration = expiration;
	c->source = source;
	c->access_key_id = strdup_secret(access_key_id);
	c->secret_access_key = strdup_secret(secret_access_key);
	if (!c->access_key_id || !c->secret_access_key || dup_optional_secret(session_token, &c->session_token) < 0 ||
	    dup_optional(account_id, &c->account_id) < 0) {
		credentials_free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

int aws_credentials_set_source(struct aws_credentials *c, const char *source, const char *detail)
{
	char *s;

	if (asprintf(&s, "%s (%s)", source, detail) < 0)
		return -ENOMEM;
	free(c->source_owned);
	c->source_owned = s;
	c->source = s;
	return 0;
}

struct aws_credentials *aws_credentials_ref(struct aws_credentials *c)
{
	if (c)
		c->n_ref++;
	return c;
}

struct aws_credentials *aws_credentials_unref(struct aws_credentials *c)
{
	if (c && --c->n_ref == 0)
		credentials_free(c);
	return NULL;
}

const struct creds_provider *creds_provider_find(const char *name)
{
	for (size_t i = 0; i < CHAIN_LEN; i++)
		if (strcmp(chain[i]->name, name) == 0)
			return chain[i];
	return NULL;
}

const char *creds_provider_names(void)
{
	return "env systemd assume-role web-identity sso shared process container imds";
}

const struct aws_ini *creds_context_ini(const struct creds_context *ctx)
{
	return ctx->ini ? ctx->ini : ctx->settings->ini;
}

const char *creds_context_setting(const struct creds_context *ctx, const char *env, const char *profile_key)
{
	const char *v = env ? aws_getenv(ctx->getenv_fn, env) : NULL;

	if (!v && profile_key)
		v = aws_ini_get(creds_context_ini(ctx), ctx->settings->profile, profile_key);
	return v && *v ? v : NULL;
}

int creds_metadata_limits(const struct creds_context *ctx, unsigned default_timeout_ms, unsigned default_attempts,
			  unsigned *ret_timeout_ms, unsigned *ret_attempts, char **ret_error)
{
	const char *t = creds_context_setting(ctx, "AWS_METADATA_SERVICE_TIMEOUT", "metadata_service_timeout");
	const char *a =
	    creds_context_setting(ctx, "AWS_METADATA_SERVICE_NUM_ATTEMPTS", "metadata_service_num_attempts");
	unsigned timeout_ms = default_timeout_ms, attempts = default_attempts;
	char *end;

	if (t) {
		double sec = strtod(t, &end);

		if (*end || !(sec > 0) || sec * 1000 > CREDS_METADATA_MAX_TIMEOUT_MS)
			goto bad_timeout;
		timeout_ms = (unsigned)(sec * 1000);
		if (timeout_ms == 0)
			timeout_ms = 1;
	}
	if (a) {
		unsigned long n = strtoul(a, &end, 10);

		if (*end || *a == '-' || n < 1 || n > CREDS_METADATA_MAX_ATTEMPTS)
			return errorf(ret_error, -EINVAL,
				      "metadata service attempts '%.32s' is not a number from 1 to %d", a,
				      CREDS_METADATA_MAX_ATTEMPTS);
		attempts = (unsigned)n;
	}
	*ret_timeout_ms = timeout_ms;
	*ret_attempts = attempts;
	return 0;
bad_timeout:
	return errorf(ret_error, -EINVAL, "metadata service timeout '%.32s' is not a number of seconds up to %d", t,
		      CREDS_METADATA_MAX_TIMEOUT_MS / 1000);
}

struct creds_fetch *creds_fetch_cancel(struct creds_fetch *f)
{
	if (f)
		f->cancel(f);
	return NULL;
}

/* Appends "; description: note" to *notes (a growing list of what each
 * provider looked for).  Out of memory only loses the note. */
static void add_note(char **notes, const struct creds_provider *p, const char *note)
{
	char *n = NULL;

	if (asprintf(&n, "%s%s%s: %s", *notes ? *notes : "", *notes ? "; " : "", p->description,
		     note ? note : "nothing found") < 0)
		return;
	free(*notes);
	*notes = n;
}

static char *prefixed(const struct creds_provider *p, const char *msg, int r)
{
	char *full = NULL;

	if (asprintf(&full, "%s: %s", p->description, msg ? msg : strerror(-r)) < 0)
		return NULL;
	return full;
}

/*
 * The chain walk in progress: which provider runs, what the earlier ones
 * said, and the caller's callback.  An asynchronous provider's failure ends
 * the walk like a synchronous one's, except for the last resort (IMDS in
 * the chain), whose failure reads "no credentials found (tried …)".
 */
struct chain_walk {
	struct creds_fetch base;
	struct creds_context ctx; /* borrowed pointers: valid while the walk runs */
	bool single;              /* one named source, not the chain */
	size_t next;              /* index in chain[] of the provider to try next */
	const struct creds_provider *running;
	struct creds_fetch *fetch;
	char *notes;
	creds_fetch_done_fn done;
	void *userdata;
};

static void walk_free(struct chain_walk *w)
{
	if (!w)
		return;
	creds_fetch_cancel(w->fetch);
	free(w->notes);
	free(w);
}

static void walk_cancel(struct creds_fetch *f)
{
	walk_free((struct chain_walk *)f);
}

/* The message when nothing was found: every source tried and its note. */
static char *nothing_found(const struct chain_walk *w, const struct creds_provider *last, const char *last_note)
{
	char *msg = NULL;
	int r;

	if (w->single)
		r = asprintf(&msg, "no AWS credentials from %s (%s)", last->description,
			     last_note ? last_note : "nothing found");
	else
		r = asprintf(&msg, "no AWS credentials found (tried %s)", w->notes ? w->notes : "nothing");
	return r < 0 ? NULL : msg;
}

static int walk_step(struct chain_walk *w, struct aws_credentials **ret, char **ret_error);

static void walk_fetch_done(int r, struct aws_credentials *c, const char *error, void *userdata)
{
	struct chain_walk *w = userdata;
	const struct creds_provider *p = w->running;
	creds_fetch_done_fn done = w->done;
	void *ud = w->userdata;
	char *msg = NULL;

	w->fetch = NULL;
	if (r == 0) {
		walk_free(w);
		done(0, c, NULL, ud);
		return;
	}
	if (r == -ENOENT && !w->single && w->next < CHAIN_LEN) {
		/* Not there after all (e.g. no role attached): keep walking. */
		struct aws_credentials *found = NULL;

		add_note(&w->notes, p, error);
		r = walk_step(w, &found, &msg);
		if (r == -EINPROGRESS)
			return;
		walk_free(w);
		done(r, found, r == 0 ? NULL : msg ? msg : "out of memory", ud);
		free(msg);
		return;
	}
	if (r == -ENOENT || (!w->single && p == chain[CHAIN_LEN - 1])) {
		add_note(&w->notes, p, error);
		msg = nothing_found(w, p, error);
	} else {
		msg = prefixed(p, error, r);
	}
	walk_free(w);
	done(r == -ENOENT || r >= 0 ? -ENOENT : r, NULL, msg ? msg : "out of memory", ud);
	free(msg);
}

/* Tries providers from w->next on.  0 with *ret, -EINPROGRESS (a fetch
 * runs), or an error with *ret_error. */
static int walk_step(struct chain_walk *w, struct aws_credentials **ret, char **ret_error)
{
	size_t end = w->single ? w->next + 1 : CHAIN_LEN;

	while (w->next < end) {
		const struct creds_provider *p = chain[w->next++];
		char *note = NULL;
		int r;

		w->running = p;
		if (p->resolve)
			r = p->resolve(&w->ctx, ret, &note);
		else
			r = p->start(&w->ctx, walk_fetch_done, w, &w->fetch, &note);
		if (r == 0 && !p->resolve) {
			free(note);
			return -EINPROGRESS;
		}
		if (r == 0) {
			free(note);
			return 0;
		}
		if (r == -EINPROGRESS) {
			/* Looking only: say which source would be asked. */
			*ret_error = prefixed(p, note, r);
			free(note);
			return r;
		}
		if (r != -ENOENT) {
			*ret_error = prefixed(p, note, r);
			free(note);
			return r;
		}
		add_note(&w->notes, p, note);
		if (w->next == end) {
			*ret_error = nothing_found(w, p, note);
			free(note);
			return -ENOENT;
		}
		free(note);
	}
	return -ENOENT;
}

int creds_chain_start(const struct creds_context *ctx, const char *source, creds_fetch_done_fn done, void *userdata,
		      struct aws_credentials **ret, struct creds_fetch **ret_fetch, char **ret_error)
{
	struct aws_credentials *found = NULL;
	struct chain_walk *w;
	char *error = NULL;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->base.cancel = walk_cancel;
	w->ctx = *ctx;
	w->done = done;
	w->userdata = userdata;
	if (source) {
		const struct creds_provider *p = creds_provider_find(source);

		if (!p) {
			free(w);
			return errorf(ret_error, -EINVAL, "unknown credential source '%s' (known: %s)", source,
				      creds_provider_names());
		}
		w->single = true;
		while (chain[w->next] != p)
			w->next++;
	}
	r = walk_step(w, &found, &error);
	if (r == -EINPROGRESS && w->fetch) {
		*ret_fetch = &w->base;
		return r;
	}
	walk_free(w);
	if (r == 0)
		*ret = found;
	else
		*ret_error = error;
	return r;
}

static void never_called(int r, struct aws_credentials *c, const char *error, void *userdata)
{
	aws_credentials_unref(c);
}

static int resolve_sync(const char *source, const struct aws_settings *settings, aws_getenv_fn getenv_fn,
			struct aws_credentials **ret, char **ret_error)
{
	struct creds_context ctx = {.settings = settings, .getenv_fn = getenv_fn, .now = time(NULL)};
	struct creds_fetch *fetch = NULL;
	char *error = NULL;
	int r;

	r = creds_chain_start(&ctx, source, never_called, NULL, ret, &fetch, &error);
	creds_fetch_cancel(fetch); /* none without ctx.net; belt and braces */
	if (ret_error)
		*ret_error = error;
	else
		free(error);
	return r;
}

int creds_resolve_chain(const struct aws_settings *settings, aws_getenv_fn getenv_fn, struct aws_credentials **ret,
			char **ret_error)
{
	return resolve_sync(NULL, settings, getenv_fn, ret, ret_error);
}

int creds_resolve_source(const char *name, const struct aws_settings *settings, aws_getenv_fn getenv_fn,
			 struct aws_credentials **ret, char **ret_error)
{
	return resolve_sync(name, settings, getenv_fn, ret, ret_error);
}

static const char *json_member_string(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The first of the members a string of which has a NUL inside ("\u0000"):
 * read as a C string it would be silently cut short.  NULL if none. */
static const char *json_member_with_nul(struct json_object *o, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = json_member_string(o, names[i]);

		if (v && strlen(v) != (size_t)json_object_get_string_len(json_object_object_get(o, names[i])))
			return names[i];
	}
	return NULL;
}

int creds_from_json(struct json_object *o, const char *token_member, const char *source, struct aws_credentials **ret,
		    char **ret_error)
{
	const char *akid = json_member_string(o, "AccessKeyId"), *secret = json_member_string(o, "SecretAccessKey");
	const char *token = json_member_string(o, token_member), *exp = json_member_string(o, "Expiration");
	const char *account = json_member_string(o, "AccountId"), *missing = NULL, *bad;
	time_t expiration = 0;
	int r;

	if (!akid)
		missing = "AccessKeyId";
	else if (!secret)
		missing = "SecretAccessKey";
	else if (json_object_object_get_ex(o, "Expiration", NULL) && !exp)
		missing = "Expiration";
	if (missing)
		return errorf(ret_error, -EINVAL, "the answer has no string member %s", missing);
	{
		const char *names[] = {"AccessKeyId", "SecretAccessKey", token_member, "Expiration", "AccountId"};

		bad = json_member_with_nul(o, names, sizeof(names) / sizeof(names[0]));
		if (bad)
			return errorf(ret_error, -EINVAL, "malformed %s in the answer (a NUL inside)", bad);
	}
	if (exp && timeutil_parse_iso8601(exp, &expiration) < 0)
		return errorf(ret_error, -EINVAL, "Expiration '%.*s' is not an RFC 3339 time", TIMEUTIL_ISO8601_MAX,
			      exp);
	if (account && !creds_field_valid(CREDS_FIELD_ACCOUNT_ID, account))
		account = NULL; /* informational only: never worth failing for */
	bad = creds_check_fields(akid, secret, token, NULL);
	if (bad)
		return errorf(ret_error, -EINVAL, "malformed %s in the answer", bad);
	r = aws_credentials_new(akid, secret, token, expiration, source, account, ret);
	if (r < 0)
		errorf(ret_error, r, "%s", strerror(-r));
	return r;
}
