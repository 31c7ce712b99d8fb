/* SPDX-License-Identifier: MIT */
/* Which configuration drop-ins to read, and in which order (conf-dropins.h). */
#include "config.h"

#include "conf-dropins.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_MAIN_FILE SYSCONFDIR "/kmscanceld.conf"
#define DROPIN_SUFFIX     ".conf"

/* One name seen so far: where it was first found, or that it is masked. */
struct entry {
	char *name;
	char *path; /* NULL when masked */
};

struct entries {
	struct entry *e;
	size_t n, cap;
};

static void entries_done(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++) {
		free(es->e[i].name);
		free(es->e[i].path);
	}
	free(es->e);
	*es = (struct entries){0};
}

static bool seen(const struct entries *es, const char *name)
{
	for (size_t i = 0; i < es->n; i++)
		if (strcmp(es->e[i].name, name) == 0)
			return true;
	return false;
}

static int entries_add(struct entries *es, const char *name, char *path)
{
	if (es->n >= 4 * CONF_DROPINS_MAX)
		return -E2BIG; /* masks count too: bound the work, not only the result */
	if (es->n == es->cap) {
		size_t cap = es->cap ? es->cap * 2 : 16;
		struct entry *e = realloc(es->e, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		es->e = e;
		es->cap = cap;
	}
	es->e[es->n].name = strdup(name);
	if (!es->e[es->n].name)
		return -ENOMEM;
	es->e[es->n++].path = path;
	return 0;
}

static bool wanted_name(const char *name)
{
	size_t len = strlen(name), suffix = strlen(DROPIN_SUFFIX);

	return name[0] != '.' && len > suffix && strcmp(name + len - suffix, DROPIN_SUFFIX) == 0;
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + 1 + strlen(name) + 1;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* What a directory entry is, followed through symlinks, as systemd sees
 * it: a mask (a symlink to /dev/null, any device, or an empty file: it
 * hides the name in the directories after), a drop-in (a regular file), or
 * nothing to read (anything else, a dangling symlink). */
enum kind {
	KIND_SKIP,
	KIND_MASK,
	KIND_FILE,
};

static enum kind classify(int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, 0) < 0)
		return KIND_SKIP;
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || (S_ISREG(st.st_mode) && st.st_size == 0))
		return KIND_MASK;
	return S_ISREG(st.st_mode) ? KIND_FILE : KIND_SKIP;
}

/* Adds the drop-ins of one directory whose names no directory before it
 * had.  A missing directory adds nothing. */
static int scan_dir(const char *dir, struct entries *es)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((errno = 0, de = readdir(d))) {
		enum kind kind;
		char *path = NULL;

		if (!wanted_name(de->d_name) || seen(es, de->d_name))
			continue;
		kind = classify(dirfd(d), de->d_name);
		if (kind == KIND_SKIP)
			continue;
		if (kind == KIND_FILE && !(path = join(dir, de->d_name))) {
			r = -ENOMEM;
			break;
		}
		r = entries_add(es, de->d_name, path);
		if (r < 0) {
			free(path);
			break;
		}
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	return r;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* The unmasked paths of es in name order, into ret. */
static int collect(struct entries *es, struct conf_dropins *ret)
{
	struct conf_dropins out = {0};
	size_t n = 0;

	if (es->n > 1) /* es->e is NULL when nothing was found */
		qsort(es->e, es->n, sizeof(*es->e), by_name);
	for (size_t i = 0; i < es->n; i++)
		n += es->e[i].path != NULL;
	if (n > CONF_DROPINS_MAX)
		return -E2BIG;
	out.paths = calloc(n ? n : 1, sizeof(*out.paths));
	if (!out.paths)
		return -ENOMEM;
	for (size_t i = 0; i < es->n; i++)
		if (es->e[i].path) {
			out.paths[out.n++] = es->e[i].path;
			es->e[i].path = NULL; /* handed over */
		}
	*ret = out;
	return 0;
}

int conf_dropins_find(const char *const *dirs, size_t n_dirs, struct conf_dropins *ret, const char **ret_failed)
{
	struct entries es = {0};
	int r = 0;

	for (size_t i = 0; i < n_dirs && r == 0; i++) {
		r = scan_dir(dirs[i], &es);
		if (r < 0 && r != -ENOMEM && r != -E2BIG && ret_failed)
			*ret_failed = dirs[i];
	}
	if (r == 0)
		r = collect(&es, ret);
	entries_done(&es);
	return r;
}

void conf_dropins_done(struct conf_dropins *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->paths[i]);
	free(d->paths);
	*d = (struct conf_dropins){0};
}

int conf_dropin_dirs(const char *path, char ***ret, size_t *n_ret)
{
	const char *system_dirs[] = {SYSCONFDIR "/kmscanceld.conf.d", "/run/kmscanceld.conf.d",
				     "/usr/lib/kmscanceld.conf.d"};
	bool is_default = strcmp(path, DEFAULT_MAIN_FILE) == 0;
	size_t n = is_default ? sizeof(system_dirs) / sizeof(*system_dirs) : 1;
	char **dirs = calloc(n, sizeof(*dirs));

	if (!dirs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (is_default)
			dirs[i] = strdup(system_dirs[i]);
		else if ((dirs[i] = malloc(strlen(path) + 3)))
			sprintf(dirs[i], "%s.d", path);
		if (!dirs[i]) {
			conf_dropin_dirs_free(dirs, i);
			return -ENOMEM;
		}
	}
	*ret = dirs;
	*n_ret = n;
	return 0;
}

void conf_dropin_dirs_free(char **dirs, size_t n)
{
	if (!dirs)
		return;
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
}
