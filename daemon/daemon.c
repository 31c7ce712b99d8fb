/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "daemon.h"

#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "creds.h"
#include "kms.h"
#include "log.h"
#include "methods.h"
#include "policy.h"
#include "server.h"

/* How long SIGTERM waits for in-flight calls before exiting anyway. */
#define DRAIN_TIMEOUT_SEC 30

static const char *env_lookup(const char *name)
{
	return getenv(name);
}

/* Builds the policy from the [Policy] section.  A bad rule is an error:
 * running with a policy other than the one written would surprise. */
static int policy_load(struct daemon *d, char **ret_error)
{
	struct policy *p = policy_new(d->config.allow_root);

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < d->config.n_allow; i++) {
		const struct config_allow *a = &d->config.allow[i];
		char origin[512], *warning = NULL;
		int r;

		snprintf(origin, sizeof(origin), "%s:%u", a->file, a->line);
		r = policy_add_rule(p, a->rule, origin, ret_error, &warning);
		if (r < 0) {
			policy_free(p);
			return r;
		}
		if (warning)
			log_warning("%s", warning);
		free(warning);
	}
	policy_free(d->policy);
	d->policy = p;
	return 0;
}

static int settings_load(struct daemon *d, char **ret_error)
{
	int r;

	r = config_load(d->options.config_path ? d->options.config_path : SYSCONFDIR "/kmscanceld.conf",
			d->options.config_path != NULL, &d->config, ret_error);
	if (r < 0)
		return r;
	r = aws_settings_load(env_lookup, &d->settings, ret_error);
	if (r < 0)
		return r;
	/* The config file's own keys override the AWS environment. */
	r = config_apply_to_aws_settings(&d->config, &d->settings, ret_error);
	if (r < 0)
		return r;
	if (d->config.log_level >= 0)
		log_set_max_level(d->config.log_level);
	for (size_t i = 0; i < d->config.n_warnings; i++)
		log_warning("%s", d->config.warnings[i]);
	return policy_load(d, ret_error);
}

/* [KMS] Prewarm=: connections (DNS, TCP, TLS) opened before the first call
 * needs them.  Failures are logged, never fatal: calls connect anyway. */
static void kms_prewarm(struct daemon *d)
{
	const char *list = d->config.prewarm_regions;
	char *copy, *save = NULL;

	if (!list) {
		if (!daemon_default_region(d)) {
			log_warning("Prewarm=yes, but there is no default region; nothing to prewarm");
			return;
		}
		list = daemon_default_region(d);
	}
	copy = strdup(list);
	if (!copy)
		return;
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		int r = kms_client_prewarm(d->kms, w);
		if (r < 0)
			log_warning("cannot prewarm a connection for %s: %s", w, strerror(-r));
	}
	free(copy);
}

static int kms_setup(struct daemon *d, char **ret_error)
{
	struct kms_client_options o = {
		.endpoint_url = d->settings.kms_endpoint_url,
		.ca_bundle = d->settings.ca_bundle,
		.fips = d->settings.use_fips_endpoint,
		.max_attempts = d->settings.max_attempts,
		.retry_base_ms = KMS_DEFAULT_RETRY_BASE_MS,
		.getenv = env_lookup,
		/* For tests: every regional endpoint to a loopback fake
		 * (certificates are still checked against the real names). */
		.connect_to = getenv("KMSCANCELD_CONNECT_TO"),
		.rate_limit = d->config.rate_limit,
		.rates = {
			[KMS_OP_CANCEL_KEY_DELETION] = d->config.cancel_rate,
			[KMS_OP_ENABLE_KEY] = d->config.enable_rate,
			[KMS_OP_DESCRIBE_KEY] = d->config.describe_rate,
		},
		.max_queued = d->config.max_queued,
	};

	int r;

	o.pool.max_connections = d->config.pool_max_connections;
	o.pool.idle_timeout_ms = d->config.pool_idle_timeout_ms;
	if (d->config.retry_base_ms > 0)
		o.retry_base_ms = d->config.retry_base_ms;
	r = kms_client_new(d->base, d->dns, &o, &d->kms, ret_error);
	if (r >= 0 && d->config.prewarm)
		kms_prewarm(d);
	return r;
}

