/* SPDX-License-Identifier: MIT */
/*
 * loadgen: the benchmark's load generator (bench/run drives it).
 *
 *   loadgen varlink --socket PATH --key KEY --clients N --requests TOTAL
 *       N Varlink connections to the daemon, each with one CancelKeyDeletion
 *       in flight at a time (raw Varlink: one NUL-terminated JSON message per
 *       call), until TOTAL replies; prints requests/s and latency quantiles.
 *   loadgen direct --port PORT --ca FILE --key KEY --clients N --requests TOTAL
 *       The same load sent straight to the fake KMS over N kept-alive HTTPS
 *       connections (the daemon's own https-pool, one signed request reused:
 *       the fake must run with --no-verify-signature): the ceiling.
 *   loadgen idle --socket PATH --clients N --hold SEC
 *       N connected, silent clients; prints "ready" once the daemon has
 *       accepted all of them, then holds them SEC seconds.
 *   loadgen exec --runs N -- COMMAND ARGS...
 *       Runs COMMAND N times, one after the other; prints the median and
 *       other quantiles of its wall time.
 *
 * Output: one line of key=value pairs, for the script to parse.  Exit 0 when
 * every request succeeded, 1 otherwise, 2 on usage errors.
 *
 * Single-threaded (epoll) so that its own cost is small and steady; it
 * shares the machine's cores with the daemon and the fake.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "http.h"
#include "https-pool.h"
#include "sigv4.h"
#include "tls.h"

#define READ_BUFFER_SIZE 4096
#define DIRECT_POOL_MAX  1024

struct opts {
	const char *socket_path;
	const char *key;
	const char *ca;
	unsigned port;
	unsigned clients;
	unsigned long requests;
	unsigned runs;
	unsigned hold_sec;
	const char *access_key;
	const char *secret;
	const char *region;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of sorted v[0..n), nearest rank. */
static uint64_t quantile(const uint64_t *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n);

	if (n == 0)
		return 0;
	return v[i >= n ? n - 1 : i];
}

static void print_latency(const char *mode, const struct opts *o, uint64_t *lat, size_t n, uint64_t elapsed_ns,
			  unsigned long errors)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("mode=%s clients=%u requests=%zu errors=%lu seconds=%.3f rps=%.0f p50_us=%.1f p99_us=%.1f "
	       "p999_us=%.1f max_us=%.1f\n",
	       mode, o->clients, n, errors, (double)elapsed_ns / 1e9, (double)n * 1e9 / (double)elapsed_ns,
	       (double)quantile(lat, n, 0.50) / 1e3, (double)quantile(lat, n, 0.99) / 1e3,
	       (double)quantile(lat, n, 0.999) / 1e3, n ? (double)lat[n - 1] / 1e3 : 0.0);
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* ---- varlink: N clients, one call in flight each ------------------------- */

struct client {
	int fd;
	uint64_t sent_at;
	size_t have; /* bytes of the current reply so far */
	char buf[READ_BUFFER_SIZE];
};

