/* member_systemd.c - members with control: systemd. systemd owns the process;
 * regvault asks systemctl to start and stop the unit and journalctl for its log. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "registry/lifecycle_impl.h"
#include "registry/registry.h"

int member_run_command(char *const argv[], char **output)
{
	int fds[2];
	struct rv_buf b = {0};
	if (output)
		*output = NULL;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid == 0) {
		int null_fd = open("/dev/null", O_RDONLY);
		if (null_fd >= 0)
			dup2(null_fd, 0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	int fork_errno = errno;
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -fork_errno;
	}
	char chunk[4096];
	for (;;) {
		ssize_t n = read(fds[0], chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b.len < 65536)
			rv_buf_append(&b, chunk, (size_t)n);
	}
	close(fds[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
		b.data[--b.len] = 0;
	if (output)
		*output = b.data ? b.data : rv_strdup("");
	else
		rv_buf_free(&b);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int systemctl(const char *verb, const struct member_spec *m)
{
	char *out = NULL;
	char *argv[] = {"systemctl", (char *)verb, m->unit, NULL};
	if (!m->unit || !*m->unit)
		return rv_fail(-EINVAL, "member %s has control: systemd but no unit", m->name);
	int r = member_run_command(argv, &out);
	if (r == 0) {
		free(out);
		return 0;
	}
	if (r < 0)
		r = rv_fail(r, "cannot %s member %s: cannot run systemctl: %s", verb, m->name, strerror(-r));
	else
		r = rv_fail(-EIO, "cannot %s member %s: systemctl %s %s exited with %d: %s", verb, m->name, verb,
			    m->unit, r, out && *out ? out : "(no output)");
	free(out);
	return r;
}

int member_systemd_start(const struct member_spec *m)
{
	return systemctl("start", m);
}

int member_systemd_stop(const struct member_spec *m)
{
	return systemctl("stop", m);
}

pid_t member_systemd_pid(const struct member_spec *m)
{
	char *out = NULL;
	char *argv[] = {"systemctl", "show", "--property=MainPID", "--value", m->unit, NULL};
	if (!m->unit || member_run_command(argv, &out) != 0) {
		free(out);
		return 0;
	}
	long v = strtol(out, NULL, 10);
	free(out);
	return v > 0 ? (pid_t)v : 0;
}

char *member_systemd_log_tail(const struct member_spec *m, int lines)
{
	char *out = NULL, n[16];
	snprintf(n, sizeof n, "%d", lines);
	char *argv[] = {"journalctl", "--no-pager", "--quiet", "-n", n, "-u", m->unit, NULL};
	if (!m->unit || member_run_command(argv, &out) != 0) {
		free(out);
		return rv_strdup("");
	}
	return out;
}
