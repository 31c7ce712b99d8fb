/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * AWS Signature Version 4 (AWS4-HMAC-SHA256), header signing only.
 * See shared reference AWS.md §6.  Pure functions: no clock, no I/O; the
 * caller supplies the time, so tests are exact and the signer can be used
 * both to sign (kms.c) and to verify (tests/fakes/fake-kms.c).
 *
 * All functions return 0 or a negative errno (-EINVAL for malformed input,
 * -ENOMEM, -EIO when OpenSSL fails); outputs are written only on success.
 * Strings returned through ret_ pointers are malloc'ed and owned by the
 * caller.  HMAC is OpenSSL's EVP_MAC, so a FIPS-configured OpenSSL
 * computes every hash and MAC here in its FIPS provider.  Not thread-safe:
 * one SHA-256 context and the HMAC context keyed with the last signing key
 * are reused by every call (OpenSSL 3's per-call set-up cost more than the
 * hashing), and the daemon and the fakes run one thread.
 *
 * Checked against every header-signing vector of the AWS test suite as
 * shipped by aws-c-auth and botocore (tests/unit/test-sigv4.c).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SIGV4_ALGORITHM     "AWS4-HMAC-SHA256"
#define SIGV4_KEY_SIZE      32
#define SIGV4_AMZ_DATE_SIZE 17 /* "20150830T123600Z" + NUL */
#define SIGV4_HEX_SIZE      65 /* 64 lower-case hex digits + NUL (signatures, payload hashes) */

/* Hard limits on what a request may carry, so a verifier fed by a peer
 * (the fake KMS) does bounded work.  Real KMS requests use 4 or 5 headers. */
#define SIGV4_MAX_HEADERS            256
#define SIGV4_MAX_SECRET_SIZE        1024 /* AWS secrets are 40 characters */
#define SIGV4_MAX_AUTHORIZATION_SIZE 8192

struct sigv4_header {
	const char *name;  /* any case; canonicalised to lower case; must be an RFC 9110 token */
	const char *value; /* raw value; trimmed and space-collapsed when canonicalised */
};

/* One HTTP request as it is signed.  headers[] holds exactly the headers to
 * sign (host, x-amz-date, x-amz-target, content-type, x-amz-security-token …),
 * repeated names allowed (joined with ',' in order).  The signer signs what
 * it is given: leaving out hop-by-hop headers (connection, user-agent, …,
 * AWS.md §6 step 5) is the caller's job. */
struct sigv4_request {
	const char *method;
	const char *path;  /* raw path as on the request line, without query: starts with '/' (or is
			      empty, meaning "/"); its bytes are URI-encoded exactly once, so a '%' on
			      the wire becomes %25 (AWS's "double encoding" for non-S3 services) */
	const char *query; /* raw query string without '?', or NULL; %XX escapes are decoded then
			      re-encoded, so both "ሴ" and "%E1%88%B4" sign as %E1%88%B4; '+' is a
			      literal plus, not a space */
	const struct sigv4_header *headers;
	size_t n_headers;    /* ≤ SIGV4_MAX_HEADERS */
	const void *payload; /* may be NULL when payload_len is 0 */
	size_t payload_len;
	bool normalize_path; /* remove dot segments / duplicate slashes (all services but S3) */
};

/* "YYYYMMDDTHHMMSSZ" for t (UTC).  A time outside years 0000–9999 yields
 * "00000000T000000Z", which every sigv4_* function rejects, so an absurd
 * clock fails locally instead of producing a request AWS would refuse. */
void sigv4_format_amz_date(time_t t, char ret[SIGV4_AMZ_DATE_SIZE]);

/* Lower-case hex SHA-256 of the payload (the last line of the canonical
 * request; also the x-amz-content-sha256 value where a service wants it). */
int sigv4_payload_hash(const void *payload, size_t payload_len, char ret_hex[SIGV4_HEX_SIZE]);

/* Canonical request (§6 steps 1–7) and the SignedHeaders list. */
int sigv4_canonical_request(const struct sigv4_request *req, char **ret_canonical, char **ret_signed_headers);