static int run_varlink(const struct opts *o)
{
	char msg[512];
	int len = snprintf(msg, sizeof(msg),
			   "{\"method\":\"io.kmscancel.CancelKeyDeletion\",\"parameters\":{\"keyId\":\"%s\"}}", o->key);
	size_t msg_len = (size_t)len + 1; /* the NUL terminator is the frame */
	struct client *cs = calloc(o->clients, sizeof(*cs));
	uint64_t *lat = calloc(o->requests, sizeof(*lat));
	unsigned long sent = 0, done = 0, errors = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event evs[64];
	uint64_t start;

	if (!cs || !lat || ep < 0 || len <= 0 || (size_t)len >= sizeof(msg))
		return 2;
	for (unsigned i = 0; i < o->clients; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
		cs[i].fd = unix_connect(o->socket_path);
		if (cs[i].fd < 0) {
			fprintf(stderr, "loadgen: connect %s: %s\n", o->socket_path, strerror(-cs[i].fd));
			return 1;
		}
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	start = now_ns();
	for (unsigned i = 0; i < o->clients && sent < o->requests; i++, sent++) {
		cs[i].sent_at = now_ns();
		if (write(cs[i].fd, msg, msg_len) != (ssize_t)msg_len)
			return 1;
	}
	while (done < o->requests) {
		int n = epoll_wait(ep, evs, 64, 30000);
		if (n <= 0) {
			fprintf(stderr, "loadgen: no reply for 30 s (%lu of %lu done)\n", done, o->requests);
			return 1;
		}
		for (int k = 0; k < n; k++) {
			struct client *c = evs[k].data.ptr;
			ssize_t r = read(c->fd, c->buf + c->have, sizeof(c->buf) - c->have);
			char *nul;
			if (r <= 0) {
				fprintf(stderr, "loadgen: the daemon closed a connection\n");
				return 1;
			}
			c->have += (size_t)r;
			nul = memchr(c->buf, '\0', c->have);
			if (!nul) {
				if (c->have == sizeof(c->buf))
					return 1;
				continue;
			}
			/* One call in flight: the reply is all there is. */
			lat[done++] = now_ns() - c->sent_at;
			if (strncmp(c->buf, "{\"error\"", 8) == 0 || strstr(c->buf, "\"error\":")) {
				if (errors++ == 0)
					fprintf(stderr, "loadgen: first error: %s\n", c->buf);
			}
			c->have = 0;
			if (sent < o->requests) {
				sent++;
				c->sent_at = now_ns();
				if (write(c->fd, msg, msg_len) != (ssize_t)msg_len)
					return 1;
			}
		}
	}
	print_latency("varlink", o, lat, done, now_ns() - start, errors);
	for (unsigned i = 0; i < o->clients; i++)
		close(cs[i].fd);
	free(cs);
	free(lat);
	close(ep);
	return errors ? 1 : 0;
}

/* ---- direct: the same load straight to the fake over HTTPS ---------------- */

struct direct {
	struct https_pool *pool;
	const char *request;
	size_t len;
	unsigned long sent, done, errors, total;
	uint64_t *lat;
	struct event_base *base;
};

struct direct_slot {
	struct direct *d;
	uint64_t sent_at;
};

static void direct_send(struct direct_slot *s);

static void direct_done(const struct https_outcome *o, struct http_response *resp, void *userdata)
{
	struct direct_slot *s = userdata;
	struct direct *d = s->d;

	d->lat[d->done++] = now_ns() - s->sent_at;
	if (o->error != HTTPS_OK || resp->status != 200) {
		if (d->errors++ == 0)
			fprintf(stderr, "loadgen: first error: %s %d %.200s\n", https_error_to_string(o->error),
				resp ? resp->status : 0, resp && resp->body ? resp->body : "");
	}
	http_response_free(resp);
	if (d->sent < d->total)
		direct_send(s);
	else if (d->done == d->total)
		event_base_loopbreak(d->base);
}

static void direct_send(struct direct_slot *s)
{
	struct direct *d = s->d;

	d->sent++;
	s->sent_at = now_ns();
	if (!https_pool_submit(d->pool, d->request, d->len, 30000, direct_done, s)) {
		fprintf(stderr, "loadgen: submit failed\n");
		exit(1);
	}
}

/* One CancelKeyDeletion signed now; the fake accepts it for 5 minutes. */
static int direct_request(const struct opts *o, const char *host, char **ret, size_t *ret_len)
{
	char amz_date[SIGV4_AMZ_DATE_SIZE], date8[9], body[256], *authz = NULL;
	uint8_t key[SIGV4_KEY_SIZE];
	int r;

	snprintf(body, sizeof(body), "{\"KeyId\":\"%s\"}", o->key);
	sigv4_format_amz_date(time(NULL), amz_date);
	memcpy(date8, amz_date, 8);
	date8[8] = '\0';
	struct sigv4_header sh[] = {
	    {"Content-Type", "application/x-amz-json-1.1"},
	    {"Host", host},
	    {"X-Amz-Date", amz_date},
	    {"X-Amz-Target", "TrentService.CancelKeyDeletion"},
	};
	struct sigv4_request req = {
	    .method = "POST", .path = "/", .headers = sh, .n_headers = 4,
	    .payload = body, .payload_len = strlen(body), .normalize_path = true,
	};
	r = sigv4_derive_key(o->secret, date8, o->region, "kms", key);
	if (r >= 0)
		r = sigv4_authorization(&req, o->access_key, key, amz_date, o->region, "kms", &authz);
	if (r < 0)
		return r;
	struct http_request_header h[] = {
	    {"Content-Type", "application/x-amz-json-1.1"},
	    {"X-Amz-Date", amz_date},
	    {"X-Amz-Target", "TrentService.CancelKeyDeletion"},
	    {"Authorization", authz},
	    {"User-Agent", "kmscancel-loadgen"},
	};
	r = http_request_format("POST", "/", host, h, 5, body, strlen(body), ret, ret_len);
	free(authz);
	return r;
}

static int run_direct(const struct opts *o)
{
	struct direct d = {.total = o->requests};
	struct https_pool_options po = {.max_connections = o->clients};
	struct direct_slot *slots = calloc(o->clients, sizeof(*slots));
	struct tls_context *tls = NULL;
	char host[64], *err = NULL, *request = NULL;
	uint64_t start;

	snprintf(host, sizeof(host), "127.0.0.1:%u", o->port);
	d.lat = calloc(o->requests, sizeof(*d.lat));
	d.base = event_base_new();
	if (!slots || !d.lat || !d.base || o->clients > DIRECT_POOL_MAX)
		return 2;
	if (tls_context_new(o->ca, &tls, &err) < 0) {
		fprintf(stderr, "loadgen: %s\n", err ? err : "TLS setup failed");
		return 1;
	}
	if (direct_request(o, host, &request, &d.len) < 0)
		return 1;
	d.request = request;
	d.pool = https_pool_new(d.base, NULL, tls, "127.0.0.1", (uint16_t)o->port, &po);
	/* Connections up first: the ceiling is about kept-alive ones. */
	https_pool_prewarm(d.pool, o->clients);
	{
		struct timeval tv = {1, 0};
		event_base_loopexit(d.base, &tv);
		event_base_dispatch(d.base);
	}
	start = now_ns();
	for (unsigned i = 0; i < o->clients && d.sent < d.total; i++) {
		slots[i].d = &d;
		direct_send(&slots[i]);
	}
	event_base_dispatch(d.base);
	print_latency("direct", o, d.lat, d.done, now_ns() - start, d.errors);
	https_pool_free(d.pool);
	tls_context_free(tls);
	event_base_free(d.base);
	free(request);
	free(d.lat);
	free(slots);
	return d.errors ? 1 : 0;
}

/* ---- idle: many connected, silent clients ------------------------------- */

static int run_idle(const struct opts *o)
{
	static const char info[] = "{\"method\":\"org.varlink.service.GetInfo\"}";
	int *fds = calloc(o->clients, sizeof(*fds));
	char buf[READ_BUFFER_SIZE];
	size_t have = 0;

	if (!fds || o->clients == 0)
		return 2;
	for (unsigned i = 0; i < o->clients; i++) {
		fds[i] = unix_connect(o->socket_path);
		if (fds[i] < 0) {
			fprintf(stderr, "loadgen: connection %u: %s\n", i + 1, strerror(-fds[i]));
			return 1;
		}
	}
	/* The daemon accepts in order: an answer on the last connection means
	 * it holds all of them. */
	if (write(fds[o->clients - 1], info, sizeof(info)) != (ssize_t)sizeof(info))
		return 1;
	while (!memchr(buf, '\0', have)) {
		ssize_t r = read(fds[o->clients - 1], buf + have, sizeof(buf) - have);
		if (r <= 0 || (have += (size_t)r) == sizeof(buf))
			return 1;
	}
	printf("ready clients=%u\n", o->clients);
	fflush(stdout);
	sleep(o->hold_sec);
	for (unsigned i = 0; i < o->clients; i++)
		close(fds[i]);
	free(fds);
	return 0;
}

/* ---- exec: wall time of a whole command ---------------------------------- */

static int run_exec(const struct opts *o, char **argv)
{
	uint64_t *t = calloc(o->runs, sizeof(*t));
	unsigned failures = 0;

	if (!t || !argv[0])
		return 2;
	for (unsigned i = 0; i < o->runs; i++) {
		uint64_t start = now_ns();
		int status;
		pid_t pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);
			dup2(null, 1);
			dup2(null, 2);
			execvp(argv[0], argv);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0)
			return 1;
		t[i] = now_ns() - start;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failures++;
	}
	qsort(t, o->runs, sizeof(*t), cmp_u64);
	printf("mode=exec runs=%u failures=%u min_ms=%.3f median_ms=%.3f p90_ms=%.3f max_ms=%.3f\n", o->runs,
	       failures, (double)t[0] / 1e6, (double)quantile(t, o->runs, 0.5) / 1e6,
	       (double)quantile(t, o->runs, 0.9) / 1e6, (double)t[o->runs - 1] / 1e6);
	free(t);
	return failures ? 1 : 0;
}

