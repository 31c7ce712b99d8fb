/* SPDX-License-Identifier: MIT */
#include "config.h"

/*
 * What each step's KMS answer means (operation.h): the next step, a settle
 * retry, or the call's outcome.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json-writer.h"
#include "kms-wire.h"
#include "kms.h"
#include "log.h"
#include "operation-internal.h"
#include "timeutil.h"

static const char *body_string(struct json_object *body, const char *key)
{
	struct json_object *v;

	if (!body || !json_object_object_get_ex(body, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void copy_member(struct json_object *to, const char *to_key, struct json_object *from, const char *from_key,
			enum json_type type)
{
	struct json_object *v;

	if (json_object_object_get_ex(from, from_key, &v) && json_object_is_type(v, type))
		json_object_object_add(to, to_key, json_object_get(v));
}

/* A KMS failure, as KMS gave it. */
static void fail_as_kms(struct operation *op, const struct kms_result *r)
{
	operation_fail(op, r->error, r->error_code, r->message, r->request_id);
}

/* The success of a cancel, to op and its followers.  The reply parameters
 * are written directly (json_writer), not built as a json-c object: this
 * runs for every cancel. */
static void cancel_reply(struct operation *op, const char *key_state, const char *request_id)
{
	struct json_writer params = {0};

	json_writer_add_string(&params, "keyId", op->key_arn);
	json_writer_add_string(&params, "keyState", key_state);
	json_writer_add_string(&params, "requestId", request_id ? request_id : "");
	json_writer_add_int(&params, "attempts", (int64_t)op->attempts);
	if (op->already_cancelled)
		json_writer_add_bool(&params, "alreadyCancelled", true);
	(void)json_writer_finish(&params); /* out of memory: every call_reply_written() closes its connection */
	operation_finish(op, &(struct operation_outcome){
				 .key_state = key_state,
				 .request_id = request_id,
				 .written = &params,
			     });
	json_writer_done(&params);
}

/* --- cancel, then maybe enable ----------------------------------------------------------------- */

static void enable_answered(struct operation *op, const struct kms_result *r)
{
	char msg[1024];

	if (r->error == KMSCANCEL_E_INVALID_STATE && operation_settle(op))
		return;
	if (r->error == KMSCANCEL_OK) {
		cancel_reply(op, "Enabled", r->request_id);
		return;
	}
	/* The cancel itself succeeded; say so, or the caller might think the
	 * key is still scheduled for deletion. */
	snprintf(msg, sizeof(msg), "deletion cancelled (key is Disabled) but EnableKey failed: %s", r->message);
	operation_fail(op, r->error, r->error_code, msg, r->request_id);
}

/* The cancel is done (the key is Disabled): enable it if asked, else reply. */
static void cancel_succeeded(struct operation *op, const char *request_id)
{
	/* Out of memory leaves it NULL: it is only told (operation_result). */
	free(op->cancel_request_id);
	op->cancel_request_id = request_id && *request_id ? strdup(request_id) : NULL;
	if (op->enable_key)
		operation_next_step(op, OPERATION_STEP_ENABLE);
	else
		cancel_reply(op, "Disabled", request_id);
}

static void resolve_fail(struct operation *op, const char *state)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s (a lost response was followed up with DescribeKey: the key is %s)",
		 op->ambiguous_message, state);
	operation_fail(op, KMSCANCEL_E_INVALID_STATE, "KMSInvalidStateException", msg, op->ambiguous_request_id);
}

/* DescribeKey after "not pending deletion" that followed a lost response:
 * Disabled means our lost attempt did it (Enabled, too, when enableKey was
 * asked); any other state is the true answer. */
static void resolve_answered(struct operation *op, const struct kms_result *r)
{
	struct json_object *meta = NULL;
	const char *state = NULL, *arn = NULL;

	if (r->error == KMSCANCEL_OK && json_object_object_get_ex(r->body, "KeyMetadata", &meta)) {
		state = body_string(meta, "KeyState");
		arn = body_string(meta, "Arn");
	}
	if (!state) {
		char why[512];

		snprintf(why, sizeof(why), "unknown (DescribeKey: %s)", r->message ? r->message : "no KeyState");
		resolve_fail(op, why);
		return;
	}
	/* Still pending deletion contradicts "not pending deletion": a stale
	 * read, ask again. */
	if ((strcmp(state, "PendingDeletion") == 0 || strcmp(state, "PendingReplicaDeletion") == 0) &&
	    operation_settle(op))
		return;
	if (strcmp(state, "Disabled") != 0 && !(strcmp(state, "Enabled") == 0 && op->enable_key)) {
		resolve_fail(op, state);
		return;
	}
	op->key_arn = strdup(arn ? arn : op->key_id);
	if (!op->key_arn) {
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
		return;
	}
	op->already_cancelled = true;
	log_info("cancel %s: an attempt whose response was lost had cancelled the deletion (key is %s)", op->key_arn,
		 state);
	if (strcmp(state, "Enabled") == 0) {
		free(op->cancel_request_id);
		op->cancel_request_id = r->request_id && *r->request_id ? strdup(r->request_id) : NULL;
		cancel_reply(op, "Enabled", r->request_id);
	} else {
		cancel_succeeded(op, r->request_id);
	}
}

