/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "dns-cache.h"

#include "log.h"
#include "monotime.h"
#include "textfile.h"

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

/* One address of a name, and until when it is not to be used because a
 * connection to it failed (0: never failed). */
struct addr_slot {
	struct sockaddr_storage sa;
	socklen_t len;
	time_t failed_until; /* monotonic seconds */
};

struct entry {
	struct dns_cache *cache; /* NULL: orphaned by dns_cache_free, freed by its callback */
	TAILQ_ENTRY(entry) link;
	char *name;
	enum entry_state state;
	/* Every address of the answer (port 0), IPv4 first as DNS gave them,
	 * then IPv6; while resolving, the new answer grows in next[]. */
	struct addr_slot addrs[DNS_CACHE_MAX_ADDRS];
	unsigned n_addrs;
	struct addr_slot next[DNS_CACHE_MAX_ADDRS];
	unsigned n_next;
	int next_ttl;       /* the smallest TTL of the new answer's records */
	time_t expires;     /* monotonic seconds */
	unsigned long used; /* for LRU eviction */
	struct query_list waiters;
};

struct override {
	char *host;
	uint16_t port;
	struct addr_slot addr; /* port set */
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
	char *hosts_file; /* read before DNS; NULL: none */
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
	c->hosts_file = strdup(DNS_CACHE_HOSTS_FILE);
	if (!c->hosts_file) {
		free(c);
		return NULL;
	}
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
	free(c->hosts_file);
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
		r = parse_ip(addr, addr_port, &o.addr.sa, &o.addr.len);
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

/* The address to try among slots: the first that has not failed, else the
 * one whose failure is oldest (something must be tried; the marks are
 * hints, not bans). */
static struct addr_slot *pick(struct addr_slot *const *slots, unsigned n, time_t now)
{
	struct addr_slot *best = slots[0];

	for (unsigned i = 0; i < n; i++) {
		if (slots[i]->failed_until <= now)
			return slots[i];
		if (slots[i]->failed_until < best->failed_until)
			best = slots[i];
	}
	return best;
}

/* The addresses known for host:port: its overrides (in the order given),
 * else, with ret_entry, the cached entry's (which may have expired), at
 * most DNS_CACHE_MAX_ADDRS.  *ret_entry is the entry, or NULL. */
static unsigned slots_for(struct dns_cache *c, const char *host, uint16_t port, struct addr_slot **ret,
			  struct entry **ret_entry)
{
	unsigned n = 0;
	struct entry *e;

