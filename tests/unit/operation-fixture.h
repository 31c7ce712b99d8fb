/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A methods_context of a unit test's own (the harness of test-operation.c,
 * test-pending.c, test-guard.c): real policy, accounts ([AWS] Account= and
 * keys from a getenv of the test's, so no STS call) and a real KMS client
 * whose transport and clock are the fakes of fake-kms-transport.h.  The
 * replies are caught by the call_* functions below (what the daemon's
 * modules use to answer, call.h and varlink-service.h, stubbed at link
 * time), so a test reads what every caller was answered, streamed replies
 * ("continues": true) included, what was sent to "KMS", the counters, and
 * every operation state transition (the trace hook of methods_context).
 *
 * Include after <cmocka.h>, once, in one test file: it defines the call_*
 * functions.  Helpers a test may not need are inline, so that no warning
 * says so.
 */
#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accounts.h"
#include "aws-settings.h"
#include "conf.h"
#include "error-names.h"
#include "json-writer.h"
#include "kms.h"
#include "log.h"
#include "methods-context.h"
#include "operation.h"
#include "pending.h"
#include "policy.h"
#include "varlink-service.h"

#include "fake-kms-transport.h"

#define ARN         "arn:aws:kms:us-east-1:" ACCOUNT ":key/" KEY_ID
#define ALLOWED_UID 1000
#define DENIED_UID  2000
/* A real-time bound on any one test's wait: a hang fails, it does not stall. */
#define WAIT_LIMIT_US (20 * 1000000LL)

/* The default credentials: [AWS] Account= says whose, so no STS call. */
#define CONFIG_ACCOUNT "[AWS]\nAccount=" ACCOUNT "\nRegion=us-east-1\n"
/* No Account=: a key ARN waits in ROUTING for GetCallerIdentity, which
 * goes to a closed loopback port. */
#define CONFIG_LEARN "[AWS]\nRegion=us-east-1\nSTSEndpointURL=https://127.0.0.1:9/\n"

/* ---- the environment the credentials come from ------------------------------------ */

static const char *env_akid = "AKIDFIRST";
/* No keys: the chain goes on to the container endpoint, a closed loopback
 * port, so a fetch is pending until the loop runs. */
static bool env_no_keys;

static const char *test_getenv(const char *name)
{
	if (env_no_keys && strcmp(name, "AWS_CONTAINER_CREDENTIALS_FULL_URI") == 0)
		return "http://127.0.0.1:9/credentials";
	if (env_no_keys && strncmp(name, "AWS_", 4) == 0 && strstr(name, "ACCESS_KEY"))
		return NULL;
	if (strcmp(name, "AWS_ACCESS_KEY_ID") == 0)
		return env_akid;
	if (strcmp(name, "AWS_SECRET_ACCESS_KEY") == 0)
		return "secret/for/the/unit/test";
	if (strcmp(name, "AWS_EC2_METADATA_DISABLED") == 0)
		return "true";
	if (strcmp(name, "AWS_CONFIG_FILE") == 0 || strcmp(name, "AWS_SHARED_CREDENTIALS_FILE") == 0)
		return "/nonexistent/kmscancel-unit-test";
	return NULL;
}

/* ---- the calls: what the operation answers ---------------------------------------- */

#define MAX_MORE 64

struct call {
	struct peer peer;
	bool wants_more; /* called with "more": true */
	bool abandoned;  /* the caller hung up (call_is_abandoned) */
	bool done;
	char error[128]; /* "" for a success */
	char reply[2048];
	/* the "continues": true replies, in order (the first MAX_MORE kept) */
	unsigned n_more;
	char more[MAX_MORE][640];
};

static void record(struct call *c, const char *error, const char *text);

/* Plain JSON, as a client reads it. */
static const char *text_of(struct json_object *p)
{
	return p ? json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
}

static void record(struct call *c, const char *error, const char *text)
{
	assert_false(c->done); /* every call answered exactly once */
	c->done = true;
	snprintf(c->error, sizeof(c->error), "%s", error);
	snprintf(c->reply, sizeof(c->reply), "%s", text ? text : "{}");
}

const struct peer *call_peer(const struct call *c)
{
	return &c->peer;
}

void call_reply(struct call *c, struct json_object *parameters)
{
	record(c, "", text_of(parameters));
	json_object_put(parameters);
}

void call_reply_written(struct call *c, const struct json_writer *parameters)
{
	record(c, "", parameters->out.p);
}

void call_reply_error(struct call *c, const char *error, struct json_object *parameters)
{
	record(c, error, text_of(parameters));
	json_object_put(parameters);
}

void call_reply_more(struct call *c, struct json_object *parameters)
{
	assert_false(c->done); /* nothing after the final reply */
	assert_true(c->wants_more);
	if (c->n_more < MAX_MORE)
		snprintf(c->more[c->n_more], sizeof(c->more[0]), "%s",
			 text_of(parameters) ? text_of(parameters) : "{}");
	c->n_more++;
	json_object_put(parameters);
}

void call_reply_invalid_parameter(struct call *c, const char *parameter)
{
	struct json_object *p = json_object_new_object();

	json_object_object_add(p, "parameter", json_object_new_string(parameter));
	call_reply_error(c, "org.varlink.service.InvalidParameter", p);
}

void call_reply_permission_denied(struct call *c)
{
	call_reply_error(c, kmscancel_error_to_varlink(KMSCANCEL_E_PERMISSION_DENIED), NULL);
}

bool call_wants_more(const struct call *c)
{
	return c->wants_more;
}

bool call_is_abandoned(const struct call *c)
{
	return c->abandoned;
}

/* c, not answered yet, as a call of uid makes it. */
static inline void call_init(struct call *c, uid_t uid, bool more)
{
	memset(c, 0, sizeof(*c));
	c->peer.uid = uid;
	c->peer.gid = uid;
	c->wants_more = more;
	snprintf(c->peer.comm, sizeof(c->peer.comm), "unit-test");
}

/* ---- the fixture ------------------------------------------------------------------- */

struct transition {
	char key_id[128];
	enum operation_state from, to;
	enum operation_step step;
};

struct fixture {
	struct event_base *base;
	struct fake f;
	struct kms_clock clock;
	struct daemon_config config;
	struct aws_settings settings;
	struct policy *policy;
	struct accounts *accounts;
	struct kms_client *kms;
	struct kms_client *retired[8]; /* replaced by reloads, freed at the end */
	size_t n_retired;
	struct methods_context ctx;
	struct transition trace[256];
	size_t n_trace;
	const char *const *rules; /* the policy's rules; NULL: DEFAULT_RULES */
};

/* Every state some test saw a call enter or leave (test_every_state_seen). */
static unsigned states_seen;

static void trace(void *userdata, const char *key_id, enum operation_state from, enum operation_state to,
		  enum operation_step step)
{
	struct fixture *x = userdata;
	struct transition *t;

	assert_true(x->n_trace < sizeof(x->trace) / sizeof(x->trace[0]));
	assert_int_not_equal(from, to);
	t = &x->trace[x->n_trace++];
	snprintf(t->key_id, sizeof(t->key_id), "%s", key_id);
	t->from = from;
	t->to = to;
	t->step = step;
	states_seen |= 1u << from | 1u << to;
}

static void load_config(const char *text, struct daemon_config *config, struct aws_settings *settings)
{
	char *error = NULL;

	if (config_load_string(text, "test.conf", config, &error) < 0)
		fail_msg("config: %s", error);
	if (aws_settings_load(test_getenv, settings, &error) < 0)
		fail_msg("settings: %s", error);
	if (config_apply_to_aws_settings(config, settings, &error) < 0)
		fail_msg("settings: %s", error);
}

/* uid ALLOWED_UID may do anything to any key; nobody else anything. */
static const char *const DEFAULT_RULES[] = {"user:1000 * *", NULL};

/* A policy of rules (NULL-terminated, as [Policy] Allow= lines). */
static struct policy *make_policy(const char *const *rules)
{
	struct policy *p = policy_new(false);
	char *error = NULL, *warning = NULL;

	assert_non_null(p);
	for (size_t i = 0; rules[i]; i++) {
		if (policy_add_rule(p, false, rules[i], "test.conf:1", &error, &warning) < 0)
			fail_msg("rule %s: %s", rules[i], error);
		free(warning);
		warning = NULL;
	}
	return p;
}

static struct kms_client *make_kms(struct fixture *x)
{
	struct kms_client_options o = {
	    .max_attempts = 3,
	    .retry_base_ms = 1, /* and the fake's random 0: no backoff */
	    .transport = &x->f.transport,
	    .clock = &x->clock,
	};
	struct kms_client *c = NULL;
	char *error = NULL;

	assert_int_equal(kms_client_new(x->base, NULL, &o, &c, &error), 0);
	assert_null(error);
	return c;
}

static void accounts_options_of(struct fixture *x, struct accounts_options *ret)
{
	*ret = (struct accounts_options){
	    .base = x->base,
	    .config = &x->config,
	    .settings = &x->settings,
	    .getenv_fn = test_getenv,
	    .process_timeout_ms = 1000,
	    .hostname = "unit-test",
	};
}

/* A fixture whose policy is rules (NULL: DEFAULT_RULES). */
static struct fixture *fixture_new_with(const char *config_text, const char *const *rules)
{
	struct fixture *x = calloc(1, sizeof(*x));
	struct accounts_options ao;
	char *error = NULL;

	assert_non_null(x);
	env_akid = "AKIDFIRST";
	x->base = event_base_new();
	assert_non_null(x->base);
	fake_init(&x->f, x->base);
	x->clock = fake_clock(&x->f);
	load_config(config_text, &x->config, &x->settings);
	x->rules = rules ? rules : DEFAULT_RULES;
	x->policy = make_policy(x->rules);
	accounts_options_of(x, &ao);
	if (accounts_new(&ao, &x->accounts, &error) < 0)
		fail_msg("accounts: %s", error ? error : "?");
	x->kms = make_kms(x);
	x->ctx = (struct methods_context){
	    .base = x->base,
	    .policy = x->policy,
	    .accounts = x->accounts,
	    .kms = x->kms,
	    .config = &x->config,
	    .settings = &x->settings,
	    .clock = &x->clock,
	    .trace = trace,
	    .trace_userdata = x,
	};
	return x;
}

static inline struct fixture *fixture_new(const char *config_text)
{
	return fixture_new_with(config_text, NULL);
}

/* As the daemon's exit: calls first, then what they pointed at. */
static void fixture_free(struct fixture *x)
{
	assert_int_equal(operation_shutdown_all(&x->ctx), 0); /* every test ends its calls */
	assert_int_equal(pending_shutdown_all(&x->ctx), 0);   /* and its scans */
	assert_null(x->ctx.operations);
	assert_null(x->ctx.flights.first);
	kms_client_free(x->kms);
	for (size_t i = 0; i < x->n_retired; i++)
		kms_client_free(x->retired[i]);
	accounts_free(x->accounts);
	policy_free(x->policy);
	config_done(&x->config);
	aws_settings_done(&x->settings);
	assert_int_equal(x->f.pools_made, x->f.pools_freed);
	assert_int_equal(x->f.live_requests, 0);
	event_base_free(x->base);
	free(x);
	env_no_keys = false;
}

/* SIGHUP as daemon_reload() does it to what the calls see: a new policy
 * (the old one freed), the configuration and settings rewritten in place,
 * a new KMS client (the old one kept for the calls on it), the accounts
 * reloaded. */
static inline void reload(struct fixture *x, const char *config_text)
{
	struct daemon_config config;
	struct aws_settings settings;
	struct accounts_options ao;

	load_config(config_text, &config, &settings);
	policy_free(x->policy);
	x->ctx.policy = x->policy = make_policy(x->rules);
	config_done(&x->config);
	x->config = config;
	aws_settings_done(&x->settings);
	x->settings = settings;
	assert_true(x->n_retired < sizeof(x->retired) / sizeof(x->retired[0]));
	x->retired[x->n_retired++] = x->kms;
	x->ctx.kms = x->kms = make_kms(x);
	accounts_options_of(x, &ao);
	assert_int_equal(accounts_reload(x->accounts, &ao), 0);
}

static void script(struct fixture *x, struct answer a)
{
	fake_script(&x->f, a);
}

static inline struct answer http_body(int status, const char *body)
{
	struct answer a = HTTP(status, NULL);

	a.body = body;
	return a;
}

#define DESCRIBED(state)                                                                                               \
	http_body(200, "{\"KeyMetadata\":{\"KeyId\":\"" KEY_ID "\",\"Arn\":\"" ARN "\",\"KeyState\":\"" state "\"}}")

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One turn of the loop, within the test's real-time bound. */
static void turn(struct fixture *x, int64_t since)
{
	if (now_us() - since >= WAIT_LIMIT_US)
		fail_msg("still waiting after %lld s", WAIT_LIMIT_US / 1000000);
	if (event_base_loop(x->base, EVLOOP_ONCE) != 0)
		fail_msg("the loop ran dry: a call waits for nothing");
}

static inline void wait_done(struct fixture *x, struct call *c)
{
	int64_t since = now_us();

	while (!c->done)
		turn(x, since);
}

/* Until n requests reached the transport. */
static inline void wait_sent(struct fixture *x, size_t n)
{
	int64_t since = now_us();

	while (x->f.n_seen < n)
		turn(x, since);
}

static inline void assert_reply_has(const struct call *c, const char *fragment)
{
	if (!strstr(c->reply, fragment))
		fail_msg("reply %s %s lacks %s", c->error, c->reply, fragment);
}

static inline void assert_error(const struct call *c, kmscancel_error e)
{
	assert_true(c->done);
	assert_string_equal(c->error, kmscancel_error_to_varlink(e));
}

static inline void assert_success(const struct call *c)
{
	assert_true(c->done);
	if (c->error[0])
		fail_msg("expected a success, got %s %s", c->error, c->reply);
}

static inline void assert_sent(const struct fixture *x, size_t i, const char *operation)
{
	char target[64];

	assert_true(i < x->f.n_seen);
	snprintf(target, sizeof(target), "TrentService.%s", operation);
	assert_string_equal(x->f.seen[i].target, target);
}

/* The counters GetStatus shows: ok successes, failed failures, all of
 * them with error e. */
static inline void assert_counts(const struct fixture *x, unsigned long ok, unsigned long failed, kmscancel_error e)
{
	assert_int_equal(x->ctx.counters.calls_ok, ok);
	assert_int_equal(x->ctx.counters.calls_failed, failed);
	if (failed)
		assert_int_equal(x->ctx.counters.errors[e], failed);
}

/* Runs a test file's tests: quiet unless TEST_DEBUG is set, and killed
 * after 300 s should a test loop without turning the event loop (so
 * without reaching WAIT_LIMIT_US). */
static inline int fixture_run_tests(const char *name, const struct CMUnitTest *tests, size_t n)
{
	log_set_max_level(getenv("TEST_DEBUG") ? LOG_DEBUG : LOG_ERR);
	alarm(300);
	return _cmocka_run_group_tests(name, tests, n, NULL, NULL);
}