static int server_setup(struct daemon *d, char **ret_error)
{
	struct server_limits limits;
	const char *path = d->options.socket_path ? d->options.socket_path : d->config.socket_path;
	int r;

	server_limits_init(&limits);
	if (d->config.max_connections)
		limits.connections_max = d->config.max_connections;
	if (d->config.max_connections_per_uid)
		limits.connections_per_uid_max = d->config.max_connections_per_uid;
	if (d->config.max_calls_per_connection)
		limits.calls_per_connection_max = d->config.max_calls_per_connection;
	r = server_new(d->base, &limits, kmscancel_methods, d, &d->server);
	if (r < 0)
		return r;
	if (d->options.listen_fd >= 0)
		r = server_adopt_fd(d->server, d->options.listen_fd);
	else
		r = server_listen_path(d->server, path, d->config.socket_mode, d->config.socket_group);
	if (r < 0 && asprintf(ret_error, "cannot listen on %s: %s", d->options.listen_fd >= 0 ? "the inherited socket" : path,
			       strerror(-r)) < 0)
		*ret_error = NULL;
	return r;
}

static void drained(struct server *s, void *userdata)
{
	struct daemon *d = userdata;

	log_info("all calls answered, exiting");
	event_base_loopbreak(d->base);
}

static void on_terminate(evutil_socket_t sig, short what, void *userdata)
{
	struct daemon *d = userdata;
	struct timeval limit = { DRAIN_TIMEOUT_SEC, 0 };

	if (d->stopping) {
		log_warning("second signal: exiting without waiting for in-flight calls");
		event_base_loopbreak(d->base);
		return;
	}
	d->stopping = true;
	sd_notify(0, "STOPPING=1\nSTATUS=Draining in-flight calls");
	log_info("received %s, answering in-flight calls before exit", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopexit(d->base, &limit);
	server_set_drained_callback(d->server, drained, d);
	server_stop_accepting(d->server);
}

/* SIGHUP: the credentials are dropped and resolved afresh on next use, so an
 * operator who rotated them does not need a restart.  (Reloading the config
 * and policy is the systemd issue's work.) */
static void on_hangup(evutil_socket_t sig, short what, void *userdata)
{
	struct daemon *d = userdata;

	log_info("SIGHUP: dropping cached credentials");
	d->credentials = aws_credentials_unref(d->credentials);
}

static int signals_setup(struct daemon *d)
{
	signal(SIGPIPE, SIG_IGN);
	d->sig_term = evsignal_new(d->base, SIGTERM, on_terminate, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_terminate, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_hangup, d);
	if (!d->sig_term || !d->sig_int || !d->sig_hup)
		return -ENOMEM;
	if (evsignal_add(d->sig_term, NULL) < 0 || evsignal_add(d->sig_int, NULL) < 0 ||
	    evsignal_add(d->sig_hup, NULL) < 0)
		return -EIO;
	return 0;
}

/* Resolving at start surfaces a misconfiguration in the log right away; a
 * failure is not fatal, since each call tries again. */
static void credentials_preload(struct daemon *d)
{
	struct aws_credentials *c = NULL;
	char *error = NULL;

	if (daemon_get_credentials(d, &c, &error) < 0) {
		log_warning("no AWS credentials yet (%s); calls will fail until they can be resolved",
			    error ? error : "unknown error");
		free(error);
		return;
	}
	aws_credentials_unref(c);
}

int daemon_new(const struct daemon_options *o, struct daemon **ret, char **ret_error)
{
	struct daemon *d;
	int r;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->options = *o;
	clock_gettime(CLOCK_MONOTONIC, &d->started);
	*ret_error = NULL;

	d->base = event_base_new();
	if (!d->base) {
		r = -ENOMEM;
		goto fail;
	}
	/* DNS through libevent, so a slow resolver never blocks the loop.
	 * Without a resolv.conf numeric endpoints still work. */
	d->dns = evdns_base_new(d->base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!d->dns)
		d->dns = evdns_base_new(d->base, 0);

	r = settings_load(d, ret_error);
	if (r < 0)
		goto fail;
	r = kms_setup(d, ret_error);
	if (r < 0)
		goto fail;
	credentials_preload(d);
	r = signals_setup(d);
	if (r < 0)
		goto fail;
	r = server_setup(d, ret_error);
	if (r < 0)
		goto fail;
	*ret = d;
	return 0;
fail:
	daemon_free(d);
	return r;
}

struct daemon *daemon_free(struct daemon *d)
{
	if (!d)
		return NULL;
	server_free(d->server);
	kms_client_free(d->kms);
	aws_credentials_unref(d->credentials);
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_hup)
		event_free(d->sig_hup);
	if (d->dns)
		evdns_base_free(d->dns, 1);
	if (d->base)
		event_base_free(d->base);
	policy_free(d->policy);
	config_done(&d->config);
	aws_settings_done(&d->settings);
	free(d);
	return NULL;
}

