/* SPDX-License-Identifier: MIT */
/* Unit tests of daemon/dns-cache.c's address lists and failover: several
 * overrides for one name are its addresses in order; a failed one is
 * skipped until its mark expires; when all have failed, the oldest failure
 * is tried again.  No DNS is sent (overrides and IP literals only). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "dns-cache.h"

struct fixture {
	struct event_base *base;
	struct evdns_base *dns;
	struct dns_cache *cache;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->base = event_base_new();
	f->dns = evdns_base_new(f->base, 0);
	f->cache = dns_cache_new(f->base, f->dns);
	assert_non_null(f->cache);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dns_cache_free(f->cache);
	evdns_base_free(f->dns, 1);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* The address lookup gives for host:443, as "A.B.C.D:PORT". */
static const char *lookup(struct dns_cache *c, const char *host, char *buf, size_t size)
{
	struct sockaddr_storage sa;
	socklen_t len;
	struct sockaddr_in *in = (struct sockaddr_in *)&sa;
	char ip[INET_ADDRSTRLEN];

	if (dns_cache_lookup(c, host, 443, &sa, &len) < 0)
		return "none";
	assert_int_equal(sa.ss_family, AF_INET);
	inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
	snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
	return buf;
}

static bool report(struct dns_cache *c, const char *host, const char *ip, unsigned port)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

	inet_pton(AF_INET, ip, &in.sin_addr);
	return dns_cache_report_failure(c, host, 443, (struct sockaddr *)&in, sizeof(in));
}

static void test_override_failover(void **state)
{
	struct fixture *f = *state;
	char buf[64];

	assert_int_equal(dns_cache_add_overrides(f->cache,
						 "kms.example:443=127.0.0.2:9,other.example:443=127.0.0.9:1,"
						 "kms.example:443=127.0.0.3:9 kms.example:443=127.0.0.1:8443"),
			 0);
	assert_string_equal(lookup(f->cache, "kms.example", buf, sizeof(buf)), "127.0.0.2:9");
	assert_true(report(f->cache, "kms.example", "127.0.0.2", 9));
	assert_string_equal(lookup(f->cache, "kms.example", buf, sizeof(buf)), "127.0.0.3:9");
	assert_true(report(f->cache, "kms.example", "127.0.0.3", 9));
	assert_string_equal(lookup(f->cache, "kms.example", buf, sizeof(buf)), "127.0.0.1:8443");
	/* The dead stay dead for the next connections. */
	assert_string_equal(lookup(f->cache, "kms.example", buf, sizeof(buf)), "127.0.0.1:8443");
	/* The last one failing too: nothing else to try now; the oldest
	 * failure is handed out again (a mark is a hint, not a ban). */
	assert_false(report(f->cache, "kms.example", "127.0.0.1", 8443));
	assert_string_equal(lookup(f->cache, "kms.example", buf, sizeof(buf)), "127.0.0.2:9");
	/* Other names are not affected; unknown addresses are ignored. */
	assert_string_equal(lookup(f->cache, "other.example", buf, sizeof(buf)), "127.0.0.9:1");
	assert_false(report(f->cache, "other.example", "127.0.0.5", 1));
	assert_string_equal(lookup(f->cache, "other.example", buf, sizeof(buf)), "127.0.0.9:1");
}

struct answer {
	bool done;
	int error;
	struct sockaddr_storage sa;
};

static void on_answer(int error, const struct sockaddr *sa, socklen_t len, const char *detail, void *userdata)
{
	struct answer *a = userdata;

	a->done = true;
	a->error = error;
	if (!error)
		memcpy(&a->sa, sa, len);
}

/* /etc/hosts comes before DNS (nsswitch "files dns"): the name server here
 * is a closed loopback port, never asked; every address of the name is
 * kept, IPv4 first, and failover walks them. */
static void test_hosts_first(void **state)
{
	struct fixture *f = *state;
	char path[] = "/tmp/test-dns-cache-hosts.XXXXXX", buf[64], ip[INET6_ADDRSTRLEN];
	static const char hosts[] = "# comment\n"
				    "::1 kms.hosts.example\n"
				    "127.0.0.5\tkms.hosts.example  # first IPv4\n"
				    "127.0.0.7 other.example\n"
				    "127.0.0.6 alias KMS.Hosts.Example\n";
	struct answer a = {0};
	struct dns_cache_stats st;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, hosts, sizeof(hosts) - 1), (ssize_t)(sizeof(hosts) - 1));
	close(fd);
	assert_int_equal(evdns_base_nameserver_ip_add(f->dns, "127.0.0.1:9"), 0);
	assert_int_equal(dns_cache_set_hosts_file(f->cache, path), 0);
	assert_non_null(dns_cache_query(f->cache, "kms.hosts.example", 443, on_answer, &a));
	while (!a.done)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(a.error, 0);
	assert_int_equal(a.sa.ss_family, AF_INET);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&a.sa)->sin_addr, ip, sizeof(ip));
	assert_string_equal(ip, "127.0.0.5");
	assert_true(report(f->cache, "kms.hosts.example", "127.0.0.5", 443));
	assert_string_equal(lookup(f->cache, "kms.hosts.example", buf, sizeof(buf)), "127.0.0.6:443");
	assert_true(report(f->cache, "kms.hosts.example", "127.0.0.6", 443));
	{
		struct sockaddr_storage sa;
		socklen_t len;

		assert_int_equal(dns_cache_lookup(f->cache, "kms.hosts.example", 443, &sa, &len), 0);
		assert_int_equal(sa.ss_family, AF_INET6); /* ::1, last */
	}
	dns_cache_get_stats(f->cache, &st);
	assert_int_equal(st.lookups, 1);
	assert_int_equal(st.failed_addresses, 2);
	unlink(path);
}

static void test_literal_and_unknown(void **state)
{
	struct fixture *f = *state;
	char buf[64];

	assert_string_equal(lookup(f->cache, "192.0.2.7", buf, sizeof(buf)), "192.0.2.7:443");
	assert_false(report(f->cache, "192.0.2.7", "192.0.2.7", 443));
	assert_string_equal(lookup(f->cache, "not-looked-up.example", buf, sizeof(buf)), "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_override_failover, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hosts_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_literal_and_unknown, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
