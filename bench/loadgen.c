/* SPDX-License-Identifier: MIT */
/*
 * loadgen: the benchmark's load generator (bench/run drives it).
 *
 *   loadgen varlink --socket PATH (--key KEY | --keys FILE) --clients N --requests TOTAL
 *       N Varlink connections to the daemon, each with one CancelKeyDeletion
 *       in flight at a time (raw Varlink: one NUL-terminated JSON message per
 *       call), until TOTAL replies; prints requests/s and latency quantiles.
 *   loadgen direct --port PORT --ca FILE (--key KEY | --keys FILE) --clients N --requests TOTAL
 *       The same load sent straight to the KMS over N kept-alive HTTPS
 *       connections (the daemon's own https-pool, one signed request per key
 *       reused: the KMS must not recompute signatures, like bench/kms-sink
 *       or fake-kms --no-verify-signature): the ceiling.
 *
 *       --keys FILE: key IDs, the first word of each line (a fake-kms
 *       --keys file).  The daemon coalesces identical cancels in flight into
 *       one KMS request, so no two calls in flight may share a key: client i
 *       cancels keys i, i + N, i + 2N, … in turn, and there must be at least
 *       N keys.  --cpu NAME=PID (repeatable): also report that process's CPU
 *       time per request over the measured run (utime + stime from
 *       /proc/PID/stat), as cpu_us_NAME=, and the kernel's part of it
 *       (stime) as cpu_sys_us_NAME=; the load generator's own is
 *       cpu_us_loadgen=.
 *   loadgen idle --socket PATH --clients N --hold SEC
 *       N connected, silent clients; prints "ready" once the daemon has
 *       accepted all of them, then holds them SEC seconds.
 *   loadgen echo --socket PATH
 *       Listens on PATH and answers every Varlink message at once with a
 *       canned CancelKeyDeletion reply, until killed: a stand-in daemon
 *       that does nothing, whose round trip is the floor of the latency
 *       any daemon in the path adds.
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
#define MAX_KEYS         65536 /* in a --keys file */
#define MAX_WATCHED      4     /* --cpu processes */
#define KEY_ID_MAX       256

/* A process's CPU time so far, in clock ticks. */
struct cpu_time {
	unsigned long long user, sys;
};

/* A process whose CPU time per request is reported (--cpu NAME=PID). */
struct watched {
	const char *name;
	pid_t pid; /* 0: this process */
	struct cpu_time at_start;
};

struct opts {
	const char *socket_path;
	char **keys; /* --key or --keys */
	size_t n_keys;
	struct watched watched[MAX_WATCHED + 1];
	size_t n_watched;
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

/* utime and stime of a process (pid 0: this one) from /proc/PID/stat;
 * zero if it cannot be read (the process is gone). */
static struct cpu_time cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	struct cpu_time t = {0, 0};
	size_t n;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/stat");
	f = fopen(path, "re");
	if (!f)
		return t;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after "(comm)", which may hold spaces: state is field 3,
	 * utime and stime are fields 14 and 15. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &t.user, &t.sys) != 2)
		t.user = t.sys = 0;
	return t;
}

/* The measured run begins: note every watched process's CPU time. */
static void cpu_start(struct opts *o)
{
	for (size_t i = 0; i < o->n_watched; i++)
		o->watched[i].at_start = cpu_ticks(o->watched[i].pid);
}

/* " cpu_us_NAME=X cpu_sys_us_NAME=Y" for each watched process: CPU µs per
 * request since cpu_start(), all of it and the part spent in the kernel. */
static void cpu_print(const struct opts *o, size_t requests)
{
	double us_per_tick = requests ? 1e6 / (double)sysconf(_SC_CLK_TCK) / (double)requests : 0.0;

	for (size_t i = 0; i < o->n_watched; i++) {
		const struct watched *w = &o->watched[i];
		struct cpu_time now = cpu_ticks(w->pid);
		unsigned long long user = now.user - w->at_start.user, sys = now.sys - w->at_start.sys;

		printf(" cpu_us_%s=%.1f cpu_sys_us_%s=%.1f", w->name, (double)(user + sys) * us_per_tick, w->name,
		       (double)sys * us_per_tick);
	}
}

