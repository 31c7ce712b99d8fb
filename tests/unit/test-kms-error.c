/* SPDX-License-Identifier: MIT */
/* AWS error decoding (AWS.md §1.4), mapping to io.kmscancel errors, and the
 * retry classes (§3.1); plus the KMS endpoint names (§5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "http.h"
#include "kms-error.h"

/* A response as the parser would hand it over. */
static struct http_response response(int status, const char *reason, const char *body, const char *errortype)
{
	static struct http_header header;
	struct http_response r = {
		.status = status,
		.reason = (char *)reason,
		.body = (char *)body,
		.body_len = body ? strlen(body) : 0,
	};

	if (errortype) {
		header.name = (char *)"X-Amzn-ErrorType";
		header.value = (char *)errortype;
		r.headers = &header;
		r.n_headers = 1;
	}
	return r;
}

static void expect_decoded(struct http_response r, const char *code, const char *message)
{
	char *c = NULL, *m = NULL;

	assert_int_equal(kms_error_decode(&r, &c, &m), 0);
	assert_string_equal(c, code);
	assert_string_equal(m, message);
	free(c);
	free(m);
}

static void test_decode_shapes(void **state)
{
	expect_decoded(response(400, "Bad Request",
				"{\"__type\":\"NotFoundException\",\"message\":\"Key 'arn:x' does not exist\"}", NULL),
		       "NotFoundException", "Key 'arn:x' does not exist");
	/* Namespaced and suffixed forms all mean the bare name. */
	expect_decoded(response(400, "", "{\"__type\":\"com.amazonaws.kms#KMSInvalidStateException\",\"message\":\"m\"}",
				NULL),
		       "KMSInvalidStateException", "m");
	expect_decoded(response(400, "", "{\"__type\":\"ns#Foo:http://internal.amazon.com/x\",\"Message\":\"cap\"}", NULL),
		       "Foo", "cap");
	expect_decoded(response(400, "", "{\"code\":\"FooError:http://x\",\"message\":\"c\"}", NULL), "FooError", "c");
	/* The header wins over the body, and is cut at ',' and ':'. */
	expect_decoded(response(400, "", "{\"__type\":\"Body\",\"message\":\"h\"}", "HeaderError:http://x,Other"),
		       "HeaderError", "h");
}

static void test_decode_garbage(void **state)
{
	/* A proxy's HTML page, an empty 503, a JSON array, a huge type. */
	expect_decoded(response(500, "Internal Server Error", "<html><body>oops</body></html>", NULL), "500",
		       "HTTP 500 Internal Server Error (the response carries no AWS error)");
	expect_decoded(response(503, "Service Unavailable", NULL, NULL), "503",
		       "HTTP 503 Service Unavailable (the response carries no AWS error)");
	expect_decoded(response(400, "Bad Request", "[1,2,3]", NULL), "400",
		       "HTTP 400 Bad Request (the response carries no AWS error)");
	expect_decoded(response(400, "Bad Request", "{\"__type\":42,\"message\":7}", NULL), "400",
		       "HTTP 400 Bad Request (the response carries no AWS error)");
	expect_decoded(response(502, NULL, "{\"__type\":\"#\"}", NULL), "502",
		       "HTTP 502 (the response carries no AWS error)");
	/* A type but no message: the reason phrase stands in. */
	expect_decoded(response(400, "Bad Request", "{\"__type\":\"FooException\"}", NULL), "FooException",
		       "Bad Request");

	char big[512];
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char body[600];
	snprintf(body, sizeof(body), "{\"__type\":\"%s\"}", big);
	expect_decoded(response(400, "Bad", body, NULL), "400", "HTTP 400 Bad (the response carries no AWS error)");
}

