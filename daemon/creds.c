/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCOUNT_ID_LEN 12

/* The default chain, in order.  CredentialSource= names one of these. */
static const struct creds_provider *const chain[] = {
    &creds_provider_env,
    &creds_provider_systemd,
    &creds_provider_shared,
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

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void credentials_free(struct aws_credentials *c)
{
	free_secret(c->access_key_id);
	free_secret(c->secret_access_key);
	free_secret(c->session_token);
	free(c->account_id);
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
	c->access_key_id = strdup(access_key_id);
	c->secret_access_key = strdup(secret_access_key);
	if (!c->access_key_id || !c->secret_access_key || dup_optional(session_token, &c->session_token) < 0 ||
	    dup_optional(account_id, &c->account_id) < 0) {
		credentials_free(c);
		return -ENOMEM;
	}
	*ret = c;
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
	return "env systemd shared";
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

/*
 * Runs one provider.  *ret_msg (malloc'ed, may be NULL) is the provider's
 * note for -ENOENT; for any other error its message prefixed with the
 * provider's description ("environment variables: …"), so the operator
 * knows which source is broken; NULL on success.
 */
static int resolve_with(const struct creds_provider *p, const struct creds_context *ctx, struct aws_credentials **ret,
			char **ret_msg)
{
	char *msg = NULL, *full = NULL;
	int r;

	r = p->resolve(ctx, ret, &msg);
	if (r < 0 && r != -ENOENT) {
		if (asprintf(&full, "%s: %s", p->description, msg ? msg : strerror(-r)) < 0)
			full = NULL;
		free(msg);
		msg = full;
	} else if (r == 0) {
		free(msg);
		msg = NULL;
	}
	*ret_msg = msg;
	return r;
}

int creds_resolve_chain(const struct aws_settings *settings, aws_getenv_fn getenv_fn, struct aws_credentials **ret,
			char **ret_error)
{
	struct creds_context ctx = {.settings = settings, .getenv_fn = getenv_fn, .now = time(NULL)};
	char *notes = NULL, *msg = NULL;
	int r = -ENOENT;

	for (size_t i = 0; i < CHAIN_LEN; i++) {
		r = resolve_with(chain[i], &ctx, ret, &msg);
		if (r != -ENOENT)
			break;
		add_note(&notes, chain[i], msg);
		free(msg);
		msg = NULL;
	}
	if (r == -ENOENT && ret_error) {
		if (asprintf(ret_error, "no AWS credentials found (tried %s)", notes ? notes : "nothing") < 0)
			*ret_error = NULL;
	} else if (r < 0 && ret_error) {
		*ret_error = msg;
		msg = NULL;
	}
	free(msg);
	free(notes);
	return r;
}

int creds_resolve_source(const char *name, const struct aws_settings *settings, aws_getenv_fn getenv_fn,
			 struct aws_credentials **ret, char **ret_error)
{
	struct creds_context ctx = {.settings = settings, .getenv_fn = getenv_fn, .now = time(NULL)};
	const struct creds_provider *p = creds_provider_find(name);
	char *msg = NULL;
	int r;

	if (!p) {
		if (ret_error &&
		    asprintf(ret_error, "unknown credential source '%s' (known: %s)", name, creds_provider_names()) < 0)
			*ret_error = NULL;
		return -EINVAL;
	}
	r = resolve_with(p, &ctx, ret, &msg);
	if (r == -ENOENT && ret_error) {
		if (asprintf(ret_error, "no AWS credentials from %s (%s)", p->description,
			     msg ? msg : "nothing found") < 0)
			*ret_error = NULL;
	} else if (r < 0 && ret_error) {
		*ret_error = msg;
		msg = NULL;
	}
	free(msg);
	return r;
}
