/* SPDX-License-Identifier: MIT */
#include "json-writer.h"

#include <errno.h>
#include <string.h>

#include "utf8.h"

static void put(struct json_writer *w, const char *s, size_t n)
{
	if (!w->finished)
		strbuf_add(&w->out, s, n);
}

/* "s" with '"', '\\' and control characters escaped, ill-formed UTF-8
 * replaced by U+FFFD (utf8.h); everything else copied in runs. */
static void put_string(struct json_writer *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	put(w, "\"", 1);
	for (;;) {
		unsigned char c = (unsigned char)*s;
		size_t n = 1, bad = 0;

		if (c >= 0x80)
			n = utf8_sequence(s, strnlen(s, 4), &bad);
		if (n && c != '\0' && (c >= 0x80 || (c >= 0x20 && c != '"' && c != '\\'))) {
			s += n;
			continue;
		}
		put(w, run, (size_t)(s - run));
		if (c == '\0')
			break;
		if (!n) {
			put(w, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
			s += bad;
		} else if (c == '"' || c == '\\') {
			const char e[2] = {'\\', (char)c};
			put(w, e, sizeof(e));
			s++;
		} else {
			const char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
			put(w, e, sizeof(e));
			s++;
		}
		run = s;
	}
	put(w, "\"", 1);
}

/* '{' or ',' then "key": */
static void put_key(struct json_writer *w, const char *key)
{
	put(w, w->members++ ? "," : "{", 1);
	put_string(w, key);
	put(w, ":", 1);
}

void json_writer_add_string(struct json_writer *w, const char *key, const char *value)
{
	put_key(w, key);
	if (value)
		put_string(w, value);
	else
		put(w, "null", 4);
}

void json_writer_add_int(struct json_writer *w, const char *key, int64_t value)
{
	char digits[21]; /* "-9223372036854775808" */
	uint64_t u = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
	size_t i = sizeof(digits);

	do {
		digits[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (value < 0)
		digits[--i] = '-';
	put_key(w, key);
	put(w, digits + i, sizeof(digits) - i);
}

void json_writer_add_bool(struct json_writer *w, const char *key, bool value)
{
	put_key(w, key);
	put(w, value ? "true" : "false", value ? 4 : 5);
}

int json_writer_finish(struct json_writer *w)
{
	put(w, w->members ? "}" : "{}", w->members ? 1 : 2);
	w->finished = true;
	return w->out.oom ? -ENOMEM : 0;
}

void json_writer_done(struct json_writer *w)
{
	if (!w)
		return;
	strbuf_done(&w->out);
	*w = (struct json_writer){0};
}
