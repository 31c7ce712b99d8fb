/* SPDX-License-Identifier: MIT */
/*
 * fake-kms: the AWS KMS that every integration test talks to.
 *
 * A real HTTPS server (libevent's evhttp behind OpenSSL) that speaks KMS's
 * awsJson1_1 protocol as described in reference/AWS.md §1, verifies SigV4 on
 * every request with the project's own signer (daemon/sigv4.c), keeps key
 * state (§4), and answers CancelKeyDeletion, DescribeKey, EnableKey, ListKeys
 * and ListAliases with
 * the bodies, headers and errors real KMS sends.  A second, plain-HTTP
 * loopback port carries the admin API the tests use to set keys, inject
 * faults (errors, delays, dropped connections, garbage, truncated, reset,
 * endless, hung and arbitrary responses), shift the fake's
 * clock and read counters.  See tests/fakes/README.md for the interface.
 *
 * One thread, one event loop.  Every call is a struct call that lives from
 * the request callback until its reply is handed to evhttp, possibly after
 * an injected delay; calls waiting on a timer sit on fake.pending so that a
 * shutdown can still answer (and free) them.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
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
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "monotime.h"
#include "sigv4.h"
#include "timeutil.h"

/* Limits on what a client (the daemon under test, or a test script) controls. */
#define MAX_BODY_SIZE     (64 * 1024) /* KMS request bodies are tiny; evhttp answers 413 beyond */
#define MAX_HEADERS_SIZE  (16 * 1024)
#define MAX_KEYS          16384 /* ListPendingDeletions scans thousands per account */
#define MAX_ADMIN_BODY    (4 * 1024 * 1024) /* POST /keys: thousands of keys at once */
#define MAX_FAULTS        256
#define MAX_DELAY_MS      (10 * 60 * 1000)
#define MAX_RESPOND_BYTES (64 * 1024 * 1024) /* POST /respond: body after repeat */
#define MAX_TRICKLE_MS    60000
/* How often a raw reply (truncate, endless) checks whether its bytes are out
 * or the client went away. */
#define RAW_TICK_MS 10
#define MAX_KEY_ID_LEN    2048 /* KeyIdType, AWS.md §2 */
#define REQUEST_LOG_SIZE  256  /* GET /requests returns at most this many */
#define SKEW_LIMIT_SEC    (5 * 60)
#define DELETION_WAIT_SEC (7 * 24 * 3600)

#define JSON_FLAGS       (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define KMS_CONTENT_TYPE "application/x-amz-json-1.1"
#define TARGET_PREFIX    "TrentService."
#define GARBAGE_LINE     "\x15\x03\x03 this is not HTTP: fake-kms garbage fault\r\n"

#define streq(a, b) (strcmp((a), (b)) == 0)

/* ---- key states ---------------------------------------------------------- */

enum key_state {
	KS_CREATING,
	KS_ENABLED,
	KS_DISABLED,
	KS_PENDING_DELETION,
	KS_PENDING_IMPORT,
	KS_PENDING_REPLICA_DELETION,
	KS_UNAVAILABLE,
	KS_UPDATING,
	_KS_MAX,
};

/* clang-format off */
static const char *const key_state_names[_KS_MAX] = {
	[KS_CREATING] = "Creating",
	[KS_ENABLED] = "Enabled",
	[KS_DISABLED] = "Disabled",
	[KS_PENDING_DELETION] = "PendingDeletion",
	[KS_PENDING_IMPORT] = "PendingImport",
	[KS_PENDING_REPLICA_DELETION] = "PendingReplicaDeletion",
	[KS_UNAVAILABLE] = "Unavailable",
	[KS_UPDATING] = "Updating",
};
/* clang-format on */

/* How EnableKey's KMSInvalidStateException words each refusing state. */
/* clang-format off */
static const char *const key_state_phrases[_KS_MAX] = {
	[KS_CREATING] = "being created",
	[KS_PENDING_DELETION] = "pending deletion",
	[KS_PENDING_IMPORT] = "pending import",
	[KS_PENDING_REPLICA_DELETION] = "pending replica deletion",
	[KS_UPDATING] = "being updated",
};
/* clang-format on */

static int key_state_from_string(const char *s)
{
	for (int i = 0; i < _KS_MAX; i++)
		if (streq(s, key_state_names[i]))
			return i;
	return -1;
}

struct key {
	char *id; /* key ID or mrk- ID, as created */
	char account[13]; /* the owning account */
	enum key_state state;
	/* The state before the last CancelKeyDeletion, shown to DescribeKey and
	 * EnableKey while the admin's "lag" lasts (eventual consistency, §4). */
	enum key_state stale_state;
	bool stale;
	int64_t creation_ms;
	int64_t deletion_ms; /* meaningful while (stale_)state is PendingDeletion */
	char *description;
	char *alias; /* "alias/NAME" (admin PUT "Alias"), or NULL: DescribeKey finds the key by it */
};

/* ---- operations ---------------------------------------------------------- */

enum op {
	OP_CANCEL_KEY_DELETION,
	OP_DESCRIBE_KEY,
	OP_ENABLE_KEY,
	OP_LIST_KEYS,
	OP_LIST_ALIASES,
	OP_UNKNOWN,
	OP_STS, /* a call on the STS port */
	_OP_MAX,
};

/* clang-format off */
static const char *const op_names[_OP_MAX] = {
	[OP_CANCEL_KEY_DELETION] = "CancelKeyDeletion",
	[OP_DESCRIBE_KEY] = "DescribeKey",
	[OP_ENABLE_KEY] = "EnableKey",
	[OP_LIST_KEYS] = "ListKeys",
	[OP_LIST_ALIASES] = "ListAliases",
	[OP_UNKNOWN] = "Unknown",
	[OP_STS] = "STS",
};
/* clang-format on */

static int op_from_string(const char *s)
{
	for (int i = 0; i < _OP_MAX; i++)
		if (streq(s, op_names[i]))
			return i;
	return -1;
}

/* ---- faults -------------------------------------------------------------- */

enum fault_kind {
	FAULT_FAIL,    /* answer with an AWS error */
	FAULT_DELAY,   /* hold the reply for delay_ms */
	FAULT_DROP,    /* close the connection without a reply */
	FAULT_GARBAGE, /* answer with a line that is not HTTP, then close */
	FAULT_TRUNCATE, /* half of the response, then close (or reset) */
	FAULT_ENDLESS, /* a chunked response that never ends */
	FAULT_RESPOND, /* any status and body, e.g. invalid JSON with a 200 */
	FAULT_HANG,    /* never answer: hold the connection until the client closes it */
	_FAULT_MAX,
};

/* clang-format off */
static const char *const fault_kind_names[_FAULT_MAX] = {
	[FAULT_FAIL] = "fail",
	[FAULT_DELAY] = "delay",
	[FAULT_DROP] = "drop",
	[FAULT_GARBAGE] = "garbage",
	[FAULT_TRUNCATE] = "truncate",
	[FAULT_ENDLESS] = "endless",
	[FAULT_RESPOND] = "respond",
	[FAULT_HANG] = "hang",
};
/* clang-format on */

/* A rule from the admin API.  Rules are consumed in the order they were
 * added: each call takes one count from the first matching delay rule and
 * from the first matching fail/drop/garbage rule. */
struct fault {
	enum fault_kind kind;
	int op;        /* -1 = any operation */
	long count;    /* calls left */
	bool process;  /* run the operation before answering with the fault */
	int status;    /* FAULT_FAIL */
	char *error;   /* FAULT_FAIL: __type */
	char *message; /* FAULT_FAIL */
	long delay_ms; /* FAULT_DELAY */
	bool reset;    /* FAULT_TRUNCATE: end with a TCP reset, not a close */
	long trickle_ms; /* FAULT_ENDLESS: a body byte this often; 0: silence */
	char *body;      /* FAULT_RESPOND: body_len bytes (repeated), status */
	size_t body_len;
	TAILQ_ENTRY(fault) entry;
};

/* ---- the server ---------------------------------------------------------- */

struct options {
	const char *cert_file;
	const char *key_file;
	const char *listen;
	int port;
	const char *port_file;
	const char *admin_port_file;
	const char *access_key_id;
	const char *secret;
	const char *session_token;
	const char *region;
	const char *account;
	const char *keys_file;
	const char *sts_port_file;
	const char *external_id; /* AssumeRole must carry it, NULL: none asked */
	const char *web_token;   /* AssumeRoleWithWebIdentity takes this token only; NULL: none */
	int sts_duration;        /* seconds issued credentials live, 0: DurationSeconds or 3600 */
	struct principal *extra; /* --account-creds */
	size_t n_extra;
	const char *tls_max;
	int idle_timeout;
	bool plain_http;
	bool verbose;
	bool no_verify_signature; /* benchmark only: skip the signature itself */
	bool sticky_pending;      /* benchmark only: cancels leave keys PendingDeletion */
};

struct creds {
	char *access_key_id;
	char *secret;
	char *session_token; /* NULL: long-term credentials */
};

/* Credentials of an account other than the primary one (--account-creds),
 * or issued by the fake STS (AssumeRole), which expire. */
struct principal {
	char account[13];
	struct creds creds;
	time_t expires;  /* 0: never */
	char *role_arn;  /* issued for this role, or NULL */
};
#define MAX_PRINCIPALS 4096

struct stats {
	uint64_t connections;
	uint64_t tls_handshakes;
	uint64_t tls_resumed;
	uint64_t requests;
	uint64_t ops[_OP_MAX];
	uint64_t auth_failures;      /* every request refused by authentication */
	uint64_t signature_failures; /* … of which InvalidSignatureException */
	uint64_t faults[_FAULT_MAX];
	uint64_t throttled;         /* calls refused by a POST /quota rate */
	uint64_t hangs_closed;      /* hung calls whose connection the client closed */
	uint64_t wrong_account;     /* an ARN of another account than the signer's */
	uint64_t sts_calls, sts_assume_role, sts_get_caller_identity, sts_failures;
	uint64_t sts_assume_role_web;
	uint64_t sts_connections, sts_tls_handshakes; /* STS's own, not in the KMS counts */
	struct json_object *errors; /* {"<__type>": count} of error replies */
};

/* A request quota per operation (POST /quota), as KMS enforces per account
 * and Region: a token bucket holding one second's worth of requests. */
struct quota {
	long rps; /* 0: no quota */
	double tokens;
	int64_t refilled_us; /* CLOCK_MONOTONIC */
};

enum reply_mode {
	REPLY_NORMAL,
	REPLY_DROP,
	REPLY_GARBAGE,
	REPLY_TRUNCATE, /* raw: head and half the body, then close or reset */
	REPLY_ENDLESS,  /* raw: head of a chunked body that never ends */
	REPLY_HANG,     /* raw: nothing at all, until the client closes */
};

struct call;
struct sts_fault;
struct sts_reply;

/* The live connections that sent at least one request, so /requests can
 * tell which calls shared a connection. */
struct conn {
	struct evhttp_connection *evcon;
	uint64_t id;
	uint64_t requests;
	LIST_ENTRY(conn) entry;
};

struct fake {
	struct options opt;
	struct event_base *base;
	struct evhttp *kms_http;
	struct evhttp *admin_http;
	SSL_CTX *ssl_ctx;
	struct event *sigterm, *sigint;

	struct creds creds;  /* the primary account's (--account) */
	char *expired_token; /* the session token replaced by PUT /credentials */
	struct principal *principals; /* other accounts' credentials, issued ones too */
	size_t n_principals;
	uint64_t issued;           /* AssumeRole answers so far */
	char *sts_next_secret;     /* PUT /sts/credentials: the next AssumeRole's, or NULL */
	char *sts_next_token;
	struct evhttp *sts_http;
	TAILQ_HEAD(, sts_fault) sts_faults;
	TAILQ_HEAD(, sts_reply) sts_pending;
	char *partition;

	struct key **keys;
	size_t n_keys;

	TAILQ_HEAD(, fault) faults;
	size_t n_faults;
	TAILQ_HEAD(, call) pending; /* calls whose reply waits on a delay timer */
	TAILQ_HEAD(, call) raw;     /* calls answered by hand (truncate, endless) */
	LIST_HEAD(, conn) conns;
	uint64_t next_conn_id;

	struct stats stats;
	struct json_object *log[REQUEST_LOG_SIZE];
	uint64_t n_logged;

	long clock_offset; /* seconds added to the real clock (POST /clock) */
	long lag_count;    /* DescribeKey/EnableKey calls left that see stale state */
	struct quota quotas[_OP_MAX];
	SSL_CTX *sts_ssl_ctx;
	struct json_object *sts_log[REQUEST_LOG_SIZE];
	uint64_t n_sts_logged;
};

/* One KMS request, from arrival until its reply is handed to evhttp. */
struct call {
	struct fake *f;
	struct evhttp_request *req;
	enum op op;
	const struct creds *cr; /* the signer's credentials, once recognised */
	const char *account;    /* … and their account */
	struct json_object *record; /* the /requests entry; one reference is ours */
	int status;
	struct json_object *body; /* reply body; NULL = empty */
	enum reply_mode mode;
	long delay_ms;
	struct event *timer;
	char *raw_body; /* FAULT_RESPOND: sent instead of body */
	size_t raw_body_len;
	bool reset;      /* REPLY_TRUNCATE */
	long trickle_ms; /* REPLY_ENDLESS */
	int64_t next_trickle_ms;
	TAILQ_ENTRY(call) entry;
};

