/* member_process.c - one etcd member as a background process on this host: its pid
 * file and log beside the data dir, finding out whether it runs (in /proc, so a
 * stale pid file is harmless), starting it detached and stopping it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "registry/lifecycle_impl.h"
#include "registry/registry.h"

/* ---- paths ---- */

void member_abs_data_dir(const struct member_spec *m, char *buf, size_t len)
{
	char cwd[PATH_MAX];
	const char *d = m->data_dir ? m->data_dir : "";
	if (d[0] != '/' && getcwd(cwd, sizeof cwd))
		snprintf(buf, len, "%s/%s", cwd, d);
	else
		snprintf(buf, len, "%s", d);
	size_t n = strlen(buf);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = 0;
}

static void beside_data_dir(const struct member_spec *m, const char *suffix, char *buf, size_t len)
{
	char dir[PATH_MAX];
	member_abs_data_dir(m, dir, sizeof dir);
	snprintf(buf, len, "%s%s", dir, suffix);
}

void member_pid_path(const struct member_spec *m, char *buf, size_t len)
{
	beside_data_dir(m, ".pid", buf, len);
}

void member_log_path(const struct member_spec *m, char *buf, size_t len)
{
	beside_data_dir(m, ".log", buf, len);
}

/* ---- is it running? ---- */

pid_t member_pidfile_pid(const struct member_spec *m)
{
	char path[PATH_MAX], *s;
	member_pid_path(m, path, sizeof path);
	if (rv_read_file(path, &s, NULL, 64) < 0)
		return 0;
	char *end;
	long v = strtol(s, &end, 10);
	bool ok = end != s && (*end == 0 || *end == '\n') && v > 0 && v < INT_MAX;
	free(s);
	return ok ? (pid_t)v : 0;
}

pid_t member_recorded_pid(const struct member_spec *m)
{
	return m->control == MEMBER_CONTROL_LOCAL ? member_pidfile_pid(m) : 0;
}

/* A zombie is gone for our purposes: the member no longer serves. */
static bool pid_is_zombie(pid_t pid)
{
	char path[64], *s;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (rv_read_file(path, &s, NULL, 4096) < 0)
		return true;
	/* "pid (comm) S ...": the state follows the last ')'. */
	char *p = strrchr(s, ')');
	bool z = !p || p[1] == 0 || p[2] == 'Z' || p[2] == 'X';
	free(s);
	return z;
}

/* The value of a --data-dir (or Go's -data-dir) argument at a, or NULL. */
static const char *data_dir_arg(const char *prev, const char *a)
{
	if (strncmp(a, "--data-dir=", 11) == 0)
		return a + 11;
	if (strncmp(a, "-data-dir=", 10) == 0)
		return a + 10;
	if (strcmp(prev, "--data-dir") == 0 || strcmp(prev, "-data-dir") == 0)
		return a;
	return NULL;
}

static bool same_dir(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (lb > 1 && b[lb - 1] == '/')
		lb--;
	return la == lb && memcmp(a, b, la) == 0;
}

bool member_pid_gone(pid_t pid)
{
	return pid_is_zombie(pid);
}

bool member_pid_is_member(pid_t pid, const struct member_spec *m)
{
	char path[64], dir[PATH_MAX], *cmd;
	size_t len;
	if (pid <= 0)
		return false;
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	if (rv_read_file(path, &cmd, &len, 1 << 20) < 0)
		return false;
	member_abs_data_dir(m, dir, sizeof dir);

	/* argv[0] must be an etcd, and one argument must name this data dir. */
	const char *base = strrchr(cmd, '/');
	base = base ? base + 1 : cmd;
	bool is_etcd = len > 0 && strstr(base, "etcd") != NULL, has_dir = false;
	const char *prev = "";
	for (size_t off = 0; is_etcd && !has_dir && off < len;) {
		const char *a = cmd + off, *v = data_dir_arg(prev, a);
		if (v && (same_dir(v, dir) || (m->data_dir && same_dir(v, m->data_dir))))
			has_dir = true;
		prev = a;
		off += strlen(a) + 1;
	}
	free(cmd);
	return is_etcd && has_dir && !pid_is_zombie(pid);
}

/* An etcd of this member that regvault did not record (pid file lost, started by
 * hand): found by its --data-dir, so that `cluster up` never starts a second one. */
static pid_t scan_proc_for_member(const struct member_spec *m)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;
	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char *end;
		long v = strtol(e->d_name, &end, 10);
		if (*end || v <= 0 || v == getpid())
			continue;
		if (member_pid_is_member((pid_t)v, m))
			found = (pid_t)v;
	}
	closedir(d);
	return found;
}

static pid_t local_running_pid(const struct member_spec *m)
{
	pid_t pid = member_pidfile_pid(m);
	if (pid && member_pid_is_member(pid, m))
		return pid;
	return scan_proc_for_member(m);
}