/* String to sign for amz_date ("…T…Z"), region and service. */
int sigv4_string_to_sign(const char *amz_date, const char *region, const char *service, const char *canonical_request,
			 char **ret);

/* kSigning = HMAC chain over "AWS4"+secret, date (YYYYMMDD), region, service, "aws4_request".
 * ret_key is secret material: wipe it (explicit_bzero) when done. */
int sigv4_derive_key(const char *secret, const char *date8, const char *region, const char *service,
		     uint8_t ret_key[SIGV4_KEY_SIZE]);

/* Lower-case hex HMAC-SHA256(key, string_to_sign). */
int sigv4_signature(const uint8_t key[SIGV4_KEY_SIZE], const char *string_to_sign, char ret_hex[65]);

/* The whole signature for a request whose headers[] already contain
 * x-amz-date = amz_date (exactly once; -EINVAL otherwise, because the
 * scope date must match the signed date): returns the Authorization header
 * value "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
 * SignedHeaders=…, Signature=…".  key must have been derived for amz_date's
 * day, region and service (the signer cannot check that). */
int sigv4_authorization(const struct sigv4_request *req, const char *access_key_id, const uint8_t key[SIGV4_KEY_SIZE],
			const char *amz_date, const char *region, const char *service, char **ret_authorization);

/* Constant-time comparison of two hex signatures, for verifiers; false if
 * either is NULL or not 64 characters long. */
bool sigv4_signature_equal(const char *a, const char *b);

/* A parsed Authorization header, for verifiers (the fake KMS). */
struct sigv4_parsed_authorization {
	char *access_key_id;
	char *date8; /* scope date */
	char *region;
	char *service;
	char *signed_headers; /* "content-type;host;x-amz-date" */
	char *signature;      /* 64 hex */
};
/* Accepts "AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/region/service/aws4_request,
 * SignedHeaders=a;b, Signature=<64 lower-case hex>": the three parts in any
 * order, each exactly once, with optional spaces/tabs around the commas and
 * around the whole value (clients differ on ", " versus ","); nothing else.
 * On success fills *ret (free with sigv4_parsed_authorization_done). */
int sigv4_parse_authorization(const char *value, struct sigv4_parsed_authorization *ret);
/* Frees the fields and zeroes *p; NULL-safe, may be called twice. */
void sigv4_parsed_authorization_done(struct sigv4_parsed_authorization *p);

/*
 * Signing-key cache: kSigning depends only on (secret, date, region,
 * service), so it is derived once per UTC day and region.  Entries are keyed
 * by a SHA-256 digest of the secret, date, region and service, salted with
 * random bytes per cache (the secret itself is never stored, and the digest
 * is useless outside this process); at most SIGV4_KEY_CACHE_SIZE entries,
 * the least recently used one evicted.  Keys are wiped when evicted, cleared
 * or freed.  Not thread-safe (the daemon is one thread).
 */
#define SIGV4_KEY_CACHE_SIZE 16

struct sigv4_key_cache;
/* NULL when out of memory or the random salt cannot be drawn. */
struct sigv4_key_cache *sigv4_key_cache_new(void);
struct sigv4_key_cache *sigv4_key_cache_free(struct sigv4_key_cache *c); /* NULL-safe, returns NULL */
/* The signing key for these inputs, derived on a miss.  ret_key is secret
 * material: wipe it when done. */
int sigv4_key_cache_get(struct sigv4_key_cache *c, const char *secret, const char *date8, const char *region,
			const char *service, uint8_t ret_key[SIGV4_KEY_SIZE]);
/* Drops every entry (credential change). */
void sigv4_key_cache_clear(struct sigv4_key_cache *c);

/* Counters for GetStatus and tests. */
struct sigv4_key_cache_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t evictions; /* entries pushed out by capacity (not by clear) */
	size_t entries;     /* currently held, ≤ SIGV4_KEY_CACHE_SIZE */
};
void sigv4_key_cache_get_stats(const struct sigv4_key_cache *c, struct sigv4_key_cache_stats *ret);