static void logv(const struct fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logv(const struct fake *f, const char *fmt, ...)
{
	va_list ap;

	if (!f->opt.verbose)
		return;
	va_start(ap, fmt);
	fputs("fake-kms: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void free_secret(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* ---- small helpers ------------------------------------------------------- */

static time_t fake_now(const struct fake *f)
{
	return time(NULL) + f->clock_offset;
}

static int64_t fake_now_ms(const struct fake *f)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return ((int64_t)tv.tv_sec + f->clock_offset) * 1000 + tv.tv_usec / 1000;
}

static void format_http_date(time_t t, char ret[64])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(ret, 64, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Parses "YYYYMMDDTHHMMSSZ"; returns 0 or -EINVAL. */
static int parse_amz_date(const char *s, time_t *ret)
{
	struct tm tm = {0};
	const char *end;

	if (strlen(s) != SIGV4_AMZ_DATE_SIZE - 1)
		return -EINVAL;
	end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
	if (!end || *end)
		return -EINVAL;
	*ret = timegm(&tm);
	return 0;
}

/* A fresh random (version 4) UUID, as KMS uses for x-amzn-RequestId. */
static void make_uuid(char ret[37])
{
	uint8_t b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		abort(); /* a test fake without randomness has nothing sensible to do */
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(ret, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Epoch milliseconds as KMS writes timestamps: a JSON number in Java's
 * exponent notation, e.g. 1507184161473 → 1.507184161473E9.  Real clients
 * must parse that form, so the fake sends nothing else. */
static struct json_object *json_epoch(int64_t ms)
{
	char digits[32], text[48];
	size_t n, end;
	int exp;

	if (ms < 1000)
		ms = 1000; /* keeps the mantissa arithmetic below simple */
	n = (size_t)snprintf(digits, sizeof(digits), "%" PRId64, ms);
	exp = (int)n - 1 - 3;
	for (end = n; end > 1 && digits[end - 1] == '0'; end--)
		;
	if (end == 1)
		snprintf(text, sizeof(text), "%c.0E%d", digits[0], exp);
	else
		snprintf(text, sizeof(text), "%c.%.*sE%d", digits[0], (int)(end - 1), digits + 1, exp);
	return json_object_new_double_s((double)ms / 1000.0, text);
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
			return false;
	return true;
}

/* A key ID (8-4-4-4-12 hex) or a multi-Region key ID ("mrk-" + 32 hex). */
static bool key_id_valid(const char *s)
{
	static const int groups[] = {8, 4, 4, 4, 12};

	if (strncmp(s, "mrk-", 4) == 0)
		return strlen(s) == 36 && is_hex(s + 4, 32);
	if (strlen(s) != 36)
		return false;
	for (size_t i = 0, pos = 0; i < 5; pos += groups[i] + 1, i++) {
		if (!is_hex(s + pos, groups[i]))
			return false;
		if (i < 4 && s[pos + groups[i]] != '-')
			return false;
	}
	return true;
}

static bool key_is_multi_region(const struct key *k)
{
	return strncmp(k->id, "mrk-", 4) == 0;
}

/* The partition a Region belongs to, for the ARNs the fake hands out. */
static const char *region_partition(const char *region)
{
	if (strncmp(region, "cn-", 3) == 0)
		return "aws-cn";
	if (strncmp(region, "us-gov-", 7) == 0)
		return "aws-us-gov";
	return "aws";
}

/* Returns a malloc'ed ARN for a key ID in the fake's Region and account. */
static char *key_arn_in(const struct fake *f, const char *account, const char *key_id)
{
	char *arn;

	if (asprintf(&arn, "arn:%s:kms:%s:%s:key/%s", f->partition, f->opt.region, account, key_id) < 0)
		return NULL;
	return arn;
}

#define key_arn(f, id) key_arn_in((f), (f)->opt.account, (id))
#define arn_of(f, k)   key_arn_in((f), (k)->account, (k)->id)

/* ---- JSON helpers -------------------------------------------------------- */

static void json_add_string(struct json_object *o, const char *name, const char *value)
{
	json_object_object_add(o, name, value ? json_object_new_string(value) : NULL);
}

/* Optional member: absent → *ret keeps its default; present but wrong type
 * or out of range → -EINVAL. */
static int json_get_int(struct json_object *o, const char *name, int64_t min, int64_t max, int64_t *ret)
{
	struct json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	x = json_object_get_int64(v);
	if (x < min || x > max)
		return -EINVAL;
	*ret = x;
	return 0;
}

static int json_get_string(struct json_object *o, const char *name, const char **ret)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	*ret = json_object_get_string(v);
	return 0;
}

static int json_get_bool(struct json_object *o, const char *name, bool *ret)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return -EINVAL;
	*ret = json_object_get_boolean(v);
	return 0;
}

/* Parses exactly one JSON value from buf[0..len) (trailing whitespace
 * allowed).  Returns a new reference or NULL. */
static struct json_object *json_parse(const char *buf, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL;
	size_t end;

	if (!tok || len > INT32_MAX)
		goto out;
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success)
		goto fail;
	for (end = json_tokener_get_parse_end(tok); end < len; end++)
		if (!strchr(" \t\r\n", buf[end]))
			goto fail;
	goto out;
fail:
	json_object_put(o);
	o = NULL;
out:
	if (tok)
		json_tokener_free(tok);
	return o;
}

/* ---- key store ----------------------------------------------------------- */

static struct key *key_free(struct key *k)
{
	if (k) {
		free(k->id);
		free(k->description);
		free(k->alias);
		free(k);
	}
	return NULL;
}

/* The key with that ID in account (NULL: any account, the first made). */
static struct key *key_find_in(const struct fake *f, const char *account, const char *id)
{
	for (size_t i = 0; i < f->n_keys; i++)
		if (streq(f->keys[i]->id, id) && (!account || streq(f->keys[i]->account, account)))
			return f->keys[i];
	return NULL;
}

#define key_find(f, id) key_find_in((f), NULL, (id))

/* The key of account whose alias is name ("alias/NAME"), or NULL. */
static struct key *key_find_alias(const struct fake *f, const char *account, const char *name)
{
	for (size_t i = 0; i < f->n_keys; i++)
		if (f->keys[i]->alias && streq(f->keys[i]->alias, name) && streq(f->keys[i]->account, account))
			return f->keys[i];
	return NULL;
}

/* Moves k to state, making up a DeletionDate (midnight UTC a week from now,
 * as KMS rounds it) when it enters PendingDeletion. */
static void key_set_state(const struct fake *f, struct key *k, enum key_state state)
{
	if (state == KS_PENDING_DELETION && k->state != KS_PENDING_DELETION) {
		time_t t = fake_now(f) + DELETION_WAIT_SEC;
		k->deletion_ms = (int64_t)(t - t % 86400 + 86400) * 1000;
	}
	k->state = state;
	k->stale = false;
}

/* Returns the key with that ID, creating it if need be; NULL when the ID is
 * invalid or the store is full. */
static struct key *key_get_or_create(struct fake *f, const char *account, const char *id)
{
	struct key *k = key_find_in(f, account, id), **keys;

	if (k)
		return k;
	if (!key_id_valid(id) || f->n_keys >= MAX_KEYS)
		return NULL;
	keys = realloc(f->keys, (f->n_keys + 1) * sizeof(*keys));
	if (!keys)
		return NULL;
	f->keys = keys;
	k = calloc(1, sizeof(*k));
	if (!k || !(k->id = strdup(id)))
		return key_free(k);
	k->state = KS_ENABLED;
	snprintf(k->account, sizeof(k->account), "%s", account);
	/* A creation date a month back, with milliseconds, like a real key. */
	k->creation_ms = fake_now_ms(f) - 30LL * 86400 * 1000 - 527;
	f->keys[f->n_keys++] = k;
	return k;
}

static int key_delete(struct fake *f, const char *id)
{
	for (size_t i = 0; i < f->n_keys; i++) {
		if (streq(f->keys[i]->id, id)) {
			key_free(f->keys[i]);
			f->keys[i] = f->keys[--f->n_keys];
			return 0;
		}
	}
	return -ENOENT;
}

/* Loads "KEYID STATE" lines ('#' comments, blank lines).  Returns 0 or -1
 * after saying which line is wrong. */
static int keys_load(struct fake *f, const char *path)
{
	char *line = NULL, id[MAX_KEY_ID_LEN + 1], state[64], account[16], alias[300], extra;
	int n;
	size_t cap = 0;
	unsigned lineno = 0;
	int r = -1, st;
	FILE *fp = fopen(path, "re");

	if (!fp) {
		fprintf(stderr, "fake-kms: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, fp) >= 0) {
		struct key *k;
		char *p = line + strspn(line, " \t");

		lineno++;
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		alias[0] = '\0';
		n = sscanf(p, "%2048s %63s %15s %299s %c", id, state, account, alias, &extra);
		/* An alias may stand in the account's place: "KEYID STATE alias/NAME". */
		if (n == 3 && strncmp(account, "alias/", 6) == 0) {
			snprintf(alias, sizeof(alias), "%s", account);
			n = 2;
		} else if (n == 4 && strncmp(alias, "alias/", 6) == 0) {
			n = 3;
		} else if (n == 4) {
			n = 5; /* a fourth word that is no alias */
		}
		if (n == 2)
			snprintf(account, sizeof(account), "%s", f->opt.account);
		if (strncmp(id, "arn:", 4) == 0 && n == 2) {
			/* arn:PARTITION:kms:REGION:ACCOUNT:key/ID */
			const char *q = id;

			for (int colons = 0; *q && colons < 4; q++)
				colons += *q == ':';
			if (strspn(q, "0123456789") == 12 && strncmp(q + 12, ":key/", 5) == 0) {
				memcpy(account, q, 12);
				account[12] = '\0';
				memmove(id, q + 17, strlen(q + 17) + 1);
			}
		}
		if ((n != 2 && n != 3) || strlen(account) != 12 || strspn(account, "0123456789") != 12 ||
		    (st = key_state_from_string(state)) < 0 || !(k = key_get_or_create(f, account, id))) {
			fprintf(stderr,
				"fake-kms: %s:%u: expected \"KEYID STATE [ACCOUNT] [alias/NAME]\" or \"KEY-ARN STATE "
				"[alias/NAME]\" with a valid key ID, state and account\n",
				path, lineno);
			goto out;
		}
		key_set_state(f, k, st);
		if (alias[0]) {
			free(k->alias);
			if (!(k->alias = strdup(alias)))
				goto out;
		}
	}
	r = 0;
out:
	free(line);
	fclose(fp);
	return r;
}

/* ---- faults -------------------------------------------------------------- */

static struct fault *fault_free(struct fault *x)
{
	if (x) {
		free(x->error);
		free(x->message);
		free(x->body);
		free(x);
	}
	return NULL;
}

static void faults_clear(struct fake *f)
{
	struct fault *x;

	while ((x = TAILQ_FIRST(&f->faults))) {
		TAILQ_REMOVE(&f->faults, x, entry);
		fault_free(x);
	}
	f->n_faults = 0;
}

static bool fault_matches(const struct fault *x, bool delay, enum op op)
{
	if ((x->kind == FAULT_DELAY) != delay)
		return false;
	return x->count > 0 && (x->op < 0 || x->op == (int)op);
}

/* Takes one count from the first rule that applies to a call of op (a delay
 * rule if delay, else a fail/drop/garbage rule).  Returns the rule, which the
 * caller must release with fault_release() once done with it. */
static struct fault *fault_take(struct fake *f, bool delay, enum op op)
{
	struct fault *x;

	TAILQ_FOREACH(x, &f->faults, entry)
	{
		if (fault_matches(x, delay, op)) {
			x->count--;
			f->stats.faults[x->kind]++;
			return x;
		}
	}
	return NULL;
}

/* Drops a rule taken by fault_take() once it has no calls left. */
static void fault_release(struct fake *f, struct fault *x)
{
	if (x && x->count == 0) {
		TAILQ_REMOVE(&f->faults, x, entry);
		f->n_faults--;
		fault_free(x);
	}
}

/* ---- calls and replies --------------------------------------------------- */

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 409:
		return "Conflict";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Status";
	}
}

static uint64_t conn_id_of(struct fake *f, struct evhttp_request *req, uint64_t *ret_nth);

static struct call *call_new(struct fake *f, struct evhttp_request *req)
{
	struct call *c = calloc(1, sizeof(*c));
	uint64_t nth = 0, conn;

	if (!c)
		return NULL;
	c->record = json_object_new_object();
	if (!c->record) {
		free(c);
		return NULL;
	}
	c->f = f;
	c->req = req;
	c->status = 200;
	conn = conn_id_of(f, req, &nth);
	json_object_object_add(c->record, "seq", json_object_new_int64((int64_t)f->stats.requests));
	json_object_object_add(c->record, "connection", json_object_new_int64((int64_t)conn));
	json_object_object_add(c->record, "connectionRequest", json_object_new_int64((int64_t)nth));
	return c;
}

static struct call *call_free(struct call *c)
{
	if (c) {
		if (c->timer)
			event_free(c->timer);
		json_object_put(c->record);
		json_object_put(c->body);
		free(c->raw_body);
		free(c);
	}
	return NULL;
}

static void call_set_body(struct call *c, int status, struct json_object *body)
{
	json_object_put(c->body);
	c->status = status;
	c->body = body;
}

/* Sets an AWS error reply: status, {"__type": type, "message": …}. */
static void call_error(struct call *c, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void call_error(struct call *c, int status, const char *type, const char *fmt, ...)
{
	struct json_object *body = json_object_new_object();
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	json_add_string(body, "__type", type);
	json_add_string(body, "message", msg ? msg : "");
	call_set_body(c, status, body);
	json_add_string(c->record, "error", type);
	json_add_string(c->record, "message", msg);
	free(msg);
}

/* An error produced while authenticating: counted separately, since
 * "no signature failures" is a common assertion. */
static void call_auth_error(struct call *c, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void call_auth_error(struct call *c, int status, const char *type, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	c->f->stats.auth_failures++;
	if (streq(type, "InvalidSignatureException"))
		c->f->stats.signature_failures++;
	call_error(c, status, type, "%s", msg ? msg : "");
	free(msg);
}

static void stats_count_error(struct fake *f, const char *type)
{
	struct json_object *v;

	if (json_object_object_get_ex(f->stats.errors, type, &v))
		json_object_int_inc(v, 1);
	else
		json_object_object_add(f->stats.errors, type, json_object_new_int64(1));
}

/* Appends the call's record to the /requests ring. */
static void call_log(struct call *c)
{
	struct fake *f = c->f;
	size_t slot = f->n_logged % REQUEST_LOG_SIZE;
	struct json_object *err;

	json_object_object_add(c->record, "status", json_object_new_int(c->status));
	if (json_object_object_get_ex(c->record, "error", &err) && json_object_is_type(err, json_type_string))
		stats_count_error(f, json_object_get_string(err));
	json_object_put(f->log[slot]);
	f->log[slot] = json_object_get(c->record);
	f->n_logged++;
	logv(f, "%s", json_object_to_json_string_ext(c->record, JSON_FLAGS));
}

/* Closes the call's connection at the TCP level without a reply: the client
 * sees the connection end where it expected a response. */
static void conn_shutdown(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

/* ---- raw replies: what evhttp will not send ----------------------------------
 *
 * A truncated, reset or endless response cannot go through
 * evhttp_send_reply(): the call takes ownership of its request and of the
 * connection's bufferevent (its callbacks and timeouts: evhttp's would
 * answer or reuse the connection), writes the bytes itself and checks every
 * RAW_TICK_MS whether they are out (then closes or resets).  When the client
 * goes away first, the bufferevent's event callback ends the call.  Calls
 * being answered this way sit on fake.raw. */

static void raw_tick_cb(evutil_socket_t fd, short what, void *arg);

static void raw_arm(struct call *c, long ms)
{
	struct timeval tv = timeval_from_msec(ms);

	if (!c->timer)
		c->timer = evtimer_new(c->f->base, raw_tick_cb, c);
	if (c->timer)
		evtimer_add(c->timer, &tv);
}

/* Ends a raw reply: closes the connection if it is still there (with a TCP
 * reset when asked) and frees the request and the call. */
static void raw_finish(struct call *c, bool reset)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);

	if (evcon) {
		struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
		evutil_socket_t fd = bufferevent_getfd(bev);
		SSL *ssl = bufferevent_openssl_get_ssl(bev);

		if (reset && fd >= 0) {
			struct linger lg = {.l_onoff = 1, .l_linger = 0};

			(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		} else if (ssl) {
			(void)SSL_shutdown(ssl); /* close_notify: a clean TLS close */
		}
		evhttp_connection_free(evcon); /* keeps the request: we own it */
	}
	TAILQ_REMOVE(&c->f->raw, c, entry);
	evhttp_request_free(c->req);
	call_free(c);
}

static void raw_read_cb(struct bufferevent *bev, void *arg)
{
	evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

static void raw_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct call *c = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	/* The client gave up.  For a hang that is what the test waits for: a
	 * client closing a connection it stopped trusting. */
	if (c->mode == REPLY_HANG) {
		c->f->stats.hangs_closed++;
		json_object_object_add(c->record, "clientClosed", json_object_new_boolean(true));
	}
	raw_finish(c, false);
}

static void raw_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct call *c = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;

	if (!bev) {
		raw_finish(c, false);
		return;
	}
	if (c->mode == REPLY_TRUNCATE) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
			raw_arm(c, RAW_TICK_MS);
		else
			raw_finish(c, c->reset);
		return;
	}
	/* REPLY_ENDLESS: one more one-byte chunk (a JSON space) when due. */
	if (c->trickle_ms > 0 && fake_now_ms(c->f) >= c->next_trickle_ms) {
		bufferevent_write(bev, "1\r\n \r\n", 6);
		c->next_trickle_ms = fake_now_ms(c->f) + c->trickle_ms;
	}
	raw_arm(c, RAW_TICK_MS);
}

/* Sends the head of the call's reply and, for truncate, the first half of
 * its body (half the head when the body is empty); for endless, a chunked
 * head and the body's first byte, more to come never; for hang, nothing. */
static void call_send_raw(struct call *c, const char *request_id, const char *date)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
	const char *body = c->body ? json_object_to_json_string_ext(c->body, JSON_FLAGS) : "";
	size_t body_len = strlen(body);
	char *head = NULL;
	int head_len;

	if (!evcon) {
		evhttp_send_reply(c->req, 500, "Gone", NULL); /* frees the detached request */
		call_free(c);
		return;
	}
	evhttp_request_own(c->req);
	TAILQ_INSERT_TAIL(&c->f->raw, c, entry);
	if (c->mode == REPLY_ENDLESS)
		head_len = asprintf(&head,
				    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nx-amzn-RequestId: %s\r\nDate: %s\r\n"
				    "Transfer-Encoding: chunked\r\n\r\n1\r\n%c\r\n",
				    c->status, reason_phrase(c->status), KMS_CONTENT_TYPE, request_id, date,
				    body_len ? body[0] : ' ');
	else
		head_len = asprintf(&head,
				    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nx-amzn-RequestId: %s\r\nDate: %s\r\n"
				    "Content-Length: %zu\r\n\r\n",
				    c->status, reason_phrase(c->status), KMS_CONTENT_TYPE, request_id, date, body_len);
	if (head_len < 0) {
		raw_finish(c, true);
		return;
	}
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	bufferevent_setcb(bev, raw_read_cb, NULL, raw_event_cb, c);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (c->mode == REPLY_HANG) {
		free(head);
		return; /* no tick: only the client's close ends it */
	}
	if (c->mode == REPLY_ENDLESS) {
		bufferevent_write(bev, head, (size_t)head_len);
		c->next_trickle_ms = fake_now_ms(c->f) + c->trickle_ms;
	} else if (body_len > 0) {
		bufferevent_write(bev, head, (size_t)head_len);
		bufferevent_write(bev, body, body_len / 2);
	} else {
		bufferevent_write(bev, head, (size_t)head_len / 2);
	}
	free(head);
	raw_arm(c, RAW_TICK_MS);
}

/* Hands the reply to evhttp and frees the call.  evhttp owns the request
 * from here; for drop and garbage it also closes the connection ("Connection:
 * close"), after the socket was shut (drop) or after the garbage line. */
