/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A client for AWS STS (Query protocol, AWS.md §7.5): the
 * credential-issuing actions AssumeRoleWithWebIdentity and AssumeRole
 * ([Account N] RoleArn=), and GetCallerIdentity (whose account the default
 * credentials are).  POST form-encoded parameters, read the XML answer's
 * <Credentials>, or <Account> and <Arn>, (or <ErrorResponse><Error>) with
 * the bounded reader in xml.h.  Over the credential providers' kept-alive
 * STS pools (creds-net.h), so the CA bundle, endpoint overrides, connect-to map
 * and HTTPS_PROXY/NO_PROXY apply as for KMS.
 *
 * Parameter values (a web identity token, an external ID) are treated as
 * secrets: the request buffer is wiped, and they appear in no message.
 */
#include <stddef.h>

#include "aws-settings.h"

struct creds_net;
struct aws_credentials;

#define STS_API_VERSION "2011-06-15"
#define STS_SERVICE     "sts"

struct sts_param {
	const char *name;
	const char *value;
};

struct sts_request {
	const char *endpoint_url; /* see sts_endpoint_url() */
	const char *action;       /* "AssumeRoleWithWebIdentity", "AssumeRole" */
	const struct sts_param *params;
	size_t n_params;
	const char *source; /* aws_credentials.source of the result (static string) */
	unsigned timeout_ms;
	/* SigV4 signing (AssumeRole); NULL for the unsigned web identity call. */
	const struct aws_credentials *sign_with;
	const char *region; /* signing region, with sign_with */
	/* GetCallerIdentity: the answer is <Account> and <Arn>, no credentials. */
	bool identity;
};

/* What a call ended with; valid only during the callback. */
struct sts_result {
	int r;                               /* 0, or a negative errno */
	struct aws_credentials *credentials; /* on success: borrowed, take a reference to keep it */
	const char *account;                 /* identity calls, on success: 12 digits */
	const char *arn;                     /* identity calls, on success: the caller's ARN */
	const char *error_code;              /* STS's error code ("InvalidIdentityToken") or NULL */
	const char *message;                 /* on failure: human-readable, never NULL, no secret */
	const char *request_id;              /* or NULL */
};
typedef void (*sts_done_fn)(const struct sts_result *res, void *userdata);

struct sts_call;

/* Starts a call; done runs exactly once from the loop (never from inside
 * this function) unless cancelled.  Returns 0 with *ret, -EINVAL (bad URL,
 * *ret_error says why) or -ENOMEM. */
int sts_call_start(struct creds_net *net, const struct sts_request *req, sts_done_fn done, void *userdata,
		   struct sts_call **ret, char **ret_error);
/* done will not run.  NULL-safe, returns NULL. */
struct sts_call *sts_call_cancel(struct sts_call *c);

/*
 * Where STS calls go, as botocore 1.43's STS endpoint rule set (tested
 * against its answers in test-sts-endpoint.c and sts-dualstack.sh):
 * settings' STS endpoint (AWS_ENDPOINT_URL_STS, [AWS] STSEndpointURL=, …)
 * as is; else without a region (or "aws-global") the global
 * https://sts.amazonaws.com; else with use_dualstack_endpoint
 * https://sts[-fips].REGION.DUALSTACK-SUFFIX (api.aws, and the partition's
 * own: GovCloud's FIPS name included); else with use_fips_endpoint
 * https://sts-fips.REGION.SUFFIX (GovCloud: https://sts.REGION.amazonaws.com,
 * FIPS already); else with sts_regional_endpoints = legacy the global
 * endpoint for the 16 regions botocore sends there (not with FIPS or
 * dual-stack, as botocore); else https://sts.REGION.SUFFIX.  *ret
 * malloc'ed.  0, -EINVAL (bad region, or FIPS or dual-stack without a
 * region: botocore's sts-fips.aws-global.amazonaws.com and
 * sts.aws-global.api.aws do not exist) or -ENOMEM.
 */
#define STS_GLOBAL_ENDPOINT "https://sts.amazonaws.com"
int sts_endpoint_url(const struct aws_settings *s, char **ret);
/* Why sts_endpoint_url(s) failed with r, for messages (static text):
 * that FIPS and dual-stack STS endpoints need a region, "bad region", or
 * strerror(-r). */
const char *sts_endpoint_error(const struct aws_settings *s, int r);

/* application/x-www-form-urlencoded encoding of s appended to out (at
 * least 3 × strlen(s) + 1 bytes free): unreserved characters as is,
 * everything else %XX.  Returns the bytes written. */
size_t sts_form_encode(const char *s, char *out);

/*
 * Reads the credentials of a successful ACTION ("AssumeRole", …) answer:
 * <ACTIONResponse><ACTIONResult><Credentials> AccessKeyId, SecretAccessKey,
 * SessionToken, Expiration (all required and non-empty; Expiration after
 * 1970), and the account from
 * <AssumedRoleUser><Arn> when it has one.  Returns 0 with *ret (source as
 * given, static), or -EINVAL (missing or malformed member, bad XML) or
 * -ENOMEM with *ret_error (malloc'ed or NULL) naming the member, never a
 * value.  *ret untouched on failure.  For the fuzzers too.
 */
int sts_parse_credentials(const char *action, const char *source, const char *xml, size_t len,
			  struct aws_credentials **ret, char **ret_error);

/*
 * Reads a GetCallerIdentity answer: <GetCallerIdentityResponse>
 * <GetCallerIdentityResult> <Account> (12 digits) and <Arn>.  Returns 0
 * with *ret_account (13 bytes) and *ret_arn (malloc'ed), -ENOENT when
 * Account is missing, -EINVAL when it is malformed or the XML is, or
 * -ENOMEM.  For the fuzzers too.
 */
int sts_parse_identity(const char *xml, size_t len, char ret_account[13], char **ret_arn);

/* The signing region for an STS endpoint URL into ret: the REGION of
 * https://sts[-fips].REGION.amazonaws.com…, us-east-1 for the global
 * https://sts.amazonaws.com, else fallback, else us-east-1 (the
 * global endpoint's).  Returns ret. */
#define STS_REGION_MAX 64
const char *sts_signing_region(const char *url, const char *fallback, char ret[STS_REGION_MAX]);

/* RoleSessionName: 2..STS_SESSION_NAME_MAX characters of [\w+=,.@-]. */
#define STS_SESSION_NAME_MIN 2
#define STS_SESSION_NAME_MAX 64
bool sts_session_name_valid(const char *s);
