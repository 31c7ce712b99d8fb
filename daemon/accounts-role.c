/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "accounts-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws-settings.h"
#include "creds-net.h"
#include "errorf.h"
#include "log.h"
#include "sts.h"

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
		return errorf(ret_error, r, "no STS endpoint for account %s: %s", acct->id,
			      sts_endpoint_error(&where, r));
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
int role_fetch_start(void *fetch_userdata, creds_fetch_done_fn done, void *userdata,
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
	r = creds_cache_get(acct->owner->default_acct->cache, role_source_ready, f);
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