/* ---- start ---- */

static int write_pid_file(const struct member_spec *m, pid_t pid)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], line[32];
	member_pid_path(m, path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return rv_fail(-errno, "cannot write pid file %s of member %s: %s", tmp, m->name, strerror(errno));
	int n = snprintf(line, sizeof line, "%d\n", (int)pid);
	int r = rv_write_all(fd, line, (size_t)n);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return rv_fail(r, "cannot write pid file %s of member %s: %s", path, m->name, strerror(-r));
	}
	rv_fsync_parent(path);
	return 0;
}

static void remove_pid_file(const struct member_spec *m)
{
	char path[PATH_MAX];
	member_pid_path(m, path, sizeof path);
	unlink(path);
}

static char **build_etcd_argv(const struct cluster_spec *cs, const struct member_spec *m, const char *bin,
			      const char *data_dir)
{
	const struct etcd_flags *f = &cs->etcd;
	char *ic = cluster_initial_cluster(cs);
	char **argv = rv_xcalloc(24 + f->n_extra_args, sizeof *argv);
	size_t n = 0;
	char buf[PATH_MAX + 64];
#define ARG(...)                                           \
	do {                                               \
		snprintf(buf, sizeof buf, __VA_ARGS__);    \
		argv[n++] = rv_strdup(buf);                \
	} while (0)
	argv[n++] = rv_strdup(bin);
	ARG("--name=%s", m->name);
	ARG("--data-dir=%s", data_dir);
	ARG("--listen-client-urls=%s", m->client_url);
	ARG("--advertise-client-urls=%s", m->client_url);
	ARG("--listen-peer-urls=%s", m->peer_url);
	ARG("--initial-advertise-peer-urls=%s", m->peer_url);
	argv[n++] = rv_strdup("--initial-cluster");
	argv[n++] = ic; /* may be long: not through buf */
	ARG("--initial-cluster-token=%s", cs->token ? cs->token : (cs->name ? cs->name : "regvault"));
	ARG("--initial-cluster-state=new");
	ARG("--heartbeat-interval=%d", f->heartbeat_interval_ms > 0 ? f->heartbeat_interval_ms : 100);
	ARG("--election-timeout=%d", f->election_timeout_ms > 0 ? f->election_timeout_ms : 1000);
	ARG("--quota-backend-bytes=%" PRId64, f->quota_backend_bytes > 0 ? f->quota_backend_bytes : (int64_t)8 << 30);
	/* A member that was paused or cut off (SIGSTOP, a partition, a long GC) asks
	 * before it campaigns, instead of deposing a healthy leader with a higher term
	 * and failing the writes in flight (etcd 3.4's default is off). */
	ARG("--pre-vote=true");
	ARG("--auto-compaction-mode=periodic");
	ARG("--auto-compaction-retention=%s",
	    f->auto_compaction_retention && *f->auto_compaction_retention ? f->auto_compaction_retention : "1h");
	/* Last, so an operator's flag can refine the defaults above (etcd takes the last). */
	for (size_t i = 0; i < f->n_extra_args; i++)
		argv[n++] = rv_strdup(f->extra_args[i]);
#undef ARG
	argv[n] = NULL;
	return argv;
}

void member_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* The etcd binary to run: cluster.etcd.binary, else "etcd", found in PATH. */
static const char *etcd_binary(const struct cluster_spec *cs)
{
	return cs->etcd.binary && *cs->etcd.binary ? cs->etcd.binary : "etcd";
}

static int fail_no_binary(const struct member_spec *m, const char *binary, int r)
{
	return rv_fail(r,
		       "cannot start member %s: etcd binary '%s' not found or not executable (%s); "
		       "set cluster.etcd.binary or install etcd",
		       m->name, binary, strerror(-r));
}

int member_etcd_argv(const struct cluster_spec *cs, size_t idx, char ***out)
{
	const struct member_spec *m;
	char bin[PATH_MAX], data_dir[PATH_MAX];
	*out = NULL;
	if (idx >= cs->n_members)
		return rv_fail(-EINVAL, "no member %zu: the cluster has %zu", idx, cs->n_members);
	m = &cs->members[idx];
	int r = rv_proc_find_program(etcd_binary(cs), bin, sizeof bin);
	if (r < 0)
		return fail_no_binary(m, etcd_binary(cs), r);
	member_abs_data_dir(m, data_dir, sizeof data_dir);
	*out = build_etcd_argv(cs, m, bin, data_dir);
	return 0;
}

pid_t member_process_pid(const struct member_spec *m)
{
	return local_running_pid(m);
}

/* The runner calls this between the fork and the exec: etcd runs only once its
 * pid is recorded, so a regvault killed in between leaves no etcd that nothing
 * records (it could not be stopped: stop only trusts the pid file). */
