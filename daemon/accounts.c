/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "accounts-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws-settings.h"
#include "conf.h"
#include "creds-net.h"
#include "creds.h"
#include "log.h"
#include "sts.h"

static const char *const source_names[_ACCOUNT_SOURCE_MAX] = {
    [ACCOUNT_SOURCE_DEFAULT] = "default",
    [ACCOUNT_SOURCE_PROFILE] = "profile",
    [ACCOUNT_SOURCE_ROLE] = "role",
};

const char *account_source_to_string(enum account_source s)
{
	return s < _ACCOUNT_SOURCE_MAX ? source_names[s] : "unknown";
}

/* --- the accounts ------------------------------------------------------------ */

static struct account *account_free(struct account *acct)
{
	if (!acct)
		return NULL;
	creds_cache_free(acct->cache);
	if (acct->settings) {
		aws_settings_done(acct->settings);
		free(acct->settings);
	}
	free(acct->profile);
	free(acct->role_arn);
	if (acct->external_id) {
		explicit_bzero(acct->external_id, strlen(acct->external_id));
		free(acct->external_id);
	}
	free(acct->region);
	free(acct->label);
	free(acct);
	return NULL;
}

/* A Profile= account's settings: the AWS settings as the daemon's, but
 * through accounts_profile_getenv() and with the section's profile. */
static int profile_settings(const struct accounts_options *o, const struct config_account *ca,
			    struct aws_settings **ret, char **ret_error)
{
	struct aws_settings *s = calloc(1, sizeof(*s));
	char *why = NULL;
	int r;

	if (!s)
		return -ENOMEM;
	r = aws_settings_load(accounts_profile_getenv, s, &why);
	if (r >= 0) {
		r = config_apply_to_aws_settings(o->config, s, &why);
		if (r >= 0)
			r = aws_settings_use_profile(s, ca->profile, &why);
		if (r >= 0 && ca->region)
			r = aws_settings_set_string(&s->region, ca->region);
		if (r < 0)
			aws_settings_done(s);
	}
	if (r < 0) {
		free(s);
		if (asprintf(ret_error, "%s:%u: [Account %s] Profile=%s: %s", ca->file, ca->line, ca->id, ca->profile,
			     why ? why : strerror(-r)) < 0)
			*ret_error = NULL;
		free(why);
		return r;
	}
	*ret = s;
	return 0;
}

static void cache_options(struct accounts *a, struct account *acct, struct creds_cache_options *ret)
{
	*ret = (struct creds_cache_options){
	    .name = acct->label,
	    .base = a->o.base,
	    .dns = a->o.dns,
	    .settings = acct->settings ? acct->settings : a->o.settings,
	    .process_timeout_ms = a->o.process_timeout_ms,
	};
	if (acct->source == ACCOUNT_SOURCE_ROLE) {
		ret->fetch = role_fetch_start;
		ret->fetch_userdata = acct;
	}
}

/* The account for section ca, without its cache. */
static int account_new(struct accounts *a, const struct accounts_options *o, const struct config_account *ca,
		       struct account **ret, char **ret_error)
{
	struct account *acct = calloc(1, sizeof(*acct));
	int r = -ENOMEM;

	if (!acct)
		return -ENOMEM;
	acct->owner = a;
	memcpy(acct->id, ca->id, sizeof(acct->id));
	acct->source = ca->role_arn ? ACCOUNT_SOURCE_ROLE : ACCOUNT_SOURCE_PROFILE;
	acct->duration_sec = ca->duration_sec;
	if ((ca->profile && !(acct->profile = strdup(ca->profile))) ||
	    (ca->role_arn && !(acct->role_arn = strdup(ca->role_arn))) ||
	    (ca->external_id && !(acct->external_id = strdup(ca->external_id))) ||
	    (ca->region && !(acct->region = strdup(ca->region))))
		goto fail;
	if (asprintf(&acct->label, "account %s, %s %s", ca->id, acct->profile ? "profile" : "role",
		     acct->profile ? acct->profile : acct->role_arn) < 0) {
		acct->label = NULL;
		goto fail;
	}
	if (acct->source == ACCOUNT_SOURCE_PROFILE) {
		r = profile_settings(o, ca, &acct->settings, ret_error);
		if (r < 0)
			goto fail;
	}
	*ret = acct;
	return 0;
fail:
	account_free(acct);
	return r;
}

struct account *account_find(const struct accounts *a, const char *id)
{
	for (size_t i = 0; id && i < a->n; i++)
		if (strcmp(a->list[i]->id, id) == 0)
			return a->list[i];
	return NULL;
}

/* The accounts of o->config into *ret_list (caches not made yet); reused
 * from old where the ID is the same. */