static void call_send(struct call *c)
{
	struct evhttp_request *req = c->req;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evbuffer *out = evbuffer_new();
	char date[64], request_id[37];

	make_uuid(request_id);
	format_http_date(fake_now(c->f), date);
	evhttp_add_header(h, "Content-Type", KMS_CONTENT_TYPE);
	evhttp_add_header(h, "x-amzn-RequestId", request_id);
	evhttp_add_header(h, "Date", date);
	if (c->mode == REPLY_TRUNCATE || c->mode == REPLY_ENDLESS || c->mode == REPLY_HANG) {
		if (out)
			evbuffer_free(out);
		call_send_raw(c, request_id, date);
		return;
	}
	if (c->raw_body && out)
		evbuffer_add(out, c->raw_body, c->raw_body_len);
	else if (c->body && out)
		evbuffer_add_printf(out, "%s", json_object_to_json_string_ext(c->body, JSON_FLAGS));
	if (c->mode == REPLY_DROP) {
		conn_shutdown(req);
		evhttp_add_header(h, "Connection", "close");
	} else if (c->mode == REPLY_GARBAGE) {
		if (evcon)
			bufferevent_write(evhttp_connection_get_bufferevent(evcon), GARBAGE_LINE, strlen(GARBAGE_LINE));
		evhttp_add_header(h, "Connection", "close");
	}
	evhttp_send_reply(req, c->status, reason_phrase(c->status), out);
	if (out)
		evbuffer_free(out);
	call_free(c);
}

static void call_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct call *c = arg;

	TAILQ_REMOVE(&c->f->pending, c, entry);
	call_send(c);
}

/* Logs the call and sends its reply now or, with a delay fault, later. */
static void call_finish(struct call *c)
{
	struct timeval tv = timeval_from_msec(c->delay_ms);

	call_log(c);
	if (c->delay_ms > 0) {
		c->timer = evtimer_new(c->f->base, call_timer_cb, c);
		if (c->timer && evtimer_add(c->timer, &tv) == 0) {
			TAILQ_INSERT_TAIL(&c->f->pending, c, entry);
			return;
		}
	}
	call_send(c);
}

/* ---- connections and TLS ------------------------------------------------- */

static void conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct conn *conn = arg;

	LIST_REMOVE(conn, entry);
	free(conn);
}

/* Returns the connection's ID (1, 2, … in order of first request) and sets
 * *ret_nth to this request's position on it. */
static uint64_t conn_id_of(struct fake *f, struct evhttp_request *req, uint64_t *ret_nth)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn *conn;

	LIST_FOREACH(conn, &f->conns, entry)
	if (conn->evcon == evcon)
		break;
	if (!conn) {
		conn = calloc(1, sizeof(*conn));
		if (!conn)
			return 0;
		conn->evcon = evcon;
		conn->id = ++f->next_conn_id;
		LIST_INSERT_HEAD(&f->conns, conn, entry);
		evhttp_connection_set_closecb(evcon, conn_closed_cb, conn);
	}
	*ret_nth = ++conn->requests;
	return conn->id;
}

/* evhttp calls this for every accepted TCP connection: wrap it in TLS. */
static struct bufferevent *kms_bevcb(struct event_base *base, void *arg)
{
	struct fake *f = arg;
	SSL *ssl;

	f->stats.connections++;
	if (f->opt.plain_http)
		return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	ssl = SSL_new(f->ssl_ctx);
	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static void tls_info_cb(const SSL *ssl, int where, int ret)
{
	struct fake *f = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	if (!(where & SSL_CB_HANDSHAKE_DONE))
		return;
	f->stats.tls_handshakes++;
	if (SSL_session_reused(ssl))
		f->stats.tls_resumed++;
}

/* The STS port's handshakes, counted apart from KMS's. */
static void sts_tls_info_cb(const SSL *ssl, int where, int ret)
{
	struct fake *f = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	(void)ret;
	if (where & SSL_CB_HANDSHAKE_DONE)
		f->stats.sts_tls_handshakes++;
}

static int tls_apply_max(SSL_CTX *ctx, const char *max)
{
	if (!max || streq(max, "1.3"))
		return 0;
	if (streq(max, "1.2"))
		return SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) == 1 ? 0 : -1;
	/* Old protocols, so tests can check that the client refuses them:
	 * OpenSSL 3 needs security level 0 to offer them at all. */
	SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
	if (streq(max, "1.1"))
		return SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION) == 1 ? 0 : -1;
	if (streq(max, "1.0"))
		return SSL_CTX_set_max_proto_version(ctx, TLS1_VERSION) == 1 ? 0 : -1;
	return -1;
}

static SSL_CTX *tls_server_ctx(struct fake *f)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (tls_apply_max(ctx, f->opt.tls_max) < 0) {
		fprintf(stderr, "fake-kms: --tls-max must be 1.0, 1.1, 1.2 or 1.3\n");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, f->opt.cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, f->opt.key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	/* Lets clients resume sessions, which the daemon's pool relies on. */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"fake-kms", 8);
	SSL_CTX_set_app_data(ctx, f);
	SSL_CTX_set_info_callback(ctx, tls_info_cb);
	return ctx;
fail:
	ERR_print_errors_fp(stderr);
	SSL_CTX_free(ctx);
	return NULL;
}

/* ---- SigV4 verification -------------------------------------------------- */

/* Collects the request's headers named in SignedHeaders, in the order
 * received, into a malloc'ed array.  Returns the count, or -1 if a signed
 * header is missing or memory ran out. */
static ssize_t collect_signed_headers(struct evhttp_request *req, const char *signed_list, struct sigv4_header **ret)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct sigv4_header *hs;
	struct evkeyval *kv;
	char *names = strdup(signed_list), *save = NULL, *name;
	size_t n_in = 0, n = 0;

	TAILQ_FOREACH(kv, in, next)
	n_in++;
	hs = calloc(n_in + 1, sizeof(*hs));
	if (!names || !hs)
		goto fail;
	for (name = strtok_r(names, ";", &save); name; name = strtok_r(NULL, ";", &save)) {
		size_t before = n;

		TAILQ_FOREACH(kv, in, next)
		{
			if (strcasecmp(kv->key, name) == 0)
				hs[n++] = (struct sigv4_header){kv->key, kv->value};
		}
		if (n == before)
			goto fail;
	}
	free(names);
	*ret = hs;
	return (ssize_t)n;
fail:
	free(names);
	free(hs);
	return -1;
}

static bool signed_list_has(const char *list, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = list; p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL)
		if (strncasecmp(p, name, len) == 0 && (p[len] == ';' || p[len] == '\0'))
			return true;
	return false;
}

/* Recomputes the signature over the signed headers as received and compares
 * it with the client's in constant time. */
static int check_signature(struct call *c, const struct sigv4_parsed_authorization *a, const char *amz_date,
			   const char *body, size_t body_len)
{
	struct fake *f = c->f;
	const char *uri = evhttp_request_get_uri(c->req), *q = strchr(uri, '?');
	struct sigv4_header *hs = NULL;
	char *path = strndup(uri, q ? (size_t)(q - uri) : strlen(uri));
	char *canonical = NULL, *signed_headers = NULL, *sts = NULL, sig[65];
	uint8_t key[SIGV4_KEY_SIZE];
	ssize_t n = collect_signed_headers(c->req, a->signed_headers, &hs);
	int r = -1;

	if (path && n >= 0) {
		struct sigv4_request sr = {
		    .method = "POST",
		    .path = path,
		    .query = q ? q + 1 : NULL,
		    .headers = hs,
		    .n_headers = (size_t)n,
		    .payload = body,
		    .payload_len = body_len,
		    .normalize_path = true,
		};
		if (sigv4_canonical_request(&sr, &canonical, &signed_headers) == 0 &&
		    sigv4_string_to_sign(amz_date, a->region, a->service, canonical, &sts) == 0 &&
		    sigv4_derive_key(c->cr->secret, a->date8, a->region, a->service, key) == 0 &&
		    sigv4_signature(key, sts, sig) == 0 && sigv4_signature_equal(sig, a->signature))
			r = 0;
	}
	if (r < 0) {
		logv(f, "signature mismatch; canonical request:\n%s\nstring to sign:\n%s", canonical ? canonical : "?",
		     sts ? sts : "?");
		call_auth_error(c, 400, "InvalidSignatureException",
				"The request signature we calculated does not match the signature you provided. "
				"Check your AWS Secret Access Key and signing method. "
				"Consult the service documentation for details.");
	}
	explicit_bzero(key, sizeof(key));
	free(path);
	free(hs);
	free(canonical);
	free(signed_headers);
	free(sts);
	return r;
}

/* The session token must be the configured one, and signed. */
static int check_token(struct call *c, const char *token, const char *signed_list)
{
	if (!c->cr->session_token != !token || (token && !streq(token, c->cr->session_token))) {
		call_auth_error(c, 400, "UnrecognizedClientException",
				"The security token included in the request is invalid.");
		return -1;
	}
	if (token && !signed_list_has(signed_list, "x-amz-security-token")) {
		call_auth_error(c, 400, "InvalidSignatureException",
				"'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.");
		return -1;
	}
	return 0;
}

static int check_scope(struct call *c, const struct sigv4_parsed_authorization *a, const char *amz_date)
{
	const char *service = c->op == OP_STS ? "sts" : "kms";

	if (!streq(a->service, service)) {
		call_auth_error(c, 400, "InvalidSignatureException",
				"Credential should be scoped to correct service: '%s'. ", service);
		return -1;
	}
	if (c->op == OP_STS)
		json_add_string(c->record, "region", a->region); /* STS takes any; tests check which */
	if (c->op != OP_STS && !streq(a->region, c->f->opt.region)) {
		call_auth_error(c, 400, "InvalidSignatureException",
				"Credential should be scoped to a valid region, not '%s'. ", a->region);
		return -1;
	}
	if (strlen(a->date8) != 8 || strncmp(a->date8, amz_date, 8) != 0) {
		call_auth_error(c, 400, "InvalidSignatureException",
				"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
				"HTTP: '%s' != '%.8s', from '%s'.",
				a->date8, amz_date, amz_date);
		return -1;
	}
	return 0;
}

/* KMS accepts X-Amz-Date within 5 minutes of its own clock (AWS.md §3.4). */
static int check_clock(struct call *c, const char *amz_date)
{
	char now_s[SIGV4_AMZ_DATE_SIZE], limit_s[SIGV4_AMZ_DATE_SIZE];
	time_t now = fake_now(c->f), t;

	if (parse_amz_date(amz_date, &t) < 0) {
		call_auth_error(c, 400, "IncompleteSignatureException",
				"Date must be in ISO-8601 'basic format'. Got '%s'.", amz_date);
		return -1;
	}
	sigv4_format_amz_date(now, now_s);
	if (t < now - SKEW_LIMIT_SEC) {
		sigv4_format_amz_date(now - SKEW_LIMIT_SEC, limit_s);
		call_auth_error(c, 400, "InvalidSignatureException",
				"Signature expired: %s is now earlier than %s (%s - 5 min.)", amz_date, limit_s, now_s);
		return -1;
	}
	if (t > now + SKEW_LIMIT_SEC) {
		sigv4_format_amz_date(now + SKEW_LIMIT_SEC, limit_s);
		call_auth_error(c, 400, "InvalidSignatureException",
				"Signature not yet current: %s is still later than %s (%s + 5 min.)", amz_date, limit_s,
				now_s);
		return -1;
	}
	return 0;
}

/* Recognises the signer's access key: the primary account's, another
 * account's (--account-creds) or one the fake STS issued (which expires).
 * Sets c->cr and c->account; -1 with the error reply set. */
static int principal_find(struct call *c, const char *akid)
{
	struct fake *f = c->f;

	if (streq(akid, f->creds.access_key_id)) {
		c->cr = &f->creds;
		c->account = f->opt.account;
	}
	for (size_t i = 0; !c->cr && i < f->n_principals; i++) {
		const struct principal *p = &f->principals[i];

		if (!streq(akid, p->creds.access_key_id))
			continue;
		if (p->expires && fake_now(f) >= p->expires) {
			call_auth_error(c, c->op == OP_STS ? 403 : 400, "ExpiredTokenException",
					"The security token included in the request is expired");
			return -1;
		}
		c->cr = &p->creds;
		c->account = p->account;
	}
	if (!c->cr) {
		call_auth_error(c, c->op == OP_STS ? 403 : 400,
				c->op == OP_STS ? "InvalidClientTokenId" : "UnrecognizedClientException",
				"The security token included in the request is invalid.");
		return -1;
	}
	json_add_string(c->record, "account", c->account);
	return 0;
}

/* Authenticates the call as KMS would, in the order KMS reports problems.
 * Returns 0, or -1 with the error reply set. */
