/* SPDX-License-Identifier: MIT */
#include "strbuf.h"

#include "wipe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Room for most of what is built, so it takes one allocation. */
#define STRBUF_INITIAL_CAP 256

void strbuf_add(struct strbuf *b, const void *s, size_t n)
{
	if (b->oom || n == 0)
		return;
	if (n > SIZE_MAX - b->len - 1) {
		b->oom = true;
		return;
	}
	size_t need = b->len + n + 1;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : STRBUF_INITIAL_CAP;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		/* The SigV4 canonical request carries the session token:
		 * what is built here is wiped when it moves or goes. */
		char *p = wipe_realloc(b->p, b->cap, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void strbuf_adds(struct strbuf *b, const char *s)
{
	strbuf_add(b, s, strlen(s));
}

void strbuf_addc(struct strbuf *b, char c)
{
	strbuf_add(b, &c, 1);
}

void strbuf_truncate(struct strbuf *b, size_t len)
{
	if (b->oom || !b->p)
		return;
	b->len = len;
	b->p[len] = '\0';
}

void strbuf_done(struct strbuf *b)
{
	if (!b)
		return;
	if (b->p)
		wipe_free(b->p, b->cap);
	*b = (struct strbuf){0};
}

char *strbuf_steal(struct strbuf *b)
{
	char *p;

	if (b->oom) {
		strbuf_done(b);
		return NULL;
	}
	p = b->p ? b->p : strdup("");
	*b = (struct strbuf){0};
	return p;
}
