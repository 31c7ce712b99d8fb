/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "log.h"

#include <errno.h>
#include <printf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#define SD_JOURNAL_SUPPRESS_LOCATION /* we pass the caller's CODE_* ourselves */
#include <systemd/sd-journal.h>

static int max_level = LOG_INFO;
static int use_journal;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

/* True when systemd connected our stderr to the journal: $JOURNAL_STREAM is
 * "DEV:INODE" of that very stream (see systemd.exec(5)).  A child with a
 * redirected stderr inherits the variable, hence the comparison. */
static int stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(void)
{
	use_journal = stderr_is_journal();
}

int log_to_journal(void)
{
	return use_journal;
}

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

int log_level_from_string(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	return -EINVAL;
}

const char *log_level_to_string(int level)
{
	return level >= 0 && level <= LOG_DEBUG ? level_names[level] : "?";
}

static void stderr_line(int level, const char *text)
{
	flockfile(stderr);
	fprintf(stderr, "kmscanceld[%s]: %s\n", level_names[level & 7], text);
	funlockfile(stderr);
}

void log_internalv(int level, const char *file, int line, const char *func, const char *fmt, va_list ap)
{
	int saved_errno = errno;
	char buf[LOG_LINE_MAX];

	if (level > max_level)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (use_journal)
		sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%d", level, "SYSLOG_IDENTIFIER=kmscanceld",
				"CODE_FILE=%s", file, "CODE_LINE=%d", line, "CODE_FUNC=%s", func, NULL);
	else
		stderr_line(level, buf);
	errno = saved_errno;
}

void log_internal(int level, const char *file, int line, const char *func, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_internalv(level, file, line, func, fmt, ap);
	va_end(ap);
}

/*
 * Moves ap past the arguments format consumes, as systemd's
 * VA_FORMAT_ADVANCE(): glibc's parse_printf_format() names their types.
 * Returns 0, or -EINVAL for a format it cannot step over (then the rest of
 * the list cannot be trusted and must be dropped).
 */
int log_errno_internal(int level, int r, const char *file, int line, const char *func, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_internalv(level, file, line, func, fmt, ap);
	va_end(ap);
	return r;
}

static int va_format_advance(const char *format, va_list *ap)
{
	int types[16];
	size_t n = parse_printf_format(format, sizeof(types) / sizeof(types[0]), types);

	if (n > sizeof(types) / sizeof(types[0]))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (types[i] & PA_FLAG_PTR) {
			(void)va_arg(*ap, void *);
			continue;
		}
		switch (types[i] & ~PA_FLAG_MASK) {
		case PA_INT:
		case PA_CHAR:
		case PA_WCHAR:
			if (types[i] & PA_FLAG_LONG_LONG)
				(void)va_arg(*ap, long long);
			else if (types[i] & PA_FLAG_LONG)
				(void)va_arg(*ap, long);
			else
				(void)va_arg(*ap, int); /* char and short are promoted */
			break;
		case PA_STRING:
		case PA_WSTRING:
		case PA_POINTER:
			(void)va_arg(*ap, void *);
			break;
		case PA_FLOAT:
		case PA_DOUBLE:
			if (types[i] & PA_FLAG_LONG_DOUBLE)
				(void)va_arg(*ap, long double);
			else
				(void)va_arg(*ap, double);
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Formats the NULL-terminated "FIELD=fmt", args… list into fields[] (each
 * malloc'ed, "FIELD=value"), at most LOG_STRUCT_FIELDS_MAX.  Returns how
 * many.  Stops at a field that does not parse or cannot be allocated.
 */
static size_t format_fields(const char *format, va_list ap, char **fields)
{
	size_t n = 0;
	va_list aq;

	va_copy(aq, ap);
	for (; format && n < LOG_STRUCT_FIELDS_MAX; format = va_arg(aq, const char *)) {
		char buf[LOG_LINE_MAX];
		va_list one;

		va_copy(one, aq);
		/* Each field's format comes from the caller's argument list, as
		 * with sd_journal_send(); log_struct()'s callers pass literals. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		vsnprintf(buf, sizeof(buf), format, one);
#pragma GCC diagnostic pop
		va_end(one);
		if (!strchr(buf, '=') || !(fields[n] = strdup(buf)))
			break;
		n++;
		if (va_format_advance(format, &aq) < 0)
			break;
	}
	va_end(aq);
	return n;
}

/* On stderr: MESSAGE alone, or every field when there is none. */
static void stderr_fields(int level, char **fields, size_t n)
{
	char line[LOG_LINE_MAX];
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		if (strncmp(fields[i], "MESSAGE=", 8) == 0) {
			stderr_line(level, fields[i] + 8);
			return;
		}
	line[0] = '\0';
	for (size_t i = 0; i < n && len < sizeof(line); i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s", i ? " " : "", fields[i]);
	stderr_line(level, line);
}

void log_struct_internal(int level, const char *file, int line, const char *func, const char *format, ...)
{
	int saved_errno = errno;
	char *fields[LOG_STRUCT_FIELDS_MAX];
	size_t n;
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, format);
	n = format_fields(format, ap, fields);
	va_end(ap);

	if (use_journal) {
		struct iovec iov[LOG_STRUCT_FIELDS_MAX + 5];
		char priority[16], code_line[32], *code_file = NULL, *code_func = NULL;
		size_t k = 0;

		for (size_t i = 0; i < n; i++)
			iov[k++] = (struct iovec){ fields[i], strlen(fields[i]) };
		snprintf(priority, sizeof(priority), "PRIORITY=%d", level);
		snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
		iov[k++] = (struct iovec){ priority, strlen(priority) };
		iov[k++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=kmscanceld", strlen("SYSLOG_IDENTIFIER=kmscanceld") };
		iov[k++] = (struct iovec){ code_line, strlen(code_line) };
		if (asprintf(&code_file, "CODE_FILE=%s", file) >= 0)
			iov[k++] = (struct iovec){ code_file, strlen(code_file) };
		else
			code_file = NULL;
		if (asprintf(&code_func, "CODE_FUNC=%s", func) >= 0)
			iov[k++] = (struct iovec){ code_func, strlen(code_func) };
		else
			code_func = NULL;
		sd_journal_sendv(iov, (int)k);
		free(code_file);
		free(code_func);
	} else {
		stderr_fields(level, fields, n);
	}
	for (size_t i = 0; i < n; i++)
		free(fields[i]);
	errno = saved_errno;
}
