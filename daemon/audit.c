/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <syslog.h>
#define SD_JOURNAL_SUPPRESS_LOCATION /* the audit trail's place in the code is no news */
#include <systemd/sd-journal.h>

#include "log.h"
#include "varlink-service.h"

#define AUDIT_FIELDS_MAX 16

static const char *const event_names[_AUDIT_EVENT_MAX] = {
	[AUDIT_DECISION] = "decision",
	[AUDIT_REJECT] = "reject",
	[AUDIT_OUTCOME] = "outcome",
};

const char *audit_event_to_string(enum audit_event e)
{
	return (unsigned)e < _AUDIT_EVENT_MAX ? event_names[e] : "?";
}

const char *audit_message_id(const struct audit_record *r)
{
	switch (r->event) {
	case AUDIT_DECISION:
		return r->allowed ? AUDIT_MESSAGE_ALLOW : AUDIT_MESSAGE_DENY;
	case AUDIT_REJECT:
		return AUDIT_MESSAGE_REJECT;
	case AUDIT_OUTCOME:
	default:
		return r->success ? AUDIT_MESSAGE_SUCCESS : AUDIT_MESSAGE_FAILURE;
	}
}

/* One field: its stderr name, its journal name, its value. */
struct field {
	const char *text;
	const char *journal;
	const char *value;
};

struct fields {
	struct field f[AUDIT_FIELDS_MAX];
	size_t n;
	char numbers[6][24]; /* storage for the numeric values */
	size_t n_numbers;
};

static void add(struct fields *fs, const char *text, const char *journal, const char *value)
{
	if (value && fs->n < AUDIT_FIELDS_MAX)
		fs->f[fs->n++] = (struct field){ text, journal, value };
}

static void add_number(struct fields *fs, const char *text, const char *journal, long long value)
{
	char *buf;

	if (fs->n_numbers >= sizeof(fs->numbers) / sizeof(fs->numbers[0]))
		return;
	buf = fs->numbers[fs->n_numbers++];
	snprintf(buf, sizeof(fs->numbers[0]), "%lld", value);
	add(fs, text, journal, buf);
}

/* The record's fields, in the order they are printed. */
static void collect(const struct audit_record *r, struct fields *fs)
{
	const struct peer *p = r->caller;

	fs->n = fs->n_numbers = 0;
	add(fs, "event", "KMSCANCEL_EVENT", audit_event_to_string(r->event));
	add(fs, "op", "KMSCANCEL_OPERATION", r->operation);
	add(fs, "key", "KMSCANCEL_KEY", r->key);
	if (p) {
		add_number(fs, "uid", "KMSCANCEL_CALLER_UID", (long long)p->uid);
		add_number(fs, "gid", "KMSCANCEL_CALLER_GID", (long long)p->gid);
		add_number(fs, "pid", "KMSCANCEL_CALLER_PID", (long long)p->pid);
		add(fs, "comm", "KMSCANCEL_CALLER_COMM", p->comm);
	}
	switch (r->event) {
	case AUDIT_DECISION:
		add(fs, "decision", "KMSCANCEL_DECISION", r->allowed ? "allow" : "deny");
		add(fs, "rule", "KMSCANCEL_RULE", r->rule);
		break;
	case AUDIT_REJECT:
		add(fs, "decision", "KMSCANCEL_DECISION", "reject");
		add(fs, "reason", "KMSCANCEL_REASON", r->reason);
		break;
	case AUDIT_OUTCOME:
	default:
		add(fs, "outcome", "KMSCANCEL_OUTCOME", r->success ? "success" : "failure");
		add(fs, "key_state", "KMSCANCEL_KEY_STATE", r->key_state);
		add(fs, "error", "KMSCANCEL_ERROR", r->error);
		add(fs, "request_id", "KMSCANCEL_AWS_REQUEST_ID", r->request_id);
		add_number(fs, "attempts", "KMSCANCEL_ATTEMPTS", r->attempts);
		add_number(fs, "latency_ms", "KMSCANCEL_LATENCY_MS", r->latency_ms);
		break;
	}
	add(fs, "account", "KMSCANCEL_ACCOUNT", r->account);
	add(fs, "credentials", "KMSCANCEL_CREDENTIALS", r->credentials);
}

static bool plain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("._:/@+,*=-", c) != NULL;
}

/*
 * Appends value to buf at *len: as is when every byte is plain, else
 * double-quoted with \" \\ and \xNN for control and non-ASCII bytes.  Never
 * writes past size; the result stays NUL-terminated.
 */
