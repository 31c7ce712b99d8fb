/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The value types of kmscanceld.conf's keys, as systemd's config_parse_*()
 * with their ltype: a key is a row of a table (conf.c) giving its section,
 * name, type, field, default, bounds and what its error says was expected;
 * conf_key_apply() reads and checks a value by that row.  The few keys that
 * need more than a type (Allow=, Prewarm=, FIPS=) carry a parser of their own.
 */
#include <stdbool.h>
#include <stddef.h>

/* Where a value was written; parsers of list keys keep it. */
struct conf_pos {
	const char *file;
	unsigned line;
};

/* Every type takes a NULL value ("Key=" of a key whose default is "not
 * set") as 0, false or NULL. */
enum conf_type {
	CONF_STRING,   /* char *: any text that valid() accepts (all without valid) */
	CONF_UINT,     /* unsigned: a decimal from min to max */
	CONF_DURATION, /* unsigned ms: "30", "2.5", "1.5s", "500ms" from min to max ms; min 0: also "no" */
	CONF_RATE,     /* double: a positive decimal, at most max */
	CONF_BOOL,     /* bool: yes/true/on/1 or no/false/off/0 (any case) */
	CONF_CUSTOM,   /* parse() */
};

struct conf_key {
	const char *section;
	const char *name;
	enum conf_type type;
	size_t offset;             /* of the field in the struct the section fills */
	const char *default_value; /* what "Key=" and the initial state mean; NULL: not set */
	unsigned long min, max;    /* UINT: the number; DURATION: ms; RATE: max only */
	/* What the error says was expected: UINT: the noun ("a number of
	 * pools"); DURATION: examples ("30, 2.5 or 500ms"); else all of it. */
	const char *expected;
	bool secret;                      /* STRING: wiped when replaced, never quoted in errors */
	bool (*valid)(const char *value); /* STRING, when not NULL */
	/* CUSTOM: stores value into *field (a member of obj).  Returns 0,
	 * -EINVAL (the key's expected text explains) or -ENOMEM. */
	int (*parse)(void *obj, void *field, const char *value, const struct conf_pos *pos);
};

/*
 * Stores value, read as k says, into obj (the struct k's section fills).
 * Returns 0, -EINVAL (leaving the field untouched; conf_key_describe() says
 * why) or -ENOMEM.
 */
int conf_key_apply(const struct conf_key *k, void *obj, const char *value, const struct conf_pos *pos);

/* "expected …" for k into buf: "expected a number of pools from 1 to 4096",
 * "expected no, 0, or a time such as 10 or 500ms, up to 600s". */
void conf_key_describe(const struct conf_key *k, char *buf, size_t size);

/* Replaces *field with a copy of value (NULL: none), wiping the old value
 * first when secret.  0 or -ENOMEM (then *field is untouched). */
int conf_set_string(char **field, const char *value, bool secret);

/* yes/true/on/1 → 1, no/false/off/0 → 0 (any case), else -EINVAL. */
int conf_bool_from_string(const char *s);

/* A duration: "30", "2.5" (seconds), "1.5s" or "500ms", finer than a
 * millisecond dropped.  The milliseconds, or -1 when not a duration. */
long conf_duration_ms(const char *s);
