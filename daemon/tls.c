/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "tls.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* "host:port" of the connection an SSL belongs to, so the new-session
 * callback knows where a session may be resumed. */
struct tls_cache_entry {
	char *key;
	SSL_SESSION *session;
	unsigned long stamp; /* last store, for evicting the oldest */
};

struct tls_trust;

struct tls_context {
	SSL_CTX *ctx;
	struct tls_trust *trust; /* the CAs, shared with other contexts */
	struct tls_cache_entry cache[TLS_MAX_CACHED_SESSIONS];
	unsigned long clock;
};

/* SSL ex_data slot holding the malloc'ed "host:port" key; allocated once per
 * process (OpenSSL keeps the index table globally). */
static int key_index = -1;

static void key_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	free(ptr);
}

static struct tls_cache_entry *cache_find(struct tls_context *t, const char *key)
{
	for (size_t i = 0; i < TLS_MAX_CACHED_SESSIONS; i++)
		if (t->cache[i].key && strcmp(t->cache[i].key, key) == 0)
			return &t->cache[i];
	return NULL;
}

/* An empty slot, else the least recently stored one (emptied). */
static struct tls_cache_entry *cache_slot(struct tls_context *t)
{
	struct tls_cache_entry *oldest = &t->cache[0];

	for (size_t i = 0; i < TLS_MAX_CACHED_SESSIONS; i++) {
		if (!t->cache[i].key)
			return &t->cache[i];
		if (t->cache[i].stamp < oldest->stamp)
			oldest = &t->cache[i];
	}
	free(oldest->key);
	SSL_SESSION_free(oldest->session);
	*oldest = (struct tls_cache_entry){0};
	return oldest;
}

/* OpenSSL hands every session the server issues (with TLS 1.3, tickets
 * after the handshake) to this callback.  Keeping only the newest per
 * host:port bounds the cache and resumes with the freshest ticket.
 * Returns 1: we took the reference. */
static int new_session_cb(SSL *ssl, SSL_SESSION *session)
{
	struct tls_context *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const char *key = SSL_get_ex_data(ssl, key_index);
	struct tls_cache_entry *e;

	if (!t || !key)
		return 0;
	e = cache_find(t, key);
	if (e) {
		SSL_SESSION_free(e->session);
	} else {
		e = cache_slot(t);
		e->key = strdup(key);
		if (!e->key)
			return 0;
	}
	e->session = session;
	e->stamp = ++t->clock;
	log_debug("tls: cached session for %s", key);
	return 1;
}

/* "<what><arg>: <first queued OpenSSL reason>", malloc'ed (NULL if out of
 * memory); clears the OpenSSL error queue.  A failed system call (an
 * unreadable CA bundle) is queued as its errno, which OpenSSL has no string
 * for: strerror() names it. */
static char *errorf(const char *what, const char *arg)
{
	unsigned long e = ERR_get_error();
	const char *reason = NULL;
	char *m;

	if (e && ERR_SYSTEM_ERROR(e))
		reason = strerror(ERR_GET_REASON(e));
	else if (e)
		reason = ERR_reason_error_string(e);

	ERR_clear_error();
	if (asprintf(&m, "%s%s: %s", what, arg, reason ? reason : "unknown error") < 0)
		return NULL;
	return m;
}

/* The file a trust store was loaded from, as it was then: a changed file
 * (a reload after the CA bundle was replaced) gets a store of its own. */
struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* The CAs of one source, parsed once and shared by every context that
 * trusts the same source: the system's bundle is ~150 certificates, about
 * 900 KiB of heap per copy, and the daemon has a context for KMS and one
 * for the credential endpoints (two more while a reload's old KMS client
 * finishes its calls). */
struct tls_trust {
	char *ca_bundle; /* NULL: the system's default verify paths */
	struct file_id id;
	X509_STORE *store;
	unsigned refs;
	struct tls_trust *next;
};

static struct tls_trust *trusts; /* every trust store in use */

/* The identity of ca_bundle, or for NULL of the file the system's default
 * paths load (SSL_CERT_FILE or OpenSSL's default); zero if there is none. */
static struct file_id file_id_of(const char *ca_bundle)
{
	const char *path = ca_bundle;
	struct stat st;

	if (!path)
		path = getenv(X509_get_default_cert_file_env());
	if (!path)
		path = X509_get_default_cert_file();
	if (stat(path, &st) < 0)
		return (struct file_id){0};
	return (struct file_id){st.st_dev, st.st_ino, st.st_size, st.st_mtim};
}

