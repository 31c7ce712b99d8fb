/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds-role-chain.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws-ini.h"
#include "creds.h"
#include "errorf.h"
#include "log.h"
#include "sts.h"

/* --- the plan ------------------------------------------------------------------ */

/* credential_source values (botocore's CanonicalNameCredentialSourcer,
 * case-sensitive) and the providers that answer them. */
static const struct {
	const char *name, *provider;
} credential_sources[] = {
    {"Environment", "env"},
    {"Ec2InstanceMetadata", "imds"},
    {"EcsContainer", "container"},
};

static const char *get(const struct aws_ini *ini, const char *profile, const char *key)
{
	const char *v = aws_ini_get(ini, profile, key);

	return v && *v ? v : NULL;
}

/* botocore's _has_static_credentials: either half of a key pair. */
static bool has_static_keys(const struct aws_ini *ini, const char *profile)
{
	return get(ini, profile, "aws_access_key_id") || get(ini, profile, "aws_secret_access_key");
}

/* botocore's _has_assume_role_config_vars. */
static bool is_role_profile(const struct aws_ini *ini, const char *profile)
{
	return get(ini, profile, "role_arn") && !get(ini, profile, "web_identity_token_file");
}

void role_plan_done(struct role_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		struct role_hop *h = &plan->hops[i];

		free(h->profile);
		free(h->role_arn);
		free(h->session_name);
		if (h->external_id) {
			explicit_bzero(h->external_id, strlen(h->external_id));
			free(h->external_id);
		}
	}
	free(plan->base_profile);
	memset(plan, 0, sizeof(*plan));
}

/* "a -> b -> c" of the profiles visited so far, then last (or nothing):
 * for the messages about a chain.  Static buffer is enough for messages. */
static const char *chain_text(const struct role_plan *plan, const char *last, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < plan->n && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? " -> " : "", plan->hops[i].profile);
	if (last && n < size)
		snprintf(buf + n, size - n, "%s%s", plan->n ? " -> " : "", last);
	return buf;
}

static int duration_parse(const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	if (!s)
		return 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || v < ROLE_DURATION_MIN_SEC || v > ROLE_DURATION_MAX_SEC)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* The settings of one assume-role profile, checked. */
static int hop_read(const struct aws_ini *ini, const char *profile, struct role_hop *ret, char **ret_error)
{
	const char *arn = get(ini, profile, "role_arn"), *session = get(ini, profile, "role_session_name");
	const char *external = get(ini, profile, "external_id"), *duration = get(ini, profile, "duration_seconds");
	unsigned duration_sec = 0;

	if (get(ini, profile, "mfa_serial"))
		return errorf(ret_error, -EOPNOTSUPP,
			      "profile '%s' has mfa_serial: its role needs an MFA code typed at every refresh, "
			      "which no one can do for a daemon; use a role without an MFA condition",
			      profile);
	if (strncmp(arn, "arn:", 4) != 0 || strlen(arn) > ROLE_ARN_MAX)
		return errorf(ret_error, -EINVAL, "profile '%s': role_arn '%.200s' is not a role ARN", profile, arn);
	if (session && !sts_session_name_valid(session))
		return errorf(ret_error, -EINVAL,
			      "profile '%s': role_session_name '%.80s' is not 2 to 64 characters of letters, "
			      "digits and _+=,.@-",
			      profile, session);
	if (external && (strlen(external) < 2 || strlen(external) > ROLE_EXTERNAL_ID_MAX))
		return errorf(ret_error, -EINVAL, "profile '%s': external_id is not 2 to %d characters", profile,
			      ROLE_EXTERNAL_ID_MAX);
	if (duration_parse(duration, &duration_sec) < 0)
		return errorf(ret_error, -EINVAL,
			      "profile '%s': duration_seconds '%.32s' is not a number from %d to %d", profile, duration,
			      ROLE_DURATION_MIN_SEC, ROLE_DURATION_MAX_SEC);
	*ret = (struct role_hop){.duration_sec = duration_sec};
	if (!(ret->profile = strdup(profile)) || !(ret->role_arn = strdup(arn)) ||
	    (session && !(ret->session_name = strdup(session))) ||
	    (external && !(ret->external_id = strdup(external)))) {
		free(ret->profile);
		free(ret->role_arn);
		free(ret->session_name);
		free(ret->external_id);
		return -ENOMEM;
	}
	return 0;
}

