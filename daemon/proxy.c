/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "proxy.h"

#include "errorf.h"
#include "hex.h"
#include "url.h"
#include "wipe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#define PROXY_USERINFO_MAX 512

static const char *env_first(proxy_getenv_fn getenv_fn, const char *lower, const char *upper)
{
	const char *v = getenv_fn(lower);

	/* Lower case first, as curl and Python's urllib (botocore) do. */
	if (v && *v)
		return v;
	v = getenv_fn(upper);
	return v && *v ? v : NULL;
}

/* Percent-decodes s[0..n) into buf (NUL-terminated).  -EINVAL on a bad escape. */
static int percent_decode(const char *s, size_t n, char *buf, size_t size, size_t *ret_len)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int h, l;
			if (i + 2 >= n || (h = hex_value(s[i + 1])) < 0 || (l = hex_value(s[i + 2])) < 0)
				return -EINVAL;
			c = h * 16 + l;
			i += 2;
		}
		if (o + 1 >= size)
			return -EINVAL;
		buf[o++] = (char)c;
	}
	buf[o] = '\0';
	*ret_len = o;
	return 0;
}

/* "Basic base64(user:pass)" from the raw userinfo. */
static int basic_auth(const char *userinfo, size_t n, char **ret)
{
	char plain[PROXY_USERINFO_MAX], enc[PROXY_USERINFO_MAX * 4 / 3 + 8];
	const char *colon = memchr(userinfo, ':', n);
	size_t ul, pl = 0;
	int r;

	r = percent_decode(userinfo, colon ? (size_t)(colon - userinfo) : n, plain, sizeof(plain) - 1, &ul);
	if (r < 0)
		return r;
	plain[ul] = ':';
	if (colon) {
		r = percent_decode(colon + 1, n - (size_t)(colon - userinfo) - 1, plain + ul + 1,
				   sizeof(plain) - ul - 1, &pl);
		if (r < 0)
			goto out;
	}
	EVP_EncodeBlock((unsigned char *)enc, (unsigned char *)plain, (int)(ul + 1 + pl));
	r = wipe_asprintf(ret, "Basic %s", enc) < 0 ? -ENOMEM : 0;
out:
	explicit_bzero(plain, sizeof(plain));
	explicit_bzero(enc, sizeof(enc));
	return r;
}

/* Every live config, so that KMS's and each credential client's share one
 * copy of the Proxy-Authorization secret (tests/security/secrets-memory.sh
 * counts them). */
static struct proxy_config *shared;

static void config_destroy(struct proxy_config *p)
{
	wipe_free_string(p->authorization);
	free(p->host);
	free(p->no_proxy);
	free(p);
}

static bool same_string(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* The live config equal to p (which is then destroyed, its secret wiped)
 * with one more reference, else p, now shared. */
static struct proxy_config *shared_take(struct proxy_config *p)
{
	for (struct proxy_config *q = shared; q; q = q->next)
		if (q->port == p->port && same_string(q->host, p->host) &&
		    same_string(q->authorization, p->authorization) && same_string(q->no_proxy, p->no_proxy)) {
			config_destroy(p);
			q->n_ref++;
			return q;
		}
	p->n_ref = 1;
	p->next = shared;
	shared = p;
	return p;
}

int proxy_config_from_env(proxy_getenv_fn getenv_fn, struct proxy_config **ret, char **ret_error)
{
	const char *v = env_first(getenv_fn, "https_proxy", "HTTPS_PROXY");
	const char *no = env_first(getenv_fn, "no_proxy", "NO_PROXY");
	const char *rest, *at, *hostpart;
	struct proxy_config *p;
	struct url u;
	char *url = NULL;
	int r;

	*ret = NULL;
	if (!v)
		return 0;
	/* A bare "host:port" means http://host:port, as curl and botocore take it. */
	if (strstr(v, "://")) {
		if (strncasecmp(v, "http://", 7) != 0)
			return errorf(ret_error, -EINVAL,
				      "https_proxy: only http:// proxies are supported (CONNECT tunnels)");
		rest = v + 7;
	} else {
		rest = v;
	}
	hostpart = rest;
	at = strchr(rest, '@');
	if (at && (!strchr(rest, '/') || at < strchr(rest, '/')))
		hostpart = at + 1;
	else
		at = NULL;
	if (asprintf(&url, "http://%s", hostpart) < 0)
		return -ENOMEM;
	/* A trailing "/" is common ("http://proxy:3128/"); anything more is not a proxy. */
	r = url_parse(url, &u);
	free(url);
	if (r < 0 || strcmp(u.path, "/") != 0) {
		if (r >= 0)
			url_done(&u);
		return errorf(ret_error, -EINVAL, "https_proxy: cannot use proxy address '%s'", hostpart);
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		url_done(&u);
		return -ENOMEM;
	}
	p->host = u.host;
	u.host = NULL;
	p->port = u.port;
	url_done(&u);
	r = 0;
	if (at && (r = basic_auth(rest, (size_t)(at - rest), &p->authorization)) < 0 && r == -EINVAL)
		errorf(ret_error, r, "https_proxy: bad user name or password encoding");
	if (r >= 0 && no && !(p->no_proxy = strdup(no)))
		r = -ENOMEM;
	if (r < 0) {
		config_destroy(p);
		return r;
	}
	*ret = shared_take(p);
	return 0;
}

struct proxy_config *proxy_config_free(struct proxy_config *p)
{
	struct proxy_config **pp;

	if (!p || --p->n_ref > 0)
		return NULL;
	for (pp = &shared; *pp && *pp != p; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = p->next;
	config_destroy(p);
	return NULL;
}

/* Does the no_proxy entry e[0..n) cover host:port? */
static bool entry_matches(const char *e, size_t n, const char *host, uint16_t port)
{
	char name[URL_MAX_HOST_LENGTH + 3];
	const char *colon;
	size_t hl = strlen(host);

	if (n == 1 && e[0] == '*')
		return true;
	/* host:port (not an IPv6 literal's colons: those come bracketed). */
	colon = memrchr(e, ':', n);
	if (colon &&
	    (e[0] == '[' ? colon > (const char *)memchr(e, ']', n) : memchr(e, ':', (size_t)(colon - e)) == NULL)) {
		char *end;
		unsigned long p = strtoul(colon + 1, &end, 10);
		if (end != e + n || p != port)
			return false;
		n = (size_t)(colon - e);
	}
	if (n >= 2 && e[0] == '[' && e[n - 1] == ']') {
		e++;
		n -= 2;
	}
	if (n >= 2 && e[0] == '*' && e[1] == '.') {
		e++;
		n--;
	}
	if (n > 0 && e[0] == '.') {
		e++;
		n--;
	}
	if (n == 0 || n >= sizeof(name))
		return false;
	memcpy(name, e, n);
	name[n] = '\0';
	if (hl == n)
		return strcasecmp(host, name) == 0;
	return hl > n && host[hl - n - 1] == '.' && strcasecmp(host + hl - n, name) == 0;
}

bool proxy_applies(const struct proxy_config *p, const char *host, uint16_t port)
{
	const char *s;

	if (!p)
		return false;
	for (s = p->no_proxy; s && *s;) {
		size_t n;
		s += strspn(s, ", \t");
		n = strcspn(s, ", \t");
		if (n && entry_matches(s, n, host, port))
			return false;
		s += n;
	}
	return true;
}
