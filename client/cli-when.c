/* SPDX-License-Identifier: MIT */
/*
 * Deletion dates for kmscancel pending: RFC 3339 times read, the time left
 * as "in 3d 4h", and the keys put in the order an operator acts on them
 * (the first to go first).  No I/O and no clock of its own: the caller
 * passes "now", so that the unit tests can.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEC_PER_MIN  60
#define SEC_PER_HOUR 3600
#define SEC_PER_DAY  86400

/* "+01:00" / "-05:30" at s: the offset east of UTC in seconds. */
static int parse_offset(const char *s, long *ret)
{
	if ((s[0] != '+' && s[0] != '-') || !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]) ||
	    s[3] != ':' || !isdigit((unsigned char)s[4]) || !isdigit((unsigned char)s[5]) || s[6])
		return -EINVAL;
	*ret = ((s[1] - '0') * 10 + (s[2] - '0')) * SEC_PER_HOUR + ((s[4] - '0') * 10 + (s[5] - '0')) * SEC_PER_MIN;
	if (s[0] == '-')
		*ret = -*ret;
	return 0;
}

int when_parse(const char *s, time_t *ret)
{
	struct tm tm = {0};
	const char *p;
	long offset = 0;
	time_t t;

	if (!s || !(p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return -EINVAL;
	if (*p == '.') /* fractions of a second: dropped */
		for (p++; isdigit((unsigned char)*p); p++)
			;
	if ((*p == 'Z' || *p == 'z') && !p[1])
		offset = 0;
	else if (parse_offset(p, &offset) < 0)
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret = t - offset;
	return 0;
}

void when_format_in(time_t date, time_t now, char *buf, size_t size)
{
	long long d = (long long)date - (long long)now;

	if (d <= 0)
		snprintf(buf, size, "due now");
	else if (d < SEC_PER_MIN)
		snprintf(buf, size, "in <1m");
	else if (d < SEC_PER_HOUR)
		snprintf(buf, size, "in %lldm", d / SEC_PER_MIN);
	else if (d < SEC_PER_DAY)
		snprintf(buf, size, "in %lldh %lldm", d / SEC_PER_HOUR, d % SEC_PER_HOUR / SEC_PER_MIN);
	else
		snprintf(buf, size, "in %lldd %lldh", d / SEC_PER_DAY, d % SEC_PER_DAY / SEC_PER_HOUR);
}

/* A key's deletion date for sorting; false when it has none (or one that
 * does not read). */
static bool key_date(const kmscancel_pending_key *k, time_t *ret)
{
	return when_parse(kmscancel_pending_key_deletion_date(k), ret) == 0;
}

static int strcmp_null(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int compare_keys(const void *pa, const void *pb)
{
	const kmscancel_pending_key *a = *(kmscancel_pending_key *const *)pa, *b = *(kmscancel_pending_key *const *)pb;
	time_t da, db;
	bool ha = key_date(a, &da), hb = key_date(b, &db);
	int c;

	if (ha != hb)
		return ha ? -1 : 1; /* a date first: those are on the clock */
	if (ha && da != db)
		return da < db ? -1 : 1;
	if ((c = strcmp_null(kmscancel_pending_key_account(a), kmscancel_pending_key_account(b))) ||
	    (c = strcmp_null(kmscancel_pending_key_region(a), kmscancel_pending_key_region(b))))
		return c;
	return strcmp_null(kmscancel_pending_key_id(a), kmscancel_pending_key_id(b));
}

void when_sort_keys(kmscancel_pending_key **keys, size_t n)
{
	if (n > 1)
		qsort(keys, n, sizeof(*keys), compare_keys);
}
