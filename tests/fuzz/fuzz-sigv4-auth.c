/* SPDX-License-Identifier: MIT */
/*
 * The SigV4 Authorization header parser (daemon/sigv4.c), which the fake
 * KMS runs on every request it verifies.  A parsed header has all its parts.
 */
#include <errno.h>

#include "fuzz.h"
#include "sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sigv4_parsed_authorization a = {0};
	char *text = fuzz_strndup(data, size);
	int r = sigv4_parse_authorization(text, &a);

	if (r == 0) {
		FUZZ_CHECK(a.access_key_id && a.date8 && a.region && a.service && a.signed_headers && a.signature);
		FUZZ_CHECK(strlen(a.signature) == 64);
		FUZZ_CHECK(sigv4_signature_equal(a.signature, a.signature));
	}
	sigv4_parsed_authorization_done(&a);
	free(text);
	return 0;
}
