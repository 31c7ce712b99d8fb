/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

static int max_level = LOG_INFO;
static int use_journal;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

/* True when systemd connected our stderr to the journal: $JOURNAL_STREAM is
 * "DEV:INODE" of that very stream (see systemd.exec(5)). */
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

void log_internalv(int level, const char *fmt, va_list ap)
{
	int saved_errno = errno;

	if (level > max_level)
		return;
	if (use_journal) {
		char buf[2048];
		vsnprintf(buf, sizeof(buf), fmt, ap);
		sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%d", level, "SYSLOG_IDENTIFIER=kmscanceld", NULL);
	} else {
		flockfile(stderr);
		fprintf(stderr, "kmscanceld[%s]: ", level_names[level & 7]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		funlockfile(stderr);
	}
	errno = saved_errno;
}

void log_internal(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_internalv(level, fmt, ap);
	va_end(ap);
}
