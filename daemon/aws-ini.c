/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "aws-ini.h"

#include "errorf.h"
#include "ini-lexer.h"
#include "textfile.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

/* Limits against absurd input: far above any real file, low enough that the
 * linear lookups below stay cheap. */
#define AWS_INI_MAX_SECTIONS      16384
#define AWS_INI_MAX_PROPERTIES    1024  /* per section */
#define AWS_INI_MAX_SUBPROPERTIES 256   /* per property */
#define AWS_INI_MAX_VALUE_LEN     65536 /* after joining continuation lines */

struct section {
	enum aws_ini_section_kind kind;
	/* A config file's "[default]": kept apart until the end of that file,
	 * because "[profile default]" anywhere in the file overrides it. */
	bool legacy_default;
	char *name;
	struct aws_ini_property *props;
	size_t n_props, cap_props;
};

struct aws_ini {
	struct section *sections;
	size_t n_sections, cap_sections;
	char **files; /* names for aws_ini_property.file */
	size_t n_files;
};

static const char *const section_kind_names[_AWS_INI_SECTION_KIND_MAX] = {
    [AWS_INI_PROFILE] = "profile",
    [AWS_INI_SSO_SESSION] = "sso-session",
    [AWS_INI_SERVICES] = "services",
};

const char *aws_ini_section_kind_to_string(enum aws_ini_section_kind k)
{
	return k < _AWS_INI_SECTION_KIND_MAX ? section_kind_names[k] : NULL;
}

static char *free_secret_string(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
	return NULL;
}

static void property_clear(struct aws_ini_property *p)
{
	free(p->name);
	free_secret_string(p->value);
	for (size_t i = 0; i < p->n_subs; i++) {
		free(p->subs[i].name);
		free_secret_string(p->subs[i].value);
	}
	free(p->subs);
	memset(p, 0, sizeof(*p));
}

static void section_clear(struct section *s)
{
	for (size_t i = 0; i < s->n_props; i++)
		property_clear(&s->props[i]);
	free(s->props);
	free(s->name);
	memset(s, 0, sizeof(*s));
}

struct aws_ini *aws_ini_new(void)
{
	return calloc(1, sizeof(struct aws_ini));
}

struct aws_ini *aws_ini_free(struct aws_ini *ini)
{
	if (!ini)
		return NULL;
	for (size_t i = 0; i < ini->n_sections; i++)
		section_clear(&ini->sections[i]);
	free(ini->sections);
	for (size_t i = 0; i < ini->n_files; i++)
		free(ini->files[i]);
	free(ini->files);
	free(ini);
	return NULL;
}

bool aws_ini_name_valid(const char *name)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/.%@_:+";
	size_t n = strlen(name);

	return n > 0 && strspn(name, allowed) == n;
}

/* Grows *array (of elem-sized items) so that one more fits. */
static int grow(void **array, size_t *cap, size_t n, size_t elem, size_t max)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	if (n >= max)
		return -E2BIG;
	ncap = *cap ? *cap * 2 : 4;
	if (ncap > max)
		ncap = max;
	p = realloc(*array, ncap * elem);
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = ncap;
	return 0;
}

