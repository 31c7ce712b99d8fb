/* SPDX-License-Identifier: MIT */
/*
 * main() for a fuzz target in a build without libFuzzer: runs every file
 * given on the command line (files or directories, one level deep), or by
 * default the target's checked-in corpus FUZZ_CORPUS_DIR, through
 * LLVMFuzzerTestOneInput().  So `make check` replays the seeds and every
 * saved crash reproducer with gcc, valgrind or the sanitizers, and a
 * regression in a parser fails CI even where clang is absent.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Inputs larger than this are not replayed (libFuzzer's -max_len in
 * fuzz-smoke is far lower). */
#define REPLAY_MAX_INPUT (4 * 1024 * 1024)

static int replay_file(const char *path, unsigned *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t len;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	buf = malloc(REPLAY_MAX_INPUT);
	if (!buf)
		abort();
	len = fread(buf, 1, REPLAY_MAX_INPUT, f);
	fclose(f);
	/* Exactly len bytes, so ASan sees reads past the input. */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact)
		abort();
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	(*n)++;
	return 0;
}

static int replay_path(const char *path, unsigned *n)
{
	struct stat st;
	struct dirent **names;
	int k, r = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path, n);
	k = scandir(path, &names, NULL, alphasort);
	if (k < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < k; i++) {
		if (names[i]->d_name[0] != '.') {
			char *p;

			if (asprintf(&p, "%s/%s", path, names[i]->d_name) < 0)
				abort();
			if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && replay_file(p, n) < 0)
				r = -1;
			free(p);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	unsigned n = 0;
	int r = 0;

	if (argc < 2)
		r = replay_path(FUZZ_CORPUS_DIR, &n);
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i], &n) < 0)
			r = -1;
	if (r < 0)
		return 99;
	if (n == 0) {
		fprintf(stderr, "no inputs replayed\n");
		return 99;
	}
	printf("%u inputs replayed\n", n);
	return 0;
}
