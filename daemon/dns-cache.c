/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "dns-cache.h"

#include "log.h"
#include "monotime.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

/*
 * A name's entry:
 *
 *   IDLE --(query, nothing fresh)--> RESOLVING: A, then AAAA, then getaddrinfo
 *     ^                                  |
 *     `------(answer or failure)---------'
 *
 * Waiting queries hang off the entry; each is completed through its own
 * event, so callbacks run from the loop, one at a time, and may cancel
 * other queries or free the cache.
 */
enum entry_state {
	ENTRY_IDLE,
	ENTRY_RESOLVING_A,
	ENTRY_RESOLVING_AAAA,
	ENTRY_RESOLVING_GAI,
	_ENTRY_STATE_MAX,
};

static const char *const entry_state_names[_ENTRY_STATE_MAX] = {
    [ENTRY_IDLE] = "idle",
    [ENTRY_RESOLVING_A] = "resolving A",
    [ENTRY_RESOLVING_AAAA] = "resolving AAAA",
    [ENTRY_RESOLVING_GAI] = "resolving via getaddrinfo",
};

struct dns_cache_query {
	struct dns_cache *cache;
	struct entry *entry; /* while waiting; NULL once the answer is in */
	TAILQ_ENTRY(dns_cache_query) link;
	uint16_t port;
	dns_cache_fn done;
	void *userdata;
	struct event *ev; /* completion, from the loop */
	int error;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char detail[DNS_CACHE_DETAIL_MAX];
};

TAILQ_HEAD(query_list, dns_cache_query);

struct entry {
	struct dns_cache *cache; /* NULL: orphaned by dns_cache_free, freed by its callback */
	TAILQ_ENTRY(entry) link;
	char *name;
	enum entry_state state;
	bool have_addr;
	struct sockaddr_storage addr; /* port 0 */
	socklen_t addr_len;
	time_t expires;     /* monotonic seconds */
	unsigned long used; /* for LRU eviction */
	struct query_list waiters;
};

struct override {
	char *host;
	uint16_t port;
	struct sockaddr_storage addr; /* port set */
	socklen_t addr_len;
};

TAILQ_HEAD(entry_list, entry);

struct dns_cache {
	struct event_base *base;
	struct evdns_base *dns;
	struct entry_list entries;
	unsigned n_entries;
	unsigned long clock;
	struct override overrides[DNS_CACHE_MAX_OVERRIDES];
	unsigned n_overrides;
	struct dns_cache_stats stats;
};

static time_t now_sec(void)
{
	return (time_t)monotime_sec();
}

/* An IP literal ("192.0.2.1", "::1", "[::1]") as a sockaddr with port. */
static int parse_ip(const char *s, uint16_t port, struct sockaddr_storage *ret, socklen_t *ret_len)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);
	struct sockaddr_in *in = (struct sockaddr_in *)ret;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = '\0';
		s = buf;
	}
	memset(ret, 0, sizeof(*ret));
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*ret_len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*ret_len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

