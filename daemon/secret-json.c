/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "secret-json.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>

/* The tokener's printbuf holds each string as it is parsed.  Its size is
 * not reachable through json-c's API but its struct is public (and stable
 * since 0.10). */
static void tokener_free_wiped(struct json_tokener *tok)
{
	if (!tok)
		return;
	if (tok->pb && tok->pb->buf)
		explicit_bzero(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
}

int secret_json_parse(const char *text, size_t len, struct json_object **ret)
{
	struct json_tokener *tok;
	struct json_object *o;
	int r = 0;

	/* + 16: printbuf_memset() wants room for the NUL and its own slack. */
	if (!text || len == 0 || len > INT_MAX - 16)
		return -EINVAL;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	/* No string can be longer than the text: one growth now, while the
	 * buffer holds nothing, and none while it holds a secret. */
	if (printbuf_memset(tok->pb, 0, 0, (int)len + 16) < 0) {
		tokener_free_wiped(tok);
		return -ENOMEM;
	}
	printbuf_reset(tok->pb);
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		secret_json_put(o);
		r = -EINVAL;
	} else
		*ret = o;
	tokener_free_wiped(tok);
	return r;
}

static void wipe_strings(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		/* json-c's own storage: const only by its API. */
		explicit_bzero((char *)json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_object: {
		json_object_object_foreach(o, key, value)
		{
			(void)key;
			wipe_strings(value);
		}
		break;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			wipe_strings(json_object_array_get_idx(o, i));
		break;
	default:
		break;
	}
}

struct json_object *secret_json_put(struct json_object *o)
{
	if (o) {
		wipe_strings(o);
		json_object_put(o);
	}
	return NULL;
}
