/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Checks shared by the credential-answer targets (fuzz-sts, fuzz-imds,
 * fuzz-container, fuzz-credproc): what every credential parser promises.
 */
#include <errno.h>
#include <stdbool.h>
#include <json-c/json.h>

#include "creds.h"
#include "fuzz.h"

/* A secret shorter than this, or with a space, may legitimately occur in
 * an error's fixed text ("the answer has no …"); it is not checked. */
#define FUZZ_SECRET_MIN 16

/* Where the sentinel stands in *ret: a parser must not touch it on failure. */
#define FUZZ_UNTOUCHED ((struct aws_credentials *)(uintptr_t)0x1)

/*
 * The outcome of one parse: success means a usable key pair (and, when the
 * input's secret is known, exactly that secret); failure means *ret
 * untouched and an error that does not quote secret.  Frees what it gets.
 */
static inline void fuzz_check_creds_outcome(int r, struct aws_credentials *c, char *error, const char *secret)
{
	if (r == 0) {
		FUZZ_CHECK(c && c != FUZZ_UNTOUCHED);
		FUZZ_CHECK(c->access_key_id && *c->access_key_id);
		FUZZ_CHECK(c->secret_access_key && *c->secret_access_key);
		FUZZ_CHECK(c->source && *c->source);
		FUZZ_CHECK(!secret || strcmp(secret, c->secret_access_key) == 0);
		FUZZ_CHECK(!c->account_id || strlen(c->account_id) == 12);
		aws_credentials_unref(c);
		FUZZ_CHECK(!error);
		return;
	}
	FUZZ_CHECK(r < 0);
	FUZZ_CHECK(c == FUZZ_UNTOUCHED);
	if (error && secret && strlen(secret) >= FUZZ_SECRET_MIN && !strchr(secret, ' '))
		FUZZ_CHECK(!strstr(error, secret));
	free(error);
}

/*
 * The SecretAccessKey member of a JSON object answer, when it is a string
 * that occurs nowhere else in the object (not in another member's name or
 * string value, which an error may legitimately quote); else NULL.
 * Borrowed from o.
 */
static inline const char *fuzz_json_secret(struct json_object *o)
{
	struct json_object *v;
	const char *secret;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "SecretAccessKey", &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	secret = json_object_get_string(v);
	json_object_object_foreach(o, key, val)
	{
		if (strcmp(key, "SecretAccessKey") == 0)
			continue;
		if (strstr(key, secret) || (json_object_is_type(val, json_type_string) &&
					    strstr(json_object_get_string(val), secret)))
			return NULL;
	}
	return secret;
}

/* Whether a credential member of a JSON object answer has a NUL inside
 * (\u0000): as a C string it would be cut short, so it must not be
 * accepted. */
static inline bool fuzz_json_member_has_nul(struct json_object *o)
{
	static const char *const members[] = {"AccessKeyId", "SecretAccessKey", "SessionToken", "Token",
					      "Expiration"};
	struct json_object *v;

	if (!o || !json_object_is_type(o, json_type_object))
		return false;
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		if (json_object_object_get_ex(o, members[i], &v) && json_object_is_type(v, json_type_string) &&
		    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
			return true;
	return false;
}
