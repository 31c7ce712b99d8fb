/* SPDX-License-Identifier: MIT */
#include "varlink.h"

#include "json-writer.h"
#include "utf8.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

/* --- framing ------------------------------------------------------------------ */

int varlink_frame_find(const void *buf, size_t len, size_t *ret_len)
{
	size_t window = len < VARLINK_MESSAGE_MAX ? len : VARLINK_MESSAGE_MAX;
	const char *nul;

	if (window == 0)
		return 0;
	/* Only the first VARLINK_MESSAGE_MAX bytes can hold a legal terminator. */
	nul = memchr(buf, '\0', window);
	if (nul) {
		*ret_len = (size_t)(nul - (const char *)buf);
		return 1;
	}
	return len >= VARLINK_MESSAGE_MAX ? -EMSGSIZE : 0;
}

/* --- names ------------------------------------------------------------------- */

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

/* Validate the interface name s[0..len): labels of [a-z0-9-] separated by
 * dots, each starting with an alphanumeric (the first with a letter) and not
 * ending with '-', at least two of them. */
static bool interface_name_is_valid_n(const char *s, size_t len)
{
	size_t labels = 0, i = 0;

	if (len == 0 || len > VARLINK_NAME_MAX)
		return false;
	while (i <= len) {
		size_t start = i;

		if (i == len || !is_lower_alnum(s[i]))
			return false;
		if (labels == 0 && !(s[i] >= 'a' && s[i] <= 'z'))
			return false;
		while (i < len && s[i] != '.') {
			if (!is_lower_alnum(s[i]) && s[i] != '-')
				return false;
			i++;
		}
		if (s[i - 1] == '-' || i == start)
			return false;
		labels++;
		i++; /* skip the dot, or step past the end */
	}
	return labels >= 2;
}

static bool member_name_is_valid_n(const char *s, size_t len)
{
	if (len == 0 || len > VARLINK_NAME_MAX || !(s[0] >= 'A' && s[0] <= 'Z'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_alnum(s[i]))
			return false;
	return true;
}

bool varlink_interface_name_is_valid(const char *s)
{
	return s && interface_name_is_valid_n(s, strlen(s));
}

bool varlink_member_name_is_valid(const char *s)
{
	return s && member_name_is_valid_n(s, strlen(s));
}

bool varlink_field_name_is_valid(const char *s)
{
	if (!s || !is_alpha(s[0]) || strlen(s) > VARLINK_NAME_MAX)
		return false;
	for (size_t i = 1; s[i]; i++) {
		if (s[i] == '_' && is_alnum(s[i + 1]))
			continue;
		if (!is_alnum(s[i]))
			return false;
	}
	return true;
}

int varlink_qualified_name_split(const char *name, size_t *ret_interface_len, const char **ret_member)
{
	const char *dot;
	size_t len;

	if (!name)
		return -EINVAL;
	len = strlen(name);
	if (len > VARLINK_NAME_MAX)
		return -EINVAL;
	dot = strrchr(name, '.');
	if (!dot || !interface_name_is_valid_n(name, (size_t)(dot - name)) ||
	    !member_name_is_valid_n(dot + 1, strlen(dot + 1)))
		return -EINVAL;
	*ret_interface_len = (size_t)(dot - name);
	*ret_member = dot + 1;
	return 0;
}

bool varlink_qualified_name_is_valid(const char *s)
{
	size_t n;
	const char *m;

	return varlink_qualified_name_split(s, &n, &m) == 0;
}

/* --- parsing ------------------------------------------------------------------ */

struct json_tokener *varlink_tokener_new(void)
{
	struct json_tokener *tok = json_tokener_new_ex(VARLINK_JSON_DEPTH_MAX);

	if (tok)
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	return tok;
}

/*
 * Parse buf[0..len) as exactly one JSON object (whitespace may follow it),
 * with tok (reset first) or, when tok is NULL, a tokener of its own.
 * Returns 0 and a new reference in *ret, -EBADMSG for anything else, -ENOMEM.
 */
static int parse_object(struct json_tokener *tok, const char *buf, size_t len, struct json_object **ret)
{
	struct json_tokener *own = NULL;
	struct json_object *obj;
	size_t end;
	int r = -EBADMSG;

	/* Framing strips the terminator, so a NUL here is a peer bug; json-c
	 * would silently stop at it. */
	if (len == 0 || len > VARLINK_MESSAGE_MAX || memchr(buf, '\0', len))
		return -EBADMSG;
	if (!tok) {
		tok = own = varlink_tokener_new();
		if (!tok)
			return -ENOMEM;
	}
	json_tokener_reset(tok);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success)
		goto out;
	for (end = json_tokener_get_parse_end(tok); end < len; end++)
		if (!strchr(" \t\r\n", buf[end]))
			goto out;
	if (!json_object_is_type(obj, json_type_object))
		goto out;
	*ret = obj;
	obj = NULL;
	r = 0;
out:
	json_object_put(obj);
	if (own)
		json_tokener_free(own);
	return r;
}

