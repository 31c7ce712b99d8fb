/* SPDX-License-Identifier: MIT */
/*
 * Varlink framing and message decoding (common/varlink.c), as both the
 * daemon (calls from local clients) and libkmscancel (replies) read them:
 * the input is a byte stream cut into NUL-terminated frames, each parsed as
 * a call and as a reply.  What parses must format again and parse back to
 * the same method/error name.
 */
#include <errno.h>
#include <json-c/json.h>

#include "fuzz.h"
#include "json-writer.h"
#include "varlink.h"

/* The daemon parses every call with one tokener: whatever the inputs before
 * left in it, it must reach the verdict a fresh one reaches. */
static void check_call_reused(const char *msg, size_t len, int expected, const struct varlink_call *expected_call)
{
	static struct json_tokener *shared; /* lives as long as the fuzzer */
	struct varlink_call call;
	int r;

	if (!shared)
		shared = varlink_tokener_new();
	if (!shared)
		return;
	r = varlink_call_parse_with(shared, msg, len, &call);
	FUZZ_CHECK(r == expected || r == -ENOMEM || expected == -ENOMEM);
	if (r < 0)
		return;
	if (expected == 0)
		FUZZ_CHECK(strcmp(call.method, expected_call->method) == 0 && call.flags == expected_call->flags);
	varlink_call_done(&call);
}

/* The string members of params, written by json_writer as the daemon writes
 * replies, must parse back (strictly, as clients read) to the same strings. */
static void check_written(struct json_object *params)
{
	struct json_writer w = {0};
	struct varlink_reply reply;
	char *out;
	size_t out_len;

	json_object_object_foreach(params, key, val)
	{
		if (json_object_is_type(val, json_type_string))
			json_writer_add_string(&w, key, json_object_get_string(val));
	}
	if (json_writer_finish(&w) == 0 && varlink_format_reply_written(&w, false, &out, &out_len) == 0) {
		FUZZ_CHECK(varlink_reply_parse(out, out_len - 1, &reply) == 0);
		json_object_object_foreach(reply.parameters, got_key, got)
		{
			struct json_object *orig = NULL;

			/* Strings are C strings to the writer: compared up to a NUL. */
			FUZZ_CHECK(json_object_is_type(got, json_type_string));
			FUZZ_CHECK(json_object_object_get_ex(params, got_key, &orig));
			FUZZ_CHECK(strcmp(json_object_get_string(orig), json_object_get_string(got)) == 0);
		}
		varlink_reply_done(&reply);
		free(out);
	}
	json_writer_done(&w);
}

static void check_call(const char *msg, size_t len)
{
	struct varlink_call call;
	char *out = NULL;
	size_t out_len;
	int r;

	r = varlink_call_parse(msg, len, &call);
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EINVAL || r == -ENOMEM);
	check_call_reused(msg, len, r, &call);
	if (r < 0)
		return;
	FUZZ_CHECK(call.method && call.parameters);
	FUZZ_CHECK(json_object_is_type(call.parameters, json_type_object));
	FUZZ_CHECK(varlink_qualified_name_is_valid(call.method));

	r = varlink_format_call(call.method, call.parameters, call.flags, &out, &out_len);
	FUZZ_CHECK(r == 0 || r == -EMSGSIZE);
	if (r == 0) {
		struct varlink_call again;

		FUZZ_CHECK(out_len > 0 && out[out_len - 1] == '\0');
		FUZZ_CHECK(varlink_call_parse(out, out_len - 1, &again) == 0);
		FUZZ_CHECK(strcmp(again.method, call.method) == 0 && again.flags == call.flags);
		varlink_call_done(&again);
		free(out);
	}
	/* The typed getters on whatever the parameters hold. */
	json_object_object_foreach(call.parameters, key, val)
	{
		const char *s;
		bool b;
		int64_t i;

		(void)val;
		(void)varlink_get_string(call.parameters, key, &s);
		(void)varlink_get_bool(call.parameters, key, &b);
		(void)varlink_get_int64(call.parameters, key, &i);
	}
	check_written(call.parameters);
	varlink_call_done(&call);
}

static void check_reply(const char *msg, size_t len)
{
	struct varlink_reply reply;
	char *out = NULL;
	size_t out_len;
	int r;

	r = varlink_reply_parse(msg, len, &reply);
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM);
	if (r < 0)
		return;
	FUZZ_CHECK(reply.parameters && json_object_is_type(reply.parameters, json_type_object));
	FUZZ_CHECK(!(reply.error && reply.continues));
	if (reply.error)
		r = varlink_format_error(reply.error, reply.parameters, &out, &out_len);
	else
		r = varlink_format_reply(reply.parameters, reply.continues, &out, &out_len);
	FUZZ_CHECK(r == 0 || r == -EMSGSIZE);
	if (r == 0) {
		struct varlink_reply again;

		FUZZ_CHECK(varlink_reply_parse(out, out_len - 1, &again) == 0);
		FUZZ_CHECK(!!again.error == !!reply.error && again.continues == reply.continues);
		FUZZ_CHECK(!reply.error || strcmp(again.error, reply.error) == 0);
		varlink_reply_done(&again);
		free(out);
	}
	varlink_reply_done(&reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, len;
	int r;

	while ((r = varlink_frame_find(data + off, size - off, &len)) > 0) {
		FUZZ_CHECK(len < VARLINK_MESSAGE_MAX && off + len < size && data[off + len] == '\0');
		check_call((const char *)data + off, len);
		check_reply((const char *)data + off, len);
		off += len + 1;
	}
	FUZZ_CHECK(r == 0 || r == -EMSGSIZE);
	/* An unterminated tail: the parsers must refuse or take it as is. */
	if (r == 0 && off < size) {
		check_call((const char *)data + off, size - off);
		check_reply((const char *)data + off, size - off);
	}
	return 0;
}