static int build_list(struct accounts *a, const struct accounts_options *o, struct account ***ret_list,
		      size_t *ret_n, char **ret_error)
{
	struct account **list = calloc(o->config->n_accounts + 1, sizeof(*list));
	size_t n = 0;
	int r = 0;

	if (!list)
		return -ENOMEM;
	for (; n < o->config->n_accounts; n++) {
		r = account_new(a, o, &o->config->accounts[n], &list[n], ret_error);
		if (r < 0)
			break;
	}
	if (r < 0) {
		while (n > 0)
			account_free(list[--n]);
		free(list);
		return r;
	}
	*ret_list = list;
	*ret_n = n;
	return 0;
}

static int options_take(struct accounts *a, const struct accounts_options *o)
{
	char host[256] = "", *file = strdup(o->config->file ? o->config->file : "the configuration");

	if (!file)
		return -ENOMEM;
	free(a->config_file);
	a->config_file = file;
	a->o = *o;
	a->o.config = NULL;
	a->o.hostname = NULL;
	a->sts_timeout_ms = o->config->sts_timeout_ms ? o->config->sts_timeout_ms : CREDS_STS_TIMEOUT_MS;
	if (o->hostname)
		snprintf(host, sizeof(host), "%s", o->hostname);
	else if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "localhost");
	accounts_session_name(host, a->session_name);
	snprintf(a->configured, sizeof(a->configured), "%s", o->config->account ? o->config->account : "");
	return 0;
}

int accounts_new(const struct accounts_options *o, struct accounts **ret, char **ret_error)
{
	struct accounts *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	a->waiters_tail = &a->waiters;
	r = options_take(a, o);
	if (r < 0)
		goto fail;
	r = creds_net_new(o->base, o->dns, o->settings->ca_bundle, &a->net);
	if (r < 0)
		goto fail;
	r = build_list(a, o, &a->list, &a->n, ret_error);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < a->n; i++) {
		struct creds_cache_options co;

		cache_options(a, a->list[i], &co);
		r = creds_cache_new(&co, &a->list[i]->cache);
		if (r < 0)
			goto fail;
	}
	identity_start(a);
	*ret = a;
	return 0;
fail:
	accounts_free(a);
	return r;
}

struct accounts *accounts_free(struct accounts *a)
{
	if (!a)
		return NULL;
	identity_stop(a);
	while (a->waiters) {
		a->identity = IDENTITY_FAILED;
		free(a->identity_error);
		a->identity_error = strdup("kmscanceld is shutting down");
		serve_waiters(a);
	}
	for (size_t i = 0; i < a->n; i++)
		account_free(a->list[i]);
	free(a->list);
	creds_net_free(a->net);
	free(a->identity_error);
	free(a->config_file);
	free(a);
	return NULL;
}

/* Whether section ca describes acct as it is (a reload keeps it then). */
static bool account_same(const struct account *acct, const struct config_account *ca)
{
#define SAME(x, y) ((!(x) && !(y)) || ((x) && (y) && strcmp((x), (y)) == 0))
	return SAME(acct->profile, ca->profile) && SAME(acct->role_arn, ca->role_arn) &&
	       SAME(acct->external_id, ca->external_id) && SAME(acct->region, ca->region) &&
	       acct->duration_sec == ca->duration_sec;
#undef SAME
}

int accounts_reload(struct accounts *a, const struct accounts_options *o)
{
	struct account **list = NULL, **old = a->list;
	struct creds_net *net = NULL, *old_net = a->net;
	size_t n = 0, old_n = a->n;
	char *error = NULL;
	int r;

	r = creds_net_new(o->base, o->dns, o->settings->ca_bundle, &net);
	if (r < 0)
		return r;
	r = build_list(a, o, &list, &n, &error);
	if (r >= 0)
		r = options_take(a, o);
	if (r < 0) {
		log_warning("accounts: reload failed, keeping the accounts as they were: %s",
			    error ? error : strerror(-r));
		free(error);
		for (size_t i = 0; i < n; i++)
			account_free(list[i]);
		free(list);
		creds_net_free(net);
		return r;
	}
	a->net = net;
	identity_stop(a);
	if (a->identity != IDENTITY_FAILED)
		identity_set_state(a, IDENTITY_UNKNOWN);
	/* Keep the caches of accounts that stay: their current set serves
	 * until the new one arrives. */
	for (size_t i = 0; i < n; i++) {
		struct account *prev = account_find(a, list[i]->id);
		struct creds_cache_options co;

		if (prev && prev->cache) {
			list[i]->cache = prev->cache;
			prev->cache = NULL;
			cache_options(a, list[i], &co);
			if (creds_cache_reload(list[i]->cache, &co) < 0)
				log_warning("accounts: cannot reload the credentials of account %s", list[i]->id);
			if (!account_same(prev, &o->config->accounts[i]))
				log_info("accounts: [Account %s] changed", list[i]->id);
		} else {
			cache_options(a, list[i], &co);
			if (creds_cache_new(&co, &list[i]->cache) < 0)
				log_warning("accounts: cannot make a credential cache for account %s", list[i]->id);
			else
				log_info("accounts: [Account %s] added", list[i]->id);
		}
	}
	a->list = list;
	a->n = n;
	for (size_t i = 0; i < old_n; i++) {
		if (old[i]->cache) {
			char why[512];

			log_info("accounts: [Account %s] removed", old[i]->id);
			snprintf(
			    why, sizeof(why),
			    "the [Account %s] section went away with a reload of %s: its credentials are no longer "
			    "used, and no other ones are",
			    old[i]->id, a->config_file);
			old[i]->cache = creds_cache_close(old[i]->cache, why);
		}
		account_free(old[i]);
	}
	free(old);
	creds_net_free(old_net);
	identity_start(a);
	return 0;
}