static int verify_auth(struct call *c, const char *body, size_t body_len)
{
	struct fake *f = c->f;
	struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
	const char *authz = evhttp_find_header(in, "Authorization");
	const char *amz_date = evhttp_find_header(in, "X-Amz-Date");
	const char *token = evhttp_find_header(in, "X-Amz-Security-Token");
	struct sigv4_parsed_authorization a = {0};
	int r = -1;

	json_object_object_add(c->record, "sessionToken", json_object_new_boolean(token != NULL));
	json_add_string(c->record, "amzDate", amz_date);
	if (!authz) {
		call_auth_error(c, 403, "MissingAuthenticationTokenException", "Missing Authentication Token");
		return -1;
	}
	if (sigv4_parse_authorization(authz, &a) < 0) {
		call_auth_error(c, 400, "IncompleteSignatureException",
				"Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
				"parameters. Authorization=%s",
				authz);
		return -1;
	}
	json_add_string(c->record, "accessKeyId", a.access_key_id);
	if (!amz_date) {
		call_auth_error(c, 400, "IncompleteSignatureException",
				"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
		goto out;
	}
	/* A token replaced by PUT /credentials is "expired", whatever key ID
	 * came with it: that is what a client with stale credentials sees. */
	if (token && f->expired_token && streq(token, f->expired_token)) {
		call_auth_error(c, 400, "ExpiredTokenException",
				"The security token included in the request is expired");
		goto out;
	}
	if (principal_find(c, a.access_key_id) < 0)
		goto out;
	if (check_token(c, token, a.signed_headers) < 0 || check_scope(c, &a, amz_date) < 0 ||
	    check_clock(c, amz_date) < 0)
		goto out;
	if (!signed_list_has(a.signed_headers, "host") || !signed_list_has(a.signed_headers, "x-amz-date")) {
		call_auth_error(c, 400, "InvalidSignatureException",
				"'Host' and 'X-Amz-Date' must be 'SignedHeaders' in the AWS Authorization.");
		goto out;
	}
	/* --no-verify-signature (benchmarks only): everything but the costly
	 * recomputation is still checked, so a broken signer is still caught
	 * by every other test. */
	r = f->opt.no_verify_signature ? 0 : check_signature(c, &a, amz_date, body, body_len);
out:
	sigv4_parsed_authorization_done(&a);
	return r;
}

/* ---- KeyId resolution ---------------------------------------------------- */

/* Resolves "arn:partition:kms:region:account:key/ID".  Returns the key ID
 * part (pointing into arn) or NULL with the error reply set. */
static const char *resolve_arn(struct call *c, const char *arn)
{
	struct fake *f = c->f;
	char part[7][256] = {{0}};
	const char *p = arn, *resource;
	int i;

	/* arn : partition : service : region : account : resource */
	for (i = 0; i < 5; i++) {
		const char *colon = strchr(p, ':');

		if (!colon || (size_t)(colon - p) >= sizeof(part[i]))
			break;
		memcpy(part[i], p, (size_t)(colon - p));
		p = colon + 1;
	}
	resource = p;
	if (i < 5 || !streq(part[2], "kms") || !*part[1] || !*part[3] || strlen(part[4]) != 12 ||
	    strspn(part[4], "0123456789") != 12 || (strncmp(resource, "key/", 4) && strncmp(resource, "alias/", 6))) {
		call_error(c, 400, "InvalidArnException", "Invalid arn %s", arn);
		return NULL;
	}
	if (!streq(part[1], f->partition) || !streq(part[3], f->opt.region)) {
		call_error(c, 400, "NotFoundException", "Invalid arn");
		return NULL;
	}
	if (!streq(part[4], c->account)) {
		/* CancelKeyDeletion never crosses accounts: the signer is not
		 * the key's owner, which the daemon must never let happen. */
		f->stats.wrong_account++;
		call_error(c, 400, "AccessDeniedException",
			   "User: arn:aws:iam::%s:user/fake is not authorized to perform: kms:%s on resource: %s "
			   "(fake-kms: signed with credentials of account %s, the key belongs to %s)",
			   c->account, op_names[c->op], arn, c->account, part[4]);
		return NULL;
	}
	if (strncmp(resource, "alias/", 6) == 0 &&
	    !(c->op == OP_DESCRIBE_KEY && key_find_alias(f, c->account, resource))) {
		call_error(c, 400, "NotFoundException", "Alias %s is not found.", arn);
		return NULL;
	}
	return resource;
}

/* Finds the key a request's KeyId names (key ID, mrk- ID or key ARN).
 * Returns it, or NULL with the error reply set. */
static struct key *resolve_key(struct call *c, struct json_object *in)
{
	struct fake *f = c->f;
	struct json_object *v = NULL;
	const char *s, *id;
	struct key *k;
	char *arn;
	size_t len;

	if (!json_object_object_get_ex(in, "KeyId", &v) || !v) {
		call_error(c, 400, "ValidationException",
			   "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member "
			   "must not be null");
		return NULL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		call_error(c, 400, "ValidationException",
			   "1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must "
			   "be a string");
		return NULL;
	}
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	json_add_string(c->record, "keyId", s);
	if (len < 1 || len > MAX_KEY_ID_LEN) {
		call_error(c, 400, "ValidationException",
			   "1 validation error detected: Value '%s' at 'keyId' failed to satisfy constraint: Member "
			   "must have length %s",
			   len ? "..." : "", len ? "less than or equal to 2048" : "greater than or equal to 1");
		return NULL;
	}
	if (strncmp(s, "arn:", 4) == 0) {
		id = resolve_arn(c, s);
		if (!id)
			return NULL;
		if (strncmp(id, "key/", 4) == 0)
			id += 4;
	} else {
		id = s;
	}
	if (strncmp(id, "alias/", 6) == 0) {
		/* DescribeKey takes aliases; CancelKeyDeletion and EnableKey do not. */
		k = c->op == OP_DESCRIBE_KEY && strlen(s) == len ? key_find_alias(f, c->account, id) : NULL;
		if (!k)
			call_error(c, 400, "NotFoundException", "Alias arn:%s:kms:%s:%s:%s is not found.", f->partition,
				   f->opt.region, c->account, id);
		return k;
	}
	k = strlen(s) == len ? key_find_in(f, c->account, id) : NULL; /* an embedded NUL names no key */
	if (k)
		return k;
	if (strlen(s) != len || !key_id_valid(id)) {
		call_error(c, 400, "NotFoundException", "Invalid keyId %s", s);
		return NULL;
	}
	arn = key_arn_in(f, c->account, id);
	call_error(c, 400, "NotFoundException", "Key '%s' does not exist", arn ? arn : id);
	free(arn);
	return NULL;
}

/* The state DescribeKey and EnableKey see: the stale one while the admin's
 * lag lasts and the key was cancelled, else the real one. */
static enum key_state key_view_state(struct call *c, const struct key *k)
{
	struct fake *f = c->f;

	if (f->lag_count > 0 && k->stale) {
		f->lag_count--;
		json_object_object_add(c->record, "lagged", json_object_new_boolean(true));
		return k->stale_state;
	}
	return k->state;
}

/* ---- operations ---------------------------------------------------------- */

static void op_cancel_key_deletion(struct call *c, struct json_object *in)
{
	struct key *k = resolve_key(c, in);
	struct json_object *out;
	char *arn;

	if (!k)
		return;
	arn = arn_of(c->f, k);
	if (k->state != KS_PENDING_DELETION && k->state != KS_PENDING_REPLICA_DELETION) {
		call_error(c, 400, "KMSInvalidStateException",
			   "%s is not pending deletion (or pending replica deletion).", arn);
	} else {
		enum key_state before = k->state;

		if (!c->f->opt.sticky_pending) {
			key_set_state(c->f, k, KS_DISABLED);
			k->stale_state = before;
			k->stale = true;
		}
		out = json_object_new_object();
		json_add_string(out, "KeyId", arn);
		call_set_body(c, 200, out);
	}
	free(arn);
}

static struct json_object *multi_region_config(const struct fake *f, const char *arn)
{
	struct json_object *cfg = json_object_new_object(), *primary = json_object_new_object();

	json_add_string(cfg, "MultiRegionKeyType", "PRIMARY");
	json_add_string(primary, "Arn", arn);
	json_add_string(primary, "Region", f->opt.region);
	json_object_object_add(cfg, "PrimaryKey", primary);
	json_object_object_add(cfg, "ReplicaKeys", json_object_new_array());
	return cfg;
}

/* KeyMetadata as DescribeKey returns it (AWS.md §1.2), for a symmetric
 * AWS_KMS customer managed key. */
static struct json_object *key_metadata(const struct fake *f, const struct key *k, enum key_state state)
{
	struct json_object *m = json_object_new_object(), *algs = json_object_new_array();
	char *arn = arn_of(f, k);

	json_add_string(m, "AWSAccountId", k->account);
	json_add_string(m, "KeyId", k->id);
	json_add_string(m, "Arn", arn);
	json_object_object_add(m, "CreationDate", json_epoch(k->creation_ms));
	json_object_object_add(m, "Enabled", json_object_new_boolean(state == KS_ENABLED));
	json_add_string(m, "Description", k->description ? k->description : "");
	json_add_string(m, "KeyUsage", "ENCRYPT_DECRYPT");
	json_add_string(m, "KeyState", key_state_names[state]);
	if (state == KS_PENDING_DELETION)
		json_object_object_add(m, "DeletionDate", json_epoch(k->deletion_ms));
	if (state == KS_PENDING_REPLICA_DELETION)
		json_object_object_add(m, "PendingDeletionWindowInDays", json_object_new_int(7));
	json_add_string(m, "Origin", "AWS_KMS");
	json_add_string(m, "KeyManager", "CUSTOMER");
	json_add_string(m, "CustomerMasterKeySpec", "SYMMETRIC_DEFAULT");
	json_add_string(m, "KeySpec", "SYMMETRIC_DEFAULT");
	json_object_array_add(algs, json_object_new_string("SYMMETRIC_DEFAULT"));
	json_object_object_add(m, "EncryptionAlgorithms", algs);
	json_object_object_add(m, "MultiRegion", json_object_new_boolean(key_is_multi_region(k)));
	if (key_is_multi_region(k))
		json_object_object_add(m, "MultiRegionConfiguration", multi_region_config(f, arn));
	free(arn);
	return m;
}

static void op_describe_key(struct call *c, struct json_object *in)
{
	struct key *k = resolve_key(c, in);
	struct json_object *out;

	if (!k)
		return;
	out = json_object_new_object();
	json_object_object_add(out, "KeyMetadata", key_metadata(c->f, k, key_view_state(c, k)));
	call_set_body(c, 200, out);
}

/* EnableKey: ok from Enabled, Disabled and Unavailable (which stays
 * Unavailable until the key is available again), refused otherwise (§4). */
static void op_enable_key(struct call *c, struct json_object *in)
{
	struct key *k = resolve_key(c, in);
	enum key_state state;
	char *arn;

	if (!k)
		return;
	state = key_view_state(c, k);
	if (state == KS_ENABLED || state == KS_DISABLED || state == KS_UNAVAILABLE) {
		if (state == KS_DISABLED)
			key_set_state(c->f, k, KS_ENABLED);
		call_set_body(c, 200, NULL);
		return;
	}
	arn = arn_of(c->f, k);
	call_error(c, 400, "KMSInvalidStateException", "%s is %s.", arn, key_state_phrases[state]);
	free(arn);
}

/* ---- ListKeys, ListAliases (paging) ------------------------------------- */

/* AWS managed aliases that name no key until a service uses them: listed
 * without a TargetKeyId, as ListAliases does. */
static const char *const unused_aws_aliases[] = {"alias/aws/ebs", "alias/aws/s3"};

/* Markers are opaque to clients; here "fake1" and the hex of the last
 * name or key ID returned.  Writes the decoded text into ret (size bytes),
 * or returns -1: not a marker this fake made (InvalidMarkerException). */
static int marker_decode(const char *m, char *ret, size_t size)
{
	size_t n = strlen(m);

	if (strncmp(m, "fake1", 5) != 0 || (n - 5) % 2 || (n - 5) / 2 >= size || !is_hex(m + 5, n - 5))
		return -1;
	for (size_t i = 0; i < (n - 5) / 2; i++) {
		unsigned v;

		sscanf(m + 5 + 2 * i, "%2x", &v);
		ret[i] = (char)v;
	}
	ret[(n - 5) / 2] = '\0';
	return strlen(ret) == (n - 5) / 2 && *ret ? 0 : -1;
}

static char *marker_encode(const char *last)
{
	size_t n = strlen(last);
	char *m = malloc(5 + 2 * n + 1);

	if (!m)
		return NULL;
	memcpy(m, "fake1", 5);
	for (size_t i = 0; i < n; i++)
		snprintf(m + 5 + 2 * i, 3, "%02x", (unsigned char)last[i]);
	return m;
}

/* Limit (lo..hi, default def) and Marker of a paging request, as KMS
 * validates them.  Returns 0, or -1 with the error reply set. */
static int page_params(struct call *c, struct json_object *in, int64_t hi, int64_t def, int64_t *ret_limit,
		       char *ret_after, size_t size)
{
	struct json_object *v;

	*ret_limit = def;
	ret_after[0] = '\0';
	if (json_object_object_get_ex(in, "Limit", &v) && v) {
		int64_t n = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || n < 1 || n > hi) {
			call_error(c, 400, "ValidationException",
				   "1 validation error detected: Value '%s' at 'limit' failed to satisfy constraint: "
				   "Member must have value %s %" PRId64,
				   json_object_get_string(v),
				   n < 1 ? "greater than or equal to" : "less than or equal to",
				   n < 1 ? (int64_t)1 : hi);
			return -1;
		}
		*ret_limit = n;
	}
	if (json_object_object_get_ex(in, "Marker", &v) && v) {
		const char *m = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";

		json_add_string(c->record, "marker", m);
		if (!*m || strlen(m) > 1024) {
			call_error(c, 400, "ValidationException",
				   "1 validation error detected: Value '%s' at 'marker' failed to satisfy constraint: "
				   "Member must have length %s",
				   *m ? "..." : "", *m ? "less than or equal to 1024" : "greater than or equal to 1");
			return -1;
		}
		if (marker_decode(m, ret_after, size) < 0) {
			call_error(c, 400, "InvalidMarkerException",
				   "The request was rejected because the marker that specifies where pagination "
				   "should next begin is not valid.");
			return -1;
		}
	}
	return 0;
}

/* Ends a page: Truncated, and NextMarker after the last entry when more follow. */
static void page_finish(struct call *c, struct json_object *out, bool more, const char *last)
{
	if (more) {
		char *m = marker_encode(last);

		json_add_string(out, "NextMarker", m);
		free(m);
	}
	json_object_object_add(out, "Truncated", json_object_new_boolean(more));
	call_set_body(c, 200, out);
}

static int compare_key_ids(const void *a, const void *b)
{
	return strcmp((*(struct key *const *)a)->id, (*(struct key *const *)b)->id);
}

/* The signer's keys, sorted by key ID (the order pages follow).  NULL
 * after an error reply when out of memory. */
static struct key **account_keys(struct call *c, size_t *ret_n)
{
	struct fake *f = c->f;
	struct key **v = malloc((f->n_keys ? f->n_keys : 1) * sizeof(*v));
	size_t n = 0;

	if (!v) {
		call_error(c, 500, "KMSInternalException", "fake-kms: out of memory");
		return NULL;
	}
	for (size_t i = 0; i < f->n_keys; i++)
		if (streq(f->keys[i]->account, c->account))
			v[n++] = f->keys[i];
	qsort(v, n, sizeof(*v), compare_key_ids);
	*ret_n = n;
	return v;
}

/* ListKeys: {"Keys":[{"KeyId","KeyArn"}], "NextMarker"?, "Truncated"}; Limit 1..1000, default 100. */
static void op_list_keys(struct call *c, struct json_object *in)
{
	char after[MAX_KEY_ID_LEN + 1];
	struct json_object *out, *list;
	struct key **keys;
	size_t n = 0, i = 0, shown = 0;
	int64_t limit;

	if (page_params(c, in, 1000, 100, &limit, after, sizeof(after)) < 0 || !(keys = account_keys(c, &n)))
		return;
	out = json_object_new_object();
	list = json_object_new_array();
	while (i < n && after[0] && strcmp(keys[i]->id, after) <= 0)
		i++;
	for (; i < n && shown < (size_t)limit; i++, shown++) {
		struct json_object *e = json_object_new_object();
		char *arn = arn_of(c->f, keys[i]);

		json_add_string(e, "KeyId", keys[i]->id);
		json_add_string(e, "KeyArn", arn);
		json_object_array_add(list, e);
		free(arn);
	}
	json_object_object_add(out, "Keys", list);
	page_finish(c, out, i < n, shown ? keys[i - 1]->id : "");
	free(keys);
}

/* One alias as ListAliases pages them: by name. */
struct alias_row {
	const char *name;
	const struct key *key; /* NULL: an unused AWS managed alias */
};

static int compare_alias_rows(const void *a, const void *b)
{
	return strcmp(((const struct alias_row *)a)->name, ((const struct alias_row *)b)->name);
}

static struct json_object *alias_entry(const struct fake *f, const char *account, const char *name, const struct key *k)
{
	struct json_object *e = json_object_new_object();
	char arn[512];

	snprintf(arn, sizeof(arn), "arn:%s:kms:%s:%s:%s", f->partition, f->opt.region, account, name);
	json_add_string(e, "AliasName", name);
	json_add_string(e, "AliasArn", arn);
	if (k) {
		json_add_string(e, "TargetKeyId", k->id);
		json_object_object_add(e, "CreationDate", json_epoch(k->creation_ms));
		json_object_object_add(e, "LastUpdatedDate", json_epoch(k->creation_ms));
	}
	return e;
}

/* ListAliases: {"Aliases":[{"AliasName","AliasArn","TargetKeyId"?,…}], "NextMarker"?, "Truncated"},
 * by alias name; KeyId (key ID or key ARN) lists that key's only; Limit
 * 1..100, default 50.  Without KeyId the unused AWS managed aliases come
 * first, without TargetKeyId. */
static void op_list_aliases(struct call *c, struct json_object *in)
{
	size_t n_unused = sizeof(unused_aws_aliases) / sizeof(unused_aws_aliases[0]), n = 0, m = 0, shown = 0, i;
	char after[512];
	struct json_object *out, *list;
	struct key **keys, *only = NULL;
	struct alias_row *rows;
	int64_t limit;

	if (json_object_object_get_ex(in, "KeyId", NULL) && !(only = resolve_key(c, in)))
		return;
	if (page_params(c, in, 100, 50, &limit, after, sizeof(after)) < 0 || !(keys = account_keys(c, &n)))
		return;
	rows = calloc(n + n_unused, sizeof(*rows));
	if (!rows) {
		free(keys);
		call_error(c, 500, "KMSInternalException", "fake-kms: out of memory");
		return;
	}
	for (i = 0; !only && i < n_unused; i++)
		rows[m++] = (struct alias_row){unused_aws_aliases[i], NULL};
	for (i = 0; i < n; i++)
		if (keys[i]->alias && (!only || keys[i] == only))
			rows[m++] = (struct alias_row){keys[i]->alias, keys[i]};
	qsort(rows, m, sizeof(*rows), compare_alias_rows);
	out = json_object_new_object();
	list = json_object_new_array();
	for (i = 0; i < m && after[0] && strcmp(rows[i].name, after) <= 0; i++)
		;
	for (; i < m && shown < (size_t)limit; i++, shown++)
		json_object_array_add(list, alias_entry(c->f, c->account, rows[i].name, rows[i].key));
	json_object_object_add(out, "Aliases", list);
	page_finish(c, out, i < m, shown ? rows[i - 1].name : "");
	free(rows);
	free(keys);
}

static enum op op_from_target(const char *target)
{
	int op;

	if (!target || strncmp(target, TARGET_PREFIX, strlen(TARGET_PREFIX)) != 0)
		return OP_UNKNOWN;
	op = op_from_string(target + strlen(TARGET_PREFIX));
	return op < 0 || op == OP_STS ? OP_UNKNOWN : (enum op)op;
}

static void op_run(struct call *c, struct json_object *in)
{
	switch (c->op) {
	case OP_CANCEL_KEY_DELETION:
		op_cancel_key_deletion(c, in);
		break;
	case OP_DESCRIBE_KEY:
		op_describe_key(c, in);
		break;
	case OP_ENABLE_KEY:
		op_enable_key(c, in);
		break;
	case OP_LIST_KEYS:
		op_list_keys(c, in);
		break;
	case OP_LIST_ALIASES:
		op_list_aliases(c, in);
		break;
	default:
		call_error(c, 400, "UnknownOperationException", "%s", "");
		break;
	}
}

