/* SPDX-License-Identifier: MIT */
/*
 * AWS JSON-protocol error decoding (daemon/kms-error.c) straight on a body:
 * input = STATUS_BYTE ERRORTYPE_LINE "\n" BODY.  Whatever the body, decoding
 * yields a code and a message and never fails but for memory.
 */
#include "fuzz.h"
#include "http.h"
#include "kms-error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_header header = {.name = (char *)"X-Amzn-ErrorType"};
	struct http_response r = {.reason = (char *)"Bad Request"};
	char *text, *nl, *code = NULL, *message = NULL;

	if (size < 1)
		return 0;
	r.status = 300 + data[0] % 3 * 100 + data[0] / 3 % 4; /* 300..503 */
	text = fuzz_strndup(data + 1, size - 1);
	nl = memchr(text, '\n', size - 1);
	if (nl) {
		*nl = '\0';
		header.value = text;
		r.headers = &header;
		r.n_headers = 1;
		r.body = nl + 1;
		r.body_len = size - 1 - (size_t)(nl + 1 - text);
	} else {
		r.body = text;
		r.body_len = size - 1;
	}
	FUZZ_CHECK(kms_error_decode(&r, &code, &message) == 0);
	FUZZ_CHECK(code && *code && message);
	(void)kms_error_to_kmscancel(code);
	FUZZ_CHECK(kms_error_classify(code, r.status) < _KMS_ERROR_CLASS_MAX);
	free(code);
	free(message);
	free(text);
	return 0;
}
