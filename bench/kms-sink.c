/* SPDX-License-Identifier: MIT */
/*
 * kms-sink: the benchmark's KMS.  A lean HTTPS responder that answers AWS
 * KMS's CancelKeyDeletion and DescribeKey as KMS does, cheaply enough that
 * the benchmark measures the daemon, not the server behind it
 * (tests/fakes/fake-kms spends ~100 µs of CPU per request in evhttp and
 * json-c; this aims at a tenth of that).
 *
 *   kms-sink --cert FILE --key FILE --port-file FILE [--port N]
 *            [--stats-file FILE] [--access-key AKID] [--region REGION]
 *            [--account ACCOUNT] [--tls-max 1.2|1.3] [--verbose]
 *
 * What it checks on every request, in the order KMS reports problems (the
 * same checks fake-kms --no-verify-signature makes, without json-c): POST /,
 * Content-Type application/x-amz-json-1.1, Host naming the sink's own
 * address, an Authorization header of the shape AWS4-HMAC-SHA256
 * Credential=<access key>/<date>/<region>/kms/aws4_request,
 * SignedHeaders=<…host…x-amz-date…>, Signature=<64 hex digits> whose date is
 * X-Amz-Date's, an X-Amz-Date of the shape YYYYMMDDTHHMMSSZ within 5 minutes
 * of the sink's clock, X-Amz-Target TrentService.CancelKeyDeletion or
 * .DescribeKey, a Content-Length body that is a JSON object with a KeyId
 * (a key ID or this region's and account's key ARN).  The signature itself
 * is not recomputed: that is the point of a benchmark KMS.  Every well-formed
 * key is a customer managed key pending deletion, and stays so.
 *
 * Answers: 200 {"KeyId":"arn:aws:kms:REGION:ACCOUNT:key/ID"} (DescribeKey:
 * the key's KeyMetadata) with x-amzn-RequestId; a KMS-shaped error
 * ({"__type":…,"message":…}, 400, or 403 without Authorization) otherwise.
 * A request it cannot frame (not HTTP/1.x, chunked, too large) gets a 400
 * and the connection is closed.
 *
 * TLS 1.2 and 1.3 (OpenSSL 3) with session resumption by ticket and by
 * session ID, HTTP/1.1 keep-alive, pipelining.  Listens on 127.0.0.1 only
 * and drops any connection from off loopback.  One thread, one epoll loop,
 * level-triggered.
 *
 * Counters (requests, answers by outcome, connections, TLS handshakes and
 * resumed ones) go to --stats-file as one key=value line on SIGUSR1 and at
 * exit (SIGTERM, SIGINT), by write-to-temp + rename, so a reader never sees
 * half a line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

/* Limits on what a client controls. */
#define MAX_CONNECTIONS  4096
#define MAX_HEAD_BYTES   (8 * 1024) /* request line and headers */
#define MAX_BODY_BYTES   4096       /* KMS request bodies are tiny */
#define IN_BUFFER_SIZE   (MAX_HEAD_BYTES + MAX_BODY_BYTES)
#define OUT_BUFFER_SIZE  (16 * 1024) /* replies to pipelined requests, held until written */
#define MAX_REPLY_BYTES  2048        /* the largest reply (DescribeKey) fits with room */
#define MAX_KEY_ID_BYTES 256
/* KMS accepts X-Amz-Date within 5 minutes of its own clock (AWS.md §3.4). */
#define SKEW_LIMIT_SEC    300
#define LISTEN_BACKLOG    4096
#define MAX_EVENTS        64
#define MAX_LOGGED_ERRORS 20 /* error replies logged to stderr; the rest only counted */

#define KMS_CONTENT_TYPE "application/x-amz-json-1.1"
#define TARGET_PREFIX    "TrentService."

struct slice {
	const char *p;
	size_t n;
};

enum conn_state {
	CONN_HANDSHAKE, /* TLS handshake under way */
	CONN_OPEN,      /* reading requests, writing replies */
	CONN_CLOSING,   /* the last reply is being written, then the connection closes */
	_CONN_STATE_MAX,
};

static const char *const conn_state_names[_CONN_STATE_MAX] = {
    [CONN_HANDSHAKE] = "handshake",
    [CONN_OPEN] = "open",
    [CONN_CLOSING] = "closing",
};

struct conn {
	LIST_ENTRY(conn) entry;
	int fd;
	SSL *ssl;
	enum conn_state state;
	uint32_t events; /* what epoll watches for */
	size_t in_len;
	size_t out_off, out_len;
	char in[IN_BUFFER_SIZE];
	char out[OUT_BUFFER_SIZE];
};

struct stats {
	uint64_t connections, refused, handshakes, resumed;
	uint64_t requests, ok, errors, unframed;
	uint64_t cancel, describe;
};

struct options {
	const char *cert_file, *key_file, *port_file, *stats_file;
	const char *access_key, *region, *account, *tls_max;
	unsigned port;
	bool verbose;
};