/* The default status and message of an injected error, by its name. */
static void fault_error_defaults(const char *type, int *status, const char **message)
{
	static const struct {
		const char *type;
		int status;
		const char *message;
	} table[] = {
	    {"KMSInternalException", 500, "An internal error has occurred. The request can be retried."},
	    {"DependencyTimeoutException", 503, "The service is temporarily unavailable. The request can be retried."},
	    {"InternalFailure", 500, "The request processing has failed because of an unknown error."},
	    {"ServiceUnavailable", 503, "The request has failed due to a temporary failure of the server."},
	    {"ThrottlingException", 400,
	     "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."},
	};

	*status = 400;
	*message = "Injected by fake-kms.";
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (streq(type, table[i].type)) {
			*status = table[i].status;
			*message = table[i].message;
		}
	}
}

static void fault_apply(struct call *c, const struct fault *x)
{
	json_add_string(c->record, "fault", fault_kind_names[x->kind]);
	switch (x->kind) {
	case FAULT_FAIL:
		json_object_object_del(c->record, "error");
		call_error(c, x->status, x->error, "%s", x->message);
		break;
	case FAULT_DROP:
		c->mode = REPLY_DROP;
		break;
	case FAULT_GARBAGE:
		c->mode = REPLY_GARBAGE;
		break;
	case FAULT_TRUNCATE:
		c->mode = REPLY_TRUNCATE;
		c->reset = x->reset;
		break;
	case FAULT_ENDLESS:
		c->mode = REPLY_ENDLESS;
		c->trickle_ms = x->trickle_ms;
		break;
	case FAULT_HANG:
		c->mode = REPLY_HANG;
		break;
	case FAULT_RESPOND:
		json_object_object_del(c->record, "error");
		free(c->raw_body);
		c->raw_body = malloc(x->body_len ? x->body_len : 1);
		if (c->raw_body)
			memcpy(c->raw_body, x->body, x->body_len);
		c->raw_body_len = c->raw_body ? x->body_len : 0;
		c->status = x->status;
		break;
	default:
		break;
	}
}

/* Checks what evhttp does not: POST / with the awsJson1_1 content type. */
static int check_http(struct call *c)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
	const char *ct = evhttp_find_header(in, "Content-Type");

	if (evhttp_request_get_command(c->req) != EVHTTP_REQ_POST || !streq(evhttp_request_get_uri(c->req), "/")) {
		call_error(c, 404, "UnknownOperationException", "KMS only answers POST /");
		return -1;
	}
	if (!ct || !streq(ct, KMS_CONTENT_TYPE)) {
		call_error(c, 400, "SerializationException", "Content-Type must be %s, got '%s'", KMS_CONTENT_TYPE,
			   ct ? ct : "");
		return -1;
	}
	return 0;
}

static int64_t monotonic_us(void)
{
	return (int64_t)monotime_usec();
}

/* True if the operation's quota (POST /quota) has no token for this call. */
static bool quota_exceeded(struct fake *f, enum op op)
{
	struct quota *q = &f->quotas[op];
	int64_t now = monotonic_us();

	if (q->rps <= 0)
		return false;
	q->tokens += (double)(now - q->refilled_us) * (double)q->rps / 1e6;
	if (q->tokens > (double)q->rps)
		q->tokens = (double)q->rps;
	q->refilled_us = now;
	if (q->tokens < 1)
		return true;
	q->tokens -= 1;
	return false;
}

/* Runs one KMS call to the point where its reply is decided. */
static void serve(struct call *c)
{
	struct fake *f = c->f;
	struct evbuffer *buf = evhttp_request_get_input_buffer(c->req);
	size_t len = evbuffer_get_length(buf);
	const char *body = len ? (const char *)evbuffer_pullup(buf, -1) : "";
	struct json_object *in = NULL;
	struct fault *x;

	if (check_http(c) < 0 || verify_auth(c, body, len) < 0)
		return;
	if (c->op == OP_UNKNOWN) {
		call_error(c, 400, "UnknownOperationException", "%s", "");
		return;
	}
	in = json_parse(body, len);
	if (!in || !json_object_is_type(in, json_type_object)) {
		call_error(c, 400, "SerializationException", "The request body is not a JSON object.");
		json_object_put(in);
		return;
	}
	if (quota_exceeded(f, c->op)) {
		f->stats.throttled++;
		json_object_object_add(c->record, "throttled", json_object_new_boolean(true));
		call_error(c, 400, "ThrottlingException",
			   "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.");
		json_object_put(in);
		return;
	}
	x = fault_take(f, false, c->op);
	if (!x || x->process)
		op_run(c, in);
	if (x)
		fault_apply(c, x);
	fault_release(f, x);
	json_object_put(in);
}

/* evhttp writes a reply's head and body separately; without TCP_NODELAY the
 * second TLS record waits for the client's delayed ACK (~40 ms), which would
 * be the fake's latency, not the daemon's. */
static void set_nodelay(struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	int one = 1;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void kms_request_cb(struct evhttp_request *req, void *arg)
{
	struct fake *f = arg;
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *target = evhttp_find_header(in, "X-Amz-Target");
	struct fault *delay;
	struct call *c;

	set_nodelay(req);
	f->stats.requests++;
	c = call_new(f, req);
	if (!c) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	c->op = op_from_target(target);
	f->stats.ops[c->op]++;
	json_add_string(c->record, "target", target);
	json_add_string(c->record, "host", evhttp_find_header(evhttp_request_get_input_headers(c->req), "Host"));
	json_add_string(c->record, "operation", op_names[c->op]);
	delay = fault_take(f, true, c->op);
	if (delay) {
		c->delay_ms = delay->delay_ms;
		json_object_object_add(c->record, "delayMs", json_object_new_int64(delay->delay_ms));
		fault_release(f, delay);
	}
	serve(c);
	call_finish(c);
}

/* ---- STS (Query protocol, XML), on its own port --------------------------- */

/* An injected STS fault (POST /sts/fail). */
enum sts_fault_kind {
	STS_FAULT_ERROR,     /* an <ErrorResponse> */
	STS_FAULT_MALFORMED, /* HTTP 200 with XML cut short */
	STS_FAULT_DELAY,     /* the answer is held */
	STS_FAULT_DROP,      /* the connection is shut without an answer */
	_STS_FAULT_MAX,
};

static const char *const sts_fault_names[_STS_FAULT_MAX] = {
	[STS_FAULT_ERROR] = "error",
	[STS_FAULT_MALFORMED] = "malformed",
	[STS_FAULT_DELAY] = "delay",
	[STS_FAULT_DROP] = "drop",
};

struct sts_fault {
	enum sts_fault_kind kind;
	char *action;  /* NULL: any */
	char *account; /* the caller's (GetCallerIdentity) or the role's (AssumeRole); NULL: any */
	long count;
	int status;
	char *code, *message;
	long ms;
	TAILQ_ENTRY(sts_fault) entry;
};

/* An STS answer held by a delay fault. */
struct sts_reply {
	struct fake *f;
	struct evhttp_request *req;
	int status;
	char *body;
	bool drop;
	struct event *timer;
	TAILQ_ENTRY(sts_reply) entry;
};

static struct sts_fault *sts_fault_free(struct sts_fault *x)
{
	if (x) {
		free(x->action);
		free(x->account);
		free(x->code);
		free(x->message);
		free(x);
	}
	return NULL;
}

static void sts_faults_clear(struct fake *f)
{
	struct sts_fault *x;

	while ((x = TAILQ_FIRST(&f->sts_faults))) {
		TAILQ_REMOVE(&f->sts_faults, x, entry);
		sts_fault_free(x);
	}
}

/* Takes one count of the first rule for action and account; the caller
 * frees what it gets once the count is used up (returned detached then). */
static struct sts_fault *sts_fault_take(struct fake *f, const char *action, const char *account, bool *ret_last)
{
	struct sts_fault *x;

	TAILQ_FOREACH(x, &f->sts_faults, entry)
	{
		if ((x->action && !streq(x->action, action)) || (x->account && (!account || !streq(x->account, account))))
			continue;
		*ret_last = --x->count == 0;
		if (*ret_last)
			TAILQ_REMOVE(&f->sts_faults, x, entry);
		return x;
	}
	return NULL;
}

static void sts_send(struct evhttp_request *req, int status, const char *body, bool drop)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evbuffer_new();
	char request_id[37];

	make_uuid(request_id);
	evhttp_add_header(h, "Content-Type", "text/xml");
	evhttp_add_header(h, "x-amzn-RequestId", request_id);
	if (drop) {
		conn_shutdown(req);
		evhttp_add_header(h, "Connection", "close");
	} else if (out && body) {
		evbuffer_add(out, body, strlen(body));
	}
	evhttp_send_reply(req, status, reason_phrase(status), out);
	if (out)
		evbuffer_free(out);
}

static void sts_reply_free(struct sts_reply *r)
{
	if (r->timer)
		event_free(r->timer);
	free_secret(r->body);
	free(r);
}

static void sts_reply_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sts_reply *r = arg;

	TAILQ_REMOVE(&r->f->sts_pending, r, entry);
	sts_send(r->req, r->status, r->body, r->drop);
	sts_reply_free(r);
}

/* Sends now, or after delay_ms (the body is taken over either way). */
static void sts_answer(struct fake *f, struct evhttp_request *req, int status, char *body, bool drop, long delay_ms)
{
	struct sts_reply *r;
	struct timeval tv = timeval_from_msec(delay_ms);

	if (delay_ms > 0 && (r = calloc(1, sizeof(*r)))) {
		*r = (struct sts_reply){.f = f, .req = req, .status = status, .body = body, .drop = drop};
		r->timer = evtimer_new(f->base, sts_reply_timer_cb, r);
		if (r->timer && evtimer_add(r->timer, &tv) == 0) {
			TAILQ_INSERT_TAIL(&f->sts_pending, r, entry);
			return;
		}
		r->body = NULL;
		sts_reply_free(r);
	}
	sts_send(req, status, body, drop);
	free_secret(body);
}

static char *sts_error_xml(const char *code, const char *message)
{
	char *xml = NULL, id[37];

	make_uuid(id);
	if (asprintf(&xml,
		     "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
		     "  <Error>\n    <Type>Sender</Type>\n    <Code>%s</Code>\n    <Message>%s</Message>\n  </Error>\n"
		     "  <RequestId>%s</RequestId>\n</ErrorResponse>\n",
		     code, message, id) < 0)
		return NULL;
	return xml;
}

static void random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[64];

	if (n > sizeof(b) * 2)
		n = sizeof(b) * 2;
	if (RAND_bytes(b, (int)((n + 1) / 2)) != 1)
		memset(b, 0x5a, sizeof(b));
	for (size_t i = 0; i < n; i++)
		out[i] = hex[(b[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[n] = '\0';
}

/* arn:aws:iam::ACCOUNT:role/NAME: the account into ret and the name, or NULL. */
static const char *role_arn_parse(const char *arn, char ret_account[13])
{
	const char *p;

	if (strncmp(arn, "arn:", 4) != 0 || !(p = strstr(arn, ":iam::")))
		return NULL;
	p += 6;
	if (strspn(p, "0123456789") != 12 || strncmp(p + 12, ":role/", 6) != 0 || !p[18])
		return NULL;
	memcpy(ret_account, p, 12);
	ret_account[12] = '\0';
	return strrchr(p + 18, '/') ? strrchr(p + 18, '/') + 1 : p + 18;
}

static bool session_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("_+=,.@-", *s)))
			return false;
	return true;
}

/* AssumeRole or (action) AssumeRoleWithWebIdentity, whose token was
 * checked: issues credentials of the role's account, accepted by the fake
 * KMS and STS until they expire.  0 with *ret_xml, or -1 with code and
 * message set. */
static int sts_assume_role(struct fake *f, const char *action, struct evkeyvalq *q, char **ret_xml, const char **code,
			   char *msg, size_t size)
{
	const char *role = evhttp_find_header(q, "RoleArn"), *session = evhttp_find_header(q, "RoleSessionName");
	const char *external = evhttp_find_header(q, "ExternalId"), *duration = evhttp_find_header(q, "DurationSeconds");
	char account[13], akid[32], random_secret[41], random_token[129], when[32], id[37];
	char *secret, *token;
	const char *name = role ? role_arn_parse(role, account) : NULL;
	long seconds = 3600;
	struct principal *n;
	time_t expires;

	*code = "ValidationError";
	if (!name) {
		snprintf(msg, size, "RoleArn is missing or not a role ARN");
		return -1;
	}
	if (!session || !session_name_ok(session)) {
		snprintf(msg, size, "RoleSessionName is missing or not 2 to 64 characters of [\\w+=,.@-]");
		return -1;
	}
	if (duration) {
		char *end;

		seconds = strtol(duration, &end, 10);
		if (*end || seconds < 900 || seconds > 43200) {
			snprintf(msg, size, "DurationSeconds must be from 900 to 43200");
			return -1;
		}
	}
	if (streq(action, "AssumeRole") && f->opt.external_id && (!external || !streq(external, f->opt.external_id))) {
		*code = "AccessDenied";
		snprintf(msg, size, "User is not authorized to perform: sts:AssumeRole on resource: %s", role);
		return -1;
	}
	if (f->n_principals >= MAX_PRINCIPALS) {
		*code = "InternalFailure";
		snprintf(msg, size, "fake-kms: too many issued credentials");
		return -1;
	}
	if (f->opt.sts_duration)
		seconds = f->opt.sts_duration;
	expires = fake_now(f) + seconds;
	snprintf(akid, sizeof(akid), "ASIAFAKE%012" PRIu64, ++f->issued);
	random_hex(random_secret, 40);
	random_hex(random_token, 128);
	secret = f->sts_next_secret ? f->sts_next_secret : random_secret;
	token = f->sts_next_token ? f->sts_next_token : random_token;
	n = realloc(f->principals, (f->n_principals + 1) * sizeof(*n));
	if (!n)
		return -1;
	f->principals = n;
	n = &f->principals[f->n_principals];
	*n = (struct principal){.expires = expires};
	memcpy(n->account, account, 13);
	n->creds.access_key_id = strdup(akid);
	n->creds.secret = strdup(secret);
	n->creds.session_token = strdup(token);
	n->role_arn = strdup(role);
	f->n_principals++;
	if (timeutil_format_iso8601(expires, when, sizeof(when)) < 0)
		snprintf(when, sizeof(when), "1970-01-01T00:00:00Z");
	make_uuid(id);
	if (asprintf(
		ret_xml,
		"<%sResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
		"  <%sResult>\n"
		"    <AssumedRoleUser>\n      <AssumedRoleId>AROAFAKE:%s</AssumedRoleId>\n"
		"      <Arn>arn:aws:sts::%s:assumed-role/%s/%s</Arn>\n    </AssumedRoleUser>\n"
		"    <Credentials>\n      <AccessKeyId>%s</AccessKeyId>\n      <SecretAccessKey>%s</SecretAccessKey>\n"
		"      <SessionToken>%s</SessionToken>\n      <Expiration>%s</Expiration>\n    </Credentials>\n"
		"  </%sResult>\n"
		"  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n  </ResponseMetadata>\n"
		"</%sResponse>\n",
		action, action, session, account, name, session, akid, secret, token, when, action, id, action) < 0)
		return -1;
	explicit_bzero(random_secret, sizeof(random_secret));
	explicit_bzero(random_token, sizeof(random_token));
	/* A set given by PUT /sts/credentials is issued once. */
	free_secret(f->sts_next_secret);
	free_secret(f->sts_next_token);
	f->sts_next_secret = f->sts_next_token = NULL;
	*code = NULL;
	return 0;
}

static char *sts_identity_xml(const struct call *c)
{
	char *xml = NULL, id[37];

	make_uuid(id);
	if (asprintf(&xml,
		     "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
		     "  <GetCallerIdentityResult>\n    <Arn>arn:aws:iam::%s:user/fake</Arn>\n"
		     "    <UserId>AIDAFAKE</UserId>\n    <Account>%s</Account>\n  </GetCallerIdentityResult>\n"
		     "  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n  </ResponseMetadata>\n"
		     "</GetCallerIdentityResponse>\n",
		     c->account, c->account, id) < 0)
		return NULL;
	return xml;
}

static void sts_log(struct fake *f, struct json_object *record)
{
	size_t slot = f->n_sts_logged % REQUEST_LOG_SIZE;

	json_object_put(f->sts_log[slot]);
	f->sts_log[slot] = json_object_get(record);
	f->n_sts_logged++;
	logv(f, "sts: %s", json_object_to_json_string_ext(record, JSON_FLAGS));
}

/* One STS call: POST / with a form body, signed (SigV4, service sts) by
 * credentials the fake knows; GetCallerIdentity or AssumeRole. */
