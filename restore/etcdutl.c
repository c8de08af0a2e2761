/* etcdutl.c - the offline restore of etcd's own tools: `etcdutl snapshot restore`
 * (etcd 3.5+) where it exists, `etcdctl snapshot restore` (3.4) otherwise. One
 * process per member, all at once: each maps the db and rewrites membership, so on a
 * large db the three run in the time of one (given the cores). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "restore/restore_impl.h"

extern char **environ;

static bool executable(const char *path)
{
	return access(path, X_OK) == 0;
}

static bool find_in_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;
	bool found = false;
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	copy = rv_strdup(path);
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", *d ? d : ".", name);
		found = executable(out);
	}
	free(copy);
	return found;
}

int rs_find_tool(const struct cluster_spec *cs, char *out, size_t len)
{
	static const char *const tools[] = {"etcdutl", "etcdctl"};
	const char *bin = cs ? cs->etcd.binary : NULL;

	/* The tools that came with the configured etcd first: they match its version. */
	if (bin && strchr(bin, '/')) {
		char dir[PATH_MAX];
		rs_parent(bin, dir, sizeof dir);
		for (size_t i = 0; i < RV_ARRAY_LEN(tools); i++) {
			snprintf(out, len, "%s/%s", dir, tools[i]);
			if (executable(out))
				return 0;
		}
	}
	for (size_t i = 0; i < RV_ARRAY_LEN(tools); i++)
		if (find_in_path(tools[i], out, len))
			return 0;
	return rv_fail(-ENOENT, "neither etcdutl nor etcdctl was found (beside %s or on PATH); install etcd's client tools",
		       bin ? bin : "etcd");
}

static bool is_etcdutl(const char *tool)
{
	const char *b = strrchr(tool, '/');
	return strcmp(b ? b + 1 : tool, "etcdutl") == 0;
}

/* Start argv with stdin from /dev/null and stdout and stderr going to log. The child
 * dies with us (a restore killed outright must not leave a tool writing into a
 * staging dir the next restore removes) and holds hold_fd, the restore lock, for as
 * long as it lives: whoever takes the lock next knows no tool of ours still runs.
 * Between fork and exec only async-signal-safe calls: gRPC has threads. */
static int spawn_logged(char *const argv[], const char *log, int hold_fd, pid_t *pid)
{
	pid_t parent = getpid();
	int log_fd, null_fd, err_pipe[2], e = 0;
	size_t got = 0;

	log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return -errno;
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
		e = -errno;
		close(log_fd);
		if (null_fd >= 0)
			close(null_fd);
		return e;
	}
	setenv("ETCDCTL_API", "3", 1);
	*pid = fork();
	if (*pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127); /* the parent is gone already */
		if (hold_fd >= 0)
			fcntl(hold_fd, F_SETFD, 0);
		dup2(null_fd, 0);
		dup2(log_fd, 1);
		dup2(log_fd, 2);
		execve(argv[0], argv, environ);
		e = errno;
		if (write(err_pipe[1], &e, sizeof e) < 0) {
			/* nothing left to tell */
		}
		_exit(127);
	}
	e = *pid < 0 ? -errno : 0;
	close(log_fd);
	close(null_fd);
	close(err_pipe[1]);
	if (e == 0) {
		int exec_errno = 0;
		rv_read_full(err_pipe[0], &exec_errno, sizeof exec_errno, &got); /* EOF: execve succeeded */
		if (got == sizeof exec_errno) {
			while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
				;
			e = -exec_errno;
		}
	}
	close(err_pipe[0]);
	return e;
}

/* The last non-empty line of a log, for messages. */
static void log_last_line(const char *log, char *out, size_t len)
{
	char *text = NULL;
	size_t n = 0;
	out[0] = 0;
	if (rv_read_file(log, &text, &n, 0) < 0)
		return;
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = 0;
	char *line = memrchr(text, '\n', n);
	snprintf(out, len, "%s", line ? line + 1 : text);
	free(text);
}

int rs_restore_members(const char *tool, const struct cluster_spec *cs, const char *db_path, const char *token,
		       char (*dirs)[PATH_MAX], bool skip_hash_check, int lock_fd)
{
	char *ic = cluster_initial_cluster(cs);
	pid_t *pids = rv_xcalloc(cs->n_members, sizeof(pid_t));
	int first = 0;

	for (size_t i = 0; i < cs->n_members; i++) {
		const struct member_spec *m = &cs->members[i];
		char log[PATH_MAX + 16];
		char *argv[20];
		int a = 0, r;
		argv[a++] = (char *)tool;
		argv[a++] = "snapshot";
		argv[a++] = "restore";
		argv[a++] = (char *)db_path;
		argv[a++] = "--name";
		argv[a++] = m->name;
		argv[a++] = "--data-dir";
		argv[a++] = dirs[i];
		argv[a++] = "--initial-cluster";
		argv[a++] = ic;
		argv[a++] = "--initial-cluster-token";
		argv[a++] = (char *)token;
		argv[a++] = "--initial-advertise-peer-urls";
		argv[a++] = m->peer_url;
		if (skip_hash_check)
			argv[a++] = "--skip-hash-check";
		argv[a] = NULL;
		snprintf(log, sizeof log, "%s.log", dirs[i]);
		r = spawn_logged(argv, log, lock_fd, &pids[i]);
		if (r < 0) {
			pids[i] = 0;
			if (!first)
				first = rv_fail(r, "cannot run %s for member %s: %s", tool, m->name, strerror(-r));
		}
	}
	for (size_t i = 0; i < cs->n_members; i++) {
		int st;
		char log[PATH_MAX + 16], last[512];
		if (!pids[i])
			continue;
		while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			continue;
		snprintf(log, sizeof log, "%s.log", dirs[i]);
		log_last_line(log, last, sizeof last);
		if (!first)
			first = rv_fail(-EIO, "%s snapshot restore for member %s failed (%s %d): %s (log: %s)",
					is_etcdutl(tool) ? "etcdutl" : "etcdctl", cs->members[i].name,
					WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
					last[0] ? last : "no output", log);
	}
	free(pids);
	free(ic);
	return first;
}
