/* SPDX-License-Identifier: MIT */
/*
 * kmscancel — the command-line client of kmscanceld.
 *
 *   kmscancel [--socket PATH] [--json] [--quiet] [--timeout SEC] cancel [--enable] [--dry-run]
 *             [--account ID] [--region NAME] KEY-ID...
 *   kmscancel [...] cancel -  |  cancel --file FILE
 *   kmscancel [...] describe [--account ID] [--region NAME] KEY-ID...
 *   kmscancel [...] status
 *   kmscancel [...] pending [--account ID] [--region NAME] [--ids]
 *   kmscancel [...] guard [--watch]
 *
 * This file parses the command line and dispatches; the work is in
 * cli-batch.c (the calls) and cli-output.c (the printing), cli-pending.c
 * and cli-guard.c.  Global options may
 * also follow the subcommand.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h> /* isfinite(), a macro: no -lm */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "keyid.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif
#ifndef KMSCANCEL_DEFAULT_SOCKET
#define KMSCANCEL_DEFAULT_SOCKET "/run/kmscanceld/io.kmscancel"
#endif

/* --timeout's ceiling: a day is beyond any sane call. */
#define TIMEOUT_MAX_SEC 86400.0

enum {
	OPT_SOCKET = 0x100,
	OPT_JSON,
	OPT_TIMEOUT,
	OPT_ENABLE,
	OPT_DRY_RUN,
	OPT_FILE,
	OPT_ACCOUNT,
	OPT_REGION,
	OPT_IDS,
	OPT_WATCH,
};

/* clang-format off */
#define GLOBAL_OPTIONS \
	{"socket", required_argument, NULL, OPT_SOCKET}, \
	{"json", no_argument, NULL, OPT_JSON}, \
	{"quiet", no_argument, NULL, 'q'}, \
	{"timeout", required_argument, NULL, OPT_TIMEOUT}, \
	{"help", no_argument, NULL, 'h'}, \
	{"version", no_argument, NULL, 'V'}
/* clang-format on */

/* --- help ---------------------------------------------------------------------------------------- */

/* The options every command takes, for each help text. */
static void help_global_options(void)
{
	printf("      --socket PATH   Talk to kmscanceld at PATH (default: $%s,\n"
	       "                      then %s)\n"
	       "      --json          One JSON object per key per line on stdout\n"
	       "  -q, --quiet         Print nothing for keys that succeed; failures are\n"
	       "                      still reported and the exit status tells\n"
	       "      --timeout SEC   Time limit for each key's call (fractions allowed); sent\n"
	       "                      to kmscanceld, which then answers Timeout, and kmscancel\n"
	       "                      waits 1 s longer for that answer.  For status, kmscancel's\n"
	       "                      own limit.  Default: the daemon's call timeout\n"
	       "  -h, --help          Show this help\n"
	       "  -V, --version       Show the version\n",
	       KMSCANCEL_SOCKET_ENV, KMSCANCEL_DEFAULT_SOCKET);
}

static void help_main(void)
{
	printf("Usage: kmscancel [OPTIONS] COMMAND [ARGS...]\n"
	       "\n"
	       "Rescue AWS KMS keys from scheduled deletion, through kmscanceld.\n"
	       "\n"
	       "Commands:\n"
	       "  cancel KEY-ID...    Cancel the keys' scheduled deletion (they stay Disabled)\n"
	       "  describe KEY-ID...  Show the keys' state and deletion date\n"
	       "  status              Show the daemon's status\n"
	       "  pending             List the keys pending deletion, the first to go first\n"
	       "  guard               Show the guard's counters, or watch its events\n"
	       "\n"
	       "Options (before or after the command):\n");
	help_global_options();
	printf("\n"
	       "KEY-ID is a key ID, a multi-Region key ID (mrk-...), a key ARN, an alias\n"
	       "(alias/NAME) or an alias ARN; the daemon resolves aliases.  '-' reads key IDs\n"
	       "from standard input.\n"
	       "\n"
	       "Colours are used on a terminal only, and never when NO_COLOR is set.\n"
	       "\n"
	       "Exit status: 0 every key succeeded, 1 at least one key failed, 2 usage error\n"
	       "or invalid key ID, 69 kmscanceld cannot be reached.\n"
	       "\n"
	       "See 'kmscancel COMMAND --help' for a command's options.\n");
}

