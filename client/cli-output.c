/* SPDX-License-Identifier: MIT */
/*
 * How kmscancel reports one key: a human line (success on stdout, failure on
 * stderr as "kmscancel: KEY: ErrorName: message"), or with --json one object
 * per line on stdout, using the Varlink reply's field names:
 *
 *   {"keyId": ARN, "ok": true, "keyState": …, "requestId": …, "attempts": …[, "alreadyCancelled": true]}
 *   {"keyId": KEY-AS-GIVEN, "ok": false, "error": "NotFoundException", "message": …[, "requestId": …]}
 *   {"keyId": ARN, "ok": true, "dryRun": true, "keyState": …, "deletionDate": …, "requestId": …}
 *
 * --quiet drops the successes (failures are still reported, in whichever
 * form).  Colours only on a terminal (output_color_init).
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
#include <unistd.h>
#include <json-c/json.h>

/* --- plumbing ------------------------------------------------------------------------------ */

/* True for the two bytes of a C1 control (U+0080..U+009F) in UTF-8: some
 * terminals act on them as on ESC sequences. */
static bool c1_control(const unsigned char *s)
{
	return s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f;
}

/*
 * s as text a terminal only displays: control characters (C0, DEL, C1) as
 * \xNN or \u00NN.  Everything printed that came from the daemon goes
 * through here: a message can quote a server (an AWS error, a proxy's
 * answer), and a socket named by --socket or $KMSCANCEL_SOCKET may not be
 * kmscanceld at all; neither may move the cursor, retitle the window or
 * rewrite the lines above.
 */
static void fputs_escaped(const char *s, FILE *f)
{
	for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
		if (*u < 0x20 || *u == 0x7f)
			fprintf(f, "\\x%02x", *u);
		else if (c1_control(u))
			fprintf(f, "\\u%04x", *++u);
		else
			fputc(*u, f);
	}
}

/* fputs_escaped() on stdout; NULL prints nothing. */
static void put_text(const char *s)
{
	if (s)
		fputs_escaped(s, stdout);
}

/* The length of s escaped as fputs_escaped() writes it. */
static size_t escaped_length(const char *s)
{
	size_t n = 0;

	for (const unsigned char *u = (const unsigned char *)s; *u; u++)
		n += *u < 0x20 || *u == 0x7f ? 4 : c1_control(u) ? (u++, 6) : 1;
	return n;
}

/* s escaped as fputs_escaped() prints it, malloc'ed; NULL without memory. */
static char *escaped_dup(const char *s)
{
	char *buf = malloc(escaped_length(s) + 1);
	FILE *f;

	if (!buf)
		return NULL;
	f = fmemopen(buf, escaped_length(s) + 1, "w");
	if (!f) {
		free(buf);
		return NULL;
	}
	fputs_escaped(s, f);
	fclose(f);
	/* fmemopen() writes no NUL when nothing was written ("") */
	buf[escaped_length(s)] = '\0';
	return buf;
}

/* Every string in o (values of objects and arrays, recursively) escaped in
 * place as fputs_escaped() would print it, before a reply is shown in
 * human form. */
static void escape_json_strings(struct json_object *o)
{
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v)
		{
			(void)k;
			escape_json_strings(v);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			escape_json_strings(json_object_array_get_idx(o, i));
	} else if (json_object_is_type(o, json_type_string)) {
		const char *s = json_object_get_string(o);
		char *e;

		if (escaped_length(s) == strlen(s) || !(e = escaped_dup(s)))
			return;
		json_object_set_string(o, e);
		free(e);
	}
}

static bool color_wanted(int fd)
{
	const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");

	if (no_color && *no_color)
		return false;
	if (term && strcmp(term, "dumb") == 0)
		return false;
	return isatty(fd) == 1;
}

void output_color_init(struct cli *cli)
{
	cli->color_stdout = !cli->json && color_wanted(STDOUT_FILENO);
	cli->color_stderr = color_wanted(STDERR_FILENO);
}

