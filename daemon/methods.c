/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "methods.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "endpoint.h"
#include "error-names.h"
#include "guard.h"
#include "operation.h"
#include "pending.h"
#include "policy.h"
#include "status.h"
#include "varlink.h"

/* Fields each method accepts; anything else is InvalidParameter, as
 * sd-varlink's dispatch tables do, so a typo is never silently ignored. */
static const char *const cancel_fields[] = {"keyId", "enableKey", "timeoutMs", "dryRun", "account", "region", NULL};
static const char *const describe_fields[] = {"keyId", "timeoutMs", "account", "region", NULL};
static const char *const pending_fields[] = {"account", "region", "timeoutMs", NULL};
static const char *const no_fields[] = {NULL};

/* A boolean parameter: absent or null leaves *ret false.  -EINVAL after
 * replying InvalidParameter. */
static int parameter_bool(struct call *c, const char *name, bool *ret)
{
	struct json_object *v;

	*ret = false;
	if (!json_object_object_get_ex(call_parameters(c), name, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		call_reply_invalid_parameter(c, name);
		return -EINVAL;
	}
	*ret = json_object_get_boolean(v);
	return 0;
}

/*
 * timeoutMs, account and region, which key calls and scans share, into
 * the ret_ pointers (strings borrowed from the call; left alone when
 * absent or null).  -EINVAL after replying InvalidParameter: a timeoutMs
 * not a positive integer, an account not 12 digits, a region that is not a
 * region name (it becomes part of a host name).
 */
static int scope_parameters(struct call *c, long long *ret_timeout_ms, const char **ret_account,
			    const char **ret_region)
{
	struct json_object *parameters = call_parameters(c), *v;

	if (json_object_object_get_ex(parameters, "timeoutMs", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_int) || (*ret_timeout_ms = json_object_get_int64(v)) <= 0) {
			call_reply_invalid_parameter(c, "timeoutMs");
			return -EINVAL;
		}
	}
	if (json_object_object_get_ex(parameters, "account", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) != 12 ||
		    strspn(json_object_get_string(v), "0123456789") != 12) {
			call_reply_invalid_parameter(c, "account");
			return -EINVAL;
		}
		*ret_account = json_object_get_string(v);
	}
	if (json_object_object_get_ex(parameters, "region", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string) || !endpoint_region_valid(json_object_get_string(v))) {
			call_reply_invalid_parameter(c, "region");
			return -EINVAL;
		}
		*ret_region = json_object_get_string(v);
	}
	return 0;
}

/* Unknown fields: -EINVAL after replying InvalidParameter. */
static int check_fields(struct call *c, const char *const *fields)
{
	const char *unknown = NULL;

	if (varlink_check_fields(call_parameters(c), fields, &unknown) < 0) {
		call_reply_invalid_parameter(c, unknown ? unknown : "parameters");
		return -EINVAL;
	}
	return 0;
}

/*
 * The parameters every key method shares (keyId, timeoutMs, account,
 * region; and enableKey, where fields allows it) into *req.  Strings are
 * borrowed from the call.  -EINVAL after replying InvalidParameter: unknown
 * fields, a keyId that is not a string, or scope_parameters()' reasons.
 */
static int key_parameters(struct call *c, const char *const *fields, struct operation_request *req)
{
	struct json_object *key;

	if (check_fields(c, fields) < 0)
		return -EINVAL;
	if (!json_object_object_get_ex(call_parameters(c), "keyId", &key) ||
	    !json_object_is_type(key, json_type_string)) {
		call_reply_invalid_parameter(c, "keyId");
		return -EINVAL;
	}
	req->key_id = json_object_get_string(key);
	req->key_id_len = (size_t)json_object_get_string_len(key);
	if (parameter_bool(c, "enableKey", &req->enable_key) < 0)
		return -EINVAL;
	return scope_parameters(c, &req->timeout_ms, &req->account, &req->region);
}

static void method_cancel_key_deletion(struct call *c, void *userdata)
{
	struct operation_request req = {.verb = "cancel", .policy_ops = POLICY_OP_CANCEL, .cancel = true};

	/* dryRun first, so that a bad value is never audited as a cancel.  A
	 * dry run is authorised as the cancel it stands for. */
	if (parameter_bool(c, "dryRun", &req.dry_run) < 0 || key_parameters(c, cancel_fields, &req) < 0)
		return;
	operation_start(userdata, c, &req);
}

static void method_describe_key(struct call *c, void *userdata)
{
	struct operation_request req = {.verb = "describe", .policy_ops = POLICY_OP_DESCRIBE};

	if (key_parameters(c, describe_fields, &req) < 0)
		return;
	operation_start(userdata, c, &req);
}

static void method_list_pending_deletions(struct call *c, void *userdata)
{
	struct pending_request req = {0};

	if (check_fields(c, pending_fields) < 0 || scope_parameters(c, &req.timeout_ms, &req.account, &req.region) < 0)
		return;
	pending_start(userdata, c, &req);
}

static void method_get_status(struct call *c, void *userdata)
{
	const char *unknown = NULL;

	if (varlink_check_fields(call_parameters(c), no_fields, &unknown) < 0) {
		call_reply_invalid_parameter(c, unknown ? unknown : "parameters");
		return;
	}
	status_reply(userdata, c);
}

/* WatchGuard streams: a call without "more" is told so (systemd's
 * ExpectedMore), as sd-varlink answers for its own streaming methods. */
static void method_watch_guard(struct call *c, void *userdata)
{
	struct methods_context *ctx = userdata;
	const char *unknown = NULL;

	if (varlink_check_fields(call_parameters(c), no_fields, &unknown) < 0) {
		call_reply_invalid_parameter(c, unknown ? unknown : "parameters");
		return;
	}
	if (!call_wants_more(c)) {
		call_reply_error(c, VARLINK_ERROR_EXPECTED_MORE, NULL);
		return;
	}
	if (!guard_watch_admit(ctx, c))
		return;
	if (!ctx->guard) {
		call_reply_method_not_implemented(c);
		return;
	}
	guard_watch(ctx->guard, c);
}

unsigned methods_shutdown(struct methods_context *ctx)
{
	return operation_shutdown_all(ctx) + pending_shutdown_all(ctx);
}

const struct method kmscancel_methods[] = {
    {"io.kmscancel.CancelKeyDeletion", method_cancel_key_deletion},
    {"io.kmscancel.DescribeKey", method_describe_key},
    {"io.kmscancel.GetStatus", method_get_status},
    {"io.kmscancel.ListPendingDeletions", method_list_pending_deletions},
    {"io.kmscancel.WatchGuard", method_watch_guard},
    {NULL, NULL},
};
