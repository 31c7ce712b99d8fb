/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "kms-wire.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"
#include "timeutil.h"
#include "url.h"

#define KMS_SERVICE       "kms"
#define KMS_TARGET_PREFIX "TrentService."
#define KMS_CONTENT_TYPE  "application/x-amz-json-1.1"
#define USER_AGENT        "kmscanceld/" PACKAGE_VERSION

/*
 * The signing key of the last request.  Requests one after another nearly
 * always sign with the same credentials, day and region, and finding the key
 * in the sigv4 cache means hashing the secret again (~6,000 instructions, 4 %
 * of a cancel).  The memo holds a reference to the credentials the key was
 * derived from, so the same pointer means the same secret (and keeps those
 * credentials, in the secure heap, until a request signs with others).  The
 * key is secret: the memo lives in the secure heap and is wiped when replaced.
 */
#define MEMO_REGION_MAX 63 /* longer regions (none exist) skip the memo */

struct signing_memo {
	struct aws_credentials *creds; /* a reference; NULL: empty */
	char date8[9];
	char region[MEMO_REGION_MAX + 1];
	uint8_t key[SIGV4_KEY_SIZE];
};

struct kms_signer {
	struct sigv4_key_cache *keys;
	struct signing_memo *memo; /* secure heap */
};

/* Empties the memo: drops its reference and wipes the key. */
static void memo_clear(struct signing_memo *m)
{
	if (!m)
		return;
	aws_credentials_unref(m->creds);
	OPENSSL_cleanse(m, sizeof(*m));
}

struct kms_signer *kms_signer_new(void)
{
	struct kms_signer *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->keys = sigv4_key_cache_new();
	s->memo = OPENSSL_secure_zalloc(sizeof(*s->memo));
	if (!s->keys || !s->memo)
		return kms_signer_free(s);
	return s;
}

struct kms_signer *kms_signer_free(struct kms_signer *s)
{
	if (!s)
		return NULL;
	sigv4_key_cache_free(s->keys);
	if (s->memo) {
		memo_clear(s->memo);
		OPENSSL_secure_clear_free(s->memo, sizeof(*s->memo));
	}
	free(s);
	return NULL;
}

void kms_signer_forget(struct kms_signer *s)
{
	sigv4_key_cache_clear(s->keys);
	memo_clear(s->memo);
}

/* Finds the signing key for these credentials, day and region: from the
 * memo, else from the sigv4 cache (deriving it on a miss), and remembers it.
 * ret_key is secret: the caller wipes it. */
static int signing_key(struct kms_signer *s, struct aws_credentials *cr, const char *date8, const char *region,
		       uint8_t ret_key[SIGV4_KEY_SIZE])
{
	struct signing_memo *m = s->memo;
	int r;

	if (m->creds == cr && strcmp(m->date8, date8) == 0 && strcmp(m->region, region) == 0) {
		memcpy(ret_key, m->key, SIGV4_KEY_SIZE);
		return 0;
	}
	r = sigv4_key_cache_get(s->keys, cr->secret_access_key, date8, region, KMS_SERVICE, ret_key);
	if (r < 0 || strlen(date8) >= sizeof(m->date8) || strlen(region) >= sizeof(m->region))
		return r;
	memo_clear(m);
	m->creds = aws_credentials_ref(cr);
	strcpy(m->date8, date8);
	strcpy(m->region, region);
	memcpy(m->key, ret_key, SIGV4_KEY_SIZE);
	return 0;
}

