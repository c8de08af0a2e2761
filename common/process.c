/* process.c - the one way regvault runs another program. Everything the child needs
 * (the program's path, argv, its environment, the descriptors it keeps) is made in
 * the parent; between fork and exec the child makes only async-signal-safe calls,
 * because a process with gRPC's threads may have forked while another thread held a
 * lock (malloc's, stdio's). A close-on-exec pipe brings the exec's errno back. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"

extern char **environ;

#define DEFAULT_TIMEOUT_MS 60000
#define DEFAULT_GRACE_MS 1000
#define POLL_MAX_MS 50
#define FAIL_TAIL_BYTES 1200

struct rv_proc {
	pid_t pid;
	bool detached, kept, reaped, termed, killed;
	int status;
	int out_fd; /* read end of the capture pipe, or -1 */
	int log_fd; /* our copy of the caller's log, or -1 */
	int grace_ms;
	double kill_at;
	struct rv_buf out;
	char what[256];
};

/* What the child uses, all made before the fork. */
struct child_plan {
	const char *path;
	char *const *argv;
	char **envp;
	const char *cwd;
	int in_fd, out_fd, err_w, go_r;
	int *keep;      /* sorted: descriptors left open past stdio */
	size_t n_keep;
	const int *inherit; /* the caller's, made inheritable */
	size_t n_inherit;
	long max_fd;
	pid_t parent;
	bool die_with_parent, own_session;
};

int rv_proc_find_program(const char *name, char *out, size_t len)
{
	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return access(out, X_OK) == 0 ? 0 : -errno;
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	int err = -ENOENT;
	for (const char *p = path; *p;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		snprintf(out, len, "%.*s/%s", (int)n, n ? p : ".", name);
		if (access(out, X_OK) == 0)
			return 0;
		if (errno != ENOENT && errno != ENOTDIR)
			err = -errno;
		p += n;
		if (*p == ':')
			p++;
	}
	return err;
}

/* ---- the environment ---- */

static bool env_names(const char *entry, const char *name)
{
	size_t n = strlen(name);
	return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

static bool env_dropped(const char *entry, const struct rv_proc_opts *o)
{
	for (size_t i = 0; o->env_remove && o->env_remove[i]; i++)
		if (env_names(entry, o->env_remove[i]))
			return true;
	for (size_t i = 0; o->env_add && o->env_add[i]; i++) {
		const char *eq = strchr(o->env_add[i], '=');
		size_t n = eq ? (size_t)(eq - o->env_add[i]) : strlen(o->env_add[i]);
		if (strncmp(entry, o->env_add[i], n) == 0 && entry[n] == '=')
			return true;
	}
	return false;
}

/* A copy of environ without what is removed or replaced, plus what is added. The
 * strings are environ's own (not copied): nothing in regvault changes environ. */
static char **build_env(const struct rv_proc_opts *o)
{
	size_t n = 0, k = 0;
	while (environ && environ[n])
		n++;
	for (size_t i = 0; o->env_add && o->env_add[i]; i++)
		n++;
	char **envp = rv_xcalloc(n + 1, sizeof *envp);
	for (size_t i = 0; environ && environ[i]; i++)
		if (!env_dropped(environ[i], o))
			envp[k++] = environ[i];
	for (size_t i = 0; o->env_add && o->env_add[i]; i++)
		envp[k++] = (char *)o->env_add[i];
	envp[k] = NULL;
	return envp;
}

/* ---- the child ---- */

/* dup2 that also clears close-on-exec when fd is already target. */
static void move_fd(int fd, int target)
{
	if (fd == target)
		fcntl(target, F_SETFD, 0);
	else
		dup2(fd, target);
}

static void close_gap(unsigned lo, unsigned hi, long max_fd)
{
	if (lo > hi)
		return;
	if (close_range(lo, hi, 0) == 0)
		return;
	for (long fd = lo; fd <= (long)hi && fd < max_fd; fd++)
		close((int)fd);
}

static void child_exec(const struct child_plan *cp) __attribute__((noreturn));
static void child_exec(const struct child_plan *cp)
{
	struct sigaction dfl;
	sigset_t none;
	int e;

	/* Signals are all blocked here (the parent blocked them around the fork), so
	 * no handler of ours runs in the child while the dispositions are reset. */
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < _NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL); /* glibc's own signals say EINVAL: fine */
	if (cp->own_session)
		setsid();
	if (cp->die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != cp->parent))
		_exit(127); /* the parent is gone already */
	move_fd(cp->in_fd, 0);
	move_fd(cp->out_fd, 1);
	move_fd(cp->out_fd, 2);
	/* Nothing else of ours leaks into the program (sockets, locks, gRPC's fds). */
	unsigned lo = 3;
	for (size_t i = 0; i < cp->n_keep; i++) {
		unsigned fd = (unsigned)cp->keep[i];
		if (fd < lo)
			continue;
		close_gap(lo, fd - 1, cp->max_fd);
		lo = fd + 1;
	}
	close_gap(lo, ~0U, cp->max_fd);
	for (size_t i = 0; i < cp->n_inherit; i++)
		fcntl(cp->inherit[i], F_SETFD, 0);
	if (cp->go_r >= 0) {
		char go = 0;
		ssize_t n;
		while ((n = read(cp->go_r, &go, 1)) < 0 && errno == EINTR)
			;
		if (n != 1)
			_exit(1); /* the parent is gone, or could not record us */
	}
	if (cp->cwd && chdir(cp->cwd) < 0) {
		/* best effort: callers hand over absolute paths */
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(cp->path, cp->argv, cp->envp);
	e = errno;
	if (write(cp->err_w, &e, sizeof e) < 0) {
		/* nothing left to tell */
	}
	_exit(127);
}

