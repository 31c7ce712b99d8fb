/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * HTTPS proxies as curl and the AWS SDKs read them from the environment:
 * https_proxy (then HTTPS_PROXY) names an http:// proxy, through which HTTPS
 * connections are tunnelled with CONNECT; no_proxy (then NO_PROXY) lists
 * hosts to reach directly.  Proxy basic auth comes from the URL's userinfo
 * ("http://user:pa%40ss@proxy:3128"); it is never logged and is wiped when
 * dropped.  Plain-http endpoints (tests only) never go through the proxy.
 *
 * no_proxy: entries separated by commas (spaces ignored), each
 *   *                 every host
 *   example.com       example.com and any name under it (".example.com",
 *                     "*.example.com" mean the same)
 *   host:port         that host on that port only
 *   192.0.2.1, [::1]  that address literally (no CIDR ranges)
 * compared case-insensitively.
 */
#include <stdbool.h>
#include <stdint.h>

struct proxy_config {
	char *host;          /* the proxy's host (IPv6 without brackets) */
	uint16_t port;       /* default 80, as botocore/urllib3 */
	char *authorization; /* "Basic …" for Proxy-Authorization, or NULL; secret */
	char *no_proxy;      /* the raw list, or NULL */
	/* private: configs with equal values are one object, shared */
	unsigned n_ref;
	struct proxy_config *next;
};

typedef const char *(*proxy_getenv_fn)(const char *name);

/* Reads the environment through getenv_fn.  Returns 0 with *ret a
 * config, or NULL when no proxy is set (a config equal to one still alive
 * is that one, with one more reference: the KMS client and the credential
 * clients keep one copy of the secret between them; not thread-safe, the
 * daemon's loop thread only); -EINVAL with *ret_error (malloc'ed,
 * without the credentials) for a proxy URL that cannot be used (not
 * http://, bad host or port); -ENOMEM. */
int proxy_config_from_env(proxy_getenv_fn getenv_fn, struct proxy_config **ret, char **ret_error);
/* Drops a reference: NULL-safe, returns NULL; the last one wipes the
 * credentials. */
struct proxy_config *proxy_config_free(struct proxy_config *p);

/* Whether a connection to host:port goes through the proxy p (false for a
 * NULL p or a no_proxy match). */
bool proxy_applies(const struct proxy_config *p, const char *host, uint16_t port);
