/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Shared by the fuzz targets (tests/fuzz/fuzz-*.c).  Each target defines
 * LLVMFuzzerTestOneInput() only; it is linked either with libFuzzer
 * (configure --enable-fuzzing, CC=clang: `make fuzz-smoke`) or with
 * replay.c, which runs the checked-in corpus through it as a plain
 * `make check` test.  A target must not leak, must not keep state between
 * inputs and must treat any input as legal: only a sanitizer report or an
 * abort() on a broken invariant is a finding.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of data (inner NULs stay: C-string parsers see a
 * prefix).  Never NULL. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* An invariant the code under test promises; abort() makes it a finding. */
#define FUZZ_CHECK(cond)                                                                        \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                \
		}                                                                               \
	} while (0)
