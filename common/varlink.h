/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Varlink at the message level, shared by kmscanceld and libkmscancel.
 *
 * A Varlink message is one JSON object followed by a NUL byte
 * (https://varlink.org/Method-Call).  This module frames, parses and formats
 * such messages and validates the names in them; it does no I/O, never
 * prints, exits or aborts, and depends on json-c and libc only.
 *
 * Conventions: functions return 0 (or a documented positive value) or a
 * negative errno; ret_ outputs are written only on success.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct json_tokener;
struct json_writer;

/* The largest message either side accepts or sends, counting its NUL
 * terminator.  Every io.kmscancel message is well under 4 KiB; the cap is what
 * a peer can make us buffer before we give up on it. */
#define VARLINK_MESSAGE_MAX (64U * 1024U)

/* Longest interface or qualified method/error name we accept.  varlink.org
 * sets no limit; systemd's IDL code uses the same order of magnitude. */
#define VARLINK_NAME_MAX 255U

/* JSON nesting we parse.  Our messages nest 3 deep; json-c's default is 32. */
#define VARLINK_JSON_DEPTH_MAX 32

/* Flags of a call.  oneway, more and upgrade exclude each other. */
enum {
	VARLINK_CALL_ONEWAY = 1U << 0,  /* "oneway": true — no reply is sent */
	VARLINK_CALL_MORE = 1U << 1,    /* "more": true — replies may continue */
	VARLINK_CALL_UPGRADE = 1U << 2, /* "upgrade": true — protocol switch after the reply */
};

/* A decoded method call.  Owns its members; release with varlink_call_done(). */
struct varlink_call {
	char *method;                   /* "io.kmscancel.CancelKeyDeletion", validated */
	struct json_object *parameters; /* always an object, never NULL */
	unsigned flags;                 /* VARLINK_CALL_* */
};

/* A decoded reply.  Owns its members; release with varlink_reply_done(). */
struct varlink_reply {
	char *error;                    /* qualified error name, or NULL on success */
	struct json_object *parameters; /* always an object, never NULL */
	bool continues;                 /* "continues": true (never with error) */
};

/* --- framing ------------------------------------------------------------------ */

/*
 * Find the end of the next message in buf[0..len).
 * Returns 1 and sets *ret_len to the message length without its NUL (the next
 * message starts at buf + *ret_len + 1); 0 if no NUL yet and fewer than
 * VARLINK_MESSAGE_MAX bytes are buffered (read more); -EMSGSIZE if the first
 * VARLINK_MESSAGE_MAX bytes hold no NUL, i.e. the message will be too big
 * whatever follows.  buf may be NULL when len is 0.
 */
int varlink_frame_find(const void *buf, size_t len, size_t *ret_len);

/* --- parsing ------------------------------------------------------------------ */

/*
 * Parse a method call from buf[0..len) (without the NUL terminator; a NUL
 * inside the range is an error).
 * "parameters" missing, null or {} all give an empty object.  Returns
 * -EBADMSG for anything that is not a well-formed call: invalid JSON,
 * trailing bytes after the object, a non-object, a missing or non-string
 * method, non-object parameters, an unknown top-level key, a non-boolean flag,
 * or two of oneway/more/upgrade set; -EINVAL when the message is well formed
 * but the method is not a valid qualified name (interface.Member); -ENOMEM.
 * On success *ret is filled and owned by the caller.
 */
int varlink_call_parse(const char *buf, size_t len, struct varlink_call *ret);

/*
 * For a parser of many messages (the daemon): a JSON tokener set up for
 * Varlink (depth limit, strict, UTF-8 checked) that varlink_call_parse_with()
 * reuses, saving the two allocations a new tokener costs per message.  One
 * message at a time: a tokener is not shared between threads.  NULL when out
 * of memory; free it with json_tokener_free().
 */
struct json_tokener *varlink_tokener_new(void);
/* varlink_call_parse() with tok from varlink_tokener_new() (reset here, so
 * nothing of the previous message carries over); NULL makes a fresh one. */
int varlink_call_parse_with(struct json_tokener *tok, const char *buf, size_t len, struct varlink_call *ret);
void varlink_call_done(struct varlink_call *call);

/*
 * Parse a reply from buf[0..len) (without the NUL).  Accepts "parameters"
 * (object, null or missing), "error" (a valid qualified name) and
 * "continues" (bool).  Returns -EBADMSG for invalid JSON, trailing bytes,
 * unknown keys, wrong types, an invalid error name, or "continues": true with
 * an error (an error is final); -ENOMEM.
 */
int varlink_reply_parse(const char *buf, size_t len, struct varlink_reply *ret);
void varlink_reply_done(struct varlink_reply *reply);

/* --- formatting ---------------------------------------------------------------- */

/*
 * Each formatter builds one message in a malloc'ed buffer *including* its
 * NUL terminator, so the caller writes (ret, *ret_len) in one go; the caller
 * frees *ret.  parameters is borrowed and may be NULL (sent as {}); it must
 * be an object.  The message is valid UTF-8 whatever the strings in the
 * parameters hold: ill-formed sequences become U+FFFD (utf8.h).
 * Returns -EINVAL for an invalid name, non-object parameters
 * or bad flags, -EMSGSIZE if the message would exceed VARLINK_MESSAGE_MAX,
 * -ENOMEM.
 */
int varlink_format_call(const char *method, struct json_object *parameters, unsigned flags, char **ret,
			size_t *ret_len);
int varlink_format_reply(struct json_object *parameters, bool continues, char **ret, size_t *ret_len);
/* The same with parameters written by a finished json_writer (borrowed),
 * which saves json-c's object tree where replies are many.  -EINVAL if the
 * writer is not finished, -ENOMEM if it ran out of memory. */
int varlink_format_reply_written(const struct json_writer *parameters, bool continues, char **ret, size_t *ret_len);
int varlink_format_error(const char *error, struct json_object *parameters, char **ret, size_t *ret_len);

/* --- names (https://varlink.org/Interface-Definition) ----------------------------- */

/* Interface: lowercase reverse-DNS, at least two labels,
 * [a-z]([-]*[a-z0-9])*(\.[a-z0-9]([-]*[a-z0-9])*)+, at most VARLINK_NAME_MAX. */
bool varlink_interface_name_is_valid(const char *s);
/* Method, error and type names: [A-Z][A-Za-z0-9]*. */
bool varlink_member_name_is_valid(const char *s);
/* Field names: [A-Za-z]([_]?[A-Za-z0-9])*. */
bool varlink_field_name_is_valid(const char *s);
/* interface "." Member, e.g. "io.kmscancel.CancelKeyDeletion". */
bool varlink_qualified_name_is_valid(const char *s);

/*
 * Split a valid qualified name at its last dot: *ret_interface_len is the
 * length of the interface part, *ret_member points into name.  No allocation.
 * Returns -EINVAL if name is not a valid qualified name.
 */
int varlink_qualified_name_split(const char *name, size_t *ret_interface_len, const char **ret_member);

/* --- typed field getters for parameter objects --------------------------------------- */

/*
 * Fetch obj[key] with a type check.  Return 0 and set *ret; -ENOENT if the key
 * is absent or null (Varlink's "?type" fields), -EINVAL if it has another
 * type.  Strings containing a NUL (JSON "\u0000") are -EINVAL too, so the
 * result can be used as a C string.  Integers must be JSON integers within
 * int64 (1.0 and 1e3 are not).  The string is borrowed from obj.
 */
int varlink_get_string(struct json_object *obj, const char *key, const char **ret);
int varlink_get_bool(struct json_object *obj, const char *key, bool *ret);
int varlink_get_int64(struct json_object *obj, const char *key, int64_t *ret);

/*
 * Check that obj has no key outside the NULL-terminated list allowed.
 * Returns 0, or -EINVAL and sets *ret_unknown (borrowed from obj; may be
 * NULL) to the first unknown key, for an InvalidParameter reply.
 */
int varlink_check_fields(struct json_object *obj, const char *const *allowed, const char **ret_unknown);
