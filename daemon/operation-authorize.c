/* SPDX-License-Identifier: MIT */
#include "config.h"

/*
 * OPERATION_AUTHORIZING (operation.h): the key ID, the region and the
 * local policy, before anything else happens.  A refused caller causes no
 * routing, no credential fetch, no STS call, and learns nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "conf.h"
#include "methods-context.h"
#include "operation-internal.h"
#include "policy.h"
#include "varlink-service.h"

/* The refusal a caller gets: what it asked, nothing of the configuration
 * (no path, no rule, no account it did not send); the audit record names
 * the rule.  The same words before and after an alias is resolved: a
 * refused caller learns nothing of the key it names. */
void operation_refuse(struct operation *op)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "the local policy of kmscanceld does not allow uid %u to %s%s this key",
		 (unsigned)op->peer.uid, op->verb, op->policy_ops & POLICY_OP_ENABLE ? " and enable" : "");
	operation_fail(op, KMSCANCEL_E_PERMISSION_DENIED, NULL, msg, NULL);
}

/* operation-internal.h */
int operation_authorize(struct operation *op, const char *account, bool final)
{
	const struct peer *p = &op->peer;
	struct policy_subject subject;
	struct policy_object object = {.key = &op->key, .region = op->region, .account = account};
	const char *rule = NULL;
	enum policy_verdict v;

	/* The daemon's own operation: the configuration that named the key
	 * decided (operation_start_internal()). */
	if (!op->call)
		return 1;
	subject = methods_policy_subject(op->ctx, p);
	if (op->by_alias) {
		/* Not resolved yet: the key is unknown (policy.h). */
		if (!op->resolved_arn)
			object.key = NULL;
		v = policy_decide_alias(op->ctx->policy, &subject, op->policy_ops, op->alias.name, &object, &rule);
		if (!op->resolved_arn && v != POLICY_DENY) {
			/* Resolve, and decide again on the key: audited then. */
			op->alias_open = v == POLICY_ALLOW;
			return 1;
		}
	} else {
		v = policy_decide(op->ctx->policy, &subject, op->policy_ops, &object, &rule);
	}
	if (v == POLICY_UNDECIDED && !final)
		return 0;
	op->refusal_left_out = !audit_log(&(struct audit_record){
	    .event = AUDIT_DECISION,
	    .caller = p,
	    .operation = operation_name(op),
	    .key = op->key_id,
	    .key_arn = op->resolved_arn,
	    .allowed = v == POLICY_ALLOW,
	    .rule = rule,
	    .region = op->region,
	    .reason = v != POLICY_UNDECIDED  ? NULL
		      : subject.groups_known ? "account unknown"
		      : account              ? "groups unknown"
					     : "account and groups unknown",
	});
	if (v == POLICY_ALLOW)
		return 1;
	operation_refuse(op);
	return -1;
}

/* A reject before the policy (an invalid key ID, a key ARN and an account
 * parameter that disagree): any caller can send it, so it is under the
 * refusal rate (audit.h). */
static void operation_reject(struct operation *op, const char *audit_reason, const char *message)
{
	op->refusal_left_out = !audit_log(&(struct audit_record){
	    .event = AUDIT_REJECT,
	    .caller = &op->peer,
	    .operation = operation_name(op),
	    .key = op->key_id,
	    .reason = audit_reason,
	});
	operation_fail(op, KMSCANCEL_E_INVALID_KEY_ID, NULL, message, NULL);
}

/* An alias (keyid.h) rather than a key ID: true, with what routing, the
 * region and the policy need of it in op->key (an alias ARN's partition,
 * region and account; no key ID until it is resolved).  A malformed alias
 * says why in *reason. */
static bool operation_alias(struct operation *op, const char *key_id, size_t key_len, const char **reason)
{
	bool alias_like = (key_len >= 6 && memcmp(key_id, "alias/", 6) == 0) || memmem(key_id, key_len, ":alias/", 7);

	if (keyid_alias_parse_n(key_id, key_len, &op->alias, alias_like ? reason : NULL) < 0)
		return false;
	op->by_alias = true;
	op->key = (struct keyid){.kind = op->alias.arn ? KEYID_KIND_ARN : KEYID_KIND_ID};
	memcpy(op->key.partition, op->alias.partition, sizeof(op->key.partition));
	memcpy(op->key.region, op->alias.region, sizeof(op->key.region));
	memcpy(op->key.account, op->alias.account, sizeof(op->key.account));
	return true;
}

/* The key ID, the region, the policy: the start of every key operation.
 * Returns 0, or -1 when op was answered (and freed). */
int operation_check(struct operation *op, const char *key_id, size_t key_len)
{
	const char *reason = NULL, *region, *account;
	int r;

	if (keyid_parse_n(key_id, key_len, &op->key, &reason) < 0 && !operation_alias(op, key_id, key_len, &reason)) {
		/* Never echo arbitrary caller bytes into the log. */
		free(op->key_id);
		op->key_id = strdup("(invalid key ID)");
		operation_reject(op, "invalid key ID", reason);
		return -1;
	}
	if (op->key.kind == KEYID_KIND_ARN && op->account_param[0] && strcmp(op->account_param, op->key.account) != 0) {
		operation_reject(op, "key ARN and account parameter disagree",
				 "the key ARN names another account than the call's account parameter");
		return -1;
	}
	if (op->key.kind == KEYID_KIND_ARN && op->region_param[0] && strcmp(op->region_param, op->key.region) != 0) {
		operation_reject(op, "key ARN and region parameter disagree",
				 "the key ARN names another region than the call's region parameter");
		return -1;
	}
	if (op->key.kind == KEYID_KIND_ARN) {
		region = op->key.region;
	} else if (op->region_param[0]) {
		region = op->region_param; /* the call's region wins for a bare key ID */
	} else {
		/* A bare key ID of an [Account N] with Region=: that region. */
		const struct config_account *ca = config_find_account(op->ctx->config, op->account_param);

		region = ca && ca->region ? ca->region : methods_default_region(op->ctx);
	}
	account = op->key.kind == KEYID_KIND_ARN ? op->key.account
		  : op->account_param[0]         ? op->account_param
						 : methods_default_account(op->ctx);
	if (!region) {
		/* The policy still comes first, fail-closed on the unknown
		 * region: a refused caller does not learn even that. */
		if (operation_authorize(op, account, true) < 0)
			return -1;
		operation_fail(op, KMSCANCEL_E_ENDPOINT_UNAVAILABLE, NULL,
			       "no AWS region configured for a bare key ID: set [AWS] Region=, AWS_REGION, "
			       "or pass the key ARN",
			       NULL);
		return -1;
	}
	/* A copy: a reload frees the configuration's strings, and the call
	 * keeps the region it started in (enable, retries, coalescing). */
	op->region = strdup(region);
	if (!op->region) {
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
		return -1;
	}
	/* The policy before anything else happens: a refused caller causes no
	 * routing, no credential fetch, no STS call, and learns nothing.  The
	 * account of a bare key ID is the call's, else the daemon's if known;
	 * when the verdict hangs on it, routing learns it (route_done). */
	r = operation_authorize(op, account, account != NULL);
	if (r < 0)
		return -1;
	op->policy_pending = r == 0;
	return 0;
}