struct sink {
	struct options opt;
	SSL_CTX *ctx;
	int epfd, listen_fd, signal_fd;
	unsigned n_conns;
	char host[32];         /* the Host header a client must send: 127.0.0.1:PORT */
	char scope_tail[64];   /* REGION/kms/aws4_request, a credential's scope after its date */
	char cancel_body[128]; /* {"KeyId":"arn:aws:kms:REGION:ACCOUNT:key/ : a success's start */
	char request_id[40];   /* a UUID-shaped prefix + counter */
	uint64_t request_seq;
	time_t date_for; /* the second date[] was formatted for */
	char date[40];   /* HTTP-date, for the Date header */
	struct stats stats;
	LIST_HEAD(, conn) conns;
	bool accept_paused; /* out of descriptors: not accepting until one closes */
	bool quit;
};

/* epoll's data.ptr for the two descriptors that are not connections. */
static char listen_tag, signal_tag;

static bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static bool slice_is(struct slice s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool slice_is_hex(struct slice s)
{
	for (size_t i = 0; i < s.n; i++)
		if (!((s.p[i] >= '0' && s.p[i] <= '9') || (s.p[i] >= 'a' && s.p[i] <= 'f')))
			return false;
	return true;
}

static bool slice_is_digits(struct slice s)
{
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
	return true;
}

/* The part of *s before the first sep (all of it if none); *s moves past sep. */
static struct slice slice_split(struct slice *s, char sep)
{
	const char *at = memchr(s->p, sep, s->n);
	struct slice head = {s->p, at ? (size_t)(at - s->p) : s->n};

	s->p += at ? head.n + 1 : head.n;
	s->n -= at ? head.n + 1 : head.n;
	return head;
}

static void sink_log(const struct sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sink_log(const struct sink *s, const char *fmt, ...)
{
	va_list ap;

	(void)s;
	va_start(ap, fmt);
	fputs("kms-sink: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void conn_set_state(struct sink *s, struct conn *c, enum conn_state state)
{
	if (s->opt.verbose)
		sink_log(s, "connection %d: %s -> %s", c->fd, conn_state_names[c->state], conn_state_names[state]);
	c->state = state;
}

/* ---- HTTP framing ------------------------------------------------------- */

struct http_req {
	struct slice method, target;
	struct slice host, content_type, amz_target, amz_date, authorization, token;
	const char *body;
	size_t body_len;
	size_t total; /* bytes of this request: head and body */
	bool close;   /* Connection: close, or HTTP/1.0 */
};

/* Stores a header's value in *slot; a second one of the same name is a
 * request the sink does not take (KMS's clients never send one). */
static int header_set(struct slice *slot, struct slice value)
{
	if (slot->p)
		return -EBADMSG;
	*slot = value;
	return 0;
}

/* Files one header line "Name: value" (without its CRLF) into *r. */
static int header_line(struct slice line, struct http_req *r, struct slice *content_length, bool *chunked)
{
	static const struct {
		const char *name;
		size_t offset;
	} wanted[] = {
	    {"host", offsetof(struct http_req, host)},
	    {"content-type", offsetof(struct http_req, content_type)},
	    {"x-amz-target", offsetof(struct http_req, amz_target)},
	    {"x-amz-date", offsetof(struct http_req, amz_date)},
	    {"authorization", offsetof(struct http_req, authorization)},
	    {"x-amz-security-token", offsetof(struct http_req, token)},
	};
	const char *colon = memchr(line.p, ':', line.n);
	struct slice name, value;

	if (!colon || colon == line.p || line.p[0] == ' ' || line.p[0] == '\t')
		return -EBADMSG; /* no name, or obsolete line folding */
	name = (struct slice){line.p, (size_t)(colon - line.p)};
	value = (struct slice){colon + 1, line.n - name.n - 1};
	while (value.n && (value.p[0] == ' ' || value.p[0] == '\t'))
		value.p++, value.n--;
	while (value.n && (value.p[value.n - 1] == ' ' || value.p[value.n - 1] == '\t'))
		value.n--;
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (name.n == strlen(wanted[i].name) && strncasecmp(name.p, wanted[i].name, name.n) == 0)
			return header_set((struct slice *)((char *)r + wanted[i].offset), value);
	if (name.n == 14 && strncasecmp(name.p, "content-length", 14) == 0)
		return header_set(content_length, value);
	if (name.n == 17 && strncasecmp(name.p, "transfer-encoding", 17) == 0)
		*chunked = true;
	else if (name.n == 10 && strncasecmp(name.p, "connection", 10) == 0 && value.n == 5 &&
		 strncasecmp(value.p, "close", 5) == 0)
		r->close = true;
	return 0;
}

/* Frames one request at the start of buf[0..len).  Returns 1 with *ret
 * filled (slices pointing into buf) when its head and body are all there, 0
 * when more bytes are needed, -EBADMSG for bytes the sink cannot frame as an
 * HTTP/1.x request with a Content-Length body, -EMSGSIZE for one over the
 * limits.  Either error means the connection must close. */
static int http_frame(const char *buf, size_t len, struct http_req *ret)
{
	const char *end = memmem(buf, len < MAX_HEAD_BYTES ? len : MAX_HEAD_BYTES, "\r\n\r\n", 4);
	struct slice head, line, version, content_length = {0};
	struct http_req r = {0};
	bool chunked = false;
	size_t body_len;
	int ret_;

	if (!end)
		return len >= MAX_HEAD_BYTES ? -EMSGSIZE : 0;
	head = (struct slice){buf, (size_t)(end - buf) + 2};
	line = slice_split(&head, '\n');
	if (line.n == 0 || line.p[line.n - 1] != '\r')
		return -EBADMSG;
	line.n--;
	r.method = slice_split(&line, ' ');
	r.target = slice_split(&line, ' ');
	version = line;
	if (slice_is(version, "HTTP/1.0"))
		r.close = true;
	else if (!slice_is(version, "HTTP/1.1"))
		return -EBADMSG;
	while (head.n) {
		line = slice_split(&head, '\n');
		if (line.n == 0 || line.p[line.n - 1] != '\r')
			return -EBADMSG;
		line.n--;
		ret_ = header_line(line, &r, &content_length, &chunked);
		if (ret_ < 0)
			return ret_;
	}
	if (chunked || !content_length.p || content_length.n == 0 || content_length.n > 9 ||
	    !slice_is_digits(content_length))
		return -EBADMSG;
	body_len = strtoul(content_length.p, NULL, 10);
	if (body_len > MAX_BODY_BYTES)
		return -EMSGSIZE;
	r.body = end + 4;
	r.body_len = body_len;
	r.total = (size_t)(r.body - buf) + body_len;
	if (r.total > len)
		return 0;
	*ret = r;
	return 1;
}

/* ---- what KMS would check ----------------------------------------------- */

struct reply {
	int status;
	const char *type;  /* NULL: success */
	char message[256]; /* for an error */
	enum { OP_CANCEL, OP_DESCRIBE } op;
	char key_id[MAX_KEY_ID_BYTES];
};

static int reply_error(struct reply *rep, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int reply_error(struct reply *rep, int status, const char *type, const char *fmt, ...)
{
	va_list ap;

	rep->status = status;
	rep->type = type;
	va_start(ap, fmt);
	vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
	va_end(ap);
	/* It quotes what the client sent: keep the JSON reply well-formed. */
	for (char *p = rep->message; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = '?';
	return -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): timegm() without its locale and time zone work. */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int yoe = (int)(y - era * 400);
	int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static int digits(const char *p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (p[i] - '0');
	return v;
}

/* Parses X-Amz-Date, YYYYMMDDTHHMMSSZ.  -EINVAL if it has another shape. */
static int parse_amz_date(struct slice s, time_t *ret)
{
	struct slice date = {s.p, 8}, time_ = {s.p + 9, 6};
	int mon, day, h, m, sec;

	if (s.n != 16 || s.p[8] != 'T' || s.p[15] != 'Z' || !slice_is_digits(date) || !slice_is_digits(time_))
		return -EINVAL;
	mon = digits(s.p + 4, 2), day = digits(s.p + 6, 2);
	h = digits(s.p + 9, 2), m = digits(s.p + 11, 2), sec = digits(s.p + 13, 2);
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || h > 23 || m > 59 || sec > 60)
		return -EINVAL;
	*ret = (time_t)(days_from_civil(digits(s.p, 4), mon, day) * 86400 + h * 3600 + m * 60 + sec);
	return 0;
}

/* True if the ';'-separated SignedHeaders list names name. */
static bool signed_list_has(struct slice list, const char *name)
{
	while (list.n) {
		if (slice_is(slice_split(&list, ';'), name))
			return true;
	}
	return false;
}

/* Checks Authorization's shape and scope, and X-Amz-Date: everything SigV4
 * asks of the signer except the signature's value. */
static int check_auth(const struct sink *s, const struct http_req *r, struct reply *rep)
{
	static const char algorithm[] = "AWS4-HMAC-SHA256 ";
	struct slice a = r->authorization, credential = {0}, signed_headers = {0}, signature = {0}, part, akid, date8;
	time_t t, now = time(NULL);

	if (!a.p)
		return reply_error(rep, 403, "MissingAuthenticationTokenException", "Missing Authentication Token");
	if (a.n < sizeof(algorithm) - 1 || memcmp(a.p, algorithm, sizeof(algorithm) - 1) != 0)
		goto incomplete;
	a.p += sizeof(algorithm) - 1, a.n -= sizeof(algorithm) - 1;
	while (a.n) {
		part = slice_split(&a, ',');
		while (part.n && part.p[0] == ' ')
			part.p++, part.n--;
		if (part.n > 11 && memcmp(part.p, "Credential=", 11) == 0)
			credential = (struct slice){part.p + 11, part.n - 11};
		else if (part.n > 14 && memcmp(part.p, "SignedHeaders=", 14) == 0)
			signed_headers = (struct slice){part.p + 14, part.n - 14};
		else if (part.n > 10 && memcmp(part.p, "Signature=", 10) == 0)
			signature = (struct slice){part.p + 10, part.n - 10};
		else
			goto incomplete;
	}
	if (!credential.p || !signed_headers.p || signature.n != 64 || !slice_is_hex(signature))
		goto incomplete;
	if (!r->amz_date.p)
		return reply_error(
		    rep, 400, "IncompleteSignatureException",
		    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
	if (parse_amz_date(r->amz_date, &t) < 0)
		return reply_error(rep, 400, "IncompleteSignatureException",
				   "Date must be in ISO-8601 'basic format'. Got '%.*s'.", (int)r->amz_date.n,
				   r->amz_date.p);
	/* Credential=AKID/YYYYMMDD/region/kms/aws4_request, the date X-Amz-Date's. */
	akid = slice_split(&credential, '/');
	date8 = slice_split(&credential, '/');
	if (!slice_is(akid, s->opt.access_key))
		return reply_error(rep, 400, "UnrecognizedClientException",
				   "The security token included in the request is invalid.");
	if (date8.n != 8 || memcmp(date8.p, r->amz_date.p, 8) != 0 || !slice_is(credential, s->scope_tail))
		return reply_error(rep, 400, "InvalidSignatureException",
				   "Credential should be scoped to %.8s/%s, not '%.*s/%.*s'. ", r->amz_date.p,
				   s->scope_tail, (int)date8.n, date8.p, (int)credential.n, credential.p);
	if (t < now - SKEW_LIMIT_SEC || t > now + SKEW_LIMIT_SEC)
		return reply_error(rep, 400, "InvalidSignatureException",
				   "Signature expired or not yet current: %.16s is more than 5 min. from now.",
				   r->amz_date.p);
	if (!signed_list_has(signed_headers, "host") || !signed_list_has(signed_headers, "x-amz-date"))
		return reply_error(rep, 400, "InvalidSignatureException",
				   "'Host' and 'X-Amz-Date' must be 'SignedHeaders' in the AWS Authorization.");
	if (r->token.p && !signed_list_has(signed_headers, "x-amz-security-token"))
		return reply_error(rep, 400, "InvalidSignatureException",
				   "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.");
	return 0;
incomplete:
	return reply_error(rep, 400, "IncompleteSignatureException",
			   "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.");
}

/* True for a KMS key ID: 8-4-4-4-12 hex digits, or mrk- and 32 (multi-Region). */
static bool key_id_valid(struct slice id)
{
	static const size_t groups[] = {8, 4, 4, 4, 12};

	if (id.n == 36 && memcmp(id.p, "mrk-", 4) == 0)
		return slice_is_hex((struct slice){id.p + 4, 32});
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		struct slice part = slice_split(&id, '-');

		if (part.n != groups[g] || !slice_is_hex(part))
			return false;
	}
	return id.n == 0;
}

/* Finds the body's KeyId string: a key ID, or this region's and account's
 * key ARN (reduced to the ID).  Not a JSON parser: the body must be an object
 * ({…}) whose "KeyId" member is a string without escapes, which is what
 * every SDK sends for a key ID. */
static int check_body(const struct sink *s, const struct http_req *r, struct reply *rep)
{
	struct slice b = {r->body, r->body_len}, id;
	const char *at, *end;
	char arn_prefix[128];
	int n;

	while (b.n && strchr(" \t\r\n", b.p[0]))
		b.p++, b.n--;
	while (b.n && strchr(" \t\r\n", b.p[b.n - 1]))
		b.n--;
	if (b.n < 2 || b.p[0] != '{' || b.p[b.n - 1] != '}')
		return reply_error(rep, 400, "SerializationException", "The request body is not a JSON object.");
	at = memmem(b.p, b.n, "\"KeyId\"", 7);
	if (!at)
		return reply_error(rep, 400, "ValidationException",
				   "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: "
				   "Member must not be null");
	at += 7;
	end = b.p + b.n;
	while (at < end && strchr(" \t\r\n", *at))
		at++;
	if (at < end && *at == ':')
		at++;
	while (at < end && strchr(" \t\r\n", *at))
		at++;
	if (at >= end || *at != '"')
		return reply_error(rep, 400, "SerializationException", "KeyId must be a string.");
	id.p = ++at;
	while (at < end && *at != '"' && *at != '\\')
		at++;
	if (at >= end || *at != '"')
		return reply_error(rep, 400, "SerializationException", "KeyId must be a string without escapes.");
	id.n = (size_t)(at - id.p);
	n = snprintf(arn_prefix, sizeof(arn_prefix), "arn:aws:kms:%s:%s:key/", s->opt.region, s->opt.account);
	if (id.n > (size_t)n && memcmp(id.p, arn_prefix, (size_t)n) == 0)
		id.p += n, id.n -= (size_t)n;
	if (!key_id_valid(id))
		return reply_error(rep, 400, "NotFoundException", "Invalid keyId '%.*s'",
				   (int)(id.n < 100 ? id.n : 100), id.p);
	memcpy(rep->key_id, id.p, id.n);
	rep->key_id[id.n] = '\0';
	return 0;
}

/* Decides the reply to one framed request: *rep says what to answer. */
static void check_request(const struct sink *s, const struct http_req *r, struct reply *rep)
{
	struct slice op = r->amz_target;

	rep->status = 200;
	rep->type = NULL;
	if (!slice_is(r->method, "POST") || !slice_is(r->target, "/")) {
		reply_error(rep, 404, "UnknownOperationException", "KMS only answers POST /");
		return;
	}
	if (!slice_is(r->content_type, KMS_CONTENT_TYPE)) {
		reply_error(rep, 400, "SerializationException", "Content-Type must be %s, got '%.*s'", KMS_CONTENT_TYPE,
			    (int)(r->content_type.n < 100 ? r->content_type.n : 100),
			    r->content_type.p ? r->content_type.p : "");
		return;
	}
	if (check_auth(s, r, rep) < 0)
		return;
	/* The signature covers Host: a client that sends another host signed
	 * another request than the one the sink received. */
	if (!slice_is(r->host, s->host)) {
		reply_error(rep, 400, "InvalidSignatureException", "Host must be %s, got '%.*s'", s->host,
			    (int)(r->host.n < 100 ? r->host.n : 100), r->host.p ? r->host.p : "");
		return;
	}
	if (op.n > strlen(TARGET_PREFIX) && memcmp(op.p, TARGET_PREFIX, strlen(TARGET_PREFIX)) == 0) {
		op.p += strlen(TARGET_PREFIX);
		op.n -= strlen(TARGET_PREFIX);
	} else {
		op.n = 0;
	}
	if (slice_is(op, "CancelKeyDeletion")) {
		rep->op = OP_CANCEL;
	} else if (slice_is(op, "DescribeKey")) {
		rep->op = OP_DESCRIBE;
	} else {
		reply_error(rep, 400, "UnknownOperationException", "%s", "");
		return;
	}
	check_body(s, r, rep);
}

/* ---- replies ------------------------------------------------------------ */

/* A fresh x-amzn-RequestId: UUID-shaped, a random prefix per process and a
 * counter (random bytes per request would cost more than the rest). */
static const char *next_request_id(struct sink *s)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t v = ++s->request_seq;

	for (int i = 35; i >= 24; i--, v >>= 4)
		s->request_id[i] = hex[v & 15];
	return s->request_id;
}

static const char *http_date(struct sink *s)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != s->date_for) {
		gmtime_r(&now, &tm);
		strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		s->date_for = now;
	}
	return s->date;
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	default:
		return "Bad Request";
	}
}

static char *put(char *w, const char *s, size_t n)
{
	memcpy(w, s, n);
	return w + n;
}

#define put_lit(w, lit) put(w, lit, sizeof(lit) - 1)
#define put_str(w, s)   put(w, s, strlen(s))

static char *put_decimal(char *w, unsigned v)
{
	char tmp[16];
	size_t n = 0;

	do
		tmp[sizeof(tmp) - ++n] = (char)('0' + v % 10);
	while ((v /= 10) && n < sizeof(tmp));
	return put(w, tmp + sizeof(tmp) - n, n);
}

/* The reply's JSON body into buf; its length, or -ENOSPC.  The common case,
 * a cancel's success, without printf: the sink's cost is the point. */
static int reply_body(const struct sink *s, const struct reply *rep, char *buf, size_t size)
{
	int n;

	if (!rep->type && rep->op == OP_CANCEL) {
		size_t prefix = strlen(s->cancel_body), id = strlen(rep->key_id);
		char *w = buf;

		if (prefix + id + 2 >= size)
			return -ENOSPC;
		w = put(w, s->cancel_body, prefix);
		w = put(w, rep->key_id, id);
		w = put_lit(w, "\"}");
		return (int)(w - buf);
	}
	if (rep->type)
		n = snprintf(buf, size, "{\"__type\":\"%s\",\"message\":\"%s\"}", rep->type, rep->message);
	else
		/* A customer managed symmetric key, pending deletion (AWS.md §1.2). */
		n = snprintf(buf, size,
			     "{\"KeyMetadata\":{\"AWSAccountId\":\"%s\",\"KeyId\":\"%s\","
			     "\"Arn\":\"arn:aws:kms:%s:%s:key/%s\",\"CreationDate\":1.7e9,\"Enabled\":false,"
			     "\"Description\":\"\",\"KeyUsage\":\"ENCRYPT_DECRYPT\",\"KeyState\":\"PendingDeletion\","
			     "\"DeletionDate\":2.0e9,\"Origin\":\"AWS_KMS\",\"KeyManager\":\"CUSTOMER\","
			     "\"CustomerMasterKeySpec\":\"SYMMETRIC_DEFAULT\",\"KeySpec\":\"SYMMETRIC_DEFAULT\","
			     "\"EncryptionAlgorithms\":[\"SYMMETRIC_DEFAULT\"],\"MultiRegion\":false}}",
			     s->opt.account, rep->key_id, s->opt.region, s->opt.account, rep->key_id);
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

/* Appends the whole reply (head and body) to c->out, which has room for
 * MAX_REPLY_BYTES: a body of at most half that and a head of a few hundred
 * bytes.  Counts it. */
static void reply_append(struct sink *s, struct conn *c, const struct reply *rep, bool close)
{
	char body[MAX_REPLY_BYTES / 2];
	int body_len = reply_body(s, rep, body, sizeof(body));
	char *w = c->out + c->out_len;

	if (body_len < 0)
		body_len = 0;
	w = put_lit(w, "HTTP/1.1 ");
	w = put_decimal(w, (unsigned)rep->status);
	w = put_lit(w, " ");
	w = put_str(w, reason_phrase(rep->status));
	w = put_lit(w, "\r\nx-amzn-RequestId: ");
	w = put(w, next_request_id(s), 36);
	w = put_lit(w, "\r\nContent-Type: " KMS_CONTENT_TYPE "\r\nContent-Length: ");
	w = put_decimal(w, (unsigned)body_len);
	w = put_lit(w, "\r\nDate: ");
	w = put_str(w, http_date(s));
	w = put_lit(w, "\r\n");
	if (close)
		w = put_lit(w, "Connection: close\r\n");
	w = put_lit(w, "\r\n");
	w = put(w, body, (size_t)body_len);
	c->out_len = (size_t)(w - c->out);
	if (rep->type) {
		if (s->stats.errors++ < MAX_LOGGED_ERRORS)
			sink_log(s, "answered %d %s: %s", rep->status, rep->type, rep->message);
	} else {
		s->stats.ok++;
		if (rep->op == OP_CANCEL)
			s->stats.cancel++;
		else
			s->stats.describe++;
	}
}

/* ---- connections -------------------------------------------------------- */

static struct conn *conn_free(struct sink *s, struct conn *c)
{
	if (!c)
		return NULL;
	LIST_REMOVE(c, entry);
	/* OpenSSL drops a session from the cache when its connection ends
	 * without close_notify; a client that just closes its socket (as
	 * pools do) must still be able to resume.  The sink's own close
	 * sends close_notify. */
	if (c->state == CONN_CLOSING)
		(void)SSL_shutdown(c->ssl);
	if (c->state != CONN_HANDSHAKE)
		SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->ssl);
	ERR_clear_error(); /* a failed connection's errors must not colour the next one's */
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
	s->n_conns--;
	if (s->accept_paused) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_tag};

		if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->listen_fd, &ev) == 0)
			s->accept_paused = false;
	}
	return NULL;
}

