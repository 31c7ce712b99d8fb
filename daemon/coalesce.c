/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "coalesce.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct flight {
	char *key; /* region:account:key ID:enableKey (operation.c) */
	struct operation *leader;
	struct operation **followers;
	size_t n_followers, n_allocated;
	struct flight *next;
};

struct flight *flight_find(const struct flight_table *t, const char *key)
{
	for (struct flight *f = t->first; f; f = f->next)
		if (strcmp(f->key, key) == 0)
			return f;
	return NULL;
}

int flight_open(struct flight_table *t, char *key, struct operation *leader, struct flight **ret)
{
	struct flight *f = calloc(1, sizeof(*f));

	if (!f) {
		free(key);
		return -ENOMEM;
	}
	f->key = key;
	f->leader = leader;
	f->next = t->first;
	t->first = f;
	*ret = f;
	return 0;
}

int flight_join(struct flight *f, struct operation *follower)
{
	if (f->n_followers == f->n_allocated) {
		size_t n = f->n_allocated ? 2 * f->n_allocated : 4;
		struct operation **a = realloc(f->followers, n * sizeof(*a));

		if (!a)
			return -ENOMEM;
		f->followers = a;
		f->n_allocated = n;
	}
	f->followers[f->n_followers++] = follower;
	return 0;
}

void flight_leave(struct flight *f, struct operation *follower)
{
	for (size_t i = 0; i < f->n_followers; i++)
		if (f->followers[i] == follower) {
			memmove(&f->followers[i], &f->followers[i + 1],
				(f->n_followers - i - 1) * sizeof(*f->followers));
			f->n_followers--;
			return;
		}
}

struct operation *flight_leader(const struct flight *f)
{
	return f->leader;
}

size_t flight_close(struct flight_table *t, struct flight *f, struct operation ***ret_followers)
{
	size_t n;

	*ret_followers = NULL;
	if (!f)
		return 0;
	for (struct flight **p = &t->first; *p; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			break;
		}
	n = f->n_followers;
	if (n)
		*ret_followers = f->followers;
	else
		free(f->followers);
	free(f->key);
	free(f);
	return n;
}