/* The options cancel and describe share, for their help texts. */
static void help_key_options(void)
{
	printf("      --account ID    The AWS account (12 digits) of bare key IDs: kmscanceld\n"
	       "                      uses its [Account N] credentials and Region=.  A key\n"
	       "                      ARN must name this account\n"
	       "      --region NAME   The region (e.g. eu-west-1) of bare key IDs, instead of\n"
	       "                      the account's or kmscanceld's default region.  A key ARN\n"
	       "                      must name this region\n");
}

static void help_cancel(void)
{
	printf("Usage: kmscancel [OPTIONS] cancel [--enable] [--dry-run] [KEY-OPTIONS] KEY-ID...\n"
	       "       kmscancel [OPTIONS] cancel [--enable] [--dry-run] [KEY-OPTIONS] -\n"
	       "       kmscancel [OPTIONS] cancel [--enable] [--dry-run] [KEY-OPTIONS] --file FILE\n"
	       "\n"
	       "Cancel the scheduled deletion of each key.  The key ends up Disabled, or\n"
	       "Enabled with --enable.  Many keys run concurrently on one connection; the\n"
	       "results are printed in the order the keys were given.  On a terminal a\n"
	       "progress line on stderr shows keys done, failures, rate and time left.\n"
	       "\n"
	       "      --enable        Enable each key again after cancelling its deletion\n"
	       "      --dry-run       Change nothing: kmscanceld checks each key as for the\n"
	       "                      cancel (key ID, account, its local policy, with --enable\n"
	       "                      the permission to enable) and reads the key's state and\n"
	       "                      deletion date; a key that is not pending deletion fails\n"
	       "                      as the cancel would.  AWS's own permission to cancel is\n"
	       "                      not tested\n"
	       "      --file FILE     Read key IDs from FILE ('-': standard input)\n");
	help_key_options();
	printf("\n"
	       "Key lists hold one key ID or ARN per line; blank lines and '#' comments are\n"
	       "skipped.  Keys given as arguments come first, then those of each file.\n"
	       "\n"
	       "Options of every command (also before 'cancel'):\n");
	help_global_options();
}

static void help_describe(void)
{
	printf("Usage: kmscancel [OPTIONS] describe [KEY-OPTIONS] KEY-ID...\n"
	       "\n"
	       "Show each key's ARN, state, whether it is enabled, its deletion date if one\n"
	       "is scheduled, and whether it is multi-Region (KMS DescribeKey).  Changes\n"
	       "nothing.  '-' reads key IDs from standard input.  With --json, every field of\n"
	       "the daemon's reply is printed.\n"
	       "\n");
	help_key_options();
	printf("\n"
	       "Options of every command (also before 'describe'):\n");
	help_global_options();
}

static void help_status(void)
{
	printf("Usage: kmscancel [OPTIONS] status\n"
	       "\n"
	       "Show kmscanceld's version, uptime, credential source and expiry, and\n"
	       "counters.  Never shows a secret.  Allowed to root and to callers a\n"
	       "[Policy] rule grants the status operation; others get PermissionDenied.\n"
	       "With --quiet, print nothing: the exit status says whether kmscanceld\n"
	       "answered.\n"
	       "\n"
	       "Options of every command (also before 'status'):\n");
	help_global_options();
}

static void help_pending(void)
{
	printf("Usage: kmscancel [OPTIONS] pending [--account ID] [--region NAME] [--ids]\n"
	       "\n"
	       "List the keys pending deletion (PendingDeletion, PendingReplicaDeletion) that\n"
	       "kmscanceld's policy lets you describe, in every account it serves and every\n"
	       "region configured for each, sorted by deletion date with the time left\n"
	       "(\"in 3d 4h\").  Changes nothing.  A region whose scan failed is reported on\n"
	       "stderr and makes the exit status 1; the keys of the others are listed.\n"
	       "\n"
	       "      --account ID    Only this AWS account (12 digits)\n"
	       "      --region NAME   Only this region (e.g. eu-west-1)\n"
	       "      --ids           One key ARN per line, nothing else: rescue them all with\n"
	       "                      'kmscancel pending --ids | kmscancel cancel -'\n"
	       "\n"
	       "With --json, one object per key per line: keyId, keyState, deletionDate,\n"
	       "account, region, then pendingDeletionWindowInDays, description, aliases.\n"
	       "--timeout limits the whole listing.\n"
	       "\n"
	       "Options of every command (also before 'pending'):\n");
	help_global_options();
}

