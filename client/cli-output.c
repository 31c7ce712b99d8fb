/* SPDX-License-Identifier: MIT */
/*
 * How kmscancel reports one key: a human line (success on stdout, failure on
 * stderr as "kmscancel: KEY: ErrorName: message"), or with --json one object
 * per line on stdout, using the Varlink reply's field names:
 *
 *   {"keyId": ARN, "ok": true, "keyState": …, "requestId": …, "attempts": …[, "alreadyCancelled": true]}
 *   {"keyId": KEY-AS-GIVEN, "ok": false, "error": "NotFoundException", "message": …[, "requestId": …]}
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

/* --- plumbing ------------------------------------------------------------------------------ */

static void fputs_escaped(const char *s, FILE *f)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

void output_error(const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	fflush(stdout); /* keep the order of the lines when both go to one file */
	fputs("kmscancel: ", stderr);
	fputs_escaped(text ? text : "(out of memory)", stderr);
	fputc('\n', stderr);
	free(text);
}

/* An object with the documented spacing ({"a": 1, "b": {"c": "x"}}), keys
 * in insertion order. */
static void json_print_object(struct json_object *o)
{
	const int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
	bool first = true;

	fputc('{', stdout);
	json_object_object_foreach(o, k, v)
	{
		struct json_object *key = json_object_new_string(k);

		printf("%s%s: ", first ? "" : ", ", key ? json_object_to_json_string_ext(key, flags) : "\"\"");
		if (json_object_is_type(v, json_type_object))
			json_print_object(v);
		else
			fputs(json_object_to_json_string_ext(v, flags), stdout);
		json_object_put(key);
		first = false;
	}
	fputc('}', stdout);
}

/* One JSON line on stdout.  Consumes o. */
static void json_line(struct json_object *o)
{
	if (!o) {
		output_error("out of memory");
		return;
	}
	json_print_object(o);
	fputc('\n', stdout);
	json_object_put(o);
}

/* Add a string member if s is set. */
static void json_add_string(struct json_object *o, const char *k, const char *s)
{
	if (o && s)
		json_object_object_add(o, k, json_object_new_string(s));
}

static struct json_object *json_head(const char *key, bool ok, bool dry_run)
{
	struct json_object *o = json_object_new_object();

	json_add_string(o, "keyId", key);
	if (o)
		json_object_object_add(o, "ok", json_object_new_boolean(ok));
	if (o && dry_run)
		json_object_object_add(o, "dryRun", json_object_new_boolean(true));
	return o;
}

/* --- failures -------------------------------------------------------------------------------- */

static enum cli_outcome outcome_of(kmscancel_error e)
{
	return e == KMSCANCEL_E_INVALID_KEY_ID ? CLI_OUTCOME_INVALID : CLI_OUTCOME_FAILED;
}

static enum cli_outcome output_failure(const struct cli *cli, enum cli_op op, const char *key, const char *name,
				       const char *message, const char *request_id, kmscancel_error e)
{
	if (cli->json) {
		struct json_object *o = json_head(key, false, op == CLI_OP_DRY_RUN);

		json_add_string(o, "error", name);
		json_add_string(o, "message", message);
		json_add_string(o, "requestId", request_id);
		json_line(o);
	} else if (request_id) {
		output_error("%s: %s: %s (request %s)", key, name, message, request_id);
	} else {
		output_error("%s: %s: %s", key, name, message);
	}
	return outcome_of(e);
}

enum cli_outcome output_invalid_key(const struct cli *cli, enum cli_op op, const char *key, const char *reason)
{
	return output_failure(cli, op, key, "InvalidKeyId", reason, NULL, KMSCANCEL_E_INVALID_KEY_ID);
}

/* --- successes ---------------------------------------------------------------------------------- */

/* The reply's alreadyCancelled: an attempt whose response was lost had done
 * the cancel (the daemon checked with DescribeKey). */
static bool reply_already_cancelled(const kmscancel_result *r)
{
	const char *text = kmscancel_result_json(r);
	struct json_object *reply = text ? json_tokener_parse(text) : NULL, *v;
	bool yes = false;

	if (reply && json_object_object_get_ex(reply, "alreadyCancelled", &v) &&
	    json_object_is_type(v, json_type_boolean))
		yes = json_object_get_boolean(v);
	json_object_put(reply);
	return yes;
}

static enum cli_outcome output_cancelled(const struct cli *cli, const kmscancel_result *r)
{
	unsigned attempts = kmscancel_result_attempts(r);
	bool already = reply_already_cancelled(r);

	if (cli->json) {
		struct json_object *o = json_head(kmscancel_result_key_id(r), true, false);

		json_add_string(o, "keyState", kmscancel_result_key_state(r));
		json_add_string(o, "requestId", kmscancel_result_request_id(r));
		if (o)
			json_object_object_add(o, "attempts", json_object_new_int64(attempts));
		if (o && already)
			json_object_object_add(o, "alreadyCancelled", json_object_new_boolean(true));
		json_line(o);
		return CLI_OUTCOME_OK;
	}
	printf("cancelled  %s  (%s", kmscancel_result_key_id(r), kmscancel_result_key_state(r));
	if (kmscancel_result_request_id(r))
		printf(", request %s", kmscancel_result_request_id(r));
	if (attempts > 1)
		printf(", %u attempts", attempts);
	if (already)
		printf("; an attempt whose answer was lost had already cancelled it");
	puts(")");
	return CLI_OUTCOME_OK;
}

