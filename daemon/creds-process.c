/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds.h"

#include <errno.h>
#include <limits.h>
#include <event2/event.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "creds-net.h"
#include "log.h"

/*
 * credential_process (AWS.md §7.4): the profile's command, split into words
 * as a POSIX shell would (quotes and backslashes) but run without a shell,
 * with stdin from /dev/null, our environment, and no other descriptor.
 * stdout must be JSON Version 1; stderr goes to our log, line by line.  The
 * whole run is bounded by the configured timeout, after which the process
 * is killed.  Never waits on the loop: the pipes are libevent events and
 * the exit status is collected by polling waitpid(WNOHANG) after both pipes
 * close (a SIGCHLD handler would belong to the whole daemon).
 */

#define PROCESS_MAX_STDOUT   (64 * 1024)
#define PROCESS_MAX_STDERR   4096 /* logged; the rest is dropped */
#define PROCESS_MAX_ARGS     256
#define PROCESS_MAX_CMDLINE  4096
#define PROCESS_REAP_POLL_MS 10

struct process_fetch {
	struct creds_fetch base;
	pid_t pid;
	int out_fd, err_fd;
	struct event *out_ev, *err_ev, *timer;
	bool reaping;
	unsigned reap_polls; /* bounded by the timeout too */
	char *out;           /* stdout: secret until parsed, wiped */
	size_t out_len;
	bool out_overflow;
	char err[PROCESS_MAX_STDERR + 1];
	size_t err_len;
	char *argv0;
	unsigned timeout_ms;
	creds_fetch_done_fn done;
	void *userdata;
};

/*
 * Splits cmd into words like a POSIX shell: blanks separate; '…' is
 * literal; "…" keeps spaces and honours \" \\ \$ \`; a backslash outside
 * quotes escapes the next character.  No expansion of any kind.  *ret is a
 * NULL-terminated vector sharing one allocation (free(*ret)).  -EINVAL for
 * an unterminated quote, no words or too many.
 */
int creds_process_split(const char *cmd, char ***ret);
int creds_process_split(const char *cmd, char ***ret)
{
	size_t len = strlen(cmd), n = 0;
	char **argv, *buf, *w = NULL;
	char quote = 0;

	if (len > PROCESS_MAX_CMDLINE)
		return -EINVAL;
	argv = malloc(sizeof(char *) * (PROCESS_MAX_ARGS + 1) + len + PROCESS_MAX_ARGS + 1);
	if (!argv)
		return -ENOMEM;
	buf = (char *)(argv + PROCESS_MAX_ARGS + 1);
	for (const char *p = cmd;; p++) {
		char c = *p;

		if (!quote && (c == '\0' || c == ' ' || c == '\t' || c == '\n')) {
			if (w) {
				*buf++ = '\0';
				w = NULL;
			}
			if (c == '\0')
				break;
			continue;
		}
		if (c == '\0')
			goto bad; /* unterminated quote */
		if (!w) {
			if (n == PROCESS_MAX_ARGS)
				goto bad;
			w = argv[n++] = buf;
		}
		if (quote == '\'') {
			if (c == '\'')
				quote = 0;
			else
				*buf++ = c;
		} else if (quote == '"') {
			if (c == '"')
				quote = 0;
			else if (c == '\\' && p[1] && strchr("\"\\$`", p[1]))
				*buf++ = *++p;
			else
				*buf++ = c;
		} else if (c == '\'' || c == '"') {
			quote = c;
		} else if (c == '\\' && p[1]) {
			*buf++ = *++p;
		} else {
			*buf++ = c;
		}
	}
	if (n == 0)
		goto bad;
	argv[n] = NULL;
	*ret = argv;
	return 0;
bad:
	free(argv);
	return -EINVAL;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void free_event(struct event **ev)
{
	if (*ev)
		event_free(*ev);
	*ev = NULL;
}

/* Ends the child (if still there) without blocking the loop for long: it
 * was sent SIGKILL, so the wait is a formality. */
static void kill_child(struct process_fetch *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		while (waitpid(f->pid, NULL, 0) < 0 && errno == EINTR)
			;
		f->pid = 0;
	}
}

static void process_free(struct process_fetch *f)
{
	if (!f)
		return;
	kill_child(f);
	free_event(&f->out_ev);
	free_event(&f->err_ev);
	free_event(&f->timer);
	close_fd(&f->out_fd);
	close_fd(&f->err_fd);
	if (f->out) {
		explicit_bzero(f->out, f->out_len);
		free(f->out);
	}
	free(f->argv0);
	free(f);
}

static void process_cancel(struct creds_fetch *base)
{
	process_free((struct process_fetch *)base);
}

static void process_finish(struct process_fetch *f, int r, struct aws_credentials *c, const char *error)
{
	creds_fetch_done_fn done = f->done;
	void *ud = f->userdata;

	process_free(f);
	done(r, c, error, ud);
}

