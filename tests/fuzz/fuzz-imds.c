/* SPDX-License-Identifier: MIT */
/*
 * The IMDS answers (daemon/creds-imds.c): first byte even = the role
 * listing, odd = the role's credentials JSON; the rest is the body.  A role
 * name is one line of IAM name characters; credentials come only with a
 * key pair and an Expiration, and no error quotes the secret.
 */
#include "check-creds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aws_credentials *c = FUZZ_UNTOUCHED;
	char *body, *error = NULL, *role = NULL;
	int r;

	if (size < 1)
		return 0;
	body = fuzz_strndup(data + 1, size - 1);
	if (data[0] % 2 == 0) {
		r = creds_imds_parse_role(body, &role);
		if (r == 0) {
			FUZZ_CHECK(role && *role && strlen(role) <= strlen(body));
			FUZZ_CHECK(strncmp(role, body, strlen(role)) == 0 && !strpbrk(role, "\r\n/?#% "));
			free(role);
		} else {
			FUZZ_CHECK(r == -EINVAL && !role);
		}
	} else {
		struct json_object *o = json_tokener_parse(body);

		r = creds_imds_parse_credentials(body, &c, &error);
		FUZZ_CHECK(r < 0 || !fuzz_json_member_has_nul(o));
		if (r == 0)
			FUZZ_CHECK(c->expiration != 0 && strcmp(c->source, CREDS_SOURCE_IMDS) == 0);
		fuzz_check_creds_outcome(r, c, error, fuzz_json_secret(o));
		json_object_put(o);
	}
	free(body);
	return 0;
}
