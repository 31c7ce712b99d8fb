/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One OpenSSL client context for outgoing HTTPS: peer verification always
 * on, TLS >= 1.2, CA bundle from AWS_CA_BUNDLE / config or the system
 * default, host name (or IP address) checked, SNI, and a client-side
 * session cache (the last session per host:port) so new connections
 * resume.  Single-threaded: use from the event loop thread only.
 */
#include <stddef.h>
#include <stdint.h>

typedef struct ssl_st SSL;
struct tls_context;

/* Sessions kept for resumption (one per host:port; the oldest is dropped). */
#define TLS_MAX_CACHED_SESSIONS 64

/* ca_bundle: a PEM file of trusted CAs, or NULL for the system's default
 * verify paths (which honour SSL_CERT_FILE / SSL_CERT_DIR).  The CAs are
 * parsed once and shared by the contexts of the same source while its file
 * is unchanged; a context made after the file changed loads it again.
 * Returns 0,
 * -ENOMEM, or -EINVAL when the bundle cannot be loaded; then *ret_error (if
 * not NULL) gets a malloc'ed message saying why.  Outputs are written only
 * on success / only the error on failure. */
int tls_context_new(const char *ca_bundle, struct tls_context **ret, char **ret_error);
struct tls_context *tls_context_free(struct tls_context *t); /* NULL-safe, returns NULL */

/* A new SSL (caller owns it; hand it to bufferevent_openssl with
 * BEV_OPT_CLOSE_ON_FREE) for a connection to host:port: verification
 * against host as a DNS name, or as an IP address for a literal (no SNI
 * then), resuming the session cached for host:port if any.  Sessions the
 * server issues on it are cached automatically.  NULL on failure. */
SSL *tls_context_new_ssl(struct tls_context *t, const char *host, uint16_t port);

/* A human-readable reason for a failed handshake on ssl: the certificate
 * verification error and the host when verification failed, else the
 * OpenSSL error given (as from bufferevent_get_openssl_error, 0 if none).
 * Writes a NUL-terminated message to buf. */
void tls_describe_failure(SSL *ssl, const char *host, unsigned long ssl_error, char *buf, size_t size);

/* Before freeing the SSL of a connection closed in good order (idle,
 * response complete): keeps its session resumable.  Connections closed after
 * an error are freed without it, so their session is dropped.  NULL-safe. */
void tls_mark_clean_close(SSL *ssl);

/* True if the handshake on ssl resumed a cached session. */
int tls_session_reused(SSL *ssl);
