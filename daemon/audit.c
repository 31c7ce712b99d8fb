/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "audit.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>
#define SD_JOURNAL_SUPPRESS_LOCATION /* the audit trail's place in the code is no news */
#include <systemd/sd-journal.h>

#include "log.h"
#include "monotime.h"
#include "varlink-service.h"

#define AUDIT_FIELDS_MAX 20
#define STDERR_PREFIX    "kmscanceld[info]: audit "

static const char *const event_names[_AUDIT_EVENT_MAX] = {
    [AUDIT_DECISION] = "decision",
    [AUDIT_REJECT] = "reject",
    [AUDIT_OUTCOME] = "outcome",
    [AUDIT_LEFT_OUT] = "left-out",
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
	case AUDIT_LEFT_OUT:
		return AUDIT_MESSAGE_LEFT_OUT;
	case AUDIT_OUTCOME:
	default:
		return r->success ? AUDIT_MESSAGE_SUCCESS : AUDIT_MESSAGE_FAILURE;
	}
}

/*
 * A bounded line being written: appends never go past size - 1 and the text
 * stays NUL-terminated.  Once something does not fit, the line is full and
 * later appends are dropped, so a cut line never ends in half an escape
 * followed by more fields.  Written by hand rather than with snprintf():
 * every call writes two records, and stdio's formatting was most of the
 * daemon's work per call.
 */
struct line {
	char *buf;
	size_t size; /* > 0 */
	size_t len;
	bool full;
};

static struct line line_init(char *buf, size_t size)
{
	buf[0] = '\0';
	return (struct line){ buf, size, 0, false };
}

/* Appends n bytes whole, or nothing (and the line is full). */
static void line_put(struct line *l, const char *s, size_t n)
{
	if (l->full || n > l->size - 1 - l->len) {
		l->full = true;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = '\0';
}

static void line_puts(struct line *l, const char *s)
{
	line_put(l, s, strlen(s));
}

/* Appends as much of s as fits: a long plain value is cut, not dropped. */
static void line_put_cut(struct line *l, const char *s, size_t n)
{
	size_t room = l->full ? 0 : l->size - 1 - l->len;

	line_put(l, s, n < room ? n : room);
	if (n > room)
		l->full = true;
}

static void line_put_escape(struct line *l, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	const char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 0xf] };

	line_put(l, e, sizeof(e));
}

/* Decimal digits of v into buf (at least 21 bytes), NUL-terminated. */
static void format_decimal(char *buf, long long v)
{
	char digits[20];
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	size_t n = 0;

	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*buf++ = '-';
	while (n)
		*buf++ = digits[--n];
	*buf = '\0';
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
	format_decimal(buf, value);
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
	add(fs, "key_arn", "KMSCANCEL_KEY_ARN", r->key_arn); /* a call by alias, once resolved */
	if (p) {
		add_number(fs, "uid", "KMSCANCEL_CALLER_UID", (long long)p->uid);
		add_number(fs, "gid", "KMSCANCEL_CALLER_GID", (long long)p->gid);
		add_number(fs, "pid", "KMSCANCEL_CALLER_PID", (long long)p->pid);
		/* Absent when /proc hid it: an empty name would read as one. */
		if (!p->comm_unknown)
			add(fs, "comm", "KMSCANCEL_CALLER_COMM", p->comm);
	}
	switch (r->event) {
	case AUDIT_DECISION:
		add(fs, "decision", "KMSCANCEL_DECISION", r->allowed ? "allow" : "deny");
		add(fs, "rule", "KMSCANCEL_RULE", r->rule);
		add(fs, "reason", "KMSCANCEL_REASON", r->reason); /* a deny for want of the account or groups */
		break;
	case AUDIT_REJECT:
		add(fs, "decision", "KMSCANCEL_DECISION", "reject");
		add(fs, "reason", "KMSCANCEL_REASON", r->reason);
		break;
	case AUDIT_LEFT_OUT:
		add_number(fs, "left_out", "KMSCANCEL_LEFT_OUT", (long long)r->left_out);
		break;
	case AUDIT_OUTCOME:
	default:
		add(fs, "outcome", "KMSCANCEL_OUTCOME", r->success ? "success" : "failure");
		add(fs, "key_state", "KMSCANCEL_KEY_STATE", r->key_state);
		add(fs, "error", "KMSCANCEL_ERROR", r->error);
		add(fs, "request_id", "KMSCANCEL_AWS_REQUEST_ID", r->request_id);
		add_number(fs, "attempts", "KMSCANCEL_ATTEMPTS", r->attempts);
		add_number(fs, "latency_ms", "KMSCANCEL_LATENCY_MS", r->latency_ms);
		if (r->listing)
			add_number(fs, "keys_listed", "KMSCANCEL_KEYS_LISTED", (long long)r->keys_listed);
		break;
	}
	add(fs, "region", "KMSCANCEL_REGION", r->region);
	add(fs, "account", "KMSCANCEL_ACCOUNT", r->account);
	add(fs, "credentials", "KMSCANCEL_CREDENTIALS", r->credentials);
}