/* ---- spawn ---- */

/* Our descriptors above stdio: a parent started with 0-2 closed gets its pipes
 * there, and the child's dup2 onto 0-2 would then overwrite them. */
static int above_stdio(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return hi;
}

static int pipe_above(int fds[2], int flags)
{
	if (pipe2(fds, O_CLOEXEC | flags) < 0)
		return -errno;
	fds[0] = above_stdio(fds[0]);
	fds[1] = above_stdio(fds[1]);
	if (fds[0] < 0 || fds[1] < 0) {
		int e = -errno;
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		return e;
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

struct spawn_fds {
	int in, out, cap_r, err[2], go[2], pid[2];
};

static void close_spawn_fds(struct spawn_fds *f)
{
	close_fd(&f->in);
	close_fd(&f->out);
	close_fd(&f->cap_r);
	for (int i = 0; i < 2; i++) {
		close_fd(&f->err[i]);
		close_fd(&f->go[i]);
		close_fd(&f->pid[i]);
	}
}

static int open_spawn_fds(const struct rv_proc_opts *o, struct spawn_fds *f)
{
	int cap[2], r;
	f->in = above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
	if (f->in < 0)
		return -errno;
	if (o->capture) {
		if ((r = pipe_above(cap, 0)) < 0)
			return r;
		f->cap_r = cap[0];
		f->out = cap[1];
		if (fcntl(f->cap_r, F_SETFL, O_NONBLOCK) < 0)
			return -errno;
	} else if (o->log_fd > 0) {
		f->out = fcntl(o->log_fd, F_DUPFD_CLOEXEC, 3);
	} else {
		f->out = above_stdio(open("/dev/null", O_WRONLY | O_CLOEXEC));
	}
	if (f->out < 0)
		return -errno;
	if ((r = pipe_above(f->err, 0)) < 0)
		return r;
	if (o->before_exec && (r = pipe_above(f->go, 0)) < 0)
		return r;
	if (o->detached && (r = pipe_above(f->pid, 0)) < 0)
		return r;
	return 0;
}

/* Fork (twice when detached) and run the plan in the child; returns its pid. */
static pid_t fork_child(const struct child_plan *cp, bool detached, struct spawn_fds *f, int *err)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t child = fork();
	if (child == 0) {
		if (!detached)
			child_exec(cp);
		setsid();
		pid_t gc = _Fork(); /* async-signal-safe, unlike fork() */
		if (gc == 0)
			child_exec(cp);
		if (write(f->pid[1], &gc, sizeof gc) < 0)
			_exit(1);
		_exit(gc > 0 ? 0 : 1);
	}
	*err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (child < 0 || !detached)
		return child;
	/* The middle child tells the grandchild's pid and exits at once. */
	pid_t gc = -1;
	size_t got = 0;
	close_fd(&f->pid[1]);
	rv_read_full(f->pid[0], &gc, sizeof gc, &got);
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	*err = ECHILD;
	return got == sizeof gc && gc > 0 ? gc : -1;
}

static void reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

int rv_proc_spawn(const struct rv_proc_opts *o, struct rv_proc **out)
{
	struct spawn_fds f = {-1, -1, -1, {-1, -1}, {-1, -1}, {-1, -1}};
	struct child_plan cp = {0};
	char path[PATH_MAX];
	const char *name = o->argv && o->argv[0] ? o->argv[0] : "";
	const char *what = o->what ? o->what : name;
	int r, fork_errno = 0;

	*out = NULL;
	if (o->detached && o->capture)
		return rv_fail(-EINVAL, "cannot run %s: a detached program's output cannot be captured", what);
	r = rv_proc_find_program(name, path, sizeof path);
	if (r < 0)
		return rv_fail(r, "cannot run %s: %s %s", what, name,
			       r == -ENOENT ? "is not found on PATH" : strerror(-r));
	r = open_spawn_fds(o, &f);
	if (r < 0) {
		close_spawn_fds(&f);
		return rv_fail(r, "cannot run %s: %s", what, strerror(-r));
	}
	cp.path = path;
	cp.argv = o->argv;
	cp.envp = build_env(o);
	cp.cwd = o->cwd;
	cp.in_fd = f.in;
	cp.out_fd = f.out;
	cp.err_w = f.err[1];
	cp.go_r = f.go[0];
	cp.keep = rv_xcalloc(o->n_keep_fds + 2, sizeof *cp.keep);
	for (size_t i = 0; i < o->n_keep_fds; i++)
		cp.keep[cp.n_keep++] = o->keep_fds[i];
	cp.keep[cp.n_keep++] = f.err[1];
	if (f.go[0] >= 0)
		cp.keep[cp.n_keep++] = f.go[0];
	qsort(cp.keep, cp.n_keep, sizeof *cp.keep, cmp_int);
	cp.inherit = o->keep_fds;
	cp.n_inherit = o->n_keep_fds;
	cp.max_fd = sysconf(_SC_OPEN_MAX) > 0 ? sysconf(_SC_OPEN_MAX) : 1024;
	cp.parent = getpid();
	cp.die_with_parent = o->die_with_parent;
	cp.own_session = o->own_session && o->die_with_parent && !o->detached;

	pid_t pid = fork_child(&cp, o->detached, &f, &fork_errno);
	free(cp.envp);
	free(cp.keep);
	close_fd(&f.in);
	close_fd(&f.out);
	close_fd(&f.err[1]);
	if (pid < 0) {
		close_spawn_fds(&f);
		return rv_fail(-fork_errno, "cannot run %s: fork failed: %s", what, strerror(fork_errno));
	}
	if (o->before_exec) {
		r = o->before_exec(pid, o->before_exec_ud);
		/* Our read end is still open, so a child gone already cannot make this
		 * write raise SIGPIPE; without "g" the child sees EOF and exits. */
		if (r == 0 && write(f.go[1], "g", 1) != 1)
			r = rv_fail(-errno, "cannot run %s: cannot signal its process: %s", what, strerror(errno));
		close_fd(&f.go[1]);
		close_fd(&f.go[0]);
		if (r < 0) {
			if (!o->detached)
				reap(pid, NULL);
			close_spawn_fds(&f);
			return r;
		}
	}
	int e = 0;
	size_t got = 0;
	rv_read_full(f.err[0], &e, sizeof e, &got); /* EOF: execve succeeded */
	close_fd(&f.err[0]);
	if (got == sizeof e) {
		if (!o->detached)
			reap(pid, NULL);
		close_spawn_fds(&f);
		return rv_fail(-e, "cannot run %s: cannot execute %s: %s", what, path, strerror(e));
	}

	struct rv_proc *p = rv_xcalloc(1, sizeof *p);
	p->pid = pid;
	p->detached = o->detached;
	p->kept = cp.own_session;
	p->status = -1;
	p->out_fd = f.cap_r;
	f.cap_r = -1;
	p->log_fd = o->capture && o->log_fd > 0 ? fcntl(o->log_fd, F_DUPFD_CLOEXEC, 3) : -1;
	p->grace_ms = o->grace_ms > 0 ? o->grace_ms : DEFAULT_GRACE_MS;
	snprintf(p->what, sizeof p->what, "%s", what);
	close_spawn_fds(&f);
	*out = p;
	return 0;
}

pid_t rv_proc_pid(const struct rv_proc *p)
{
	return p ? p->pid : 0;
}

int rv_proc_status(const struct rv_proc *p)
{
	return p && p->reaped ? p->status : -1;
}

/* ---- wait ---- */

/* Read what is there without blocking; keep the last RV_PROC_OUTPUT_MAX bytes. */
static void drain(struct rv_proc *p)
{
	char chunk[4096];
	while (p->out_fd >= 0) {
		ssize_t n = read(p->out_fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close_fd(&p->out_fd);
			return;
		}
		if (p->log_fd >= 0)
			rv_write_all(p->log_fd, chunk, (size_t)n);
		rv_buf_append(&p->out, chunk, (size_t)n);
		if (p->out.len > 2 * RV_PROC_OUTPUT_MAX) {
			memmove(p->out.data, p->out.data + p->out.len - RV_PROC_OUTPUT_MAX, RV_PROC_OUTPUT_MAX + 1);
			p->out.len = RV_PROC_OUTPUT_MAX;
		}
	}
}

static void try_reap(struct rv_proc *p)
{
	int st;
	pid_t w = waitpid(p->pid, &st, WNOHANG);
	if (w == p->pid) {
		p->reaped = true;
		p->status = st;
	} else if (w < 0 && errno == ECHILD) {
		p->reaped = true; /* not ours to wait for any more */
	}
	if (p->reaped)
		drain(p);
}

static void stop_gently(struct rv_proc *p)
{
	if (p->reaped || p->termed)
		return;
	kill(p->pid, SIGTERM);
	p->termed = true;
	p->kill_at = rv_now_mono() + p->grace_ms / 1000.0;
}

/* The sentence for a wait that gave up: what happened to the first one stopped. */
static int fail_stopped(struct rv_proc *const *procs, size_t n, int code, int timeout_ms)
{
	const struct rv_proc *p = NULL;
	size_t stopped = 0;
	char t[16], g[16];
	for (size_t i = 0; i < n; i++)
		if (procs[i]->termed) {
			if (!p || (procs[i]->killed && !p->killed))
				p = procs[i];
			stopped++;
		}
	if (!p)
		return code;
	rv_fmt_duration(timeout_ms / 1000.0, t, sizeof t);
	rv_fmt_duration(p->grace_ms / 1000.0, g, sizeof g);
	char more[48] = "";
	if (stopped > 1)
		snprintf(more, sizeof more, " (and %zu more like it)", stopped - 1);
	const char *how = code == -EINTR ? "was interrupted" : "did not finish within ";
	if (p->killed)
		return rv_fail(code, "%s %s%s%s; it did not stop on SIGTERM and was killed with SIGKILL after %s", p->what,
			       how, code == -EINTR ? "" : t, more, g);
	return rv_fail(code, "%s %s%s%s; it was stopped with SIGTERM", p->what, how, code == -EINTR ? "" : t, more);
}

int rv_proc_wait_all(struct rv_proc *const *procs, size_t n, int timeout_ms, const struct rv_cancel *c)
{
	int tmo = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
	double deadline = rv_now_mono() + tmo / 1000.0;
	struct pollfd *pfd = rv_xcalloc(n ? n : 1, sizeof *pfd);
	int code = 0, slice = 1;

	for (size_t i = 0; i < n; i++)
		if (procs[i]->detached)
			procs[i]->reaped = true; /* not our child */
	for (;;) {
		size_t running = 0, k = 0;
		for (size_t i = 0; i < n; i++) {
			if (!procs[i]->reaped)
				try_reap(procs[i]);
			running += !procs[i]->reaped;
		}
		if (!running)
			break;
		double now = rv_now_mono();
		if (!code && rv_cancelled(c))
			code = -EINTR;
		else if (!code && now >= deadline)
			code = -ETIMEDOUT;
		for (size_t i = 0; code && i < n; i++) {
			struct rv_proc *p = procs[i];
			stop_gently(p);
			if (!p->reaped && !p->killed && now >= p->kill_at) {
				kill(p->pid, SIGKILL);
				p->killed = true;
			}
		}
		for (size_t i = 0; i < n; i++)
			if (procs[i]->out_fd >= 0)
				pfd[k++] = (struct pollfd){.fd = procs[i]->out_fd, .events = POLLIN};
		/* Short slices at first: most programs are done in a few milliseconds. */
		if (poll(pfd, k, slice) > 0)
			for (size_t i = 0; i < n; i++)
				drain(procs[i]);
		slice = slice * 2 < POLL_MAX_MS ? slice * 2 : POLL_MAX_MS;
	}
	free(pfd);
	/* All is read: what callers quote ends without blank lines. */
	for (size_t i = 0; i < n; i++) {
		struct rv_buf *b = &procs[i]->out;
		while (b->len && strchr("\n\r ", b->data[b->len - 1]))
			b->data[--b->len] = 0;
	}
	return code ? fail_stopped(procs, n, code, tmo) : 0;
}

/* ---- results ---- */

const char *rv_proc_output(const struct rv_proc *p)
{
	return p && p->out.data ? p->out.data : "";
}

int rv_proc_fail_exit(const struct rv_proc *p)
{
	const char *out = rv_proc_output(p), *tail = out;
	size_t len = strlen(out);
	char how[64];
	if (len > FAIL_TAIL_BYTES) {
		/* The end is what says why; start it at a line. */
		tail = out + len - FAIL_TAIL_BYTES;
		const char *nl = strchr(tail, '\n');
		tail = nl ? nl + 1 : tail;
	}
	if (p->reaped && p->status >= 0 && WIFSIGNALED(p->status))
		snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(p->status));
	else
		snprintf(how, sizeof how, "exited with status %d", p->status >= 0 ? WEXITSTATUS(p->status) : -1);
	return rv_fail(-EIO, "%s %s: %s", p->what, how, *tail ? tail : "(no output)");
}

