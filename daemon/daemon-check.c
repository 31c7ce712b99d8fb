/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "daemon-internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "creds.h"
#include "guard.h"
#include "policy.h"

/* The chain, or the one source the config pins with CredentialSource=,
 * without the network (--check-config). */
static int credentials_resolve(const struct daemon_config *c, const struct aws_settings *s,
			       struct aws_credentials **ret, char **ret_error)
{
	if (c->credential_source)
		return creds_resolve_source(c->credential_source, s, env_lookup, ret, ret_error);
	return creds_resolve_chain(s, env_lookup, ret, ret_error);
}

/* --check-config: the descriptor budget against the limit the daemon will
 * run with (its hard RLIMIT_NOFILE, to which it raises the soft one). */
static int fd_budget_check_config(const struct daemon_config *c)
{
	unsigned long limit = fd_limit_get(true);
	struct fd_budget b;
	char *error = NULL;
	int r = fd_budget_compute(c, limit, &b, &error);

	if (r < 0) {
		fprintf(stderr, "kmscanceld: %s\n", error ? error : strerror(-r));
		free(error);
		return r;
	}
	printf("descriptors: %lu%s: %u client connections (%u per user)%s, %lu for KMS pools, %lu for "
	       "credentials, %lu for the daemon\n",
	       limit, limit == ULONG_MAX ? " (unlimited)" : "", b.connections, b.connections_per_uid,
	       b.clamped ? " (MaxConnections= lowered to fit)" : "", b.kms, b.credentials, b.daemon);
	if (c->idle_connection_timeout_ms)
		printf("connections: idle ones closed after %.3gs (IdleConnectionTimeoutSec=)\n",
		       c->idle_connection_timeout_ms / 1000.0);
	else
		printf("connections: idle ones stay open (IdleConnectionTimeoutSec=0)\n");
	return 0;
}

int daemon_check_config(const struct daemon_options *o)
{
	struct loaded l = { 0 };
	struct aws_credentials *c = NULL;
	char *error = NULL;
	int r;

	r = settings_load(o, &l, &error);
	if (r < 0) {
		fprintf(stderr, "kmscanceld: %s\n", error ? error : strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < l.config.n_files; i++)
		printf("config:      %s\n", l.config.files[i]);
	if (l.config.n_files == 0)
		printf("config:      (defaults: no file)\n");
	printf("socket:      %s\n", o->socket_path ? o->socket_path : l.config.socket_path);
	printf("region:      %s\n", l.settings.region ? l.settings.region : "(none: key ARNs only)");
	printf("endpoint:    %s\n", l.settings.kms_endpoint_url ? l.settings.kms_endpoint_url : "(per region)");
	printf("CA bundle:   %s\n", l.settings.ca_bundle ? l.settings.ca_bundle : "(system)");
	printf("policy:      %zu rule(s), in file order, first match wins; no match is a denial\n",
	       policy_n_rules(l.policy));
	for (size_t i = 0; i < policy_n_rules(l.policy); i++) {
		char *text = NULL;

		if (policy_describe_rule(l.policy, i, &text) == 0)
			printf("policy:      %s\n", text);
		free(text);
	}
	printf("policy:      root %s\n", l.config.allow_root ? "may do anything (AllowRoot=yes)"
							     : "needs a rule, except for status (AllowRoot=no)");
	for (size_t i = 0; i < l.config.n_guard_keys; i++)
		printf("guard:       %s, read every %.3gs%s\n", l.config.guard_keys[i],
		       guard_interval_ms(l.config.guard_interval_ms, l.config.n_guard_keys) / 1000.0,
		       l.config.guard_enable ? ", enabled again after a rescue if it was Enabled" : "");
	r = fd_budget_check_config(&l.config);
	if (r < 0)
		goto out;
	r = credentials_resolve(&l.config, &l.settings, &c, &error);
	if (r == -EINPROGRESS) {
		printf("credentials: %s (fetched when the daemon runs)\n", error ? error : "from the network");
		r = 0;
	} else if (r < 0) {
		printf("credentials: unavailable: %s\n", error ? error : strerror(-r));
		r = 0; /* not fatal: they may appear later (e.g. a role attached) */
	} else {
		size_t n = strlen(c->access_key_id);

		printf("credentials: %s (access key ...%s)\n", c->source, n >= 4 ? c->access_key_id + n - 4 : "");
	}
	r = accounts_check_config(&l.config, &l.settings, stdout);
out:
	aws_credentials_unref(c);
	free(error);
	loaded_done(&l);
	return r;
}