static int conn_watch(struct sink *s, struct conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};

	if (c->events == events)
		return 0;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return -errno;
	c->events = events;
	return 0;
}

/* After an SSL call returned ret: watches for what OpenSSL waits for and
 * returns 0, or -EIO if the connection is over (closed by the peer, or
 * failed). */
static int conn_wait(struct sink *s, struct conn *c, int ret)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return conn_watch(s, c, EPOLLIN);
	case SSL_ERROR_WANT_WRITE:
		return conn_watch(s, c, EPOLLOUT);
	default:
		return -EIO;
	}
}

/* Writes what c->out holds.  1 once it is all written, 0 while waiting for
 * the socket, -EIO on failure. */
static int conn_flush(struct sink *s, struct conn *c)
{
	while (c->out_off < c->out_len) {
		int n = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));

		if (n <= 0)
			return conn_wait(s, c, n);
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return 1;
}

/* Answers the complete requests in c->in while c->out has room for another
 * reply; keeps the bytes of an incomplete one.  A request it cannot frame
 * is answered and ends the connection (CONN_CLOSING). */
static void conn_serve(struct sink *s, struct conn *c)
{
	size_t used = 0;

	while (c->state == CONN_OPEN && sizeof(c->out) - c->out_len >= MAX_REPLY_BYTES) {
		struct http_req r;
		struct reply rep = {0};
		int k = http_frame(c->in + used, c->in_len - used, &r);

		if (k == 0)
			break;
		s->stats.requests++;
		if (k < 0) {
			s->stats.unframed++;
			reply_error(&rep, 400, "SerializationException", "%s",
				    k == -EMSGSIZE ? "The request is larger than KMS takes."
						   : "The request is not HTTP/1.1 with a Content-Length body.");
			reply_append(s, c, &rep, true);
			conn_set_state(s, c, CONN_CLOSING);
			used = c->in_len;
			break;
		}
		check_request(s, &r, &rep);
		reply_append(s, c, &rep, r.close);
		used += r.total;
		if (r.close)
			conn_set_state(s, c, CONN_CLOSING);
	}
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
}

