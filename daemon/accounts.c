/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "accounts.h"

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

static const char *const identity_names[_IDENTITY_STATE_MAX] = {
    [IDENTITY_UNKNOWN] = "unknown",
    [IDENTITY_ASKING] = "asking",
    [IDENTITY_KNOWN] = "known",
    [IDENTITY_FAILED] = "failed",
};

const char *accounts_identity_state_to_string(enum accounts_identity_state s)
{
	return s < _IDENTITY_STATE_MAX ? identity_names[s] : "unknown";
}

/* One [Account N] section and its credentials. */
struct account {
	struct accounts *owner;
	enum account_source source;
	char id[13];
	char *profile, *role_arn, *external_id, *region;
	unsigned duration_sec;
	char *label;
	struct aws_settings *settings; /* Profile=: the profile's own settings */
	struct creds_cache *cache;
};

/* A request waiting to learn the default account. */
struct accounts_wait {
	struct accounts_wait *next;
	char account[13];
	accounts_route_fn done;
	void *userdata;
};

/* creds_cache_get() on the default credentials cannot be withdrawn: the
 * object it calls back outlives a cancel and is freed by that callback. */
struct identity_get {
	struct accounts *a; /* NULL once cancelled */
};

struct accounts {
	struct accounts_options o; /* config and hostname are not kept */
	char session_name[ACCOUNTS_SESSION_NAME_MAX + 1];
	char *config_file;         /* for messages */
	unsigned sts_timeout_ms;
	struct account **list;
	size_t n;
	struct creds_net *net; /* STS calls: GetCallerIdentity, AssumeRole */

	/* The default credentials' account. */
	char configured[13]; /* [AWS] Account=, "" when not set */
	enum accounts_identity_state identity;
	char learned[13];
	char *identity_error;
	struct timespec identity_failed_at; /* CLOCK_MONOTONIC */
	struct identity_get *identity_get;  /* waiting for the default credentials */
	struct sts_call *identity_call;     /* GetCallerIdentity in flight */
	struct accounts_wait *waiters, **waiters_tail;
};

static void identity_set_state(struct accounts *a, enum accounts_identity_state s)
{
	if (a->identity != s)
		log_debug("accounts: default account %s -> %s", identity_names[a->identity], identity_names[s]);
	a->identity = s;
}

/* --- the environment a Profile= account sees ---------------------------------- */

const char *accounts_profile_getenv(const char *name)
{
	static const char *const hidden[] = {
	    "AWS_ACCESS_KEY_ID",
	    "AWS_SECRET_ACCESS_KEY",
	    "AWS_SESSION_TOKEN",
	    "AWS_SECURITY_TOKEN",
	    "AWS_CREDENTIAL_EXPIRATION",
	    "AWS_ACCOUNT_ID",
	    "AWS_WEB_IDENTITY_TOKEN_FILE",
	    "AWS_ROLE_ARN",
	    "AWS_ROLE_SESSION_NAME",
	    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	    "CREDENTIALS_DIRECTORY",
	    "AWS_PROFILE",
	    "AWS_DEFAULT_PROFILE",
	};

	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (strcmp(name, hidden[i]) == 0)
			return NULL;
	/* The instance's role is the default credentials' business. */
	if (strcmp(name, "AWS_EC2_METADATA_DISABLED") == 0)
		return "true";
	return getenv(name);
}

void accounts_session_name(const char *hostname, char *ret)
{
	size_t n = (size_t)snprintf(ret, ACCOUNTS_SESSION_NAME_MAX + 1, "kmscanceld@%s", hostname ? hostname : "");

	if (n > ACCOUNTS_SESSION_NAME_MAX)
		n = ACCOUNTS_SESSION_NAME_MAX;
	for (size_t i = 0; i < n; i++) {
		char c = ret[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("_+=,.@-", c)))
			ret[i] = '-';
	}
	ret[n] = '\0';
}

/* --- AssumeRole: the fetch of a RoleArn= account's cache ------------------------ */

