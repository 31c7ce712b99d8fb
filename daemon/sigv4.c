/* SPDX-License-Identifier: MIT */
/*
 * AWS Signature Version 4 signer (AWS.md §6).  Pure: no clock, no I/O, no
 * logging, so the same code signs in the daemon and verifies in the fake KMS,
 * and the AWS test-suite vectors can check it byte for byte.
 */
#include "sigv4.h"

#include "hex.h"
#include "strbuf.h"
#include "wipe.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define SHA256_SIZE  32
#define SCOPE_SUFFIX "aws4_request"
/* Longest region or service name we accept in a credential scope; real ones
 * are under 30 characters. */
#define SCOPE_PART_MAX 63
#define AKID_MAX       128

/* ---- character classes and validation ----------------------------------- */

static bool is_alnum(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3986 unreserved: the only bytes SigV4 leaves unencoded. */
static bool is_unreserved(unsigned char c)
{
	return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

/* RFC 9110 tchar: what header names and methods are made of. */
static bool is_tchar(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* Whitespace inside a header value, including the CR LF of obsolete line
 * folding: all of it collapses to one space in the canonical form. */
static bool is_value_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool valid_token(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

/* Credential-scope parts (region, service) and access key IDs end up in the
 * Authorization header between '/', ',' and '=': anything outside this set
 * would make the header ambiguous or, with CR/LF, inject headers. */
static bool valid_word(const char *s, size_t max)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (!(is_alnum(c) || c == '-' || c == '_' || c == '.') || n >= max)
			return false;
	}
	return n > 0;
}

static bool valid_scope_part(const char *s)
{
	return valid_word(s, SCOPE_PART_MAX);
}

static bool valid_akid(const char *s)
{
	return valid_word(s, AKID_MAX);
}

static int two_digits(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* YYYYMMDD with a plausible month and day; rejects the all-zero date that
 * sigv4_format_amz_date writes for an out-of-range time. */
static bool valid_date8_prefix(const char *s)
{
	for (int i = 0; i < 8; i++)
		if (!is_digit(s[i]))
			return false;
	int month = two_digits(s + 4), day = two_digits(s + 6);
	return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

static bool valid_date8(const char *s)
{
	return s && strnlen(s, 9) == 8 && valid_date8_prefix(s);
}

/* YYYYMMDDTHHMMSSZ (ISO 8601 basic, UTC), as X-Amz-Date carries it. */
static bool valid_amz_date(const char *s)
{
	if (!s || strnlen(s, SIGV4_AMZ_DATE_SIZE) != SIGV4_AMZ_DATE_SIZE - 1)
		return false;
	if (!valid_date8_prefix(s) || s[8] != 'T' || s[15] != 'Z')
		return false;
	for (int i = 9; i < 15; i++)
		if (!is_digit(s[i]))
			return false;
	return two_digits(s + 9) <= 23 && two_digits(s + 11) <= 59 && two_digits(s + 13) <= 60;
}

/* ---- crypto helpers ------------------------------------------------------ */

static void hex_lower(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/*
 * OpenSSL 3 looks an algorithm up by name (a lock and a hash table walk) on
 * every EVP_sha256()-style call, and sets up a fresh context (allocations,
 * parameter parsing) for every one-shot digest: for the few hundred bytes a
 * request hashes, that cost more than the hashing itself.  So SHA-256 is
 * fetched once and one digest context is reused for every hash.
 *
 * HMAC goes through EVP_MAC, so that whichever provider serves SHA-256 (the
 * FIPS provider in a FIPS-configured OpenSSL) also computes every MAC;
 * "HMAC" is fetched once.  Keying an HMAC context hashes the padded key
 * twice and allocates, so the context keyed with the last signing key is
 * kept (see signing_ctx) and only re-initialised per request.  This makes
 * the signer single-threaded (so are the daemon and the fakes).  The
 * fetched algorithms stay allocated until exit.
 */
static EVP_MD *sha256_md;
static EVP_MD_CTX *sha256_ctx;
static EVP_MAC *hmac_mac;

static bool crypto_init(void)
{
	if (!sha256_md)
		sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!sha256_ctx)
		sha256_ctx = EVP_MD_CTX_new();
	if (!hmac_mac)
		hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	return sha256_md && sha256_ctx && hmac_mac;
}

struct chunk {
	const void *p;
	size_t n;
};

/* SHA-256 of the n chunks one after the other.  A successful final leaves
 * only the digest in the context (OpenSSL wipes the block buffer); a failed
 * one resets it, since the state may hold part of a secret. */
static bool sha256_chunks(const struct chunk *c, size_t n, uint8_t out[SHA256_SIZE])
{
	unsigned int len = 0;
	bool ok = crypto_init() && EVP_DigestInit_ex2(sha256_ctx, sha256_md, NULL) == 1;

	for (size_t i = 0; ok && i < n; i++)
		ok = c[i].n == 0 || EVP_DigestUpdate(sha256_ctx, c[i].p, c[i].n) == 1;
	ok = ok && EVP_DigestFinal_ex(sha256_ctx, out, &len) == 1 && len == SHA256_SIZE;
	if (!ok)
		EVP_MD_CTX_reset(sha256_ctx);
	return ok;
}

static bool sha256(const void *data, size_t n, uint8_t out[SHA256_SIZE])
{
	return sha256_chunks(&(struct chunk){data, n}, 1, out);
}

/* A new HMAC-SHA256 context keyed with key, or NULL.  EVP_MAC_CTX_free
 * wipes what it holds (the padded-key states and OpenSSL's copy of the key,
 * kept in its secure heap). */
static EVP_MAC_CTX *hmac_new(const void *key, size_t key_len)
{
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *ctx;

	if (!crypto_init())
		return NULL;
	ctx = EVP_MAC_CTX_new(hmac_mac);
	if (ctx && EVP_MAC_init(ctx, key, key_len, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* MAC of data on a keyed context (re-initialised first, which reuses the
 * key already hashed into it). */
static bool hmac_run(EVP_MAC_CTX *ctx, const void *data, size_t data_len, uint8_t out[SHA256_SIZE])
{
	size_t len = 0;

	return EVP_MAC_init(ctx, NULL, 0, NULL) == 1 && EVP_MAC_update(ctx, data, data_len) == 1 &&
	       EVP_MAC_final(ctx, out, &len, SHA256_SIZE) == 1 && len == SHA256_SIZE;
}

/* One-shot HMAC-SHA256, for the key derivation chain: a context of its own,
 * freed (so wiped) before returning. */
static bool hmac_sha256(const void *key, size_t key_len, const void *data, size_t data_len, uint8_t out[SHA256_SIZE])
{
	EVP_MAC_CTX *ctx = hmac_new(key, key_len);
	bool ok = ctx && hmac_run(ctx, data, data_len, out);

	EVP_MAC_CTX_free(ctx);
	return ok;
}

/* The context keyed with the last signing key, and that key (to recognise
 * it).  The slot lives in the secure heap like the key cache (the key signs
 * for a day); the context's padded-key states are in OpenSSL's ordinary
 * heap, wiped when it is freed. */
struct signing_slot {
	EVP_MAC_CTX *ctx;
	uint8_t key[SIGV4_KEY_SIZE];
};
static struct signing_slot *signing;

/* Drops the kept context and wipes its key (credential change, cache freed). */
static void signing_forget(void)
{
	if (!signing)
		return;
	EVP_MAC_CTX_free(signing->ctx);
	OPENSSL_secure_clear_free(signing, sizeof(*signing));
	signing = NULL;
}

/*
 * The HMAC context keyed with key: the kept one when key is the last
 * signing key (the daemon signs with one key per day and region, so nearly
 * always), otherwise a new one replacing it.  NULL on failure.
 */
static EVP_MAC_CTX *signing_ctx(const uint8_t key[SIGV4_KEY_SIZE])
{
	if (signing && CRYPTO_memcmp(signing->key, key, SIGV4_KEY_SIZE) == 0)
		return signing->ctx;
	signing_forget();
	signing = OPENSSL_secure_zalloc(sizeof(*signing));
	if (!signing)
		return NULL;
	signing->ctx = hmac_new(key, SIGV4_KEY_SIZE);
	if (!signing->ctx) {
		signing_forget();
		return NULL;
	}
	memcpy(signing->key, key, SIGV4_KEY_SIZE);
	return signing->ctx;
}

/* ---- public: dates and hashes ------------------------------------------- */

/* Writes v (0 ≤ v < 10^width) as exactly width decimal digits. */
static char *put_digits(char *out, int v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		out[i] = (char)('0' + v % 10);
	return out + width;
}

void sigv4_format_amz_date(time_t t, char ret[SIGV4_AMZ_DATE_SIZE])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
		memcpy(ret, "00000000T000000Z", SIGV4_AMZ_DATE_SIZE);
		return;
	}
	/* By hand rather than strftime: %Y is not zero-padded for years
	 * below 1000, and no locale can get in the way. */
	char *p = put_digits(ret, tm.tm_year + 1900, 4);
	p = put_digits(p, tm.tm_mon + 1, 2);
	p = put_digits(p, tm.tm_mday, 2);
	*p++ = 'T';
	p = put_digits(p, tm.tm_hour, 2);
	p = put_digits(p, tm.tm_min, 2);
	p = put_digits(p, tm.tm_sec, 2);
	*p++ = 'Z';
	*p = '\0';
}

int sigv4_payload_hash(const void *payload, size_t payload_len, char ret_hex[SIGV4_HEX_SIZE])
{
	uint8_t digest[SHA256_SIZE];

	if (!ret_hex || (!payload && payload_len > 0))
		return -EINVAL;
	if (!sha256(payload, payload_len, digest))
		return -EIO;
	hex_lower(digest, sizeof(digest), ret_hex);
	return 0;
}

/* ---- canonical request ---------------------------------------------------- */

/* UriEncode (§6 step 3): every byte but the unreserved ones as %XY with
 * upper-case hex; keep_slash leaves '/' alone for paths. */
static void uri_encode(struct strbuf *b, const char *s, size_t n, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_unreserved(c) || (keep_slash && c == '/')) {
			strbuf_addc(b, (char)c);
		} else {
			char e[3] = {'%', digits[c >> 4], digits[c & 0xf]};
			strbuf_add(b, e, sizeof(e));
		}
	}
}

/* Canonical URI (§6 step 2).  Normalisation follows botocore's
 * remove_dot_segments: empty and "." segments go, ".." drops the previous
 * segment (never above the root), and a trailing '/' survives only if the
 * raw path had one and something is left.  Each kept segment is encoded
 * once; encoded segments never contain '/', so ".." can pop by cutting the
 * output back to its last '/'. */
static void canonical_uri(struct strbuf *b, const char *path, bool normalize)
{
	size_t n = strlen(path);

	if (n == 0) {
		strbuf_addc(b, '/');
		return;
	}
	if (!normalize) {
		uri_encode(b, path, n, true);
		return;
	}

	size_t start = b->len;
	const char *p = path, *end = path + n;
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t seg = (size_t)((slash ? slash : end) - p);

		if (seg == 2 && p[0] == '.' && p[1] == '.') {
			size_t l = b->len;
			while (l > start && b->p[l - 1] != '/')
				l--;
			strbuf_truncate(b, l > start ? l - 1 : start);
		} else if (seg > 0 && !(seg == 1 && p[0] == '.')) {
			strbuf_addc(b, '/');
			uri_encode(b, p, seg, false);
		}
		p = slash ? slash + 1 : end;
	}
	if (b->len > start && path[n - 1] == '/')
		strbuf_addc(b, '/');
	if (b->len == start)
		strbuf_addc(b, '/');
}

/* One query name or value: valid %XX escapes are decoded and the result
 * encoded again, so a parameter signs the same whether the caller wrote it
 * raw or already escaped (get-vanilla-utf8-query versus
 * get-vanilla-query-order-encoded).  A '%' without two hex digits after it
 * is a literal '%'. */
static void query_component(struct strbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%' && i + 2 < n && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
			c = (char)(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
			i += 2;
		}
		uri_encode(b, &c, 1, false);
	}
}

struct query_param {
	char *name;
	char *value;
};

static int query_param_compare(const void *a, const void *b)
{
	const struct query_param *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	return r ? r : strcmp(x->value, y->value);
}

/* Canonical query string (§6 step 4): split on '&' (empty pieces dropped),
 * name=value at the first '=', each side encoded, sorted by encoded name
 * then value (byte order), "name=" for a bare name. */
static int canonical_query(struct strbuf *b, const char *query)
{
	struct query_param *params = NULL;
	size_t n = 0, max = 1;
	int r = -ENOMEM;

	if (!query || !*query)
		return 0;
	for (const char *q = query; *q; q++)
		max += *q == '&';
	params = calloc(max, sizeof(*params));
	if (!params)
		return -ENOMEM;

	for (const char *p = query; *p;) {
		size_t len = strcspn(p, "&");
		if (len > 0) {
			const char *eq = memchr(p, '=', len);
			size_t nlen = eq ? (size_t)(eq - p) : len;
			struct strbuf name = {0}, value = {0};

			query_component(&name, p, nlen);
			if (eq)
				query_component(&value, eq + 1, len - nlen - 1);
			params[n].name = strbuf_steal(&name);
			params[n].value = strbuf_steal(&value);
			if (!params[n].name || !params[n].value) {
				n++;
				goto out;
			}
			n++;
		}
		p += len;
		if (*p == '&')
			p++;
	}

	qsort(params, n, sizeof(*params), query_param_compare);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strbuf_addc(b, '&');
		strbuf_adds(b, params[i].name);
		strbuf_addc(b, '=');
		strbuf_adds(b, params[i].value);
	}
	r = 0;
out:
	for (size_t i = 0; i < n; i++) {
		free(params[i].name);
		free(params[i].value);
	}
	free(params);
	return r;
}

