/* etcdutl.c - the offline restore of etcd's own tools: `etcdutl snapshot restore`
 * (etcd 3.5+) where it exists, `etcdctl snapshot restore` (3.4) otherwise. One
 * process per member, all at once: each maps the db and rewrites membership, so on a
 * large db the three run in the time of one (given the cores). */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Start argv with stdout and stderr going to log (or to a pipe read by the caller). */
static int spawn_logged(char *const argv[], const char *log, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	int r;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	setenv("ETCDCTL_API", "3", 1);
	r = posix_spawn(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
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
		       char (*dirs)[PATH_MAX], bool skip_hash_check)
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
		r = spawn_logged(argv, log, &pids[i]);
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