struct role_fetch {
	struct creds_fetch base;
	struct account *acct; /* NULL once cancelled while waiting */
	bool waiting;         /* for the default credentials */
	bool starting;        /* inside role_fetch_start() */
	int sync_r;           /* a failure while starting */
	char *sync_error;
	struct sts_call *call;
	creds_fetch_done_fn done;
	void *userdata;
};

static void role_fetch_free(struct role_fetch *f)
{
	sts_call_cancel(f->call);
	free(f->sync_error);
	free(f);
}

static void role_fetch_cancel(struct creds_fetch *base)
{
	struct role_fetch *f = (struct role_fetch *)base;

	if (f->waiting) {
		f->acct = NULL; /* role_source_ready() frees it */
		return;
	}
	role_fetch_free(f);
}

/* The end of a fetch: to the cache, or kept for role_fetch_start() to
 * return when it has not returned yet. */
static void role_finish(struct role_fetch *f, int r, struct aws_credentials *c, const char *error)
{
	creds_fetch_done_fn done = f->done;
	void *userdata = f->userdata;

	if (f->starting) {
		f->sync_r = r < 0 ? r : -EIO;
		f->sync_error = strdup(error ? error : "unknown error");
		aws_credentials_unref(c);
		return;
	}
	f->call = NULL;
	role_fetch_free(f);
	done(r, c, error, userdata);
}

static void role_sts_done(const struct sts_result *res, void *userdata)
{
	struct role_fetch *f = userdata;
	struct account *acct = f->acct;
	char msg[768];

	f->call = NULL;
	if (res->r < 0) {
		snprintf(msg, sizeof(msg), "cannot assume %s for account %s: %s", acct->role_arn, acct->id,
			 res->message);
		role_finish(f, res->r, NULL, msg);
		return;
	}
	if (res->credentials->account_id && strcmp(res->credentials->account_id, acct->id) != 0) {
		snprintf(msg, sizeof(msg), "STS AssumeRole of %s gave credentials of account %s, not %s: not used",
			 acct->role_arn, res->credentials->account_id, acct->id);
		role_finish(f, -EINVAL, NULL, msg);
		return;
	}
	role_finish(f, 0, aws_credentials_ref(res->credentials), NULL);
}

/* Sends AssumeRole signed with the default credentials c. */
static int role_call_start(struct role_fetch *f, const struct aws_credentials *c, char **ret_error)
{
	struct account *acct = f->acct;
	struct accounts *a = acct->owner;
	struct aws_settings where = *a->o.settings;
	char duration[16], region[STS_REGION_MAX], *url = NULL;
	struct sts_param params[4] = {
	    {"RoleArn", acct->role_arn},
	    {"RoleSessionName", a->session_name},
	};
	size_t n = 2;
	int r;

	if (acct->region)
		where.region = acct->region;
	r = sts_endpoint_url(&where, &url);
	if (r < 0)
		return asprintf(ret_error, "no STS endpoint for account %s: %s", acct->id,
				r == -EINVAL ? "bad region" : strerror(-r)) < 0
			   ? -ENOMEM
			   : r;
	if (acct->external_id)
		params[n++] = (struct sts_param){"ExternalId", acct->external_id};
	if (acct->duration_sec) {
		snprintf(duration, sizeof(duration), "%u", acct->duration_sec);
		params[n++] = (struct sts_param){"DurationSeconds", duration};
	}
	const struct sts_request req = {
	    .endpoint_url = url,
	    .action = "AssumeRole",
	    .params = params,
	    .n_params = n,
	    .source = "assume-role",
	    .timeout_ms = a->sts_timeout_ms,
	    .sign_with = c,
	    .region = sts_signing_region(url, where.region, region),
	};
	r = sts_call_start(a->net, &req, role_sts_done, f, &f->call, ret_error);
	free(url);
	return r;
}