static void print_latency(const char *mode, const struct opts *o, uint64_t *lat, size_t n, uint64_t elapsed_ns,
			  unsigned long errors)
{
	/* CPU time first: sorting is not part of the run. */
	printf("mode=%s clients=%u keys=%zu requests=%zu errors=%lu seconds=%.3f rps=%.0f", mode, o->clients,
	       o->n_keys, n, errors, (double)elapsed_ns / 1e9, (double)n * 1e9 / (double)elapsed_ns);
	cpu_print(o, n);
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf(" p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f\n", (double)quantile(lat, n, 0.50) / 1e3,
	       (double)quantile(lat, n, 0.99) / 1e3, (double)quantile(lat, n, 0.999) / 1e3,
	       n ? (double)lat[n - 1] / 1e3 : 0.0);
}

/* Which key client's call number nth (0, 1, …) cancels: the client's own
 * share of the keys, in turn, so that no two clients ever use one key. */
static size_t key_index(const struct opts *o, unsigned client, unsigned long nth)
{
	size_t per_client = o->n_keys / o->clients;

	return client + (nth % per_client) * o->clients;
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
	unsigned id;
	unsigned long calls; /* sent so far */
	uint64_t sent_at;
	size_t have; /* bytes of the current reply so far */
	char buf[READ_BUFFER_SIZE];
};

/* The call messages, one per key, each with its NUL terminator (the frame). */
static char **varlink_messages(const struct opts *o)
{
	char **msgs = calloc(o->n_keys, sizeof(*msgs));

	for (size_t k = 0; msgs && k < o->n_keys; k++) {
		if (asprintf(&msgs[k], "{\"method\":\"io.kmscancel.CancelKeyDeletion\",\"parameters\":{\"keyId\":\"%s\"}}",
			     o->keys[k]) < 0)
			return NULL; /* the process exits */
	}
	return msgs;
}

/* Sends client c's next call. */
static int varlink_send(const struct opts *o, char **msgs, struct client *c)
{
	const char *msg = msgs[key_index(o, c->id, c->calls++)];
	size_t len = strlen(msg) + 1;

	c->sent_at = now_ns();
	return write(c->fd, msg, len) == (ssize_t)len ? 0 : -EIO;
}

static int run_varlink(struct opts *o)
{
	char **msgs = varlink_messages(o);
	struct client *cs = calloc(o->clients, sizeof(*cs));
	uint64_t *lat = calloc(o->requests, sizeof(*lat));
	unsigned long sent = 0, done = 0, errors = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event evs[64];
	uint64_t start;

	if (!msgs || !cs || !lat || ep < 0)
		return 2;
	for (unsigned i = 0; i < o->clients; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
		cs[i].id = i;
		cs[i].fd = unix_connect(o->socket_path);
		if (cs[i].fd < 0) {
			fprintf(stderr, "loadgen: connect %s: %s\n", o->socket_path, strerror(-cs[i].fd));
			return 1;
		}
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	cpu_start(o);
	start = now_ns();
	for (unsigned i = 0; i < o->clients && sent < o->requests; i++, sent++) {
		if (varlink_send(o, msgs, &cs[i]) < 0)
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
				if (varlink_send(o, msgs, c) < 0)
					return 1;
			}
		}
	}
	print_latency("varlink", o, lat, done, now_ns() - start, errors);
	for (unsigned i = 0; i < o->clients; i++)
		close(cs[i].fd);
	for (size_t k = 0; k < o->n_keys; k++)
		free(msgs[k]);
	free(msgs);
	free(cs);
	free(lat);
	close(ep);
	return errors ? 1 : 0;
}

/* ---- direct: the same load straight to the fake over HTTPS ---------------- */

struct direct {
	const struct opts *o;
	struct https_pool *pool;
	char **requests; /* signed, one per key */
	size_t *lens;
	unsigned long sent, done, errors, total;
	uint64_t *lat;
	struct event_base *base;
};

struct direct_slot {
	struct direct *d;
	unsigned id;
	unsigned long calls; /* sent so far */
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
	size_t k = key_index(d->o, s->id, s->calls++);

	d->sent++;
	s->sent_at = now_ns();
	if (!https_pool_submit(d->pool, d->requests[k], d->lens[k], 30000, direct_done, s)) {
		fprintf(stderr, "loadgen: submit failed\n");
		exit(1);
	}
}