struct header_ref {
	char *lname; /* lower-cased copy of the name */
	const char *value;
	size_t index; /* position in the request, to keep duplicates in order */
};

/* By name, then by original position: qsort is not stable, and repeated
 * headers must be joined in the order they were given. */
static int header_ref_compare(const void *a, const void *b)
{
	const struct header_ref *x = a, *y = b;
	int r = strcmp(x->lname, y->lname);
	if (r)
		return r;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Canonical header value (§6 step 5): leading and trailing whitespace gone,
 * every inner run of spaces, tabs and folded line breaks one space. */
static void canonical_header_value(struct strbuf *b, const char *v)
{
	bool started = false;

	for (;;) {
		while (is_value_space(*v))
			v++;
		if (!*v)
			return;
		if (started)
			strbuf_addc(b, ' ');
		started = true;
		/* Whole runs at once: a value is appended in one or a few calls. */
		size_t run = 0;
		while (v[run] && !is_value_space(v[run]))
			run++;
		strbuf_add(b, v, run);
		v += run;
	}
}

/* CanonicalHeaders and SignedHeaders (§6 steps 5–6). */
static int canonical_headers(struct strbuf *b, struct strbuf *signed_headers, const struct sigv4_header *headers,
			     size_t n)
{
	struct header_ref *refs;
	size_t done = 0;
	int r = -ENOMEM;

	if (n == 0)
		return 0;
	refs = calloc(n, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (; done < n; done++) {
		const char *name = headers[done].name;
		if (!valid_token(name) || !headers[done].value) {
			r = -EINVAL;
			goto out;
		}
		refs[done].lname = strdup(name);
		if (!refs[done].lname)
			goto out;
		for (char *c = refs[done].lname; *c; c++)
			*c = ascii_lower(*c);
		refs[done].value = headers[done].value;
		refs[done].index = done;
	}

	qsort(refs, n, sizeof(*refs), header_ref_compare);
	for (size_t i = 0; i < n; i++) {
		bool first = i == 0 || strcmp(refs[i - 1].lname, refs[i].lname) != 0;
		if (first) {
			if (i > 0) {
				strbuf_addc(b, '\n');
				strbuf_addc(signed_headers, ';');
			}
			strbuf_adds(b, refs[i].lname);
			strbuf_addc(b, ':');
			strbuf_adds(signed_headers, refs[i].lname);
		} else {
			strbuf_addc(b, ',');
		}
		canonical_header_value(b, refs[i].value);
	}
	strbuf_addc(b, '\n');
	r = 0;
out:
	for (size_t i = 0; i < done; i++)
		free(refs[i].lname);
	free(refs);
	return r;
}

/*
 * Builds Method\nCanonicalURI\nCanonicalQuery\nCanonicalHeaders\n
 * SignedHeaders\nHexPayloadHash.  -EINVAL for a missing or malformed method,
 * a path that is not absolute, an invalid header name, a NULL value, more
 * than SIGV4_MAX_HEADERS headers, or payload NULL with a length.
 */
int sigv4_canonical_request(const struct sigv4_request *req, char **ret_canonical, char **ret_signed_headers)
{
	struct strbuf b = {0}, sh = {0};
	char payload_hash[SIGV4_HEX_SIZE];
	int r;

	if (!req || !ret_canonical || !ret_signed_headers || !valid_token(req->method) || !req->path ||
	    (req->path[0] != '\0' && req->path[0] != '/') || (!req->headers && req->n_headers > 0) ||
	    req->n_headers > SIGV4_MAX_HEADERS)
		return -EINVAL;
	r = sigv4_payload_hash(req->payload, req->payload_len, payload_hash);
	if (r < 0)
		return r;

	strbuf_adds(&b, req->method);
	strbuf_addc(&b, '\n');
	canonical_uri(&b, req->path, req->normalize_path);
	strbuf_addc(&b, '\n');
	r = canonical_query(&b, req->query);
	if (r < 0)
		goto fail;
	strbuf_addc(&b, '\n');
	r = canonical_headers(&b, &sh, req->headers, req->n_headers);
	if (r < 0)
		goto fail;
	strbuf_addc(&b, '\n');
	strbuf_add(&b, sh.p, sh.len);
	strbuf_addc(&b, '\n');
	strbuf_adds(&b, payload_hash);

	char *canonical = strbuf_steal(&b), *signed_headers = strbuf_steal(&sh);
	if (!canonical || !signed_headers) {
		wipe_free_string(canonical);
		free(signed_headers);
		return -ENOMEM;
	}
	*ret_canonical = canonical;
	*ret_signed_headers = signed_headers;
	return 0;
fail:
	strbuf_done(&b);
	strbuf_done(&sh);
	return r;
}

/* ---- string to sign, key, signature ------------------------------------- */

int sigv4_string_to_sign(const char *amz_date, const char *region, const char *service, const char *canonical_request,
			 char **ret)
{
	uint8_t digest[SHA256_SIZE];
	char hex[SIGV4_HEX_SIZE];
	struct strbuf b = {0};
	char *s;

	if (!valid_amz_date(amz_date) || !valid_scope_part(region) || !valid_scope_part(service) ||
	    !canonical_request || !ret)
		return -EINVAL;
	if (!sha256(canonical_request, strlen(canonical_request), digest))
		return -EIO;
	hex_lower(digest, sizeof(digest), hex);

	strbuf_adds(&b, SIGV4_ALGORITHM "\n");
	strbuf_adds(&b, amz_date);
	strbuf_addc(&b, '\n');
	strbuf_add(&b, amz_date, 8);
	strbuf_addc(&b, '/');
	strbuf_adds(&b, region);
	strbuf_addc(&b, '/');
	strbuf_adds(&b, service);
	strbuf_adds(&b, "/" SCOPE_SUFFIX "\n");
	strbuf_adds(&b, hex);
	s = strbuf_steal(&b);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

/*
 * The HMAC chain of §6 step 9.  "AWS4"+secret and every intermediate key are
 * as secret as the secret itself (kDate alone signs for every region on that
 * day), so all of them are wiped before returning, success or not.
 */
int sigv4_derive_key(const char *secret, const char *date8, const char *region, const char *service,
		     uint8_t ret_key[SIGV4_KEY_SIZE])
{
	uint8_t k1[SHA256_SIZE], k2[SHA256_SIZE];
	uint8_t *k0;
	size_t slen;
	int r = -EIO;

	if (!secret || !valid_date8(date8) || !valid_scope_part(region) || !valid_scope_part(service) || !ret_key)
		return -EINVAL;
	slen = strnlen(secret, SIGV4_MAX_SECRET_SIZE + 1);
	if (slen == 0 || slen > SIGV4_MAX_SECRET_SIZE)
		return -EINVAL;
	k0 = malloc(4 + slen);
	if (!k0)
		return -ENOMEM;
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, secret, slen);

	if (!hmac_sha256(k0, 4 + slen, date8, 8, k1) ||                           /* kDate */
	    !hmac_sha256(k1, sizeof(k1), region, strlen(region), k2) ||           /* kRegion */
	    !hmac_sha256(k2, sizeof(k2), service, strlen(service), k1) ||         /* kService */
	    !hmac_sha256(k1, sizeof(k1), SCOPE_SUFFIX, strlen(SCOPE_SUFFIX), k2)) /* kSigning */
		goto out;
	memcpy(ret_key, k2, SIGV4_KEY_SIZE);
	r = 0;
out:
	OPENSSL_cleanse(k0, 4 + slen);
	free(k0);
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	return r;
}

int sigv4_signature(const uint8_t key[SIGV4_KEY_SIZE], const char *string_to_sign, char ret_hex[65])
{
	uint8_t mac[SHA256_SIZE];

	if (!key || !string_to_sign || !ret_hex)
		return -EINVAL;
	EVP_MAC_CTX *ctx = signing_ctx(key);
	if (!ctx || !hmac_run(ctx, string_to_sign, strlen(string_to_sign), mac)) {
		signing_forget(); /* start from a fresh context next time */
		return -EIO;
	}
	hex_lower(mac, sizeof(mac), ret_hex);
	return 0;
}

/* True if headers[] has exactly one x-amz-date and its trimmed value is
 * amz_date: a request whose signed date differs from the scope date would be
 * refused by AWS, so refuse it here where the cause is obvious. */
static bool has_amz_date(const struct sigv4_header *headers, size_t n, const char *amz_date)
{
	size_t found = 0;
	bool match = false;

	for (size_t i = 0; i < n; i++) {
		if (!headers[i].name || strcasecmp(headers[i].name, "x-amz-date") != 0)
			continue;
		found++;
		const char *v = headers[i].value;
		if (!v)
			continue;
		while (is_value_space(*v))
			v++;
		size_t len = strlen(v);
		while (len > 0 && is_value_space(v[len - 1]))
			len--;
		match = len == strlen(amz_date) && memcmp(v, amz_date, len) == 0;
	}
	return found == 1 && match;
}

/*
 * Canonical request → string to sign → signature → header value, in one
 * call for the common case.  -EINVAL for any malformed input (including an
 * access key ID with characters that do not belong in a header).
 */
int sigv4_authorization(const struct sigv4_request *req, const char *access_key_id, const uint8_t key[SIGV4_KEY_SIZE],
			const char *amz_date, const char *region, const char *service, char **ret_authorization)
{
	char *canonical = NULL, *signed_headers = NULL, *sts = NULL, *auth;
	char signature[SIGV4_HEX_SIZE];
	struct strbuf b = {0};
	int r;

	if (!req || !valid_akid(access_key_id) || !key || !valid_amz_date(amz_date) || !valid_scope_part(region) ||
	    !valid_scope_part(service) || !ret_authorization || (!req->headers && req->n_headers > 0) ||
	    !has_amz_date(req->headers, req->n_headers, amz_date))
		return -EINVAL;

	r = sigv4_canonical_request(req, &canonical, &signed_headers);
	if (r < 0)
		goto out;
	r = sigv4_string_to_sign(amz_date, region, service, canonical, &sts);
	if (r < 0)
		goto out;
	r = sigv4_signature(key, sts, signature);
	if (r < 0)
		goto out;

	strbuf_adds(&b, SIGV4_ALGORITHM " Credential=");
	strbuf_adds(&b, access_key_id);
	strbuf_addc(&b, '/');
	strbuf_add(&b, amz_date, 8);
	strbuf_addc(&b, '/');
	strbuf_adds(&b, region);
	strbuf_addc(&b, '/');
	strbuf_adds(&b, service);
	strbuf_adds(&b, "/" SCOPE_SUFFIX ", SignedHeaders=");
	strbuf_adds(&b, signed_headers);
	strbuf_adds(&b, ", Signature=");
	strbuf_adds(&b, signature);
	auth = strbuf_steal(&b);
	if (!auth) {
		r = -ENOMEM;
		goto out;
	}
	*ret_authorization = auth;
	r = 0;
out:
	wipe_free_string(canonical); /* it holds the session token */
	free(signed_headers);
	free(sts);
	return r;
}

bool sigv4_signature_equal(const char *a, const char *b)
{
	if (!a || !b || strnlen(a, SIGV4_HEX_SIZE) != SIGV4_HEX_SIZE - 1 ||
	    strnlen(b, SIGV4_HEX_SIZE) != SIGV4_HEX_SIZE - 1)
		return false;
	/* A verifier must not tell a forger how many leading digits were right. */
	return CRYPTO_memcmp(a, b, SIGV4_HEX_SIZE - 1) == 0;
}

/* ---- Authorization parsing ---------------------------------------------- */

static bool valid_signed_headers(const char *s, size_t n)
{
	size_t item = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ';') {
			if (item == 0)
				return false;
			item = 0;
		} else if (is_tchar(c) && !(c >= 'A' && c <= 'Z')) {
			item++;
		} else {
			return false;
		}
	}
	return item > 0;
}