int kms_sign(struct kms_signer *s, struct aws_credentials *cr, const char *operation, const struct url *u,
	     const char *region, const char *body, time_t when, struct kms_signature *ret)
{
	char *amz_date = ret->amz_date, *target = ret->target, date8[9];
	uint8_t key[SIGV4_KEY_SIZE];
	size_t n_signed = 4;
	int r;

	sigv4_format_amz_date(when, amz_date);
	memcpy(date8, amz_date, 8);
	date8[8] = '\0';
	snprintf(target, sizeof(ret->target), KMS_TARGET_PREFIX "%s", operation);

	/* Sorted by name already, though the signer does not rely on it. */
	struct sigv4_header signed_headers[5] = {
		{ "Content-Type", KMS_CONTENT_TYPE },
		{ "Host", u->host_header },
		{ "X-Amz-Date", amz_date },
		{ "X-Amz-Target", target },
	};
	if (cr->session_token)
		signed_headers[n_signed++] = (struct sigv4_header){ "X-Amz-Security-Token", cr->session_token };

	struct sigv4_request req = {
		.method = "POST",
		.path = u->path,
		.headers = signed_headers,
		.n_headers = n_signed,
		.payload = body,
		.payload_len = strlen(body),
		.normalize_path = true,
	};

	r = signing_key(s, cr, date8, region, key);
	if (r < 0)
		return r;
	r = sigv4_authorization(&req, cr->access_key_id, key, amz_date, region, KMS_SERVICE, &ret->authorization);
	explicit_bzero(key, sizeof(key));
	return r;
}

size_t kms_request_headers(const struct kms_signature *sig, const char *token,
			   struct http_request_header ret[KMS_REQUEST_HEADERS_MAX])
{
	ret[0] = (struct http_request_header){ "Content-Type", KMS_CONTENT_TYPE };
	ret[1] = (struct http_request_header){ "X-Amz-Date", sig->amz_date };
	ret[2] = (struct http_request_header){ "X-Amz-Target", sig->target };
	ret[3] = (struct http_request_header){ "Authorization", sig->authorization };
	ret[4] = (struct http_request_header){ "User-Agent", USER_AGENT };
	ret[5] = (struct http_request_header){ "X-Amz-Security-Token", token };
	return token ? 6 : 5;
}

/* True if s goes into a JSON string as it is: printable ASCII without '"'
 * or '\\' (json-c leaves '/' alone with JSON_C_TO_STRING_NOSLASHESCAPE). */
static bool json_plain(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f || *s == '"' || *s == '\\')
			return false;
	return true;
}

/* Key IDs and ARNs are plain ASCII, so the body is written by hand, as
 * json-c would write it: its object, printbuf and copy cost ~3,000
 * instructions.  Anything else goes through json-c, which escapes it. */
char *kms_request_body(const char *key_id)
{
	static const char head[] = "{\"KeyId\":\"", tail[] = "\"}";
	struct json_object *o;
	char *s = NULL;

	if (json_plain(key_id)) {
		size_t n = strlen(key_id);

		s = malloc(strlen(head) + n + sizeof(tail));
		if (s) {
			memcpy(s, head, strlen(head));
			memcpy(s + strlen(head), key_id, n);
			memcpy(s + strlen(head) + n, tail, sizeof(tail));
		}
		return s;
	}
	o = json_object_new_object();
	if (!o)
		return NULL;
	if (json_object_object_add(o, "KeyId", json_object_new_string(key_id)) == 0)
		s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/* Paging requests are rare (one per page), so json-c writes them: it
 * escapes a marker, which is KMS's opaque text. */
char *kms_request_body_list(const char *key_id, unsigned limit, const char *marker)
{
	struct json_object *o = json_object_new_object();
	char *s = NULL;
	int r = 0;

	if (!o)
		return NULL;
	if (key_id)
		r = json_object_object_add(o, "KeyId", json_object_new_string(key_id));
	if (r == 0 && limit)
		r = json_object_object_add(o, "Limit", json_object_new_int((int)limit));
	if (r == 0 && marker)
		r = json_object_object_add(o, "Marker", json_object_new_string(marker));
	if (r == 0)
		s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

struct json_object *kms_response_body(struct json_tokener *tok, const struct http_response *resp)
{
	struct json_object *body = NULL;

	json_tokener_reset(tok); /* whatever the last body left in it */
	if (resp->body_len <= INT32_MAX)
		body = json_tokener_parse_ex(tok, resp->body, (int)resp->body_len);
	if (body && (json_tokener_get_error(tok) != json_tokener_success ||
		     !json_object_is_type(body, json_type_object))) {
		json_object_put(body);
		body = NULL;
	}
	return body;
}

struct json_object *kms_timestamp_to_string(struct json_object *v)
{
	char buf[32];

	if (!v || !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
		return NULL;
	if (timeutil_format_iso8601((time_t)json_object_get_double(v), buf, sizeof(buf)) < 0)
		return NULL;
	return json_object_new_string(buf);
}