/* Moves the connection on as far as it can without blocking: the TLS
 * handshake, then rounds of write, answer, read.  Returns 0, or a negative
 * errno once the connection is to be freed. */
static int conn_run(struct sink *s, struct conn *c)
{
	bool wrote = false;
	int r;

	if (c->state == CONN_HANDSHAKE) {
		r = SSL_do_handshake(c->ssl);
		if (r != 1)
			return conn_wait(s, c, r);
		s->stats.handshakes++;
		if (SSL_session_reused(c->ssl))
			s->stats.resumed++;
		conn_set_state(s, c, CONN_OPEN);
	}
	for (;;) {
		if (c->out_len) {
			r = conn_flush(s, c);
			if (r <= 0)
				return r;
			wrote = true;
		}
		if (c->state == CONN_CLOSING)
			return -ECONNRESET;
		conn_serve(s, c);
		if (c->out_len)
			continue;
		/* Having answered, the next request is most likely not there
		 * yet: wait for epoll rather than try a read that fails. */
		if (wrote && !SSL_has_pending(c->ssl))
			return conn_watch(s, c, EPOLLIN);
		r = SSL_read(c->ssl, c->in + c->in_len, (int)(sizeof(c->in) - c->in_len));
		if (r <= 0)
			return conn_wait(s, c, r);
		c->in_len += (size_t)r;
	}
}