static void process_fail(struct process_fetch *f, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void process_fail(struct process_fetch *f, int r, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "%s: ", f->argv0);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	process_finish(f, r, NULL, msg);
}

/* Logs complete stderr lines (and, at the end, the rest). */
static void log_stderr(struct process_fetch *f, bool flush)
{
	char *start = f->err, *nl;

	while ((nl = memchr(start, '\n', f->err_len - (size_t)(start - f->err)))) {
		*nl = '\0';
		log_warning("credential_process %s: %s", f->argv0, start);
		start = nl + 1;
	}
	f->err_len -= (size_t)(start - f->err);
	memmove(f->err, start, f->err_len);
	if (flush && f->err_len > 0) {
		f->err[f->err_len] = '\0';
		log_warning("credential_process %s: %s", f->argv0, f->err);
		f->err_len = 0;
	}
}

int creds_process_parse(const char *out, size_t len, struct aws_credentials **ret, char **ret_error)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL, *v;
	const char *error = NULL;
	int r;

	if (tok && len > 0 && len <= INT_MAX)
		o = json_tokener_parse_ex(tok, out, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(o, json_type_object))
		error = "the output is not a JSON object";
	else if (!json_object_object_get_ex(o, "Version", &v) || !json_object_is_type(v, json_type_int) ||
		 json_object_get_int(v) != 1)
		error = "the output's Version is not 1";
	json_tokener_free(tok);
	if (error) {
		json_object_put(o);
		*ret_error = strdup(error);
		return -EINVAL;
	}
	r = creds_from_json(o, "SessionToken", "credential-process", ret, ret_error);
	json_object_put(o);
	return r;
}

static void parse_output(struct process_fetch *f)
{
	struct aws_credentials *c = NULL;
	char *error = NULL;
	int r = creds_process_parse(f->out, f->out_len, &c, &error);

	if (r < 0) {
		process_fail(f, r, "%s", error ? error : strerror(-r));
		free(error);
		return;
	}
	process_finish(f, 0, c, NULL);
}

static void reap(evutil_socket_t fd, short what, void *userdata)
{
	struct process_fetch *f = userdata;
	struct timeval poll = {0, PROCESS_REAP_POLL_MS * 1000};
	int status;
	pid_t p;

	do
		p = waitpid(f->pid, &status, WNOHANG);
	while (p < 0 && errno == EINTR);
	if (p == 0) {
		if (++f->reap_polls > f->timeout_ms / PROCESS_REAP_POLL_MS) {
			process_fail(f, -ETIMEDOUT, "closed its output but did not exit within %u ms; killed",
				     f->timeout_ms);
			return;
		}
		evtimer_add(f->timer, &poll);
		return;
	}
	f->pid = 0;
	log_stderr(f, true);
	if (p < 0)
		process_fail(f, -ECHILD, "lost track of the process");
	else if (WIFSIGNALED(status))
		process_fail(f, -EIO, "killed by signal %d", WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		process_fail(f, -EIO, "exited with status %d (its stderr is in the log)", WEXITSTATUS(status));
	else if (f->out_overflow)
		process_fail(f, -EFBIG, "wrote more than %d bytes", PROCESS_MAX_STDOUT);
	else
		parse_output(f);
}

/* Both pipes are closed: switch the timer from the deadline to reaping,
 * keeping the deadline as an upper bound on the wait. */
static void maybe_reap(struct process_fetch *f)
{
	if (f->out_fd >= 0 || f->err_fd >= 0 || f->reaping)
		return;
	f->reaping = true;
	event_del(f->timer);
	event_assign(f->timer, event_get_base(f->timer), -1, 0, reap, f);
	reap(-1, 0, f);
}

static void on_output(evutil_socket_t fd, short what, void *userdata)
{
	struct process_fetch *f = userdata;
	bool is_out = fd == f->out_fd;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (is_out) {
			free_event(&f->out_ev);
			close_fd(&f->out_fd);
		} else {
			free_event(&f->err_ev);
			close_fd(&f->err_fd);
		}
		maybe_reap(f);
		return;
	}
	if (is_out) {
		if (f->out_len + (size_t)n > PROCESS_MAX_STDOUT) {
			f->out_overflow = true;
		} else {
			memcpy(f->out + f->out_len, buf, (size_t)n);
			f->out_len += (size_t)n;
		}
	} else {
		size_t room = PROCESS_MAX_STDERR - f->err_len, take = (size_t)n < room ? (size_t)n : room;

		memcpy(f->err + f->err_len, buf, take);
		f->err_len += take;
		log_stderr(f, f->err_len == PROCESS_MAX_STDERR);
	}
	explicit_bzero(buf, sizeof(buf));
}