static void cancel_answered(struct operation *op, const struct kms_result *r)
{
	const char *arn;

	if (r->error == KMSCANCEL_E_INVALID_STATE && (r->response_lost || op->leader_timed_out)) {
		/* An earlier attempt may have cancelled the deletion and only
		 * its answer was lost (or the leader this call followed timed
		 * out): look before reporting a failure. */
		op->ambiguous_message = strdup(r->message ? r->message : "");
		op->ambiguous_request_id = r->request_id ? strdup(r->request_id) : NULL;
		op->step = OPERATION_STEP_RESOLVE;
		op->settle_tries = 0;
		if (!op->ambiguous_message || operation_kms(op) < 0)
			fail_as_kms(op, r);
		return;
	}
	if (r->error != KMSCANCEL_OK) {
		fail_as_kms(op, r);
		return;
	}
	arn = body_string(r->body, "KeyId");
	/* KMS answers with the key ARN (moto echoes the ID).  A 200 that names
	 * no key — an empty body, an error body behind a proxy that says 200 —
	 * is no evidence that the deletion was cancelled: never report success
	 * on it. */
	if (!arn) {
		operation_fail(op, KMSCANCEL_E_KMS, "InvalidResponse",
			       "KMS answered CancelKeyDeletion without a KeyId; whether the deletion was cancelled "
			       "is unknown (check with describe)",
			       r->request_id);
		return;
	}
	op->key_arn = strdup(arn);
	if (!op->key_arn) {
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
		return;
	}
	cancel_succeeded(op, r->request_id);
}

/* --- dry run ----------------------------------------------------------------------------------- */

/* A dry run's answer: what the cancel would meet, read with DescribeKey.
 * Pending deletion is a success carrying the current state and date; any
 * other state is the KMSInvalidStateException the cancel would get. */
static void dry_run_answered(struct operation *op, const struct kms_result *r)
{
	struct json_object *meta = NULL, *params, *v;
	const char *state = NULL, *arn;

	if (r->error != KMSCANCEL_OK) {
		fail_as_kms(op, r);
		return;
	}
	if (json_object_object_get_ex(r->body, "KeyMetadata", &meta))
		state = body_string(meta, "KeyState");
	if (!state) {
		operation_fail(op, KMSCANCEL_E_KMS, "InvalidResponse", "DescribeKey answer has no KeyMetadata",
			       r->request_id);
		return;
	}
	arn = body_string(meta, "Arn") ? body_string(meta, "Arn") : op->key_id;
	if (strcmp(state, "PendingDeletion") != 0 && strcmp(state, "PendingReplicaDeletion") != 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s is %s, not pending deletion: CancelKeyDeletion would fail (dry run)",
			 arn, state);
		operation_fail(op, KMSCANCEL_E_INVALID_STATE, "KMSInvalidStateException", msg, r->request_id);
		return;
	}
	params = json_object_new_object();
	json_object_object_add(params, "keyId", json_object_new_string(arn));
	json_object_object_add(params, "keyState", json_object_new_string(state));
	json_object_object_add(params, "requestId", json_object_new_string(r->request_id ? r->request_id : ""));
	json_object_object_add(params, "attempts", json_object_new_int((int)op->attempts));
	json_object_object_add(params, "dryRun", json_object_new_boolean(true));
	if (json_object_object_get_ex(meta, "DeletionDate", &v) && (v = kms_timestamp_to_string(v)))
		json_object_object_add(params, "deletionDate", v);
	operation_finish(op, &(struct operation_outcome){
				 .key_state = state,
				 .request_id = r->request_id,
				 .params = params,
			     });
}

/* --- describe ---------------------------------------------------------------------------------- */

