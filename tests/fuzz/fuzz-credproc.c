/* SPDX-License-Identifier: MIT */
/*
 * credential_process output (daemon/creds-process.c): the input is what
 * the process wrote to stdout, exactly (not NUL-terminated).  Credentials
 * come only from a "Version": 1 object with a key pair, and no error
 * quotes the secret.
 */
#include "check-creds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aws_credentials *c = FUZZ_UNTOUCHED;
	char *text = fuzz_strndup(data, size), *error = NULL;
	struct json_object *o = json_tokener_parse(text);
	int r;

	r = creds_process_parse((const char *)data, size, &c, &error);
	FUZZ_CHECK(r < 0 || !fuzz_json_member_has_nul(o));
	fuzz_check_creds_outcome(r, c, error, fuzz_json_secret(o));
	json_object_put(o);
	free(text);
	return 0;
}
