/* etcdutl.c - the offline restore of etcd's own tools: `etcdutl snapshot restore`
 * (etcd 3.5+) where it exists, `etcdctl snapshot restore` (3.4) otherwise. One
 * process per member, all at once: each maps the db and rewrites membership, so on a
 * large db the three run in the time of one (given the cores). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "restore/restore_impl.h"

static bool executable(const char *path)
{
	return access(path, X_OK) == 0;
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
		if (rv_proc_find_program(tools[i], out, len) == 0)
			return 0;
	return rv_fail(-ENOENT, "neither etcdutl nor etcdctl was found (beside %s or on PATH); install etcd's client tools",
		       bin ? bin : "etcd");
}

static bool is_etcdutl(const char *tool)
{
	const char *b = strrchr(tool, '/');
	return strcmp(b ? b + 1 : tool, "etcdutl") == 0;
}

/* The last non-empty line of what a tool said, for messages. */
static void last_line(const char *text, char *out, size_t len)
{
	const char *nl = strrchr(text, '\n');
	snprintf(out, len, "%s", nl ? nl + 1 : text);
}

/* Every member, or only member `only` (SIZE_MAX: all). */
static int restore_some(const char *tool, const struct cluster_spec *cs, size_t only, const char *db_path,
			const char *token, char (*dirs)[PATH_MAX], bool skip_hash_check, int lock_fd,
			const struct rv_cancel *cancel)
{
	/* etcdctl 3.4 needs it for the v3 commands; etcdutl ignores it. */
	static const char *const env_add[] = {"ETCDCTL_API=3", NULL};
	static const char *const env_remove[] = {"NOTIFY_SOCKET", NULL};
	const char *name = is_etcdutl(tool) ? "etcdutl" : "etcdctl";
	char *ic = cluster_initial_cluster(cs);
	struct rv_proc **procs = rv_xcalloc(cs->n_members, sizeof *procs);
	size_t n_procs = 0, *member_of = rv_xcalloc(cs->n_members, sizeof *member_of);
	int first = 0;

	for (size_t i = 0; i < cs->n_members; i++) {
		if (only != SIZE_MAX && i != only)
			continue;
		const struct member_spec *m = &cs->members[i];
		char log[PATH_MAX + 16], what[256];
		char *argv[20];
		int a = 0, r, log_fd;
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
		snprintf(what, sizeof what, "%s snapshot restore for member %s", name, m->name);
		log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (log_fd < 0) {
			r = -errno;
		} else {
			/* The tools die with us (a restore killed outright must not leave one
			 * writing into a staging dir the next restore removes) and hold the
			 * restore lock for as long as they live: whoever takes the lock next
			 * knows no tool of ours still runs. */
			struct rv_proc_opts o = {.argv = argv,
						 .what = what,
						 .env_add = env_add,
						 .env_remove = env_remove,
						 .capture = true,
						 .log_fd = log_fd,
						 .keep_fds = &lock_fd,
						 .n_keep_fds = lock_fd >= 0 ? 1 : 0,
						 .die_with_parent = true,
						 .grace_ms = RS_TOOL_GRACE_MS};
			r = rv_proc_spawn(&o, &procs[n_procs]);
			close(log_fd);
			if (r == 0)
				member_of[n_procs++] = i;
		}
		if (r < 0 && !first)
			first = rv_fail(r, "cannot run %s for member %s: %s", tool, m->name, strerror(-r));
	}
	int w = rv_proc_wait_all(procs, n_procs, RS_TOOL_TIMEOUT_MS, cancel);
	if (w < 0 && !first)
		first = w;
	/* Past here every member asked for has its tool: procs[k] is member member_of[k]'s. */
	for (size_t k = 0; !first && k < n_procs; k++) {
		size_t i = member_of[k];
		int st = rv_proc_status(procs[k]);
		char log[PATH_MAX + 16], last[512];
		if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			continue;
		snprintf(log, sizeof log, "%s.log", dirs[i]);
		last_line(rv_proc_output(procs[k]), last, sizeof last);
		first = rv_fail(-EIO, "%s snapshot restore for member %s failed (%s %d): %s (log: %s)", name,
				cs->members[i].name, st >= 0 && WIFSIGNALED(st) ? "signal" : "exit",
				st < 0 ? -1 : WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
				last[0] ? last : "no output", log);
	}
	for (size_t k = 0; k < n_procs; k++)
		rv_proc_free(procs[k]);
	free(procs);
	free(member_of);
	free(ic);
	return first;
}

int rs_restore_members(const char *tool, const struct cluster_spec *cs, const char *db_path, const char *token,
		       char (*dirs)[PATH_MAX], bool skip_hash_check, int lock_fd, const struct rv_cancel *cancel)
{
	return restore_some(tool, cs, SIZE_MAX, db_path, token, dirs, skip_hash_check, lock_fd, cancel);
}

int rs_restore_one(const char *tool, const struct cluster_spec *cs, size_t idx, const char *db_path,
		   const char *token, char (*dirs)[PATH_MAX], int lock_fd, const struct rv_cancel *cancel)
{
	return restore_some(tool, cs, idx, db_path, token, dirs, true, lock_fd, cancel);
}
