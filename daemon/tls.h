/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One OpenSSL client context for outgoing HTTPS: verification on (always),
 * TLS >= 1.2, CA bundle from AWS_CA_BUNDLE / config or the system default.
 */
struct tls_context;
typedef struct ssl_st SSL;

/* ca_bundle: PEM file, or NULL for the system's trust store.  ret_error gets
 * a static or malloc'ed? -- see tls.c: a malloc'ed message on failure. */
int tls_context_new(const char *ca_bundle, struct tls_context **ret, char **ret_error);
struct tls_context *tls_context_free(struct tls_context *t); /* NULL-safe */
/* A new SSL for a connection to host (SNI + host name / IP verification),
 * resuming session if one is cached for host:port. */
SSL *tls_context_new_ssl(struct tls_context *t, const char *host);
