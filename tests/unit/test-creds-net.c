/* SPDX-License-Identifier: MIT */
/*
 * The parsers behind the network and process providers: the bounded XML
 * reader (STS answers), form encoding, and credential_process's word
 * splitting.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "accounts.h"
#include "proxy.h"
#include "sts.h"
#include "xml.h"

int creds_process_split(const char *cmd, char ***ret);

static const char sts_ok[] =
    "<?xml version=\"1.0\"?>\n"
    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <AssumeRoleWithWebIdentityResult>\n"
    "    <!-- a comment with <Credentials> in it -->\n"
    "    <SubjectFromWebIdentityToken>amzn1.account.x</SubjectFromWebIdentityToken>\n"
    "    <AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/r/s</Arn></AssumedRoleUser>\n"
    "    <Credentials>\n"
    "      <SessionToken>AQoD&amp;&lt;&#65;&#x42;<![CDATA[<x>]]></SessionToken>\n"
    "      <SecretAccessKey>secret</SecretAccessKey>\n"
    "      <Expiration>2014-10-24T23:00:23Z</Expiration>\n"
    "      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
    "      <Empty/>\n"
    "    </Credentials>\n"
    "  </AssumeRoleWithWebIdentityResult>\n"
    "</AssumeRoleWithWebIdentityResponse>\n";

static int find(const char *xml, const char *const *path, char **ret)
{
	return xml_find_text(xml, strlen(xml), path, ret);
}

static void test_xml_find(void **state)
{
	const char *token[] = {"AssumeRoleWithWebIdentityResponse", "AssumeRoleWithWebIdentityResult", "Credentials",
			       "SessionToken", NULL};
	const char *akid[] = {"AssumeRoleWithWebIdentityResponse", "AssumeRoleWithWebIdentityResult", "Credentials",
			      "AccessKeyId", NULL};
	const char *empty[] = {"AssumeRoleWithWebIdentityResponse", "AssumeRoleWithWebIdentityResult", "Credentials",
			       "Empty", NULL};
	const char *missing[] = {"AssumeRoleWithWebIdentityResponse", "Credentials", NULL};
	const char *not_leaf[] = {"AssumeRoleWithWebIdentityResponse", "AssumeRoleWithWebIdentityResult", "Credentials",
				  NULL};
	char *v = NULL;

	assert_int_equal(find(sts_ok, token, &v), 0);
	assert_string_equal(v, "AQoD&<AB<x>");
	free(v);
	assert_int_equal(find(sts_ok, akid, &v), 0);
	assert_string_equal(v, "ASgeIAIOSFODNN7EXAMPLE");
	free(v);
	assert_int_equal(find(sts_ok, empty, &v), 0);
	assert_string_equal(v, "");
	free(v);
	assert_int_equal(find(sts_ok, missing, &v), -ENOENT);
	assert_int_equal(find(sts_ok, not_leaf, &v), -EINVAL);

	/* Namespace prefixes are ignored. */
	const char *code[] = {"ErrorResponse", "Error", "Code", NULL};
	assert_int_equal(
	    find("<s:ErrorResponse><s:Error><s:Code>InvalidIdentityToken</s:Code></s:Error></s:ErrorResponse>", code,
		 &v),
	    0);
	assert_string_equal(v, "InvalidIdentityToken");
	free(v);
}

static void test_xml_malformed(void **state)
{
	const char *path[] = {"a", "b", NULL};
	char deep[XML_MAX_DEPTH * 3 + 16] = "";
	char *v = NULL;

	assert_int_equal(find("<a><b>x</c></a>", path, &v), -EINVAL);
	assert_int_equal(find("<a><b>x", path, &v), -EINVAL);
	assert_int_equal(find("<a><b>&bogus;</b></a>", path, &v), -EINVAL);
	assert_int_equal(find("<a><b>&#0;</b></a>", path, &v), -EINVAL);
	assert_int_equal(find("<!DOCTYPE a [<!ENTITY x \"y\">]><a><b>&x;</b></a>", path, &v), -EINVAL);
	assert_int_equal(find("<a><b attr='>'>ok</b></a>", path, &v), 0);
	assert_string_equal(v, "ok");
	free(v);
	assert_int_equal(find("", path, &v), -ENOENT);
	assert_int_equal(find("not xml at all", path, &v), -ENOENT);
	assert_int_equal(find("<a><!-- unterminated", path, &v), -EINVAL);
	for (int i = 0; i <= XML_MAX_DEPTH; i++)
		strcat(deep, "<x>");
	assert_int_equal(find(deep, path, &v), -E2BIG);
	/* A NUL inside the length is just a byte; nothing reads past len. */
	assert_int_equal(xml_find_text("<a><b>x</b></a>", 7, path, &v), -EINVAL);
}