/* One CancelKeyDeletion of key signed now; KMS accepts it for 5 minutes. */
static int direct_request(const struct opts *o, const char *key_id, const char *host, char **ret, size_t *ret_len)
{
	char amz_date[SIGV4_AMZ_DATE_SIZE], date8[9], body[256], *authz = NULL;
	uint8_t key[SIGV4_KEY_SIZE];
	int r;

	snprintf(body, sizeof(body), "{\"KeyId\":\"%s\"}", key_id);
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

static int run_direct(struct opts *o)
{
	struct direct d = {.o = o, .total = o->requests};
	struct https_pool_options po = {.max_connections = o->clients};
	struct direct_slot *slots = calloc(o->clients, sizeof(*slots));
	struct tls_context *tls = NULL;
	char host[64], *err = NULL;
	uint64_t start;

	snprintf(host, sizeof(host), "127.0.0.1:%u", o->port);
	d.lat = calloc(o->requests, sizeof(*d.lat));
	d.requests = calloc(o->n_keys, sizeof(*d.requests));
	d.lens = calloc(o->n_keys, sizeof(*d.lens));
	d.base = event_base_new();
	if (!slots || !d.lat || !d.requests || !d.lens || !d.base || o->clients > DIRECT_POOL_MAX)
		return 2;
	if (tls_context_new(o->ca, &tls, &err) < 0) {
		fprintf(stderr, "loadgen: %s\n", err ? err : "TLS setup failed");
		return 1;
	}
	for (size_t k = 0; k < o->n_keys; k++)
		if (direct_request(o, o->keys[k], host, &d.requests[k], &d.lens[k]) < 0)
			return 1;
	d.pool = https_pool_new(d.base, NULL, tls, "127.0.0.1", (uint16_t)o->port, &po);
	/* Connections up first: the ceiling is about kept-alive ones. */
	https_pool_prewarm(d.pool, o->clients);
	{
		struct timeval tv = {1, 0};
		event_base_loopexit(d.base, &tv);
		event_base_dispatch(d.base);
	}
	cpu_start(o);
	start = now_ns();
	for (unsigned i = 0; i < o->clients && d.sent < d.total; i++) {
		slots[i].d = &d;
		slots[i].id = i;
		direct_send(&slots[i]);
	}
	event_base_dispatch(d.base);
	print_latency("direct", o, d.lat, d.done, now_ns() - start, d.errors);
	https_pool_free(d.pool);
	tls_context_free(tls);
	event_base_free(d.base);
	for (size_t k = 0; k < o->n_keys; k++)
		free(d.requests[k]);
	free(d.requests);
	free(d.lens);
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

/* ---- echo: a stand-in daemon that answers at once -------------------------- */

/* Listens on PATH and answers every NUL-terminated message with the same
 * canned CancelKeyDeletion reply, doing nothing else: a Varlink round trip
 * to it is the floor of what any daemon in the path adds (two process
 * wake-ups and the socket work), measured on the same machine. */
static int run_echo(const struct opts *o)
{
	static const char reply[] = "{\"parameters\":{\"keyId\":\"arn:aws:kms:us-east-1:111122223333:key/"
				    "1234abcd-12ab-34cd-56ef-1234567890ab\",\"keyState\":\"Disabled\","
				    "\"requestId\":\"echo\",\"attempts\":1}}";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct epoll_event ev = {.events = EPOLLIN}, evs[64];
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (lfd < 0 || ep < 0 || strlen(o->socket_path) >= sizeof(sa.sun_path))
		return 2;
	strcpy(sa.sun_path, o->socket_path);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 128) < 0) {
		fprintf(stderr, "loadgen: cannot listen on %s: %s\n", o->socket_path, strerror(errno));
		return 1;
	}
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);

		for (int k = 0; k < n; k++) {
			char buf[READ_BUFFER_SIZE];
			int fd = evs[k].data.fd;
			ssize_t r;

			if (fd == lfd) {
				int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
				struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};

				if (cfd >= 0)
					epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r <= 0) {
				close(fd);
				continue;
			}
			/* One call in flight per client: a reply per message end. */
			for (const char *p = buf; (p = memchr(p, '\0', (size_t)(buf + r - p))); p++)
				if (write(fd, reply, sizeof(reply)) != (ssize_t)sizeof(reply))
					break;
		}
	}
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

