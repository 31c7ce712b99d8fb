/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_DEFAULT_PORT  80
#define HTTPS_DEFAULT_PORT 443

static bool host_char_ok(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

/* Splits "[v6]" or "name" off the front of an authority.  *ret_host is
 * malloc'ed (brackets stripped, lower-cased), *ret_end points after it. */
static int parse_host(const char *s, char **ret_host, const char **ret_end, bool *ret_v6)
{
	const char *start = s, *end;
	bool v6 = false;
	char *host;

	if (*s == '[') {
		start = s + 1;
		end = strchr(start, ']');
		if (!end)
			return -EINVAL;
		v6 = true;
	} else {
		for (end = s; host_char_ok(*end); end++)
			;
	}
	if (end == start || (size_t)(end - start) > URL_MAX_HOST_LENGTH)
		return -EINVAL;

	host = strndup(start, (size_t)(end - start));
	if (!host)
		return -ENOMEM;
	for (char *c = host; *c; c++)
		*c = (char)tolower((unsigned char)*c);

	if (v6) {
		struct in6_addr a;
		if (inet_pton(AF_INET6, host, &a) != 1) {
			free(host);
			return -EINVAL;
		}
		end++; /* past ']' */
	}
	*ret_host = host;
	*ret_end = end;
	*ret_v6 = v6;
	return 0;
}

/* ":1..65535" (exactly digits, no sign, no empty port). */
static int parse_port(const char *s, const char **ret_end, uint16_t *ret)
{
	unsigned long v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return -EINVAL;
	}
	if (v == 0)
		return -EINVAL;
	*ret = (uint16_t)v;
	*ret_end = p;
	return 0;
}

/* The path may be anything printable but the characters that would start a
 * query or fragment (the daemon signs "/" + path as is, so keep it plain). */
static bool path_ok(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#')
			return false;
	return true;
}

static int make_host_header(const struct url *u, bool v6, char **ret)
{
	char port[8] = "";
	char *h;

	if (!u->default_port)
		snprintf(port, sizeof(port), ":%u", (unsigned)u->port);
	if (asprintf(&h, "%s%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "", port) < 0)
		return -ENOMEM;
	*ret = h;
	return 0;
}

int url_parse(const char *s, struct url *ret)
{
	struct url u = {0};
	const char *p;
	bool v6;
	int r;

	if (!s || strlen(s) > URL_MAX_LENGTH)
		return -EINVAL;
	if (strncasecmp(s, "https://", 8) == 0) {
		u.tls = true;
		p = s + 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		p = s + 7;
	} else {
		return -EINVAL;
	}

	r = parse_host(p, &u.host, &p, &v6);
	if (r < 0)
		goto fail;
	u.port = u.tls ? HTTPS_DEFAULT_PORT : HTTP_DEFAULT_PORT;
	if (*p == ':') {
		r = parse_port(p + 1, &p, &u.port);
		if (r < 0)
			goto fail;
	}
	u.default_port = u.port == (u.tls ? HTTPS_DEFAULT_PORT : HTTP_DEFAULT_PORT);

	/* Whatever follows the authority must be a path: this also rejects
	 * userinfo ("user@host"), queries and fragments. */
	r = -EINVAL;
	if (*p != '\0' && *p != '/')
		goto fail;
	if (!path_ok(p))
		goto fail;
	r = -ENOMEM;
	u.path = strdup(*p ? p : "/");
	if (!u.path)
		goto fail;
	r = make_host_header(&u, v6, &u.host_header);
	if (r < 0)
		goto fail;

	*ret = u;
	return 0;
fail:
	url_done(&u);
	return r;
}

void url_done(struct url *u)
{
	if (!u)
		return;
	free(u->host);
	free(u->path);
	free(u->host_header);
	*u = (struct url){0};
}
