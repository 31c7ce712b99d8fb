/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Timestamps as AWS writes them: ISO 8601 / RFC 3339 date-times such as
 * credential expirations ("2022-05-26T12:34:56.789Z", "…+00:00").
 */
#include <time.h>

/* Longest timestamp accepted; anything longer is not a date-time. */
#define TIMEUTIL_ISO8601_MAX 64

/*
 * Parses an RFC 3339 date-time "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)"
 * into seconds since the epoch (UTC).  'T' may also be 't' or a space, 'Z'
 * also 'z'.  The fraction is dropped (expirations need no sub-second
 * precision); a leap second (:60) counts as :59.  The offset is required: a
 * time without one is ambiguous and is refused rather than guessed.
 * Surrounding whitespace is not accepted.
 * Returns 0 and *ret, or -EINVAL (malformed or out of range) leaving *ret
 * untouched.
 */
int timeutil_parse_iso8601(const char *s, time_t *ret);

/*
 * Formats t as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into buf of size n (at least 21).
 * Returns 0, or -EINVAL when t does not fit or n is too small.
 */
int timeutil_format_iso8601(time_t t, char *buf, size_t n);