static void sts_request_cb(struct evhttp_request *req, void *arg)
{
	struct fake *f = arg;
	struct evkeyvalq *in = evhttp_request_get_input_headers(req), q = {0};
	struct evbuffer *buf = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(buf);
	char *body = strndup(len ? (const char *)evbuffer_pullup(buf, -1) : "", len), *xml = NULL, msg[512] = "";
	const char *ct = evhttp_find_header(in, "Content-Type"), *action = NULL, *code = NULL, *fault_account = NULL;
	struct call *c = call_new(f, req);
	struct sts_fault *x = NULL;
	char role_account[13], code_buf[128];
	bool last = false, web = false;
	int status = 200;

	set_nodelay(req);
	f->stats.sts_calls++;
	if (!c || !body) {
		evhttp_send_error(req, 500, NULL);
		goto out;
	}
	c->op = OP_STS;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST || !streq(evhttp_request_get_uri(req), "/") || !ct ||
	    strncmp(ct, "application/x-www-form-urlencoded", 33) != 0 || evhttp_parse_query_str(body, &q) < 0) {
		status = 400;
		code = "InvalidRequest";
		snprintf(msg, sizeof(msg), "STS takes POST / with an application/x-www-form-urlencoded body");
		goto answer;
	}
	action = evhttp_find_header(&q, "Action");
	json_add_string(c->record, "action", action);
	json_add_string(c->record, "host", evhttp_find_header(evhttp_request_get_input_headers(req), "Host"));
	if (!action || (!streq(action, "GetCallerIdentity") && !streq(action, "AssumeRole") &&
			!streq(action, "AssumeRoleWithWebIdentity"))) {
		status = 400;
		code = "InvalidAction";
		snprintf(msg, sizeof(msg), "Could not find operation %s for version 2011-06-15", action ? action : "");
		goto answer;
	}
	if (!streq(evhttp_find_header(&q, "Version") ? evhttp_find_header(&q, "Version") : "", "2011-06-15")) {
		status = 400;
		code = "InvalidParameterValue";
		snprintf(msg, sizeof(msg), "Version must be 2011-06-15");
		goto answer;
	}
	web = streq(action, "AssumeRoleWithWebIdentity");
	if (web) {
		/* Unsigned: the token is the credential. */
		const char *t = evhttp_find_header(&q, "WebIdentityToken");

		if (!f->opt.web_token || !t || !streq(t, f->opt.web_token)) {
			status = 400;
			code = "InvalidIdentityToken";
			snprintf(msg, sizeof(msg),
				 "the web identity token is not the one given with --web-identity-token");
			goto answer;
		}
	} else if (verify_auth(c, body, len) < 0) {
		struct json_object *e, *m;

		status = c->status == 400 && !json_object_object_get_ex(c->record, "error", NULL) ? 400 : c->status;
		/* A copy: the record's "error" member is replaced below, which
		 * frees the string it holds. */
		snprintf(code_buf, sizeof(code_buf), "%s",
			 json_object_object_get_ex(c->record, "error", &e) ? json_object_get_string(e) : "AccessDenied");
		code = code_buf;
		snprintf(msg, sizeof(msg), "%s",
			 json_object_object_get_ex(c->record, "message", &m) ? json_object_get_string(m) : "");
		goto answer;
	}
	fault_account = c->account;
	if ((streq(action, "AssumeRole") || web) && evhttp_find_header(&q, "RoleArn") &&
	    role_arn_parse(evhttp_find_header(&q, "RoleArn"), role_account)) {
		fault_account = role_account;
		json_add_string(c->record, "roleArn", evhttp_find_header(&q, "RoleArn"));
		json_add_string(c->record, "roleSessionName", evhttp_find_header(&q, "RoleSessionName"));
		json_object_object_add(c->record, "externalId",
				       json_object_new_boolean(evhttp_find_header(&q, "ExternalId") != NULL));
	}
	x = sts_fault_take(f, action, fault_account, &last);
	if (x) {
		json_add_string(c->record, "fault", sts_fault_names[x->kind]);
		if (x->kind == STS_FAULT_ERROR) {
			status = x->status;
			code = x->code;
			snprintf(msg, sizeof(msg), "%s", x->message);
			goto answer;
		}
		if (x->kind == STS_FAULT_MALFORMED) {
			xml = strdup("<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA");
			goto answer;
		}
	}
	if (streq(action, "GetCallerIdentity")) {
		f->stats.sts_get_caller_identity++;
		xml = sts_identity_xml(c);
	} else {
		if (web)
			f->stats.sts_assume_role_web++;
		else
			f->stats.sts_assume_role++;
		if (sts_assume_role(f, action, &q, &xml, &code, msg, sizeof(msg)) < 0)
			status = streq(code, "AccessDenied") ? 403 : 400;
	}
answer:
	if (!xml && !code)
		status = 500, code = "InternalFailure", snprintf(msg, sizeof(msg), "fake-kms: out of memory");
	if (code) {
		f->stats.sts_failures++;
		json_add_string(c->record, "error", code);
		free_secret(xml);
		xml = sts_error_xml(code, msg);
	}
	json_object_object_add(c->record, "status", json_object_new_int(status));
	sts_log(f, c->record);
	sts_answer(f, req, status, xml, x && x->kind == STS_FAULT_DROP,
		   x && x->kind == STS_FAULT_DELAY ? x->ms : 0);
out:
	if (last)
		sts_fault_free(x);
	evhttp_clear_headers(&q);
	free_secret(body);
	call_free(c);
}

/* STS connections are TLS too, but not counted with KMS's. */
static struct bufferevent *sts_bevcb(struct event_base *base, void *arg)
{
	struct fake *f = arg;
	SSL *ssl;

	f->stats.sts_connections++;
	if (f->opt.plain_http)
		return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	ssl = SSL_new(f->sts_ssl_ctx);
	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

/* ---- admin API ----------------------------------------------------------- */

static void admin_reply(struct evhttp_request *req, int status, struct json_object *body)
{
	struct evbuffer *out = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	if (out) {
		evbuffer_add_printf(out, "%s\n", json_object_to_json_string_ext(body, JSON_FLAGS));
		evhttp_send_reply(req, status, status < 300 ? "OK" : "Error", out);
		evbuffer_free(out);
	} else {
		evhttp_send_error(req, 500, NULL);
	}
	json_object_put(body);
}

static void admin_error(struct evhttp_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void admin_error(struct evhttp_request *req, int status, const char *fmt, ...)
{
	struct json_object *body = json_object_new_object();
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	json_add_string(body, "error", msg ? msg : "error");
	free(msg);
	admin_reply(req, status, body);
}

static void admin_ok(struct evhttp_request *req)
{
	struct json_object *body = json_object_new_object();

	json_object_object_add(body, "ok", json_object_new_boolean(true));
	admin_reply(req, 200, body);
}

/* The request body as a JSON object (an empty body counts as {}). */
static struct json_object *admin_body(struct evhttp_request *req)
{
	struct evbuffer *buf = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(buf);
	struct json_object *o;

	if (len == 0)
		return json_object_new_object();
	o = json_parse((const char *)evbuffer_pullup(buf, -1), len);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

static struct json_object *admin_key_json(const struct fake *f, const struct key *k)
{
	struct json_object *o = json_object_new_object();
	char *arn = arn_of(f, k);

	json_add_string(o, "KeyId", k->id);
	json_add_string(o, "Account", k->account);
	json_add_string(o, "Arn", arn);
	json_add_string(o, "KeyState", key_state_names[k->state]);
	if (k->state == KS_PENDING_DELETION)
		json_object_object_add(o, "DeletionDate", json_epoch(k->deletion_ms));
	json_add_string(o, "Description", k->description ? k->description : "");
	json_object_object_add(o, "MultiRegion", json_object_new_boolean(key_is_multi_region(k)));
	free(arn);
	return o;
}

static struct json_object *stats_json(const struct fake *f)
{
	const struct stats *s = &f->stats;
	struct json_object *o = json_object_new_object(), *ops = json_object_new_object();
	struct json_object *faults = json_object_new_object();

	json_object_object_add(o, "connections", json_object_new_uint64(s->connections));
	json_object_object_add(o, "tlsHandshakes", json_object_new_uint64(s->tls_handshakes));
	json_object_object_add(o, "tlsResumed", json_object_new_uint64(s->tls_resumed));
	json_object_object_add(o, "requests", json_object_new_uint64(s->requests));
	for (int i = 0; i < _OP_MAX; i++)
		json_object_object_add(ops, op_names[i], json_object_new_uint64(s->ops[i]));
	json_object_object_add(o, "operations", ops);
	json_object_object_add(o, "authFailures", json_object_new_uint64(s->auth_failures));
	json_object_object_add(o, "signatureFailures", json_object_new_uint64(s->signature_failures));
	json_object_object_add(o, "errors", json_object_get(s->errors));
	for (int i = 0; i < _FAULT_MAX; i++)
		json_object_object_add(faults, fault_kind_names[i], json_object_new_uint64(s->faults[i]));
	json_object_object_add(o, "faults", faults);
	json_object_object_add(o, "faultRulesPending", json_object_new_uint64(f->n_faults));
	json_object_object_add(o, "lagPending", json_object_new_int64(f->lag_count));
	json_object_object_add(o, "throttled", json_object_new_uint64(s->throttled));
	json_object_object_add(o, "hangsClosed", json_object_new_uint64(s->hangs_closed));
	json_object_object_add(o, "wrongAccount", json_object_new_uint64(s->wrong_account));
	json_object_object_add(o, "stsCalls", json_object_new_uint64(s->sts_calls));
	json_object_object_add(o, "stsAssumeRole", json_object_new_uint64(s->sts_assume_role));
	json_object_object_add(o, "stsGetCallerIdentity", json_object_new_uint64(s->sts_get_caller_identity));
	json_object_object_add(o, "stsAssumeRoleWithWebIdentity", json_object_new_uint64(s->sts_assume_role_web));
	json_object_object_add(o, "stsFailures", json_object_new_uint64(s->sts_failures));
	json_object_object_add(o, "stsConnections", json_object_new_uint64(s->sts_connections));
	json_object_object_add(o, "stsTlsHandshakes", json_object_new_uint64(s->sts_tls_handshakes));
	json_object_object_add(o, "issuedCredentials", json_object_new_uint64(f->issued));
	json_object_object_add(o, "clockOffset", json_object_new_int64(f->clock_offset));
	return o;
}

static void stats_reset(struct fake *f)
{
	json_object_put(f->stats.errors);
	memset(&f->stats, 0, sizeof(f->stats));
	f->stats.errors = json_object_new_object();
	for (size_t i = 0; i < REQUEST_LOG_SIZE; i++) {
		json_object_put(f->log[i]);
		f->log[i] = NULL;
	}
	f->n_logged = 0;
	for (size_t i = 0; i < REQUEST_LOG_SIZE; i++) {
		json_object_put(f->sts_log[i]);
		f->sts_log[i] = NULL;
	}
	f->n_sts_logged = 0;
}

static void admin_get_stats(struct fake *f, struct evhttp_request *req, const char *arg)
{
	admin_reply(req, 200, stats_json(f));
}

static void admin_get_requests(struct fake *f, struct evhttp_request *req, const char *arg)
{
	struct json_object *a = json_object_new_array();
	uint64_t first = f->n_logged > REQUEST_LOG_SIZE ? f->n_logged - REQUEST_LOG_SIZE : 0;

	for (uint64_t i = first; i < f->n_logged; i++)
		json_object_array_add(a, json_object_get(f->log[i % REQUEST_LOG_SIZE]));
	admin_reply(req, 200, a);
}

static void admin_get_keys(struct fake *f, struct evhttp_request *req, const char *arg)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < f->n_keys; i++)
		json_object_array_add(a, admin_key_json(f, f->keys[i]));
	admin_reply(req, 200, a);
}

static void admin_get_key(struct fake *f, struct evhttp_request *req, const char *id)
{
	struct key *k = key_find(f, id);

	if (!k)
		admin_error(req, 404, "no key %s", id);
	else
		admin_reply(req, 200, admin_key_json(f, k));
}

/* Creates or sets key id of the admin object in ({"KeyState", "Description"?,
 * "Account"?, "Alias"?}).  Returns it, or NULL with *ret_error set. */
static struct key *key_put(struct fake *f, const char *id, struct json_object *in, const char **ret_error)
{
	const char *state = NULL, *desc = NULL, *account = NULL, *alias = NULL;
	struct key *k;
	int st = -1;

	if (!in || !json_object_is_type(in, json_type_object) || json_get_string(in, "KeyState", &state) < 0 ||
	    json_get_string(in, "Description", &desc) < 0 || json_get_string(in, "Account", &account) < 0 ||
	    json_get_string(in, "Alias", &alias) < 0 || !state || (st = key_state_from_string(state)) < 0 ||
	    (alias && strncmp(alias, "alias/", 6) != 0) ||
	    (account && (strlen(account) != 12 || strspn(account, "0123456789") != 12))) {
		*ret_error =
		    "body must be {\"KeyState\": <a KMS key state>, \"Description\"?: string, \"Account\"?: 12 "
		    "digits, \"Alias\"?: \"alias/NAME\"}";
		return NULL;
	}
	k = key_get_or_create(f, account ? account : f->opt.account, id);
	if (!k) {
		*ret_error = "not a key ID (or too many keys)";
		return NULL;
	}
	key_set_state(f, k, st);
	if (desc) {
		free(k->description);
		k->description = strdup(desc);
	}
	if (alias) {
		free(k->alias);
		k->alias = strdup(alias);
	}
	return k;
}

/* PUT /keys/ID {"KeyState": "...", "Description": "..."}: creates or sets. */
static void admin_put_key(struct fake *f, struct evhttp_request *req, const char *id)
{
	struct json_object *in = admin_body(req);
	const char *error = NULL;
	struct key *k = key_put(f, id, in, &error);

	if (k)
		admin_reply(req, 200, admin_key_json(f, k));
	else
		admin_error(req, 400, "%s: %s", id, error);
	json_object_put(in);
}

/* POST /keys {"Keys": [{"KeyId", "KeyState", "Description"?, "Account"?,
 * "Alias"?}, ...]}: many at once (a scan's thousands of keys); stops at the
 * first bad one, keeping those before it.  Answers {"count": N}. */
static void admin_put_keys(struct fake *f, struct evhttp_request *req, const char *arg)
{
	struct json_object *in = admin_body(req), *list, *out;
	const char *error = NULL, *id = NULL;
	size_t i, n;

	if (!in || !json_object_object_get_ex(in, "Keys", &list) || !json_object_is_type(list, json_type_array)) {
		admin_error(req, 400, "body must be {\"Keys\": [{\"KeyId\": ID, \"KeyState\": STATE, ...}, ...]}");
		json_object_put(in);
		return;
	}
	n = json_object_array_length(list);
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(list, i);

		id = NULL;
		if (!json_object_is_type(e, json_type_object) || json_get_string(e, "KeyId", &id) < 0 || !id) {
			error = "each entry needs a \"KeyId\"";
			break;
		}
		if (!key_put(f, id, e, &error))
			break;
	}
	if (i < n) {
		admin_error(req, 400, "Keys[%zu] %s: %s (the %zu before it were set)", i, id ? id : "", error, i);
	} else {
		out = json_object_new_object();
		json_object_object_add(out, "count", json_object_new_uint64(n));
		admin_reply(req, 200, out);
	}
	json_object_put(in);
}

/* POST /schedule {"KeyId": ID, "PendingWindowInDays"?: 7..30 (30),
 * "Account"?: …}: ScheduleKeyDeletion as KMS does it (which the daemon
 * never sends): a key Enabled, Disabled, PendingImport or Unavailable goes
 * PendingDeletion, its DeletionDate that many days ahead (at the next
 * midnight UTC); any other state is KMSInvalidStateException (400).
 * Answers KMS's {"KeyId": ARN, "DeletionDate", "KeyState",
 * "PendingWindowInDays"}. */
static void admin_schedule(struct fake *f, struct evhttp_request *req, const char *arg)
{
	struct json_object *in = admin_body(req), *out;
	const char *id = NULL, *account = NULL;
	int64_t days = 30;
	struct key *k = NULL;
	char *arn;

	if (!in || json_get_string(in, "KeyId", &id) < 0 || !id || json_get_string(in, "Account", &account) < 0 ||
	    json_get_int(in, "PendingWindowInDays", 7, 30, &days) < 0) {
		admin_error(req, 400,
			    "body must be {\"KeyId\": ID, \"PendingWindowInDays\"?: 7..30, \"Account\"?: ID}");
		goto out;
	}
	k = key_find_in(f, account, id);
	if (!k) {
		admin_error(req, 404, "no key %s", id);
		goto out;
	}
	arn = arn_of(f, k);
	if (k->state != KS_ENABLED && k->state != KS_DISABLED && k->state != KS_PENDING_IMPORT &&
	    k->state != KS_UNAVAILABLE) {
		char msg[600];

		out = json_object_new_object();
		snprintf(msg, sizeof(msg), "%s is %s.", arn, key_state_phrases[k->state]);
		json_add_string(out, "__type", "KMSInvalidStateException");
		json_add_string(out, "message", msg);
		admin_reply(req, 400, out);
		free(arn);
		goto out;
	}
	{
		time_t t = fake_now(f) + (time_t)days * 86400;

		k->state = KS_PENDING_DELETION;
		k->stale = false;
		k->deletion_ms = (int64_t)(t - t % 86400 + 86400) * 1000;
	}
	out = json_object_new_object();
	json_add_string(out, "KeyId", arn);
	json_object_object_add(out, "DeletionDate", json_epoch(k->deletion_ms));
	json_add_string(out, "KeyState", key_state_names[k->state]);
	json_object_object_add(out, "PendingWindowInDays", json_object_new_int64(days));
	admin_reply(req, 200, out);
	free(arn);
out:
	json_object_put(in);
}