static void set_port(struct sockaddr_storage *sa, uint16_t port)
{
	if (sa->ss_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

struct dns_cache *dns_cache_new(struct event_base *base, struct evdns_base *dns)
{
	struct dns_cache *c;

	if (!base || !dns)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->base = base;
	c->dns = dns;
	TAILQ_INIT(&c->entries);
	return c;
}

static void query_free(struct dns_cache_query *q)
{
	if (q->entry)
		TAILQ_REMOVE(&q->entry->waiters, q, link);
	event_free(q->ev);
	free(q);
}

static void entry_free(struct entry *e)
{
	struct dns_cache_query *q;

	while ((q = TAILQ_FIRST(&e->waiters)))
		query_free(q);
	free(e->name);
	free(e);
}

struct dns_cache *dns_cache_free(struct dns_cache *c)
{
	struct entry *e;

	if (!c)
		return NULL;
	while ((e = TAILQ_FIRST(&c->entries))) {
		TAILQ_REMOVE(&c->entries, e, link);
		if (e->state == ENTRY_IDLE) {
			entry_free(e);
			continue;
		}
		/* evdns still holds a request pointing at e: its callback
		 * (cancelled, or answered) frees e. */
		struct dns_cache_query *q;
		while ((q = TAILQ_FIRST(&e->waiters)))
			query_free(q);
		e->cache = NULL;
	}
	for (unsigned i = 0; i < c->n_overrides; i++)
		free(c->overrides[i].host);
	free(c);
	return NULL;
}

/* "HOST:PORT" with a decimal port; host may be a bracketed IPv6 literal. */
static int split_host_port(const char *s, size_t n, char **ret_host, uint16_t *ret_port)
{
	const char *colon = NULL;
	char *end;
	unsigned long port;

	for (size_t i = 0; i < n; i++)
		if (s[i] == ':')
			colon = s + i;
	if (!colon || colon == s || (size_t)(colon - s) + 1 >= n)
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end != s + n || port == 0 || port > 65535 || colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	*ret_host = strndup(s, (size_t)(colon - s));
	if (!*ret_host)
		return -ENOMEM;
	*ret_port = (uint16_t)port;
	return 0;
}

static int add_override(struct dns_cache *c, const char *item, size_t n)
{
	const char *eq = memchr(item, '=', n);
	struct override o = {0};
	char *addr = NULL;
	uint16_t addr_port;
	int r;

	if (!eq || c->n_overrides >= DNS_CACHE_MAX_OVERRIDES)
		return -EINVAL;
	r = split_host_port(item, (size_t)(eq - item), &o.host, &o.port);
	if (r < 0)
		return r;
	r = split_host_port(eq + 1, n - (size_t)(eq - item) - 1, &addr, &addr_port);
	if (r >= 0)
		r = parse_ip(addr, addr_port, &o.addr, &o.addr_len);
	free(addr);
	if (r < 0) {
		free(o.host);
		return r;
	}
	c->overrides[c->n_overrides++] = o;
	log_info("dns: connections to %s:%u go to %.*s", o.host, (unsigned)o.port, (int)(n - (size_t)(eq - item) - 1),
		 eq + 1);
	return 0;
}

int dns_cache_add_overrides(struct dns_cache *c, const char *spec)
{
	unsigned before = c->n_overrides;
	const char *p = spec;

	while (*p) {
		size_t n = strcspn(p, ", \t");
		int r = n ? add_override(c, p, n) : 0;
		if (r < 0) {
			while (c->n_overrides > before)
				free(c->overrides[--c->n_overrides].host);
			return r;
		}
		p += n;
		p += strspn(p, ", \t");
	}
	return 0;
}

/* HOST exactly (case aside), or "*.SUFFIX": any name ending in .SUFFIX. */
static bool override_matches(const char *pattern, const char *host)
{
	size_t n = strlen(host), m;

	if (strncmp(pattern, "*.", 2) != 0)
		return strcasecmp(pattern, host) == 0;
	m = strlen(pattern + 1);
	return n > m && strcasecmp(host + n - m, pattern + 1) == 0;
}

static struct entry *entry_find(struct dns_cache *c, const char *host)
{
	struct entry *e;

	TAILQ_FOREACH(e, &c->entries, link)
		if (strcasecmp(e->name, host) == 0)
			return e;
	return NULL;
}

int dns_cache_lookup(struct dns_cache *c, const char *host, uint16_t port, struct sockaddr_storage *ret,
		     socklen_t *ret_len)
{
	struct entry *e;

	assert(c && host && ret && ret_len);
	for (unsigned i = 0; i < c->n_overrides; i++)
		if (c->overrides[i].port == port && override_matches(c->overrides[i].host, host)) {
			*ret = c->overrides[i].addr;
			*ret_len = c->overrides[i].addr_len;
			c->stats.hits++;
			return 0;
		}
	if (parse_ip(host, port, ret, ret_len) == 0) {
		c->stats.hits++;
		return 0;
	}
	e = entry_find(c, host);
	if (!e || !e->have_addr || e->expires <= now_sec())
		return -ENOENT;
	e->used = ++c->clock;
	*ret = e->addr;
	*ret_len = e->addr_len;
	set_port(ret, port);
	c->stats.hits++;
	return 0;
}

static void entry_set_state(struct entry *e, enum entry_state s)
{
	log_debug("dns: %s: %s -> %s", e->name, entry_state_names[e->state], entry_state_names[s]);
	e->state = s;
}

/* Hands the entry's outcome to every waiter (through their events). */
static void entry_answer(struct entry *e, int error, const char *detail)
{
	struct dns_cache_query *q;

	entry_set_state(e, ENTRY_IDLE);
	while ((q = TAILQ_FIRST(&e->waiters))) {
		TAILQ_REMOVE(&e->waiters, q, link);
		q->entry = NULL;
		q->error = error;
		if (error == 0) {
			q->addr = e->addr;
			q->addr_len = e->addr_len;
			set_port(&q->addr, q->port);
		} else {
			snprintf(q->detail, sizeof(q->detail), "%s", detail);
		}
		event_active(q->ev, EV_TIMEOUT, 1);
	}
}

static void entry_store(struct entry *e, const struct sockaddr *sa, socklen_t len, int ttl)
{
	if (ttl < DNS_CACHE_MIN_TTL_SEC)
		ttl = DNS_CACHE_MIN_TTL_SEC;
	if (ttl > DNS_CACHE_MAX_TTL_SEC)
		ttl = DNS_CACHE_MAX_TTL_SEC;
	memset(&e->addr, 0, sizeof(e->addr));
	memcpy(&e->addr, sa, len);
	e->addr_len = len;
	e->have_addr = true;
	e->expires = now_sec() + ttl;
	log_debug("dns: %s cached for %d s", e->name, ttl);
	entry_answer(e, 0, NULL);
}

/* Every way failed: an expired answer not too old is better than none. */
static void entry_failed(struct entry *e, int error, const char *why)
{
	char detail[DNS_CACHE_DETAIL_MAX];

	if (e->have_addr && e->expires + DNS_CACHE_STALE_SEC > now_sec()) {
		log_warning("dns: cannot refresh %s (%s); using the expired answer", e->name, why);
		e->cache->stats.stale++;
		entry_answer(e, 0, NULL);
		return;
	}
	snprintf(detail, sizeof(detail), "cannot resolve %s: %s", e->name, why);
	entry_answer(e, error, detail);
}

static void gai_done(int result, struct evutil_addrinfo *res, void *arg)
{
	struct entry *e = arg;

	if (!e->cache) {
		if (res)
			evutil_freeaddrinfo(res);
		entry_free(e);
		return;
	}
	if (result == 0 && res && res->ai_addrlen <= sizeof(e->addr))
		entry_store(e, res->ai_addr, res->ai_addrlen, DNS_CACHE_FALLBACK_TTL_SEC);
	else
		entry_failed(e, result == EVUTIL_EAI_NONAME ? -ENOENT : -EIO, evutil_gai_strerror(result));
	if (res)
		evutil_freeaddrinfo(res);
}

static void resolve_done(int result, char type, int count, int ttl, void *addresses, void *arg);

static void entry_resolve_next(struct entry *e, int result)
{
	struct dns_cache *c = e->cache;

	if (e->state == ENTRY_RESOLVING_A) {
		entry_set_state(e, ENTRY_RESOLVING_AAAA);
		if (evdns_base_resolve_ipv6(c->dns, e->name, DNS_QUERY_NO_SEARCH, resolve_done, e))
			return;
	}
	if (e->state != ENTRY_RESOLVING_GAI) {
		struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
		entry_set_state(e, ENTRY_RESOLVING_GAI);
		/* Also answers from /etc/hosts, and may answer at once. */
		evdns_getaddrinfo(c->dns, e->name, NULL, &hints, gai_done, e);
		return;
	}
	entry_failed(e, -EIO, evdns_err_to_string(result));
}

static void resolve_done(int result, char type, int count, int ttl, void *addresses, void *arg)
{
	struct entry *e = arg;

	if (!e->cache) {
		entry_free(e);
		return;
	}
	if (result == DNS_ERR_NONE && count > 0 && type == DNS_IPv4_A) {
		struct sockaddr_in sin = {.sin_family = AF_INET};
		memcpy(&sin.sin_addr, addresses, sizeof(sin.sin_addr));
		entry_store(e, (struct sockaddr *)&sin, sizeof(sin), ttl);
		return;
	}
	if (result == DNS_ERR_NONE && count > 0 && type == DNS_IPv6_AAAA) {
		struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
		memcpy(&sin6.sin6_addr, addresses, sizeof(sin6.sin6_addr));
		entry_store(e, (struct sockaddr *)&sin6, sizeof(sin6), ttl);
		return;
	}
	entry_resolve_next(e, result);
}

/* Drops the least recently used idle entry once the cache is full. */
static void cache_make_room(struct dns_cache *c)
{
	struct entry *e, *victim = NULL;

	if (c->n_entries < DNS_CACHE_MAX_NAMES)
		return;
	TAILQ_FOREACH(e, &c->entries, link)
		if (e->state == ENTRY_IDLE && TAILQ_EMPTY(&e->waiters) && (!victim || e->used < victim->used))
			victim = e;
	if (victim) {
		TAILQ_REMOVE(&c->entries, victim, link);
		c->n_entries--;
		entry_free(victim);
	}
}

static struct entry *entry_get(struct dns_cache *c, const char *host)
{
	struct entry *e = entry_find(c, host);

	if (e)
		return e;
	cache_make_room(c);
	e = calloc(1, sizeof(*e));
	if (!e || !(e->name = strdup(host))) {
		free(e);
		return NULL;
	}
	e->cache = c;
	TAILQ_INIT(&e->waiters);
	TAILQ_INSERT_TAIL(&c->entries, e, link);
	c->n_entries++;
	return e;
}

static void query_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_cache_query *q = arg;
	dns_cache_fn done = q->done;
	void *userdata = q->userdata;
	int error = q->error;
	struct sockaddr_storage sa = q->addr;
	socklen_t len = q->addr_len;
	char detail[DNS_CACHE_DETAIL_MAX];

	memcpy(detail, q->detail, sizeof(detail));
	query_free(q);
	done(error, error ? NULL : (struct sockaddr *)&sa, error ? 0 : len, error ? detail : NULL, userdata);
}

struct dns_cache_query *dns_cache_query(struct dns_cache *c, const char *host, uint16_t port, dns_cache_fn done,
					void *userdata)
{
	struct dns_cache_query *q = calloc(1, sizeof(*q));
	struct entry *e;

	assert(c && host && done);
	if (!q)
		return NULL;
	q->cache = c;
	q->port = port;
	q->done = done;
	q->userdata = userdata;
	q->ev = event_new(c->base, -1, 0, query_event_cb, q);
	if (!q->ev) {
		free(q);
		return NULL;
	}
	if (dns_cache_lookup(c, host, port, &q->addr, &q->addr_len) == 0) {
		event_active(q->ev, EV_TIMEOUT, 1);
		return q;
	}
	e = entry_get(c, host);
	if (!e) {
		event_free(q->ev);
		free(q);
		return NULL;
	}
	e->used = ++c->clock;
	q->entry = e;
	TAILQ_INSERT_TAIL(&e->waiters, q, link);
	if (e->state == ENTRY_IDLE) {
		c->stats.lookups++;
		entry_set_state(e, ENTRY_RESOLVING_A);
		/* Without name servers (no resolv.conf) a query would wait
		 * forever: /etc/hosts is all there is. */
		if (evdns_base_count_nameservers(c->dns) == 0 ||
		    !evdns_base_resolve_ipv4(c->dns, e->name, DNS_QUERY_NO_SEARCH, resolve_done, e)) {
			entry_set_state(e, ENTRY_RESOLVING_AAAA);
			entry_resolve_next(e, DNS_ERR_UNKNOWN);
		}
	}
	return q;
}

void dns_cache_query_cancel(struct dns_cache_query *q)
{
	if (q)
		query_free(q);
}

void dns_cache_get_stats(const struct dns_cache *c, struct dns_cache_stats *ret)
{
	if (c && ret)
		*ret = c->stats;
}
