/* SPDX-License-Identifier: MIT */
/* Key lists for kmscancel: from the command line, stdin or a file. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int key_list_add(struct key_list *l, const char *key)
{
	char *copy;

	if (l->n >= CLI_KEYS_MAX)
		return -E2BIG;
	if (l->n == l->allocated) {
		size_t a = l->allocated ? l->allocated * 2 : 16;
		char **k = reallocarray(l->keys, a, sizeof(*k));

		if (!k)
			return -ENOMEM;
		l->keys = k;
		l->allocated = a;
	}
	copy = strdup(key);
	if (!copy)
		return -ENOMEM;
	l->keys[l->n++] = copy;
	return 0;
}

/* Cut a '#' comment (key IDs and ARNs never contain '#') and surrounding
 * white space off line, in place; returns the key, possibly "". */
static char *line_key(char *line)
{
	char *end;

	line[strcspn(line, "#")] = '\0';
	while (isspace((unsigned char)*line))
		line++;
	end = line + strlen(line);
	while (end > line && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return line;
}

int key_list_read(struct key_list *l, FILE *f)
{
	char *line = NULL;
	size_t size = 0;
	int r = 0;

	errno = 0;
	while (getline(&line, &size, f) >= 0) {
		char *key = line_key(line);

		if (*key && (r = key_list_add(l, key)) < 0)
			break;
	}
	if (r == 0 && ferror(f))
		r = errno ? -errno : -EIO;
	free(line);
	return r;
}

void key_list_done(struct key_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->keys[i]);
	free(l->keys);
	*l = (struct key_list){0};
}