static bool file_id_equal(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static bool same_source(const struct tls_trust *t, const char *ca_bundle, const struct file_id *id)
{
	if (!t->ca_bundle != !ca_bundle || (ca_bundle && strcmp(t->ca_bundle, ca_bundle) != 0))
		return false;
	return file_id_equal(&t->id, id);
}

static int load_trust(X509_STORE *store, const char *ca_bundle, char **ret_error)
{
	if (ca_bundle) {
		if (X509_STORE_load_file(store, ca_bundle) == 1)
			return 0;
		if (ret_error)
			*ret_error = errorf("cannot load CA bundle ", ca_bundle);
		return -EINVAL;
	}
	if (X509_STORE_set_default_paths(store) == 1)
		return 0;
	if (ret_error)
		*ret_error = errorf("cannot load the system trust store", "");
	return -EINVAL;
}

static struct tls_trust *trust_unref(struct tls_trust *t)
{
	if (!t || --t->refs > 0)
		return NULL;
	for (struct tls_trust **p = &trusts; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	X509_STORE_free(t->store);
	free(t->ca_bundle);
	free(t);
	return NULL;
}

/* The trust store for ca_bundle (NULL: the system's), shared when one from
 * the same unchanged file is in use, else loaded.  The caller holds a
 * reference (trust_unref).  0, -ENOMEM, or -EINVAL with *ret_error. */
static int trust_get(const char *ca_bundle, struct tls_trust **ret, char **ret_error)
{
	struct file_id id = file_id_of(ca_bundle);
	struct tls_trust *t;
	int r = -ENOMEM;

	for (t = trusts; t; t = t->next)
		if (same_source(t, ca_bundle, &id)) {
			t->refs++;
			*ret = t;
			return 0;
		}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->refs = 1;
	t->id = id;
	t->store = X509_STORE_new();
	if (!t->store || (ca_bundle && !(t->ca_bundle = strdup(ca_bundle))))
		goto fail;
	r = load_trust(t->store, ca_bundle, ret_error);
	if (r < 0)
		goto fail;
	t->next = trusts;
	trusts = t;
	*ret = t;
	return 0;
fail:
	X509_STORE_free(t->store);
	free(t->ca_bundle);
	free(t);
	return r;
}

int tls_context_new(const char *ca_bundle, struct tls_context **ret, char **ret_error)
{
	struct tls_context *t;
	int r = -ENOMEM;

	if (key_index < 0) {
		key_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, key_free);
		if (key_index < 0)
			return -ENOMEM;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx)
		goto fail;
	if (SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1)
		goto fail;
	/* Verification is not optional: a failed chain or name aborts the
	 * handshake, and no callback can override it. */
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	/* A kept-alive connection waits idle most of its life: without this
	 * it holds a read and a write buffer of ~17 KiB each all along. */
	SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Responses (STS's carry credentials) are decrypted in place in the
	 * read buffer, which OpenSSL would otherwise free unwiped. */
	SSL_CTX_set_options(t->ctx, SSL_OP_CLEANSE_PLAINTEXT);
	r = trust_get(ca_bundle, &t->trust, ret_error);
	if (r < 0)
		goto fail;
	SSL_CTX_set1_cert_store(t->ctx, t->trust->store);
	/* We keep sessions ourselves, keyed by where we connected, since the
	 * internal client cache has no lookup by host. */
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(t->ctx, new_session_cb);
	SSL_CTX_set_app_data(t->ctx, t);
	*ret = t;
	return 0;
fail:
	ERR_clear_error();
	tls_context_free(t);
	return r;
}

struct tls_context *tls_context_free(struct tls_context *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < TLS_MAX_CACHED_SESSIONS; i++) {
		free(t->cache[i].key);
		SSL_SESSION_free(t->cache[i].session);
	}
	SSL_CTX_free(t->ctx);
	trust_unref(t->trust);
	free(t);
	return NULL;
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Name checks: an IP literal must match an iPAddress SAN; a DNS name a
 * dNSName SAN (or CN), wildcards only as a whole left-most label.  SNI
 * carries DNS names only (RFC 6066 §3). */
static int set_peer_identity(SSL *ssl, const char *host)
{
	if (is_ip_literal(host))
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -EINVAL;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(ssl, host) != 1)
		return -EINVAL;
	if (SSL_set_tlsext_host_name(ssl, host) != 1)
		return -EINVAL;
	return 0;
}

SSL *tls_context_new_ssl(struct tls_context *t, const char *host, uint16_t port)
{
	struct tls_cache_entry *e;
	char *key = NULL;
	SSL *ssl;

	if (!t || !host)
		return NULL;
	ssl = SSL_new(t->ctx);
	if (!ssl)
		return NULL;
	if (set_peer_identity(ssl, host) < 0)
		goto fail;
	if (asprintf(&key, "%s:%u", host, (unsigned)port) < 0)
		goto fail;
	if (SSL_set_ex_data(ssl, key_index, key) != 1) {
		free(key);
		goto fail;
	}
	e = cache_find(t, key);
	if (e && SSL_SESSION_is_resumable(e->session))
		SSL_set_session(ssl, e->session);
	return ssl;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	return NULL;
}

void tls_describe_failure(SSL *ssl, const char *host, unsigned long ssl_error, char *buf, size_t size)
{
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (!buf || size == 0)
		return;
	if (v != X509_V_OK) {
		snprintf(buf, size, "certificate verification failed for %s: %s", host ? host : "?",
			 X509_verify_cert_error_string(v));
		return;
	}
	if (ssl_error && ERR_GET_LIB(ssl_error) != 0) {
		char e[256];
		ERR_error_string_n(ssl_error, e, sizeof(e));
		snprintf(buf, size, "TLS handshake with %s failed: %s", host ? host : "?", e);
		return;
	}
	snprintf(buf, size, "TLS handshake with %s failed", host ? host : "?");
}

void tls_mark_clean_close(SSL *ssl)
{
	/* OpenSSL invalidates the session of an SSL freed without a shutdown
	 * (it might have been cut off by an attacker); saying we sent one
	 * keeps it.  Nothing is written, so a dead socket raises no SIGPIPE. */
	if (ssl && SSL_is_init_finished(ssl))
		SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_SENT_SHUTDOWN);
}

int tls_session_reused(SSL *ssl)
{
	return ssl && SSL_session_reused(ssl) == 1;
}
