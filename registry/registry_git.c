/* registry_git.c - the manifests directory as a git work tree: the commit that is
 * synced, and the optional fetch and fast-forward before a pass. Through the git
 * CLI and the process runner (common.h), so no library of git's is linked in. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry_git.h"

#define GIT_TIMEOUT_MS 60000

/* git never asks for a password on a terminal: a daemon has none, and a fetch
 * that needs one fails at once instead of hanging until the timeout. */
static const char *const git_env[] = {"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=true", "LC_ALL=C", NULL};

/* Run git -C dir args...; *out (malloc'd, trimmed) is its output. */
static int run_git(const char *dir, const char *const *args, const struct rv_cancel *cancel, const char *what,
		   char **out)
{
	char *argv[16];
	size_t n = 0;
	argv[n++] = "git";
	argv[n++] = "-C";
	argv[n++] = (char *)dir;
	for (size_t i = 0; args[i] && n + 1 < RV_ARRAY_LEN(argv); i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	struct rv_proc_opts o = {
		.argv = argv,
		.what = what,
		.env_add = git_env,
		.capture = true,
		.die_with_parent = true,
		.timeout_ms = GIT_TIMEOUT_MS,
		.cancel = cancel,
	};
	char *output = NULL;
	int r = rv_proc_run(&o, NULL, &output);
	if (out) {
		*out = output;
		output = NULL;
		if (*out) {
			size_t l = strlen(*out);
			while (l && (*out)[l - 1] == '\n')
				(*out)[--l] = 0;
		}
	}
	free(output);
	return r;
}

int registry_git_head(const char *dir, const struct rv_cancel *cancel, char **commit)
{
	static const char *const args[] = {"rev-parse", "--verify", "-q", "HEAD", NULL};
	/* a directory inside some work tree whose manifests git does not track (an
	 * ignored build dir in another project's checkout) has no commit of its own */
	static const char *const tracked[] = {"ls-files", "--error-unmatch", "--", ".", NULL};
	char *out = NULL;
	*commit = NULL;
	int r = run_git(dir, tracked, cancel, "git ls-files", NULL);
	if (r == -EINTR)
		return r;
	if (r < 0) {
		rv_err_clear();
		return 0;
	}
	r = run_git(dir, args, cancel, "git rev-parse", &out);
	if (r == -EINTR) {
		free(out);
		return r;
	}
	/* not a work tree, no commit yet, or no git: nothing to record */
	if (r == 0 && out && strlen(out) >= 40 && strspn(out, "0123456789abcdef") == strlen(out))
		*commit = out;
	else
		free(out);
	rv_err_clear();
	return 0;
}

int registry_git_update(const char *dir, const char *remote, const char *branch, const struct rv_cancel *cancel)
{
	char *out = NULL;
	int r;
	static const char *const head_args[] = {"symbolic-ref", "-q", "--short", "HEAD", NULL};
	if ((r = run_git(dir, head_args, cancel, "git symbolic-ref", &out)) < 0) {
		free(out);
		return r == -EINTR ? r
				   : rv_fail(-EBUSY, "%s is not a git work tree on a branch, so branch %s of %s cannot be "
						     "fetched into it",
					     dir, branch, remote);
	}
	if (strcmp(out, branch) != 0) {
		r = rv_fail(-EBUSY, "the git work tree of %s is on branch %s, not %s; nothing was fetched", dir, out,
			    branch);
		free(out);
		return r;
	}
	free(out);

	const char *fetch_args[] = {"fetch", "--quiet", "--no-tags", remote, branch, NULL};
	if ((r = run_git(dir, fetch_args, cancel, "git fetch", NULL)) < 0)
		return rv_fail_wrap(r, "cannot fetch branch %s of %s into %s", branch, remote, dir);
	/* --ff-only: the work tree moves forward to what was fetched or stays as it is */
	static const char *const ff_args[] = {"merge", "--ff-only", "--quiet", "FETCH_HEAD", NULL};
	if ((r = run_git(dir, ff_args, cancel, "git merge --ff-only", NULL)) < 0)
		return r == -EINTR ? r
				   : rv_fail_wrap(-EBUSY,
						  "%s cannot be fast-forwarded to branch %s of %s (local commits or "
						  "changes?); the checkout is kept as it was",
						  dir, branch, remote);
	return 0;
}
