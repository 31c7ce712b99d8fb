/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Configuration drop-ins, as systemd's daemons read them: after the main
 * file, every "*.conf" of the drop-in directories, in lexical order of the
 * file name across all of them.  Of files with the same name, only the one
 * in the directory listed first counts (/etc masks /run, which masks
 * /usr/lib), and one that is a symlink to /dev/null (or an empty file)
 * masks the name entirely.  Hidden files (".*"), names not ending in
 * ".conf" and anything but regular files (or symlinks to them) are
 * skipped; a directory that does not exist is no error.
 *
 * The main file names the directories: for the default one,
 * SYSCONFDIR/kmscanceld.conf, they are SYSCONFDIR/kmscanceld.conf.d,
 * /run/kmscanceld.conf.d and /usr/lib/kmscanceld.conf.d; for any other
 * (--config=FILE) only FILE.d, so that a test's or a trial's configuration
 * never picks up the system's drop-ins.
 */
#include <stddef.h>

/* Drop-in files read at most, over all directories, and four times as
 * many names (masks included) looked at: a bound on what a directory full
 * of files costs at each load; more is an error (-E2BIG). */
#define CONF_DROPINS_MAX 256

struct conf_dropins {
	char **paths; /* absolute, in the order to read them */
	size_t n;
};

/* The drop-in directories of the main configuration file path, highest
 * priority first, into ret (n_ret entries); each is a new string, free
 * them with conf_dropin_dirs_free().  -ENOMEM; ret untouched on failure. */
int conf_dropin_dirs(const char *path, char ***ret, size_t *n_ret);
void conf_dropin_dirs_free(char **dirs, size_t n);

/*
 * The drop-ins of dirs (highest priority first), in the order to read
 * them, into *ret (owned by the caller: conf_dropins_done()).  Returns 0,
 * -ENOMEM, -E2BIG past the bounds above, or the negative errno of a
 * directory that exists but cannot be read (then *ret_failed, if not NULL,
 * points at that entry of dirs).  *ret is written only on success.
 */
int conf_dropins_find(const char *const *dirs, size_t n_dirs, struct conf_dropins *ret, const char **ret_failed);

/* Frees the paths and empties d; accepts a zeroed or already emptied d. */
void conf_dropins_done(struct conf_dropins *d);
