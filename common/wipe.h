/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Freeing memory that held a secret: the bytes are wiped first, so that no
 * freed block (glibc's free lists, ASan's quarantine, a later allocation
 * handed the same block) keeps a copy.  Growing such a buffer with realloc
 * would leave the old block behind unwiped whenever it moves, so these
 * grow by allocate, copy, wipe, free.  libc only; NULL-safe throughout.
 */
#include <stddef.h>

/* Wipes n bytes at p, then frees p. */
void wipe_free(void *p, size_t n);
/* Wipes the string and its NUL, then frees it. */
void wipe_free_string(char *s);
/* Like realloc(p, size), but the old block, of which the first used bytes
 * are kept, is wiped before it is freed; NULL (p untouched) when out of
 * memory.  size 0 is refused (NULL, p untouched). */
void *wipe_realloc(void *p, size_t used, size_t size);

/* asprintf(3) for a string that holds a secret.  glibc's vasprintf
 * formats into a buffer of its own and, unless the result nearly fills it,
 * copies the result to a new block and frees that buffer unwiped (and
 * grows it by realloc, which may move it); under ASan or valgrind a freed
 * block is never reused soon.  This one measures first and formats straight
 * into a block of the exact size.  Returns the length, or -ENOMEM / -EINVAL
 * with *ret NULL.  Free the result with wipe_free_string(). */
int wipe_asprintf(char **ret, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For allocators that do not know the size a block was asked for
 * (libevent's, see event_set_mem_functions): wipe the whole usable block,
 * as malloc_usable_size() reports it, before freeing. */
void *wipe_any_malloc(size_t size);
void *wipe_any_realloc(void *p, size_t size);
void wipe_any_free(void *p);
