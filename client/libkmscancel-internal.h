/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/*
 * What the files of libkmscancel share and the public header does not show:
 *   libkmscancel.c        the handle, its connection, the calls and their queues
 *   libkmscancel-items.c  the items of the streaming calls (pending keys, guard
 *                         events) and the scans of a listing's final reply
 */
#include <json-c/json.h>

#include "kmscancel.h"

struct kmscancel_result {
	kmscancel_error error;
	char *error_name;               /* NULL on success (or if out of memory) */
	char *message;                  /* NULL on success (or if out of memory) */
	struct json_object *parameters; /* the reply's, NULL for library-local outcomes */
	bool listing;                   /* a ListPendingDeletions final reply: its "scans" were checked */
};

/*
 * The key of one ListPendingDeletions reply (params borrowed; the key takes a
 * reference to its member).  Returns 0 and a new key in *ret (owned by the
 * caller), 0 and *ret NULL when the reply has no key, -EBADMSG when the key
 * lacks a required field or has one of the wrong type, -ENOMEM.
 */
int pending_key_from_reply(struct json_object *params, kmscancel_pending_key **ret);

/* The same for the event of a WatchGuard reply. */
int guard_event_from_reply(struct json_object *params, kmscancel_guard_event **ret);

/* Whether the final reply of ListPendingDeletions is well formed: "scans",
 * when present, an array of objects with string account and region and
 * optional string error and message.  NULL if so, else what is wrong
 * (static text). */
const char *pending_scans_check(struct json_object *params);