/* Takes one accepted socket: TLS over it, from loopback peers only. */
static int conn_new(struct sink *s, int fd, const struct sockaddr_in *peer)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct conn *c;
	int one = 1;

	if (peer->sin_family != AF_INET || (ntohl(peer->sin_addr.s_addr) >> 24) != 127 || s->n_conns >= MAX_CONNECTIONS)
		return -EPERM;
	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = fd;
	c->state = CONN_HANDSHAKE;
	c->events = EPOLLIN;
	c->in_len = c->out_off = c->out_len = 0;
	c->ssl = SSL_new(s->ctx);
	ev.data.ptr = c;
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		SSL_free(c->ssl);
		free(c);
		return -ENOMEM;
	}
	SSL_set_accept_state(c->ssl);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	LIST_INSERT_HEAD(&s->conns, c, entry);
	s->n_conns++;
	return 0;
}

/* Accepts every pending connection.  Out of descriptors, it stops watching
 * the listening socket until a connection closes, rather than spin. */
static void accept_all(struct sink *s)
{
	for (;;) {
		struct sockaddr_in peer = {0};
		socklen_t len = sizeof(peer);
		int fd = accept4(s->listen_fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && s->n_conns > 0 &&
			    epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->listen_fd, &(struct epoll_event){.events = 0}) == 0)
				s->accept_paused = true;
			return;
		}
		s->stats.connections++;
		if (conn_new(s, fd, &peer) < 0) {
			s->stats.refused++;
			close(fd);
		}
	}
}

