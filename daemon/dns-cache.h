/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Name resolution for outgoing connections, cached for the answer's TTL, on
 * libevent's evdns (which has no cache of its own): a new connection to a
 * KMS endpoint costs no DNS round trip while the answer is fresh.
 *
 * A name is looked up in /etc/hosts first (nsswitch's "files dns"; cached
 * DNS_CACHE_FALLBACK_TTL_SEC), then as A and AAAA (evdns gives the TTL with
 * those), then, if DNS has no answer, through evdns_getaddrinfo (the
 * system's view once more, cached DNS_CACHE_FALLBACK_TTL_SEC).  Every address is kept
 * (up to DNS_CACHE_MAX_ADDRS: IPv4 first, in DNS's order, then IPv6) for
 * the smallest TTL, clamped to DNS_CACHE_MIN_TTL_SEC..DNS_CACHE_MAX_TTL_SEC.
 * When a refresh fails, the expired answer is still used for up to
 * DNS_CACHE_STALE_SEC (a resolver outage should not take KMS away).  One
 * lookup per name at a time however many connections wait for it.
 *
 * Failover: a connection that could not reach an address reports it
 * (dns_cache_report_failure()); that address is then skipped until the
 * answer that named it expires (an override's for
 * DNS_CACHE_OVERRIDE_DEAD_SEC), and the next one is handed out.  When every
 * address has failed, the one that failed longest ago is tried again.
 *
 * Overrides ("connect to"): HOST:PORT=ADDR:PORT pairs, as curl's
 * --connect-to, send connections for HOST:PORT to the IP literal ADDR:PORT
 * without DNS; TLS still checks the certificate against HOST.  Several
 * pairs for one HOST:PORT are its addresses, in that order.  HOST may be
 * "*.SUFFIX", for every name ending in .SUFFIX.  Tests use them to point
 * every regional endpoint at a loopback fake.
 *
 * Single-threaded: use from the event loop thread only.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct evdns_base;

#define DNS_CACHE_MIN_TTL_SEC      5
#define DNS_CACHE_MAX_TTL_SEC      300
#define DNS_CACHE_FALLBACK_TTL_SEC 60
#define DNS_CACHE_STALE_SEC        3600
#define DNS_CACHE_MAX_NAMES        64   /* the least recently used goes beyond this */
#define DNS_CACHE_MAX_OVERRIDES    64
#define DNS_CACHE_DETAIL_MAX       256
#define DNS_CACHE_MAX_ADDRS         16 /* addresses kept per name */
#define DNS_CACHE_OVERRIDE_DEAD_SEC 60 /* a failed override address is skipped this long */
#define DNS_CACHE_HOSTS_FILE        "/etc/hosts"

struct dns_cache;
struct dns_cache_query;

/* dns is borrowed and must outlive the cache.  NULL when out of memory. */
struct dns_cache *dns_cache_new(struct event_base *base, struct evdns_base *dns);
/* Pending queries are dropped without their callbacks.  NULL-safe, returns NULL.
 * A lookup still in flight keeps its entry until evdns calls back: free the
 * evdns_base afterwards with fail_requests=1 and run the event loop once more
 * (EVLOOP_NONBLOCK; evdns defers those callbacks) before freeing the base. */
struct dns_cache *dns_cache_free(struct dns_cache *c);

/* The hosts file read before DNS (tests point it elsewhere); NULL: none.
 * 0 or -ENOMEM. */
int dns_cache_set_hosts_file(struct dns_cache *c, const char *path);

/* Adds overrides from spec: "HOST:PORT=ADDR:PORT" items separated by commas
 * or spaces; ADDR is an IPv4 literal or a bracketed IPv6 one.  Returns 0,
 * -EINVAL (nothing added) or -ENOMEM. */
int dns_cache_add_overrides(struct dns_cache *c, const char *spec);

/* The address for host:port if it is known now: an IP literal, an override
 * or a fresh cached answer (the first address not marked failed).  Returns
 * 0 with *ret and *ret_len (port set), or -ENOENT when a lookup is needed. */
int dns_cache_lookup(struct dns_cache *c, const char *host, uint16_t port, struct sockaddr_storage *ret,
		     socklen_t *ret_len);

/*
 * A connection to sa, an address host:port was given, failed or timed out
 * before TCP was up: sa is skipped for host from now on (see above).
 * Returns true when host has another address not marked failed, to try
 * now; false when it has none (or sa is not one of its addresses).
 */
bool dns_cache_report_failure(struct dns_cache *c, const char *host, uint16_t port, const struct sockaddr *sa,
			      socklen_t len);

/* error: 0, or -ENOENT (no such name / no address), -EIO (resolver
 * failure); detail says why (NULL on success). */
typedef void (*dns_cache_fn)(int error, const struct sockaddr *sa, socklen_t len, const char *detail,
			     void *userdata);

/* Resolves host (the answer is cached) and calls done once, always from
 * the loop, never from inside this function, unless cancelled first.
 * NULL when out of memory. */
struct dns_cache_query *dns_cache_query(struct dns_cache *c, const char *host, uint16_t port, dns_cache_fn done,
					void *userdata);
/* done will not be called.  NULL-safe. */
void dns_cache_query_cancel(struct dns_cache_query *q);

struct dns_cache_stats {
	unsigned long hits;    /* answered from the cache, overrides and literals */
	unsigned long lookups; /* sent to the resolver */
	unsigned long stale;   /* expired answers used because a refresh failed */
	unsigned long failed_addresses; /* addresses reported failed */
};
void dns_cache_get_stats(const struct dns_cache *c, struct dns_cache_stats *ret);