static struct section *find_section(const struct aws_ini *ini, enum aws_ini_section_kind kind, const char *name,
				    bool legacy)
{
	for (size_t i = 0; i < ini->n_sections; i++) {
		struct section *s = &ini->sections[i];

		if (s->kind == kind && s->legacy_default == legacy && strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

/* Finds or appends section kind/name; returns its index or a negative errno. */
static ssize_t ensure_section(struct aws_ini *ini, enum aws_ini_section_kind kind, const char *name, bool legacy)
{
	struct section *s = find_section(ini, kind, name, legacy);
	int r;

	if (s)
		return s - ini->sections;
	r = grow((void **)&ini->sections, &ini->cap_sections, ini->n_sections, sizeof(struct section),
		 AWS_INI_MAX_SECTIONS);
	if (r < 0)
		return r;
	s = &ini->sections[ini->n_sections];
	*s = (struct section){.kind = kind, .legacy_default = legacy, .name = strdup(name)};
	if (!s->name)
		return -ENOMEM;
	return (ssize_t)ini->n_sections++;
}

static struct aws_ini_property *find_property(const struct section *s, const char *key)
{
	for (size_t i = 0; i < s->n_props; i++)
		if (strcasecmp(s->props[i].name, key) == 0)
			return &s->props[i];
	return NULL;
}

/*
 * Stores *p (moved; *p is cleared either way) in section s.  An existing
 * property of that name is replaced, sub-properties and all, unless it came
 * from a credentials file and p from a config file: credentials win.
 * Returns the property's index, or a negative errno.
 */
static ssize_t put_property(struct section *s, struct aws_ini_property *p)
{
	struct aws_ini_property *old = find_property(s, p->name);
	int r;

	if (old) {
		if (old->origin == AWS_INI_CREDENTIALS && p->origin == AWS_INI_CONFIG) {
			property_clear(p);
			return old - s->props;
		}
		property_clear(old);
		*old = *p;
		memset(p, 0, sizeof(*p));
		return old - s->props;
	}
	r = grow((void **)&s->props, &s->cap_props, s->n_props, sizeof(*p), AWS_INI_MAX_PROPERTIES);
	if (r < 0) {
		property_clear(p);
		return r;
	}
	s->props[s->n_props] = *p;
	memset(p, 0, sizeof(*p));
	return (ssize_t)s->n_props++;
}

static const struct section *find_any(const struct aws_ini *ini, enum aws_ini_section_kind kind, const char *name)
{
	return ini ? find_section(ini, kind, name, false) : NULL;
}

bool aws_ini_has_section(const struct aws_ini *ini, enum aws_ini_section_kind kind, const char *name)
{
	return find_any(ini, kind, name) != NULL;
}

const struct aws_ini_property *aws_ini_get_property(const struct aws_ini *ini, enum aws_ini_section_kind kind,
						    const char *name, const char *key)
{
	const struct section *s = find_any(ini, kind, name);

	return s ? find_property(s, key) : NULL;
}

const char *aws_ini_get(const struct aws_ini *ini, const char *profile, const char *key)
{
	const struct aws_ini_property *p = aws_ini_get_property(ini, AWS_INI_PROFILE, profile, key);

	return p ? p->value : NULL;
}

const char *aws_ini_property_sub(const struct aws_ini_property *p, const char *name)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_subs; i++)
		if (strcasecmp(p->subs[i].name, name) == 0)
			return p->subs[i].value;
	return NULL;
}

size_t aws_ini_count_sections(const struct aws_ini *ini, enum aws_ini_section_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; ini && i < ini->n_sections; i++)
		if (ini->sections[i].kind == kind)
			n++;
	return n;
}

const char *aws_ini_section_name(const struct aws_ini *ini, enum aws_ini_section_kind kind, size_t i)
{
	for (size_t j = 0; ini && j < ini->n_sections; j++)
		if (ini->sections[j].kind == kind && i-- == 0)
			return ini->sections[j].name;
	return NULL;
}

size_t aws_ini_count_properties(const struct aws_ini *ini, enum aws_ini_section_kind kind, const char *name)
{
	const struct section *s = find_any(ini, kind, name);

	return s ? s->n_props : 0;
}

const struct aws_ini_property *aws_ini_property_at(const struct aws_ini *ini, enum aws_ini_section_kind kind,
						   const char *name, size_t i)
{
	const struct section *s = find_any(ini, kind, name);

	return s && i < s->n_props ? &s->props[i] : NULL;
}

/* --- parsing ------------------------------------------------------------- */

