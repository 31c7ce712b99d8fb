/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The AWS shared config and credentials files (~/.aws/config,
 * ~/.aws/credentials), parsed the way the AWS SDKs do (AWS.md §7.3; the
 * cross-SDK profile-parser test suite):
 *
 *   config file:       [profile NAME], [default], [sso-session NAME],
 *                      [services NAME]; [NAME] without prefix is ignored;
 *                      [profile default] wins over [default].
 *   credentials file:  [NAME]; [profile NAME] is ignored.
 *
 * Names and values are trimmed; key names are case-insensitive (stored
 * lower-case); a section or key with an invalid name is skipped with its
 * contents; '#'/';' start a comment at the beginning of a line, anywhere after
 * a section header, and inside a value only after whitespace; an indented
 * line continues the previous value ("\n"-joined) or, when that value was
 * empty, defines a sub-property ("s3 =" / "  endpoint_url = …").  Sections
 * that appear twice are merged, later keys winning; a value from the
 * credentials file is never overridden by one from the config file.
 *
 * One struct aws_ini holds every section of every file loaded into it.  It is
 * not thread-safe; once loaded it is only read.  Values may be secrets
 * (aws_secret_access_key): aws_ini_free() wipes them.
 */
#include <stdbool.h>
#include <stddef.h>

enum aws_ini_file_kind {
	AWS_INI_CONFIG,      /* ~/.aws/config dialect */
	AWS_INI_CREDENTIALS, /* ~/.aws/credentials dialect */
};

enum aws_ini_section_kind {
	AWS_INI_PROFILE,     /* [profile NAME] / [default] / credentials [NAME] */
	AWS_INI_SSO_SESSION, /* [sso-session NAME] */
	AWS_INI_SERVICES,    /* [services NAME] */
	_AWS_INI_SECTION_KIND_MAX,
};
/* "profile", "sso-session", "services". */
const char *aws_ini_section_kind_to_string(enum aws_ini_section_kind k);

struct aws_ini_subproperty {
	char *name; /* as written, trimmed (looked up case-insensitively) */
	char *value;
};

/* One key of a section.  Read-only for users of this module. */
struct aws_ini_property {
	char *name;  /* lower-case */
	char *value; /* trimmed; continuation lines joined with "\n"; "" when the
		      * property only has sub-properties */
	struct aws_ini_subproperty *subs;
	size_t n_subs;
	enum aws_ini_file_kind origin; /* which kind of file set it */
	const char *file;              /* where it was set, for messages */
	unsigned line;
};

struct aws_ini;

/* Largest file the parser accepts (these files are a few KiB at most). */
#define AWS_INI_MAX_FILE_SIZE (1024 * 1024)

/* An empty set of profiles, or NULL when out of memory. */
struct aws_ini *aws_ini_new(void);
/* Frees ini, wiping every value.  NULL-safe, returns NULL. */
struct aws_ini *aws_ini_free(struct aws_ini *ini);

/*
 * Parses text (NUL-terminated; CRLF or LF) in the dialect of kind and merges
 * its sections into ini.  filename is copied and only used in messages and
 * in aws_ini_property.file.
 * Returns 0; -EINVAL for a syntax error, with *ret_error (malloc'ed)
 * "FILE:LINE: what is wrong" and ini unchanged; -ENOMEM.
 * Error messages never quote values, which may be secrets.
 */
int aws_ini_parse_string(struct aws_ini *ini, enum aws_ini_file_kind kind, const char *text, const char *filename,
			 char **ret_error);

/*
 * Reads path (at most AWS_INI_MAX_FILE_SIZE bytes, a regular file) and parses
 * it as aws_ini_parse_string() does.  Returns 0; -ENOENT when the file does
 * not exist (no message: a missing file is normal and the caller decides);
 * another negative errno with *ret_error naming the file (and line).
 */
int aws_ini_load_file(struct aws_ini *ini, enum aws_ini_file_kind kind, const char *path, char **ret_error);

/* True when a section of that kind and name exists (even if empty). */
bool aws_ini_has_section(const struct aws_ini *ini, enum aws_ini_section_kind kind, const char *name);

/* The property key (case-insensitive) of section kind/name, or NULL. */
const struct aws_ini_property *aws_ini_get_property(const struct aws_ini *ini, enum aws_ini_section_kind kind,
						    const char *name, const char *key);

/* Shorthand: the value of key in profile name, or NULL. */
const char *aws_ini_get(const struct aws_ini *ini, const char *profile, const char *key);

/* The value of sub-property name (case-insensitive) of p, or NULL. */
const char *aws_ini_property_sub(const struct aws_ini_property *p, const char *name);

/* Number of sections of kind, and the name of the i-th (file order). */
size_t aws_ini_count_sections(const struct aws_ini *ini, enum aws_ini_section_kind kind);
const char *aws_ini_section_name(const struct aws_ini *ini, enum aws_ini_section_kind kind, size_t i);

/* Number of properties of a section (0 if absent) and the i-th of them. */
size_t aws_ini_count_properties(const struct aws_ini *ini, enum aws_ini_section_kind kind, const char *name);
const struct aws_ini_property *aws_ini_property_at(const struct aws_ini *ini, enum aws_ini_section_kind kind,
						   const char *name, size_t i);

/* True when name is a valid profile/section/key name: letters, digits and
 * "-/.%@_:+", non-empty. */
bool aws_ini_name_valid(const char *name);
