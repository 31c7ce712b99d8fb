/* SPDX-License-Identifier: MIT */
#include "utf8.h"

#include <string.h>

/* The range of the byte after lead in a well-formed sequence (Unicode
 * table 3-7); the bytes after it are always 80..BF.  0 for a byte that
 * cannot lead a multi-byte sequence (80..C1, F5..FF). */
static size_t lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
	*lo = 0x80;
	*hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef) {
		if (c == 0xe0)
			*lo = 0xa0; /* else overlong */
		else if (c == 0xed)
			*hi = 0x9f; /* else a surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (c == 0xf0)
			*lo = 0x90; /* else overlong */
		else if (c == 0xf4)
			*hi = 0x8f; /* else above U+10FFFF */
		return 4;
	}
	return 0;
}

size_t utf8_sequence(const char *s, size_t len, size_t *ret_bad)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char lo, hi;
	size_t need, i;

	if (u[0] < 0x80)
		return 1;
	need = lead(u[0], &lo, &hi);
	for (i = 1; need && i < need; i++) {
		if (i >= len || u[i] < lo || u[i] > hi)
			break;
		lo = 0x80;
		hi = 0xbf;
	}
	if (need && i == need)
		return need;
	/* The lead byte and the continuation bytes that fitted: one subpart. */
	if (ret_bad)
		*ret_bad = need ? i : 1;
	return 0;
}

bool utf8_is_valid(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t n;

		/* ASCII runs are the common case. */
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		n = utf8_sequence(s + i, len - i, NULL);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

size_t utf8_sanitized_length(const char *s, size_t len)
{
	size_t i = 0, out = 0;

	while (i < len) {
		size_t bad = 0, n = utf8_sequence(s + i, len - i, &bad);

		if (n) {
			i += n;
			out += n;
		} else {
			i += bad;
			out += UTF8_REPLACEMENT_LEN;
		}
	}
	return out;
}

size_t utf8_sanitize(const char *s, size_t len, char *out)
{
	size_t i = 0, o = 0;

	while (i < len) {
		size_t bad = 0, n = utf8_sequence(s + i, len - i, &bad);

		if (n) {
			memcpy(out + o, s + i, n);
			i += n;
			o += n;
		} else {
			memcpy(out + o, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
			i += bad;
			o += UTF8_REPLACEMENT_LEN;
		}
	}
	return o;
}
