/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * AWS Signature Version 4 (AWS4-HMAC-SHA256), header signing only.
 * See shared reference AWS.md §6.  Pure functions: no clock, no I/O; the
 * caller supplies the time, so tests are exact and the signer can be used
 * both to sign (kms.c) and to verify (tests/fakes/fake-kms.c).
 *
 * All functions return 0 or a negative errno; outputs are written only on
 * success.  Strings returned through ret_ pointers are malloc'ed and owned
 * by the caller.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_KEY_SIZE 32
#define SIGV4_AMZ_DATE_SIZE 17 /* "20150830T123600Z" + NUL */

struct sigv4_header {
	const char *name;  /* any case; canonicalised to lower case */
	const char *value; /* raw value; trimmed and space-collapsed when canonicalised */
};

/* One HTTP request as it is signed.  headers[] holds exactly the headers to
 * sign (host, x-amz-date, x-amz-target, content-type, x-amz-security-token …),
 * repeated names allowed (joined with ',' in order). */
struct sigv4_request {
	const char *method;
	const char *path;  /* raw path as on the request line, without query */
	const char *query; /* raw query string without '?', or NULL */
	const struct sigv4_header *headers;
	size_t n_headers;
	const void *payload;
	size_t payload_len;
	bool normalize_path; /* remove dot segments / duplicate slashes (all services but S3) */
};

/* "YYYYMMDDTHHMMSSZ" for t (UTC). */
void sigv4_format_amz_date(time_t t, char ret[SIGV4_AMZ_DATE_SIZE]);

/* Canonical request (§6 steps 1–7) and the SignedHeaders list. */
int sigv4_canonical_request(const struct sigv4_request *req, char **ret_canonical, char **ret_signed_headers);

/* String to sign for amz_date ("…T…Z"), region and service. */
int sigv4_string_to_sign(const char *amz_date, const char *region, const char *service,
			 const char *canonical_request, char **ret);

/* kSigning = HMAC chain over "AWS4"+secret, date (YYYYMMDD), region, service, "aws4_request". */
int sigv4_derive_key(const char *secret, const char *date8, const char *region, const char *service,
		     uint8_t ret_key[SIGV4_KEY_SIZE]);

/* Lower-case hex HMAC-SHA256(key, string_to_sign). */
int sigv4_signature(const uint8_t key[SIGV4_KEY_SIZE], const char *string_to_sign, char ret_hex[65]);

/* The whole signature for a request whose headers[] already contain
 * x-amz-date = amz_date: returns the Authorization header value
 * "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
 * SignedHeaders=…, Signature=…". */
int sigv4_authorization(const struct sigv4_request *req, const char *access_key_id,
			const uint8_t key[SIGV4_KEY_SIZE], const char *amz_date, const char *region,
			const char *service, char **ret_authorization);

/* A parsed Authorization header, for verifiers (the fake KMS). */
struct sigv4_parsed_authorization {
	char *access_key_id;
	char *date8; /* scope date */
	char *region;
	char *service;
	char *signed_headers; /* "content-type;host;x-amz-date" */
	char *signature;      /* 64 hex */
};
int sigv4_parse_authorization(const char *value, struct sigv4_parsed_authorization *ret);
void sigv4_parsed_authorization_done(struct sigv4_parsed_authorization *p);

/*
 * Signing-key cache: kSigning depends only on (secret, date, region,
 * service), so it is derived once per UTC day and region.  Entries are keyed
 * by a SHA-256 digest of the secret (the secret itself is never stored) and
 * wiped when evicted or freed.  Not thread-safe (the daemon is one thread).
 */
struct sigv4_key_cache;
struct sigv4_key_cache *sigv4_key_cache_new(void);
struct sigv4_key_cache *sigv4_key_cache_free(struct sigv4_key_cache *c); /* NULL-safe, returns NULL */
int sigv4_key_cache_get(struct sigv4_key_cache *c, const char *secret, const char *date8, const char *region,
			const char *service, uint8_t ret_key[SIGV4_KEY_SIZE]);
/* Drops every entry (credential change). */
void sigv4_key_cache_clear(struct sigv4_key_cache *c);
