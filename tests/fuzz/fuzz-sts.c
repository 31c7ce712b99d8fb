/* SPDX-License-Identifier: MIT */
/*
 * STS Query-protocol answers (daemon/sts.c over daemon/xml.c): the first
 * byte picks what is read, the rest is the body (exactly, not
 * NUL-terminated): 0 AssumeRoleWithWebIdentity and 1 AssumeRole
 * credentials, 2 GetCallerIdentity, 3 an <ErrorResponse> (what
 * handle_error reads).  Credentials come only with a key pair, a session
 * token and an expiration, exactly the answer's secret, and no error
 * quotes it; an identity is 12 digits.
 */
#include <errno.h>

#include "check-creds.h"
#include "sts.h"
#include "xml.h"

static void credentials(const char *action, const char *xml, size_t len)
{
	char response[96], result[96], *secret = NULL, *error = NULL;
	struct aws_credentials *c = FUZZ_UNTOUCHED;
	const char *path[] = {response, result, "Credentials", "SecretAccessKey", NULL};
	int r;

	snprintf(response, sizeof(response), "%sResponse", action);
	snprintf(result, sizeof(result), "%sResult", action);
	if (xml_find_text(xml, len, path, &secret) < 0)
		secret = NULL;
	r = sts_parse_credentials(action, "sts-fuzz", xml, len, &c, &error);
	if (r == 0) {
		FUZZ_CHECK(c->session_token && *c->session_token && c->expiration != 0);
		FUZZ_CHECK(strcmp(c->source, "sts-fuzz") == 0);
	} else {
		FUZZ_CHECK(r == -EINVAL || r == -ENOMEM);
	}
	fuzz_check_creds_outcome(r, c, error, secret);
	free(secret);
}

static void identity(const char *xml, size_t len)
{
	char account[13] = "untouched!!!", *arn = NULL;
	int r = sts_parse_identity(xml, len, account, &arn);

	if (r == 0) {
		FUZZ_CHECK(strlen(account) == 12 && strspn(account, "0123456789") == 12);
		FUZZ_CHECK(arn);
		free(arn);
	} else {
		FUZZ_CHECK(!arn && strcmp(account, "untouched!!!") == 0);
	}
}

static void error_response(const char *xml, size_t len)
{
	static const char *const paths[][4] = {
		{"ErrorResponse", "Error", "Code", NULL},
		{"ErrorResponse", "Error", "Message", NULL},
		{"ErrorResponse", "RequestId", NULL},
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char *v = NULL;
		int r = xml_find_text(xml, len, paths[i], &v);

		if (r == 0) {
			FUZZ_CHECK(v && strlen(v) <= len);
			free(v);
		} else {
			FUZZ_CHECK(!v && (r == -ENOENT || r == -EINVAL || r == -E2BIG || r == -ENOMEM));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data + 1;

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		credentials("AssumeRoleWithWebIdentity", xml, size - 1);
		break;
	case 1:
		credentials("AssumeRole", xml, size - 1);
		break;
	case 2:
		identity(xml, size - 1);
		break;
	default:
		error_response(xml, size - 1);
	}
	return 0;
}