static void usage(void)
{
	fputs("usage: loadgen varlink --socket PATH --key KEY --clients N --requests TOTAL\n"
	      "       loadgen direct --port PORT --ca FILE --key KEY --clients N --requests TOTAL\n"
	      "                      [--access-key AKID --secret SECRET --region REGION]\n"
	      "       loadgen idle --socket PATH --clients N --hold SEC\n"
	      "       loadgen exec --runs N -- COMMAND ARGS...\n",
	      stderr);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},  {"key", required_argument, NULL, 'k'},
	    {"ca", required_argument, NULL, 'c'},      {"port", required_argument, NULL, 'p'},
	    {"clients", required_argument, NULL, 'n'}, {"requests", required_argument, NULL, 'r'},
	    {"runs", required_argument, NULL, 'R'},    {"hold", required_argument, NULL, 'h'},
	    {"access-key", required_argument, NULL, 'a'}, {"secret", required_argument, NULL, 'S'},
	    {"region", required_argument, NULL, 'g'},  {0},
	};
	struct opts o = {
	    .clients = 1, .requests = 1000, .runs = 30, .hold_sec = 5,
	    .access_key = "AKIDEXAMPLE", .secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", .region = "us-east-1",
	};
	const char *mode;
	int c;

	if (argc < 2) {
		usage();
		return 2;
	}
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o.socket_path = optarg; break;
		case 'k': o.key = optarg; break;
		case 'c': o.ca = optarg; break;
		case 'p': o.port = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': o.clients = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'r': o.requests = strtoul(optarg, NULL, 10); break;
		case 'R': o.runs = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'h': o.hold_sec = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'a': o.access_key = optarg; break;
		case 'S': o.secret = optarg; break;
		case 'g': o.region = optarg; break;
		default: usage(); return 2;
		}
	}
	if (o.clients == 0 || o.requests == 0 || o.runs == 0) {
		usage();
		return 2;
	}
	if (strcmp(mode, "varlink") == 0 && o.socket_path && o.key)
		return run_varlink(&o);
	if (strcmp(mode, "direct") == 0 && o.port && o.ca && o.key)
		return run_direct(&o);
	if (strcmp(mode, "idle") == 0 && o.socket_path)
		return run_idle(&o);
	if (strcmp(mode, "exec") == 0 && optind < argc)
		return run_exec(&o, argv + optind);
	usage();
	return 2;
}