static void describe_answered(struct operation *op, const struct kms_result *r)
{
	struct json_object *meta, *params, *v;
	const char *state;

	if (r->error != KMSCANCEL_OK) {
		fail_as_kms(op, r);
		return;
	}
	if (!json_object_object_get_ex(r->body, "KeyMetadata", &meta) || !json_object_is_type(meta, json_type_object) ||
	    !(state = body_string(meta, "KeyState"))) {
		operation_fail(op, KMSCANCEL_E_KMS, "InvalidResponse", "DescribeKey answer has no KeyMetadata",
			       r->request_id);
		return;
	}
	params = json_object_new_object();
	json_object_object_add(
	    params, "keyId", json_object_new_string(body_string(meta, "Arn") ? body_string(meta, "Arn") : op->key_id));
	copy_member(params, "arn", meta, "Arn", json_type_string);
	copy_member(params, "keyState", meta, "KeyState", json_type_string);
	copy_member(params, "enabled", meta, "Enabled", json_type_boolean);
	copy_member(params, "multiRegion", meta, "MultiRegion", json_type_boolean);
	copy_member(params, "description", meta, "Description", json_type_string);
	copy_member(params, "keyManager", meta, "KeyManager", json_type_string);
	if (json_object_object_get_ex(meta, "DeletionDate", &v) && (v = kms_timestamp_to_string(v)))
		json_object_object_add(params, "deletionDate", v);
	if (json_object_object_get_ex(meta, "CreationDate", &v) && (v = kms_timestamp_to_string(v)))
		json_object_object_add(params, "creationDate", v);
	if (!json_object_object_get_ex(params, "arn", NULL))
		json_object_object_add(params, "arn", json_object_new_string(op->key_id));
	if (!json_object_object_get_ex(params, "enabled", NULL))
		json_object_object_add(params, "enabled", json_object_new_boolean(strcmp(state, "Enabled") == 0));
	json_object_object_add(params, "requestId", json_object_new_string(r->request_id ? r->request_id : ""));
	operation_finish(op, &(struct operation_outcome){
				 .key_state = state,
				 .request_id = r->request_id,
				 .params = params,
			     });
}

/* --- an alias ---------------------------------------------------------------------------------- */

/*
 * DescribeKey of the alias the caller named: the key it names, then the
 * policy on that key (policy_decide_alias()), then the call's own step on
 * the key ARN.  A describe or dry run answers from this very DescribeKey.
 * A caller the alias view did not allow learns nothing from KMS's answer:
 * NotFound is its refusal, the same as for a key it may not see.
 */
static void resolve_alias_answered(struct operation *op, const struct kms_result *r)
{
	struct json_object *meta = NULL;
	const char *arn = NULL;
	struct keyid key;

	if (r->error == KMSCANCEL_OK && json_object_object_get_ex(r->body, "KeyMetadata", &meta))
		arn = body_string(meta, "Arn");
	if (r->error != KMSCANCEL_OK) {
		if (!op->alias_open && r->error_code && strcmp(r->error_code, "NotFoundException") == 0)
			operation_refuse(op);
		else
			fail_as_kms(op, r);
		return;
	}
	if (!arn || keyid_parse(arn, &key, NULL) < 0 || key.kind != KEYID_KIND_ARN ||
	    (op->account[0] && strcmp(key.account, op->account) != 0)) {
		/* Not a key of the account whose credentials asked: never act on it. */
		operation_fail(op, KMSCANCEL_E_KMS, "InvalidResponse",
			       "DescribeKey of the alias named no key ARN of the alias's account", r->request_id);
		return;
	}
	op->resolved_arn = strdup(arn);
	if (!op->resolved_arn) {
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "out of memory", NULL);
		return;
	}
	op->key = key;
	log_debug("%s %s: the alias names %s", op->verb, op->key_id, arn);
	if (operation_authorize(op, key.account, true) < 0)
		return;
	if (!op->cancel) {
		op->step = OPERATION_STEP_DESCRIBE;
		describe_answered(op, r);
	} else if (op->dry_run) {
		op->verb = "cancel-dry-run";
		op->step = OPERATION_STEP_DRY_RUN;
		dry_run_answered(op, r);
	} else {
		operation_cancel(op);
	}
}

void operation_step_answered(struct operation *op, const struct kms_result *r)
{
	switch (op->step) {
	case OPERATION_STEP_RESOLVE_ALIAS:
		resolve_alias_answered(op, r);
		break;
	case OPERATION_STEP_DESCRIBE:
		describe_answered(op, r);
		break;
	case OPERATION_STEP_DRY_RUN:
		dry_run_answered(op, r);
		break;
	case OPERATION_STEP_CANCEL:
		cancel_answered(op, r);
		break;
	case OPERATION_STEP_RESOLVE:
		resolve_answered(op, r);
		break;
	case OPERATION_STEP_ENABLE:
		enable_answered(op, r);
		break;
	default:
		operation_fail(op, KMSCANCEL_E_INTERNAL, NULL, "KMS answered a call that made no request", NULL);
		break;
	}
}
