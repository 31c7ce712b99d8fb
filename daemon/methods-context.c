/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "methods-context.h"

#include "accounts.h"
#include "aws-settings.h"
#include "conf.h"
#include "kms-transport.h"
#include "peer.h"

void methods_count(struct methods_context *ctx, kmscancel_error e)
{
	if (e == KMSCANCEL_OK) {
		ctx->counters.calls_ok++;
		return;
	}
	ctx->counters.calls_failed++;
	if ((unsigned)e < METHODS_N_ERROR_COUNTERS)
		ctx->counters.errors[e]++;
}

struct policy_subject methods_policy_subject(struct methods_context *ctx, const struct peer *p)
{
	struct policy_subject s = {.uid = p->uid, .gid = p->gid};

	if (ctx->groups && policy_groups_cache_get(ctx->groups, p->uid, p->gid, &s.groups, &s.n_groups) == 0)
		s.groups_known = true;
	else
		s.groups = NULL, s.n_groups = 0;
	return s;
}

uint64_t methods_now_ms(const struct methods_context *ctx)
{
	const struct kms_clock *clock = ctx->clock ? ctx->clock : &kms_clock_real;

	return clock->now_mono_ms(clock->ctx);
}

unsigned methods_call_timeout_ms(const struct methods_context *ctx, long long timeout_ms)
{
	if (timeout_ms <= 0)
		timeout_ms = ctx->config->call_timeout_ms;
	if (timeout_ms < METHODS_MIN_CALL_TIMEOUT_MS)
		timeout_ms = METHODS_MIN_CALL_TIMEOUT_MS;
	if (timeout_ms > METHODS_MAX_CALL_TIMEOUT_MS)
		timeout_ms = METHODS_MAX_CALL_TIMEOUT_MS;
	return (unsigned)timeout_ms;
}

const char *methods_default_region(const struct methods_context *ctx)
{
	return ctx->settings->region;
}

const char *methods_default_account(const struct methods_context *ctx)
{
	return accounts_default_account(ctx->accounts);
}

const char *methods_config_path(const struct methods_context *ctx)
{
	return ctx->config->file ? ctx->config->file : "the configuration";
}
