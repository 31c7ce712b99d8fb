/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * UTF-8 validation and repair for text that leaves the daemon.
 *
 * Varlink is JSON, and JSON is UTF-8: a peer that validates (libkmscancel
 * does, as sd-varlink and most parsers) treats a message with a stray byte
 * as a protocol error, losing the whole reply.  Text the daemon relays from
 * servers (HTTP reason phrases, KMS/STS error messages, a proxy's answer,
 * credential errors) can hold anything, a proxy's Latin-1 reason phrase for
 * instance, so every Varlink message the daemon writes goes through
 * utf8_sanitize() (common/varlink.c), and json_writer writes only valid
 * UTF-8.
 *
 * Valid means well-formed per Unicode (table 3-7): no overlong forms, no
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
 * sequence.  NUL is a valid code point: these functions take a length and
 * carry it through.  Each maximal ill-formed subpart is replaced by one
 * U+FFFD, the practice Unicode recommends and WHATWG's decoder follows.
 * Depends on libc only.
 */
#include <stdbool.h>
#include <stddef.h>

#define UTF8_REPLACEMENT     "\xef\xbf\xbd" /* U+FFFD */
#define UTF8_REPLACEMENT_LEN 3

/* The length (1..4) of the well-formed sequence at s[0..len), or 0 when the
 * bytes there do not start one; then *ret_bad (if not NULL) is the length
 * of the maximal ill-formed subpart to replace (1..3).  len > 0. */
size_t utf8_sequence(const char *s, size_t len, size_t *ret_bad);

/* True if s[0..len) is well-formed UTF-8. */
bool utf8_is_valid(const char *s, size_t len);

/* The length s[0..len) has once repaired. */
size_t utf8_sanitized_length(const char *s, size_t len);

/* Writes s[0..len) repaired to out, which has room for
 * utf8_sanitized_length(s, len) bytes; returns the bytes written.  No NUL
 * is added. */
size_t utf8_sanitize(const char *s, size_t len, char *out);