/* "parameters" may be an object or null; null becomes a fresh {}.  Returns a
 * new reference in *ret, or -EBADMSG/-ENOMEM. */
static int take_parameters(struct json_object *v, struct json_object **ret)
{
	struct json_object *p;

	if (v && !json_object_is_type(v, json_type_object))
		return -EBADMSG;
	p = v ? json_object_get(v) : json_object_new_object();
	if (!p)
		return -ENOMEM;
	*ret = p;
	return 0;
}

/* Apply one top-level call flag; -EBADMSG for a non-boolean. */
static int set_flag(struct json_object *v, unsigned bit, unsigned *flags)
{
	if (!json_object_is_type(v, json_type_boolean))
		return -EBADMSG;
	if (json_object_get_boolean(v))
		*flags |= bit;
	return 0;
}

/* Walk the top-level keys of a call.  On success *method is borrowed from
 * msg and *params is NULL (meaning absent/null) or borrowed from msg. */
static int scan_call(struct json_object *msg, const char **method, struct json_object **params, unsigned *flags)
{
	int r = 0;

	json_object_object_foreach(msg, key, v)
	{
		if (strcmp(key, "method") == 0) {
			if (!json_object_is_type(v, json_type_string))
				return -EBADMSG;
			*method = json_object_get_string(v);
		} else if (strcmp(key, "parameters") == 0) {
			if (v && !json_object_is_type(v, json_type_object))
				return -EBADMSG;
			*params = v;
		} else if (strcmp(key, "oneway") == 0)
			r = set_flag(v, VARLINK_CALL_ONEWAY, flags);
		else if (strcmp(key, "more") == 0)
			r = set_flag(v, VARLINK_CALL_MORE, flags);
		else if (strcmp(key, "upgrade") == 0)
			r = set_flag(v, VARLINK_CALL_UPGRADE, flags);
		else
			return -EBADMSG;
		if (r < 0)
			return r;
	}
	if (!*method)
		return -EBADMSG;
	/* At most one of the mutually exclusive flags. */
	if (*flags & (*flags - 1))
		return -EBADMSG;
	return 0;
}

int varlink_call_parse(const char *buf, size_t len, struct varlink_call *ret)
{
	return varlink_call_parse_with(NULL, buf, len, ret);
}

int varlink_call_parse_with(struct json_tokener *tok, const char *buf, size_t len, struct varlink_call *ret)
{
	struct json_object *msg = NULL, *params_in = NULL, *params = NULL;
	const char *method = NULL;
	unsigned flags = 0;
	char *m = NULL;
	int r;

	r = parse_object(tok, buf, len, &msg);
	if (r < 0)
		return r;
	r = scan_call(msg, &method, &params_in, &flags);
	if (r < 0)
		goto out;
	/* A "\u0000" inside the name makes strlen() differ from the JSON length. */
	if (strlen(method) != (size_t)json_object_get_string_len(json_object_object_get(msg, "method")) ||
	    !varlink_qualified_name_is_valid(method)) {
		r = -EINVAL;
		goto out;
	}
	r = take_parameters(params_in, &params);
	if (r < 0)
		goto out;
	m = strdup(method);
	if (!m) {
		r = -ENOMEM;
		goto out;
	}
	*ret = (struct varlink_call){.method = m, .parameters = params, .flags = flags};
	m = NULL;
	params = NULL;
out:
	free(m);
	json_object_put(params);
	json_object_put(msg);
	return r;
}

void varlink_call_done(struct varlink_call *call)
{
	if (!call)
		return;
	free(call->method);
	json_object_put(call->parameters);
	*call = (struct varlink_call){0};
}