static void on_timeout(evutil_socket_t fd, short what, void *userdata)
{
	struct process_fetch *f = userdata;

	log_stderr(f, true);
	process_fail(f, -ETIMEDOUT, "no answer within %u ms; killed", f->timeout_ms);
}

/* In the child: wire the pipes, close everything else, exec.  Only
 * async-signal-safe calls here. */
static void __attribute__((noreturn)) child(char **argv, int out_w, int err_w)
{
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
		_exit(127);
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
#endif
		for (int fd = 3; fd < 65536; fd++)
			if (fcntl(fd, F_GETFD) >= 0)
				close(fd);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], argv);
	_exit(127);
}

static int spawn(struct process_fetch *f, char **argv, char **ret_error)
{
	int out[2] = {-1, -1}, err[2] = {-1, -1};
	pid_t pid;

	if (pipe2(out, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(err, O_CLOEXEC | O_NONBLOCK) < 0)
		goto fail;
	pid = fork();
	if (pid < 0)
		goto fail;
	if (pid == 0) {
		/* The child's ends must block, as a program expects. */
		fcntl(out[1], F_SETFL, 0);
		fcntl(err[1], F_SETFL, 0);
		child(argv, out[1], err[1]);
	}
	close(out[1]);
	close(err[1]);
	f->pid = pid;
	f->out_fd = out[0];
	f->err_fd = err[0];
	return 0;
fail:
	if (asprintf(ret_error, "cannot start %s: %s", argv[0], strerror(errno)) < 0)
		*ret_error = NULL;
	for (int i = 0; i < 2; i++) {
		close_fd(&out[i]);
		close_fd(&err[i]);
	}
	return -EIO;
}

static int process_start(const struct creds_context *ctx, creds_fetch_done_fn done, void *userdata,
			 struct creds_fetch **ret_fetch, char **ret_error)
{
	const char *cmd = creds_context_setting(ctx, NULL, "credential_process");
	struct timeval tv;
	struct process_fetch *f = NULL;
	struct event_base *base;
	char **argv = NULL;
	int r;

	if (!cmd) {
		if (asprintf(ret_error, "profile '%s' has no credential_process", ctx->settings->profile) < 0)
			*ret_error = NULL;
		return -ENOENT;
	}
	r = creds_process_split(cmd, &argv);
	if (r < 0) {
		if (r == -EINVAL && asprintf(ret_error,
					     "profile '%s': credential_process is not a command line "
					     "(unbalanced quotes, or empty, or too long)",
					     ctx->settings->profile) < 0)
			*ret_error = NULL;
		return r;
	}
	if (!ctx->net) {
		r = -EINPROGRESS;
		if (asprintf(ret_error, "would run %s", argv[0]) < 0)
			*ret_error = NULL;
		goto out;
	}
	base = creds_net_base(ctx->net);
	f = calloc(1, sizeof(*f));
	if (!f || !(f->out = malloc(PROCESS_MAX_STDOUT)) || !(f->argv0 = strdup(argv[0]))) {
		r = -ENOMEM;
		goto out;
	}
	f->base.cancel = process_cancel;
	f->out_fd = f->err_fd = -1;
	f->done = done;
	f->userdata = userdata;
	f->timeout_ms = ctx->process_timeout_ms ? ctx->process_timeout_ms : CREDS_PROCESS_DEFAULT_TIMEOUT_MS;
	f->timer = evtimer_new(base, on_timeout, f);
	if (!f->timer) {
		r = -ENOMEM;
		goto out;
	}
	r = spawn(f, argv, ret_error);
	if (r < 0)
		goto out;
	f->out_ev = event_new(base, f->out_fd, EV_READ | EV_PERSIST, on_output, f);
	f->err_ev = event_new(base, f->err_fd, EV_READ | EV_PERSIST, on_output, f);
	tv = (struct timeval){f->timeout_ms / 1000, (f->timeout_ms % 1000) * 1000};
	if (!f->out_ev || !f->err_ev || event_add(f->out_ev, NULL) < 0 || event_add(f->err_ev, NULL) < 0 ||
	    evtimer_add(f->timer, &tv) < 0) {
		r = -ENOMEM;
		goto out;
	}
	log_debug("credential_process: started %s (pid %d)", f->argv0, (int)f->pid);
	*ret_fetch = &f->base;
	f = NULL;
	r = 0;
out:
	process_free(f);
	if (argv) {
		/* The command line may carry secrets of its own (a vault token). */
		explicit_bzero(argv, sizeof(char *) * (PROCESS_MAX_ARGS + 1) + strlen(cmd) + PROCESS_MAX_ARGS + 1);
		free(argv);
	}
	return r;
}

const struct creds_provider creds_provider_process = {
    .name = "process",
    .description = "credential_process",
    .start = process_start,
};
