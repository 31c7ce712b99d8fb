/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "guard.h"

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "error-names.h"
#include "guard-internal.h"
#include "log.h"
#include "methods-context.h"
#include "monotime.h"
#include "operation.h"
#include "policy.h"
#include "timeutil.h"

static const char *const key_state_names[_GUARD_KEY_STATE_MAX] = {
    [GUARD_KEY_WAITING] = "waiting",
    [GUARD_KEY_CHECKING] = "checking",
    [GUARD_KEY_RESCUING] = "rescuing",
};

const char *guard_key_state_to_string(enum guard_key_state s)
{
	return (unsigned)s < _GUARD_KEY_STATE_MAX ? key_state_names[s] : NULL;
}

static const char *const event_names[_GUARD_EVENT_MAX] = {
    [GUARD_EVENT_RESCUED] = "rescued",
    [GUARD_EVENT_ENABLED] = "enabled",
    [GUARD_EVENT_RESCUE_FAILED] = "rescueFailed",
    [GUARD_EVENT_UNREADABLE] = "unreadable",
    [GUARD_EVENT_READABLE] = "readable",
};

const char *guard_event_to_string(enum guard_event e)
{
	return (unsigned)e < _GUARD_EVENT_MAX ? event_names[e] : NULL;
}

static void key_set_state(struct guard_key *k, enum guard_key_state s)
{
	if (k->state != s)
		log_debug("guard %s: %s -> %s", k->name, key_state_names[k->state], key_state_names[s]);
	k->state = s;
}

static struct guard_key *key_free(struct guard_key *k)
{
	if (!k)
		return NULL;
	if (k->timer)
		event_free(k->timer);
	free(k->name);
	free(k->arn);
	free(k->region);
	free(k->deletion_date);
	free(k->check_request_id);
	free(k);
	return NULL;
}

/* Replaces *field with a copy of value (NULL allowed).  Out of memory
 * leaves NULL: what it would have named is left out of records. */
static void set_string(char **field, const char *value)
{
	free(*field);
	*field = value ? strdup(value) : NULL;
}