struct parser {
	struct aws_ini *ini; /* a fresh set, merged into the caller's at the end */
	enum aws_ini_file_kind kind;
	struct ini_lexer lx;      /* its file is owned by ini->files */
	bool have_section;        /* a header was seen, even one being ignored */
	ssize_t section;          /* index into ini->sections, -1 while ignoring */
	bool have_property;       /* a key line was seen in this section */
	ssize_t property;         /* index into the section's props, -1 while ignoring */
	bool sub_mode;            /* the key's value was empty: indented lines are sub-properties */
	size_t value_cap;         /* allocated size of the current property's value */
	bool saw_profile_default; /* "[profile default]" in this config file */
};

static const struct ini_dialect aws_dialect = {
    .indent_continues = true,
    .inline_comments = true,
    .skip_bom = true,
    .expected_assignment = "expected 'key = value'",
};

static int limit_error(struct parser *p, int r)
{
	if (r == -E2BIG)
		return ini_lexer_error(&p->lx, -EINVAL, "too many sections, keys or sub-keys");
	return r;
}

static struct aws_ini_property *current_property(struct parser *p)
{
	if (p->section < 0 || p->property < 0)
		return NULL;
	return &p->ini->sections[p->section].props[p->property];
}

/* "profile foo" → "foo" when s starts with prefix followed by blanks. */
static const char *after_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(s, prefix, n) != 0 || !text_is_blank(s[n]))
		return NULL;
	s += n;
	while (text_is_blank(*s))
		s++;
	return s;
}

/*
 * Decides what a header's inner text names in this file's dialect.  Returns
 * false for sections this dialect ignores.  *ret_name points into inner.
 */
static bool classify_header(struct parser *p, char *inner, enum aws_ini_section_kind *ret_kind, const char **ret_name,
			    bool *ret_legacy)
{
	static const struct {
		const char *prefix;
		enum aws_ini_section_kind kind;
	} prefixes[] = {
	    {"profile", AWS_INI_PROFILE},
	    {"sso-session", AWS_INI_SSO_SESSION},
	    {"services", AWS_INI_SERVICES},
	};

	*ret_legacy = false;
	if (p->kind == AWS_INI_CREDENTIALS) {
		*ret_kind = AWS_INI_PROFILE;
		*ret_name = inner;
		return aws_ini_name_valid(inner);
	}
	if (strcmp(inner, "default") == 0) {
		*ret_kind = AWS_INI_PROFILE;
		*ret_name = inner;
		*ret_legacy = true;
		return true;
	}
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		const char *name = after_prefix(inner, prefixes[i].prefix);

		if (!name)
			continue;
		if (!aws_ini_name_valid(name))
			return false;
		if (prefixes[i].kind == AWS_INI_PROFILE && strcmp(name, "default") == 0)
			p->saw_profile_default = true;
		*ret_kind = prefixes[i].kind;
		*ret_name = name;
		return true;
	}
	return false;
}

/* A header, its brackets and comment already gone (the lexer's work). */
static int parse_header(struct parser *p, char *s)
{
	enum aws_ini_section_kind kind;
	const char *name;
	bool legacy;

	p->have_section = true;
	p->have_property = false;
	p->property = -1;
	p->section = -1;
	if (!classify_header(p, s, &kind, &name, &legacy))
		return 0;
	p->section = ensure_section(p->ini, kind, name, legacy);
	return p->section < 0 ? limit_error(p, (int)p->section) : 0;
}