static void role_source_ready(int r, struct aws_credentials *c, const char *error, void *userdata)
{
	struct role_fetch *f = userdata;
	char *msg = NULL;

	f->waiting = false;
	if (!f->acct) {
		role_fetch_free(f); /* cancelled meanwhile */
		return;
	}
	if (r < 0) {
		if (asprintf(&msg, "cannot assume %s for account %s: the default credentials are unavailable: %s",
			     f->acct->role_arn, f->acct->id, error ? error : "unknown error") < 0)
			msg = NULL;
		role_finish(f, -EKEYEXPIRED, NULL, msg ? msg : "no default credentials");
		free(msg);
		return;
	}
	r = role_call_start(f, c, &msg);
	if (r < 0)
		role_finish(f, r, NULL, msg ? msg : strerror(-r));
	free(msg);
}

/* creds_cache_fetch_fn of a RoleArn= account: the default credentials (from
 * their cache, waiting if need be), then AssumeRole. */
static int role_fetch_start(void *fetch_userdata, creds_fetch_done_fn done, void *userdata,
			    struct aws_credentials **ret, struct creds_fetch **ret_fetch, char **ret_error)
{
	struct account *acct = fetch_userdata;
	struct role_fetch *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return -ENOMEM;
	f->base.cancel = role_fetch_cancel;
	f->acct = acct;
	f->done = done;
	f->userdata = userdata;
	f->starting = true;
	f->waiting = true;
	log_debug("accounts: assuming %s for account %s", acct->role_arn, acct->id);
	r = creds_cache_get(acct->owner->o.default_creds, role_source_ready, f);
	f->starting = false;
	if (r < 0) {
		free(f);
		return r;
	}
	if (f->sync_r < 0) {
		r = f->sync_r;
		*ret_error = f->sync_error;
		f->sync_error = NULL;
		if (f->waiting) /* cannot be: a failure comes from the callback */
			f->acct = NULL;
		else
			role_fetch_free(f);
		return r;
	}
	*ret_fetch = &f->base;
	return -EINPROGRESS;
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

static struct account *account_find(const struct accounts *a, const char *id)
{
	for (size_t i = 0; id && i < a->n; i++)
		if (strcmp(a->list[i]->id, id) == 0)
			return a->list[i];
	return NULL;
}

/* --- the default credentials' account ---------------------------------------- */

struct creds_cache *accounts_default_cache(struct accounts *a)
{
	return a->o.default_creds;
}

const char *accounts_default_account(struct accounts *a)
{
	struct aws_credentials *c;

	if (a->configured[0])
		return a->configured;
	if (a->identity == IDENTITY_KNOWN)
		return a->learned;
	c = creds_cache_peek(a->o.default_creds);
	return c && c->account_id ? c->account_id : NULL;
}

static void route_default(struct accounts *a, struct account_route *ret)
{
	const char *account = accounts_default_account(a);

	*ret = (struct account_route){
	    .source = ACCOUNT_SOURCE_DEFAULT,
	    .cache = a->o.default_creds,
	    .label = "default",
	};
	snprintf(ret->account, sizeof(ret->account), "%s", account ? account : "");
}

/* The last GetCallerIdentity failed less than ACCOUNTS_IDENTITY_RETRY_MS
 * ago: it is not asked again yet. */
static bool identity_failed_recently(const struct accounts *a)
{
	struct timespec now;

	if (a->identity != IDENTITY_FAILED)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - a->identity_failed_at.tv_sec) * 1000L +
		   (now.tv_nsec - a->identity_failed_at.tv_nsec) / 1000000L <
	       ACCOUNTS_IDENTITY_RETRY_MS;
}

/*
 * The route for account without waiting: 0 with *ret; -EPERM (refused,
 * msg says why); -EAGAIN when the default account must be learned first;
 * -EKEYEXPIRED when learning it failed a moment ago (msg says why).
 */