static void test_form_encode(void **state)
{
	char out[128];
	size_t n = sts_form_encode("arn:aws:iam::1:role/a b+c~", out);

	assert_int_equal(n, strlen(out));
	assert_string_equal(out, "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b%2Bc~");
}

static void test_process_split(void **state)
{
	char **argv = NULL;

	assert_int_equal(creds_process_split("/usr/bin/get-creds --profile 'my profile' \"a \\\"b\\\"\" c\\ d", &argv),
			 0);
	assert_string_equal(argv[0], "/usr/bin/get-creds");
	assert_string_equal(argv[1], "--profile");
	assert_string_equal(argv[2], "my profile");
	assert_string_equal(argv[3], "a \"b\"");
	assert_string_equal(argv[4], "c d");
	assert_null(argv[5]);
	free(argv);
	assert_int_equal(creds_process_split("x ''", &argv), 0);
	assert_string_equal(argv[1], "");
	free(argv);
	assert_int_equal(creds_process_split("  ", &argv), -EINVAL);
	assert_int_equal(creds_process_split("a 'b", &argv), -EINVAL);
	assert_int_equal(creds_process_split("a \"b", &argv), -EINVAL);
}

static void test_sts_identity(void **state)
{
	static const char ok[] = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
				 "<GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/a</Arn>"
				 "<UserId>AIDA</UserId><Account>111122223333</Account></GetCallerIdentityResult>"
				 "</GetCallerIdentityResponse>";
	static const char bad[] = "<GetCallerIdentityResponse><GetCallerIdentityResult><Account>12</Account>"
				  "</GetCallerIdentityResult></GetCallerIdentityResponse>";
	static const char none[] = "<GetCallerIdentityResponse><GetCallerIdentityResult/></GetCallerIdentityResponse>";
	char account[13] = "", *arn = NULL, region[STS_REGION_MAX], name[ACCOUNTS_SESSION_NAME_MAX + 1];

	assert_int_equal(sts_parse_identity(ok, strlen(ok), account, &arn), 0);
	assert_string_equal(account, "111122223333");
	assert_string_equal(arn, "arn:aws:iam::111122223333:user/a");
	free(arn);
	assert_int_equal(sts_parse_identity(bad, strlen(bad), account, &arn), -EINVAL);
	assert_int_equal(sts_parse_identity(none, strlen(none), account, &arn), -ENOENT);
	assert_int_equal(sts_parse_identity(ok, 40, account, &arn) < 0, 1); /* cut short */

	assert_string_equal(sts_signing_region("https://sts.eu-west-1.amazonaws.com", "us-east-1", region),
			    "eu-west-1");
	assert_string_equal(sts_signing_region("https://127.0.0.1:9", "eu-west-2", region), "eu-west-2");
	assert_string_equal(sts_signing_region("https://sts.amazonaws.com", NULL, region), "us-east-1");

	accounts_session_name("host.example", name);
	assert_string_equal(name, "kmscanceld@host.example");
	accounts_session_name("bad host/name", name);
	assert_string_equal(name, "kmscanceld@bad-host-name");
	accounts_session_name("a-very-long-host-name-that-goes-on-and-on-beyond-sixty-four-characters.example", name);
	assert_int_equal(strlen(name), ACCOUNTS_SESSION_NAME_MAX);
}

static const char *proxy_env_value;

static const char *proxy_env(const char *name)
{
	return strcmp(name, "HTTPS_PROXY") == 0 ? proxy_env_value : NULL;
}

/* KMS's and every credential client's proxy config are one object, so the
 * Proxy-Authorization secret has one copy (tests/security/secrets-memory.sh). */
static void test_proxy_shared(void **state)
{
	struct proxy_config *a = NULL, *b = NULL, *c = NULL;
	char *err = NULL;

	(void)state;
	proxy_env_value = "http://u:p@127.0.0.1:3128";
	assert_int_equal(proxy_config_from_env(proxy_env, &a, &err), 0);
	assert_int_equal(proxy_config_from_env(proxy_env, &b, &err), 0);
	assert_ptr_equal(a, b);
	proxy_env_value = "http://u:other@127.0.0.1:3128";
	assert_int_equal(proxy_config_from_env(proxy_env, &c, &err), 0);
	assert_ptr_not_equal(a, c);
	assert_null(proxy_config_free(a));
	assert_string_equal(b->host, "127.0.0.1"); /* still alive: b's reference */
	assert_null(proxy_config_free(b));
	assert_null(proxy_config_free(c));
	proxy_env_value = NULL;
	assert_int_equal(proxy_config_from_env(proxy_env, &a, &err), 0);
	assert_null(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_xml_find),      cmocka_unit_test(test_xml_malformed),
	    cmocka_unit_test(test_form_encode),   cmocka_unit_test(test_sts_identity),
	    cmocka_unit_test(test_process_split), cmocka_unit_test(test_proxy_shared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
