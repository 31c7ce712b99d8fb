/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * HTTP/1.1 message handling for the daemon's outgoing calls: request
 * serialisation and an incremental response parser that takes bytes as they
 * arrive (fuzzed: it reads untrusted network input).
 *
 * Limits, all enforced while parsing (a response over any of them is an
 * error, never truncated):
 */
#include <stdbool.h>
#include <stddef.h>

/* Status line + header lines (with their line ends), per response; trailers
 * of a chunked body count against it too. */
#define HTTP_MAX_HEADER_BYTES (64 * 1024)
/* Header lines per response (trailers included). */
#define HTTP_MAX_HEADERS 100
/* Decoded body, unless the caller gives its own cap. */
#define HTTP_DEFAULT_MAX_BODY (1024 * 1024)
/* 1xx interim responses skipped before the final one. */
#define HTTP_MAX_INTERIM_RESPONSES 8
/* One chunk-size line, extensions included. */
#define HTTP_MAX_CHUNK_LINE 4096

struct http_header {
	char *name;  /* as received */
	char *value; /* leading and trailing whitespace removed */
};

struct http_response {
	int status; /* 200..599 (1xx are skipped) */
	char *reason;
	struct http_header *headers;
	size_t n_headers;
	char *body; /* never NULL; NUL-terminated for convenience; body_len excludes it */
	size_t body_len;
	bool keep_alive; /* the connection may carry another request */
};

/* First header named name (case-insensitive), or NULL.  NULL-safe. */
const char *http_response_header(const struct http_response *r, const char *name);
struct http_response *http_response_free(struct http_response *r); /* NULL-safe, returns NULL */

enum http_parse_status {
	HTTP_PARSE_NEED_MORE,
	HTTP_PARSE_DONE,
	HTTP_PARSE_ERROR,
};

struct http_parser;
/* max_body: cap on the decoded body (0 = HTTP_DEFAULT_MAX_BODY); larger
 * responses are an error.  NULL on allocation failure. */
struct http_parser *http_parser_new(size_t max_body);
struct http_parser *http_parser_free(struct http_parser *p); /* NULL-safe, returns NULL */
/* Feeds len bytes.  *ret_consumed says how many were used: bytes after a
 * complete response are left for the caller (a pipelined or unsolicited
 * second response).  1xx interim responses are skipped.  Once DONE or
 * ERROR, further calls consume nothing and return the same status.  Work is
 * linear in the bytes fed, however they are split. */
enum http_parse_status http_parser_feed(struct http_parser *p, const char *data, size_t len, size_t *ret_consumed);
/* The peer closed the connection: completes a close-delimited body (DONE,
 * keep_alive false), else ERROR (or the status already reached). */
enum http_parse_status http_parser_eof(struct http_parser *p);
/* After DONE: hands over the response (caller frees); NULL otherwise or on a
 * second call. */
struct http_response *http_parser_take(struct http_parser *p);
/* After ERROR: why, a static string; NULL otherwise. */
const char *http_parser_error(const struct http_parser *p);
/* True once any byte of a response has been fed (for "retry only if the
 * server never started answering"). */
bool http_parser_started(const struct http_parser *p);

/* Serialises "METHOD path HTTP/1.1\r\nHost: …\r\n<headers>Content-Length: n\r\n\r\n<body>"
 * into one buffer, so a request goes out in a single write.  Headers are
 * written in the order given; Host and Content-Length are added here (so the
 * caller must not pass them: -EINVAL).  Content-Length is omitted only for a
 * GET or HEAD without a body.  method must be a token, path printable
 * without spaces, names tokens, values free of CR, LF, NUL and other control
 * characters but TAB.  *ret is malloc'ed and NUL-terminated (*ret_len
 * excludes the NUL).  Returns 0, -EINVAL or -ENOMEM; outputs untouched on
 * failure. */
struct http_request_header {
	const char *name;
	const char *value;
};
int http_request_format(const char *method, const char *path, const char *host_header,
			const struct http_request_header *headers, size_t n_headers, const void *body, size_t body_len,
			char **ret, size_t *ret_len);