	*ret_entry = NULL;
	for (unsigned i = 0; i < c->n_overrides && n < DNS_CACHE_MAX_ADDRS; i++)
		if (c->overrides[i].port == port && override_matches(c->overrides[i].host, host))
			ret[n++] = &c->overrides[i].addr;
	if (n > 0 || !(e = entry_find(c, host)))
		return n;
	for (unsigned i = 0; i < e->n_addrs; i++)
		ret[n++] = &e->addrs[i];
	*ret_entry = e;
	return n;
}

/* slot's address into ret, with port unless port is 0. */
static void answer_with(const struct addr_slot *slot, uint16_t port, struct sockaddr_storage *ret, socklen_t *ret_len)
{
	*ret = slot->sa;
	*ret_len = slot->len;
	if (port)
		set_port(ret, port);
}

int dns_cache_lookup(struct dns_cache *c, const char *host, uint16_t port, struct sockaddr_storage *ret,
		     socklen_t *ret_len)
{
	struct addr_slot *slots[DNS_CACHE_MAX_ADDRS];
	struct entry *e;
	time_t now = now_sec();
	unsigned n;

	assert(c && host && ret && ret_len);
	n = slots_for(c, host, port, slots, &e);
	if (!e && n == 0 && parse_ip(host, port, ret, ret_len) == 0) {
		c->stats.hits++;
		return 0;
	}
	if (n == 0 || (e && e->expires <= now))
		return -ENOENT;
	if (e)
		e->used = ++c->clock;
	/* An override's address carries its own port. */
	answer_with(pick(slots, n, now), e ? port : 0, ret, ret_len);
	c->stats.hits++;
	return 0;
}

/* Marks slot failed; true when another of the n slots is still usable. */
static bool mark_failed(struct addr_slot *const *slots, unsigned n, struct addr_slot *slot, time_t until, time_t now)
{
	slot->failed_until = until;
	for (unsigned i = 0; i < n; i++)
		if (slots[i]->failed_until <= now)
			return true;
	return false;
}

static bool same_addr(const struct addr_slot *slot, const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_storage a = slot->sa, b = {0};

	if (len > sizeof(b) || sa->sa_family != a.ss_family)
		return false;
	memcpy(&b, sa, len);
	set_port(&a, 0);
	set_port(&b, 0);
	if (a.ss_family == AF_INET)
		return memcmp(&((struct sockaddr_in *)&a)->sin_addr, &((struct sockaddr_in *)&b)->sin_addr,
			      sizeof(struct in_addr)) == 0;
	return memcmp(&((struct sockaddr_in6 *)&a)->sin6_addr, &((struct sockaddr_in6 *)&b)->sin6_addr,
		      sizeof(struct in6_addr)) == 0;
}

bool dns_cache_report_failure(struct dns_cache *c, const char *host, uint16_t port, const struct sockaddr *sa,
			      socklen_t len)
{
	struct addr_slot *slots[DNS_CACHE_MAX_ADDRS];
	struct entry *e;
	unsigned n = slots_for(c, host, port, slots, &e);
	time_t now = now_sec(), until = now + DNS_CACHE_OVERRIDE_DEAD_SEC;
	char text[INET6_ADDRSTRLEN] = "?";

	/* A name's address is dead until the answer that named it expires. */
	if (e)
		until = e->expires > now ? e->expires : now + DNS_CACHE_MIN_TTL_SEC;
	for (unsigned i = 0; i < n; i++) {
		if (!same_addr(slots[i], sa, len))
			continue;
		evutil_inet_ntop(sa->sa_family,
				 sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
							  : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr,
				 text, sizeof(text));
		log_info("dns: %s: address %s failed; not used for %lld s", host, text, (long long)(until - now));
		c->stats.failed_addresses++;
		return mark_failed(slots, n, slots[i], until, now);
	}
	return false;
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
			struct addr_slot *slots[DNS_CACHE_MAX_ADDRS];

			for (unsigned i = 0; i < e->n_addrs; i++)
				slots[i] = &e->addrs[i];
			answer_with(pick(slots, e->n_addrs, now_sec()), q->port, &q->addr, &q->addr_len);
		} else {
			snprintf(q->detail, sizeof(q->detail), "%s", detail);
		}
		event_active(q->ev, EV_TIMEOUT, 1);
	}
}

/* Adds an address to the answer being built (beyond DNS_CACHE_MAX_ADDRS
 * the rest are dropped). */
static void entry_collect(struct entry *e, const struct sockaddr *sa, socklen_t len, int ttl)
{
	struct addr_slot *slot;

	if (e->n_next >= DNS_CACHE_MAX_ADDRS || len > sizeof(slot->sa))
		return;
	slot = &e->next[e->n_next++];
	memset(slot, 0, sizeof(*slot));
	memcpy(&slot->sa, sa, len);
	slot->len = len;
	if (e->n_next == 1 || ttl < e->next_ttl)
		e->next_ttl = ttl;
}

/* The answer built in next[] replaces the old one; an address that was
 * in both keeps its failure mark (it has not come back to life). */
static void entry_store(struct entry *e)
{
	int ttl = e->next_ttl;

	if (ttl < DNS_CACHE_MIN_TTL_SEC)
		ttl = DNS_CACHE_MIN_TTL_SEC;
	if (ttl > DNS_CACHE_MAX_TTL_SEC)
		ttl = DNS_CACHE_MAX_TTL_SEC;
	for (unsigned i = 0; i < e->n_next; i++)
		for (unsigned j = 0; j < e->n_addrs; j++)
			if (same_addr(&e->addrs[j], (struct sockaddr *)&e->next[i].sa, e->next[i].len))
				e->next[i].failed_until = e->addrs[j].failed_until;
	memcpy(e->addrs, e->next, e->n_next * sizeof(e->next[0]));
	e->n_addrs = e->n_next;
	e->n_next = 0;
	e->expires = now_sec() + ttl;
	log_debug("dns: %s: %u address(es), cached for %d s", e->name, e->n_addrs, ttl);
	entry_answer(e, 0, NULL);
}

