/* SPDX-License-Identifier: MIT */
#include "config.h"

/*
 * io.kmscancel.WatchGuard (guard.h): the subscribers and what each is
 * told.  A subscriber sees an event only when the local policy allows it
 * to describe the event's key (root always).  Replies go out through the
 * connection's own buffers (conn.c), so a subscriber that does not read
 * never holds up the others: past the connection's output limit
 * (SERVER_OUTPUT_MAX) it is dropped, and its call, abandoned then, is let
 * go at the next sweep (GUARD_SWEEP_MS).
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "error-names.h"
#include "guard-internal.h"
#include "keyid.h"
#include "log.h"
#include "methods-context.h"
#include "policy.h"
#include "varlink-service.h"

/* May the caller p see what the guard says of k?  Root always; else
 * only an Allow of describe on the key (its ARN once read, else the name
 * in Keys=).  A key named by alias is decided as a call by that alias
 * (policy_decide_alias()): a Deny of the alias hides it even once its ARN
 * is known, and before the read only alias rules can allow.  An
 * undecided verdict is a no. */
static bool peer_may_see(const struct guard *g, const struct peer *p, const struct guard_key *k)
{
	struct policy_subject subject;
	struct policy_object object = {.region = k->region, .account = k->account[0] ? k->account : NULL};
	struct keyid key;
	struct keyid_alias alias;
	bool by_alias;
	const char *rule = NULL;

	if (p->uid == 0)
		return true;
	if (!g->ctx->policy)
		return false;
	subject = methods_policy_subject(g->ctx, p);
	by_alias = keyid_alias_parse(k->name, &alias, NULL) == 0;
	if (k->arn && keyid_parse(k->arn, &key, NULL) == 0) {
		object.key = &key;
		object.region = key.region;
		object.account = key.account;
	} else if (!by_alias && keyid_parse(k->name, &key, NULL) == 0) {
		object.key = &key;
	} else if (!by_alias) {
		return false;
	}
	if (by_alias)
		return policy_decide_alias(g->ctx->policy, &subject, POLICY_OP_DESCRIBE, alias.name, &object, &rule) ==
		       POLICY_ALLOW;
	return policy_decide(g->ctx->policy, &subject, POLICY_OP_DESCRIBE, &object, &rule) == POLICY_ALLOW;
}

static bool watcher_may_see(struct guard *g, const struct guard_watcher *w, const struct guard_key *k)
{
	return peer_may_see(g, &w->peer, k);
}

bool guard_may_describe(const struct guard *g, const struct peer *p, const char *name)
{
	const struct guard_key *lists[] = {g->keys, g->dropped};

	if (!name)
		return false;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		for (const struct guard_key *k = lists[i]; k; k = k->next)
			if (strcmp(k->name, name) == 0)
				return peer_may_see(g, p, k);
	/* No longer guarded: judged on the name alone, its key unknown. */
	return peer_may_see(g, p, &(struct guard_key){.name = (char *)name});
}

void guard_watch_broadcast(struct guard *g, const struct guard_key *k, struct json_object *event)
{
	for (struct guard_watcher *w = g->watchers; w; w = w->next) {
		struct json_object *params;

		if (call_is_abandoned(w->call) || !watcher_may_see(g, w, k))
			continue;
		params = json_object_new_object();
		if (!params)
			continue;
		json_object_object_add(params, "event", json_object_get(event));
		call_reply_more(w->call, params);
	}
}

/* Unlinks *p and gives its call the final reply (dropped if it hung up). */
static void watcher_end(struct guard *g, struct guard_watcher **p)
{
	struct guard_watcher *w = *p;

	*p = w->next;
	g->n_watchers--;
	call_reply(w->call, NULL);
	free(w);
}

void guard_watch_sweep(struct guard *g)
{
	for (struct guard_watcher **p = &g->watchers; *p;) {
		if (call_is_abandoned((*p)->call)) {
			log_debug("guard: a WatchGuard subscriber (uid %u) hung up", (unsigned)(*p)->peer.uid);
			watcher_end(g, p);
		} else {
			p = &(*p)->next;
		}
	}
}

void guard_watch_end_all(struct guard *g)
{
	while (g->watchers)
		watcher_end(g, &g->watchers);
}

bool guard_watch_admit(struct methods_context *ctx, struct call *c)
{
	const struct peer *p = call_peer(c);
	struct policy_subject subject;

	if (p->uid == 0)
		return true;
	subject = methods_policy_subject(ctx, p);
	if (ctx->policy && policy_may_describe_any(ctx->policy, &subject))
		return true;
	audit_log(&(struct audit_record){
	    .event = AUDIT_DECISION,
	    .caller = p,
	    .operation = "watch-guard",
	    .key = "*",
	    .allowed = false,
	    .rule = "default",
	});
	methods_count(ctx, KMSCANCEL_E_PERMISSION_DENIED);
	call_reply_permission_denied(c);
	return false;
}

static unsigned watchers_of(const struct guard *g, uid_t uid)
{
	unsigned n = 0;

	for (const struct guard_watcher *w = g->watchers; w; w = w->next)
		n += w->peer.uid == uid;
	return n;
}

void guard_watch(struct guard *g, struct call *c)
{
	struct guard_watcher *w;

	guard_watch_sweep(g); /* room left by those gone */
	if (g->stopped) {
		call_reply(c, NULL);
		return;
	}
	if (g->n_watchers >= GUARD_WATCHERS_MAX || watchers_of(g, call_peer(c)->uid) >= GUARD_WATCHERS_PER_UID_MAX) {
		struct json_object *params = json_object_new_object();

		json_object_object_add(params, "message",
				       json_object_new_string("too many WatchGuard subscribers; try again later"));
		call_reply_error(c, kmscancel_error_to_varlink(KMSCANCEL_E_THROTTLING), params);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		call_reply_error(c, kmscancel_error_to_varlink(KMSCANCEL_E_THROTTLING), NULL);
		return;
	}
	w->call = c;
	w->peer = *call_peer(c);
	w->next = g->watchers;
	g->watchers = w;
	g->n_watchers++;
	call_reply_more(c, json_object_new_object()); /* the watch is in place */
}
