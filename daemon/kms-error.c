/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "kms-error.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

/* Longest error code we keep; real ones are < 64 chars. */
#define ERROR_CODE_MAX 128

static const char *const class_names[_KMS_ERROR_CLASS_MAX] = {
	[KMS_ERROR_PERMANENT] = "permanent",
	[KMS_ERROR_TRANSIENT] = "transient",
	[KMS_ERROR_THROTTLING] = "throttling",
	[KMS_ERROR_CLOCK_SKEW] = "clock-skew",
	[KMS_ERROR_EXPIRED_TOKEN] = "expired-token",
};

const char *kms_error_class_to_string(enum kms_error_class c)
{
	return c < _KMS_ERROR_CLASS_MAX ? class_names[c] : "unknown";
}

/* Reduces "ns.example#FooError:http://internal…" (or a joined header value
 * "FooError,BarError") to "FooError": cut at the first ',' and ':', keep what
 * follows the last '#'. */
static char *error_code_normalize(const char *raw)
{
	size_t n = strcspn(raw, ",:");
	const char *start = raw;

	for (size_t i = 0; i < n; i++)
		if (raw[i] == '#')
			start = raw + i + 1;
	n -= (size_t)(start - raw);
	while (n > 0 && (start[0] == ' ' || start[0] == '\t'))
		start++, n--;
	while (n > 0 && (start[n - 1] == ' ' || start[n - 1] == '\t'))
		n--;
	if (n == 0 || n > ERROR_CODE_MAX)
		return NULL;
	return strndup(start, n);
}

static const char *json_string_member(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *body_parse(const struct http_response *r)
{
	struct json_tokener *tok;
	struct json_object *obj;

	if (!r->body || r->body_len == 0 || r->body_len > INT32_MAX)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	obj = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
	if (obj && (json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(obj, json_type_object))) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

int kms_error_decode(const struct http_response *r, char **ret_code, char **ret_message)
{
	struct json_object *body = body_parse(r);
	const char *raw, *msg;
	char *code = NULL, *message = NULL;
	bool aws_error;
	int rc = -ENOMEM;

	raw = http_response_header(r, "x-amzn-errortype");
	if (!raw)
		raw = json_string_member(body, "code");
	if (!raw)
		raw = json_string_member(body, "__type");
	if (raw)
		code = error_code_normalize(raw);
	aws_error = code != NULL;
	if (!code && asprintf(&code, "%d", r->status) < 0)
		code = NULL;
	if (!code)
		goto out;

	msg = json_string_member(body, "message");
	if (!msg)
		msg = json_string_member(body, "Message");
	if (msg)
		message = strdup(msg);
	else if (aws_error)
		message = strdup(r->reason ? r->reason : "");
	else if (asprintf(&message, "HTTP %d%s%s (the response carries no AWS error)", r->status,
			  r->reason && *r->reason ? " " : "", r->reason ? r->reason : "") < 0)
		message = NULL;
	if (!message)
		goto out;

	*ret_code = code;
	*ret_message = message;
	code = message = NULL;
	rc = 0;
out:
	free(code);
	free(message);
	json_object_put(body);
	return rc;
}

static const struct {
	const char *code;
	kmscancel_error error;
} modeled[] = {
	{ "NotFoundException", KMSCANCEL_E_NOT_FOUND },
	{ "InvalidArnException", KMSCANCEL_E_INVALID_ARN },
	{ "KMSInvalidStateException", KMSCANCEL_E_INVALID_STATE },
	{ "DependencyTimeoutException", KMSCANCEL_E_DEPENDENCY_TIMEOUT },
	{ "KMSInternalException", KMSCANCEL_E_KMS_INTERNAL },
	{ "AccessDeniedException", KMSCANCEL_E_ACCESS_DENIED },
	{ "ThrottlingException", KMSCANCEL_E_THROTTLING },
};

kmscancel_error kms_error_to_kmscancel(const char *code)
{
	for (size_t i = 0; i < sizeof(modeled) / sizeof(modeled[0]); i++)
		if (strcmp(code, modeled[i].code) == 0)
			return modeled[i].error;
	return KMSCANCEL_E_KMS;
}

static bool code_in(const char *code, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(code, *list) == 0)
			return true;
	return false;
}

/* AWS.md §3.1.  LimitExceededException is deliberately absent from the
 * throttling list: for KMS it is a resource quota (EnableKey), not a rate. */
static const char *const transient_codes[] = {
	"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
	"DependencyTimeoutException", "KMSInternalException", "InternalFailure",
	"ServiceUnavailable", NULL,
};
static const char *const throttling_codes[] = {
	"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
	"TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
	"RequestLimitExceeded", "BandwidthLimitExceeded", "RequestThrottled", "SlowDown",
	"EC2ThrottledException", NULL,
};
static const char *const clock_skew_codes[] = {
	"RequestTimeTooSkewed", "RequestExpired", "InvalidSignatureException", "SignatureDoesNotMatch",
	"AuthFailure", "RequestInTheFuture", NULL,
};

enum kms_error_class kms_error_classify(const char *code, int status)
{
	if (code_in(code, throttling_codes))
		return KMS_ERROR_THROTTLING;
	if (code_in(code, transient_codes))
		return KMS_ERROR_TRANSIENT;
	if (code_in(code, clock_skew_codes))
		return KMS_ERROR_CLOCK_SKEW;
	if (strcmp(code, "ExpiredTokenException") == 0 || strcmp(code, "ExpiredToken") == 0)
		return KMS_ERROR_EXPIRED_TOKEN;
	if (status == 500 || status == 502 || status == 503 || status == 504)
		return KMS_ERROR_TRANSIENT;
	return KMS_ERROR_PERMANENT;
}