int daemon_run(struct daemon *d)
{
	sd_notifyf(0, "READY=1\nSTATUS=Serving; region %s, credentials from %s",
		   daemon_default_region(d) ? daemon_default_region(d) : "(none)",
		   d->credentials ? d->credentials->source : "(not yet available)");
	log_info("kmscanceld %s ready", PACKAGE_VERSION);
	if (event_base_dispatch(d->base) < 0)
		return -EIO;
	return 0;
}

/* The chain, or the one source the config pins with CredentialSource=. */
static int credentials_resolve(struct daemon *d, struct aws_credentials **ret, char **ret_error)
{
	if (d->config.credential_source)
		return creds_resolve_source(d->config.credential_source, &d->settings, env_lookup, ret, ret_error);
	return creds_resolve_chain(&d->settings, env_lookup, ret, ret_error);
}

static bool credentials_usable(const struct aws_credentials *c)
{
	/* Expired (or about to, within a minute) credentials would only earn
	 * an ExpiredTokenException. */
	return c && (c->expiration == 0 || c->expiration > time(NULL) + 60);
}

int daemon_get_credentials(struct daemon *d, struct aws_credentials **ret, char **ret_error)
{
	struct aws_credentials *fresh = NULL;
	int r;

	if (!credentials_usable(d->credentials)) {
		r = credentials_resolve(d, &fresh, ret_error);
		if (r < 0)
			return r;
		aws_credentials_unref(d->credentials);
		d->credentials = fresh;
		log_info("AWS credentials loaded from %s", fresh->source);
	}
	*ret = aws_credentials_ref(d->credentials);
	return 0;
}

const char *daemon_config_path(const struct daemon *d)
{
	return d->config.file ? d->config.file : "the configuration";
}

const char *daemon_default_region(const struct daemon *d)
{
	return d->settings.region;
}

const char *daemon_account(const struct daemon *d)
{
	if (d->config.account)
		return d->config.account;
	if (d->credentials && d->credentials->account_id)
		return d->credentials->account_id;
	return NULL;
}

unsigned daemon_call_timeout_ms(const struct daemon *d, long long timeout_ms)
{
	if (timeout_ms <= 0)
		timeout_ms = d->config.call_timeout_ms;
	if (timeout_ms < DAEMON_MIN_CALL_TIMEOUT_MS)
		timeout_ms = DAEMON_MIN_CALL_TIMEOUT_MS;
	if (timeout_ms > DAEMON_MAX_CALL_TIMEOUT_MS)
		timeout_ms = DAEMON_MAX_CALL_TIMEOUT_MS;
	return (unsigned)timeout_ms;
}

long daemon_uptime_sec(const struct daemon *d)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - d->started.tv_sec);
}

int daemon_check_config(const struct daemon_options *o)
{
	struct daemon d = { .options = *o };
	struct aws_credentials *c = NULL;
	char *error = NULL;
	int r;

	r = settings_load(&d, &error);
	if (r < 0) {
		fprintf(stderr, "kmscanceld: %s\n", error ? error : strerror(-r));
		goto out;
	}
	printf("socket:      %s\n", o->socket_path ? o->socket_path : d.config.socket_path);
	printf("region:      %s\n", d.settings.region ? d.settings.region : "(none: key ARNs only)");
	printf("endpoint:    %s\n", d.settings.kms_endpoint_url ? d.settings.kms_endpoint_url : "(per region)");
	printf("CA bundle:   %s\n", d.settings.ca_bundle ? d.settings.ca_bundle : "(system)");
	for (size_t i = 0; i < policy_n_rules(d.policy); i++) {
		char *text = NULL;

		if (policy_describe_rule(d.policy, i, &text) == 0)
			printf("policy:      %s\n", text);
		free(text);
	}
	printf("policy:      root %s\n", d.config.allow_root ? "may do anything (AllowRoot=yes)" : "is refused (AllowRoot=no)");
	r = credentials_resolve(&d, &c, &error);
	if (r < 0) {
		printf("credentials: unavailable: %s\n", error ? error : strerror(-r));
		r = 0; /* not fatal: they may appear later (e.g. a role attached) */
	} else {
		printf("credentials: %s (access key %.4s…)\n", c->source, c->access_key_id);
	}
out:
	aws_credentials_unref(c);
	free(error);
	policy_free(d.policy);
	config_done(&d.config);
	aws_settings_done(&d.settings);
	return r;
}