/* word on f, in color when on. */
static void put_colored(FILE *f, bool on, const char *color, const char *word)
{
	if (on)
		fprintf(f, "%s%s%s", color, word, COLOR_RESET);
	else
		fputs(word, f);
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

/* JSON text as json-c wrote it (control characters escaped) with the C1
 * controls escaped too, as \u0080..\u009f: the same JSON, and nothing a
 * terminal would act on. */
static void put_json_text(const char *s)
{
	for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
		if (c1_control(u))
			printf("\\u%04x", *++u);
		else
			putchar(*u);
	}
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

		fputs(first ? "" : ", ", stdout);
		put_json_text(key ? json_object_to_json_string_ext(key, flags) : "\"\"");
		fputs(": ", stdout);
		if (json_object_is_type(v, json_type_object))
			json_print_object(v);
		else
			put_json_text(json_object_to_json_string_ext(v, flags));
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
	} else {
		/* "kmscancel: KEY: ErrorName: message (request ID)", the name
		 * in red on a terminal. */
		fflush(stdout);
		fputs("kmscancel: ", stderr);
		fputs_escaped(key, stderr);
		fputs(": ", stderr);
		put_colored(stderr, cli->color_stderr, COLOR_RED, name ? name : "Error");
		fputs(": ", stderr);
		fputs_escaped(message ? message : "", stderr);
		if (request_id) {
			fputs(" (request ", stderr);
			fputs_escaped(request_id, stderr);
			fputc(')', stderr);
		}
		fputc('\n', stderr);
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
	put_colored(stdout, cli->color_stdout, COLOR_GREEN, "cancelled");
	fputs("  ", stdout);
	put_text(kmscancel_result_key_id(r));
	fputs("  (", stdout);
	put_text(kmscancel_result_key_state(r));
	if (kmscancel_result_request_id(r)) {
		fputs(", request ", stdout);
		put_text(kmscancel_result_request_id(r));
	}
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

/* A key state, coloured by what it means for a rescue: pending deletion in
 * yellow, Enabled in green. */
static void put_state(const struct cli *cli, const char *state)
{
	const char *color = NULL;

	if (strncmp(state, "Pending", strlen("Pending")) == 0 && strstr(state, "Deletion"))
		color = COLOR_YELLOW;
	else if (strcmp(state, "Enabled") == 0)
		color = COLOR_GREEN;
	if (cli->color_stdout && color)
		fputs(color, stdout);
	put_text(state);
	if (cli->color_stdout && color)
		fputs(COLOR_RESET, stdout);
}

/* "ARN  STATE  (enabled|disabled, deletion on DATE|no deletion scheduled,
 * multi-Region|single-Region)": every field, so that no line needs
 * guessing; unreported ones are left out. */
static enum cli_outcome output_described(const struct cli *cli, const kmscancel_result *r)
{
	const char *date = kmscancel_result_deletion_date(r);
	int enabled = kmscancel_result_enabled(r), mrk = kmscancel_result_multi_region(r);

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
	put_text(described_key(r));
	fputs("  ", stdout);
	put_state(cli, kmscancel_result_key_state(r));
	printf("  (%s", enabled == 1 ? "enabled" : enabled == 0 ? "disabled" : "enabled unknown");
	if (date) {
		fputs(", deletion on ", stdout);
		put_text(date);
	} else
		printf(", no deletion scheduled");
	if (mrk >= 0)
		printf(", %s", mrk ? "multi-Region" : "single-Region");
	puts(")");
	return CLI_OUTCOME_OK;
}

/* The daemon checked the key, its account and the local policy as for the
 * cancel and found it pending deletion (anything else is an error reply,
 * printed as the failure the cancel would meet). */
static enum cli_outcome output_dry_run(const struct cli *cli, const kmscancel_result *r)
{
	const char *date = kmscancel_result_deletion_date(r);

	if (cli->json) {
		struct json_object *o = json_head(kmscancel_result_key_id(r), true, true);

		json_add_string(o, "keyState", kmscancel_result_key_state(r));
		json_add_string(o, "deletionDate", date);
		json_add_string(o, "requestId", kmscancel_result_request_id(r));
		json_line(o);
		return CLI_OUTCOME_OK;
	}
	put_colored(stdout, cli->color_stdout, COLOR_GREEN, cli->enable ? "would cancel and enable" : "would cancel");
	fputs("  ", stdout);
	put_text(kmscancel_result_key_id(r));
	fputs("  (", stdout);
	put_text(kmscancel_result_key_state(r));
	if (date) {
		fputs(", deletion on ", stdout);
		put_text(date);
	}
	puts("; the local policy allows it)");
	return CLI_OUTCOME_OK;
}

enum cli_outcome output_result(const struct cli *cli, enum cli_op op, const char *key, const kmscancel_result *r)
{
	kmscancel_error e = kmscancel_result_error(r);

	if (e != KMSCANCEL_OK)
		return output_failure(cli, op, key, kmscancel_result_error_name(r), kmscancel_result_message(r),
				      kmscancel_result_request_id(r), e);
	if (cli->quiet)
		return CLI_OUTCOME_OK;
	switch (op) {
	case CLI_OP_CANCEL:
		return output_cancelled(cli, r);
	case CLI_OP_DESCRIBE:
		return output_described(cli, r);
	case CLI_OP_DRY_RUN:
		return output_dry_run(cli, r);
	}
	return CLI_OUTCOME_FAILED;
}

/* --- status -------------------------------------------------------------------------------------- */

/* "prefix.field: value" for each field, nested objects flattened: for the
 * fields this kmscancel does not know, so that a newer daemon's show up. */
static void print_fields(struct json_object *o, const char *prefix, const char *const *skip)
{
	json_object_object_foreach(o, k, v)
	{
		char *name = NULL;
		bool known = false;

		for (size_t i = 0; skip && skip[i]; i++)
			known = known || strcmp(skip[i], k) == 0;
		char *key = NULL;

		if (known || !(key = escaped_dup(k)) ||
		    asprintf(&name, "%s%s%s", prefix, *prefix ? "." : "", key) < 0) {
			free(key);
			continue;
		}
		free(key);
		if (json_object_is_type(v, json_type_object))
			print_fields(v, name, NULL);
		else
			printf("%-13s %s\n", name,
			       json_object_is_type(v, json_type_string)
				   ? json_object_get_string(v)
				   : json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		free(name);
	}
}

static const char *status_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static long long status_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_int64(v);
}

static void print_uptime(long long sec)
{
	if (sec >= 86400)
		printf("%lldd %02lldh %02lldm", sec / 86400, sec % 86400 / 3600, sec % 3600 / 60);
	else if (sec >= 3600)
		printf("%lldh %02lldm %02llds", sec / 3600, sec % 3600 / 60, sec % 60);
	else if (sec >= 60)
		printf("%lldm %02llds", sec / 60, sec % 60);
	else
		printf("%llds", sec);
}

static void print_errors(struct json_object *errors)
{
	bool first = true;

	if (!errors || !json_object_is_type(errors, json_type_object) || json_object_object_length(errors) == 0)
		return;
	printf("%-14s", "Errors:");
	json_object_object_foreach(errors, name, count)
	{
		fputs(first ? "" : ", ", stdout);
		put_text(name);
		printf(" %lld", (long long)json_object_get_int64(count));
		first = false;
	}
	putchar('\n');
}

static void print_kms(struct json_object *kms)
{
	struct json_object *pools;

	if (!kms || !json_object_is_type(kms, json_type_object))
		return;
	printf("%-14s%lld requests, %lld retries, %lld calls in flight, clock offset %llds\n", "KMS:",
	       status_int(kms, "requests"), status_int(kms, "retries"), status_int(kms, "callsInFlight"),
	       status_int(kms, "clockOffsetSec"));
	printf("%-14s%lld throttled by AWS, %lld retries refused by the quota; %lld waited for the rate limit, "
	       "%lld waiting, %lld refused\n",
	       "Throttling:", status_int(kms, "throttled"), status_int(kms, "retryQuotaExhausted"),
	       status_int(kms, "rateLimited"), status_int(kms, "rateLimitWaiting"), status_int(kms, "rateLimitRejected"));
	printf("%-14s%lld open (%lld idle), %lld opened, %lld reused; TLS %lld handshakes, %lld resumed\n", "Connections:",
	       status_int(kms, "connectionsOpen"), status_int(kms, "connectionsIdle"), status_int(kms, "connectionsOpened"),
	       status_int(kms, "connectionsReused"), status_int(kms, "tlsHandshakes"), status_int(kms, "tlsResumed"));
	printf("%-14s%lld at most, %lld evicted, %lld refused\n", "Pools:", status_int(kms, "maxPools"),
	       status_int(kms, "poolsEvicted"), status_int(kms, "poolsRefused"));
	if (json_object_object_get_ex(kms, "pools", &pools) && json_object_is_type(pools, json_type_array))
		for (size_t i = 0; i < json_object_array_length(pools); i++) {
			struct json_object *p = json_object_array_get_idx(pools, i);

			printf("%-14s%s: %lld of %lld open, %lld idle, %lld queued, %lld requests%s%s\n", "Endpoint:",
			       status_str(p, "endpoint") ? status_str(p, "endpoint") : "?",
			       status_int(p, "connectionsOpen"), status_int(p, "size"), status_int(p, "connectionsIdle"),
			       status_int(p, "queued"), status_int(p, "requests"),
			       status_str(p, "account") ? ", account " : "",
			       status_str(p, "account") ? status_str(p, "account") : "");
		}
	if (status_int(kms, "poolsOmitted"))
		printf("%-14s%lld more not listed\n", "Endpoint:", status_int(kms, "poolsOmitted"));
}

/* The server's limits and descriptor budget (GetStatus maxConnections…,
 * fileDescriptors…), absent fields as 0. */
static void print_limits(struct json_object *o)
{
	printf("%-14s%lld connections, %lld per user; idle ones closed after %lld ms (%lld so far)\n",
	       "Limits:", status_int(o, "maxConnections"), status_int(o, "maxConnectionsPerUser"),
	       status_int(o, "idleConnectionTimeoutMs"), status_int(o, "connectionsIdleClosed"));
	printf("%-14s%lld open of %lld, %lld reserved for KMS and credentials; %lld clients refused for want of "
	       "them\n",
	       "Descriptors:", status_int(o, "fileDescriptors"), status_int(o, "fileDescriptorLimit"),
	       status_int(o, "fileDescriptorsReserved"), status_int(o, "connectionsRejectedForDescriptors"));
}

/* "imds (access key ...ABCD), valid, expire …, next refresh …", then why
 * the last fetch failed, if it did.  Never more of the key than that. */
static void print_credentials(struct json_object *o)
{
	const char *source = status_str(o, "credentialSource"), *suffix = status_str(o, "credentialAccessKeyIdSuffix");
	const char *state = status_str(o, "credentialState"), *error = status_str(o, "credentialError");

	printf("%-14s%s", "Credentials:", source ? source : "(not loaded)");
	if (suffix)
		printf(" (access key ...%s)", suffix);
	if (state)
		printf(", %s", state);
	if (status_str(o, "credentialExpiration"))
		printf(", expire %s", status_str(o, "credentialExpiration"));
	if (status_str(o, "credentialNextRefresh"))
		printf(", next refresh %s", status_str(o, "credentialNextRefresh"));
	printf("; %lld fetches, %lld failed\n", status_int(o, "credentialFetches"), status_int(o, "credentialFetchFailures"));
	if (error)
		printf("%-14s%s\n", "Cred. error:", error);
}

/* One line per account after the default credentials' (GetStatus
 * "accounts" entries 1…): "444455556666 role arn:… (access key ...ABCD),
 * valid, expire …", then its error if a fetch failed. */
static void print_accounts(struct json_object *a)
{
	for (size_t i = 1; i < json_object_array_length(a); i++) {
		struct json_object *o = json_object_array_get_idx(a, i);
		const char *profile = status_str(o, "profile"), *role = status_str(o, "roleArn");
		const char *suffix = status_str(o, "credentialAccessKeyIdSuffix"), *error = status_str(o, "credentialError");

		printf("%-14s%s %s %s", "Account:", status_str(o, "account") ? status_str(o, "account") : "?",
		       profile ? "profile" : "role", profile ? profile : role ? role : "?");
		if (status_str(o, "region"))
			printf(" (region %s)", status_str(o, "region"));
		if (suffix)
			printf(", access key ...%s", suffix);
		printf(", %s", status_str(o, "credentialState") ? status_str(o, "credentialState") : "?");
		if (status_str(o, "credentialExpiration"))
			printf(", expire %s", status_str(o, "credentialExpiration"));
		if (status_str(o, "credentialNextRefresh"))
			printf(", next refresh %s", status_str(o, "credentialNextRefresh"));
		printf("\n");
		if (error)
			printf("%-14s%s\n", "  error:", error);
	}
}

/* "Drop-in:" and the path, for each file of configFiles but the main
 * one, in the order the daemon read them. */
static void print_dropins(struct json_object *o)
{
	const char *main_file = status_str(o, "configFile");
	struct json_object *files;

	if (!json_object_object_get_ex(o, "configFiles", &files) || !json_object_is_type(files, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(files); i++) {
		const char *path = json_object_get_string(json_object_array_get_idx(files, i));

		if (path && !(i == 0 && main_file && strcmp(path, main_file) == 0))
			printf("%-14s%s\n", "Drop-in:", path);
	}
	if (status_int(o, "configFilesOmitted"))
		printf("%-14s%lld more not shown\n", "Drop-in:", status_int(o, "configFilesOmitted"));
}

void output_guard(struct json_object *g, bool labelled)
{
	if (labelled)
		printf("%-14s", "Guard:");
	/* Labelled counts: no plural to get wrong. */
	printf("guarded keys: %lld, checks: %lld, rescues: %lld, failures: %lld, unreadable: %lld\n",
	       status_int(g, "keys"), status_int(g, "checks"), status_int(g, "rescues"), status_int(g, "failures"),
	       status_int(g, "unreadable"));
	if (!status_str(g, "lastRescue"))
		return;
	printf(labelled ? "%-14s" : "%s ", "Last rescue:");
	/* The daemon names the key only to a caller who may describe it. */
	put_text(status_str(g, "lastRescueKey") ? status_str(g, "lastRescueKey") : "(a key you may not describe)");
	fputs(" at ", stdout);
	put_text(status_str(g, "lastRescue"));
	putchar('\n');
}

/* The reply as a few labelled lines; fields not known here follow as
 * "name value". */
static void print_status(struct json_object *o)
{
	static const char *const known[] = {
		"version", "uptimeSec", "state", "configFile", "socketActivated", "region", "account",
		"credentialSource", "credentialExpiration", "credentialState", "credentialAccessKeyIdSuffix",
		"credentialNextRefresh", "credentialError", "credentialFetches", "credentialFetchFailures",
		"connections", "connectionsTotal", "connectionsRejected", "calls", "callsInFlight", "callsHeldBack",
		"callsSucceeded", "callsFailed", "errors", "reloads", "reloadsFailed", "kms", "accounts",
		"accountState", "accountError", "maxConnections", "maxConnectionsPerUser", "connectionsIdleClosed",
		"idleConnectionTimeoutMs", "fileDescriptors", "fileDescriptorLimit", "fileDescriptorsReserved",
		"connectionsRejectedForDescriptors", "configFiles", "configFilesOmitted", "guard", NULL,
	};
	static const char *const known_kms[] = {
		"requests", "retries", "callsInFlight", "endpoints", "connectionsOpened", "connectionsOpen",
		"connectionsIdle", "connectionsReused", "tlsHandshakes", "tlsResumed", "clockOffsetSec", "pools",
		"throttled", "retryQuotaExhausted", "rateLimited", "rateLimitWaiting", "rateLimitRejected",
		"maxPools", "poolsEvicted", "poolsRefused", "poolsOmitted", NULL,
	};
	struct json_object *v;
	bool activated = json_object_object_get_ex(o, "socketActivated", &v) && json_object_get_boolean(v);

	printf("kmscanceld %s, %s, up ", status_str(o, "version") ? status_str(o, "version") : "?",
	       status_str(o, "state") ? status_str(o, "state") : "running");
	print_uptime(status_int(o, "uptimeSec"));
	printf("%s\n", activated ? " (socket-activated)" : "");
	printf("%-14s%s\n", "Config:", status_str(o, "configFile") ? status_str(o, "configFile") : "(defaults)");
	print_dropins(o);
	printf("%-14s%s\n", "Region:", status_str(o, "region") ? status_str(o, "region") : "(none)");
	printf("%-14s%s%s%s\n", "Account:", status_str(o, "account") ? status_str(o, "account") : "(not known yet)",
	       status_str(o, "accountError") ? ": " : "", status_str(o, "accountError") ? status_str(o, "accountError") : "");
	print_credentials(o);
	if (json_object_object_get_ex(o, "accounts", &v) && json_object_is_type(v, json_type_array))
		print_accounts(v);
	printf("%-14s%lld open, %lld since start, %lld rejected\n", "Clients:", status_int(o, "connections"),
	       status_int(o, "connectionsTotal"), status_int(o, "connectionsRejected"));
	printf("%-14s%lld received, %lld in flight; %lld succeeded, %lld failed; held back %lld times at the "
	       "per-user limit\n",
	       "Calls:", status_int(o, "calls"), status_int(o, "callsInFlight"), status_int(o, "callsSucceeded"),
	       status_int(o, "callsFailed"), status_int(o, "callsHeldBack"));
	print_limits(o);
	if (json_object_object_get_ex(o, "errors", &v))
		print_errors(v);
	if (json_object_object_get_ex(o, "guard", &v) && json_object_is_type(v, json_type_object))
		output_guard(v, true);
	if (status_int(o, "reloads") || status_int(o, "reloadsFailed"))
		printf("%-14s%lld, %lld failed\n", "Reloads:", status_int(o, "reloads"), status_int(o, "reloadsFailed"));
	if (json_object_object_get_ex(o, "kms", &v)) {
		print_kms(v);
		if (json_object_is_type(v, json_type_object))
			print_fields(v, "kms", known_kms);
	}
	print_fields(o, "", known);
}

void output_status(const struct cli *cli, const kmscancel_result *r)
{
	struct json_object *o = json_tokener_parse(kmscancel_result_json(r));

	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		output_error("cannot read the status reply");
		return;
	}
	if (cli->quiet) {
		json_object_put(o); /* reachable and answering: the exit code says it */
		return;
	}
	if (cli->json) {
		json_line(o);
		return;
	}
	escape_json_strings(o);
	print_status(o);
	json_object_put(o);
}

/* --- for the other commands (cli.h) ------------------------------------------------------------ */

void output_text(FILE *f, const char *s)
{
	if (s)
		fputs_escaped(s, f);
}

char *output_escaped_dup(const char *s)
{
	return escaped_dup(s);
}

void output_colored(FILE *f, bool on, const char *color, const char *word)
{
	put_colored(f, on, color, word);
}

void output_json_line(struct json_object *o)
{
	json_line(o);
}