static bool valid_signature_hex(const char *s, size_t n)
{
	if (n != SIGV4_HEX_SIZE - 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

/* Splits "AKID/YYYYMMDD/region/service/aws4_request" into p's first four
 * fields.  Returns 0, -EINVAL or -ENOMEM; on failure p is left as it was. */
static int parse_credential(const char *s, size_t n, struct sigv4_parsed_authorization *p)
{
	char *copy, *parts[5], *save = NULL;
	size_t count = 0;
	int r = -EINVAL;

	copy = strndup(s, n);
	if (!copy)
		return -ENOMEM;
	/* strtok would skip empty parts; split by hand so "a//b" is an error. */
	for (char *c = copy;; c = save + 1) {
		if (count == 5)
			goto out;
		parts[count++] = c;
		save = strchr(c, '/');
		if (!save)
			break;
		*save = '\0';
	}
	if (count != 5 || !valid_akid(parts[0]) || !valid_date8(parts[1]) || !valid_scope_part(parts[2]) ||
	    !valid_scope_part(parts[3]) || strcmp(parts[4], SCOPE_SUFFIX) != 0)
		goto out;

	struct sigv4_parsed_authorization t = {
	    .access_key_id = strdup(parts[0]),
	    .date8 = strdup(parts[1]),
	    .region = strdup(parts[2]),
	    .service = strdup(parts[3]),
	};
	if (!t.access_key_id || !t.date8 || !t.region || !t.service) {
		sigv4_parsed_authorization_done(&t);
		r = -ENOMEM;
		goto out;
	}
	p->access_key_id = t.access_key_id;
	p->date8 = t.date8;
	p->region = t.region;
	p->service = t.service;
	r = 0;
out:
	free(copy);
	return r;
}

/*
 * Parses a peer-supplied header: every byte is checked, nothing is trusted,
 * and the input length is capped, so garbage costs at most a few copies of
 * SIGV4_MAX_AUTHORIZATION_SIZE bytes and an -EINVAL.
 */
int sigv4_parse_authorization(const char *value, struct sigv4_parsed_authorization *ret)
{
	struct sigv4_parsed_authorization t = {0};
	bool have_credential = false;
	const char *p;
	int r = -EINVAL;

	if (!value || !ret || strnlen(value, SIGV4_MAX_AUTHORIZATION_SIZE + 1) > SIGV4_MAX_AUTHORIZATION_SIZE)
		return -EINVAL;

	p = value;
	while (is_ows(*p))
		p++;
	if (strncmp(p, SIGV4_ALGORITHM, strlen(SIGV4_ALGORITHM)) != 0)
		return -EINVAL;
	p += strlen(SIGV4_ALGORITHM);
	if (!is_ows(*p))
		return -EINVAL;

	for (;;) {
		while (is_ows(*p))
			p++;
		size_t klen = strcspn(p, "=, \t");
		if (p[klen] != '=')
			goto fail;
		const char *v = p + klen + 1;
		size_t vlen = strcspn(v, ", \t");

		if (klen == strlen("Credential") && strncmp(p, "Credential", klen) == 0 && !have_credential) {
			r = parse_credential(v, vlen, &t);
			if (r < 0)
				goto fail;
			r = -EINVAL;
			have_credential = true;
		} else if (klen == strlen("SignedHeaders") && strncmp(p, "SignedHeaders", klen) == 0 &&
			   !t.signed_headers) {
			if (!valid_signed_headers(v, vlen))
				goto fail;
			t.signed_headers = strndup(v, vlen);
			if (!t.signed_headers) {
				r = -ENOMEM;
				goto fail;
			}
		} else if (klen == strlen("Signature") && strncmp(p, "Signature", klen) == 0 && !t.signature) {
			if (!valid_signature_hex(v, vlen))
				goto fail;
			t.signature = strndup(v, vlen);
			if (!t.signature) {
				r = -ENOMEM;
				goto fail;
			}
		} else {
			goto fail; /* unknown or repeated part */
		}

		p = v + vlen;
		while (is_ows(*p))
			p++;
		if (*p == '\0')
			break;
		if (*p != ',')
			goto fail;
		p++;
	}
	if (!have_credential || !t.signed_headers || !t.signature)
		goto fail;

	*ret = t;
	return 0;
fail:
	sigv4_parsed_authorization_done(&t);
	return r;
}

void sigv4_parsed_authorization_done(struct sigv4_parsed_authorization *p)
{
	if (!p)
		return;
	free(p->access_key_id);
	free(p->date8);
	free(p->region);
	free(p->service);
	free(p->signed_headers);
	free(p->signature);
	*p = (struct sigv4_parsed_authorization){0};
}

/* ---- signing-key cache -------------------------------------------------- */

struct key_cache_entry {
	bool used;
	uint64_t last_use; /* cache clock at the last hit or insert, for LRU */
	uint8_t id[SHA256_SIZE];
	uint8_t key[SIGV4_KEY_SIZE];
};

struct sigv4_key_cache {
	uint8_t salt[SHA256_SIZE];
	uint64_t clock;
	struct sigv4_key_cache_stats stats;
	struct key_cache_entry entries[SIGV4_KEY_CACHE_SIZE];
};

struct sigv4_key_cache *sigv4_key_cache_new(void)
{
	/* Derived keys are as good as the secret for a day: keep them in the
	 * secure heap too (locked, wiped on free) when there is one. */
	struct sigv4_key_cache *c = OPENSSL_secure_zalloc(sizeof(*c));

	if (!c)
		return NULL;
	if (RAND_bytes(c->salt, sizeof(c->salt)) != 1) {
		OPENSSL_secure_clear_free(c, sizeof(*c));
		return NULL;
	}
	return c;
}

struct sigv4_key_cache *sigv4_key_cache_free(struct sigv4_key_cache *c)
{
	if (!c)
		return NULL;
	OPENSSL_secure_clear_free(c, sizeof(*c));
	signing_forget();
	return NULL;
}

void sigv4_key_cache_clear(struct sigv4_key_cache *c)
{
	if (!c)
		return;
	OPENSSL_cleanse(c->entries, sizeof(c->entries));
	c->stats.entries = 0;
	signing_forget();
}

void sigv4_key_cache_get_stats(const struct sigv4_key_cache *c, struct sigv4_key_cache_stats *ret)
{
	if (!c || !ret)
		return;
	*ret = c->stats;
}

/* SHA-256(salt ‖ secret NUL date8 NUL region NUL service NUL): the NULs keep
 * ("us-east-1", "kms") and ("us-east-1k", "ms") apart, and the salt makes the
 * stored digest useless for guessing the secret offline. */
static bool cache_id(const struct sigv4_key_cache *c, const char *secret, const char *date8, const char *region,
		     const char *service, uint8_t out[SHA256_SIZE])
{
	const struct chunk fields[] = {
	    {c->salt, sizeof(c->salt)},   {secret, strlen(secret) + 1},   {date8, strlen(date8) + 1},
	    {region, strlen(region) + 1}, {service, strlen(service) + 1},
	};

	return sha256_chunks(fields, sizeof(fields) / sizeof(fields[0]), out);
}

/*
 * A hit refreshes the entry's LRU stamp; a miss derives the key and stores
 * it in a free slot or over the least recently used one (wiped first).
 * Inputs are validated exactly as sigv4_derive_key does, so a bad input is
 * -EINVAL whether or not it would have hit.
 */
int sigv4_key_cache_get(struct sigv4_key_cache *c, const char *secret, const char *date8, const char *region,
			const char *service, uint8_t ret_key[SIGV4_KEY_SIZE])
{
	uint8_t id[SHA256_SIZE], key[SIGV4_KEY_SIZE];
	struct key_cache_entry *slot = NULL;
	int r;

	if (!c || !secret || !*secret || strnlen(secret, SIGV4_MAX_SECRET_SIZE + 1) > SIGV4_MAX_SECRET_SIZE ||
	    !valid_date8(date8) || !valid_scope_part(region) || !valid_scope_part(service) || !ret_key)
		return -EINVAL;
	if (!cache_id(c, secret, date8, region, service, id))
		return -EIO;

	for (size_t i = 0; i < SIGV4_KEY_CACHE_SIZE; i++) {
		struct key_cache_entry *e = &c->entries[i];
		if (e->used && CRYPTO_memcmp(e->id, id, sizeof(id)) == 0) {
			e->last_use = ++c->clock;
			c->stats.hits++;
			memcpy(ret_key, e->key, SIGV4_KEY_SIZE);
			r = 0;
			goto out;
		}
	}

	r = sigv4_derive_key(secret, date8, region, service, key);
	if (r < 0)
		goto out;
	c->stats.misses++;

	for (size_t i = 0; i < SIGV4_KEY_CACHE_SIZE; i++) {
		struct key_cache_entry *e = &c->entries[i];
		if (!e->used) {
			slot = e;
			break;
		}
		if (!slot || e->last_use < slot->last_use)
			slot = e;
	}
	if (slot->used) {
		OPENSSL_cleanse(slot, sizeof(*slot));
		c->stats.evictions++;
	} else {
		c->stats.entries++;
	}
	slot->used = true;
	slot->last_use = ++c->clock;
	memcpy(slot->id, id, sizeof(id));
	memcpy(slot->key, key, sizeof(key));
	memcpy(ret_key, key, SIGV4_KEY_SIZE);
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(id, sizeof(id));
	return r;
}