static void test_mapping(void **state)
{
	assert_int_equal(kms_error_to_kmscancel("NotFoundException"), KMSCANCEL_E_NOT_FOUND);
	assert_int_equal(kms_error_to_kmscancel("InvalidArnException"), KMSCANCEL_E_INVALID_ARN);
	assert_int_equal(kms_error_to_kmscancel("KMSInvalidStateException"), KMSCANCEL_E_INVALID_STATE);
	assert_int_equal(kms_error_to_kmscancel("DependencyTimeoutException"), KMSCANCEL_E_DEPENDENCY_TIMEOUT);
	assert_int_equal(kms_error_to_kmscancel("KMSInternalException"), KMSCANCEL_E_KMS_INTERNAL);
	assert_int_equal(kms_error_to_kmscancel("AccessDeniedException"), KMSCANCEL_E_ACCESS_DENIED);
	assert_int_equal(kms_error_to_kmscancel("ThrottlingException"), KMSCANCEL_E_THROTTLING);
	assert_int_equal(kms_error_to_kmscancel("UnrecognizedClientException"), KMSCANCEL_E_KMS);
	assert_int_equal(kms_error_to_kmscancel("500"), KMSCANCEL_E_KMS);
}

static void test_classify(void **state)
{
	assert_int_equal(kms_error_classify("DependencyTimeoutException", 400), KMS_ERROR_TRANSIENT);
	assert_int_equal(kms_error_classify("KMSInternalException", 400), KMS_ERROR_TRANSIENT);
	assert_int_equal(kms_error_classify("ThrottlingException", 400), KMS_ERROR_THROTTLING);
	assert_int_equal(kms_error_classify("InvalidSignatureException", 400), KMS_ERROR_CLOCK_SKEW);
	assert_int_equal(kms_error_classify("ExpiredTokenException", 400), KMS_ERROR_EXPIRED_TOKEN);
	assert_int_equal(kms_error_classify("500", 500), KMS_ERROR_TRANSIENT);
	assert_int_equal(kms_error_classify("Whatever", 503), KMS_ERROR_TRANSIENT);
	/* Never retried: */
	assert_int_equal(kms_error_classify("NotFoundException", 400), KMS_ERROR_PERMANENT);
	assert_int_equal(kms_error_classify("KMSInvalidStateException", 409), KMS_ERROR_PERMANENT);
	assert_int_equal(kms_error_classify("AccessDeniedException", 400), KMS_ERROR_PERMANENT);
	/* A resource quota for KMS, not a rate: retrying won't help. */
	assert_int_equal(kms_error_classify("LimitExceededException", 400), KMS_ERROR_PERMANENT);
	assert_string_equal(kms_error_class_to_string(KMS_ERROR_THROTTLING), "throttling");
}

static void expect_url(const char *partition, const char *region, int fips, const char *url)
{
	char *u = NULL;

	assert_int_equal(endpoint_kms_url(partition, region, fips, &u), 0);
	assert_string_equal(u, url);
	free(u);
}

static void test_endpoints(void **state)
{
	char *u = NULL;

	expect_url(NULL, "us-east-1", 0, "https://kms.us-east-1.amazonaws.com");
	expect_url("aws", "eu-west-3", 1, "https://kms-fips.eu-west-3.amazonaws.com");
	expect_url(NULL, "cn-north-1", 0, "https://kms.cn-north-1.amazonaws.com.cn");
	expect_url("aws-cn", "cn-northwest-1", 0, "https://kms.cn-northwest-1.amazonaws.com.cn");
	expect_url(NULL, "us-gov-west-1", 1, "https://kms-fips.us-gov-west-1.amazonaws.com");
	expect_url("aws-iso", "us-iso-east-1", 0, "https://kms.us-iso-east-1.c2s.ic.gov");
	assert_string_equal(endpoint_partition_for_region("us-gov-east-1"), "aws-us-gov");
	assert_string_equal(endpoint_partition_for_region("us-isob-east-1"), "aws-iso-b");
	assert_string_equal(endpoint_partition_for_region("ap-south-2"), "aws");
	/* Garbage never becomes part of a host name. */
	assert_int_equal(endpoint_kms_url(NULL, "us-east-1.evil.example", 0, &u), -EINVAL);
	assert_int_equal(endpoint_kms_url(NULL, "", 0, &u), -EINVAL);
	assert_int_equal(endpoint_kms_url(NULL, "US-EAST-1", 0, &u), -EINVAL);
	assert_int_equal(endpoint_kms_url("aws-mars", "us-east-1", 0, &u), -EINVAL);
	assert_null(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_shapes), cmocka_unit_test(test_decode_garbage),
		cmocka_unit_test(test_mapping),       cmocka_unit_test(test_classify),
		cmocka_unit_test(test_endpoints),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
