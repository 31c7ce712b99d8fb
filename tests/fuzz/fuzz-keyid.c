/* SPDX-License-Identifier: MIT */
/*
 * KeyId / key ARN validation (common/keyid.c): the daemon runs it on every
 * keyId a client sends, the CLI on every argument and batch line.  A key
 * that parses has well-formed fields, and its canonical form parses to the
 * same key.
 */
#include <errno.h>

#include "fuzz.h"
#include "keyid.h"

static bool all_lower_hex_or_dash(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || *s == '-' || *s == 'm' || *s == 'r' ||
		      *s == 'k'))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keyid k, again;
	const char *reason = NULL;
	char *s;
	int r;

	r = keyid_parse_n((const char *)data, size, &k, &reason);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r < 0) {
		FUZZ_CHECK(reason && *reason);
	} else {
		FUZZ_CHECK(k.kind < _KEYID_KIND_MAX && strlen(k.id) == KEYID_ID_MAX);
		FUZZ_CHECK(all_lower_hex_or_dash(k.id));
		FUZZ_CHECK(k.kind != KEYID_KIND_ARN || keyid_partition_is_known(k.partition));
		FUZZ_CHECK(k.kind != KEYID_KIND_ARN || strlen(k.account) == 12);
		FUZZ_CHECK(keyid_parse(k.id, &again, NULL) == 0 && strcmp(again.id, k.id) == 0);
	}
	/* The C-string entry point agrees on inputs without NULs. */
	s = fuzz_strndup(data, size);
	if (strlen(s) == size)
		FUZZ_CHECK((keyid_parse(s, &again, NULL) == 0) == (r == 0));
	free(s);
	return 0;
}