static int use_credential_source(struct role_plan *plan, const char *profile, const char *value, char **ret_error)
{
	for (size_t i = 0; i < sizeof(credential_sources) / sizeof(credential_sources[0]); i++)
		if (strcmp(value, credential_sources[i].name) == 0) {
			plan->credential_source = credential_sources[i].name;
			plan->base_source = credential_sources[i].provider;
			return 0;
		}
	return errorf(ret_error, -EINVAL,
		      "the credential_source '%.64s' of profile '%s' is not valid (valid: Environment, "
		      "Ec2InstanceMetadata, EcsContainer)",
		      value, profile);
}

/* Whether a source profile has something its own providers could take
 * credentials from (botocore's profile providers, SSO aside). */
static bool has_profile_credentials(const struct aws_ini *ini, const char *profile)
{
	return has_static_keys(ini, profile) || get(ini, profile, "credential_process") ||
	       get(ini, profile, "web_identity_token_file");
}

/* Why a source profile cannot sign: nothing to take credentials from. */
static int source_unusable(const struct aws_ini *ini, const char *source, const char *chain, char **ret_error)
{
	if (get(ini, source, "sso_account_id") || get(ini, source, "sso_role_name") || get(ini, source, "sso_session"))
		return errorf(ret_error, -EOPNOTSUPP,
			      "the source profile '%s' (%s) gets its credentials from SSO, whose login someone must "
			      "renew in a browser; give it static keys or a credential_process, or use "
			      "credential_source",
			      source, chain);
	return errorf(ret_error, -EINVAL, "the source profile '%s' (%s) must have credentials", source, chain);
}

/* Whether profile was visited already (botocore's _visited_profiles). */
static bool visited(const struct role_plan *plan, const char *profile)
{
	for (size_t i = 0; i < plan->n; i++)
		if (strcmp(plan->hops[i].profile, profile) == 0)
			return true;
	return false;
}

/*
 * One step: reads plan->hops[plan->n] from profile, then decides where its
 * signature comes from.  Returns 1 when the chain goes on at *ret_next,
 * 0 when it ends here (base set), or a negative errno.
 */
static int plan_step(const struct aws_ini *ini, const char *profile, struct role_plan *plan, const char **ret_next,
		     char **ret_error)
{
	const char *src = get(ini, profile, "source_profile"), *cs = get(ini, profile, "credential_source");
	char chain[512];
	int r;

	if (plan->n == ROLE_CHAIN_MAX_HOPS)
		return errorf(ret_error, -ELOOP, "the role chain %s is longer than %d roles",
			      chain_text(plan, profile, chain, sizeof(chain)), ROLE_CHAIN_MAX_HOPS);
	if (src && cs)
		return errorf(ret_error, -EINVAL, "profile '%s' has both source_profile and credential_source",
			      profile);
	if (!src && !cs)
		return errorf(ret_error, -EINVAL,
			      "profile '%s' has role_arn but neither source_profile nor credential_source", profile);
	r = hop_read(ini, profile, &plan->hops[plan->n], ret_error);
	if (r < 0)
		return r;
	plan->n++;
	if (cs)
		return use_credential_source(plan, profile, cs, ret_error);
	if (!aws_ini_has_section(ini, AWS_INI_PROFILE, src))
		return errorf(ret_error, -EINVAL, "the source_profile '%.100s' of profile '%s' does not exist", src,
			      profile);
	if (visited(plan, src)) {
		/* Keys and role in one section: botocore allows naming oneself. */
		if (strcmp(src, profile) == 0 && has_static_keys(ini, src))
			goto own;
		return errorf(ret_error, -ELOOP, "the profiles %s form a cycle (source_profile)",
			      chain_text(plan, src, chain, sizeof(chain)));
	}
	/* botocore's _resolve_credentials_from_profile: static keys, or no
	 * role to assume, and the profile's own providers answer. */
	if (has_static_keys(ini, src) || !is_role_profile(ini, src)) {
		if (!has_profile_credentials(ini, src))
			return source_unusable(ini, src, chain_text(plan, src, chain, sizeof(chain)), ret_error);
		goto own;
	}
	*ret_next = src;
	return 1;
own:
	plan->base_profile = strdup(src);
	return plan->base_profile ? 0 : -ENOMEM;
}