static const char *string_member(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* --- events ----------------------------------------------------------------------------------- */

static void add_string(struct json_object *o, const char *name, const char *value)
{
	if (value && *value)
		json_object_object_add(o, name, json_object_new_string(value));
}

/* A GuardEvent about k (the protocol in io.kmscancel.varlink) to the
 * subscribers; request IDs that are NULL or empty are left out. */
static void key_event(struct guard_key *k, enum guard_event e, const char *key_state, const char *error,
		      const char *message, const char *const *request_ids, size_t n_ids)
{
	struct json_object *ev = json_object_new_object(), *ids = NULL;
	char now[32];

	if (!ev)
		return;
	if (timeutil_format_iso8601(time(NULL), now, sizeof(now)) == 0)
		add_string(ev, "time", now);
	add_string(ev, "event", event_names[e]);
	add_string(ev, "key", k->name);
	add_string(ev, "keyId", k->arn);
	add_string(ev, "account", k->account);
	add_string(ev, "region", k->region);
	if (e == GUARD_EVENT_RESCUED || e == GUARD_EVENT_RESCUE_FAILED)
		add_string(ev, "deletionDate", k->deletion_date);
	add_string(ev, "keyState", key_state);
	for (size_t i = 0; i < n_ids; i++) {
		if (!request_ids[i] || !*request_ids[i])
			continue;
		if (!ids)
			ids = json_object_new_array();
		if (ids)
			json_object_array_add(ids, json_object_new_string(request_ids[i]));
	}
	if (ids)
		json_object_object_add(ev, "requestIds", ids);
	add_string(ev, "error", error);
	add_string(ev, "message", message);
	guard_watch_broadcast(k->g, k, ev);
	json_object_put(ev);
}

/* --- rescue ----------------------------------------------------------------------------------- */

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* The journal record of a rescue (GUARD_MESSAGE_RESCUED, crit): whoever
 * scheduled the deletion of a key that must never go should be found out. */
static void record_rescued(const struct guard_key *k, const struct operation_result *r, const char *key_state)
{
	/* The DescribeKey that found it, the cancel, and the EnableKey after
	 * it (a success's request ID when it is not the cancel's). */
	const char *enable_id = r->error == KMSCANCEL_OK && r->request_id && r->cancel_request_id &&
					strcmp(r->request_id, r->cancel_request_id) != 0
				    ? r->request_id
				    : NULL;
	char ids[512];

	snprintf(ids, sizeof(ids), "%s %s%s%s", or_dash(k->check_request_id), or_dash(r->cancel_request_id),
		 enable_id ? " " : "", enable_id ? enable_id : "");
	log_struct(LOG_CRIT, "MESSAGE_ID=" GUARD_MESSAGE_RESCUED,
		   "MESSAGE=guard: %s (%s, account %s, %s) was scheduled for deletion on %s: deletion cancelled, "
		   "key is %s (AWS request IDs %s)",
		   k->name, or_dash(k->arn), or_dash(k->account), or_dash(k->region), or_dash(k->deletion_date),
		   key_state, ids, "KMSCANCEL_GUARD_EVENT=rescued", "KMSCANCEL_KEY=%s", k->name, "KMSCANCEL_KEY_ARN=%s",
		   or_dash(k->arn), "KMSCANCEL_ACCOUNT=%s", or_dash(k->account), "KMSCANCEL_REGION=%s",
		   or_dash(k->region), "KMSCANCEL_DELETION_DATE=%s", or_dash(k->deletion_date),
		   "KMSCANCEL_KEY_STATE=%s", key_state, "KMSCANCEL_AWS_REQUEST_ID=%s", or_dash(r->cancel_request_id),
		   "KMSCANCEL_AWS_REQUEST_IDS=%s", ids, NULL);
}

static void record_rescue_failed(const struct guard_key *k, const struct operation_result *r, const char *error)
{
	log_struct(LOG_CRIT, "MESSAGE_ID=" GUARD_MESSAGE_RESCUE_FAILED,
		   "MESSAGE=guard: %s (%s, account %s, %s) is scheduled for deletion on %s and could not be rescued: "
		   "%s: %s; trying again at its next read",
		   k->name, or_dash(k->arn), or_dash(k->account), or_dash(k->region), or_dash(k->deletion_date), error,
		   or_dash(r->message), "KMSCANCEL_GUARD_EVENT=rescueFailed", "KMSCANCEL_KEY=%s", k->name,
		   "KMSCANCEL_KEY_ARN=%s", or_dash(k->arn), "KMSCANCEL_ACCOUNT=%s", or_dash(k->account),
		   "KMSCANCEL_REGION=%s", or_dash(k->region), "KMSCANCEL_DELETION_DATE=%s", or_dash(k->deletion_date),
		   "KMSCANCEL_ERROR=%s", error, "KMSCANCEL_AWS_REQUEST_ID=%s", or_dash(r->request_id), NULL);
}

static const char *result_error(const struct operation_result *r)
{
	return r->aws_code ? r->aws_code : kmscancel_error_short_name(r->error);
}

static void key_finished(struct guard_key *k);

static void rescue_done(void *userdata, const struct operation_result *r)
{
	struct guard_key *k = userdata;
	struct guard *g = k->g;

	key_set_state(k, GUARD_KEY_WAITING);
	if (r->cancelled) {
		bool enabled = r->error == KMSCANCEL_OK && r->key_state && strcmp(r->key_state, "Enabled") == 0;
		const char *state = enabled ? "Enabled" : "Disabled";
		const char *ids[] = {k->check_request_id, r->cancel_request_id};

		g->rescues++;
		g->last_rescue = time(NULL);
		set_string(&g->last_rescue_key, k->name);
		if (r->key_arn && !k->arn)
			set_string(&k->arn, r->key_arn);
		record_rescued(k, r, state);
		/* An EnableKey that failed: the deletion is cancelled all the same. */
		key_event(k, GUARD_EVENT_RESCUED, "Disabled", r->error == KMSCANCEL_OK ? NULL : result_error(r),
			  r->error == KMSCANCEL_OK ? NULL : r->message, ids, 2);
		if (enabled) {
			const char *eid[] = {r->request_id};

			log_notice("guard: %s enabled again after its rescue (it was Enabled; Enable=yes)", k->name);
			key_event(k, GUARD_EVENT_ENABLED, "Enabled", NULL, NULL, eid, 1);
		} else if (r->error != KMSCANCEL_OK) {
			log_warning("guard: %s: %s", k->name, r->message ? r->message : "EnableKey failed");
		}
		k->was_enabled = enabled;
	} else {
		const char *ids[] = {k->check_request_id, r->request_id};

		g->failures++;
		record_rescue_failed(k, r, result_error(r));
		key_event(k, GUARD_EVENT_RESCUE_FAILED, NULL, result_error(r), r->message, ids, 2);
	}
	key_finished(k);
}

/* k was found pending deletion: CancelKeyDeletion now, through the path
 * every caller's cancel takes; EnableKey after it when Enable=yes and the
 * key was Enabled when last read. */
static void key_rescue(struct guard_key *k)
{
	struct guard *g = k->g;
	struct operation_request req = {
	    .verb = "cancel",
	    .policy_ops = POLICY_OP_CANCEL,
	    .cancel = true,
	    .enable_key = g->enable && k->was_enabled,
	    .key_id = k->arn,
	    .key_id_len = strlen(k->arn),
	};

	log_warning("guard: %s (%s) is %s (deletion on %s): cancelling the deletion%s", k->name, k->arn,
		    "scheduled for deletion", or_dash(k->deletion_date), req.enable_key ? " and enabling it" : "");
	key_set_state(k, GUARD_KEY_RESCUING);
	operation_start_internal(g->ctx, &req,
				 &(struct operation_origin){.peer = &g->peer, .done = rescue_done, .userdata = k});
}

/* --- reading ---------------------------------------------------------------------------------- */

static void key_unreadable(struct guard_key *k, const struct operation_result *r)
{
	const char *error = result_error(r);
	const char *ids[] = {r->request_id};

	if (k->unreadable) {
		log_debug("guard: %s still cannot be read: %s", k->name, error);
		return;
	}
	k->unreadable = true;
	k->g->n_unreadable++;
	log_struct(LOG_WARNING, "MESSAGE_ID=" GUARD_MESSAGE_UNREADABLE,
		   "MESSAGE=guard: %s cannot be read, so it is not guarded until it can: %s: %s", k->name, error,
		   or_dash(r->message), "KMSCANCEL_GUARD_EVENT=unreadable", "KMSCANCEL_KEY=%s", k->name,
		   "KMSCANCEL_ERROR=%s", error, "KMSCANCEL_AWS_REQUEST_ID=%s", or_dash(r->request_id), NULL);
	key_event(k, GUARD_EVENT_UNREADABLE, NULL, error, r->message, ids, 1);
}

static void check_done(void *userdata, const struct operation_result *r)
{
	struct guard_key *k = userdata;
	struct guard *g = k->g;
	const char *state, *arn;

	key_set_state(k, GUARD_KEY_WAITING);
	if (k->dropped || g->stopped) {
		/* Unlisted meanwhile, or the daemon stops (its answer then is
		 * the shutdown's, not the key's). */
		key_finished(k);
		return;
	}
	g->checks++;
	if (r->error != KMSCANCEL_OK) {
		key_unreadable(k, r);
		key_finished(k);
		return;
	}
	state = string_member(r->params, "keyState");
	arn = string_member(r->params, "keyId");
	if (arn && (!k->arn || strcmp(arn, k->arn) != 0))
		set_string(&k->arn, arn);
	if (r->account)
		snprintf(k->account, sizeof(k->account), "%s", r->account);
	if (r->region && (!k->region || strcmp(r->region, k->region) != 0))
		set_string(&k->region, r->region);
	if (k->unreadable) {
		const char *ids[] = {r->request_id};

		k->unreadable = false;
		g->n_unreadable--;
		log_notice("guard: %s can be read again (%s)", k->name, or_dash(state));
		key_event(k, GUARD_EVENT_READABLE, state, NULL, NULL, ids, 1);
	}
	log_debug("guard: %s is %s", k->name, or_dash(state));
	if (state && k->arn &&
	    (strcmp(state, "PendingDeletion") == 0 || strcmp(state, "PendingReplicaDeletion") == 0)) {
		set_string(&k->deletion_date, string_member(r->params, "deletionDate"));
		set_string(&k->check_request_id, r->request_id);
		key_rescue(k);
		return;
	}
	k->was_enabled = state && strcmp(state, "Enabled") == 0;
	key_finished(k);
}

/* Reads k with DescribeKey (an internal operation: its outcome is counted
 * here, not audited, as it comes every Interval=). */
static void key_check(struct guard_key *k)
{
	struct guard *g = k->g;
	struct operation_request req = {
	    .verb = "describe",
	    .policy_ops = POLICY_OP_DESCRIBE,
	    .key_id = k->name,
	    .key_id_len = strlen(k->name),
	};

	key_set_state(k, GUARD_KEY_CHECKING);
	operation_start_internal(
	    g->ctx, &req,
	    &(struct operation_origin){.peer = &g->peer, .done = check_done, .userdata = k, .quiet = true});
}

static void key_timer_cb(evutil_socket_t fd, short what, void *userdata)
{
	struct guard_key *k = userdata;
	struct timeval tv = timeval_from_msec(k->g->interval_ms);

	/* From this read's start, so the reads keep their spread. */
	evtimer_add(k->timer, &tv);
	if (k->state == GUARD_KEY_WAITING && !k->g->stopped)
		key_check(k);
}

/* An operation of k ended: a key a reload dropped goes now. */
static void key_finished(struct guard_key *k)
{
	struct guard_key **p;

	if (!k->dropped)
		return;
	for (p = &k->g->dropped; *p && *p != k; p = &(*p)->next)
		;
	if (*p)
		*p = k->next;
	key_free(k);
}

/* --- the list ---------------------------------------------------------------------------------- */

struct guard *guard_new(struct methods_context *ctx)
{
	struct guard *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->ctx = ctx;
	g->interval_ms = GUARD_DEFAULT_INTERVAL_MS;
	/* The audit records of its rescues name the daemon itself. */
	g->peer = (struct peer){.uid = geteuid(), .gid = getegid(), .pid = getpid()};
	snprintf(g->peer.comm, sizeof(g->peer.comm), "kmscanceld-guard");
	return g;
}

static struct guard_key *key_new(struct guard *g, const char *name)
{
	struct guard_key *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->g = g;
	k->name = strdup(name);
	k->timer = evtimer_new(g->ctx->base, key_timer_cb, k);
	if (!k->name || !k->timer)
		return key_free(k);
	return k;
}

static bool has_key(const struct guard_key *list, const char *name)
{
	for (; list; list = list->next)
		if (strcmp(list->name, name) == 0)
			return true;
	return false;
}

static struct guard_key *take_key(struct guard_key **list, const char *name)
{
	for (struct guard_key **p = list; *p; p = &(*p)->next)
		if (strcmp((*p)->name, name) == 0) {
			struct guard_key *k = *p;

			*p = k->next;
			k->next = NULL;
			return k;
		}
	return NULL;
}

/* Lets k go: now, or when the operation it has running ends. */
static void key_drop(struct guard *g, struct guard_key *k)
{
	log_info("guard: %s is no longer guarded", k->name);
	event_del(k->timer);
	if (k->unreadable)
		g->n_unreadable--;
	k->unreadable = false;
	if (k->state == GUARD_KEY_WAITING) {
		key_free(k);
		return;
	}
	k->dropped = true;
	k->next = g->dropped;
	g->dropped = k;
}

unsigned guard_interval_ms(unsigned interval_ms, size_t n_keys)
{
	unsigned long long floor_ms = (unsigned long long)n_keys * 1000 / GUARD_MAX_DESCRIBE_RATE;

	return floor_ms > interval_ms ? (unsigned)floor_ms : interval_ms;
}

/* guard_interval_ms(), with a notice when it is not Interval=. */
static unsigned effective_interval_ms(unsigned interval_ms, size_t n)
{
	unsigned long long floor_ms = guard_interval_ms(interval_ms, n);

	if (floor_ms <= interval_ms)
		return interval_ms;
	log_notice("guard: %zu keys every %.3gs would be more than %d DescribeKey requests a second: reading each "
		   "every %.3gs instead (Interval=)",
		   n, interval_ms / 1000.0, GUARD_MAX_DESCRIBE_RATE, floor_ms / 1000.0);
	return (unsigned)floor_ms;
}

static void sweep_cb(evutil_socket_t fd, short what, void *userdata)
{
	guard_watch_sweep(userdata);
}

int guard_configure(struct guard *g, char *const *keys, size_t n_keys, unsigned interval_ms, bool enable)
{
	struct guard_key *old = g->keys, *fresh = NULL, *list = NULL, **tail = &list;
	struct timeval sweep = timeval_from_msec(GUARD_SWEEP_MS);
	size_t i = 0;

	if (!g->sweep) {
		g->sweep = event_new(g->ctx->base, -1, EV_PERSIST, sweep_cb, g);
		if (!g->sweep || event_add(g->sweep, &sweep) < 0)
			return -ENOMEM;
	}
	/* The keys not guarded yet, made first: out of memory then leaves the
	 * running list as it is. */
	for (size_t j = 0; j < n_keys; j++) {
		struct guard_key *k;

		if (has_key(old, keys[j]) || has_key(fresh, keys[j]))
			continue;
		k = key_new(g, keys[j]);
		if (!k) {
			while (fresh) {
				k = fresh;
				fresh = k->next;
				key_free(k);
			}
			return -ENOMEM;
		}
		k->next = fresh;
		fresh = k;
	}
	/* The new list in Keys= order, keeping what was learnt of the keys
	 * still listed. */
	for (size_t j = 0; j < n_keys; j++) {
		struct guard_key *k = take_key(&old, keys[j]);

		if (!k)
			k = take_key(&fresh, keys[j]);
		if (!k)
			continue; /* listed twice */
		*tail = k;
		tail = &k->next;
	}
	while (old) {
		struct guard_key *next = old->next;

		key_drop(g, old);
		old = next;
	}
	g->keys = list;
	g->n_keys = 0;
	for (struct guard_key *k = list; k; k = k->next)
		g->n_keys++;
	g->enable = enable;
	g->interval_ms = effective_interval_ms(interval_ms, g->n_keys);
	/* Spread: the i-th key is first read i/n of an interval from now. */
	for (struct guard_key *k = list; k; k = k->next, i++) {
		struct timeval tv = timeval_from_msec((unsigned)((unsigned long long)g->interval_ms * i / g->n_keys));

		evtimer_add(k->timer, &tv);
	}
	if (g->n_keys)
		log_info("guard: %u keys, each read every %.3gs%s", g->n_keys, g->interval_ms / 1000.0,
			 enable ? ", enabled again after a rescue if they were Enabled" : "");
	return 0;
}

bool guard_active(const struct guard *g)
{
	return g && g->n_keys > 0 && !g->stopped;
}

bool guard_rescuing(const struct guard *g)
{
	if (!g)
		return false;
	for (const struct guard_key *k = g->keys; k; k = k->next)
		if (k->state == GUARD_KEY_RESCUING)
			return true;
	for (const struct guard_key *k = g->dropped; k; k = k->next)
		if (k->state == GUARD_KEY_RESCUING)
			return true;
	return false;
}

void guard_stop(struct guard *g)
{
	if (!g || g->stopped)
		return;
	g->stopped = true;
	for (struct guard_key *k = g->keys; k; k = k->next)
		event_del(k->timer);
	guard_watch_end_all(g);
}

struct guard *guard_free(struct guard *g)
{
	if (!g)
		return NULL;
	guard_stop(g);
	while (g->keys) {
		struct guard_key *k = g->keys;

		g->keys = k->next;
		key_free(k);
	}
	while (g->dropped) {
		struct guard_key *k = g->dropped;

		g->dropped = k->next;
		key_free(k);
	}
	if (g->sweep)
		event_free(g->sweep);
	free(g->last_rescue_key);
	free(g);
	return NULL;
}

void guard_get_status(const struct guard *g, struct guard_status *ret)
{
	*ret = (struct guard_status){
	    .keys = g->n_keys,
	    .checks = g->checks,
	    .rescues = g->rescues,
	    .failures = g->failures,
	    .unreadable = g->n_unreadable,
	    .last_rescue = g->last_rescue,
	    .last_rescue_key = g->last_rescue_key,
	};
}
