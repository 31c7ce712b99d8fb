/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What a KMS call puts on the wire and takes off it (awsJson1_1, AWS.md §1):
 * the request body, the SigV4 signature and headers of one attempt, with
 * the signing keys cached (sigv4.h) and the last one kept at hand, and the
 * body of a 2xx answer.  The keys are secrets: they live in the secure heap
 * and are wiped when dropped.
 */
#include <stddef.h>
#include <time.h>

#include "http.h"
#include "sigv4.h"

struct aws_credentials;
struct json_object;
struct json_tokener;
struct url;

/* The most headers kms_request_headers writes. */
#define KMS_REQUEST_HEADERS_MAX 6

struct kms_signer;

/* NULL when out of memory. */
struct kms_signer *kms_signer_new(void);
/* NULL-safe, returns NULL. */
struct kms_signer *kms_signer_free(struct kms_signer *s);
/* Forgets every key derived so far: they were for days that our clock,
 * now corrected, got wrong. */
void kms_signer_forget(struct kms_signer *s);

/* The headers an attempt is signed with that change from one to the next. */
struct kms_signature {
	char amz_date[SIGV4_AMZ_DATE_SIZE];
	char target[64];     /* X-Amz-Target */
	char *authorization; /* malloc'ed */
};

/* Signs a POST of body to u for operation ("CancelKeyDeletion") in region
 * with cr, dated when (AWS's time: ours plus the learned offset).  Signed
 * per attempt because X-Amz-Date must be fresh.  Returns 0 and fills *ret
 * (free ret->authorization), or a negative errno. */
int kms_sign(struct kms_signer *s, struct aws_credentials *cr, const char *operation, const struct url *u,
	     const char *region, const char *body, time_t when, struct kms_signature *ret);

/* The headers of an attempt signed as sig, into ret (borrowing from sig
 * and token); token is the session token or NULL.  Returns how many. */
size_t kms_request_headers(const struct kms_signature *sig, const char *token,
			   struct http_request_header ret[KMS_REQUEST_HEADERS_MAX]);

/* {"KeyId":"<key_id>"}, malloc'ed; NULL when out of memory. */
char *kms_request_body(const char *key_id);
/* A paging request (ListKeys, ListAliases): {"KeyId"?, "Limit"?, "Marker"?},
 * each left out when NULL or 0; malloc'ed, NULL when out of memory. */
char *kms_request_body_list(const char *key_id, unsigned limit, const char *marker);

/* The JSON object a 2xx answer's non-empty body holds (the caller puts
 * it), or NULL if it holds anything else, is too large, or memory ran
 * out.  tok is reset and reused: a new one costs two callocs. */
struct json_object *kms_response_body(struct json_tokener *tok, const struct http_response *resp);

/* An awsJson timestamp (epoch seconds, a JSON number: CreationDate,
 * DeletionDate) as the RFC 3339 UTC string Varlink callers get; a new
 * reference, or NULL when v is absent, not a number, out of range, or
 * memory ran out. */
struct json_object *kms_timestamp_to_string(struct json_object *v);