static bool plain_char(unsigned char c)
{
	switch (c) {
	case 'a' ... 'z':
	case 'A' ... 'Z':
	case '0' ... '9':
	case '.': case '_': case ':': case '/': case '@': case '+': case ',': case '*': case '=': case '-':
		return true;
	default:
		return false;
	}
}

static bool plain_value(const char *value)
{
	if (*value == '\0')
		return false;
	for (const unsigned char *s = (const unsigned char *)value; *s; s++)
		if (!plain_char(*s))
			return false;
	return true;
}

/* As is, but control bytes as \xNN: the journal takes any bytes, yet a
 * newline in a field would read as two entries in text exports. */
static void put_raw(struct line *l, const char *value)
{
	const char *run = value;

	for (const char *s = value;; s++) {
		unsigned char c = (unsigned char)*s;

		if (c != '\0' && c >= 0x20 && c != 0x7f)
			continue;
		line_put_cut(l, run, (size_t)(s - run));
		if (c == '\0')
			return;
		line_put_escape(l, c);
		run = s + 1;
	}
}

/* Double-quoted, with \" \\ and \xNN for control and non-ASCII bytes. */
static void put_quoted(struct line *l, const char *value)
{
	line_put(l, "\"", 1);
	for (const unsigned char *s = (const unsigned char *)value; *s; s++) {
		if (*s == '"' || *s == '\\') {
			const char e[2] = { '\\', (char)*s };

			line_put(l, e, sizeof(e));
		} else if (*s < 0x20 || *s >= 0x7f) {
			line_put_escape(l, *s);
		} else {
			line_put(l, (const char *)s, 1);
		}
	}
	line_put(l, "\"", 1);
}

/* Appends value: as is when every byte is plain (or quote_if_needed is
 * false, for the journal, whose fields need no quoting), else quoted. */
static void put_value(struct line *l, const char *value, bool quote_if_needed)
{
	if (!quote_if_needed || plain_value(value))
		put_raw(l, value);
	else
		put_quoted(l, value);
}

static void format_fields(const struct fields *fs, struct line *l)
{
	for (size_t i = 0; i < fs->n && !l->full; i++) {
		if (i)
			line_put(l, " ", 1);
		line_puts(l, fs->f[i].text);
		line_put(l, "=", 1);
		put_value(l, fs->f[i].value, true);
	}
}

void audit_format_text(const struct audit_record *r, char *buf, size_t size)
{
	struct fields fs;
	struct line l;

	assert(r && buf);
	if (size == 0)
		return;
	l = line_init(buf, size);
	line_puts(&l, "audit ");
	collect(r, &fs);
	format_fields(&fs, &l);
}

/* "(comm, pid N)", or "(pid N, command name unknown)" when /proc hid the
 * name, into buf. */
static void caller_text(const struct peer *p, char *buf, size_t size)
{
	char comm[64] = "", pid[24];
	struct line l = line_init(comm, sizeof(comm));

	format_decimal(pid, p ? (long long)p->pid : 0);
	if (p && !p->comm_unknown)
		put_raw(&l, p->comm);
	if (p && p->comm_unknown)
		snprintf(buf, size, "(pid %s, command name unknown)", pid);
	else
		snprintf(buf, size, "(%s, pid %s)", comm, pid);
}

