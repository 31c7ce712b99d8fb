/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A writer for flat JSON objects ({"key":"text","n":1,"b":true}), for the
 * replies the daemon sends on every call: json-c's object tree, hash tables
 * and serialiser cost several times what writing the few bytes takes.
 * Strings are escaped ('"', '\\' and control characters) and ill-formed
 * UTF-8 in them is replaced by U+FFFD (utf8.h), so whatever a caller
 * passes, the result is one valid JSON object in valid UTF-8; well-formed
 * UTF-8 is copied as it is.
 *
 * Usage: struct json_writer w = {0}; json_writer_add_*(&w, …) …;
 * json_writer_finish(&w) (then read w.out.p, w.out.len); json_writer_done(&w).
 * Appends never fail visibly (struct strbuf): json_writer_finish() reports
 * an allocation failure.  No I/O; depends on libc only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

struct json_writer {
	struct strbuf out; /* the text so far */
	size_t members;
	bool finished;
};

/* Adds "key":"value" (value NULL: "key":null). */
void json_writer_add_string(struct json_writer *w, const char *key, const char *value);
void json_writer_add_int(struct json_writer *w, const char *key, int64_t value);
void json_writer_add_bool(struct json_writer *w, const char *key, bool value);

/* Closes the object ({} when nothing was added); w->out.p and w->out.len
 * then hold it.  Returns 0, or -ENOMEM if any append or the closing ran out of memory.
 * Nothing may be added afterwards. */
int json_writer_finish(struct json_writer *w);

/* Frees the buffer and resets w; NULL-safe. */
void json_writer_done(struct json_writer *w);