/* Adds one key ID to o->keys. */
static int key_add(struct opts *o, const char *id, size_t len)
{
	char **keys;

	if (len == 0 || len >= KEY_ID_MAX || o->n_keys >= MAX_KEYS)
		return -EINVAL;
	keys = realloc(o->keys, (o->n_keys + 1) * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	o->keys = keys;
	o->keys[o->n_keys] = strndup(id, len);
	if (!o->keys[o->n_keys])
		return -ENOMEM;
	o->n_keys++;
	return 0;
}

/* Reads --keys FILE: the first word of each line that has one, "#" lines
 * aside. */
static int keys_load(struct opts *o, const char *path)
{
	char line[1024];
	FILE *f = fopen(path, "re");
	int r = 0;

	if (!f)
		return -errno;
	while (r >= 0 && fgets(line, sizeof(line), f)) {
		size_t start = strspn(line, " \t"), len = strcspn(line + start, " \t\r\n");

		if (len > 0 && line[start] != '#')
			r = key_add(o, line + start, len);
	}
	fclose(f);
	return r;
}

/* --cpu NAME=PID */
static int watch_add(struct opts *o, char *arg)
{
	char *eq = strchr(arg, '='), *end;
	long pid;

	if (!eq || eq == arg || o->n_watched >= MAX_WATCHED)
		return -EINVAL;
	pid = strtol(eq + 1, &end, 10);
	if (*end || pid <= 0)
		return -EINVAL;
	*eq = '\0';
	o->watched[o->n_watched++] = (struct watched){.name = arg, .pid = (pid_t)pid};
	return 0;
}

static void usage(void)
{
	fputs("usage: loadgen varlink --socket PATH (--key KEY | --keys FILE) --clients N --requests TOTAL\n"
	      "                       [--cpu NAME=PID]...\n"
	      "       loadgen direct --port PORT --ca FILE (--key KEY | --keys FILE) --clients N --requests TOTAL\n"
	      "                      [--access-key AKID --secret SECRET --region REGION] [--cpu NAME=PID]...\n"
	      "       loadgen idle --socket PATH --clients N --hold SEC\n"
	      "       loadgen echo --socket PATH\n"
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
	    {"region", required_argument, NULL, 'g'},  {"keys", required_argument, NULL, 'K'},
	    {"cpu", required_argument, NULL, 'C'},     {0},
	};
	struct opts o = {
	    .clients = 1, .requests = 1000, .runs = 30, .hold_sec = 5,
	    .access_key = "AKIDEXAMPLE", .secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", .region = "us-east-1",
	};
	const char *mode;
	int c, r;

	if (argc < 2) {
		usage();
		return 2;
	}
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o.socket_path = optarg; break;
		case 'k':
			if (key_add(&o, optarg, strlen(optarg)) < 0) {
				usage();
				return 2;
			}
			break;
		case 'K':
			if (keys_load(&o, optarg) < 0) {
				fprintf(stderr, "loadgen: cannot read the keys in %s\n", optarg);
				return 2;
			}
			break;
		case 'C':
			if (watch_add(&o, optarg) < 0) {
				usage();
				return 2;
			}
			break;
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
	if ((strcmp(mode, "varlink") == 0 || strcmp(mode, "direct") == 0) && o.n_keys < o.clients) {
		fprintf(stderr,
			"loadgen: %zu key(s) for %u clients: calls in flight would share a key, and the daemon "
			"coalesces those into one KMS request\n",
			o.n_keys, o.clients);
		return 2;
	}
	o.watched[o.n_watched++] = (struct watched){.name = "loadgen", .pid = 0};
	if (strcmp(mode, "varlink") == 0 && o.socket_path) {
		r = run_varlink(&o);
	} else if (strcmp(mode, "direct") == 0 && o.port && o.ca) {
		r = run_direct(&o);
	} else if (strcmp(mode, "idle") == 0 && o.socket_path) {
		r = run_idle(&o);
	} else if (strcmp(mode, "echo") == 0 && o.socket_path) {
		r = run_echo(&o);
	} else if (strcmp(mode, "exec") == 0 && optind < argc) {
		r = run_exec(&o, argv + optind);
	} else {
		usage();
		r = 2;
	}
	for (size_t k = 0; k < o.n_keys; k++)
		free(o.keys[k]);
	free(o.keys);
	return r;
}