void rv_proc_free(struct rv_proc *p)
{
	if (!p)
		return;
	if (!p->detached && !p->kept && !p->reaped) {
		kill(p->pid, SIGKILL);
		reap(p->pid, NULL);
	}
	close_fd(&p->out_fd);
	close_fd(&p->log_fd);
	rv_buf_free(&p->out);
	free(p);
}

bool rv_proc_reap_pid(pid_t pid)
{
	pid_t w;
	if (pid <= 0)
		return false;
	while ((w = waitpid(pid, NULL, WNOHANG)) < 0 && errno == EINTR)
		;
	return w == pid;
}

int rv_proc_run(const struct rv_proc_opts *o, int *status, char **output)
{
	struct rv_proc *p = NULL;
	if (status)
		*status = -1;
	if (output)
		*output = NULL;
	int r = rv_proc_spawn(o, &p);
	if (r == 0)
		r = rv_proc_wait_all(&p, 1, o->timeout_ms, o->cancel);
	/* A detached child is not ours to wait for: started is all there is to say. */
	if (r == 0 && !p->detached && !(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0))
		r = rv_proc_fail_exit(p);
	if (status && p)
		*status = rv_proc_status(p);
	if (output)
		*output = rv_strdup(rv_proc_output(p));
	rv_proc_free(p);
	return r;
}