/* ---- counters, signals, set-up -------------------------------------------- */

static void stats_format(const struct sink *s, FILE *f)
{
	const struct stats *t = &s->stats;

	fprintf(f,
		"requests=%" PRIu64 " ok=%" PRIu64 " errors=%" PRIu64 " unframed=%" PRIu64 " cancel=%" PRIu64
		" describe=%" PRIu64 " connections=%" PRIu64 " refused=%" PRIu64 " handshakes=%" PRIu64
		" resumed=%" PRIu64 " open=%u\n",
		t->requests, t->ok, t->errors, t->unframed, t->cancel, t->describe, t->connections, t->refused,
		t->handshakes, t->resumed, s->n_conns);
}

/* Writes the counters to --stats-file, whole or not at all. */
static int stats_write(const struct sink *s)
{
	char tmp[4096];
	FILE *f;
	int r = 0;

	if (!s->opt.stats_file)
		return 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", s->opt.stats_file) >= sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	stats_format(s, f);
	if (fclose(f) != 0 || rename(tmp, s->opt.stats_file) < 0)
		r = -errno;
	return r;
}

static void signal_read(struct sink *s)
{
	struct signalfd_siginfo si;

	while (read(s->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1)
			stats_write(s);
		else
			s->quit = true;
	}
}