enum accounts_identity_state accounts_identity_state(const struct accounts *a)
{
	return a->configured[0] ? IDENTITY_KNOWN : a->identity;
}

const char *accounts_identity_error(const struct accounts *a)
{
	return a->identity == IDENTITY_FAILED ? a->identity_error : NULL;
}

int accounts_get_status(struct accounts *a, size_t index, struct account_status *ret)
{
	struct account *acct;

	if (index > a->n)
		return -ENOENT;
	if (index == 0) {
		*ret = (struct account_status){
		    .source = ACCOUNT_SOURCE_DEFAULT,
		    .account = accounts_default_account(a),
		};
		creds_cache_get_status(a->o.default_creds, &ret->creds);
		return 0;
	}
	acct = a->list[index - 1];
	*ret = (struct account_status){
	    .source = acct->source,
	    .account = acct->id,
	    .profile = acct->profile,
	    .role_arn = acct->role_arn,
	    .region = acct->region,
	    .external_id = acct->external_id != NULL,
	};
	if (acct->cache)
		creds_cache_get_status(acct->cache, &ret->creds);
	else
		ret->creds = (struct creds_cache_status){.state = CREDS_CACHE_FAILED, .last_error = "no cache"};
	return 0;
}

int accounts_check_config(const struct daemon_config *c, const struct aws_settings *s, FILE *out)
{
	struct accounts_options o = {.config = c, .settings = s};
	int ret = 0;

	if (c->account)
		fprintf(out, "account:     %s: the default credentials ([AWS] Account=)\n", c->account);
	else
		fprintf(out, "account:     the default credentials' own: from the credentials, else STS "
			     "GetCallerIdentity when the daemon runs\n");
	for (size_t i = 0; i < c->n_accounts; i++) {
		const struct config_account *ca = &c->accounts[i];
		const char *region = ca->region ? ca->region : s->region;
		struct aws_settings *ps = NULL, where = *s;
		struct aws_credentials *cr = NULL;
		char *error = NULL, *url = NULL, duration[48] = "";
		int r;

		if (ca->role_arn) {
			if (ca->duration_sec)
				snprintf(duration, sizeof(duration), ", sessions of %u s", ca->duration_sec);
			where.region = ca->region ? ca->region : s->region;
			if (sts_endpoint_url(&where, &url) < 0)
				url = NULL;
			fprintf(out, "account:     %s: role %s, assumed with the default credentials at %s%s%s; "
				     "region %s\n",
				ca->id, ca->role_arn, url ? url : "(no STS endpoint: bad region)",
				ca->external_id ? ", with an external ID" : "", duration,
				region ? region : "(the default: none)");
			free(url);
			continue;
		}
		r = profile_settings(&o, ca, &ps, &error);
		if (r >= 0)
			r = creds_resolve_chain(ps, accounts_profile_getenv, &cr, &error);
		if (r == 0) {
			size_t n = strlen(cr->access_key_id);

			fprintf(out, "account:     %s: profile %s: %s (access key ...%s); region %s\n", ca->id,
				ca->profile, cr->source, n >= 4 ? cr->access_key_id + n - 4 : "",
				region ? region : "(the default: none)");
		} else if (r == -EINPROGRESS) {
			fprintf(out, "account:     %s: profile %s: %s (fetched when the daemon runs)\n", ca->id,
				ca->profile, error ? error : "from the network");
		} else {
			fprintf(out, "account:     %s: profile %s: unavailable: %s\n", ca->id, ca->profile,
				error ? error : strerror(-r));
			if (!ps)
				ret = r;
		}
		aws_credentials_unref(cr);
		free(error);
		if (ps) {
			aws_settings_done(ps);
			free(ps);
		}
	}
	return ret;
}