static void help_guard(void)
{
	printf("Usage: kmscancel [OPTIONS] guard [--watch]\n"
	       "\n"
	       "Show the counters of kmscanceld's guard, which rescues the keys of its\n"
	       "[Guard] Keys= from deletion (keys, checks, rescues, failures, the last\n"
	       "rescue; allowed as status is).  With --watch, print one line per guard\n"
	       "event (rescued, enabled, rescueFailed, unreadable, readable) of the keys\n"
	       "the policy lets you describe, as they happen, until interrupted (Ctrl-C:\n"
	       "exit 0) or until kmscanceld stops.\n"
	       "\n"
	       "      --watch         Print the guard's events as they happen\n"
	       "\n"
	       "With --json, one object per event per line, with the daemon's field names.\n"
	       "\n"
	       "Options of every command (also before 'guard'):\n");
	help_global_options();
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	output_error("%s", text ? text : "usage error");
	fputs("Try 'kmscancel --help' for more information.\n", stderr);
	free(text);
	return EXIT_USAGE;
}

/* --- options ---------------------------------------------------------------------------------------- */

/* SEC → milliseconds, rounded up so that "0.0001" still means something. */
static int parse_timeout(const char *s, unsigned *ret_ms)
{
	char *end;
	double sec;

	errno = 0;
	sec = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(sec) || sec <= 0 || sec > TIMEOUT_MAX_SEC)
		return -EINVAL;
	/* Round up without libm's ceil(). */
	*ret_ms = (unsigned)(sec * 1000.0);
	if ((double)*ret_ms < sec * 1000.0)
		(*ret_ms)++;
	return 0;
}

/* What global_option() tells its caller, besides an exit code (>= 0) to stop
 * with. */
#define OPTION_HANDLED (-1) /* go on parsing */
#define OPTION_OTHER   (-2) /* not a global option: the caller's */

/* Handle an option every level accepts (and getopt's complaints). */
static int global_option(struct cli *cli, int c, const char *arg)
{
	switch (c) {
	case OPT_SOCKET:
		if (!*arg)
			return usage_error("--socket needs a path");
		cli->socket_path = arg;
		return OPTION_HANDLED;
	case OPT_JSON:
		cli->json = true;
		return OPTION_HANDLED;
	case 'q':
		cli->quiet = true;
		return OPTION_HANDLED;
	case OPT_TIMEOUT:
		if (parse_timeout(arg, &cli->timeout_ms) < 0)
			return usage_error("invalid --timeout '%s': expected seconds > 0, e.g. 5 or 0.5", arg);
		return OPTION_HANDLED;
	case 'V':
		printf("kmscancel %s\n", PACKAGE_VERSION);
		return EXIT_ALL_OK;
	case '?': /* getopt has said what was wrong */
		fputs("Try 'kmscancel --help' for more information.\n", stderr);
		return EXIT_USAGE;
	}
	return OPTION_OTHER;
}

/* --- subcommands ---------------------------------------------------------------------------------------- */

static int read_error(const char *what, int r)
{
	if (r == -E2BIG)
		output_error("cannot read %s: more than %u keys", what, CLI_KEYS_MAX);
	else
		output_error("cannot read %s: %s", what, strerror(-r));
	return EXIT_USAGE;
}