static SSL_CTX *tls_server_ctx(const struct options *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    (streq(o->tls_max, "1.2") && SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1) ||
	    SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_print_errors_fp(stderr);
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Resumption by session ID (TLS 1.2) needs a context; tickets (1.2
	 * and 1.3) are on by default.  The daemon's pool resumes. */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"kms-sink", 8);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	/* A record in one read(), not a header and then a body in two. */
	SSL_CTX_set_read_ahead(ctx, 1);
	return ctx;
}

/* Binds 127.0.0.1:port (0: any free one) and writes the port to the port
 * file by write-to-temp + rename: once the file exists, the sink accepts. */
static int listen_loopback(struct sink *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->opt.port)};
	socklen_t len = sizeof(sa);
	char tmp[4096];
	int one = 1;
	FILE *f;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0 || setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s->listen_fd, LISTEN_BACKLOG) < 0 ||
	    getsockname(s->listen_fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	snprintf(s->host, sizeof(s->host), "127.0.0.1:%u", ntohs(sa.sin_port));
	snprintf(s->scope_tail, sizeof(s->scope_tail), "%s/kms/aws4_request", s->opt.region);
	snprintf(s->cancel_body, sizeof(s->cancel_body), "{\"KeyId\":\"arn:aws:kms:%s:%s:key/", s->opt.region,
		 s->opt.account);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", s->opt.port_file) >= sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%u\n", ntohs(sa.sin_port));
	if (fclose(f) != 0 || rename(tmp, s->opt.port_file) < 0)
		return -errno;
	return 0;
}

