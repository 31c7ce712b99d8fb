/* SPDX-License-Identifier: MIT */
/* The audit records' text form: every field, and nothing a caller can forge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "varlink-service.h"

#define KEY "1234abcd-12ab-34cd-56ef-1234567890ab"

static void test_decision(void **state)
{
	struct peer p = { .uid = 1000, .gid = 100, .pid = 42, .comm = "kmscancel" };
	struct audit_record r = {
		.event = AUDIT_DECISION, .caller = &p, .operation = "cancel", .key = KEY,
		.allowed = false, .rule = "default",
	};
	char line[AUDIT_LINE_MAX];

	audit_format_text(&r, line, sizeof(line));
	assert_string_equal(line, "audit event=decision op=cancel key=" KEY " uid=1000 gid=100 pid=42 comm=kmscancel "
				  "decision=deny rule=default");
	assert_string_equal(audit_message_id(&r), AUDIT_MESSAGE_DENY);
	r.allowed = true;
	assert_string_equal(audit_message_id(&r), AUDIT_MESSAGE_ALLOW);
}

static void test_outcome(void **state)
{
	struct peer p = { .uid = 0, .gid = 0, .pid = 1, .comm = "sh" };
	struct audit_record r = {
		.event = AUDIT_OUTCOME, .caller = &p, .operation = "cancel+enable", .key = KEY,
		.success = false, .error = "NotFoundException", .request_id = "abc-123", .attempts = 3, .latency_ms = 17,
	};
	char line[AUDIT_LINE_MAX];

	audit_format_text(&r, line, sizeof(line));
	assert_string_equal(line, "audit event=outcome op=cancel+enable key=" KEY " uid=0 gid=0 pid=1 comm=sh "
				  "outcome=failure error=NotFoundException request_id=abc-123 attempts=3 latency_ms=17");
	assert_string_equal(audit_message_id(&r), AUDIT_MESSAGE_FAILURE);
	r.success = true, r.error = NULL, r.key_state = "Enabled";
	audit_format_text(&r, line, sizeof(line));
	assert_non_null(strstr(line, "outcome=success key_state=Enabled request_id=abc-123"));
	assert_string_equal(audit_message_id(&r), AUDIT_MESSAGE_SUCCESS);
}

/* A process name is the caller's choice: spaces, quotes and newlines must
 * not make a second field or a second line. */
static void test_hostile_comm(void **state)
{
	struct peer p = { .uid = 5, .gid = 5, .pid = 9, .comm = "a uid=0\n\"x\\" };
	struct audit_record r = { .event = AUDIT_REJECT, .caller = &p, .operation = "describe", .reason = "invalid key ID" };
	char line[AUDIT_LINE_MAX];

	audit_format_text(&r, line, sizeof(line));
	assert_string_equal(line, "audit event=reject op=describe uid=5 gid=5 pid=9 comm=\"a uid=0\\x0a\\\"x\\\\\" "
				  "decision=reject reason=\"invalid key ID\"");
	assert_null(strchr(line, '\n'));
	assert_string_equal(audit_message_id(&r), AUDIT_MESSAGE_REJECT);
}

/* A short buffer cuts the line but never overflows it. */
static void test_truncation(void **state)
{
	struct peer p = { .uid = 5, .gid = 5, .pid = 9, .comm = "x" };
	struct audit_record r = { .event = AUDIT_DECISION, .caller = &p, .operation = "cancel", .key = KEY, .rule = "r" };
	char line[40];

	memset(line, 'Z', sizeof(line));
	for (size_t size = 1; size <= sizeof(line); size++) {
		audit_format_text(&r, line, size);
		if (size >= 7)
			assert_true(strlen(line) < size);
	}
}

/* A cut line never ends in half an escape. */
static void test_truncation_keeps_escapes_whole(void **state)
{
	struct peer p = { .uid = 5, .gid = 5, .pid = 9, .comm = "\n\n\n\n" };
	struct audit_record r = { .event = AUDIT_REJECT, .caller = &p, .operation = "cancel", .reason = "r" };
	char line[80];

	for (size_t size = 7; size <= sizeof(line); size++) {
		const char *esc;

		audit_format_text(&r, line, size);
		assert_true(strlen(line) < size);
		esc = strrchr(line, '\\');
		if (esc)
			assert_true(strlen(esc) >= 4);
	}
}

/* /proc hid the caller's name: no comm field, and the sentence says so
 * instead of "(, pid 404)". */
static void test_unknown_comm(void **state)
{
	struct peer p = {.uid = 4242, .gid = 4242, .pid = 404, .comm_unknown = true};
	struct audit_record r = {
	    .event = AUDIT_DECISION,
	    .caller = &p,
	    .operation = "cancel",
	    .key = KEY,
	    .allowed = true,
	    .rule = "kmscanceld.conf:3",
	};
	char line[AUDIT_LINE_MAX];

	audit_format_text(&r, line, sizeof(line));
	assert_string_equal(line, "audit event=decision op=cancel key=" KEY " uid=4242 gid=4242 pid=404 "
				  "decision=allow rule=kmscanceld.conf:3");
	audit_format_message(&r, line, sizeof(line));
	assert_string_equal(line, "Allowed cancel of " KEY " for uid 4242 (pid 404, command name unknown) by rule "
				  "kmscanceld.conf:3");
	r = (struct audit_record){.event = AUDIT_REJECT, .caller = &p, .operation = "cancel", .reason = "bad"};
	audit_format_message(&r, line, sizeof(line));
	assert_string_equal(line, "Rejected cancel for uid 4242 (pid 404, command name unknown): bad");
	/* Known, even when empty (a process may name itself ""). */
	p.comm_unknown = false;
	audit_format_message(&r, line, sizeof(line));
	assert_string_equal(line, "Rejected cancel for uid 4242 (, pid 404): bad");
	snprintf(p.comm, sizeof(p.comm), "kmscancel");
	audit_format_message(&r, line, sizeof(line));
	assert_string_equal(line, "Rejected cancel for uid 4242 (kmscancel, pid 404): bad");
}

/* The record that counts one uid's refusals past the rate. */
static void test_left_out(void **state)
{
	struct peer p = {.uid = 4242, .gid = 4242, .pid = 77, .comm = "python3"};
	struct audit_record r = {.event = AUDIT_LEFT_OUT, .caller = &p, .operation = "refusals", .left_out = 4980};
	char line[AUDIT_LINE_MAX];

	audit_format_text(&r, line, sizeof(line));
	assert_string_equal(line,
			    "audit event=left-out op=refusals uid=4242 gid=4242 pid=77 comm=python3 left_out=4980");
	audit_format_message(&r, line, sizeof(line));
	assert_string_equal(line, "Left out 4980 more refusals of uid 4242 in one second (at most 20 a second are "
				  "recorded one by one)");
	assert_string_equal(audit_message_id(&r), AUDIT_MESSAGE_LEFT_OUT);
	assert_string_equal(audit_event_to_string(AUDIT_LEFT_OUT), "left-out");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decision),
	    cmocka_unit_test(test_outcome),
	    cmocka_unit_test(test_hostile_comm),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_truncation_keeps_escapes_whole),
	    cmocka_unit_test(test_unknown_comm),
	    cmocka_unit_test(test_left_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