static void admin_delete_key(struct fake *f, struct evhttp_request *req, const char *id)
{
	if (key_delete(f, id) < 0)
		admin_error(req, 404, "no key %s", id);
	else
		admin_ok(req);
}

/* POST /respond: {"status"?: 200, "body"?: "", "repeat"?: 1}; the body is
 * sent repeat times over (a multi-megabyte body from a short rule). */
static int fault_parse_respond(struct fault *x, struct json_object *in)
{
	const char *body = "";
	int64_t status = 200, repeat = 1;
	size_t len;

	if (json_get_int(in, "status", 100, 599, &status) < 0 || json_get_string(in, "body", &body) < 0 ||
	    json_get_int(in, "repeat", 1, MAX_RESPOND_BYTES, &repeat) < 0)
		return -1;
	if (!body)
		body = "";
	len = strlen(body);
	if (len * (size_t)repeat > MAX_RESPOND_BYTES)
		return -1;
	x->status = (int)status;
	x->body_len = len * (size_t)repeat;
	x->body = malloc(x->body_len + 1);
	if (!x->body)
		return -1;
	for (int64_t i = 0; i < repeat; i++)
		memcpy(x->body + (size_t)i * len, body, len);
	x->body[x->body_len] = '\0';
	return 0;
}

/* Parses a fault rule of the given kind from an admin body. */
static struct fault *fault_parse(enum fault_kind kind, struct json_object *in)
{
	struct fault *x = calloc(1, sizeof(*x));
	const char *op = NULL, *error = NULL, *message = NULL;
	int64_t count = 1, status = 0, ms = -1, trickle = 0;

	if (!x)
		return NULL;
	x->kind = kind;
	x->op = -1;
	x->process = kind == FAULT_DROP || kind == FAULT_GARBAGE || kind == FAULT_TRUNCATE || kind == FAULT_ENDLESS;
	if (kind == FAULT_TRUNCATE && json_get_bool(in, "reset", &x->reset) < 0)
		return fault_free(x);
	if (kind == FAULT_ENDLESS && json_get_int(in, "trickleMs", 0, MAX_TRICKLE_MS, &trickle) < 0)
		return fault_free(x);
	if (kind == FAULT_RESPOND && fault_parse_respond(x, in) < 0)
		return fault_free(x);
	x->trickle_ms = trickle;
	if (json_get_int(in, "count", 1, 1000000, &count) < 0 || json_get_string(in, "operation", &op) < 0 ||
	    json_get_bool(in, "process", &x->process) < 0 || json_get_string(in, "error", &error) < 0 ||
	    json_get_string(in, "message", &message) < 0 || json_get_int(in, "status", 100, 599, &status) < 0 ||
	    json_get_int(in, "ms", 0, MAX_DELAY_MS, &ms) < 0)
		return fault_free(x);
	if ((op && (x->op = op_from_string(op)) < 0) || (kind == FAULT_FAIL && (!error || !*error)) ||
	    (kind == FAULT_DELAY && ms < 0))
		return fault_free(x);
	x->count = count;
	x->delay_ms = ms;
	if (kind == FAULT_FAIL) {
		const char *default_message;
		int default_status;

		fault_error_defaults(error, &default_status, &default_message);
		x->status = status ? (int)status : default_status;
		x->error = strdup(error);
		x->message = strdup(message ? message : default_message);
		if (!x->error || !x->message)
			return fault_free(x);
	}
	return x;
}

static void admin_add_fault(struct fake *f, struct evhttp_request *req, enum fault_kind kind)
{
	static const char *const usage[_FAULT_MAX] = {
	    [FAULT_FAIL] = ("{\"error\": NAME, \"status\"?: N, \"message\"?: S, \"count\"?: N, \"operation\"?: OP, "
			    "\"process\"?: bool}"),
	    [FAULT_DELAY] = "{\"ms\": N, \"count\"?: N, \"operation\"?: OP}",
	    [FAULT_DROP] = "{\"count\"?: N, \"operation\"?: OP, \"process\"?: bool}",
	    [FAULT_GARBAGE] = "{\"count\"?: N, \"operation\"?: OP, \"process\"?: bool}",
	    [FAULT_TRUNCATE] = "{\"reset\"?: bool, \"count\"?: N, \"operation\"?: OP, \"process\"?: bool}",
	    [FAULT_ENDLESS] = "{\"trickleMs\"?: N, \"count\"?: N, \"operation\"?: OP, \"process\"?: bool}",
	    [FAULT_RESPOND] = "{\"status\"?: N, \"body\"?: S, \"repeat\"?: N, \"count\"?: N, \"operation\"?: OP, "
			      "\"process\"?: bool}",
	    [FAULT_HANG] = "{\"count\"?: N, \"operation\"?: OP, \"process\"?: bool}",
	};
	struct json_object *in = admin_body(req);
	struct fault *x = in ? fault_parse(kind, in) : NULL;

	json_object_put(in);
	if (!x || f->n_faults >= MAX_FAULTS) {
		fault_free(x);
		admin_error(req, 400, "body must be %s (OP: CancelKeyDeletion, DescribeKey, EnableKey, Unknown)",
			    usage[kind]);
		return;
	}
	TAILQ_INSERT_TAIL(&f->faults, x, entry);
	f->n_faults++;
	admin_ok(req);
}

static void admin_fail(struct fake *f, struct evhttp_request *req, const char *arg)
{
	admin_add_fault(f, req, FAULT_FAIL);
}

static void admin_delay(struct fake *f, struct evhttp_request *req, const char *arg)
{
	admin_add_fault(f, req, FAULT_DELAY);
}

static void admin_drop(struct fake *f, struct evhttp_request *req, const char *arg)
{
	admin_add_fault(f, req, FAULT_DROP);
}

static void admin_garbage(struct fake *f, struct evhttp_request *req, const char *arg)
{
	admin_add_fault(f, req, FAULT_GARBAGE);
}

static void admin_truncate(struct fake *f, struct evhttp_request *req, const char *arg)
{
	admin_add_fault(f, req, FAULT_TRUNCATE);
}

static void admin_endless(struct fake *f, struct evhttp_request *req, const char *arg)
{
	admin_add_fault(f, req, FAULT_ENDLESS);
}

static void admin_respond(struct fake *f, struct evhttp_request *req, const char *arg)
{
	admin_add_fault(f, req, FAULT_RESPOND);
}

static void admin_hang(struct fake *f, struct evhttp_request *req, const char *arg)
{
	admin_add_fault(f, req, FAULT_HANG);
}

/* POST /lag {"count": N}: the next N DescribeKey/EnableKey calls on a key
 * that was cancelled see its state from before the cancel. */
static void admin_lag(struct fake *f, struct evhttp_request *req, const char *arg)
{
	struct json_object *in = admin_body(req);
	int64_t count = -1;

	if (!in || json_get_int(in, "count", 0, 1000000, &count) < 0 || count < 0)
		admin_error(req, 400, "body must be {\"count\": N}");
	else {
		f->lag_count = (long)count;
		admin_ok(req);
	}
	json_object_put(in);
}

/* POST /quota {"operation": NAME, "rps": N}: from now on, more than N calls
 * of that operation per second (a bucket of N tokens refilled at N/s, full
 * now) are answered with ThrottlingException.  rps 0 lifts the quota. */
static void admin_quota(struct fake *f, struct evhttp_request *req, const char *arg)
{
	struct json_object *in = admin_body(req);
	const char *name = NULL;
	int64_t rps = -1;
	int op = -1;

	if (!in || json_get_string(in, "operation", &name) < 0 || !name || (op = op_from_string(name)) < 0 ||
	    op == OP_UNKNOWN || json_get_int(in, "rps", 0, 1000000, &rps) < 0 || rps < 0) {
		admin_error(req, 400, "body must be {\"operation\": \"CancelKeyDeletion\"|…, \"rps\": N}");
	} else {
		f->quotas[op] = (struct quota){.rps = (long)rps, .tokens = (double)rps, .refilled_us = monotonic_us()};
		admin_ok(req);
	}
	json_object_put(in);
}

/* POST /clock {"offset": SECONDS}: shifts the fake's clock (X-Amz-Date
 * checks and the Date header), for clock-skew tests. */
static void admin_clock(struct fake *f, struct evhttp_request *req, const char *arg)
{
	struct json_object *in = admin_body(req), *out;
	char now[SIGV4_AMZ_DATE_SIZE];
	int64_t offset = INT64_MIN;

	if (!in || json_get_int(in, "offset", -366 * 86400, 366 * 86400, &offset) < 0 || offset == INT64_MIN) {
		admin_error(req, 400, "body must be {\"offset\": SECONDS}");
	} else {
		f->clock_offset = (long)offset;
		sigv4_format_amz_date(fake_now(f), now);
		out = json_object_new_object();
		json_object_object_add(out, "offset", json_object_new_int64(offset));
		json_add_string(out, "now", now);
		admin_reply(req, 200, out);
	}
	json_object_put(in);
}

/* PUT /credentials {"accessKeyId", "secretAccessKey", "sessionToken"?}:
 * accepts new credentials from now on; the old session token, if any, is
 * answered with ExpiredTokenException. */
static void admin_credentials(struct fake *f, struct evhttp_request *req, const char *arg)
{
	struct json_object *in = admin_body(req);
	const char *akid = NULL, *secret = NULL, *token = NULL;
	struct creds n = {0};

	if (!in || json_get_string(in, "accessKeyId", &akid) < 0 ||
	    json_get_string(in, "secretAccessKey", &secret) < 0 || json_get_string(in, "sessionToken", &token) < 0 ||
	    !akid || !*akid || !secret || !*secret) {
		admin_error(req, 400,
			    "body must be {\"accessKeyId\": S, \"secretAccessKey\": S, \"sessionToken\"?: S}");
		goto out;
	}
	n.access_key_id = strdup(akid);
	n.secret = strdup(secret);
	n.session_token = token ? strdup(token) : NULL;
	if (!n.access_key_id || !n.secret || (token && !n.session_token)) {
		free(n.access_key_id);
		free_secret(n.secret);
		free_secret(n.session_token);
		admin_error(req, 500, "out of memory");
		goto out;
	}
	if (f->creds.session_token) {
		free_secret(f->expired_token);
		f->expired_token = f->creds.session_token;
	}
	free(f->creds.access_key_id);
	free_secret(f->creds.secret);
	f->creds = n;
	admin_ok(req);
out:
	json_object_put(in);
}

/* POST /reset: clears fault rules, lag, the clock offset, counters and the
 * request log.  Keys and credentials stay. */
static void admin_reset(struct fake *f, struct evhttp_request *req, const char *arg)
{
	faults_clear(f);
	f->lag_count = 0;
	f->clock_offset = 0;
	memset(f->quotas, 0, sizeof(f->quotas));
	sts_faults_clear(f);
	stats_reset(f);
	admin_ok(req);
}

/* PUT /sts/credentials {"secretAccessKey": S, "sessionToken": S}: the next
 * AssumeRole answer issues this secret key and token instead of random ones
 * (so a test knows the role's secrets, e.g. to look for them in the
 * daemon's memory), and every set issued so far expires now: KMS answers
 * its token ExpiredTokenException, and a client must assume the role again. */