static int parse_property(struct parser *p, struct ini_line *l)
{
	struct aws_ini_property prop = {0};
	char *key, *value;
	ssize_t idx;
	int r;

	if (!p->have_section)
		return ini_lexer_error(&p->lx, -EINVAL, "key outside of any section");
	r = ini_lexer_split(&p->lx, l, &key, &value);
	if (r < 0)
		return r;
	if (*key == '\0')
		return ini_lexer_error(&p->lx, -EINVAL, "key without a name");

	p->have_property = true;
	p->sub_mode = *value == '\0';
	p->property = -1;
	if (p->section < 0 || !aws_ini_name_valid(key))
		return 0;

	for (char *c = key; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	prop = (struct aws_ini_property){
	    .name = strdup(key), .value = strdup(value), .origin = p->kind, .file = p->lx.file, .line = p->lx.line};
	if (!prop.name || !prop.value) {
		property_clear(&prop);
		return -ENOMEM;
	}
	p->value_cap = strlen(value) + 1;
	idx = put_property(&p->ini->sections[p->section], &prop);
	if (idx < 0)
		return limit_error(p, (int)idx);
	p->property = idx;
	return 0;
}

/* Appends "\n" + s to the current value, growing it by doubling (and wiping
 * the old buffer: it may be part of a secret). */
static int append_continuation(struct parser *p, struct aws_ini_property *prop, const char *s)
{
	size_t len = strlen(prop->value), add = strlen(s) + 1;
	char *nv;

	if (len + add >= AWS_INI_MAX_VALUE_LEN)
		return ini_lexer_error(&p->lx, -EINVAL, "value longer than %d bytes", AWS_INI_MAX_VALUE_LEN);
	if (len + add + 1 > p->value_cap) {
		size_t ncap = (len + add + 1) * 2;

		nv = malloc(ncap);
		if (!nv)
			return -ENOMEM;
		memcpy(nv, prop->value, len + 1);
		free_secret_string(prop->value);
		prop->value = nv;
		p->value_cap = ncap;
	}
	prop->value[len] = '\n';
	memcpy(prop->value + len + 1, s, add);
	return 0;
}

static int add_subproperty(struct parser *p, struct aws_ini_property *prop, const char *name, const char *value)
{
	struct aws_ini_subproperty sub, *n;

	for (size_t i = 0; i < prop->n_subs; i++)
		if (strcasecmp(prop->subs[i].name, name) == 0) {
			char *v = strdup(value);

			if (!v)
				return -ENOMEM;
			free_secret_string(prop->subs[i].value);
			prop->subs[i].value = v;
			return 0;
		}
	if (prop->n_subs >= AWS_INI_MAX_SUBPROPERTIES)
		return limit_error(p, -E2BIG);
	sub.name = strdup(name);
	sub.value = strdup(value);
	if (!sub.name || !sub.value) {
		free(sub.name);
		free(sub.value);
		return -ENOMEM;
	}
	/* n_subs stays small (capped above): growing one by one is fine. */
	n = realloc(prop->subs, (prop->n_subs + 1) * sizeof(*n));
	if (!n) {
		free(sub.name);
		free(sub.value);
		return -ENOMEM;
	}
	prop->subs = n;
	prop->subs[prop->n_subs++] = sub;
	return 0;
}

/* An indented line: continues the current value, or is a sub-property when
 * that value was empty.  Comments are not stripped here (they are part of the
 * value, as in every SDK). */
static int parse_continuation(struct parser *p, char *line)
{
	struct aws_ini_property *prop;
	char *s = text_strip(line), *eq;

	if (!p->have_section)
		return ini_lexer_error(&p->lx, -EINVAL, "continuation line outside of any section");
	if (!p->have_property)
		return ini_lexer_error(&p->lx, -EINVAL, "continuation line without a key to continue");
	prop = current_property(p);
	if (!p->sub_mode)
		return prop ? append_continuation(p, prop, s) : 0;

	eq = strchr(s, '=');
	if (!eq)
		return ini_lexer_error(&p->lx, -EINVAL, "expected 'name = value' for a sub-key");
	*eq = '\0';
	if (*text_strip(s) == '\0')
		return ini_lexer_error(&p->lx, -EINVAL, "sub-key without a name");
	return prop ? add_subproperty(p, prop, text_strip(s), text_strip(eq + 1)) : 0;
}

static int parse_line(struct parser *p, struct ini_line *l)
{
	switch (l->kind) {
	case INI_SECTION:
		return parse_header(p, l->section);
	case INI_CONTINUATION:
		return parse_continuation(p, l->text);
	case INI_ASSIGNMENT:
		break;
	}
	return parse_property(p, l);
}

/* At the end of a config file: "[default]" counts only if the file has no
 * "[profile default]". */
static int resolve_legacy_default(struct parser *p)
{
	struct section *legacy = find_section(p->ini, AWS_INI_PROFILE, "default", true);
	ssize_t idx;

	if (!legacy)
		return 0;
	if (p->saw_profile_default) {
		section_clear(legacy);
		*legacy = p->ini->sections[--p->ini->n_sections];
		return 0;
	}
	idx = legacy - p->ini->sections;
	p->ini->sections[idx].legacy_default = false;
	return 0;
}

/* Moves every section and file name of src into dst (src is left empty). */
static int merge_into(struct aws_ini *dst, struct aws_ini *src)
{
	char **files = realloc(dst->files, (dst->n_files + src->n_files) * sizeof(char *));

	if (!files)
		return -ENOMEM;
	dst->files = files;
	memcpy(dst->files + dst->n_files, src->files, src->n_files * sizeof(char *));
	dst->n_files += src->n_files;
	src->n_files = 0;

	for (size_t i = 0; i < src->n_sections; i++) {
		struct section *s = &src->sections[i];
		ssize_t idx = ensure_section(dst, s->kind, s->name, false);

		if (idx < 0)
			return (int)idx;
		for (size_t j = 0; j < s->n_props; j++) {
			ssize_t r = put_property(&dst->sections[idx], &s->props[j]);

			if (r < 0)
				return (int)r;
		}
	}
	return 0;
}

static int parse_text(struct parser *p)
{
	struct ini_line l;
	int r;

	while ((r = ini_lexer_next(&p->lx, &l)) > 0) {
		r = parse_line(p, &l);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return p->kind == AWS_INI_CONFIG ? resolve_legacy_default(p) : 0;
}

int aws_ini_parse_string(struct aws_ini *ini, enum aws_ini_file_kind kind, const char *text, const char *filename,
			 char **ret_error)
{
	struct parser p = {.kind = kind, .section = -1, .property = -1};
	size_t len;
	char *buf = NULL, *name = NULL;
	int r = -ENOMEM;

	assert(ini && text && filename);
	len = strlen(text);
	p.ini = aws_ini_new();
	buf = malloc(len + 1);
	name = strdup(filename);
	if (!p.ini || !buf || !name)
		goto out;
	memcpy(buf, text, len + 1);
	p.ini->files = malloc(sizeof(char *));
	if (!p.ini->files)
		goto out;
	p.ini->files[p.ini->n_files++] = name;
	ini_lexer_init(&p.lx, &aws_dialect, buf, name);
	name = NULL;

	r = parse_text(&p);
	if (r == 0)
		r = merge_into(ini, p.ini);
	ini_lexer_take_error(&p.lx, r < 0 ? ret_error : NULL);
out:
	textfile_free(buf, len);
	free(name);
	aws_ini_free(p.ini);
	return r;
}

int aws_ini_load_file(struct aws_ini *ini, enum aws_ini_file_kind kind, const char *path, char **ret_error)
{
	char *buf = NULL;
	size_t size = 0;
	int r;

	assert(ini && path);
	r = textfile_read(path, AWS_INI_MAX_FILE_SIZE, &buf, &size);
	if (r == -ENOENT)
		return r;
	if (r < 0) {
		const char *why = r == -EFBIG    ? "file too large"
				  : r == -EINVAL ? "not a regular text file"
						 : strerror(-r);

		return errorf(ret_error, r, "%s: %s", path, why);
	}
	r = aws_ini_parse_string(ini, kind, buf, path, ret_error);
	textfile_free(buf, size);
	return r;
}
