/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "http.h"

#include "hex.h"
#include "wipe.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* First allocation for the line and body buffers; both grow by doubling so
 * byte-at-a-time feeding stays linear.
 *
 * Every buffer here is wiped before it is freed or moved (wipe.h), for every
 * response: STS, IMDS and the container endpoint answer with credentials,
 * and a parser cannot tell which answers matter.  The cost is a memset of
 * what was received. */
#define HTTP_LINE_INITIAL    256
#define HTTP_BODY_INITIAL    1024
#define HTTP_HEADERS_INITIAL 16

enum parse_state {
	PS_STATUS_LINE,
	PS_HEADER_LINE,
	PS_BODY_LENGTH,    /* Content-Length bytes to go */
	PS_BODY_CLOSE,     /* body runs until the peer closes */
	PS_CHUNK_SIZE,     /* chunk-size [; extensions] CRLF */
	PS_CHUNK_DATA,     /* chunk_left bytes of data to go */
	PS_CHUNK_DATA_END, /* the CRLF after chunk data */
	PS_TRAILER_LINE,   /* trailer fields until an empty line */
	PS_DONE,
	PS_ERROR,
};

struct http_parser {
	enum parse_state state;
	size_t max_body;
	const char *error;
	bool started;
	bool taken;

	/* The line being collected (status, header, chunk size or trailer). */
	char *line;
	size_t line_len, line_alloc;
	size_t header_bytes; /* of the current response, trailers included */
	size_t n_fields;     /* header + trailer lines of the current response */
	unsigned interim;    /* 1xx responses skipped so far */

	/* The response being built. */
	int minor_version;
	int status;
	char *reason;
	struct http_header *headers;
	size_t n_headers, headers_alloc;
	bool keep_alive;

	size_t body_left;  /* PS_BODY_LENGTH */
	size_t chunk_left; /* PS_CHUNK_DATA */
	bool saw_cr;       /* PS_CHUNK_DATA_END */
	char *body;
	size_t body_len, body_alloc;
};

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

/* Field values and reason phrases: HTAB, SP, VCHAR and obs-text (RFC 9110
 * §5.5); every other control character is refused. */
static bool is_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < ' ' && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static enum http_parse_status fail(struct http_parser *p, const char *why)
{
	p->state = PS_ERROR;
	p->error = why;
	return HTTP_PARSE_ERROR;
}

/* ---- response objects ------------------------------------------------- */

static void headers_free(struct http_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		wipe_free_string(h[i].name);
		wipe_free_string(h[i].value);
	}
	free(h);
}

struct http_response *http_response_free(struct http_response *r)
{
	if (!r)
		return NULL;
	wipe_free_string(r->reason);
	headers_free(r->headers, r->n_headers);
	wipe_free(r->body, r->body_len + 1);
	free(r);
	return NULL;
}

