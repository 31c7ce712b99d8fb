/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds-cache.h"

#include <assert.h>
#include <errno.h>
#include <event2/event.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aws-ini.h"
#include "creds-net.h"
#include "creds.h"
#include "errorf.h"
#include "log.h"
#include "monotime.h"
#include "timeutil.h"

/* The files whose change means "fetch again": shared credentials, shared
 * config, the systemd credential. */
#define CACHE_MAX_FILES 3

static const char *const state_names[_CREDS_CACHE_STATE_MAX] = {
    [CREDS_CACHE_EMPTY] = "empty",           [CREDS_CACHE_FETCHING] = "fetching", [CREDS_CACHE_VALID] = "valid",
    [CREDS_CACHE_REFRESHING] = "refreshing", [CREDS_CACHE_STALE] = "stale",       [CREDS_CACHE_FAILED] = "failed",
};

const char *creds_cache_state_to_string(enum creds_cache_state s)
{
	return s < _CREDS_CACHE_STATE_MAX ? state_names[s] : "unknown";
}

struct waiter {
	struct waiter *next;
	creds_cache_done_fn done;
	void *userdata;
};

struct file_stamp {
	char *path;
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct creds_cache {
	struct creds_cache_options o; /* name and source point at the copies below */
	char *name, *source;
	enum creds_cache_state state;

	struct aws_credentials *creds;
	time_t usable_until; /* 0: never expires */
	time_t refresh_at;   /* 0: no refresh needed */
	bool revoked;        /* KMS said its token expired */

	struct creds_net *net;
	struct creds_fetch *fetch; /* the one running fetch, or NULL */
	struct aws_ini *fetch_ini; /* the files as that fetch reads them */
	bool completing;           /* inside fetch_complete(): no nested fetch_start() */
	bool again;                /* a reload came while a fetch ran: fetch once more */

	struct event *timer; /* scheduled refresh or retry */
	time_t timer_at;     /* wall time it fires, 0: not armed */

	struct waiter *waiters, **waiters_tail;

	unsigned consecutive_failures;
	char *last_error;
	uint64_t last_attempt_ms; /* CLOCK_MONOTONIC; 0: never */
	uint64_t last_file_check_ms;
	struct file_stamp files[CACHE_MAX_FILES];

	unsigned long fetches, failures;
};

static time_t now_wall(const struct creds_cache *c)
{
	return c->o.now ? c->o.now() : time(NULL);
}

/* Milliseconds since t (from monotime_msec()), or -1 when t is 0: never. */
static long mono_ms_since(uint64_t t)
{
	return t ? (long)(monotime_msec() - t) : -1;
}

/* Uniform in [0, n); jitter only, not secrets. */
static unsigned long random_below(unsigned long n)
{
	unsigned long v = 0;

	if (n == 0)
		return 0;
	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		v = (unsigned long)random();
	return v % n;
}

static void set_state(struct creds_cache *c, enum creds_cache_state s)
{
	if (c->state == s)
		return;
	log_debug("credentials (%s): %s -> %s", c->name, state_names[c->state], state_names[s]);
	c->state = s;
}

static void format_time(time_t t, char *buf, size_t size)
{
	if (timeutil_format_iso8601(t, buf, size) < 0)
		snprintf(buf, size, "%lld", (long long)t);
}

/* "…ABCD": the most of an access key ID we ever show. */
static void key_suffix(const struct aws_credentials *cr, char ret[5])
{
	size_t n = cr ? strlen(cr->access_key_id) : 0;

	snprintf(ret, 5, "%s", n >= 4 ? cr->access_key_id + n - 4 : "");
}

static bool usable(const struct creds_cache *c, time_t now)
{
	return c->creds && !c->revoked && (c->usable_until == 0 || now < c->usable_until);
}

/* --- files ------------------------------------------------------------------ */

static void stamp_take(struct file_stamp *f)
{
	struct stat st;

	f->exists = f->path && stat(f->path, &st) == 0;
	if (!f->exists) {
		f->dev = 0;
		f->ino = 0;
		f->size = 0;
		f->mtime = (struct timespec){0};
		return;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
}

static bool stamp_changed(const struct file_stamp *f)
{
	struct file_stamp now = {.path = f->path};

	stamp_take(&now);
	return now.exists != f->exists || now.dev != f->dev || now.ino != f->ino || now.size != f->size ||
	       now.mtime.tv_sec != f->mtime.tv_sec || now.mtime.tv_nsec != f->mtime.tv_nsec;
}

/* Records the watched files as they are before a fetch reads them, so a
 * change made during the fetch is seen by the next check. */
static void files_snapshot(struct creds_cache *c)
{
	const struct aws_settings *s = c->o.settings;
	const char *dir = s ? aws_getenv(s->getenv_fn, "CREDENTIALS_DIRECTORY") : NULL;
	char *paths[CACHE_MAX_FILES] = {NULL};

	if (s) {
		paths[0] = s->credentials_file ? strdup(s->credentials_file) : NULL;
		paths[1] = s->config_file ? strdup(s->config_file) : NULL;
	}
	if (dir && asprintf(&paths[2], "%s/%s", dir, CREDS_SYSTEMD_ID) < 0)
		paths[2] = NULL;
	for (size_t i = 0; i < CACHE_MAX_FILES; i++) {
		free(c->files[i].path);
		c->files[i].path = paths[i];
		stamp_take(&c->files[i]);
	}
	c->last_file_check_ms = monotime_msec();
}

static const char *files_changed(struct creds_cache *c)
{
	long since = mono_ms_since(c->last_file_check_ms);

	if (c->fetch || c->o.fetch || (since >= 0 && since < CREDS_FILE_CHECK_INTERVAL_MS))
		return NULL;
	c->last_file_check_ms = monotime_msec();
	for (size_t i = 0; i < CACHE_MAX_FILES; i++)
		if (c->files[i].path && stamp_changed(&c->files[i]))
			return c->files[i].path;
	return NULL;
}

/* --- timer ------------------------------------------------------------------ */

/* Milliseconds from now until wall time at, to the millisecond with the
 * real clock (a timer rounded to whole seconds would fire late). */
static long ms_until(const struct creds_cache *c, time_t at)
{
	struct timespec ts;

	if (c->o.now)
		return (long)(at - c->o.now()) * 1000L;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long)(at - ts.tv_sec) * 1000L - ts.tv_nsec / 1000000L;
}

static void arm_timer(struct creds_cache *c, time_t at, long delay_ms)
{
	struct timeval tv = timeval_from_msec(delay_ms);

	evtimer_add(c->timer, &tv);
	c->timer_at = at;
}

static void disarm_timer(struct creds_cache *c)
{
	evtimer_del(c->timer);
	c->timer_at = 0;
}

/* Jittered exponential backoff: half fixed, half random ("equal jitter"),
 * so a retry is never immediate yet never in lockstep. */
static long backoff_ms(unsigned failures)
{
	unsigned long d = CREDS_BACKOFF_BASE_MS;

	for (unsigned i = 1; i < failures && d < CREDS_BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > CREDS_BACKOFF_MAX_MS)
		d = CREDS_BACKOFF_MAX_MS;
	return (long)(d / 2 + random_below(d / 2 + 1));
}

static void fetch_start(struct creds_cache *c, const char *why);

static void on_timer(evutil_socket_t fd, short what, void *userdata)
{
	struct creds_cache *c = userdata;

	c->timer_at = 0;
	fetch_start(c, c->state == CREDS_CACHE_VALID ? "refresh ahead of expiry" : "retry");
}

/* --- completing a fetch ------------------------------------------------------ */

static void serve_waiters(struct creds_cache *c, int r, const char *error)
{
	struct waiter *w = c->waiters;

	c->waiters = NULL;
	c->waiters_tail = &c->waiters;
	while (w) {
		struct waiter *next = w->next;

		w->done(r, r == 0 ? c->creds : NULL, error, w->userdata);
		free(w);
		w = next;
	}
}

/* Why a request gets no credentials now: the last error, and when a set
 * expired, since when. */
static char *failure_message(const struct creds_cache *c)
{
	char when[32], *msg = NULL;
	int r;

	if (c->creds && c->creds->expiration && !c->revoked) {
		format_time(c->creds->expiration, when, sizeof(when));
		r = asprintf(&msg, "the AWS credentials from %s expired at %s and could not be refreshed: %s",
			     c->creds->source, when, c->last_error ? c->last_error : "no refresh yet");
	} else if (c->revoked) {
		r = asprintf(&msg, "AWS rejected the credentials from %s as expired and fetching new ones failed: %s",
			     c->creds->source, c->last_error ? c->last_error : "unknown error");
	} else {
		r = asprintf(&msg, "%s", c->last_error ? c->last_error : "no AWS credentials yet");
	}
	return r < 0 ? NULL : msg;
}

/*
 * Takes a fresh set: works out when to stop using it and when to refresh
 * (see the header), applying IMDS static stability.  Returns false (and
 * keeps nothing) for a set that is already unusable.
 */
static bool install(struct creds_cache *c, struct aws_credentials *cr, time_t now, char **ret_error)
{
	char exp[32], at[32];
	time_t usable_until = 0, refresh_at = 0;

	if (cr->expiration) {
		long lifetime = (long)(cr->expiration - now);
		long margin = lifetime / 4 < CREDS_EXPIRY_MARGIN_SEC ? lifetime / 4 : CREDS_EXPIRY_MARGIN_SEC;
		long advance = CREDS_REFRESH_WINDOW_SEC + (long)random_below(CREDS_REFRESH_JITTER_SEC + 1);

		if (advance > lifetime / 2)
			advance = lifetime / 2;
		usable_until = cr->expiration - (margin > 0 ? margin : 0);
		refresh_at = cr->expiration - (advance > 0 ? advance : 0);
		if (strcmp(cr->source, CREDS_SOURCE_IMDS) == 0 &&
		    (lifetime <= 0 || (c->creds && cr->expiration <= c->creds->expiration))) {
			/* IMDS hands back the same (or an expired) set until it
			 * has a new one; asking again at once would only hammer
			 * it, and failing every call would stop the service
			 * during an IMDS hiccup. */
			long ext =
			    CREDS_STATIC_STABILITY_MIN_SEC +
			    (long)random_below(CREDS_STATIC_STABILITY_MAX_SEC - CREDS_STATIC_STABILITY_MIN_SEC + 1);

			refresh_at = now + ext;
			if (usable_until < refresh_at) {
				format_time(cr->expiration, exp, sizeof(exp));
				log_warning("credentials (%s): IMDS handed out credentials expiring at %s; attempting "
					    "credential expiration extension: using them for %ld s",
					    c->name, exp, ext);
				usable_until = refresh_at;
			}
		}
		if (usable_until <= now) {
			format_time(cr->expiration, exp, sizeof(exp));
			errorf(ret_error, 0, "the credentials from %s are already expired or about to (Expiration %s)",
			       cr->source, exp);
			return false;
		}
	}
	aws_credentials_unref(c->creds);
	c->creds = aws_credentials_ref(cr);
	c->usable_until = usable_until;
	c->refresh_at = refresh_at;
	c->revoked = false;
	c->consecutive_failures = 0;
	free(c->last_error);
	c->last_error = NULL;
	set_state(c, CREDS_CACHE_VALID);
	disarm_timer(c);
	{
		char suffix[5];

		key_suffix(cr, suffix);
		if (cr->expiration) {
			format_time(cr->expiration, exp, sizeof(exp));
			format_time(refresh_at, at, sizeof(at));
			log_info("credentials (%s): from %s, access key ...%s, expire %s, refresh at %s", c->name,
				 cr->source, suffix, exp, at);
			arm_timer(c, refresh_at, ms_until(c, refresh_at));
		} else {
			log_info("credentials (%s): from %s, access key ...%s, no expiry", c->name, cr->source, suffix);
		}
	}
	return true;
}

static void fetch_failed(struct creds_cache *c, const char *error, time_t now)
{
	char when[32];
	long delay;

	c->failures++;
	c->consecutive_failures++;
	free(c->last_error);
	c->last_error = strdup(error ? error : "unknown error");
	delay = backoff_ms(c->consecutive_failures);
	if (usable(c, now)) {
		format_time(c->usable_until, when, sizeof(when));
		log_warning("credentials (%s): refresh failed: %s; keeping the current ones (usable until %s), "
			    "retrying in %ld ms",
			    c->name, c->last_error, when, delay);
		set_state(c, CREDS_CACHE_STALE);
	} else if (c->creds && !c->revoked && c->creds->expiration &&
		   strcmp(c->creds->source, CREDS_SOURCE_IMDS) == 0) {
		long ext = CREDS_STATIC_STABILITY_MIN_SEC +
			   (long)random_below(CREDS_STATIC_STABILITY_MAX_SEC - CREDS_STATIC_STABILITY_MIN_SEC + 1);

		/* Static stability (AWS.md §7.8): an IMDS outage should not
		 * stop every call while AWS may still honour the set. */
		c->usable_until = now + ext;
		log_warning("credentials (%s): IMDS refresh failed: %s; attempting credential expiration extension: "
			    "using the expired set for %ld s more",
			    c->name, c->last_error, ext);
		set_state(c, CREDS_CACHE_STALE);
	} else {
		log_error("credentials (%s): %s; retrying in %ld ms", c->name, c->last_error, delay);
		set_state(c, CREDS_CACHE_FAILED);
	}
	disarm_timer(c);
	arm_timer(c, now + delay / 1000, delay);
}

static void fetch_complete(struct creds_cache *c, int r, struct aws_credentials *cr, const char *error)
{
	time_t now = now_wall(c);
	char *why = NULL, *msg = NULL;

	c->fetch = NULL;
	c->fetch_ini = aws_ini_free(c->fetch_ini);
	c->completing = true;
	if (r == 0 && install(c, cr, now, &why)) {
		serve_waiters(c, 0, NULL);
	} else {
		fetch_failed(c, r == 0 ? (why ? why : "out of memory") : error, now);
		if (usable(c, now)) {
			serve_waiters(c, 0, NULL);
		} else {
			msg = failure_message(c);
			serve_waiters(c, -EKEYEXPIRED, msg ? msg : "no AWS credentials");
		}
	}
	c->completing = false;
	aws_credentials_unref(cr);
	free(why);
	free(msg);
	/* A reload during the fetch, or a request queued by a waiter's own
	 * callback: one more fetch, still one at a time. */
	if (c->again || c->waiters) {
		c->again = false;
		fetch_start(c, "reload during a fetch");
	}
}

static void fetch_done(int r, struct aws_credentials *cr, const char *error, void *userdata)
{
	fetch_complete(userdata, r, cr, error);
}

/* Starts the one fetch, unless one runs.  A fetch that completes at once
 * (environment, files) is complete when this returns. */
static void fetch_start(struct creds_cache *c, const char *why)
{
	const struct aws_settings *s = c->o.settings;
	struct aws_credentials *cr = NULL;
	struct creds_fetch *fetch = NULL;
	char *error = NULL;
	int r;

	if (c->fetch || c->completing)
		return;
	log_debug("credentials (%s): fetching (%s)", c->name, why);
	disarm_timer(c);
	set_state(c, usable(c, now_wall(c)) ? CREDS_CACHE_REFRESHING : CREDS_CACHE_FETCHING);
	files_snapshot(c);
	c->last_attempt_ms = monotime_msec();
	c->fetches++;
	if (c->o.fetch) {
		r = c->o.fetch(c->o.fetch_userdata, fetch_done, c, &cr, &fetch, &error);
	} else {
		r = aws_settings_load_ini(s, &c->fetch_ini, &error);
		if (r >= 0) {
			struct creds_context ctx = {
			    .settings = s,
			    .getenv_fn = s->getenv_fn,
			    .now = now_wall(c),
			    .ini = c->fetch_ini,
			    .net = c->net,
			    .process_timeout_ms = c->o.process_timeout_ms,
			};

			r = creds_chain_start(&ctx, c->source, fetch_done, c, &cr, &fetch, &error);
		}
	}
	if (r == -EINPROGRESS && fetch) {
		c->fetch = fetch;
		free(error);
		return;
	}
	fetch_complete(c, r == -EINPROGRESS ? -EIO : r, cr, error ? error : strerror(r < 0 ? -r : ENOMEM));
	free(error);
}

/* --- public ------------------------------------------------------------------ */

static int options_copy(struct creds_cache *c, const struct creds_cache_options *o)
{
	char *name = strdup(o->name ? o->name : "default"), *source = o->source ? strdup(o->source) : NULL;

	if (!name || (o->source && !source)) {
		free(name);
		free(source);
		return -ENOMEM;
	}
	free(c->name);
	free(c->source);
	c->o = *o;
	c->name = name;
	c->o.name = name;
	c->source = source;
	c->o.source = source;
	return 0;
}

int creds_cache_new(const struct creds_cache_options *o, struct creds_cache **ret)
{
	struct creds_cache *c = calloc(1, sizeof(*c));
	int r;

	assert(o && ret);
	if (!c)
		return -ENOMEM;
	c->waiters_tail = &c->waiters;
	r = options_copy(c, o);
	if (r < 0)
		goto fail;
	r = creds_net_new(o->base, o->dns, o->settings, &c->net);
	if (r < 0)
		goto fail;
	c->timer = evtimer_new(o->base, on_timer, c);
	if (!c->timer) {
		r = -ENOMEM;
		goto fail;
	}
	fetch_start(c, "start");
	*ret = c;
	return 0;
fail:
	creds_cache_free(c);
	return r;
}

struct creds_cache *creds_cache_free(struct creds_cache *c)
{
	return creds_cache_close(c, "kmscanceld is shutting down");
}

struct creds_cache *creds_cache_close(struct creds_cache *c, const char *why)
{
	if (!c)
		return NULL;
	c->fetch = creds_fetch_cancel(c->fetch);
	c->completing = true; /* no new fetch from a waiter's callback */
	serve_waiters(c, -ECANCELED, why);
	if (c->timer)
		event_free(c->timer);
	aws_ini_free(c->fetch_ini);
	creds_net_free(c->net);
	aws_credentials_unref(c->creds);
	for (size_t i = 0; i < CACHE_MAX_FILES; i++)
		free(c->files[i].path);
	free(c->last_error);
	free(c->name);
	free(c->source);
	free(c);
	return NULL;
}

int creds_cache_get(struct creds_cache *c, creds_cache_done_fn done, void *userdata)
{
	const char *changed = files_changed(c);
	struct waiter *w;
	time_t now;
	long since;

	if (changed) {
		log_info("credentials (%s): %s changed; fetching again", c->name, changed);
		fetch_start(c, "file changed");
	}
	now = now_wall(c);
	if (usable(c, now)) {
		if (c->refresh_at && now >= c->refresh_at && !c->fetch && c->state == CREDS_CACHE_VALID)
			fetch_start(c, "refresh due"); /* a late timer; the set is still served */
		done(0, c->creds, NULL, userdata);
		return 0;
	}
	since = mono_ms_since(c->last_attempt_ms);
	if (!c->fetch && c->consecutive_failures > 0 && !c->revoked && since >= 0 && since < CREDS_ON_DEMAND_RETRY_MS) {
		/* Failing fast: the source just failed; the retry timer runs. */
		char *msg = failure_message(c);

		done(-EKEYEXPIRED, NULL, msg ? msg : "no AWS credentials", userdata);
		free(msg);
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->done = done;
	w->userdata = userdata;
	*c->waiters_tail = w;
	c->waiters_tail = &w->next;
	fetch_start(c, c->revoked ? "expired token" : "request");
	return 0;
}

void creds_cache_cancel(struct creds_cache *c, creds_cache_done_fn done, void *userdata)
{
	if (!c)
		return;
	for (struct waiter **p = &c->waiters; *p; p = &(*p)->next) {
		struct waiter *w = *p;

		if (w->done != done || w->userdata != userdata)
			continue;
		*p = w->next;
		if (c->waiters_tail == &w->next)
			c->waiters_tail = p;
		free(w);
		return;
	}
}

void creds_cache_expired(struct creds_cache *c, const struct aws_credentials *bad)
{
	char suffix[5];

	if (!bad || c->creds != bad || c->revoked)
		return;
	key_suffix(bad, suffix);
	log_warning("credentials (%s): AWS says the token of access key ...%s (from %s) has expired; fetching new ones",
		    c->name, suffix, bad->source);
	c->revoked = true;
	fetch_start(c, "expired token");
}

int creds_cache_reload(struct creds_cache *c, const struct creds_cache_options *o)
{
	int r;

	assert(c);
	if (o) {
		struct creds_net *net = NULL;

		/* The caller may free the old settings as soon as we return,
		 * even if we fail below: drop everything that points into them
		 * first, with steps that cannot fail. */
		c->fetch = creds_fetch_cancel(c->fetch);
		c->fetch_ini = aws_ini_free(c->fetch_ini);
		c->o.settings = o->settings;

		r = creds_net_new(o->base, o->dns, o->settings, &net);
		if (r < 0)
			return r;
		r = options_copy(c, o);
		if (r < 0) {
			creds_net_free(net);
			return r;
		}
		creds_net_free(c->net);
		c->net = net;
	}
	log_info("credentials (%s): reloading", c->name);
	c->consecutive_failures = 0;
	if (c->fetch)
		c->again = true;
	else
		fetch_start(c, "reload");
	return 0;
}

struct aws_credentials *creds_cache_peek(struct creds_cache *c)
{
	return usable(c, now_wall(c)) ? c->creds : NULL;
}

void creds_cache_get_status(struct creds_cache *c, struct creds_cache_status *ret)
{
	const char *changed = files_changed(c);

	if (changed) {
		log_info("credentials (%s): %s changed; fetching again", c->name, changed);
		fetch_start(c, "file changed");
	}
	*ret = (struct creds_cache_status){
	    .state = c->state,
	    .source = c->creds ? c->creds->source : NULL,
	    .expiration = c->creds ? c->creds->expiration : 0,
	    .next_refresh = c->timer_at,
	    .last_error = c->last_error,
	    .fetches = c->fetches,
	    .failures = c->failures,
	};
	key_suffix(c->creds, ret->key_id_suffix);
}