/* The keys named by args ('-' meaning stdin) and files, in that order. */
static int collect_keys(char **args, int n_args, char **files, size_t n_files, struct key_list *keys)
{
	int r = 0;

	for (int i = 0; i < n_args && r == 0; i++)
		r = strcmp(args[i], "-") == 0 ? key_list_read(keys, stdin) : key_list_add(keys, args[i]);
	if (r < 0)
		return read_error("key IDs", r);
	for (size_t i = 0; i < n_files; i++) {
		FILE *f = strcmp(files[i], "-") == 0 ? stdin : fopen(files[i], "re");

		if (!f) {
			output_error("cannot open %s: %s", files[i], strerror(errno));
			return EXIT_USAGE;
		}
		r = key_list_read(keys, f);
		if (f != stdin)
			fclose(f);
		if (r < 0)
			return read_error(files[i], r);
	}
	if (keys->n == 0)
		return usage_error("no key IDs given");
	return EXIT_ALL_OK;
}

/* cancel and describe: parse the subcommand's options, gather the keys, run. */
static int run_keys_command(struct cli *cli, enum cli_op op, int argc, char **argv)
{
	static const struct option cancel_options[] = {
	    GLOBAL_OPTIONS,
	    {"enable", no_argument, NULL, OPT_ENABLE},
	    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
	    {"file", required_argument, NULL, OPT_FILE},
	    {"account", required_argument, NULL, OPT_ACCOUNT},
	    {"region", required_argument, NULL, OPT_REGION},
	    {},
	};
	static const struct option describe_options[] = {
	    GLOBAL_OPTIONS,
	    {"account", required_argument, NULL, OPT_ACCOUNT},
	    {"region", required_argument, NULL, OPT_REGION},
	    {},
	};
	const struct option *options = op == CLI_OP_CANCEL ? cancel_options : describe_options;
	struct key_list keys = {0};
	char **files = calloc((size_t)argc + 1, sizeof(char *));
	size_t n_files = 0;
	int c, code;

	if (!files) {
		output_error("out of memory");
		return EXIT_SOME_FAILED;
	}
	while ((c = getopt_long(argc, argv, "hqV", options, NULL)) >= 0) {
		int g = global_option(cli, c, optarg);

		if (g >= 0) {
			free(files);
			return g;
		}
		switch (c) {
		case 'h':
			op == CLI_OP_CANCEL ? help_cancel() : help_describe();
			free(files);
			return EXIT_ALL_OK;
		case OPT_ENABLE:
			cli->enable = true;
			break;
		case OPT_DRY_RUN:
			cli->dry_run = true;
			break;
		case OPT_FILE:
			files[n_files++] = optarg;
			break;
		case OPT_ACCOUNT:
			if (!keyid_account_is_valid(optarg)) {
				free(files);
				return usage_error("invalid --account '%s': expected 12 digits", optarg);
			}
			cli->account = optarg;
			break;
		case OPT_REGION:
			if (!keyid_region_is_valid(optarg)) {
				free(files);
				return usage_error("invalid --region '%s': expected a region name such as eu-west-1",
						   optarg);
			}
			cli->region = optarg;
			break;
		}
	}
	code = collect_keys(argv + optind, argc - optind, files, n_files, &keys);
	output_color_init(cli);
	if (code == EXIT_ALL_OK)
		code = batch_run(cli, op == CLI_OP_CANCEL && cli->dry_run ? CLI_OP_DRY_RUN : op, &keys);
	key_list_done(&keys);
	free(files);
	return code;
}

static int run_status(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {GLOBAL_OPTIONS, {}};
	kmscancel *h = NULL;
	kmscancel_result *r = NULL;
	kmscancel_error e;
	int c, code;

	while ((c = getopt_long(argc, argv, "hqV", options, NULL)) >= 0) {
		int g = global_option(cli, c, optarg);

		if (g >= 0)
			return g;
		if (c == 'h') {
			help_status();
			return EXIT_ALL_OK;
		}
	}
	if (optind < argc)
		return usage_error("status takes no arguments (got '%s')", argv[optind]);

	output_color_init(cli);
	e = kmscancel_open(cli->socket_path, &h);
	if (e != KMSCANCEL_OK) {
		output_error("%s", kmscancel_strerror(e));
		return EXIT_SOME_FAILED;
	}
	kmscancel_set_timeout(h, cli->timeout_ms);
	e = kmscancel_get_status(h, &r);
	if (e == KMSCANCEL_OK) {
		output_status(cli, r);
		code = EXIT_ALL_OK;
	} else if (e == KMSCANCEL_E_PERMISSION_DENIED) {
		/* The daemon says no more than that (it shows every account's
		 * configuration); say what would change it. */
		output_error("%s (status is for root and for callers the policy grants its status operation)",
			     r && kmscancel_result_message(r) ? kmscancel_result_message(r) : kmscancel_strerror(e));
		code = EXIT_SOME_FAILED;
	} else {
		output_error("%s", r ? kmscancel_result_message(r) : kmscancel_strerror(e));
		code = e == KMSCANCEL_E_CONNECT ? EXIT_UNAVAILABLE : EXIT_SOME_FAILED;
	}
	kmscancel_result_free(r);
	kmscancel_close(h);
	return code;
}