static void append_value(char *buf, size_t size, size_t *len, const char *value, bool quote_if_needed)
{
	bool plain = *value != '\0';
	size_t n = *len;

	for (const char *s = value; *s && plain; s++)
		plain = plain_char((unsigned char)*s);
	if (plain || !quote_if_needed) {
		/* The journal takes any bytes but control ones are still escaped:
		 * a newline in a field would read as two entries in text exports. */
		for (const unsigned char *s = (const unsigned char *)value; *s && n + 5 < size; s++) {
			if (*s < 0x20 || *s == 0x7f)
				n += (size_t)snprintf(buf + n, size - n, "\\x%02x", *s);
			else
				buf[n++] = (char)*s;
		}
	} else {
		if (n + 1 < size)
			buf[n++] = '"';
		for (const unsigned char *s = (const unsigned char *)value; *s && n + 6 < size; s++) {
			if (*s == '"' || *s == '\\') {
				buf[n++] = '\\';
				buf[n++] = (char)*s;
			} else if (*s < 0x20 || *s >= 0x7f) {
				n += (size_t)snprintf(buf + n, size - n, "\\x%02x", *s);
			} else {
				buf[n++] = (char)*s;
			}
		}
		if (n + 1 < size)
			buf[n++] = '"';
	}
	buf[n < size ? n : size - 1] = '\0';
	*len = n < size ? n : size - 1;
}

static void format_fields(const struct fields *fs, char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < fs->n && len + 2 < size; i++) {
		len += (size_t)snprintf(buf + len, size - len, "%s%s=", i ? " " : "", fs->f[i].text);
		if (len >= size) {
			len = size - 1;
			break;
		}
		append_value(buf, size, &len, fs->f[i].value, true);
	}
}

void audit_format_text(const struct audit_record *r, char *buf, size_t size)
{
	struct fields fs;
	size_t len;

	if (size < 7) {
		if (size > 0)
			buf[0] = '\0';
		return;
	}
	memcpy(buf, "audit ", 7);
	collect(r, &fs);
	len = strlen(buf);
	format_fields(&fs, buf + len, size - len);
}

/* The journal's MESSAGE: a sentence for people; the fields carry the rest. */
static void human_message(const struct audit_record *r, char *buf, size_t size)
{
	const struct peer *p = r->caller;
	char comm[64] = "", key[512] = "?";
	size_t n = 0;

	if (p)
		append_value(comm, sizeof(comm), &n, p->comm, false);
	n = 0;
	if (r->key)
		append_value(key, sizeof(key), &n, r->key, false);
	switch (r->event) {
	case AUDIT_DECISION:
		snprintf(buf, size, "%s %s of %s for uid %u (%s, pid %d) by rule %s", r->allowed ? "Allowed" : "Denied",
			 r->operation, key, p ? (unsigned)p->uid : 0, comm, p ? (int)p->pid : 0,
			 r->rule ? r->rule : "?");
		break;
	case AUDIT_REJECT:
		snprintf(buf, size, "Rejected %s for uid %u (%s, pid %d): %s", r->operation, p ? (unsigned)p->uid : 0, comm,
			 p ? (int)p->pid : 0, r->reason ? r->reason : "invalid request");
		break;
	case AUDIT_OUTCOME:
	default:
		if (r->success)
			snprintf(buf, size, "%s of %s for uid %u succeeded: %s (%u attempts, %ld ms)", r->operation, key,
				 p ? (unsigned)p->uid : 0, r->key_state ? r->key_state : "?", r->attempts,
				 r->latency_ms);
		else
			snprintf(buf, size, "%s of %s for uid %u failed: %s (%u attempts, %ld ms)", r->operation, key,
				 p ? (unsigned)p->uid : 0, r->error ? r->error : "?", r->attempts, r->latency_ms);
		break;
	}
}

static void journal_send(const struct audit_record *r, const struct fields *fs)
{
	char message[AUDIT_LINE_MAX + 8], id[64], values[AUDIT_FIELDS_MAX][AUDIT_LINE_MAX / 4];
	struct iovec iov[AUDIT_FIELDS_MAX + 4];
	size_t k = 0;

	memcpy(message, "MESSAGE=", 8);
	human_message(r, message + 8, sizeof(message) - 8);
	snprintf(id, sizeof(id), "MESSAGE_ID=%s", audit_message_id(r));
	iov[k++] = (struct iovec){ message, strlen(message) };
	iov[k++] = (struct iovec){ id, strlen(id) };
	iov[k++] = (struct iovec){ (char *)"PRIORITY=6", strlen("PRIORITY=6") };
	iov[k++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=kmscanceld", strlen("SYSLOG_IDENTIFIER=kmscanceld") };
	for (size_t i = 0; i < fs->n; i++) {
		size_t len = (size_t)snprintf(values[i], sizeof(values[i]), "%s=", fs->f[i].journal);

		if (len >= sizeof(values[i]))
			continue;
		append_value(values[i], sizeof(values[i]), &len, fs->f[i].value, false);
		iov[k++] = (struct iovec){ values[i], strlen(values[i]) };
	}
	sd_journal_sendv(iov, (int)k);
}

void audit_log(const struct audit_record *r)
{
	struct fields fs;

	collect(r, &fs);
	if (log_to_journal()) {
		journal_send(r, &fs);
	} else {
		char line[AUDIT_LINE_MAX];

		audit_format_text(r, line, sizeof(line));
		/* Not through log_info(): LogLevel= must not silence the audit
		 * trail.  The same shape as log.c's lines. */
		flockfile(stderr);
		fprintf(stderr, "kmscanceld[info]: %s\n", line);
		fflush(stderr);
		funlockfile(stderr);
	}
}