/* Walk the top-level keys of a reply; pointers borrowed from msg. */
static int scan_reply(struct json_object *msg, const char **error, struct json_object **params, bool *continues)
{
	json_object_object_foreach(msg, key, v)
	{
		if (strcmp(key, "error") == 0) {
			if (!json_object_is_type(v, json_type_string) ||
			    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v) ||
			    !varlink_qualified_name_is_valid(json_object_get_string(v)))
				return -EBADMSG;
			*error = json_object_get_string(v);
		} else if (strcmp(key, "parameters") == 0) {
			if (v && !json_object_is_type(v, json_type_object))
				return -EBADMSG;
			*params = v;
		} else if (strcmp(key, "continues") == 0) {
			if (!json_object_is_type(v, json_type_boolean))
				return -EBADMSG;
			*continues = json_object_get_boolean(v);
		} else
			return -EBADMSG;
	}
	if (*error && *continues)
		return -EBADMSG;
	return 0;
}

int varlink_reply_parse(const char *buf, size_t len, struct varlink_reply *ret)
{
	struct json_object *msg = NULL, *params_in = NULL, *params = NULL;
	const char *error = NULL;
	bool continues = false;
	char *e = NULL;
	int r;

	r = parse_object(NULL, buf, len, &msg);
	if (r < 0)
		return r;
	r = scan_reply(msg, &error, &params_in, &continues);
	if (r < 0)
		goto out;
	r = take_parameters(params_in, &params);
	if (r < 0)
		goto out;
	if (error) {
		e = strdup(error);
		if (!e) {
			r = -ENOMEM;
			goto out;
		}
	}
	*ret = (struct varlink_reply){.error = e, .parameters = params, .continues = continues};
	e = NULL;
	params = NULL;
out:
	free(e);
	json_object_put(params);
	json_object_put(msg);
	return r;
}

void varlink_reply_done(struct varlink_reply *reply)
{
	if (!reply)
		return;
	free(reply->error);
	json_object_put(reply->parameters);
	*reply = (struct varlink_reply){0};
}

/* --- formatting ---------------------------------------------------------------- */

/*
 * The envelope around the parameters is written by hand: building a json-c
 * object for it, adding the parameters and serialising the whole cost more
 * than everything else in a reply.  Only the parameters go through json-c,
 * which escapes them; json-c copies bytes from 0x80 up as they are, so the
 * text is then made valid UTF-8 here, the one place every message passes:
 * server text the daemon relays (a proxy's Latin-1 reason phrase) must not
 * turn a reply into a protocol error for a validating peer.  The names put in the envelope are validated
 * qualified names ([A-Za-z0-9.-]), which need no escaping.
 */
#define SERIALIZE_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Appends n bytes at *o and advances it. */
static void put(char **o, const char *s, size_t n)
{
	memcpy(*o, s, n);
	*o += n;
}

/*
 * {"<name_key>":"<name>","parameters":<p><tail>} and its NUL in a new
 * buffer; without name_key, {"parameters":<p><tail>}.  p[0..plen) is the
 * text of a JSON object; tail is "" or ,"flag":true.
 */
