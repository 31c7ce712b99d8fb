/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Reading the small text files the daemon is configured by (its own config,
 * the AWS shared files, systemd credentials).  Users control these files, so
 * reading is bounded and never blocks: a FIFO, socket or directory is
 * refused, /dev/zero runs into the size limit, /dev/null reads as empty.
 */
#include <stddef.h>

/* Largest config-like file we read: far more than any real one needs. */
#define TEXTFILE_MAX_SIZE (1024 * 1024)

/*
 * Reads the file at path whole.  *ret is malloc'ed, NUL-terminated,
 * *ret_size bytes long (without the NUL); free it with textfile_free(), which
 * wipes it, because these files may hold secrets.
 * Returns 0; -ENOENT when the file (or a directory on the way) does not
 * exist; -EFBIG when larger than max bytes; -EINVAL when it is neither a
 * regular file nor a character device, would block, or contains a NUL byte;
 * another -errno from open/read.
 */
int textfile_read(const char *path, size_t max, char **ret, size_t *ret_size);

/* Wipes and frees a buffer from textfile_read().  NULL-safe, returns NULL. */
char *textfile_free(char *buf, size_t size);

/*
 * Splits the next line off *cursor (a NUL-terminated buffer, modified in
 * place): returns the line without its "\n" or "\r\n", and advances *cursor
 * past it; returns NULL at the end of the buffer.
 */
char *textfile_next_line(char **cursor);

/* Strips spaces and tabs from both ends of s, in place; returns the start. */
char *text_strip(char *s);

/* True for the whitespace these formats know: space and tab. */
static inline int text_is_blank(char c)
{
	return c == ' ' || c == '\t';
}
