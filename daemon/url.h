/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Endpoint URLs ("https://kms.us-east-1.amazonaws.com",
 * "https://127.0.0.1:8443/prefix", "http://[::1]:9000").
 */
#include <stdbool.h>
#include <stdint.h>

struct url {
	bool tls;          /* https */
	char *host;        /* without brackets for IPv6 literals */
	uint16_t port;     /* explicit or the scheme's default */
	bool default_port; /* port was not given (Host header omits it) */
	char *path;        /* "/" if none; no query */
	char *host_header; /* "host" or "host:port" ("[::1]:9000"), as sent and signed */
};

/* 0, or -EINVAL for anything but http(s)://host[:port][/path] (no userinfo,
 * no query/fragment). */
int url_parse(const char *s, struct url *ret);
void url_done(struct url *u);