int role_plan_build(const struct aws_ini *ini, const char *profile, struct role_plan *ret, char **ret_error)
{
	struct role_plan plan = {0};
	int r;

	if (!aws_ini_has_section(ini, AWS_INI_PROFILE, profile) || !is_role_profile(ini, profile))
		return errorf(ret_error, -ENOENT, "profile '%s' has no role_arn", profile);
	do
		r = plan_step(ini, profile, &plan, &profile, ret_error);
	while (r == 1);
	if (r < 0) {
		role_plan_done(&plan);
		return r;
	}
	*ret = plan;
	return 0;
}

char *role_plan_describe(const struct role_plan *plan)
{
	char chain[512], *s = NULL;
	size_t n = 0;

	chain[0] = '\0';
	for (size_t i = 1; i < plan->n && n < sizeof(chain); i++)
		n += (size_t)snprintf(chain + n, sizeof(chain) - n, " via %s", plan->hops[i].profile);
	if (asprintf(&s, "profile %s%s via %s", plan->n ? plan->hops[0].profile : "?", chain,
		     plan->base_profile ? plan->base_profile : plan->credential_source) < 0)
		return NULL;
	return s;
}

/* --- the fetch ----------------------------------------------------------------- */

/*
 * A chain being assumed: the base credentials first (static keys at once,
 * or the credential_source provider, maybe asynchronously), then one
 * AssumeRole per hop from the last to the first, each signed with the
 * credentials the one before gave.
 */
struct chain_fetch {
	struct creds_fetch base;
	struct role_plan plan;
	struct creds_context ctx; /* settings borrowed: they outlive the fetch (creds-cache.h) */
	/* The base credentials' context: ctx, or for a source profile ctx
	 * switched to it (profile_only, source_settings). */
	struct creds_context source_ctx;
	struct aws_settings source_settings; /* a shallow copy: its strings are ctx's */
	size_t source_step;                  /* base_profile: profile_providers[] asked so far */
	char *endpoint;
	char region[STS_REGION_MAX];
	long long now;
	size_t next;                /* hops[next - 1] is assumed next */
	struct creds_fetch *source; /* credential_source provider running */
	struct sts_call *call;
	creds_fetch_done_fn done;
	void *userdata;
};

static void chain_free(struct chain_fetch *f)
{
	if (!f)
		return;
	creds_fetch_cancel(f->source);
	sts_call_cancel(f->call);
	role_plan_done(&f->plan);
	free(f->endpoint);
	free(f);
}

static void chain_cancel(struct creds_fetch *base)
{
	chain_free((struct chain_fetch *)base);
}

static void chain_finish(struct chain_fetch *f, int r, struct aws_credentials *c, const char *error)
{
	creds_fetch_done_fn done = f->done;
	void *userdata = f->userdata;

	f->call = NULL;
	f->source = NULL;
	chain_free(f);
	done(r, c, error, userdata);
}

static int hop_start(struct chain_fetch *f, const struct aws_credentials *sign_with, char **ret_error);