const char *http_response_header(const struct http_response *r, const char *name)
{
	if (!r || !name)
		return NULL;
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* ---- parser lifetime -------------------------------------------------- */

struct http_parser *http_parser_new(size_t max_body)
{
	struct http_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->max_body = max_body ? max_body : HTTP_DEFAULT_MAX_BODY;
	/* Leaves room for the NUL and for doubling without overflow. */
	if (p->max_body > SIZE_MAX / 4)
		p->max_body = SIZE_MAX / 4;
	p->state = PS_STATUS_LINE;
	return p;
}

/* Drops what belongs to one (interim or final) response head. */
static void reset_head(struct http_parser *p)
{
	wipe_free_string(p->reason);
	p->reason = NULL;
	headers_free(p->headers, p->n_headers);
	p->headers = NULL;
	p->n_headers = p->headers_alloc = 0;
	p->header_bytes = 0;
	p->n_fields = 0;
}

struct http_parser *http_parser_free(struct http_parser *p)
{
	if (!p)
		return NULL;
	reset_head(p);
	wipe_free(p->line, p->line_alloc);
	wipe_free(p->body, p->body_alloc);
	free(p);
	return NULL;
}

bool http_parser_started(const struct http_parser *p)
{
	return p && p->started;
}

const char *http_parser_error(const struct http_parser *p)
{
	return p && p->state == PS_ERROR ? p->error : NULL;
}

/* ---- line collection -------------------------------------------------- */

/* Moves bytes from data[*off..len) into p->line up to and including a LF,
 * refusing to hold more than budget bytes for this line (terminator
 * included).  Returns 1 when a whole line is there (CR LF or bare LF
 * stripped, NUL-terminated; *ret_raw = its size on the wire), 0 when the
 * input ran out first, -1 on error (p->error set).  Only the new bytes are
 * scanned, so feeding a line byte by byte costs no more than feeding it at
 * once. */
static int take_line(struct http_parser *p, const char *data, size_t len, size_t *off, size_t budget, size_t *ret_raw)
{
	const char *start = data + *off;
	size_t avail = len - *off;
	const char *lf = memchr(start, '\n', avail);
	size_t n = lf ? (size_t)(lf - start) + 1 : avail;
	size_t raw;

	if (p->line_len > budget || n > budget - p->line_len) {
		fail(p, "header or chunk line too long");
		return -1;
	}
	if (p->line_len + n + 1 > p->line_alloc) {
		size_t a = p->line_alloc ? p->line_alloc : HTTP_LINE_INITIAL;
		char *l;
		while (a < p->line_len + n + 1)
			a *= 2;
		l = wipe_realloc(p->line, p->line_alloc, a);
		if (!l) {
			fail(p, "out of memory");
			return -1;
		}
		p->line = l;
		p->line_alloc = a;
	}
	memcpy(p->line + p->line_len, start, n);
	p->line_len += n;
	*off += n;
	if (!lf)
		return 0;

	raw = p->line_len;
	p->line_len--; /* LF */
	if (p->line_len > 0 && p->line[p->line_len - 1] == '\r')
		p->line_len--;
	p->line[p->line_len] = '\0';
	/* A bare CR or a NUL inside a line is how header injection and
	 * response splitting look; RFC 9112 §2.2 lets us reject it. */
	if (memchr(p->line, '\r', p->line_len) || memchr(p->line, '\0', p->line_len)) {
		fail(p, "CR or NUL inside a line");
		return -1;
	}
	*ret_raw = raw;
	return 1;
}

/* Collects a head line (status, header or trailer) against the per-response
 * header budget.  Same returns as take_line. */
static int take_head_line(struct http_parser *p, const char *data, size_t len, size_t *off)
{
	size_t raw;
	int r = take_line(p, data, len, off, HTTP_MAX_HEADER_BYTES - p->header_bytes, &raw);

	if (r == 1)
		p->header_bytes += raw;
	return r;
}

/* ---- body buffer ------------------------------------------------------ */

/* Makes room for n more body bytes (plus the NUL), refusing to go past
 * max_body. */
static int body_reserve(struct http_parser *p, size_t n)
{
	size_t need;
	char *b;

	if (n > p->max_body - p->body_len) {
		fail(p, "response body too large");
		return -1;
	}
	need = p->body_len + n + 1;
	if (need <= p->body_alloc)
		return 0;
	size_t a = p->body_alloc ? p->body_alloc : HTTP_BODY_INITIAL;
	while (a < need)
		a = a > SIZE_MAX / 2 ? need : a * 2;
	if (a > p->max_body + 1)
		a = p->max_body + 1;
	b = wipe_realloc(p->body, p->body_alloc, a);
	if (!b) {
		fail(p, "out of memory");
		return -1;
	}
	p->body = b;
	p->body_alloc = a;
	return 0;
}

static int body_append(struct http_parser *p, const char *data, size_t n)
{
	if (body_reserve(p, n) < 0)
		return -1;
	memcpy(p->body + p->body_len, data, n);
	p->body_len += n;
	return 0;
}

/* ---- status line and headers ------------------------------------------ */

/* "HTTP/1.x SSS[ reason]" */
static enum http_parse_status parse_status_line(struct http_parser *p)
{
	const char *l = p->line;
	const char *reason = "";

	if (p->line_len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ')
		return fail(p, "bad status line");
	for (int i = 9; i < 12; i++)
		if (l[i] < '0' || l[i] > '9')
			return fail(p, "bad status code");
	if (l[9] < '1' || l[9] > '5')
		return fail(p, "status code out of range");
	if (l[12] == ' ')
		reason = l + 13;
	else if (l[12] != '\0')
		return fail(p, "bad status line");
	if (!is_text(reason, strlen(reason)))
		return fail(p, "control character in reason phrase");

	p->minor_version = l[7] - '0';
	p->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	/* We never ask to switch protocols; a 101 would hand the connection
	 * to something we do not speak. */
	if (p->status == 101)
		return fail(p, "unexpected 101 Switching Protocols");
	p->reason = strdup(reason);
	if (!p->reason)
		return fail(p, "out of memory");
	p->state = PS_HEADER_LINE;
	return HTTP_PARSE_NEED_MORE;
}

static int headers_push(struct http_parser *p, char *name, char *value)
{
	if (p->n_headers == p->headers_alloc) {
		size_t a = p->headers_alloc ? p->headers_alloc * 2 : HTTP_HEADERS_INITIAL;
		struct http_header *h = reallocarray(p->headers, a, sizeof(*h));
		if (!h)
			return -1;
		p->headers = h;
		p->headers_alloc = a;
	}
	p->headers[p->n_headers++] = (struct http_header){.name = name, .value = value};
	return 0;
}

/* Splits a "name: value" line into its name length and trimmed value;
 * false if it is not a well-formed field line. */
static bool split_field(const char *l, size_t len, size_t *ret_name_len, const char **ret_value, size_t *ret_value_len)
{
	const char *colon = memchr(l, ':', len);
	const char *v, *e;

	/* No whitespace before the colon (RFC 9112 §5.1), no obs-fold. */
	if (!colon || !is_token(l, (size_t)(colon - l)))
		return false;
	v = colon + 1;
	e = l + len;
	while (v < e && is_ows(*v))
		v++;
	while (e > v && is_ows(e[-1]))
		e--;
	if (!is_text(v, (size_t)(e - v)))
		return false;
	*ret_name_len = (size_t)(colon - l);
	*ret_value = v;
	*ret_value_len = (size_t)(e - v);
	return true;
}

static enum http_parse_status parse_header_line(struct http_parser *p)
{
	size_t name_len, value_len;
	const char *value;
	char *n, *v;

	if (++p->n_fields > HTTP_MAX_HEADERS)
		return fail(p, "too many header fields");
	if (!split_field(p->line, p->line_len, &name_len, &value, &value_len))
		return fail(p, "malformed header field");
	n = strndup(p->line, name_len);
	v = strndup(value, value_len);
	if (!n || !v || headers_push(p, n, v) < 0) {
		free(n);
		free(v);
		return fail(p, "out of memory");
	}
	return HTTP_PARSE_NEED_MORE;
}

/* ---- framing (RFC 9112 §6.3) ------------------------------------------ */

struct framing {
	bool chunked;
	bool has_length;
	size_t length;
	bool conn_close;
	bool conn_keep_alive;
};

/* Calls fn for each non-empty element of a comma-separated list value. */
static int for_each_element(const char *v, int (*fn)(const char *e, size_t n, struct framing *f), struct framing *f)
{
	while (*v) {
		const char *end = strchr(v, ',');
		const char *e = end ? end : v + strlen(v);
		const char *s = v;
		while (s < e && is_ows(*s))
			s++;
		const char *t = e;
		while (t > s && is_ows(t[-1]))
			t--;
		if (t > s && fn(s, (size_t)(t - s), f) < 0)
			return -1;
		v = end ? end + 1 : e;
	}
	return 0;
}

static bool token_eq(const char *e, size_t n, const char *what)
{
	return n == strlen(what) && strncasecmp(e, what, n) == 0;
}

/* We send no TE and no Accept-Encoding, so "chunked", once, is the only
 * transfer coding a server may use on us. */
static int te_element(const char *e, size_t n, struct framing *f)
{
	if (!token_eq(e, n, "chunked") || f->chunked)
		return -1;
	f->chunked = true;
	return 0;
}

static int connection_element(const char *e, size_t n, struct framing *f)
{
	if (token_eq(e, n, "close"))
		f->conn_close = true;
	else if (token_eq(e, n, "keep-alive"))
		f->conn_keep_alive = true;
	return 0;
}

/* 1*DIGIT, no sign, no list: a second value (even an equal one) or a comma
 * is refused rather than guessed at, since disagreeing lengths are how
 * response smuggling works. */
static const char *parse_content_length(const char *v, size_t max, size_t *ret)
{
	size_t n = 0;

	if (!*v)
		return "invalid Content-Length";
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return "invalid Content-Length";
		if (n > (SIZE_MAX - 9) / 10)
			return "Content-Length overflows";
		n = n * 10 + (size_t)(*v - '0');
	}
	if (n > max)
		return "response body too large";
	*ret = n;
	return NULL;
}

static enum http_parse_status collect_framing(struct http_parser *p, struct framing *f)
{
	bool has_te = false;

	for (size_t i = 0; i < p->n_headers; i++) {
		const char *name = p->headers[i].name, *value = p->headers[i].value;
		if (strcasecmp(name, "Transfer-Encoding") == 0) {
			has_te = true;
			if (for_each_element(value, te_element, f) < 0)
				return fail(p, "unsupported Transfer-Encoding");
		} else if (strcasecmp(name, "Content-Length") == 0) {
			if (f->has_length)
				return fail(p, "duplicate Content-Length");
			const char *why = parse_content_length(value, p->max_body, &f->length);
			if (why)
				return fail(p, why);
			f->has_length = true;
		} else if (strcasecmp(name, "Connection") == 0) {
			for_each_element(value, connection_element, f);
		}
	}
	if (has_te && !f->chunked)
		return fail(p, "unsupported Transfer-Encoding");
	return HTTP_PARSE_NEED_MORE;
}

static enum http_parse_status finish(struct http_parser *p)
{
	p->state = PS_DONE;
	return HTTP_PARSE_DONE;
}

/* The head of an interim (1xx) response is dropped and parsing starts over
 * with the next status line. */
static enum http_parse_status skip_interim(struct http_parser *p)
{
	if (++p->interim > HTTP_MAX_INTERIM_RESPONSES)
		return fail(p, "too many interim responses");
	reset_head(p);
	p->state = PS_STATUS_LINE;
	return HTTP_PARSE_NEED_MORE;
}

/* The empty line after the headers: decides how the body is delimited and
 * whether the connection can be reused. */
static enum http_parse_status end_of_head(struct http_parser *p)
{
	struct framing f = {0};

	if (p->status < 200)
		return skip_interim(p);
	if (collect_framing(p, &f) == HTTP_PARSE_ERROR)
		return HTTP_PARSE_ERROR;

	/* HTTP/1.1 is persistent unless "close"; HTTP/1.0 only with an
	 * explicit keep-alive (RFC 9112 §9.3). */
	p->keep_alive = !f.conn_close && (p->minor_version >= 1 || f.conn_keep_alive);

	if (p->status == 204 || p->status == 304)
		return finish(p);
	if (f.chunked) {
		/* RFC 9112 §6.3: Transfer-Encoding overrides Content-Length,
		 * but such a message may be a smuggling attempt, so the
		 * connection is not trusted with another request. */
		if (f.has_length)
			p->keep_alive = false;
		p->state = PS_CHUNK_SIZE;
		return HTTP_PARSE_NEED_MORE;
	}
	if (f.has_length) {
		if (f.length == 0)
			return finish(p);
		if (body_reserve(p, f.length) < 0)
			return HTTP_PARSE_ERROR;
		p->body_left = f.length;
		p->state = PS_BODY_LENGTH;
		return HTTP_PARSE_NEED_MORE;
	}
	p->keep_alive = false;
	p->state = PS_BODY_CLOSE;
	return HTTP_PARSE_NEED_MORE;
}

/* ---- chunked body ----------------------------------------------------- */

/* chunk-size [BWS ; chunk-ext] — extensions are allowed and ignored. */
static enum http_parse_status parse_chunk_size(struct http_parser *p)
{
	const char *s = p->line;
	size_t n = 0;
	int d;

	if (hex_value(*s) < 0)
		return fail(p, "bad chunk size");
	for (; (d = hex_value(*s)) >= 0; s++) {
		if (n > (SIZE_MAX >> 4))
			return fail(p, "chunk size overflows");
		n = (n << 4) | (size_t)d;
	}
	while (is_ows(*s))
		s++;
	if (*s != '\0' && *s != ';')
		return fail(p, "bad chunk size");
	if (!is_text(s, strlen(s)))
		return fail(p, "control character in chunk extension");
	if (n == 0) {
		p->state = PS_TRAILER_LINE;
		return HTTP_PARSE_NEED_MORE;
	}
	if (body_reserve(p, n) < 0)
		return HTTP_PARSE_ERROR;
	p->chunk_left = n;
	p->state = PS_CHUNK_DATA;
	return HTTP_PARSE_NEED_MORE;
}

/* Trailer fields are checked for form and counted against the head
 * limits, then dropped: nothing we call puts meaning in them. */
static enum http_parse_status parse_trailer_line(struct http_parser *p)
{
	size_t name_len, value_len;
	const char *value;

	if (p->line_len == 0)
		return finish(p);
	if (++p->n_fields > HTTP_MAX_HEADERS)
		return fail(p, "too many trailer fields");
	if (!split_field(p->line, p->line_len, &name_len, &value, &value_len))
		return fail(p, "malformed trailer field");
	return HTTP_PARSE_NEED_MORE;
}

static enum http_parse_status chunk_data_end(struct http_parser *p, char c)
{
	if (c == '\r' && !p->saw_cr) {
		p->saw_cr = true;
		return HTTP_PARSE_NEED_MORE;
	}
	if (c != '\n')
		return fail(p, "missing CRLF after chunk data");
	p->saw_cr = false;
	p->state = PS_CHUNK_SIZE;
	return HTTP_PARSE_NEED_MORE;
}

/* ---- the feed loop ---------------------------------------------------- */

/* Handles a complete line in the current line state. */
static enum http_parse_status line_done(struct http_parser *p)
{
	enum http_parse_status s;

	switch (p->state) {
	case PS_STATUS_LINE:
		s = parse_status_line(p);
		break;
	case PS_HEADER_LINE:
		s = p->line_len == 0 ? end_of_head(p) : parse_header_line(p);
		break;
	case PS_CHUNK_SIZE:
		s = parse_chunk_size(p);
		break;
	case PS_TRAILER_LINE:
		s = parse_trailer_line(p);
		break;
	default:
		s = fail(p, "internal parser error");
		break;
	}
	p->line_len = 0;
	return s;
}

static enum http_parse_status step_line(struct http_parser *p, const char *data, size_t len, size_t *off)
{
	size_t raw;
	int r;

	if (p->state == PS_CHUNK_SIZE)
		r = take_line(p, data, len, off, HTTP_MAX_CHUNK_LINE, &raw);
	else
		r = take_head_line(p, data, len, off);
	if (r < 0)
		return HTTP_PARSE_ERROR;
	if (r == 0)
		return HTTP_PARSE_NEED_MORE;
	return line_done(p);
}

static enum http_parse_status step_body(struct http_parser *p, const char *data, size_t len, size_t *off)
{
	size_t n = len - *off;
	size_t *left = p->state == PS_BODY_LENGTH ? &p->body_left : p->state == PS_CHUNK_DATA ? &p->chunk_left : NULL;

	if (left && n > *left)
		n = *left;
	if (body_append(p, data + *off, n) < 0)
		return HTTP_PARSE_ERROR;
	*off += n;
	if (left) {
		*left -= n;
		if (*left == 0) {
			if (p->state == PS_BODY_LENGTH)
				return finish(p);
			p->state = PS_CHUNK_DATA_END;
		}
	}
	return HTTP_PARSE_NEED_MORE;
}

static enum http_parse_status step(struct http_parser *p, const char *data, size_t len, size_t *off)
{
	switch (p->state) {
	case PS_STATUS_LINE:
	case PS_HEADER_LINE:
	case PS_CHUNK_SIZE:
	case PS_TRAILER_LINE:
		return step_line(p, data, len, off);
	case PS_BODY_LENGTH:
	case PS_BODY_CLOSE:
	case PS_CHUNK_DATA:
		return step_body(p, data, len, off);
	case PS_CHUNK_DATA_END:
		return chunk_data_end(p, data[(*off)++]);
	case PS_DONE:
		return HTTP_PARSE_DONE;
	case PS_ERROR:
	default:
		return HTTP_PARSE_ERROR;
	}
}

static enum http_parse_status current_status(const struct http_parser *p)
{
	return p->state == PS_DONE ? HTTP_PARSE_DONE : p->state == PS_ERROR ? HTTP_PARSE_ERROR : HTTP_PARSE_NEED_MORE;
}

enum http_parse_status http_parser_feed(struct http_parser *p, const char *data, size_t len, size_t *ret_consumed)
{
	size_t off = 0;

	if (!p)
		return HTTP_PARSE_ERROR;
	if (len > 0 && current_status(p) == HTTP_PARSE_NEED_MORE) {
		if (!data)
			return fail(p, "no data");
		p->started = true;
	}
	while (off < len && current_status(p) == HTTP_PARSE_NEED_MORE)
		step(p, data, len, &off);
	if (ret_consumed)
		*ret_consumed = off;
	return current_status(p);
}

enum http_parse_status http_parser_eof(struct http_parser *p)
{
	if (!p)
		return HTTP_PARSE_ERROR;
	switch (p->state) {
	case PS_BODY_CLOSE:
		return finish(p);
	case PS_DONE:
		return HTTP_PARSE_DONE;
	case PS_ERROR:
		return HTTP_PARSE_ERROR;
	case PS_STATUS_LINE:
		if (!p->started)
			return fail(p, "connection closed before any response");
		/* fall through */
	default:
		return fail(p, "connection closed mid-response");
	}
}

struct http_response *http_parser_take(struct http_parser *p)
{
	struct http_response *r;

	if (!p || p->state != PS_DONE || p->taken)
		return NULL;
	if (!p->body) {
		p->body = malloc(1);
		if (!p->body)
			return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	p->body[p->body_len] = '\0';
	*r = (struct http_response){
	    .status = p->status,
	    .reason = p->reason,
	    .headers = p->headers,
	    .n_headers = p->n_headers,
	    .body = p->body,
	    .body_len = p->body_len,
	    .keep_alive = p->keep_alive,
	};
	p->reason = NULL;
	p->headers = NULL;
	p->n_headers = p->headers_alloc = 0;
	p->body = NULL;
	p->body_len = p->body_alloc = 0;
	p->taken = true;
	return r;
}

/* ---- requests --------------------------------------------------------- */

static bool request_header_ok(const struct http_request_header *h)
{
	if (!h->name || !h->value || !is_token(h->name, strlen(h->name)) || !is_text(h->value, strlen(h->value)))
		return false;
	/* Framing and Host are ours: a second copy would make the request
	 * ambiguous to the server. */
	return strcasecmp(h->name, "Host") != 0 && strcasecmp(h->name, "Content-Length") != 0 &&
	       strcasecmp(h->name, "Transfer-Encoding") != 0;
}

static bool path_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

/* a += b, false on overflow. */
static bool add_size(size_t *a, size_t b)
{
	if (b > SIZE_MAX - *a)
		return false;
	*a += b;
	return true;
}

static char *put(char *o, const char *s, size_t n)
{
	memcpy(o, s, n);
	return o + n;
}

static char *puts0(char *o, const char *s)
{
	return put(o, s, strlen(s));
}

int http_request_format(const char *method, const char *path, const char *host_header,
			const struct http_request_header *headers, size_t n_headers, const void *body, size_t body_len,
			char **ret, size_t *ret_len)
{
	char length[32] = "";
	size_t total = 0;
	char *buf, *o;

	if (!method || !path || !host_header || !ret || !ret_len || (n_headers && !headers) || (body_len && !body))
		return -EINVAL;
	if (!is_token(method, strlen(method)) || !path_ok(path) || !*host_header || !path_ok(host_header))
		return -EINVAL;
	if (body_len > 0 || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0))
		snprintf(length, sizeof(length), "Content-Length: %zu\r\n", body_len);

	/* "M P HTTP/1.1\r\n" (12 fixed) "Host: H\r\n" (8 fixed) ... "\r\n" body NUL */
	bool ok = add_size(&total, strlen(method) + strlen(path) + strlen(host_header) + 12 + 8) &&
		  add_size(&total, strlen(length) + 2) && add_size(&total, body_len) && add_size(&total, 1);
	for (size_t i = 0; ok && i < n_headers; i++) {
		if (!request_header_ok(&headers[i]))
			return -EINVAL;
		ok = add_size(&total, strlen(headers[i].name) + strlen(headers[i].value) + 4);
	}
	if (!ok)
		return -ENOMEM;

	buf = malloc(total);
	if (!buf)
		return -ENOMEM;
	o = buf;
	o = puts0(o, method);
	o = puts0(o, " ");
	o = puts0(o, path);
	o = puts0(o, " HTTP/1.1\r\nHost: ");
	o = puts0(o, host_header);
	o = puts0(o, "\r\n");
	for (size_t i = 0; i < n_headers; i++) {
		o = puts0(o, headers[i].name);
		o = puts0(o, ": ");
		o = puts0(o, headers[i].value);
		o = puts0(o, "\r\n");
	}
	o = puts0(o, length);
	o = puts0(o, "\r\n");
	if (body_len)
		o = put(o, body, body_len);
	*o = '\0';

	*ret = buf;
	*ret_len = (size_t)(o - buf);
	return 0;
}
