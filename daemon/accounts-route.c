/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "accounts-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws-settings.h"
#include "log.h"
#include "monotime.h"
#include "sts.h"

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

void identity_set_state(struct accounts *a, enum accounts_identity_state s)
{
	if (a->identity != s)
		log_debug("accounts: default account %s -> %s", identity_names[a->identity], identity_names[s]);
	a->identity = s;
}

/* --- the default credentials' account ---------------------------------------- */

const char *accounts_default_account(struct accounts *a)
{
	struct aws_credentials *c;

	if (a->configured[0])
		return a->configured;
	if (a->identity == IDENTITY_KNOWN)
		return a->learned;
	c = accounts_default_peek(a);
	return c && c->account_id ? c->account_id : NULL;
}

static void route_default(struct accounts *a, struct account_route *ret)
{
	const char *account = accounts_default_account(a);

	*ret = (struct account_route){
	    .source = ACCOUNT_SOURCE_DEFAULT,
	    .acct = a->default_acct,
	    .label = "default",
	};
	snprintf(ret->account, sizeof(ret->account), "%s", account ? account : "");
}

/* The last GetCallerIdentity failed less than ACCOUNTS_IDENTITY_RETRY_MS
 * ago: it is not asked again yet. */
static bool identity_failed_recently(const struct accounts *a)
{
	if (a->identity != IDENTITY_FAILED)
		return false;
	return monotime_msec() - a->identity_failed_at_ms < ACCOUNTS_IDENTITY_RETRY_MS;
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
		    .acct = acct,
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
void serve_waiters(struct accounts *a)
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
	a->identity_failed_at_ms = monotime_msec();
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
	if (r < 0 && asprintf(&msg, "no STS endpoint: %s", sts_endpoint_error(a->o.settings, r)) < 0)
		msg = NULL;
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
void identity_start(struct accounts *a)
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
	if (creds_cache_get(a->default_acct->cache, identity_creds_ready, g) < 0) {
		a->identity_get = NULL;
		free(g);
		identity_failed(a, "out of memory");
	}
}

/* Stops learning (reload, free): the lookup in flight is dropped. */
void identity_stop(struct accounts *a)
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

struct aws_credentials *accounts_default_peek(struct accounts *a)
{
	return a->default_acct ? creds_cache_peek(a->default_acct->cache) : NULL;
}

/* --- a call's credentials ------------------------------------------------------ */

int account_credentials_get(struct account *acct, const char *expected, creds_cache_done_fn done, void *userdata,
			    char *why, size_t size)
{
	const char *now;

	if (acct->gone) {
		snprintf(why, size, "%s", acct->gone);
		return -ENOENT;
	}
	if (acct->source == ACCOUNT_SOURCE_DEFAULT && expected && *expected) {
		now = accounts_default_account(acct->owner);
		if (now && strcmp(now, expected) != 0) {
			snprintf(why, size,
				 "since a reload of %s the default credentials serve account %s, not account %s the "
				 "call started with: not used for its key",
				 acct->owner->config_file, now, expected);
			return -ENOENT;
		}
	}
	return creds_cache_get(acct->cache, done, userdata);
}

void account_credentials_cancel(struct account *acct, creds_cache_done_fn done, void *userdata)
{
	if (acct)
		creds_cache_cancel(acct->cache, done, userdata);
}

void account_credentials_expired(struct account *acct, const struct aws_credentials *bad)
{
	if (acct && acct->cache)
		creds_cache_expired(acct->cache, bad);
}