static void hop_done(const struct sts_result *res, void *userdata)
{
	struct chain_fetch *f = userdata;
	const struct role_hop *h = &f->plan.hops[f->next];
	char *msg = NULL, *desc = NULL;
	int r;

	f->call = NULL;
	if (res->r < 0) {
		if (asprintf(&msg, "cannot assume %s (profile %s): %s", h->role_arn, h->profile, res->message) < 0)
			msg = NULL;
		chain_finish(f, res->r, NULL, msg ? msg : "out of memory");
		free(msg);
		return;
	}
	log_debug("assume-role: %s assumed for profile %s", h->role_arn, h->profile);
	if (f->next > 0) {
		r = hop_start(f, res->credentials, &msg);
		if (r < 0) {
			chain_finish(f, r, NULL, msg ? msg : strerror(-r));
			free(msg);
		}
		return;
	}
	desc = role_plan_describe(&f->plan);
	if (!desc || aws_credentials_set_source(res->credentials, "assume-role", desc) < 0) {
		free(desc);
		chain_finish(f, -ENOMEM, NULL, "out of memory");
		return;
	}
	free(desc);
	chain_finish(f, 0, aws_credentials_ref(res->credentials), NULL);
}

/* Sends the AssumeRole of hops[next - 1], signed with sign_with. */
static int hop_start(struct chain_fetch *f, const struct aws_credentials *sign_with, char **ret_error)
{
	const struct role_hop *h = &f->plan.hops[--f->next];
	char duration[16], session[STS_SESSION_NAME_MAX + 1];
	struct sts_param params[4] = {
	    {"RoleArn", h->role_arn},
	    {"RoleSessionName", session},
	};
	size_t n = 2;

	if (h->session_name)
		snprintf(session, sizeof(session), "%s", h->session_name);
	else
		snprintf(session, sizeof(session), "kmscanceld-%lld", f->now);
	if (h->external_id)
		params[n++] = (struct sts_param){"ExternalId", h->external_id};
	if (h->duration_sec) {
		snprintf(duration, sizeof(duration), "%u", h->duration_sec);
		params[n++] = (struct sts_param){"DurationSeconds", duration};
	}
	const struct sts_request req = {
	    .endpoint_url = f->endpoint,
	    .action = "AssumeRole",
	    .params = params,
	    .n_params = n,
	    .source = "assume-role",
	    .timeout_ms = CREDS_STS_TIMEOUT_MS,
	    .sign_with = sign_with,
	    .region = f->region,
	};
	log_debug("assume-role: assuming %s for profile %s", h->role_arn, h->profile);
	return sts_call_start(f->ctx.net, &req, hop_done, f, &f->call, ret_error);
}

/* botocore's providers for a source profile (its ProfileProviderBuilder,
 * with environment variables disabled), in its order: web identity, SSO
 * (refused, creds-sso.c), the shared credentials file and the config
 * file's keys ("shared" covers both, leaving the config file's to a
 * credential_process), credential_process. */
static const char *const profile_providers[] = {"web-identity", "sso", "shared", "process"};
#define N_PROFILE_PROVIDERS (sizeof(profile_providers) / sizeof(profile_providers[0]))

/* The error for base credentials that did not come: r and the provider's
 * note, named after the source profile or credential_source. */
static int base_error(const struct chain_fetch *f, int r, const char *note, char **ret_error)
{
	if (f->plan.base_profile)
		return errorf(ret_error, r == -ENOENT ? -EINVAL : r, "the source profile '%s': %s",
			      f->plan.base_profile, note ? note : strerror(-r));
	return errorf(ret_error, r == -ENOENT ? -EKEYEXPIRED : r,
		      "no credentials from the credential_source %s of profile %s: %s", f->plan.credential_source,
		      f->plan.hops[f->plan.n - 1].profile, note ? note : strerror(-r));
}

static void source_done(int r, struct aws_credentials *c, const char *error, void *userdata);

/*
 * Asks for the base credentials: the credential_source's provider, or the
 * source profile's providers in turn until one has credentials (a
 * provider with nothing configured there passes, as in botocore's
 * CredentialResolver; a configured one that fails ends the chain).
 * Returns 0 when the first hop was started or a provider will answer
 * through source_done(), else a negative errno with *ret_error.
 */