struct recorded {
	const struct member_spec *m;
	bool called, written;
};

static int record_pid(pid_t pid, void *ud)
{
	struct recorded *rec = ud;
	rec->called = true;
	/* Between the fork and the pid file, as SIGKILL at a random moment can. */
	rv_test_point("member-forked");
	int r = write_pid_file(rec->m, pid);
	rec->written = r == 0;
	return r;
}

/* Spawn etcd for member m and record its pid; the caller holds the start lock.
 * Detached: re-parented away from us (no zombie in a long-running regvault), in its
 * own session (a terminal's ^C does not reach it), stdin from /dev/null, stdout and
 * stderr appended to its log. Never NOTIFY_SOCKET: etcd would tell systemd READY=1
 * on behalf of the regvault daemon that runs under Type=notify; nor the watchdog's
 * variables, which are the daemon's. A scratch member (cs->scratch) is not
 * detached but dies with the thread that starts it: see struct cluster_spec. */
static int start_locked(const struct cluster_spec *cs, const struct member_spec *m, const char *data_dir,
			const char *log_path)
{
	static const char *const env_remove[] = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", NULL};
	char bin[PATH_MAX], what[256];
	int r;

	const char *binary = etcd_binary(cs);
	bool rotated; /* a full log is no reason not to start: best effort */
	if (member_log_rotate(m, MEMBER_LOG_MAX_BYTES, MEMBER_LOG_KEEP, &rotated) < 0)
		rv_err_clear();
	int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return rv_fail(-errno, "cannot start member %s: cannot open its log %s: %s", m->name, log_path,
			       strerror(errno));
	char stamp[21], head[PATH_MAX + 128];
	rv_utc_rfc3339(rv_now_unix(), stamp);
	int hn = snprintf(head, sizeof head, LOG_START_MARK "%s regvault starts member %s (%s, data dir %s)\n", stamp,
			  m->name, binary, data_dir);
	rv_write_all(log_fd, head, (size_t)hn);

	r = rv_proc_find_program(binary, bin, sizeof bin);
	if (r < 0) {
		hn = snprintf(head, sizeof head, "regvault: cannot run etcd binary '%s': %s\n", binary, strerror(-r));
		rv_write_all(log_fd, head, (size_t)hn);
		close(log_fd);
		return fail_no_binary(m, binary, r);
	}

	char **argv = build_etcd_argv(cs, m, bin, data_dir);
	struct recorded rec = {m, false, false};
	struct rv_proc *p = NULL;
	snprintf(what, sizeof what, "member %s", m->name);
	struct rv_proc_opts o = {.argv = argv,
				 .what = what,
				 .env_remove = env_remove,
				 .log_fd = log_fd,
				 .cwd = "/",
				 .detached = !cs->scratch,
				 .die_with_parent = cs->scratch,
				 .own_session = cs->scratch,
				 .before_exec = record_pid,
				 .before_exec_ud = &rec};
	r = rv_proc_spawn(&o, &p);
	member_argv_free(argv);
	if (r < 0 && rec.written) {
		/* Recorded, then its exec failed: say so in its log too. */
		hn = snprintf(head, sizeof head, "regvault: cannot execute the etcd binary %s: %s\n", bin, strerror(-r));
		rv_write_all(log_fd, head, (size_t)hn);
		remove_pid_file(m);
		r = rv_fail(r, "cannot start member %s: cannot execute %s: %s", m->name, bin, strerror(-r));
	} else if (r < 0 && !rec.called) {
		r = rv_fail(r, "cannot start member %s: fork failed: %s", m->name, strerror(-r));
	}
	close(log_fd);
	if (r < 0)
		return r;
	rv_debug("member %s started as pid %d (%s)", m->name, (int)rv_proc_pid(p), bin);
	rv_proc_free(p);
	return 0;
}

static int local_start(const struct cluster_spec *cs, size_t idx)
{
	const struct member_spec *m = &cs->members[idx];
	char data_dir[PATH_MAX], log_path[PATH_MAX], parent[PATH_MAX];
	int r;

	if (local_running_pid(m) > 0)
		return 0;

	member_abs_data_dir(m, data_dir, sizeof data_dir);
	member_log_path(m, log_path, sizeof log_path);
	snprintf(parent, sizeof parent, "%s", data_dir);
	char *slash = strrchr(parent, '/');
	if (slash == parent)
		parent[1] = 0; /* a data dir right under / */
	else if (slash)
		*slash = 0;
	r = rv_mkdir_p(parent, 0755);
	if (r < 0)
		return rv_fail(r, "cannot start member %s: cannot create %s: %s", m->name, parent, strerror(-r));

	/* Two regvaults starting the same member (an operator and the daemon) must
	 * not start two etcds: the check and the start happen under a lock on the
	 * directory that holds the data dir. */
	int dir_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return rv_fail(-errno, "cannot start member %s: cannot open %s: %s", m->name, parent, strerror(errno));
	while (flock(dir_fd, LOCK_EX) < 0 && errno == EINTR)
		;
	r = local_running_pid(m) > 0 ? 0 : start_locked(cs, m, data_dir, log_path);
	close(dir_fd); /* releases the lock */
	return r;
}

