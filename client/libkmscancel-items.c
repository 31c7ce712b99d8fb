/* SPDX-License-Identifier: MIT */
/*
 * The items the streaming calls of libkmscancel hand out: a key pending
 * deletion (ListPendingDeletions) and a guard event (WatchGuard), each the
 * reply's member object checked once on arrival so that the accessors can
 * trust its types; and the per-region scans of a listing's final reply.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "libkmscancel-internal.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "varlink.h"

struct kmscancel_pending_key {
	struct json_object *o; /* the reply's "key", a reference */
};

struct kmscancel_guard_event {
	struct json_object *o; /* the reply's "event", a reference */
};

/* The kind of one field an item may carry. */
enum field_type {
	FIELD_STRING,
	FIELD_INT,
	FIELD_STRINGS, /* an array of strings */
};

struct field {
	const char *name;
	enum field_type type;
	bool required;
};

static const struct field pending_key_fields[] = {
    {"keyId", FIELD_STRING, true},
    {"keyState", FIELD_STRING, true},
    {"deletionDate", FIELD_STRING, false},
    {"pendingDeletionWindowInDays", FIELD_INT, false},
    {"account", FIELD_STRING, true},
    {"region", FIELD_STRING, true},
    {"description", FIELD_STRING, false},
    {"aliases", FIELD_STRINGS, false},
    {NULL, 0, false},
};

static const struct field guard_event_fields[] = {
    {"time", FIELD_STRING, true},          {"event", FIELD_STRING, true},     {"key", FIELD_STRING, true},
    {"keyId", FIELD_STRING, false},        {"account", FIELD_STRING, false},  {"region", FIELD_STRING, false},
    {"deletionDate", FIELD_STRING, false}, {"keyState", FIELD_STRING, false}, {"requestIds", FIELD_STRINGS, false},
    {"error", FIELD_STRING, false},        {"message", FIELD_STRING, false},  {NULL, 0, false},
};

