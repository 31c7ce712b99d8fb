/* SPDX-License-Identifier: MIT */
#include "wipe.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wipe_free(void *p, size_t n)
{
	if (!p)
		return;
	explicit_bzero(p, n);
	free(p);
}

void wipe_free_string(char *s)
{
	if (s)
		wipe_free(s, strlen(s) + 1);
}

void *wipe_realloc(void *p, size_t used, size_t size)
{
	char *n;

	if (size == 0)
		return NULL;
	n = malloc(size);
	if (!n)
		return NULL;
	if (p) {
		memcpy(n, p, used < size ? used : size);
		wipe_free(p, used);
	}
	return n;
}

int wipe_asprintf(char **ret, const char *fmt, ...)
{
	va_list ap;
	int n, m;

	*ret = NULL;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || n == INT_MAX)
		return -EINVAL;
	*ret = malloc((size_t)n + 1);
	if (!*ret)
		return -ENOMEM;
	va_start(ap, fmt);
	m = vsnprintf(*ret, (size_t)n + 1, fmt, ap);
	va_end(ap);
	if (m != n) { /* an argument changed meanwhile: cannot happen */
		wipe_free(*ret, (size_t)n + 1);
		*ret = NULL;
		return -EINVAL;
	}
	return n;
}

void *wipe_any_malloc(size_t size)
{
	return malloc(size);
}

void *wipe_any_realloc(void *p, size_t size)
{
	if (!p)
		return malloc(size);
	if (size == 0) {
		wipe_any_free(p);
		return NULL;
	}
	return wipe_realloc(p, malloc_usable_size(p), size);
}

void wipe_any_free(void *p)
{
	if (p)
		wipe_free(p, malloc_usable_size(p));
}