static int base_next(struct chain_fetch *f, char **ret_error)
{
	for (;;) {
		struct aws_credentials *c = NULL;
		const char *provider = f->plan.base_source;
		char *note = NULL;
		int r;

		if (f->plan.base_profile) {
			if (f->source_step == N_PROFILE_PROVIDERS)
				return errorf(ret_error, -EINVAL, "the source profile '%s' must have credentials",
					      f->plan.base_profile);
			provider = profile_providers[f->source_step++];
		}
		r = creds_chain_start(&f->source_ctx, provider, source_done, f, &c, &f->source, &note);
		if (r == -EINPROGRESS && f->source) {
			free(note);
			return 0;
		}
		if (r == 0) {
			free(note);
			r = hop_start(f, c, ret_error);
			aws_credentials_unref(c);
			return r;
		}
		if (r == -ENOENT && f->plan.base_profile) {
			free(note);
			continue;
		}
		r = base_error(f, r, note, ret_error);
		free(note);
		return r;
	}
}

static void source_done(int r, struct aws_credentials *c, const char *error, void *userdata)
{
	struct chain_fetch *f = userdata;
	char *msg = NULL;

	f->source = NULL;
	if (r >= 0)
		r = hop_start(f, c, &msg);
	else if (r == -ENOENT && f->plan.base_profile)
		r = base_next(f, &msg);
	else if (f->plan.base_profile)
		r = base_error(f, r, error, &msg);
	else if (asprintf(&msg, "no credentials from the credential_source %s of profile %s: %s",
			  f->plan.credential_source, f->plan.hops[f->plan.n - 1].profile, error) < 0)
		msg = NULL;
	aws_credentials_unref(c);
	if (r < 0)
		chain_finish(f, r, NULL, msg ? msg : strerror(-r));
	free(msg);
}

static int assume_role_start(const struct creds_context *ctx, creds_fetch_done_fn done, void *userdata,
			     struct creds_fetch **ret_fetch, char **ret_error)
{
	struct chain_fetch *f = calloc(1, sizeof(*f));
	char *desc = NULL;
	int r;

	if (!f)
		return -ENOMEM;
	f->base.cancel = chain_cancel;
	f->ctx = *ctx;
	f->done = done;
	f->userdata = userdata;
	f->now = (long long)ctx->now;
	r = role_plan_build(creds_context_ini(ctx), ctx->settings->profile, &f->plan, ret_error);
	if (r < 0)
		goto fail;
	r = sts_endpoint_url(ctx->settings, &f->endpoint);
	if (r < 0) {
		r = errorf(ret_error, r, "no STS endpoint: %s", sts_endpoint_error(ctx->settings, r));
		goto fail;
	}
	sts_signing_region(f->endpoint, ctx->settings->region, f->region);
	if (!ctx->net) {
		desc = role_plan_describe(&f->plan);
		r = errorf(ret_error, -EINPROGRESS, "would assume %s (%s) at %s", f->plan.hops[0].role_arn,
			   desc ? desc : "?", f->endpoint);
		free(desc);
		goto fail;
	}
	f->next = f->plan.n;
	f->source_ctx = *ctx;
	if (f->plan.base_profile) {
		f->source_settings = *ctx->settings;
		f->source_settings.profile = f->plan.base_profile;
		f->source_settings.profile_explicit = true;
		f->source_ctx.settings = &f->source_settings;
		f->source_ctx.profile_only = true;
	}
	r = base_next(f, ret_error);
	if (r < 0)
		goto fail;
	*ret_fetch = &f->base;
	return 0;
fail:
	chain_free(f);
	return r;
}

const struct creds_provider creds_provider_assume_role = {
    .name = "assume-role",
    .description = "assume-role profile (STS AssumeRole)",
    .start = assume_role_start,
};