/* DescribeKey names the key by its ARN where it has one. */
static const char *described_key(const kmscancel_result *r)
{
	return kmscancel_result_arn(r) ? kmscancel_result_arn(r) : kmscancel_result_key_id(r);
}

/* "  (deletion on DATE, multi-Region)", or nothing. */
static void print_key_details(const kmscancel_result *r)
{
	const char *date = kmscancel_result_deletion_date(r);
	bool mrk = kmscancel_result_multi_region(r) == 1;

	if (!date && !mrk)
		return;
	printf("  (%s%s%s%s)", date ? "deletion on " : "", date ? date : "", date && mrk ? ", " : "",
	       mrk ? "multi-Region" : "");
}

static enum cli_outcome output_described(const struct cli *cli, const kmscancel_result *r)
{
	if (cli->json) {
		struct json_object *o = json_head(described_key(r), true, false);
		struct json_object *reply = json_tokener_parse(kmscancel_result_json(r));

		/* Everything the daemon told, under its own names. */
		if (o && reply && json_object_is_type(reply, json_type_object)) {
			json_object_object_foreach(reply, k, v)
			{
				if (strcmp(k, "keyId") != 0)
					json_object_object_add(o, k, json_object_get(v));
			}
		}
		json_object_put(reply);
		json_line(o);
		return CLI_OUTCOME_OK;
	}
	printf("%s  %s", described_key(r), kmscancel_result_key_state(r));
	print_key_details(r);
	putchar('\n');
	return CLI_OUTCOME_OK;
}

/* CancelKeyDeletion works from these states only (AWS.md §4). */
static bool state_is_cancellable(const char *state)
{
	return strcmp(state, "PendingDeletion") == 0 || strcmp(state, "PendingReplicaDeletion") == 0;
}

static enum cli_outcome output_dry_run(const struct cli *cli, const char *key, const kmscancel_result *r)
{
	const char *state = kmscancel_result_key_state(r);

	if (!state_is_cancellable(state)) {
		char *message = NULL;
		enum cli_outcome o;

		if (asprintf(&message, "the key is %s, not pending deletion: cancel would fail", state) < 0)
			message = NULL;
		o = output_failure(cli, CLI_OP_DRY_RUN, key, "KMSInvalidStateException",
				   message ? message : "not pending deletion", NULL, KMSCANCEL_E_INVALID_STATE);
		free(message);
		return o;
	}
	if (cli->json) {
		struct json_object *o = json_head(described_key(r), true, true);

		json_add_string(o, "keyState", state);
		json_add_string(o, "deletionDate", kmscancel_result_deletion_date(r));
		json_add_string(o, "requestId", kmscancel_result_request_id(r));
		json_line(o);
		return CLI_OUTCOME_OK;
	}
	printf("would cancel%s  %s  (%s", cli->enable ? " and enable" : "", described_key(r), state);
	if (kmscancel_result_deletion_date(r))
		printf(", deletion on %s", kmscancel_result_deletion_date(r));
	puts(")");
	return CLI_OUTCOME_OK;
}

enum cli_outcome output_result(const struct cli *cli, enum cli_op op, const char *key, const kmscancel_result *r)
{
	kmscancel_error e = kmscancel_result_error(r);

	if (e != KMSCANCEL_OK)
		return output_failure(cli, op, key, kmscancel_result_error_name(r), kmscancel_result_message(r),
				      kmscancel_result_request_id(r), e);
	switch (op) {
	case CLI_OP_CANCEL:
		return output_cancelled(cli, r);
	case CLI_OP_DESCRIBE:
		return output_described(cli, r);
	case CLI_OP_DRY_RUN:
		return output_dry_run(cli, key, r);
	}
	return CLI_OUTCOME_FAILED;
}

/* --- status -------------------------------------------------------------------------------------- */

/* "prefix.field: value" for each field, nested objects flattened, so that new
 * fields show up without a new kmscancel. */
static void print_fields(struct json_object *o, const char *prefix)
{
	json_object_object_foreach(o, k, v)
	{
		char *name = NULL;

		if (asprintf(&name, "%s%s%s", prefix, *prefix ? "." : "", k) < 0)
			continue;
		if (json_object_is_type(v, json_type_object))
			print_fields(v, name);
		else
			printf("%s: %s\n", name,
			       json_object_is_type(v, json_type_string)
				   ? json_object_get_string(v)
				   : json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		free(name);
	}
}

void output_status(const struct cli *cli, const kmscancel_result *r)
{
	struct json_object *o = json_tokener_parse(kmscancel_result_json(r));

	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		output_error("cannot read the status reply");
		return;
	}
	if (cli->json) {
		json_line(o);
		return;
	}
	print_fields(o, "");
	json_object_put(o);
}
