/* SPDX-License-Identifier: MIT */
/*
 * The container credential endpoint's answer (daemon/creds-container.c):
 * the input is the 2xx body.  Credentials come only with a key pair, and
 * no error quotes the secret.
 */
#include "check-creds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aws_credentials *c = FUZZ_UNTOUCHED;
	char *body = fuzz_strndup(data, size), *error = NULL;
	struct json_object *o = json_tokener_parse(body);
	int r;

	r = creds_container_parse(body, &c, &error);
	FUZZ_CHECK(r < 0 || !fuzz_json_member_has_nul(o));
	fuzz_check_creds_outcome(r, c, error, fuzz_json_secret(o));
	json_object_put(o);
	free(body);
	return 0;
}
