/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "conf-types.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int conf_set_string(char **field, const char *value, bool secret)
{
	char *v = NULL;

	if (value) {
		v = strdup(value);
		if (!v)
			return -ENOMEM;
	}
	if (secret && *field)
		explicit_bzero(*field, strlen(*field));
	free(*field);
	*field = v;
	return 0;
}

/* A decimal number from min to max (no sign, no suffix). */
static bool parse_number(const char *value, unsigned long min, unsigned long max, unsigned *ret)
{
	unsigned long v;
	char *end;

	if (value[0] < '0' || value[0] > '9')
		return false;
	errno = 0;
	v = strtoul(value, &end, 10);
	if (*end || errno || v < min || v > max)
		return false;
	*ret = (unsigned)v;
	return true;
}

long conf_duration_ms(const char *s)
{
	unsigned long long whole = 0, frac = 0, scale = 1000;
	bool digits = false;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++, digits = true)
		if ((whole = whole * 10 + (unsigned)(*p - '0')) > 1000000000ULL)
			return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, digits = true)
			if (scale > 1) {
				scale /= 10;
				frac += (unsigned)(*p - '0') * scale;
			}
	if (!digits)
		return -1;
	if (strcmp(p, "ms") == 0)
		return (long)(whole + frac / 1000);
	if (*p == '\0' || strcmp(p, "s") == 0)
		return (long)(whole * 1000 + frac);
	return -1;
}

int conf_bool_from_string(const char *s)
{
	static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -EINVAL;
}

static int parse_duration_key(const struct conf_key *k, unsigned *field, const char *value)
{
	long ms;

	if (!value || (k->min == 0 && strcmp(value, "no") == 0)) {
		*field = 0;
		return 0;
	}
	ms = conf_duration_ms(value);
	if (ms < (long)k->min || ms > (long)k->max)
		return -EINVAL;
	*field = (unsigned)ms;
	return 0;
}

static int parse_rate_key(const struct conf_key *k, double *field, const char *value)
{
	double v = 0;
	char *end;

	if (value) {
		errno = 0;
		v = strtod(value, &end);
		if (value[0] < '0' || value[0] > '9' || *end || errno || !(v > 0) || v > (double)k->max)
			return -EINVAL;
	}
	*field = v;
	return 0;
}

int conf_key_apply(const struct conf_key *k, void *obj, const char *value, const struct conf_pos *pos)
{
	void *field;
	int b;

	assert(k && obj);
	field = (char *)obj + k->offset;
	switch (k->type) {
	case CONF_STRING:
		if (value && k->valid && !k->valid(value))
			return -EINVAL;
		return conf_set_string(field, value, k->secret);
	case CONF_UINT:
		if (!value)
			*(unsigned *)field = 0;
		else if (!parse_number(value, k->min, k->max, field))
			return -EINVAL;
		return 0;
	case CONF_DURATION:
		return parse_duration_key(k, field, value);
	case CONF_RATE:
		return parse_rate_key(k, field, value);
	case CONF_BOOL:
		b = value ? conf_bool_from_string(value) : 0;
		if (b < 0)
			return -EINVAL;
		*(bool *)field = b;
		return 0;
	case CONF_CUSTOM:
		return k->parse(obj, field, value, pos);
	}
	return -EINVAL;
}

void conf_key_describe(const struct conf_key *k, char *buf, size_t size)
{
	if (k->type == CONF_UINT)
		snprintf(buf, size, "expected %s from %lu to %lu", k->expected, k->min, k->max);
	else if (k->type == CONF_DURATION && k->min == 0)
		snprintf(buf, size, "expected no, 0, or a time such as %s, up to %lus", k->expected, k->max / 1000);
	else if (k->type == CONF_DURATION)
		snprintf(buf, size, "expected a time such as %s, from %lums to %lus", k->expected, k->min,
			 k->max / 1000);
	else
		snprintf(buf, size, "expected %s", k->expected);
}
