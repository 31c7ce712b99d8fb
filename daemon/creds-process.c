/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "creds.h"

#include <errno.h>
#include <limits.h>
#include <event2/event.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "creds-net.h"
#include "errorf.h"
#include "log.h"
#include "monotime.h"
#include "wipe.h"
#include "secret-json.h"

/*
 * credential_process (AWS.md §7.4): the profile's command, split into words
 * as a POSIX shell would (quotes and backslashes) but run without a shell,
 * with stdin from /dev/null, an environment built for it (process_env()
 * below, documented in kmscanceld(8), CREDENTIALS), and no descriptor but
 * the three standard ones.  stdout must be JSON Version 1; stderr goes to
 * our log, line by line.
 *
 * It runs in a process group of its own.  The whole run is bounded by the
 * configured timeout, after which the group is killed (SIGKILL to -pgid:
 * whatever it started goes too, unless it left the group).  The answer is
 * taken once the child has exited and both pipes are closed; then what is
 * left of the group is killed too.  Never waits on the loop: the pipes are
 * libevent events, and so is the child's exit, through a pidfd (Linux 5.3;
 * polled for without one), reaped with waitpid(pid, WNOHANG) on our own pid
 * only, so no SIGCHLD handler and no waitpid(-1) that could take another
 * part of the daemon's children.  A child still running when its fetch ends
 * is killed and handed to a one-shot event that reaps it.
 */

#define PROCESS_MAX_STDOUT  (64 * 1024)
#define PROCESS_MAX_STDERR  4096 /* logged; the rest is dropped */
#define PROCESS_MAX_ARGS    256
#define PROCESS_MAX_CMDLINE 4096

