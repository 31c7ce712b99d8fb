/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What an AWS JSON-protocol error response means: its code and message
 * (AWS.md §1.4), which io.kmscancel error it becomes, and whether the
 * standard retry mode retries it (AWS.md §3.1).
 */
#include "kmscancel.h"

struct http_response;

enum kms_error_class {
	KMS_ERROR_PERMANENT,     /* not retried: NotFound, InvalidState, AccessDenied, other 4xx */
	KMS_ERROR_TRANSIENT,     /* 5xx, DependencyTimeout, KMSInternal, RequestTimeout… */
	KMS_ERROR_THROTTLING,    /* ThrottlingException and its kin */
	KMS_ERROR_CLOCK_SKEW,    /* InvalidSignature / RequestExpired…: maybe our clock */
	KMS_ERROR_EXPIRED_TOKEN, /* ExpiredTokenException: refresh credentials, retry once */
	_KMS_ERROR_CLASS_MAX,
};
const char *kms_error_class_to_string(enum kms_error_class c);

/* Decodes an error response (status >= 300): the bare error code (from
 * X-Amzn-Errortype, body "code" or "__type", namespace and ":…" suffix cut;
 * the HTTP status as text when none) and the message ("message" or
 * "Message", else the reason phrase, else empty).  Both malloc'ed.  Never
 * fails on garbage bodies: an HTML page from a proxy still yields a code
 * ("500") and a message.  Returns 0 or -ENOMEM. */
int kms_error_decode(const struct http_response *r, char **ret_code, char **ret_message);

/* The io.kmscancel error for an AWS error code: the modeled KMS exceptions
 * map to their own names, anything else to KMSCANCEL_E_KMS. */
kmscancel_error kms_error_to_kmscancel(const char *code);

/* Retry class of an error code with the HTTP status it came with. */
enum kms_error_class kms_error_classify(const char *code, int status);
