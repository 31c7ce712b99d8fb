/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "xml.h"

#include "wipe.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct name {
	const char *p;
	size_t n;
};

struct reader {
	const char *s, *end;
	struct name stack[XML_MAX_DEPTH];
	size_t depth;   /* open elements */
	size_t matched; /* how many of the open elements follow path */
	size_t path_len;
	const char *const *path;
	char *out; /* collected text of the target, or NULL */
	size_t out_len;
};

static bool is_name_char(char c)
{
	return c != '\0' && !strchr(" \t\r\n/>=<\"'", c);
}

/* Skips to just past the first occurrence of end_marker; false if none. */
static bool skip_past(struct reader *r, const char *marker)
{
	size_t n = strlen(marker);

	for (const char *p = r->s; p + n <= r->end; p++)
		if (memcmp(p, marker, n) == 0) {
			r->s = p + n;
			return true;
		}
	return false;
}

static struct name local_name(struct name q)
{
	for (size_t i = q.n; i > 0; i--)
		if (q.p[i - 1] == ':')
			return (struct name){q.p + i, q.n - i};
	return q;
}

static bool name_is(struct name q, const char *want)
{
	struct name l = local_name(q);

	return l.n == strlen(want) && memcmp(l.p, want, l.n) == 0;
}

static void append_utf8(char *out, size_t *len, unsigned long cp)
{
	if (cp < 0x80) {
		out[(*len)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*len)++] = (char)(0xc0 | (cp >> 6));
		out[(*len)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*len)++] = (char)(0xe0 | (cp >> 12));
		out[(*len)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*len)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*len)++] = (char)(0xf0 | (cp >> 18));
		out[(*len)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*len)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*len)++] = (char)(0x80 | (cp & 0x3f));
	}
}

/* Decodes one "&…;" at p (the '&') into out; returns the length consumed,
 * 0 if it is not a known entity or character reference.  Every reference
 * is at least 4 bytes long and decodes to at most 4, so out never grows
 * faster than the input. */
static size_t decode_entity(const char *p, const char *end, char *out, size_t *len)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
	const char *semi = memchr(p, ';', (size_t)(end - p) < 12 ? (size_t)(end - p) : 12);
	unsigned long cp = 0;

	if (!semi)
		return 0;
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if ((size_t)(semi + 1 - p) == strlen(named[i].name) &&
		    memcmp(p, named[i].name, strlen(named[i].name)) == 0) {
			out[(*len)++] = named[i].c;
			return strlen(named[i].name);
		}
	if (p[1] != '#' || semi - p < 3)
		return 0;
	if (p[2] == 'x') {
		if (semi - p < 4)
			return 0;
		for (const char *q = p + 3; q < semi; q++) {
			char c = *q;
			int v = c >= '0' && c <= '9'   ? c - '0'
				: c >= 'a' && c <= 'f' ? c - 'a' + 10
				: c >= 'A' && c <= 'F' ? c - 'A' + 10
						       : -1;

			if (v < 0)
				return 0;
			cp = cp * 16 + (unsigned long)v;
		}
	} else {
		for (const char *q = p + 2; q < semi; q++) {
			if (*q < '0' || *q > '9')
				return 0;
			cp = cp * 10 + (unsigned long)(*q - '0');
		}
	}
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	append_utf8(out, len, cp);
	return (size_t)(semi + 1 - p);
}

/* Text between tags: appended (decoded) when collecting the target. */
static int text(struct reader *r, const char *p, size_t n)
{
	if (!r->out)
		return 0;
	for (size_t i = 0; i < n;) {
		if (p[i] == '&') {
			size_t used = decode_entity(p + i, p + n, r->out, &r->out_len);

			if (used == 0)
				return -EINVAL;
			i += used;
		} else {
			r->out[r->out_len++] = p[i++];
		}
	}
	return 0;
}