/* An --account or --region argument, checked into *ret; an exit code
 * (EXIT_USAGE) if it is malformed, else OPTION_HANDLED. */
static int key_scope_option(int c, const char *arg, const char **ret)
{
	if (c == OPT_ACCOUNT && !keyid_account_is_valid(arg))
		return usage_error("invalid --account '%s': expected 12 digits", arg);
	if (c == OPT_REGION && !keyid_region_is_valid(arg))
		return usage_error("invalid --region '%s': expected a region name such as eu-west-1", arg);
	*ret = arg;
	return OPTION_HANDLED;
}

static int run_pending(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    GLOBAL_OPTIONS,
	    {"account", required_argument, NULL, OPT_ACCOUNT},
	    {"region", required_argument, NULL, OPT_REGION},
	    {"ids", no_argument, NULL, OPT_IDS},
	    {},
	};
	int c, g;

	while ((c = getopt_long(argc, argv, "hqV", options, NULL)) >= 0) {
		if ((g = global_option(cli, c, optarg)) >= 0)
			return g;
		switch (c) {
		case 'h':
			help_pending();
			return EXIT_ALL_OK;
		case OPT_ACCOUNT:
		case OPT_REGION:
			g = key_scope_option(c, optarg, c == OPT_ACCOUNT ? &cli->account : &cli->region);
			if (g >= 0)
				return g;
			break;
		case OPT_IDS:
			cli->ids = true;
			break;
		}
	}
	if (optind < argc)
		return usage_error("pending takes no arguments (got '%s')", argv[optind]);
	if (cli->ids && cli->json)
		return usage_error("--ids and --json exclude each other");
	output_color_init(cli);
	return pending_run(cli);
}

static int run_guard(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    GLOBAL_OPTIONS,
	    {"watch", no_argument, NULL, OPT_WATCH},
	    {},
	};
	int c, g;

	while ((c = getopt_long(argc, argv, "hqV", options, NULL)) >= 0) {
		if ((g = global_option(cli, c, optarg)) >= 0)
			return g;
		if (c == 'h') {
			help_guard();
			return EXIT_ALL_OK;
		}
		if (c == OPT_WATCH)
			cli->watch = true;
	}
	if (optind < argc)
		return usage_error("guard takes no arguments (got '%s')", argv[optind]);
	output_color_init(cli);
	return guard_run(cli);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {GLOBAL_OPTIONS, {}};
	struct cli cli = {0};
	const char *command;
	int c;

	/* '+': stop at the subcommand; its own options are parsed after it. */
	while ((c = getopt_long(argc, argv, "+hqV", options, NULL)) >= 0) {
		int g = global_option(&cli, c, optarg);

		if (g >= 0)
			return g;
		if (c == 'h') {
			help_main();
			return EXIT_ALL_OK;
		}
	}
	if (optind >= argc)
		return usage_error("no command given (cancel, describe, status, pending or guard)");
	command = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 0; /* glibc: restart getopt from scratch on the subcommand's argv */

	if (strcmp(command, "cancel") == 0)
		return run_keys_command(&cli, CLI_OP_CANCEL, argc, argv);
	if (strcmp(command, "describe") == 0)
		return run_keys_command(&cli, CLI_OP_DESCRIBE, argc, argv);
	if (strcmp(command, "status") == 0)
		return run_status(&cli, argc, argv);
	if (strcmp(command, "pending") == 0)
		return run_pending(&cli, argc, argv);
	if (strcmp(command, "guard") == 0)
		return run_guard(&cli, argc, argv);
	return usage_error("unknown command '%s'", command);
}