static bool strings_valid(struct json_object *a)
{
	if (!json_object_is_type(a, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *s = json_object_array_get_idx(a, i);

		if (!json_object_is_type(s, json_type_string) ||
		    strlen(json_object_get_string(s)) != (size_t)json_object_get_string_len(s))
			return false; /* not a string, or one with a NUL */
	}
	return true;
}

/* Whether o has every required field, and every known field present (and
 * not null) has its type.  Unknown fields are a newer daemon's: kept. */
static bool fields_valid(struct json_object *o, const struct field *fields)
{
	if (!json_object_is_type(o, json_type_object))
		return false;
	for (const struct field *f = fields; f->name; f++) {
		struct json_object *v = NULL;
		const char *s;
		int64_t n;
		int r = 0;

		switch (f->type) {
		case FIELD_STRING:
			r = varlink_get_string(o, f->name, &s);
			break;
		case FIELD_INT:
			r = varlink_get_int64(o, f->name, &n);
			break;
		case FIELD_STRINGS:
			if (!json_object_object_get_ex(o, f->name, &v) || !v)
				r = -ENOENT;
			else if (!strings_valid(v))
				r = -EINVAL;
			break;
		}
		if (r == -EINVAL || (r == -ENOENT && f->required))
			return false;
	}
	return true;
}

/* params[name], checked against fields, as a new reference in *ret (NULL
 * when absent or null). */
static int item_member(struct json_object *params, const char *name, const struct field *fields,
		       struct json_object **ret)
{
	struct json_object *o;

	if (!json_object_object_get_ex(params, name, &o) || !o) {
		*ret = NULL;
		return 0;
	}
	if (!fields_valid(o, fields))
		return -EBADMSG;
	*ret = json_object_get(o);
	return 0;
}

int pending_key_from_reply(struct json_object *params, kmscancel_pending_key **ret)
{
	kmscancel_pending_key *k;
	struct json_object *o;
	int r = item_member(params, "key", pending_key_fields, &o);

	if (r < 0)
		return r;
	if (!o) {
		*ret = NULL;
		return 0;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		json_object_put(o);
		return -ENOMEM;
	}
	k->o = o;
	*ret = k;
	return 0;
}

int guard_event_from_reply(struct json_object *params, kmscancel_guard_event **ret)
{
	kmscancel_guard_event *e;
	struct json_object *o;
	int r = item_member(params, "event", guard_event_fields, &o);

	if (r < 0)
		return r;
	if (!o) {
		*ret = NULL;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		json_object_put(o);
		return -ENOMEM;
	}
	e->o = o;
	*ret = e;
	return 0;
}

/* --- accessors ------------------------------------------------------------------------------------ */

/* o[key] if a string, else NULL (o may be NULL). */
static const char *member_string(struct json_object *o, const char *key)
{
	const char *s;

	return o && varlink_get_string(o, key, &s) == 0 ? s : NULL;
}

static size_t member_array_length(struct json_object *o, const char *key)
{
	struct json_object *a;

	if (!o || !json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
		return 0;
	return json_object_array_length(a);
}

static const char *member_array_string(struct json_object *o, const char *key, size_t i)
{
	struct json_object *a;

	if (i >= member_array_length(o, key) || !json_object_object_get_ex(o, key, &a))
		return NULL;
	return json_object_get_string(json_object_array_get_idx(a, i));
}

static const char *member_json(struct json_object *o)
{
	return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
}

KMSCANCEL_API void kmscancel_pending_key_free(kmscancel_pending_key *k)
{
	if (!k)
		return;
	json_object_put(k->o);
	free(k);
}

KMSCANCEL_API const char *kmscancel_pending_key_id(const kmscancel_pending_key *k)
{
	return member_string(k ? k->o : NULL, "keyId");
}

KMSCANCEL_API const char *kmscancel_pending_key_state(const kmscancel_pending_key *k)
{
	return member_string(k ? k->o : NULL, "keyState");
}

KMSCANCEL_API const char *kmscancel_pending_key_deletion_date(const kmscancel_pending_key *k)
{
	return member_string(k ? k->o : NULL, "deletionDate");
}

KMSCANCEL_API int kmscancel_pending_key_window_days(const kmscancel_pending_key *k)
{
	int64_t n;

	if (!k || varlink_get_int64(k->o, "pendingDeletionWindowInDays", &n) < 0 || n < 0)
		return -1;
	return n > INT_MAX ? INT_MAX : (int)n;
}

KMSCANCEL_API const char *kmscancel_pending_key_account(const kmscancel_pending_key *k)
{
	return member_string(k ? k->o : NULL, "account");
}

KMSCANCEL_API const char *kmscancel_pending_key_region(const kmscancel_pending_key *k)
{
	return member_string(k ? k->o : NULL, "region");
}

KMSCANCEL_API const char *kmscancel_pending_key_description(const kmscancel_pending_key *k)
{
	return member_string(k ? k->o : NULL, "description");
}

KMSCANCEL_API size_t kmscancel_pending_key_alias_count(const kmscancel_pending_key *k)
{
	return member_array_length(k ? k->o : NULL, "aliases");
}

KMSCANCEL_API const char *kmscancel_pending_key_alias(const kmscancel_pending_key *k, size_t i)
{
	return member_array_string(k ? k->o : NULL, "aliases", i);
}

KMSCANCEL_API const char *kmscancel_pending_key_json(const kmscancel_pending_key *k)
{
	return member_json(k ? k->o : NULL);
}

KMSCANCEL_API void kmscancel_guard_event_free(kmscancel_guard_event *e)
{
	if (!e)
		return;
	json_object_put(e->o);
	free(e);
}

KMSCANCEL_API const char *kmscancel_guard_event_time(const kmscancel_guard_event *e)
{
	return member_string(e ? e->o : NULL, "time");
}

KMSCANCEL_API const char *kmscancel_guard_event_name(const kmscancel_guard_event *e)
{
	return member_string(e ? e->o : NULL, "event");
}

KMSCANCEL_API const char *kmscancel_guard_event_key(const kmscancel_guard_event *e)
{
	return member_string(e ? e->o : NULL, "key");
}

KMSCANCEL_API const char *kmscancel_guard_event_key_id(const kmscancel_guard_event *e)
{
	return member_string(e ? e->o : NULL, "keyId");
}

KMSCANCEL_API const char *kmscancel_guard_event_account(const kmscancel_guard_event *e)
{
	return member_string(e ? e->o : NULL, "account");
}

KMSCANCEL_API const char *kmscancel_guard_event_region(const kmscancel_guard_event *e)
{
	return member_string(e ? e->o : NULL, "region");
}

KMSCANCEL_API const char *kmscancel_guard_event_deletion_date(const kmscancel_guard_event *e)
{
	return member_string(e ? e->o : NULL, "deletionDate");
}

KMSCANCEL_API const char *kmscancel_guard_event_key_state(const kmscancel_guard_event *e)
{
	return member_string(e ? e->o : NULL, "keyState");
}

KMSCANCEL_API size_t kmscancel_guard_event_request_id_count(const kmscancel_guard_event *e)
{
	return member_array_length(e ? e->o : NULL, "requestIds");
}

KMSCANCEL_API const char *kmscancel_guard_event_request_id(const kmscancel_guard_event *e, size_t i)
{
	return member_array_string(e ? e->o : NULL, "requestIds", i);
}

KMSCANCEL_API const char *kmscancel_guard_event_error(const kmscancel_guard_event *e)
{
	return member_string(e ? e->o : NULL, "error");
}

KMSCANCEL_API const char *kmscancel_guard_event_message(const kmscancel_guard_event *e)
{
	return member_string(e ? e->o : NULL, "message");
}

KMSCANCEL_API const char *kmscancel_guard_event_json(const kmscancel_guard_event *e)
{
	return member_json(e ? e->o : NULL);
}

/* --- the scans of a listing ------------------------------------------------------------------------- */

static const struct field scan_fields[] = {
    {"account", FIELD_STRING, true},
    {"region", FIELD_STRING, true},
    {"error", FIELD_STRING, false},
    {"message", FIELD_STRING, false},
    {NULL, 0, false},
};

const char *pending_scans_check(struct json_object *params)
{
	struct json_object *a;

	if (!json_object_object_get_ex(params, "scans", &a) || !a)
		return NULL;
	if (!json_object_is_type(a, json_type_array))
		return "\"scans\" is not an array";
	for (size_t i = 0; i < json_object_array_length(a); i++)
		if (!fields_valid(json_object_array_get_idx(a, i), scan_fields))
			return "an entry of \"scans\" lacks its account or region, or has a field of the wrong type";
	return NULL;
}

/* The i-th scan of a listing's successful result, or NULL.  Only a
 * listing's "scans" were checked (pending_scans_check): another call's
 * reply may carry anything under that name. */
static struct json_object *result_scan(const kmscancel_result *r, size_t i)
{
	struct json_object *a;

	if (!r || !r->listing || r->error != KMSCANCEL_OK || !r->parameters ||
	    !json_object_object_get_ex(r->parameters, "scans", &a) || !json_object_is_type(a, json_type_array) ||
	    i >= json_object_array_length(a))
		return NULL;
	return json_object_array_get_idx(a, i);
}

KMSCANCEL_API size_t kmscancel_result_scan_count(const kmscancel_result *r)
{
	return r && r->listing && r->error == KMSCANCEL_OK ? member_array_length(r->parameters, "scans") : 0;
}

KMSCANCEL_API const char *kmscancel_result_scan_account(const kmscancel_result *r, size_t i)
{
	return member_string(result_scan(r, i), "account");
}

KMSCANCEL_API const char *kmscancel_result_scan_region(const kmscancel_result *r, size_t i)
{
	return member_string(result_scan(r, i), "region");
}

KMSCANCEL_API const char *kmscancel_result_scan_error(const kmscancel_result *r, size_t i)
{
	return member_string(result_scan(r, i), "error");
}

KMSCANCEL_API const char *kmscancel_result_scan_message(const kmscancel_result *r, size_t i)
{
	return member_string(result_scan(r, i), "message");
}
