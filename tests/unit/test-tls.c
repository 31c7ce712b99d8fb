/* SPDX-License-Identifier: MIT */
/* tls.c: contexts that trust the same unchanged CA source share one parsed
 * trust store; a changed bundle file is loaded again; errors say why. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls.h"

/* Writes a fresh self-signed CA certificate named cn to path. */
static void write_ca(const char *path, const char *cn)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f;

	assert_non_null(key);
	assert_non_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(PEM_write_X509(f, x) == 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
}

/* The trust store a context's connections verify against. */
static X509_STORE *store_of(struct tls_context *t)
{
	SSL *ssl = tls_context_new_ssl(t, "kms.us-east-1.amazonaws.com", 443);
	X509_STORE *store;

	assert_non_null(ssl);
	store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));
	SSL_free(ssl);
	return store;
}

static int count_certs(X509_STORE *store)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
	int n = 0;

	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++)
		if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_X509)
			n++;
	return n;
}

static void test_bundle_shared_then_reloaded(void **state)
{
	char dir[] = "/tmp/test-tls.XXXXXX", path[64];
	struct tls_context *a = NULL, *b = NULL, *c = NULL;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	write_ca(path, "kmscancel unit test CA one");

	assert_int_equal(tls_context_new(path, &a, NULL), 0);
	assert_int_equal(tls_context_new(path, &b, NULL), 0);
	assert_ptr_equal(store_of(a), store_of(b));
	assert_int_equal(count_certs(store_of(a)), 1);

	/* A reload after the bundle changed must see the new file; the
	 * contexts made before keep theirs. */
	/* A longer name: a new size, even where timestamps are coarse. */
	write_ca(path, "kmscancel unit test CA two, with a longer name");
	assert_int_equal(tls_context_new(path, &c, NULL), 0);
	assert_ptr_not_equal(store_of(c), store_of(a));
	assert_ptr_equal(store_of(a), store_of(b));
	assert_int_equal(count_certs(store_of(c)), 1);

	tls_context_free(a);
	tls_context_free(b);
	tls_context_free(c);
	unlink(path);
	rmdir(dir);
}

static void test_system_store_shared(void **state)
{
	struct tls_context *a = NULL, *b = NULL;

	assert_int_equal(tls_context_new(NULL, &a, NULL), 0);
	assert_int_equal(tls_context_new(NULL, &b, NULL), 0);
	assert_ptr_equal(store_of(a), store_of(b));
	tls_context_free(a);
	/* The last context holds the store alone now. */
	assert_non_null(store_of(b));
	tls_context_free(b);
	assert_int_equal(tls_context_new(NULL, &a, NULL), 0);
	tls_context_free(a);
}

static void test_missing_bundle(void **state)
{
	struct tls_context *t = NULL;
	char *error = NULL;

	assert_int_equal(tls_context_new("/nonexistent/ca.pem", &t, &error), -EINVAL);
	assert_null(t);
	assert_non_null(error);
	/* The errno, named: OpenSSL has no string for a system error. */
	assert_non_null(strstr(error, "cannot load CA bundle /nonexistent/ca.pem: No such file or directory"));
	free(error);
}

static void test_bundle_without_certificates(void **state)
{
	char path[] = "/tmp/test-tls-XXXXXX";
	struct tls_context *t = NULL;
	char *error = NULL;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a certificate\n", 18), 18);
	close(fd);
	assert_int_equal(tls_context_new(path, &t, &error), -EINVAL);
	unlink(path);
	assert_null(t);
	assert_non_null(error);
	assert_non_null(strstr(error, "no certificate or crl found"));
	free(error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bundle_shared_then_reloaded),
	    cmocka_unit_test(test_system_store_shared),
	    cmocka_unit_test(test_bundle_without_certificates),
	    cmocka_unit_test(test_missing_bundle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
