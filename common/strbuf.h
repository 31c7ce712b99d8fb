/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A growable, NUL-terminated string, for code that builds text piece by
 * piece (the SigV4 canonical forms, JSON written by hand).  Appends never
 * fail visibly: the first allocation failure sets oom and every later append
 * does nothing, so a builder checks once at the end.  Start with
 * struct strbuf b = {0}; no I/O, libc only.  What it held is wiped when
 * the buffer grows (never realloc'ed in place) and by strbuf_done(); a
 * stolen string is the caller's to wipe.
 */
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *p; /* NULL until something is appended, then NUL-terminated */
	size_t len;
	size_t cap;
	bool oom;
};

void strbuf_add(struct strbuf *b, const void *s, size_t n);
void strbuf_adds(struct strbuf *b, const char *s);
void strbuf_addc(struct strbuf *b, char c);
/* Cuts the string back to len bytes (len ≤ b->len). */
void strbuf_truncate(struct strbuf *b, size_t len);
/* Frees the string and resets b; NULL-safe. */
void strbuf_done(struct strbuf *b);
/* Hands the string over to the caller (an empty buffer gives ""), or NULL
 * if any append ran out of memory.  b is reset either way. */
char *strbuf_steal(struct strbuf *b);