struct process_fetch {
	struct creds_fetch base;
	pid_t pid;   /* also the process group; 0 once reaped */
	int pidfd;   /* readable once the child has exited */
	bool exited; /* then (still unreaped): */
	int exit_code, exit_signal;
	int out_fd, err_fd;
	struct event *out_ev, *err_ev, *exit_ev, *timer;
	char *out; /* stdout: secret until parsed, wiped */
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

/* Reaps the child if it has exited; true when it has.  Never blocks. */
static bool try_reap(pid_t pid, int *ret_status)
{
	pid_t p;

	do
		p = waitpid(pid, ret_status, WNOHANG);
	while (p < 0 && errno == EINTR);
	return p != 0; /* p < 0: not ours any more (ECHILD), nothing to wait for */
}

/* Without a pidfd (a kernel before 5.3, or valgrind, which does not know
 * the call), the exit is polled for with WNOHANG instead: every
 * PROCESS_POLL_MS while the fetch runs, and for a killed orphan up to
 * PROCESS_ORPHAN_POLLS times. */
#define PROCESS_POLL_MS      10
#define PROCESS_ORPHAN_POLLS 1000

/* A killed child whose fetch is gone, reaped from the loop once it is dead.
 * The pid and, when polling, the polls so far ride in the pointer (a pid
 * takes at most 22 bits, PID_MAX_LIMIT), so nothing is allocated that could
 * leak if the loop ends first (libevent frees pending one-shot events with
 * the base). */
#define ORPHAN_PID_BITS 22
static struct event_base *orphan_base; /* where orphans are polled for */

static void reap_orphan(evutil_socket_t fd, short what, void *userdata)
{
	uintptr_t arg = (uintptr_t)userdata;
	pid_t pid = (pid_t)(arg & ((1u << ORPHAN_PID_BITS) - 1));
	uintptr_t polls = arg >> ORPHAN_PID_BITS;
	struct timeval tv = timeval_from_msec(PROCESS_POLL_MS);
	int status;

	if (fd >= 0)
		close(fd); /* the pidfd: it fired, the child is dead */
	if (try_reap(pid, &status))
		return;
	if (fd >= 0 || polls >= PROCESS_ORPHAN_POLLS ||
	    event_base_once(orphan_base, -1, EV_TIMEOUT, reap_orphan, (void *)(arg + ((uintptr_t)1 << ORPHAN_PID_BITS)),
			    &tv) < 0)
		log_warning("credential_process (pid %d) survived SIGKILL; not waiting for it any more", (int)pid);
}

/* Ends the child and what is left of its process group, without waiting:
 * reaped now if it is already gone, else from the loop (its pidfd, or
 * polling).  The child is reaped only here, so until then its pid, which
 * names the group, cannot be reused: the group kill cannot hit anyone
 * else. */
static void kill_child(struct process_fetch *f, struct event_base *base)
{
	struct timeval tv = timeval_from_msec(PROCESS_POLL_MS);
	uintptr_t arg = (uintptr_t)f->pid;
	int status, r;

	if (f->pid <= 0)
		return;
	kill(-f->pid, SIGKILL);
	kill(f->pid, SIGKILL); /* in case setpgid did not happen yet */
	f->pid = 0;
	if (try_reap((pid_t)arg, &status))
		return;
	orphan_base = base;
	if (f->pidfd >= 0) {
		r = event_base_once(base, f->pidfd, EV_READ, reap_orphan, (void *)arg, NULL);
		if (r == 0)
			f->pidfd = -1; /* reap_orphan closes it */
	} else
		r = event_base_once(base, -1, EV_TIMEOUT, reap_orphan, (void *)arg, &tv);
	if (r < 0)
		log_warning("credential_process (pid %d): cannot wait for it", (int)arg);
}

static void process_free(struct process_fetch *f)
{
	if (!f)
		return;
	if (f->timer)
		kill_child(f, event_get_base(f->timer));
	free_event(&f->out_ev);
	free_event(&f->err_ev);
	free_event(&f->exit_ev);
	free_event(&f->timer);
	close_fd(&f->out_fd);
	close_fd(&f->err_fd);
	close_fd(&f->pidfd);
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
	struct json_object *o = NULL, *v;
	const char *error = NULL;
	int r;

	r = secret_json_parse(out, len, &o);
	if (r == -ENOMEM)
		return r;
	if (r < 0 || !json_object_is_type(o, json_type_object))
		error = "the output is not a JSON object";
	else if (!json_object_object_get_ex(o, "Version", &v) || !json_object_is_type(v, json_type_int) ||
		 json_object_get_int(v) != 1)
		error = "the output's Version is not 1";
	if (error) {
		secret_json_put(o);
		*ret_error = strdup(error);
		return -EINVAL;
	}
	r = creds_from_json(o, "SessionToken", "credential-process", ret, ret_error);
	secret_json_put(o);
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

/* The child has exited and both pipes are closed: judge the run. */
static void maybe_finish(struct process_fetch *f)
{
	if (!f->exited || f->out_fd >= 0 || f->err_fd >= 0)
		return;
	log_stderr(f, true);
	if (f->exit_signal)
		process_fail(f, -EIO, "killed by signal %d", f->exit_signal);
	else if (f->exit_code != 0)
		process_fail(f, -EIO, "exited with status %d (its stderr is in the log)", f->exit_code);
	else if (f->out_overflow)
		process_fail(f, -EFBIG, "wrote more than %d bytes", PROCESS_MAX_STDOUT);
	else
		parse_output(f);
}

/* The child exited: its status is read but it stays a zombie (reaped by
 * kill_child when the fetch ends), keeping its process group's id ours. */
static void on_exit_event(evutil_socket_t fd, short what, void *userdata)
{
	struct process_fetch *f = userdata;
	siginfo_t si = {0};

	if (waitid(P_PID, (id_t)f->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
		return; /* still running (polling), or a spurious wake-up */
	log_debug("credential_process: %s (pid %d) exited", f->argv0, (int)f->pid);
	f->exited = true;
	if (si.si_code == CLD_EXITED)
		f->exit_code = si.si_status;
	else
		f->exit_signal = si.si_status;
	free_event(&f->exit_ev);
	maybe_finish(f);
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
		maybe_finish(f);
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

/*
 * The environment the command gets, and nothing else of ours: the daemon's
 * own may hold AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
 * (the default credentials), CREDENTIALS_DIRECTORY (the systemd credential)
 * and the rest of the service's settings, none of which belong to the
 * account whose profile this is (an [Account N] Profile= must not reach
 * another account's keys).  Kept in step with kmscanceld(8), CREDENTIALS:
 *   PATH (default /usr/local/bin:/usr/bin:/bin), HOME, USER, LOGNAME, TZ,
 *   TMPDIR, LANG, LANGUAGE, LC_* (the categories below): as the daemon has them;
 *   HTTPS_PROXY, HTTP_PROXY, NO_PROXY (either case): as the daemon has them,
 *   so a helper can reach its service the way the host does;
 *   AWS_PROFILE, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_REGION,
 *   AWS_DEFAULT_REGION, AWS_CA_BUNDLE: the profile's own settings, as the
 *   daemon resolved them for this profile (unset when it has none).
 */
static const char *const process_env_passed[] = {
	"HOME", "USER", "LOGNAME", "TZ", "TMPDIR", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_COLLATE",
	"LC_MESSAGES", "LC_MONETARY", "LC_NUMERIC", "LC_TIME", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
	"http_proxy", "NO_PROXY", "no_proxy",
};
#define PROCESS_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define PROCESS_ENV_MAX      (sizeof(process_env_passed) / sizeof(process_env_passed[0]) + 8)

static char **env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		wipe_free_string(env[i]); /* a proxy URL may hold a password */
	free(env);
	return NULL;
}

static int env_add(char **env, size_t *n, const char *name, const char *value)
{
	if (!value || !*value)
		return 0;
	/* Not asprintf(3): a proxy URL may hold a password (wipe.h). */
	if (wipe_asprintf(&env[*n], "%s=%s", name, value) < 0)
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* The child's environment (see above): NULL-terminated, free with
 * env_free().  -ENOMEM. */
static int process_env(const struct creds_context *ctx, char ***ret)
{
	const struct aws_settings *s = ctx->settings;
	const char *path = aws_getenv(ctx->getenv_fn, "PATH");
	char **env = calloc(PROCESS_ENV_MAX + 1, sizeof(char *));
	size_t n = 0;
	int r = 0;

	if (!env)
		return -ENOMEM;
	const struct {
		const char *name, *value;
	} own[] = {
	    {"PATH", path ? path : PROCESS_DEFAULT_PATH},
	    {"AWS_PROFILE", s->profile},
	    {"AWS_CONFIG_FILE", s->config_file},
	    {"AWS_SHARED_CREDENTIALS_FILE", s->credentials_file},
	    {"AWS_REGION", s->region},
	    {"AWS_DEFAULT_REGION", s->region},
	    {"AWS_CA_BUNDLE", s->ca_bundle},
	};
	for (size_t i = 0; r == 0 && i < sizeof(own) / sizeof(own[0]); i++)
		r = env_add(env, &n, own[i].name, own[i].value);
	for (size_t i = 0; r == 0 && i < sizeof(process_env_passed) / sizeof(process_env_passed[0]); i++)
		r = env_add(env, &n, process_env_passed[i], aws_getenv(ctx->getenv_fn, process_env_passed[i]));
	if (r < 0) {
		env_free(env);
		return r;
	}
	*ret = env;
	return 0;
}

/* The daemon raised its soft RLIMIT_NOFILE to the hard limit (fd-budget.h);
 * a program it starts gets the conventional soft limit back, as systemd
 * gives its services' children: select(2) cannot take descriptors past
 * FD_SETSIZE.  The hard limit stays.  Async-signal-safe. */
static void lower_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > FD_SETSIZE) {
		rl.rlim_cur = FD_SETSIZE;
		(void)setrlimit(RLIMIT_NOFILE, &rl); /* refused by a seccomp filter: no harm */
	}
}

/* In the child: a process group of its own, default signal mask, the pipes
 * wired, everything else closed, exec.  Only async-signal-safe calls here
 * (the environment was built before the fork). */
static void __attribute__((noreturn)) child(char **argv, char **envp, int out_w, int err_w)
{
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	sigset_t none;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
		_exit(127);
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
#endif
		for (int fd = 3; fd < 65536; fd++)
			if (fcntl(fd, F_GETFD) >= 0)
				close(fd);
	signal(SIGPIPE, SIG_DFL);
	lower_fd_limit();
	/* PATH is searched as the daemon's, which the child's copies. */
	execvpe(argv[0], argv, envp);
	_exit(127);
}

static int spawn(struct process_fetch *f, char **argv, char **envp, char **ret_error)
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
		child(argv, envp, out[1], err[1]);
	}
	/* Both sides set the group, so it exists whichever runs first. */
	setpgid(pid, pid);
	f->pid = pid;
	close(out[1]);
	close(err[1]);
	f->out_fd = out[0];
	f->err_fd = err[0];
	/* Not reaped yet, so the pid cannot have been reused.  -1: polled
	 * for instead (see PROCESS_POLL_MS). */
	f->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return 0;
fail:
	errorf(ret_error, -EIO, "cannot start %s: %s", argv[0], strerror(errno));
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
	struct timeval tv, poll = timeval_from_msec(PROCESS_POLL_MS);
	struct process_fetch *f = NULL;
	struct event_base *base;
	char **argv = NULL, **envp = NULL;
	int r;

	if (!cmd)
		return errorf(ret_error, -ENOENT, "profile '%s' has no credential_process", ctx->settings->profile);
	r = creds_process_split(cmd, &argv);
	if (r < 0) {
		if (r == -EINVAL)
			errorf(
			    ret_error, r,
			    "profile '%s': credential_process is not a command line (unbalanced quotes, or empty, or "
			    "too long)",
			    ctx->settings->profile);
		return r;
	}
	if (!ctx->net) {
		r = errorf(ret_error, -EINPROGRESS, "would run %s", argv[0]);
		goto out;
	}
	base = creds_net_base(ctx->net);
	f = calloc(1, sizeof(*f));
	if (!f || !(f->out = malloc(PROCESS_MAX_STDOUT)) || !(f->argv0 = strdup(argv[0]))) {
		r = -ENOMEM;
		goto out;
	}
	f->base.cancel = process_cancel;
	f->out_fd = f->err_fd = f->pidfd = -1;
	f->done = done;
	f->userdata = userdata;
	f->timeout_ms = ctx->process_timeout_ms ? ctx->process_timeout_ms : CREDS_PROCESS_DEFAULT_TIMEOUT_MS;
	f->timer = evtimer_new(base, on_timeout, f);
	if (!f->timer || process_env(ctx, &envp) < 0) {
		r = -ENOMEM;
		goto out;
	}
	r = spawn(f, argv, envp, ret_error);
	if (r < 0)
		goto out;
	f->out_ev = event_new(base, f->out_fd, EV_READ | EV_PERSIST, on_output, f);
	f->err_ev = event_new(base, f->err_fd, EV_READ | EV_PERSIST, on_output, f);
	f->exit_ev = event_new(base, f->pidfd, (f->pidfd >= 0 ? EV_READ : 0) | EV_PERSIST, on_exit_event, f);
	tv = timeval_from_msec(f->timeout_ms);
	if (!f->out_ev || !f->err_ev || !f->exit_ev || event_add(f->out_ev, NULL) < 0 ||
	    event_add(f->err_ev, NULL) < 0 || event_add(f->exit_ev, f->pidfd >= 0 ? NULL : &poll) < 0 ||
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
	env_free(envp);
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