/* Every way failed: an expired answer not too old is better than none. */
static void entry_failed(struct entry *e, int error, const char *why)
{
	char detail[DNS_CACHE_DETAIL_MAX];

	e->n_next = 0;
	if (e->n_addrs > 0 && e->expires + DNS_CACHE_STALE_SEC > now_sec()) {
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
	for (struct evutil_addrinfo *ai = result == 0 ? res : NULL; ai; ai = ai->ai_next)
		entry_collect(e, ai->ai_addr, ai->ai_addrlen, DNS_CACHE_FALLBACK_TTL_SEC);
	if (e->n_next > 0)
		entry_store(e);
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
	if (e->n_next > 0) {
		entry_store(e); /* A, AAAA or both */
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
	for (int i = 0; result == DNS_ERR_NONE && type == DNS_IPv4_A && i < count; i++) {
		struct sockaddr_in sin = {.sin_family = AF_INET};
		memcpy(&sin.sin_addr, (const char *)addresses + i * sizeof(sin.sin_addr), sizeof(sin.sin_addr));
		entry_collect(e, (struct sockaddr *)&sin, sizeof(sin), ttl);
	}
	for (int i = 0; result == DNS_ERR_NONE && type == DNS_IPv6_AAAA && i < count; i++) {
		struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
		memcpy(&sin6.sin6_addr, (const char *)addresses + i * sizeof(sin6.sin6_addr), sizeof(sin6.sin6_addr));
		entry_collect(e, (struct sockaddr *)&sin6, sizeof(sin6), ttl);
	}
	entry_resolve_next(e, result);
}

int dns_cache_set_hosts_file(struct dns_cache *c, const char *path)
{
	char *p = path ? strdup(path) : NULL;

	if (path && !p)
		return -ENOMEM;
	free(c->hosts_file);
	c->hosts_file = p;
	return 0;
}

/* Adds the addresses of family that line ("ADDR NAME ALIAS… # comment")
 * gives e's name to the answer being built. */
static void hosts_line(struct entry *e, char *line, int family)
{
	struct sockaddr_storage sa;
	socklen_t len;
	char *save = NULL, *addr, *name;

	line[strcspn(line, "#")] = '\0';
	addr = strtok_r(line, " \t", &save);
	if (!addr || parse_ip(addr, 0, &sa, &len) < 0 || sa.ss_family != family)
		return;
	while ((name = strtok_r(NULL, " \t", &save)))
		if (strcasecmp(name, e->name) == 0) {
			entry_collect(e, (struct sockaddr *)&sa, len, DNS_CACHE_FALLBACK_TTL_SEC);
			return;
		}
}

/*
 * The hosts file first, as nsswitch's "files dns" does: e's addresses
 * there (IPv4 first, then IPv6, each in file order) go into the answer
 * being built; true when there were any.  Read afresh for every lookup
 * (a lookup happens once per name per TTL); a missing or unreadable file
 * is no answer.
 */
static bool hosts_lookup(struct dns_cache *c, struct entry *e)
{
	static const int families[] = {AF_INET, AF_INET6};
	char *buf = NULL, *copy, *cursor, *line;
	size_t size = 0;

	if (!c->hosts_file || textfile_read(c->hosts_file, TEXTFILE_MAX_SIZE, &buf, &size) < 0)
		return false;
	copy = malloc(size + 1);
	for (size_t f = 0; copy && f < 2; f++) {
		memcpy(copy, buf, size + 1);
		cursor = copy;
		while ((line = textfile_next_line(&cursor)))
			hosts_line(e, line, families[f]);
	}
	free(copy);
	textfile_free(buf, size);
	return e->n_next > 0;
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
		if (hosts_lookup(c, e)) {
			entry_store(e);
			return q;
		}
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
