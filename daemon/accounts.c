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
#include "errorf.h"
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

/* What the configuration says of acct (not its identity, references or
 * cache). */
static void account_config_free(struct account *acct)
{
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
}

struct account *account_ref(struct account *acct)
{
	acct->n_ref++;
	return acct;
}

struct account *account_unref(struct account *acct)
{
	if (!acct || --acct->n_ref > 0)
		return NULL;
	creds_cache_free(acct->cache);
	account_config_free(acct);
	free(acct->gone);
	free(acct);
	return NULL;
}

/* The table lets acct go: its cache closes (waiting requests get
 * cache_why, or "shutting down" when NULL), later requests through a
 * call's reference get gone, and the table's reference is dropped. */
static void account_drop(struct account *acct, const char *cache_why, const char *gone)
{
	if (!acct)
		return;
	acct->cache = cache_why ? creds_cache_close(acct->cache, cache_why) : creds_cache_free(acct->cache);
	free(acct->gone);
	acct->gone = strdup(gone);
	if (!acct->gone)
		acct->gone = strdup("out of memory"); /* freed with acct either way */
	acct->owner = NULL;
	account_unref(acct);
}

/* A reload keeps acct (and every call's reference to it) with fresh's
 * configuration; fresh gets acct's old one, to be freed once acct's cache
 * uses the new. */
static void account_swap_config(struct account *acct, struct account *fresh)
{
#define SWAP(f)                                                                                                        \
	do {                                                                                                           \
		__typeof__(acct->f) t = acct->f;                                                                       \
		acct->f = fresh->f;                                                                                    \
		fresh->f = t;                                                                                          \
	} while (0)
	SWAP(source);
	SWAP(profile);
	SWAP(role_arn);
	SWAP(external_id);
	SWAP(region);
	SWAP(duration_sec);
	SWAP(label);
	SWAP(settings);
#undef SWAP
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
		r = errorf(ret_error, r, "%s:%u: [Account %s] Profile=%s: %s", ca->file, ca->line, ca->id, ca->profile,
			   why ? why : strerror(-r));
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
	acct->n_ref = 1;
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
	account_unref(acct);
	return r;
}

static void default_cache_options(const struct accounts_options *o, struct creds_cache_options *ret)
{
	*ret = (struct creds_cache_options){
	    .name = "default",
	    .base = o->base,
	    .dns = o->dns,
	    .settings = o->settings,
	    .source = o->config->credential_source,
	    .process_timeout_ms = o->config->credential_process_timeout_ms,
	};
}

/* The default credentials: the environment, the chain or CredentialSource=,
 * fetching at once. */
static int default_account_new(struct accounts *a, const struct accounts_options *o)
{
	struct account *acct = calloc(1, sizeof(*acct));
	struct creds_cache_options co;
	int r;

	if (!acct || !(acct->label = strdup("default"))) {
		free(acct);
		return -ENOMEM;
	}
	acct->n_ref = 1;
	acct->owner = a;
	acct->source = ACCOUNT_SOURCE_DEFAULT;
	default_cache_options(o, &co);
	r = creds_cache_new(&co, &acct->cache);
	if (r < 0) {
		account_unref(acct);
		return r;
	}
	a->default_acct = acct;
	return 0;
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
			account_unref(list[--n]);
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
	r = creds_net_new(o->base, o->dns, o->settings, &a->net);
	if (r < 0)
		goto fail;
	/* Before the sections: AssumeRole uses the default credentials. */
	r = default_account_new(a, o);
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
	/* The sections first: their AssumeRole fetches use the default
	 * credentials. */
	for (size_t i = 0; i < a->n; i++)
		account_drop(a->list[i], NULL, "kmscanceld is shutting down");
	free(a->list);
	account_drop(a->default_acct, NULL, "kmscanceld is shutting down");
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

static bool account_listed(struct account *const *list, size_t n, const struct account *acct)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == acct)
			return true;
	return false;
}

/* The new section list[i] of o: an account that stays keeps its struct
 * (calls hold references to it) and its cache, with the new
 * configuration; a new one gets a cache.  Returns what list[i] is now. */
static struct account *account_reload(struct accounts *a, const struct accounts_options *o, struct account *fresh,
				      size_t i)
{
	struct account *prev = account_find(a, fresh->id);
	struct creds_cache_options co;

	if (!prev) {
		cache_options(a, fresh, &co);
		if (creds_cache_new(&co, &fresh->cache) < 0)
			log_warning("accounts: cannot make a credential cache for account %s", fresh->id);
		else
			log_info("accounts: [Account %s] added", fresh->id);
		return fresh;
	}
	if (!account_same(prev, &o->config->accounts[i]))
		log_info("accounts: [Account %s] changed", prev->id);
	account_swap_config(prev, fresh);
	cache_options(a, prev, &co);
	/* The current set serves until the new one arrives. */
	if (prev->cache ? creds_cache_reload(prev->cache, &co) < 0 : creds_cache_new(&co, &prev->cache) < 0)
		log_warning("accounts: cannot reload the credentials of account %s", prev->id);
	account_unref(fresh); /* the old configuration, now the cache uses the new */
	return prev;
}

int accounts_reload(struct accounts *a, const struct accounts_options *o)
{
	struct account **list = NULL, **old = a->list;
	struct creds_net *net = NULL, *old_net = a->net;
	struct creds_cache_options dco;
	size_t n = 0, old_n = a->n;
	char *error = NULL;
	int r;

	default_cache_options(o, &dco);
	r = creds_cache_reload(a->default_acct->cache, &dco);
	if (r < 0)
		return r;
	r = creds_net_new(o->base, o->dns, o->settings, &net);
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
			account_unref(list[i]);
		free(list);
		creds_net_free(net);
		return r;
	}
	a->net = net;
	identity_stop(a);
	if (a->identity != IDENTITY_FAILED)
		identity_set_state(a, IDENTITY_UNKNOWN);
	for (size_t i = 0; i < n; i++)
		list[i] = account_reload(a, o, list[i], i);
	a->list = list;
	a->n = n;
	for (size_t i = 0; i < old_n; i++) {
		char why[512], gone[512];

		if (account_listed(list, n, old[i]))
			continue;
		log_info("accounts: [Account %s] removed", old[i]->id);
		snprintf(why, sizeof(why),
			 "the [Account %s] section went away with a reload of %s: its credentials are no longer "
			 "used, and no other ones are",
			 old[i]->id, a->config_file);
		snprintf(gone, sizeof(gone),
			 "the [Account %s] section went away with a reload of %s: the call does not fall back to "
			 "other credentials",
			 old[i]->id, a->config_file);
		account_drop(old[i], why, gone);
	}
	free(old);
	creds_net_free(old_net);
	identity_start(a);
	/* Calls waiting for the lookup identity_stop() dropped: answered now
	 * when no new one runs (Account= configured by the reload). */
	if (a->identity != IDENTITY_ASKING)
		serve_waiters(a);
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
		creds_cache_get_status(a->default_acct->cache, &ret->creds);
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