/* ---- stop ---- */

static bool pid_gone(pid_t pid, const struct member_spec *m)
{
	return !member_pid_is_member(pid, m);
}

int member_terminate(const struct cluster_spec *cs, const size_t *idx, const pid_t *pids, size_t n,
		     int timeout_ms)
{
	double deadline = rv_now_mono() + (timeout_ms > 0 ? timeout_ms : 10000) / 1000.0;
	bool killed = false;
	for (size_t i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	for (;;) {
		size_t left = 0;
		for (size_t i = 0; i < n; i++)
			if (pids[i] > 0 && !pid_gone(pids[i], &cs->members[idx[i]]))
				left++;
		if (!left)
			return 0;
		if (rv_now_mono() >= deadline) {
			if (killed)
				break;
			for (size_t i = 0; i < n; i++)
				if (pids[i] > 0 && !pid_gone(pids[i], &cs->members[idx[i]])) {
					rv_warn("member %s (pid %d) did not stop after SIGTERM; sending SIGKILL",
						cs->members[idx[i]].name, (int)pids[i]);
					kill(pids[i], SIGKILL);
				}
			killed = true;
			deadline = rv_now_mono() + 5.0;
		}
		rv_sleep_ms(50);
	}
	for (size_t i = 0; i < n; i++)
		if (pids[i] > 0 && !pid_gone(pids[i], &cs->members[idx[i]]))
			return rv_fail(-ETIMEDOUT, "member %s (pid %d) is still running after SIGKILL",
				       cs->members[idx[i]].name, (int)pids[i]);
	return 0;
}

static int local_stop(const struct cluster_spec *cs, size_t idx, int timeout_ms)
{
	const struct member_spec *m = &cs->members[idx];
	/* Only what regvault started: the pid in its pid file. */
	pid_t pid = member_pidfile_pid(m);
	if (pid && member_pid_is_member(pid, m)) {
		int r = member_terminate(cs, &idx, &pid, 1, timeout_ms);
		if (r < 0)
			return r;
	}
	remove_pid_file(m);
	return 0;
}

/* ---- log ---- */

static char *local_log_tail(const struct member_spec *m, int lines)
{
	char path[PATH_MAX];
	member_log_path(m, path, sizeof path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rv_strdup("");
	/* Only the end of a log that may be large. */
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > 65536 ? size - 65536 : 0;
	char *buf = rv_xmalloc(65537);
	size_t got = 0;
	if (size < 0 || lseek(fd, from, SEEK_SET) < 0 || rv_read_full(fd, buf, 65536, &got) < 0)
		got = 0;
	close(fd);
	buf[got] = 0;
	while (got && buf[got - 1] == '\n')
		buf[--got] = 0;
	char *start = buf + got;
	int n = 0;
	while (start > buf && n < lines) {
		start--;
		if (*start == '\n' && ++n == lines) {
			start++;
			break;
		}
	}
	if (from > 0 && start == buf) {
		/* a partial first line */
		char *nl = strchr(buf, '\n');
		start = nl ? nl + 1 : buf + got;
	}
	char *out = rv_strdup(start);
	free(buf);
	return out;
}

/* ---- the ops of control: local ---- */

static pid_t local_signal_pid(const struct member_spec *m)
{
	/* Only what regvault started: the pid in its pid file. */
	pid_t pid = member_pidfile_pid(m);
	return pid && member_pid_is_member(pid, m) ? pid : 0;
}

static void local_forget(const struct member_spec *m)
{
	pid_t pid = member_pidfile_pid(m);
	if (pid && !member_pid_is_member(pid, m))
		remove_pid_file(m);
}

/* A member regvault started whose process is gone: it exited (bad flag, port in
 * use, corrupt data dir). */
static bool local_exited(const struct member_spec *m, pid_t *was)
{
	pid_t pid = member_pidfile_pid(m);
	if (!pid || member_pid_is_member(pid, m))
		return false;
	if (local_running_pid(m) > 0)
		return false;
	*was = pid;
	return true;
}

static bool local_known_stopped(const struct member_spec *m)
{
	return local_running_pid(m) == 0;
}

const struct member_control_ops member_control_local = {
	.kind = "local",
	.start = local_start,
	.stop = local_stop,
	.running_pid = local_running_pid,
	.signal_pid = local_signal_pid,
	.forget = local_forget,
	.exited = local_exited,
	.known_stopped = local_known_stopped,
	.log_tail = local_log_tail,
	.log_name = member_log_path,
};
