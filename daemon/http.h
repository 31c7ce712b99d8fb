/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * HTTP/1.1 message handling for the daemon's outgoing calls: request
 * serialisation and an incremental response parser that takes bytes as they
 * arrive (fuzzed: it reads untrusted network input).
 */
#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEADER_BYTES (64 * 1024)
#define HTTP_MAX_HEADERS 100
#define HTTP_DEFAULT_MAX_BODY (1024 * 1024)

struct http_header {
	char *name;
	char *value;
};

struct http_response {
	int status;
	char *reason;
	struct http_header *headers;
	size_t n_headers;
	char *body; /* NUL-terminated for convenience; body_len excludes it */
	size_t body_len;
	bool keep_alive; /* the connection may carry another request */
};

/* First header named name (case-insensitive), or NULL. */
const char *http_response_header(const struct http_response *r, const char *name);
struct http_response *http_response_free(struct http_response *r); /* NULL-safe */

enum http_parse_status {
	HTTP_PARSE_NEED_MORE,
	HTTP_PARSE_DONE,
	HTTP_PARSE_ERROR,
};

struct http_parser;
/* max_body: cap on the decoded body; larger responses are an error. */
struct http_parser *http_parser_new(size_t max_body);
struct http_parser *http_parser_free(struct http_parser *p); /* NULL-safe */
/* Feed bytes.  *ret_consumed says how many were used (bytes after a complete
 * response are left for the caller).  1xx interim responses are skipped. */
enum http_parse_status http_parser_feed(struct http_parser *p, const char *data, size_t len, size_t *ret_consumed);
/* The peer closed the connection: completes a close-delimited body, else error. */
enum http_parse_status http_parser_eof(struct http_parser *p);
/* After DONE: hands over the response (caller frees). */
struct http_response *http_parser_take(struct http_parser *p);
/* After ERROR: why, static string. */
const char *http_parser_error(const struct http_parser *p);
/* True once any byte of a response has been seen (for "retry only if the
 * server never started answering"). */
bool http_parser_started(const struct http_parser *p);

/* Serialises "METHOD path HTTP/1.1\r\nHost: …\r\n<headers>Content-Length: n\r\n\r\n<body>"
 * into one buffer, so a request goes out in a single write.  Headers are
 * written as given; Host and Content-Length are added here.  Returns 0 or
 * -ENOMEM / -EINVAL (CR/LF in a name or value). */
struct http_request_header {
	const char *name;
	const char *value;
};
int http_request_format(const char *method, const char *path, const char *host_header,
			const struct http_request_header *headers, size_t n_headers, const void *body,
			size_t body_len, char **ret, size_t *ret_len);