static int route_now(struct accounts *a, const char *account, struct account_route *ret, char *msg, size_t size)
{
	struct account *acct = account && *account ? account_find(a, account) : NULL;
	const char *mine;

	if (!account || !*account) {
		route_default(a, ret);
		return 0;
	}
	if (acct) {
		*ret = (struct account_route){
		    .source = acct->source,
		    .region = acct->region,
		    .cache = acct->cache,
		    .label = acct->label,
		};
		memcpy(ret->account, acct->id, sizeof(ret->account));
		return 0;
	}
	mine = accounts_default_account(a);
	if (mine && strcmp(mine, account) == 0) {
		route_default(a, ret);
		return 0;
	}
	if (mine) {
		snprintf(msg, size,
			 "no credentials for account %s: the default credentials serve account %s only, and %s has no "
			 "[Account %s] section (Profile= or RoleArn=)",
			 account, mine, a->config_file, account);
		return -EPERM;
	}
	if (identity_failed_recently(a)) {
		snprintf(msg, size,
			 "account %s has no [Account %s] section, and the account of the default credentials is not "
			 "known (%s); set [AWS] Account= or add the section",
			 account, account, a->identity_error ? a->identity_error : "unknown error");
		return -EKEYEXPIRED;
	}
	return -EAGAIN;
}

/* Answers every waiting request now that the default account is known or
 * could not be learned. */
static void serve_waiters(struct accounts *a)
{
	struct accounts_wait *w = a->waiters;

	a->waiters = NULL;
	a->waiters_tail = &a->waiters;
	while (w) {
		struct accounts_wait *next = w->next;
		struct account_route route;
		char msg[768];
		int r = route_now(a, w->account, &route, msg, sizeof(msg));

		if (r == -EAGAIN) {
			r = -EKEYEXPIRED;
			snprintf(msg, sizeof(msg), "the account of the default credentials is not known");
		}
		w->done(r, r == 0 ? &route : NULL, r == 0 ? NULL : msg, w->userdata);
		free(w);
		w = next;
	}
}

static void identity_known(struct accounts *a, const char *account, const char *how)
{
	memcpy(a->learned, account, sizeof(a->learned));
	free(a->identity_error);
	a->identity_error = NULL;
	identity_set_state(a, IDENTITY_KNOWN);
	log_info("accounts: the default credentials serve account %s (%s)", account, how);
	serve_waiters(a);
}

static void identity_failed(struct accounts *a, const char *error)
{
	free(a->identity_error);
	a->identity_error = strdup(error ? error : "unknown error");
	clock_gettime(CLOCK_MONOTONIC, &a->identity_failed_at);
	identity_set_state(a, IDENTITY_FAILED);
	log_warning("accounts: cannot learn the account of the default credentials: %s; ARNs of accounts without "
		    "an [Account] section are refused meanwhile",
		    a->identity_error);
	serve_waiters(a);
}

static void identity_sts_done(const struct sts_result *res, void *userdata)
{
	struct accounts *a = userdata;
	char how[320];

	a->identity_call = NULL;
	if (res->r < 0) {
		identity_failed(a, res->message);
		return;
	}
	snprintf(how, sizeof(how), "STS GetCallerIdentity: %.280s", res->arn && *res->arn ? res->arn : "no ARN");
	identity_known(a, res->account, how);
}

static void identity_creds_ready(int r, struct aws_credentials *c, const char *error, void *userdata)
{
	struct identity_get *g = userdata;
	struct accounts *a = g->a;
	char region[STS_REGION_MAX], *url = NULL, *msg = NULL;

	free(g);
	if (!a)
		return; /* cancelled */
	a->identity_get = NULL;
	if (r < 0) {
		if (asprintf(&msg, "the default credentials are unavailable: %s", error ? error : "unknown error") < 0)
			msg = NULL;
		identity_failed(a, msg);
		free(msg);
		return;
	}
	if (c->account_id) {
		identity_known(a, c->account_id, c->source);
		return;
	}
	r = sts_endpoint_url(a->o.settings, &url);
	if (r >= 0) {
		const struct sts_request req = {
		    .endpoint_url = url,
		    .action = "GetCallerIdentity",
		    .source = "sts",
		    .timeout_ms = a->sts_timeout_ms,
		    .sign_with = c,
		    .region = sts_signing_region(url, a->o.settings->region, region),
		    .identity = true,
		};

		log_debug("accounts: asking STS whose the default credentials are");
		r = sts_call_start(a->net, &req, identity_sts_done, a, &a->identity_call, &msg);
	}
	free(url);
	if (r < 0) {
		identity_failed(a, msg ? msg : strerror(-r));
		free(msg);
	}
}

