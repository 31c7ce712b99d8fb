/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "ini-lexer.h"

#include "textfile.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ini_lexer_init(struct ini_lexer *lx, const struct ini_dialect *d, char *buf, const char *file)
{
	assert(lx && d && buf && file);
	*lx = (struct ini_lexer){.dialect = d, .file = file, .cursor = buf};
	/* A UTF-8 byte order mark, as some Windows editors write. */
	if (d->skip_bom && strncmp(buf, "\xef\xbb\xbf", 3) == 0)
		lx->cursor += 3;
}

int ini_lexer_error(struct ini_lexer *lx, int r, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;

	assert(lx && fmt);
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(lx->error);
	if (!msg || asprintf(&lx->error, "%s:%u: %s", lx->file, lx->line, msg) < 0)
		lx->error = NULL;
	free(msg);
	return r;
}

void ini_lexer_take_error(struct ini_lexer *lx, char **ret_error)
{
	if (ret_error && lx->error)
		*ret_error = lx->error;
	else
		free(lx->error);
	lx->error = NULL;
}

static bool is_blank_line(const char *s)
{
	while (text_is_blank(*s))
		s++;
	return *s == '\0';
}

/* "[inner]" with its comment cut (AWS): inner, stripped there. */
static int lex_header(struct ini_lexer *lx, char *s, struct ini_line *ret)
{
	size_t n;

	if (lx->dialect->inline_comments) {
		s[strcspn(s, "#;")] = '\0';
		s = text_strip(s);
	}
	n = strlen(s);
	if (n < 2 || s[n - 1] != ']')
		return ini_lexer_error(lx, -EINVAL, "section header does not end with ']'");
	s[n - 1] = '\0';
	*ret = (struct ini_line){.kind = INI_SECTION, .section = s + 1};
	if (lx->dialect->inline_comments)
		ret->section = text_strip(ret->section);
	return 1;
}

int ini_lexer_next(struct ini_lexer *lx, struct ini_line *ret)
{
	const struct ini_dialect *d;
	char *raw, *s;

	assert(lx && ret);
	d = lx->dialect;
	while ((raw = textfile_next_line(&lx->cursor))) {
		lx->line++;
		if (is_blank_line(raw))
			continue;
		if (d->indent_continues && text_is_blank(raw[0])) {
			*ret = (struct ini_line){.kind = INI_CONTINUATION, .text = raw};
			return 1;
		}
		s = d->indent_continues ? raw : text_strip(raw);
		if (*s == '#' || *s == ';')
			continue;
		if (*s == '[')
			return lex_header(lx, s, ret);
		*ret = (struct ini_line){.kind = INI_ASSIGNMENT, .text = s};
		return 1;
	}
	return 0;
}

/* Cuts a comment off a value: '#' or ';' only count after whitespace, so
 * "value;x" keeps its semicolon. */
static void cut_value_comment(char *line)
{
	for (char *c = line; *c; c++)
		if ((*c == '#' || *c == ';') && c > line && text_is_blank(c[-1])) {
			*c = '\0';
			return;
		}
}

int ini_lexer_split(struct ini_lexer *lx, struct ini_line *l, char **ret_key, char **ret_value)
{
	char *eq;

	assert(lx && l && ret_key && ret_value);
	assert(l->kind == INI_ASSIGNMENT);
	if (lx->dialect->inline_comments)
		cut_value_comment(l->text);
	eq = strchr(l->text, '=');
	if (!eq)
		return ini_lexer_error(lx, -EINVAL, "%s", lx->dialect->expected_assignment);
	*eq = '\0';
	*ret_key = text_strip(l->text);
	*ret_value = text_strip(eq + 1);
	return 0;
}
