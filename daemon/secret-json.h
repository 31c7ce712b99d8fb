/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * JSON that carries credentials (credential_process's output, the container
 * endpoint's and IMDS's answers), parsed with json-c without leaving copies
 * behind.  json-c keeps string values in its own allocations and collects
 * every string in the tokener's buffer first (a printbuf grown by realloc);
 * neither is wiped by json-c.  Here the tokener's buffer is sized for the
 * whole text up front, so it never moves, and is wiped before the tokener
 * goes; string values are wiped before the last reference goes.
 */
#include <stddef.h>

struct json_object;

/* Parses the first JSON value in text[0..len).  Returns 0 with *ret (one
 * reference: drop it with secret_json_put()), -EINVAL when the text is not
 * JSON (or is empty, or too long for json-c), -ENOMEM.  *ret untouched on
 * failure.  The caller still wipes text. */
int secret_json_parse(const char *text, size_t len, struct json_object **ret);

/* Wipes every string value in o (members and elements, recursively), then
 * drops the caller's reference, which must be the last.  NULL-safe; returns
 * NULL. */
struct json_object *secret_json_put(struct json_object *o);