static int open_element(struct reader *r, struct name q, bool self_closing)
{
	if (r->out)
		return -EINVAL; /* the target has child elements: not a text value */
	if (r->depth == XML_MAX_DEPTH)
		return -E2BIG;
	if (r->matched == r->depth && r->matched < r->path_len && name_is(q, r->path[r->matched])) {
		r->matched++;
		if (r->matched == r->path_len) {
			/* The text can be no longer than the rest of the input. */
			r->out = malloc((size_t)(r->end - r->s) + 1);
			if (!r->out)
				return -ENOMEM;
			r->out_len = 0;
			if (self_closing)
				return 1;
		}
	}
	if (self_closing) {
		if (r->matched > r->depth)
			r->matched = r->depth;
		return 0;
	}
	r->stack[r->depth++] = q;
	return 0;
}

/* 1 when the target element just closed. */
static int close_element(struct reader *r, struct name q)
{
	struct name top;

	if (r->depth == 0)
		return -EINVAL;
	top = r->stack[r->depth - 1];
	if (top.n != q.n || memcmp(top.p, q.p, q.n) != 0)
		return -EINVAL;
	if (r->out)
		return 1;
	if (r->matched == r->depth)
		r->matched--;
	r->depth--;
	return 0;
}

/* One markup construct at r->s (a '<').  1: target complete. */
static int markup(struct reader *r)
{
	const char *p = r->s + 1;
	bool closing = false, self_closing = false;
	struct name q;

	if (r->end - r->s >= 4 && memcmp(r->s, "<!--", 4) == 0)
		return skip_past(r, "-->") ? 0 : -EINVAL;
	if (r->end - r->s >= 9 && memcmp(r->s, "<![CDATA[", 9) == 0) {
		const char *start = r->s + 9;

		if (!skip_past(r, "]]>"))
			return -EINVAL;
		if (r->out) {
			memcpy(r->out + r->out_len, start, (size_t)(r->s - 3 - start));
			r->out_len += (size_t)(r->s - 3 - start);
		}
		return 0;
	}
	if (p < r->end && *p == '?')
		return skip_past(r, "?>") ? 0 : -EINVAL;
	if (p < r->end && *p == '!')
		return -EINVAL; /* DOCTYPE and the like: never needed, never expanded */
	if (p < r->end && *p == '/') {
		closing = true;
		p++;
	}
	q.p = p;
	while (p < r->end && is_name_char(*p))
		p++;
	q.n = (size_t)(p - q.p);
	if (q.n == 0)
		return -EINVAL;
	/* Attributes: skipped, honouring quotes so a '>' inside one is no end. */
	for (char quote = 0; p < r->end; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
		} else if (*p == '>') {
			break;
		}
	}
	if (p == r->end)
		return -EINVAL;
	self_closing = p[-1] == '/';
	r->s = p + 1;
	if (closing)
		return self_closing ? -EINVAL : close_element(r, q);
	return open_element(r, q, self_closing);
}

int xml_find_text(const char *xml, size_t len, const char *const *path, char **ret)
{
	struct reader r = {.s = xml, .end = xml + len, .path = path};
	int k = 0;

	while (path[r.path_len])
		r.path_len++;
	/* XML has no U+0000, and the text goes back as a C string: a NUL would
	 * silently cut a credential short. */
	if (r.path_len == 0 || memchr(xml, '\0', len))
		return -EINVAL;
	while (r.s < r.end) {
		const char *lt = memchr(r.s, '<', (size_t)(r.end - r.s));
		const char *stop = lt ? lt : r.end;

		k = text(&r, r.s, (size_t)(stop - r.s));
		r.s = stop;
		if (k < 0 || !lt)
			break;
		k = markup(&r);
		if (k != 0)
			break;
	}
	if (k == 1) {
		r.out[r.out_len] = '\0';
		*ret = r.out;
		return 0;
	}
	wipe_free(r.out, r.out_len); /* part of a secret, maybe */
	if (k < 0)
		return k;
	return r.out || r.depth > 0 ? -EINVAL : -ENOENT;
}