/* The epoll set: the listening socket and a signalfd for SIGUSR1 (counters),
 * SIGTERM and SIGINT (exit).  SIGPIPE is ignored: a peer gone mid-write is
 * an error return, not a death. */
static int loop_setup(struct sink *s)
{
	struct epoll_event ev = {.events = EPOLLIN};
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->signal_fd < 0 || s->epfd < 0)
		return -errno;
	ev.data.ptr = &signal_tag;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->signal_fd, &ev) < 0)
		return -errno;
	ev.data.ptr = &listen_tag;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0)
		return -errno;
	return 0;
}

static void loop_run(struct sink *s)
{
	struct epoll_event evs[MAX_EVENTS];

	while (!s->quit) {
		int n = epoll_wait(s->epfd, evs, MAX_EVENTS, -1);

		if (n < 0 && errno != EINTR) {
			sink_log(s, "epoll_wait: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &listen_tag)
				accept_all(s);
			else if (p == &signal_tag)
				signal_read(s);
			else if (conn_run(s, p) < 0)
				conn_free(s, p);
		}
	}
}

static void usage(FILE *f)
{
	fputs("usage: kms-sink --cert FILE --key FILE --port-file FILE [--port N] [--stats-file FILE]\n"
	      "                [--access-key AKID] [--region REGION] [--account ACCOUNT] [--tls-max 1.2|1.3]\n"
	      "                [--verbose]\n",
	      f);
}

/* Options into s->opt; -EINVAL (after a message) when they do not make a sink. */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {"port", required_argument, NULL, 'p'},
	    {"port-file", required_argument, NULL, 'P'},
	    {"stats-file", required_argument, NULL, 's'},
	    {"access-key", required_argument, NULL, 'a'},
	    {"region", required_argument, NULL, 'r'},
	    {"account", required_argument, NULL, 'A'},
	    {"tls-max", required_argument, NULL, 't'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->cert_file = optarg;
			break;
		case 'k':
			o->key_file = optarg;
			break;
		case 'p':
			o->port = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o->port > 65535)
				goto bad;
			break;
		case 'P':
			o->port_file = optarg;
			break;
		case 's':
			o->stats_file = optarg;
			break;
		case 'a':
			o->access_key = optarg;
			break;
		case 'r':
			o->region = optarg;
			break;
		case 'A':
			o->account = optarg;
			break;
		case 't':
			o->tls_max = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			goto bad;
		}
	}
	/* Bounded so that every scope and ARN fits its buffer. */
	if (optind != argc || !o->cert_file || !o->key_file || !o->port_file || strlen(o->access_key) > 64 ||
	    strlen(o->region) > 32 || strlen(o->account) != 12 || !slice_is_digits((struct slice){o->account, 12}) ||
	    (!streq(o->tls_max, "1.2") && !streq(o->tls_max, "1.3")))
		goto bad;
	return 0;
bad:
	usage(stderr);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct sink s = {
	    .opt = {.access_key = "AKIDEXAMPLE", .region = "us-east-1", .account = "111122223333", .tls_max = "1.3"},
	    .epfd = -1,
	    .listen_fd = -1,
	    .signal_fd = -1,
	};
	uint32_t rnd[4];
	int r;

	if (parse_options(argc, argv, &s.opt) < 0)
		return 2;
	LIST_INIT(&s.conns);
	if (RAND_bytes((unsigned char *)rnd, sizeof(rnd)) != 1)
		return 1;
	snprintf(s.request_id, sizeof(s.request_id), "%08x-%04x-4%03x-a%03x-", rnd[0], rnd[1] & 0xffff, rnd[2] & 0xfff,
		 rnd[3] & 0xfff);
	s.ctx = tls_server_ctx(&s.opt);
	if (!s.ctx)
		return 1;
	r = listen_loopback(&s);
	if (r >= 0)
		r = loop_setup(&s);
	if (r < 0) {
		sink_log(&s, "cannot listen: %s", strerror(-r));
	} else {
		loop_run(&s);
		stats_write(&s);
		fputs("kms-sink: ", stderr);
		stats_format(&s, stderr);
	}
	while (!LIST_EMPTY(&s.conns))
		conn_free(&s, LIST_FIRST(&s.conns));
	SSL_CTX_free(s.ctx);
	if (s.epfd >= 0)
		close(s.epfd);
	if (s.signal_fd >= 0)
		close(s.signal_fd);
	if (s.listen_fd >= 0)
		close(s.listen_fd);
	return r < 0 ? 1 : 0;
}
