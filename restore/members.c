/* members.c - stopping and starting members the way they are run: `control: local`
 * through the registry's lifecycle (pid files beside the data dirs), `control:
 * systemd` through systemctl (the unit owns the flags; a restored data dir carries
 * its WAL, so etcd ignores the unit's --initial-cluster* flags on start). */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "restore/restore_impl.h"

extern char **environ;

/* systemctl VERB UNIT; returns its exit status (or a negative errno). */
static int systemctl(const char *verb, const char *unit)
{
	char *argv[] = {"systemctl", (char *)verb, "--quiet", (char *)unit, NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, r;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	r = posix_spawnp(&pid, "systemctl", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

bool rs_member_running(const struct cluster_spec *cs, size_t i)
{
	const struct member_spec *m = &cs->members[i];
	if (m->control == MEMBER_CONTROL_SYSTEMD)
		return systemctl("is-active", m->unit) == 0;
	return member_running_pid(m) > 0;
}

int rs_member_start(const struct cluster_spec *cs, size_t i)
{
	const struct member_spec *m = &cs->members[i];
	if (m->control == MEMBER_CONTROL_SYSTEMD) {
		int r = systemctl("start", m->unit);
		if (r != 0)
			return rv_fail(r < 0 ? r : -EIO, "systemctl start %s (member %s) failed%s%s", m->unit, m->name,
				       r < 0 ? ": " : "", r < 0 ? strerror(-r) : "; see journalctl -u for why");
		return 0;
	}
	return member_start(cs, i);
}

int rs_member_stop(const struct cluster_spec *cs, size_t i)
{
	const struct member_spec *m = &cs->members[i];
	if (m->control == MEMBER_CONTROL_SYSTEMD) {
		int r = systemctl("stop", m->unit);
		if (r != 0)
			return rv_fail(r < 0 ? r : -EIO, "systemctl stop %s (member %s) failed%s%s", m->unit, m->name,
				       r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
		return 0;
	}
	return member_stop(cs, i, RS_STOP_TIMEOUT_MS);
}

int rs_stop_all(const struct cluster_spec *cs)
{
	int first = 0;
	char msg[1024] = "";
	for (size_t i = 0; i < cs->n_members; i++) {
		int r = rs_member_stop(cs, i);
		if (r < 0 && !first) {
			first = r;
			snprintf(msg, sizeof msg, "%s", rv_errmsg(r));
		} else if (r < 0) {
			rv_warn("%s", rv_errmsg(r));
		}
	}
	if (first)
		return rv_fail(first, "%s", msg);
	/* A member still running now would write into a data dir we are about to move. */
	for (size_t i = 0; i < cs->n_members; i++)
		if (rs_member_running(cs, i))
			return rv_fail(-EBUSY, "member %s still runs after being stopped; stop it by hand and run again",
				       cs->members[i].name);
	return 0;
}