void audit_format_message(const struct audit_record *r, char *buf, size_t size)
{
	const struct peer *p;
	char caller[96], key[512] = "?";

	assert(r && buf);
	p = r->caller;
	caller_text(p, caller, sizeof(caller));
	if (r->key) {
		struct line l = line_init(key, sizeof(key));

		put_raw(&l, r->key);
	}
	switch (r->event) {
	case AUDIT_DECISION:
		snprintf(buf, size, "%s %s of %s for uid %u %s by rule %s", r->allowed ? "Allowed" : "Denied",
			 r->operation, key, p ? (unsigned)p->uid : 0, caller, r->rule ? r->rule : "?");
		break;
	case AUDIT_REJECT:
		snprintf(buf, size, "Rejected %s for uid %u %s: %s", r->operation, p ? (unsigned)p->uid : 0, caller,
			 r->reason ? r->reason : "invalid request");
		break;
	case AUDIT_LEFT_OUT:
		snprintf(
		    buf, size,
		    "Left out %lu more refusals of uid %u in one second (at most %u a second are recorded one by one)",
		    r->left_out, p ? (unsigned)p->uid : 0, AUDIT_REFUSALS_PER_SECOND);
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
	struct line line;
	size_t k = 0;

	memcpy(message, "MESSAGE=", 8);
	audit_format_message(r, message + 8, sizeof(message) - 8);
	line = line_init(id, sizeof(id));
	line_puts(&line, "MESSAGE_ID=");
	line_puts(&line, audit_message_id(r));
	iov[k++] = (struct iovec){ message, strlen(message) };
	iov[k++] = (struct iovec){ id, strlen(id) };
	iov[k++] = (struct iovec){ (char *)"PRIORITY=6", strlen("PRIORITY=6") };
	iov[k++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=kmscanceld", strlen("SYSLOG_IDENTIFIER=kmscanceld") };
	for (size_t i = 0; i < fs->n; i++) {
		struct line l = line_init(values[i], sizeof(values[i]));

		line_puts(&l, fs->f[i].journal);
		line_put(&l, "=", 1);
		put_value(&l, fs->f[i].value, false);
		iov[k++] = (struct iovec){ values[i], l.len };
	}
	sd_journal_sendv(iov, (int)k);
}

/* --- refusals past the rate ----------------------------------------------------------- */

/* Uids whose refusals are counted at once; past that many, refusals of
 * further uids are recorded one by one (never dropped unaccounted). */
#define REFUSAL_UIDS 64

struct refusal_window {
	struct peer caller; /* the uid, and who it was the last time */
	bool used;
	time_t second; /* CLOCK_MONOTONIC */
	unsigned recorded;
	unsigned long left_out;
};

static struct refusal_window windows[REFUSAL_UIDS];
/* Windows with a count to write: every record's flush looks at none of
 * them while this is 0 (the common case). */
static unsigned windows_pending;

static void write_record(const struct audit_record *r);

static bool is_refusal(const struct audit_record *r)
{
	return r->caller && (r->event == AUDIT_REJECT || (r->event == AUDIT_DECISION && !r->allowed));
}

/* The left-out records of every second that has ended (all of them, the
 * current one too, when all is set). */
static void flush_windows(time_t now, bool all)
{
	for (size_t i = 0; i < REFUSAL_UIDS; i++) {
		struct refusal_window *w = &windows[i];

		if (windows_pending == 0)
			return;
		if (!w->used || (w->second == now && !all) || w->left_out == 0)
			continue;
		write_record(&(struct audit_record){
		    .event = AUDIT_LEFT_OUT,
		    .caller = &w->caller,
		    .operation = "refusals",
		    .left_out = w->left_out,
		});
		w->left_out = 0;
		windows_pending--;
	}
}

/* The window of uid, or a free one (unused, or of an ended second with
 * nothing left to report); NULL when every one is busy. */
static struct refusal_window *window_for(uid_t uid, time_t now)
{
	struct refusal_window *free_one = NULL;

	for (size_t i = 0; i < REFUSAL_UIDS; i++) {
		struct refusal_window *w = &windows[i];

		if (w->used && w->caller.uid == uid)
			return w;
		if (!free_one && (!w->used || (w->second != now && w->left_out == 0)))
			free_one = w;
	}
	if (free_one)
		*free_one = (struct refusal_window){.used = true, .second = now};
	return free_one;
}

/* True if r is to be counted rather than written (see audit.h). */
static bool left_out(const struct audit_record *r, time_t now)
{
	struct refusal_window *w;

	if (!is_refusal(r) || !(w = window_for(r->caller->uid, now)))
		return false;
	if (w->second != now) {
		w->second = now;
		w->recorded = 0;
	}
	w->caller = *r->caller;
	if (w->recorded < AUDIT_REFUSALS_PER_SECOND) {
		w->recorded++;
		return false;
	}
	if (w->left_out++ == 0)
		windows_pending++;
	return true;
}

bool audit_log(const struct audit_record *r)
{
	time_t now = (time_t)monotime_sec();

	assert(r);
	flush_windows(now, false);
	if (left_out(r, now))
		return false;
	write_record(r);
	return true;
}

void audit_flush(bool all)
{
	flush_windows((time_t)monotime_sec(), all);
}

static void write_record(const struct audit_record *r)
{
	struct fields fs;

	collect(r, &fs);
	if (log_to_journal()) {
		journal_send(r, &fs);
	} else {
		char buf[AUDIT_LINE_MAX + sizeof(STDERR_PREFIX)];
		struct line l = line_init(buf, sizeof(buf) - 1);

		/* Not through log_info(): LogLevel= must not silence the audit
		 * trail.  The same shape as log.c's lines, written whole in one
		 * go so that lines never interleave. */
		line_puts(&l, STDERR_PREFIX);
		format_fields(&fs, &l);
		buf[l.len++] = '\n';
		fwrite(buf, 1, l.len, stderr);
		fflush(stderr);
	}
}