static void admin_sts_credentials(struct fake *f, struct evhttp_request *req, const char *arg)
{
	struct json_object *in = admin_body(req);
	const char *secret = NULL, *token = NULL;
	time_t now = fake_now(f);

	if (!in || json_get_string(in, "secretAccessKey", &secret) < 0 ||
	    json_get_string(in, "sessionToken", &token) < 0 || !secret || !*secret || !token || !*token) {
		admin_error(req, 400, "body must be {\"secretAccessKey\": S, \"sessionToken\": S}");
		goto out;
	}
	free_secret(f->sts_next_secret);
	free_secret(f->sts_next_token);
	f->sts_next_secret = strdup(secret);
	f->sts_next_token = strdup(token);
	if (!f->sts_next_secret || !f->sts_next_token) {
		free_secret(f->sts_next_secret);
		free_secret(f->sts_next_token);
		f->sts_next_secret = f->sts_next_token = NULL;
		admin_error(req, 500, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < f->n_principals; i++)
		if (f->principals[i].role_arn && (!f->principals[i].expires || f->principals[i].expires > now))
			f->principals[i].expires = now;
	admin_ok(req);
out:
	json_object_put(in);
}

/* POST /sts/fail {"kind"?:"error"|"malformed"|"delay"|"drop", "action"?, "account"?,
 * "count"?:1, "error"?:"AccessDenied", "status"?:403, "message"?, "ms"?} */
static void admin_sts_fail(struct fake *f, struct evhttp_request *req, const char *arg)
{
	struct json_object *in = admin_body(req);
	const char *kind = "error", *action = NULL, *account = NULL, *code = "AccessDenied", *message = NULL;
	int64_t count = 1, status = 0, ms = 0;
	struct sts_fault *x = calloc(1, sizeof(*x));
	int k = -1;

	if (!x || !in || json_get_string(in, "kind", &kind) < 0 || json_get_string(in, "action", &action) < 0 ||
	    json_get_string(in, "account", &account) < 0 || json_get_string(in, "error", &code) < 0 ||
	    json_get_string(in, "message", &message) < 0 || json_get_int(in, "count", 1, 1000000, &count) < 0 ||
	    json_get_int(in, "status", 100, 599, &status) < 0 || json_get_int(in, "ms", 0, MAX_DELAY_MS, &ms) < 0) {
		admin_error(req, 400, "bad /sts/fail body");
		goto out;
	}
	for (int i = 0; i < _STS_FAULT_MAX; i++)
		if (streq(kind ? kind : "error", sts_fault_names[i]))
			k = i;
	if (k < 0) {
		admin_error(req, 400, "kind must be error, malformed, delay or drop");
		goto out;
	}
	x->kind = (enum sts_fault_kind)k;
	x->count = (long)count;
	x->status = status ? (int)status : streq(code ? code : "", "AccessDenied") ? 403 : 400;
	x->ms = (long)ms;
	x->action = action ? strdup(action) : NULL;
	x->account = account ? strdup(account) : NULL;
	x->code = strdup(code ? code : "AccessDenied");
	x->message = strdup(message ? message : "Injected by fake-kms (STS).");
	TAILQ_INSERT_TAIL(&f->sts_faults, x, entry);
	x = NULL;
	admin_ok(req);
out:
	sts_fault_free(x);
	json_object_put(in);
}

static void admin_sts_requests(struct fake *f, struct evhttp_request *req, const char *arg)
{
	struct json_object *a = json_object_new_array();
	uint64_t first = f->n_sts_logged > REQUEST_LOG_SIZE ? f->n_sts_logged - REQUEST_LOG_SIZE : 0;

	for (uint64_t i = first; i < f->n_sts_logged; i++)
		json_object_array_add(a, json_object_get(f->sts_log[i % REQUEST_LOG_SIZE]));
	admin_reply(req, 200, a);
}

struct admin_route {
	enum evhttp_cmd_type method;
	const char *path; /* a trailing '/' matches a prefix; the rest is the argument */
	void (*handler)(struct fake *f, struct evhttp_request *req, const char *arg);
};

/* clang-format off */
static const struct admin_route admin_routes[] = {
	{EVHTTP_REQ_GET, "/stats", admin_get_stats},
	{EVHTTP_REQ_GET, "/requests", admin_get_requests},
	{EVHTTP_REQ_GET, "/keys", admin_get_keys},
	{EVHTTP_REQ_GET, "/keys/", admin_get_key},
	{EVHTTP_REQ_PUT, "/keys/", admin_put_key},
	{EVHTTP_REQ_POST, "/keys", admin_put_keys},
	{EVHTTP_REQ_POST, "/schedule", admin_schedule},
	{EVHTTP_REQ_DELETE, "/keys/", admin_delete_key},
	{EVHTTP_REQ_POST, "/fail", admin_fail},
	{EVHTTP_REQ_POST, "/delay", admin_delay},
	{EVHTTP_REQ_POST, "/drop", admin_drop},
	{EVHTTP_REQ_POST, "/garbage", admin_garbage},
	{EVHTTP_REQ_POST, "/truncate", admin_truncate},
	{EVHTTP_REQ_POST, "/endless", admin_endless},
	{EVHTTP_REQ_POST, "/respond", admin_respond},
	{EVHTTP_REQ_POST, "/hang", admin_hang},
	{EVHTTP_REQ_POST, "/lag", admin_lag},
	{EVHTTP_REQ_POST, "/clock", admin_clock},
	{EVHTTP_REQ_POST, "/quota", admin_quota},
	{EVHTTP_REQ_PUT, "/credentials", admin_credentials},
	{EVHTTP_REQ_POST, "/reset", admin_reset},
	{EVHTTP_REQ_POST, "/sts/fail", admin_sts_fail},
	{EVHTTP_REQ_PUT, "/sts/credentials", admin_sts_credentials},
	{EVHTTP_REQ_GET, "/sts/requests", admin_sts_requests},
};
/* clang-format on */

static void admin_request_cb(struct evhttp_request *req, void *arg)
{
	struct fake *f = arg;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	const char *uri = evhttp_request_get_uri(req);
	char *path = strndup(uri, strcspn(uri, "?"));
	bool path_known = false;

	for (size_t i = 0; path && i < sizeof(admin_routes) / sizeof(admin_routes[0]); i++) {
		const struct admin_route *r = &admin_routes[i];
		size_t len = strlen(r->path);
		bool prefix = r->path[len - 1] == '/';

		if (prefix ? strncmp(path, r->path, len) != 0 || !path[len] : !streq(path, r->path))
			continue;
		path_known = true;
		if (r->method == method) {
			r->handler(f, req, path + len);
			free(path);
			return;
		}
	}
	admin_error(req, path_known ? 405 : 404, "%s %s", path_known ? "method not allowed on" : "no such path",
		    path ? path : uri);
	free(path);
}

/* ---- listening ----------------------------------------------------------- */

static bool is_loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* Writes "PORT\n" to path via a temporary file and rename(), so a test
 * that polls for the file never reads it half-written. */
static int write_port_file(const char *path, int port)
{
	char *tmp = NULL;
	FILE *fp;
	int r = -1;

	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return -1;
	fp = fopen(tmp, "we");
	if (fp) {
		fprintf(fp, "%d\n", port);
		if (fclose(fp) == 0 && rename(tmp, path) == 0)
			r = 0;
	}
	if (r < 0) {
		fprintf(stderr, "fake-kms: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return r;
}

/* Binds http to the loopback address and port; returns the port or -1. */
static int bind_http(struct evhttp *http, const char *addr, int port)
{
	struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(http, addr, (ev_uint16_t)port);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (!bound || getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &len) < 0) {
		fprintf(stderr, "fake-kms: cannot listen on %s port %d: %s\n", addr, port, strerror(errno));
		return -1;
	}
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static struct evhttp *http_new(struct fake *f, void (*cb)(struct evhttp_request *, void *))
{
	struct evhttp *http = evhttp_new(f->base);

	if (!http)
		return NULL;
	evhttp_set_max_body_size(http, MAX_BODY_SIZE);
	evhttp_set_max_headers_size(http, MAX_HEADERS_SIZE);
	evhttp_set_timeout(http, f->opt.idle_timeout);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(http, cb, f);
	return http;
}

/* Starts both servers, then writes the admin port file and, last, the main
 * port file: once --port-file exists everything is ready. */
static int fake_listen(struct fake *f)
{
	int port, admin_port;

	f->kms_http = http_new(f, kms_request_cb);
	f->admin_http = http_new(f, admin_request_cb);
	if (f->admin_http)
		evhttp_set_max_body_size(f->admin_http, MAX_ADMIN_BODY);
	if (!f->kms_http || !f->admin_http)
		return -1;
	evhttp_set_bevcb(f->kms_http, kms_bevcb, f);
	port = bind_http(f->kms_http, f->opt.listen, f->opt.port);
	admin_port = bind_http(f->admin_http, f->opt.listen, 0);
	if (port < 0 || admin_port < 0)
		return -1;
	if (f->opt.admin_port_file && write_port_file(f->opt.admin_port_file, admin_port) < 0)
		return -1;
	if (f->opt.sts_port_file) {
		int sts_port;

		f->sts_http = http_new(f, sts_request_cb);
		if (!f->sts_http)
			return -1;
		evhttp_set_bevcb(f->sts_http, sts_bevcb, f);
		sts_port = bind_http(f->sts_http, f->opt.listen, 0);
		if (sts_port < 0 || write_port_file(f->opt.sts_port_file, sts_port) < 0)
			return -1;
		logv(f, "STS on port %d", sts_port);
	}
	logv(f, "listening on %s port %d (%s), admin port %d", f->opt.listen, port,
	     f->opt.plain_http ? "plain HTTP" : "HTTPS", admin_port);
	return write_port_file(f->opt.port_file, port);
}

/* ---- setup and teardown -------------------------------------------------- */

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct fake *f = arg;

	logv(f, "signal %d, exiting", (int)sig);
	event_base_loopbreak(f->base);
}

static int fake_init(struct fake *f)
{
	TAILQ_INIT(&f->faults);
	TAILQ_INIT(&f->pending);
	TAILQ_INIT(&f->sts_faults);
	TAILQ_INIT(&f->sts_pending);
	TAILQ_INIT(&f->raw);
	LIST_INIT(&f->conns);
	f->partition = strdup(region_partition(f->opt.region));
	f->stats.errors = json_object_new_object();
	f->creds.access_key_id = strdup(f->opt.access_key_id);
	f->creds.secret = strdup(f->opt.secret);
	f->creds.session_token = f->opt.session_token ? strdup(f->opt.session_token) : NULL;
	f->base = event_base_new();
	if (!f->partition || !f->stats.errors || !f->creds.access_key_id || !f->creds.secret || !f->base ||
	    (f->opt.session_token && !f->creds.session_token))
		return -1;
	if (f->opt.keys_file && keys_load(f, f->opt.keys_file) < 0)
		return -1;
	if (!f->opt.plain_http && !(f->ssl_ctx = tls_server_ctx(f)))
		return -1;
	if (!f->opt.plain_http && f->opt.sts_port_file) {
		if (!(f->sts_ssl_ctx = tls_server_ctx(f)))
			return -1;
		SSL_CTX_set_info_callback(f->sts_ssl_ctx, sts_tls_info_cb);
		SSL_CTX_set_session_id_context(f->sts_ssl_ctx, (const unsigned char *)"fake-sts", 8);
	}
	/* --account-creds: other accounts' keys, never expiring. */
	for (size_t i = 0; i < f->opt.n_extra; i++) {
		struct principal *n = realloc(f->principals, (f->n_principals + 1) * sizeof(*n));

		if (!n)
			return -1;
		f->principals = n;
		f->principals[f->n_principals++] = f->opt.extra[i];
	}
	f->sigterm = evsignal_new(f->base, SIGTERM, signal_cb, f);
	f->sigint = evsignal_new(f->base, SIGINT, signal_cb, f);
	if (!f->sigterm || !f->sigint || evsignal_add(f->sigterm, NULL) < 0 || evsignal_add(f->sigint, NULL) < 0)
		return -1;
	return 0;
}

/* Answers every call still waiting on a delay (evhttp_free() would leak the
 * requests of connections that already went away), then frees everything. */
static void fake_done(struct fake *f)
{
	struct call *c;
	struct conn *conn;

	struct sts_reply *sr;

	while ((c = TAILQ_FIRST(&f->pending))) {
		TAILQ_REMOVE(&f->pending, c, entry);
		call_send(c);
	}
	while ((sr = TAILQ_FIRST(&f->sts_pending))) {
		TAILQ_REMOVE(&f->sts_pending, sr, entry);
		sts_send(sr->req, sr->status, sr->body, sr->drop);
		sts_reply_free(sr);
	}
	if (f->sts_http)
		evhttp_free(f->sts_http);
	SSL_CTX_free(f->sts_ssl_ctx);
	sts_faults_clear(f);
	for (size_t i = 0; i < REQUEST_LOG_SIZE; i++)
		json_object_put(f->sts_log[i]);
	for (size_t i = 0; i < f->n_principals; i++) {
		free(f->principals[i].creds.access_key_id);
		free_secret(f->principals[i].creds.secret);
		free_secret(f->principals[i].creds.session_token);
		free(f->principals[i].role_arn);
	}
	free(f->principals);
	free(f->opt.extra);
	while ((c = TAILQ_FIRST(&f->raw)))
		raw_finish(c, false);
	if (f->kms_http)
		evhttp_free(f->kms_http);
	if (f->admin_http)
		evhttp_free(f->admin_http);
	while ((conn = LIST_FIRST(&f->conns))) {
		LIST_REMOVE(conn, entry);
		free(conn);
	}
	if (f->sigterm)
		event_free(f->sigterm);
	if (f->sigint)
		event_free(f->sigint);
	SSL_CTX_free(f->ssl_ctx);
	if (f->base)
		event_base_free(f->base);
	for (size_t i = 0; i < f->n_keys; i++)
		key_free(f->keys[i]);
	free(f->keys);
	faults_clear(f);
	for (size_t i = 0; i < REQUEST_LOG_SIZE; i++)
		json_object_put(f->log[i]);
	json_object_put(f->stats.errors);
	free(f->creds.access_key_id);
	free_secret(f->creds.secret);
	free_secret(f->creds.session_token);
	free_secret(f->expired_token);
	free_secret(f->sts_next_secret);
	free_secret(f->sts_next_token);
	free(f->partition);
}

static void usage(FILE *out)
{
	fputs("usage: fake-kms --cert FILE --key FILE --port-file FILE [--listen 127.0.0.1] [--port N]\n"
	      "                [--admin-port-file FILE] [--access-key AKID] [--secret SECRET]\n"
	      "                [--session-token TOKEN] [--region REGION] [--account ID] [--keys FILE]\n"
	      "                [--tls-max 1.0|1.1|1.2|1.3] [--idle-timeout SEC] [--plain-http] [--verbose]\n"
	      "                [--account-creds ACCOUNT:AKID:SECRET[:TOKEN]]... [--sts-port-file FILE]\n"
	      "                [--sts-duration SEC] [--external-id ID] [--web-identity-token TOKEN]\n"
	      "                [--no-verify-signature] [--sticky-pending]   (benchmarks only)\n",
	      out);
}

static int parse_int(const char *s, int min, int max, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*ret = (int)v;
	return 0;
}

/* Returns 0, 1 for --help, or -1 on a usage error. */
static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		O_CERT = 256,
		O_KEY,
		O_LISTEN,
		O_PORT,
		O_PORT_FILE,
		O_ADMIN_PORT_FILE,
		O_ACCESS_KEY,
		O_SECRET,
		O_SESSION_TOKEN,
		O_REGION,
		O_ACCOUNT,
		O_KEYS,
		O_TLS_MAX,
		O_IDLE_TIMEOUT,
		O_PLAIN_HTTP,
		O_VERBOSE,
		O_NO_VERIFY_SIGNATURE,
		O_STICKY_PENDING,
		O_ACCOUNT_CREDS,
		O_STS_PORT_FILE,
		O_STS_DURATION,
		O_EXTERNAL_ID,
		O_WEB_TOKEN,
		O_HELP
	};
	static const struct option longopts[] = {
	    {"cert", required_argument, NULL, O_CERT},
	    {"key", required_argument, NULL, O_KEY},
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"port", required_argument, NULL, O_PORT},
	    {"port-file", required_argument, NULL, O_PORT_FILE},
	    {"admin-port-file", required_argument, NULL, O_ADMIN_PORT_FILE},
	    {"access-key", required_argument, NULL, O_ACCESS_KEY},
	    {"secret", required_argument, NULL, O_SECRET},
	    {"session-token", required_argument, NULL, O_SESSION_TOKEN},
	    {"region", required_argument, NULL, O_REGION},
	    {"account", required_argument, NULL, O_ACCOUNT},
	    {"keys", required_argument, NULL, O_KEYS},
	    {"tls-max", required_argument, NULL, O_TLS_MAX},
	    {"idle-timeout", required_argument, NULL, O_IDLE_TIMEOUT},
	    {"plain-http", no_argument, NULL, O_PLAIN_HTTP},
	    {"verbose", no_argument, NULL, O_VERBOSE},
	    {"no-verify-signature", no_argument, NULL, O_NO_VERIFY_SIGNATURE},
	    {"sticky-pending", no_argument, NULL, O_STICKY_PENDING},
	    {"account-creds", required_argument, NULL, O_ACCOUNT_CREDS},
	    {"sts-port-file", required_argument, NULL, O_STS_PORT_FILE},
	    {"sts-duration", required_argument, NULL, O_STS_DURATION},
	    {"external-id", required_argument, NULL, O_EXTERNAL_ID},
	    {"web-identity-token", required_argument, NULL, O_WEB_TOKEN},
	    {"help", no_argument, NULL, O_HELP},
	    {0},
	};
	int c;

	*o = (struct options){
	    .listen = "127.0.0.1",
	    .access_key_id = "AKIDEXAMPLE",
	    .secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	    .region = "us-east-1",
	    .account = "111122223333",
	    .idle_timeout = 60,
	};
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_CERT:
			o->cert_file = optarg;
			break;
		case O_KEY:
			o->key_file = optarg;
			break;
		case O_LISTEN:
			o->listen = optarg;
			break;
		case O_PORT:
			if (parse_int(optarg, 0, 65535, &o->port) < 0)
				return -1;
			break;
		case O_PORT_FILE:
			o->port_file = optarg;
			break;
		case O_ADMIN_PORT_FILE:
			o->admin_port_file = optarg;
			break;
		case O_ACCESS_KEY:
			o->access_key_id = optarg;
			break;
		case O_SECRET:
			o->secret = optarg;
			break;
		case O_SESSION_TOKEN:
			o->session_token = optarg;
			break;
		case O_REGION:
			o->region = optarg;
			break;
		case O_ACCOUNT:
			o->account = optarg;
			break;
		case O_KEYS:
			o->keys_file = optarg;
			break;
		case O_TLS_MAX:
			o->tls_max = optarg;
			break;
		case O_IDLE_TIMEOUT:
			if (parse_int(optarg, 1, 86400, &o->idle_timeout) < 0)
				return -1;
			break;
		case O_PLAIN_HTTP:
			o->plain_http = true;
			break;
		case O_VERBOSE:
			o->verbose = true;
			break;
		case O_NO_VERIFY_SIGNATURE:
			o->no_verify_signature = true;
			break;
		case O_STICKY_PENDING:
			o->sticky_pending = true;
			break;
		case O_ACCOUNT_CREDS: {
			/* ACCOUNT:AKID:SECRET[:TOKEN]; the strings stay in argv */
			char *account = optarg, *akid = strchr(account, ':'), *secret, *token;
			struct principal *n;

			if (!akid || !(secret = strchr(akid + 1, ':')))
				return -1;
			*akid++ = '\0';
			*secret++ = '\0';
			token = strchr(secret, ':');
			if (token)
				*token++ = '\0';
			if (strlen(account) != 12 || strspn(account, "0123456789") != 12 || !*akid || !*secret)
				return -1;
			n = realloc(o->extra, (o->n_extra + 1) * sizeof(*n));
			if (!n)
				return -1;
			o->extra = n;
			n = &o->extra[o->n_extra++];
			*n = (struct principal){0};
			memcpy(n->account, account, 13);
			n->creds.access_key_id = strdup(akid);
			n->creds.secret = strdup(secret);
			n->creds.session_token = token && *token ? strdup(token) : NULL;
			break;
		}
		case O_STS_PORT_FILE:
			o->sts_port_file = optarg;
			break;
		case O_STS_DURATION:
			if (parse_int(optarg, 1, 43200, &o->sts_duration) < 0)
				return -1;
			break;
		case O_EXTERNAL_ID:
			o->external_id = optarg;
			break;
		case O_WEB_TOKEN:
			o->web_token = optarg;
			break;
		case O_HELP:
			return 1;
		default:
			return -1;
		}
	}
	if (optind != argc || !o->port_file || (!o->plain_http && (!o->cert_file || !o->key_file)))
		return -1;
	if (!is_loopback(o->listen)) {
		fprintf(stderr, "fake-kms: --listen must be a numeric loopback address, not %s\n", o->listen);
		return -1;
	}
	if (strlen(o->account) != 12 || strspn(o->account, "0123456789") != 12 || !*o->region || !*o->access_key_id ||
	    !*o->secret) {
		fprintf(stderr, "fake-kms: --account must be 12 digits; region, access key and secret non-empty\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct fake f = {0};
	int r;

	r = parse_options(argc, argv, &f.opt);
	if (r != 0) {
		usage(r > 0 ? stdout : stderr);
		return r > 0 ? 0 : 2;
	}
	/* A write to a connection the client already closed must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	r = fake_init(&f) == 0 && fake_listen(&f) == 0 ? 0 : 1;
	if (r == 0)
		event_base_dispatch(f.base);
	else
		fprintf(stderr, "fake-kms: startup failed\n");
	fake_done(&f);
	libevent_global_shutdown();
	return r;
}
