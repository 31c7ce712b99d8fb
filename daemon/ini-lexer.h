/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The line lexer under both INI formats the daemon reads: its own
 * kmscanceld.conf (systemd style, conf.c) and the AWS shared files
 * (aws-ini.c).  It splits a buffer into lines, counts them, tells section
 * headers, assignments, continuation lines and comments apart the way a
 * dialect wants, and formats "FILE:LINE: …" errors.  What a section or key
 * means stays with each parser.
 *
 * The two dialects differ in three ways, each a field of struct ini_dialect:
 * systemd's ignores leading whitespace, where the AWS format reads an
 * indented line as a continuation or sub-property; the AWS format lets '#'
 * and ';' end a header, and end a value after whitespace; the AWS files may
 * start with a UTF-8 byte order mark.
 */
#include <stdbool.h>

struct ini_dialect {
	bool indent_continues;           /* an indented line is INI_CONTINUATION (AWS), else it is stripped (systemd) */
	bool inline_comments;            /* '#'/';' end a header, and a value after a blank (AWS) */
	bool skip_bom;                   /* a leading UTF-8 byte order mark is skipped (AWS) */
	const char *expected_assignment; /* the error for a line without '=' */
};

enum ini_line_kind {
	INI_SECTION,      /* "[inner]": section */
	INI_ASSIGNMENT,   /* anything else not indented: split it with ini_lexer_split() */
	INI_CONTINUATION, /* an indented line, only with indent_continues: text */
};

struct ini_line {
	enum ini_line_kind kind;
	char *text;    /* ASSIGNMENT, CONTINUATION: the line (stripped unless a continuation) */
	char *section; /* SECTION: the text between the brackets, stripped with inline_comments */
};

struct ini_lexer {
	const struct ini_dialect *dialect;
	const char *file; /* for messages; not owned */
	unsigned line;    /* of the line last returned, from 1 */
	char *cursor;
	char *error; /* the last message (malloc'ed), for the caller to take */
};

/*
 * Starts lexing buf (NUL-terminated, modified in place, owned by the
 * caller, who must keep it and file alive while lexing).
 */
void ini_lexer_init(struct ini_lexer *lx, const struct ini_dialect *d, char *buf, const char *file);

/*
 * The next line that is not blank or a comment into *ret (pointing into the
 * buffer).  Returns 1, 0 at the end, or -EINVAL for a header without its
 * closing ']' (message in lx->error).
 */
int ini_lexer_next(struct ini_lexer *lx, struct ini_line *ret);

/*
 * Splits an INI_ASSIGNMENT at its first '=' into the stripped *ret_key and
 * *ret_value (in place), after cutting an inline comment when the dialect
 * has them.  Returns 0, or -EINVAL with the dialect's expected_assignment
 * message when there is no '='.  (A continuation's sub-key is the AWS
 * parser's business: there '#' belongs to the value.)
 */
int ini_lexer_split(struct ini_lexer *lx, struct ini_line *l, char **ret_key, char **ret_value);

/* Sets lx->error to "FILE:LINE: " and the message; returns r. */
int ini_lexer_error(struct ini_lexer *lx, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Hands lx->error over to *ret_error when that is not NULL (the caller frees
 * it), else frees it. */
void ini_lexer_take_error(struct ini_lexer *lx, char **ret_error);
