/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Endpoint URLs ("https://kms.us-east-1.amazonaws.com",
 * "https://127.0.0.1:8443/prefix", "http://[::1]:9000").
 */
#include <stdbool.h>
#include <stdint.h>

/* Longest URL accepted; endpoint URLs are short, and the host ends up in
 * the Host header, the SigV4 canonical request and the TLS SNI. */
#define URL_MAX_LENGTH 2048
/* RFC 1035: a DNS name is at most 253 characters in text form. */
#define URL_MAX_HOST_LENGTH 253

struct url {
	bool tls;          /* https */
	char *host;        /* lower-cased; without brackets for IPv6 literals */
	uint16_t port;     /* explicit or the scheme's default */
	bool default_port; /* port absent or equal to the scheme's default (Host header omits it) */
	char *path;        /* "/" if none; no query */
	char *host_header; /* "host" or "host:port" ("[::1]:9000"), as sent and signed */
};

/* Parses http(s)://host[:port][/path].  The scheme is case-insensitive;
 * host is a DNS name (letters, digits, '-', '.', '_'), a dotted IPv4
 * address or a bracketed IPv6 literal; port is 1..65535.  No userinfo,
 * query, fragment, spaces or control characters.
 * Returns 0 and fills *ret (free with url_done), -EINVAL for anything else,
 * -ENOMEM.  *ret is untouched on failure. */
int url_parse(const char *s, struct url *ret);
/* Frees the members and zeroes *u; NULL-safe, may be called twice. */
void url_done(struct url *u);
