/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Daemon logging.  Levels are syslog's (LOG_ERR … LOG_DEBUG from
 * <syslog.h>).  Under systemd, when $JOURNAL_STREAM names our stderr, entries
 * go to the journal natively (sd_journal_send) with their priority,
 * CODE_FILE/CODE_LINE/CODE_FUNC and SYSLOG_IDENTIFIER; otherwise one line each
 * on stderr, "kmscanceld[LEVEL]: MESSAGE".  Never pass a secret to any of
 * these.
 *
 * Structured entries, as systemd's log_struct():
 *
 *	log_struct(LOG_INFO,
 *		   "MESSAGE_ID=" SOME_MESSAGE_ID,
 *		   "MESSAGE=cancelled %s", key,
 *		   "KMSCANCEL_UID=%u", (unsigned)uid,
 *		   NULL);
 *
 * Each argument is a printf format "FIELD=…" followed by the values it
 * consumes, as for sd_journal_send(); the list ends with NULL.  Field names
 * are journal field names (upper case, digits, '_', not starting with '_').
 * On stderr only MESSAGE is printed (or, without one, every field, space
 * separated), so put what a reader needs into MESSAGE.
 */
#include <stdarg.h>
#include <syslog.h>

/* Most fields one log_struct() entry may carry; more are dropped. */
#define LOG_STRUCT_FIELDS_MAX 32
/* Longest formatted field (or plain message); longer ones are truncated. */
#define LOG_LINE_MAX 2048

void log_setup(void);
void log_set_max_level(int level);
int log_get_max_level(void);
/* Whether entries go to the journal (decided by log_setup()). */
int log_to_journal(void);
/* Parses "err", "warning", "notice", "info", "debug" (or 3..7); -EINVAL otherwise. */
int log_level_from_string(const char *s);
/* "err", "warning", … for 0..7; "?" otherwise. */
const char *log_level_to_string(int level);

void log_internal(int level, const char *file, int line, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void log_internalv(int level, const char *file, int line, const char *func, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));
void log_struct_internal(int level, const char *file, int line, const char *func, const char *format, ...)
	__attribute__((sentinel));

#define log_full(level, ...) \
	do { \
		if (log_get_max_level() >= (level)) \
			log_internal((level), __FILE__, __LINE__, __func__, __VA_ARGS__); \
	} while (0)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)

/*
 * log_*_errno(r, fmt, …): logs as log_*() does and evaluates to r, so that
 * a failure is logged and propagated in one statement, as in systemd:
 *
 *	if (r < 0)
 *		return log_warning_errno(r, "cannot read %s: %s", path, strerror(-r));
 *
 * r is returned unchanged (any int, also when the level is filtered out);
 * the message is formatted only as given (no implicit %m).
 */
int log_errno_internal(int level, int r, const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
#define log_full_errno(level, r, ...)                                                                                  \
	(log_get_max_level() >= (level) ? log_errno_internal((level), (r), __FILE__, __LINE__, __func__, __VA_ARGS__)  \
					: (r))
#define log_error_errno(r, ...)   log_full_errno(LOG_ERR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) log_full_errno(LOG_WARNING, (r), __VA_ARGS__)
#define log_notice_errno(r, ...)  log_full_errno(LOG_NOTICE, (r), __VA_ARGS__)
#define log_info_errno(r, ...)    log_full_errno(LOG_INFO, (r), __VA_ARGS__)
#define log_debug_errno(r, ...)   log_full_errno(LOG_DEBUG, (r), __VA_ARGS__)

#define log_struct(level, ...) \
	do { \
		if (log_get_max_level() >= (level)) \
			log_struct_internal((level), __FILE__, __LINE__, __func__, __VA_ARGS__); \
	} while (0)