/* Starts learning the default account, unless it is known or being learned. */
static void identity_start(struct accounts *a)
{
	struct identity_get *g;

	if (a->configured[0] || a->identity == IDENTITY_KNOWN || a->identity == IDENTITY_ASKING)
		return;
	g = calloc(1, sizeof(*g));
	if (!g) {
		identity_failed(a, "out of memory");
		return;
	}
	g->a = a;
	a->identity_get = g;
	identity_set_state(a, IDENTITY_ASKING);
	if (creds_cache_get(a->o.default_creds, identity_creds_ready, g) < 0) {
		a->identity_get = NULL;
		free(g);
		identity_failed(a, "out of memory");
	}
}

/* Stops learning (reload, free): the lookup in flight is dropped. */
static void identity_stop(struct accounts *a)
{
	if (a->identity_get) {
		a->identity_get->a = NULL; /* freed by its callback */
		a->identity_get = NULL;
	}
	a->identity_call = sts_call_cancel(a->identity_call);
	if (a->identity == IDENTITY_ASKING)
		identity_set_state(a, IDENTITY_UNKNOWN);
}

/* --- public ------------------------------------------------------------------ */

int accounts_route(struct accounts *a, const char *account, accounts_route_fn done, void *userdata,
		   struct accounts_wait **ret_wait)
{
	struct account_route route;
	struct accounts_wait *w;
	char msg[768];
	int r;

	*ret_wait = NULL;
	r = route_now(a, account, &route, msg, sizeof(msg));
	if (r == -EAGAIN) {
		identity_start(a); /* may learn it at once (the credentials say) */
		r = route_now(a, account, &route, msg, sizeof(msg));
	}
	if (r != -EAGAIN) {
		done(r, r == 0 ? &route : NULL, r == 0 ? NULL : msg, userdata);
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	snprintf(w->account, sizeof(w->account), "%s", account);
	w->done = done;
	w->userdata = userdata;
	*a->waiters_tail = w;
	a->waiters_tail = &w->next;
	*ret_wait = w;
	return 0;
}

int accounts_route_learning(struct accounts *a, accounts_route_fn done, void *userdata,
			    struct accounts_wait **ret_wait)
{
	struct account_route route;
	struct accounts_wait *w;

	*ret_wait = NULL;
	if (!accounts_default_account(a) && !identity_failed_recently(a))
		identity_start(a); /* may learn it at once (the credentials say) */
	if (a->identity != IDENTITY_ASKING) {
		route_default(a, &route);
		done(0, &route, NULL, userdata);
		return 0;
	}
	w = calloc(1, sizeof(*w)); /* account "": served by route_default() */
	if (!w)
		return -ENOMEM;
	w->done = done;
	w->userdata = userdata;
	*a->waiters_tail = w;
	a->waiters_tail = &w->next;
	*ret_wait = w;
	return 0;
}

struct accounts_wait *accounts_wait_cancel(struct accounts *a, struct accounts_wait *w)
{
	if (!w)
		return NULL;
	for (struct accounts_wait **p = &a->waiters; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			if (a->waiters_tail == &w->next)
				a->waiters_tail = p;
			break;
		}
	free(w);
	return NULL;
}

struct creds_cache *accounts_cache_of(struct accounts *a, const char *account)
{
	struct account *acct = account_find(a, account);

	return acct ? acct->cache : NULL;
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
