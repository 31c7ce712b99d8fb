/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "timeutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ISO8601_FORMATTED_LEN 20 /* "YYYY-MM-DDTHH:MM:SSZ" */

/* Reads exactly n decimal digits at *p, advancing it. */
static bool read_digits(const char **p, unsigned n, int *ret)
{
	int v = 0;

	for (unsigned i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*ret = v;
	return true;
}

static bool expect_char(const char **p, const char *allowed)
{
	if (**p == '\0' || !strchr(allowed, **p))
		return false;
	(*p)++;
	return true;
}

static bool is_leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

/* Parses "Z" or "±HH:MM" / "±HHMM" into an offset east of UTC, in seconds. */
static bool read_offset(const char **p, long *ret)
{
	int sign, hh, mm;

	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		*ret = 0;
		return true;
	}
	if (**p != '+' && **p != '-')
		return false;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (!read_digits(p, 2, &hh))
		return false;
	if (**p == ':')
		(*p)++;
	if (!read_digits(p, 2, &mm) || hh > 23 || mm > 59)
		return false;
	*ret = sign * (hh * 3600L + mm * 60L);
	return true;
}

int timeutil_parse_iso8601(const char *s, time_t *ret)
{
	const char *p = s;
	int year, mon, day, hh, mm, ss;
	struct tm tm = {0};
	long offset;
	time_t t;

	if (strnlen(s, TIMEUTIL_ISO8601_MAX + 1) > TIMEUTIL_ISO8601_MAX)
		return -EINVAL;
	if (!read_digits(&p, 4, &year) || !expect_char(&p, "-") || !read_digits(&p, 2, &mon) || !expect_char(&p, "-") ||
	    !read_digits(&p, 2, &day) || !expect_char(&p, "Tt ") || !read_digits(&p, 2, &hh) || !expect_char(&p, ":") ||
	    !read_digits(&p, 2, &mm) || !expect_char(&p, ":") || !read_digits(&p, 2, &ss))
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (!read_offset(&p, &offset) || *p != '\0')
		return -EINVAL;
	if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hh > 23 || mm > 59 ||
	    ss > 60)
		return -EINVAL;

	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss == 60 ? 59 : ss;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret = t - offset;
	return 0;
}

int timeutil_format_iso8601(time_t t, char *buf, size_t n)
{
	struct tm tm;

	if (n < ISO8601_FORMATTED_LEN + 1 || !gmtime_r(&t, &tm))
		return -EINVAL;
	if (strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) != ISO8601_FORMATTED_LEN)
		return -EINVAL;
	return 0;
}
