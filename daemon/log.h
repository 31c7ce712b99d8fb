/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Daemon logging.  Levels are syslog's (LOG_ERR … LOG_DEBUG from
 * <syslog.h>).  Under systemd, when $JOURNAL_STREAM names our stderr, entries
 * go to the journal natively with their priority; otherwise one line each on
 * stderr.  Never pass a secret to any of these.
 */
#include <stdarg.h>
#include <syslog.h>

void log_setup(void);
void log_set_max_level(int level);
int log_get_max_level(void);
/* Parses "err", "warning", "notice", "info", "debug" (or 3..7); -EINVAL otherwise. */
int log_level_from_string(const char *s);

void log_internal(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_internalv(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_error(...) log_internal(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { \
		if (log_get_max_level() >= LOG_DEBUG) \
			log_internal(LOG_DEBUG, __VA_ARGS__); \
	} while (0)