static int envelope(const char *name_key, const char *name, const char *p, size_t plen, const char *tail, char **ret,
		    size_t *ret_len)
{
	static const char params_key[] = "\"parameters\":";
	size_t len;
	char *buf, *o, *fixed = NULL;

	if (plen > VARLINK_MESSAGE_MAX)
		return -EMSGSIZE;
	if (!utf8_is_valid(p, plen)) {
		/* JSON's structure is ASCII and an ill-formed subpart never
		 * holds an ASCII byte, so repairing the text repairs only the
		 * strings in it. */
		size_t n = utf8_sanitized_length(p, plen);

		if (n > VARLINK_MESSAGE_MAX)
			return -EMSGSIZE;
		fixed = malloc(n ? n : 1);
		if (!fixed)
			return -ENOMEM;
		plen = utf8_sanitize(p, plen, fixed);
		p = fixed;
	}
	/* { "key":"name", "parameters": P tail } NUL */
	len = 1 + (name_key ? strlen(name_key) + strlen(name) + 6 : 0) + strlen(params_key) + plen + strlen(tail) + 2;
	buf = len > VARLINK_MESSAGE_MAX ? NULL : malloc(len);
	if (!buf) {
		free(fixed);
		return len > VARLINK_MESSAGE_MAX ? -EMSGSIZE : -ENOMEM;
	}
	o = buf;
	put(&o, "{", 1);
	if (name_key) {
		put(&o, "\"", 1);
		put(&o, name_key, strlen(name_key));
		put(&o, "\":\"", 3);
		put(&o, name, strlen(name));
		put(&o, "\",", 2);
	}
	put(&o, params_key, strlen(params_key));
	put(&o, p, plen);
	put(&o, tail, strlen(tail));
	put(&o, "}", 2); /* with the NUL that ends the frame */
	free(fixed);
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* envelope() around parameters (borrowed; NULL: {}), serialised by json-c. */
static int serialize(const char *name_key, const char *name, struct json_object *parameters, const char *tail,
		     char **ret, size_t *ret_len)
{
	const char *p = "{}";
	size_t plen = 2;

	if (parameters) {
		if (!json_object_is_type(parameters, json_type_object))
			return -EINVAL;
		p = json_object_to_json_string_length(parameters, SERIALIZE_FLAGS, &plen);
		if (!p)
			return -ENOMEM;
	}
	return envelope(name_key, name, p, plen, tail, ret, ret_len);
}

int varlink_format_call(const char *method, struct json_object *parameters, unsigned flags, char **ret, size_t *ret_len)
{
	const char *tail = "";

	if (!varlink_qualified_name_is_valid(method) || (flags & (flags - 1)) ||
	    (flags & ~(unsigned)(VARLINK_CALL_ONEWAY | VARLINK_CALL_MORE | VARLINK_CALL_UPGRADE)))
		return -EINVAL;
	/* At most one flag is set (checked above). */
	if (flags & VARLINK_CALL_ONEWAY)
		tail = ",\"oneway\":true";
	else if (flags & VARLINK_CALL_MORE)
		tail = ",\"more\":true";
	else if (flags & VARLINK_CALL_UPGRADE)
		tail = ",\"upgrade\":true";
	return serialize("method", method, parameters, tail, ret, ret_len);
}

int varlink_format_reply(struct json_object *parameters, bool continues, char **ret, size_t *ret_len)
{
	return serialize(NULL, NULL, parameters, continues ? ",\"continues\":true" : "", ret, ret_len);
}

int varlink_format_reply_written(const struct json_writer *parameters, bool continues, char **ret, size_t *ret_len)
{
	if (!parameters->finished)
		return -EINVAL;
	if (parameters->out.oom)
		return -ENOMEM;
	return envelope(NULL, NULL, parameters->out.p, parameters->out.len, continues ? ",\"continues\":true" : "", ret,
			ret_len);
}

int varlink_format_error(const char *error, struct json_object *parameters, char **ret, size_t *ret_len)
{
	if (!varlink_qualified_name_is_valid(error))
		return -EINVAL;
	return serialize("error", error, parameters, "", ret, ret_len);
}

/* --- typed field getters --------------------------------------------------------- */

/* obj[key], with JSON null reported as absent. */
static int get_field(struct json_object *obj, const char *key, struct json_object **ret)
{
	struct json_object *v = NULL;

	if (!obj || !json_object_is_type(obj, json_type_object))
		return -EINVAL;
	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return -ENOENT;
	*ret = v;
	return 0;
}

int varlink_get_string(struct json_object *obj, const char *key, const char **ret)
{
	struct json_object *v;
	const char *s;
	int r;

	r = get_field(obj, key, &v);
	if (r < 0)
		return r;
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return -EINVAL;
	*ret = s;
	return 0;
}

int varlink_get_bool(struct json_object *obj, const char *key, bool *ret)
{
	struct json_object *v;
	int r;

	r = get_field(obj, key, &v);
	if (r < 0)
		return r;
	if (!json_object_is_type(v, json_type_boolean))
		return -EINVAL;
	*ret = json_object_get_boolean(v);
	return 0;
}

int varlink_get_int64(struct json_object *obj, const char *key, int64_t *ret)
{
	struct json_object *v;
	int64_t i;
	int r;

	r = get_field(obj, key, &v);
	if (r < 0)
		return r;
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	/* json-c keeps integers above INT64_MAX as uint64 and clamps them here. */
	i = json_object_get_int64(v);
	if (i == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX)
		return -EINVAL;
	*ret = i;
	return 0;
}

int varlink_check_fields(struct json_object *obj, const char *const *allowed, const char **ret_unknown)
{
	if (!obj || !json_object_is_type(obj, json_type_object))
		return -EINVAL;
	json_object_object_foreach(obj, key, v)
	{
		size_t i;

		(void)v;
		for (i = 0; allowed && allowed[i]; i++)
			if (strcmp(allowed[i], key) == 0)
				break;
		if (!allowed || !allowed[i]) {
			if (ret_unknown)
				*ret_unknown = key;
			return -EINVAL;
		}
	}
	return 0;
}
