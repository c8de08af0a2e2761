/* member_systemd.c - members with control: systemd. systemd owns the process;
 * regvault asks systemctl to start and stop the unit and journalctl for its log. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/common.h"
#include "registry/lifecycle_impl.h"
#include "registry/registry.h"

/* systemctl start waits for the unit's own start (TimeoutStartSec, 90 s by
 * default) and stop for its stop: more than both. */
#define SYSTEMCTL_TIMEOUT_MS 200000
/* show and journalctl answer at once. */
#define QUERY_TIMEOUT_MS 30000

static int run_captured(char *const argv[], int timeout_ms, int *status, char **out)
{
	struct rv_proc_opts o = {.argv = argv, .capture = true, .timeout_ms = timeout_ms};
	return rv_proc_run(&o, status, out);
}

/* systemctl VERB [--no-block] UNIT */
static int systemctl(const char *verb, bool no_block, const struct member_spec *m)
{
	char *out = NULL;
	int status = -1;
	char *argv[] = {"systemctl", (char *)verb, no_block ? "--no-block" : m->unit, no_block ? m->unit : NULL, NULL};
	if (!m->unit || !*m->unit)
		return rv_fail(-EINVAL, "member %s has control: systemd but no unit", m->name);
	int r = run_captured(argv, SYSTEMCTL_TIMEOUT_MS, &status, &out);
	if (r == 0) {
		free(out);
		return 0;
	}
	if (r == -EIO && status >= 0 && WIFEXITED(status))
		r = rv_fail(-EIO, "cannot %s member %s: systemctl %s %s exited with %d: %s", verb, m->name, verb,
			    m->unit, WEXITSTATUS(status), out && *out ? out : "(no output)");
	else if (r == -ETIMEDOUT || r == -EIO)
		r = rv_fail_wrap(r, "cannot %s member %s", verb, m->name);
	else
		r = rv_fail(r, "cannot %s member %s: cannot run systemctl: %s", verb, m->name, strerror(-r));
	free(out);
	return r;
}

/* Without waiting for the unit's start: a Type=notify unit (regvault-etcd@.service)
 * is ready only once its member is in a quorum, which the members started after it
 * bring; the callers wait for the cluster's health instead. systemctl still refuses
 * at once a unit that does not exist or cannot be started. */
static int systemd_start(const struct cluster_spec *cs, size_t idx)
{
	return systemctl("start", true, &cs->members[idx]);
}

static int systemd_stop(const struct cluster_spec *cs, size_t idx, int timeout_ms)
{
	(void)timeout_ms; /* the unit's TimeoutStopSec decides */
	return systemctl("stop", false, &cs->members[idx]);
}

static pid_t systemd_pid(const struct member_spec *m)
{
	char *out = NULL;
	char *argv[] = {"systemctl", "show", "--property=MainPID", "--value", m->unit, NULL};
	if (!m->unit || run_captured(argv, QUERY_TIMEOUT_MS, NULL, &out) != 0) {
		free(out);
		rv_err_clear();
		return 0;
	}
	long v = strtol(out, NULL, 10);
	free(out);
	return v > 0 ? (pid_t)v : 0;
}

static char *systemd_log_tail(const struct member_spec *m, int lines)
{
	char *out = NULL, n[16];
	snprintf(n, sizeof n, "%d", lines);
	char *argv[] = {"journalctl", "--no-pager", "--quiet", "-n", n, "-u", m->unit, NULL};
	if (!m->unit || run_captured(argv, QUERY_TIMEOUT_MS, NULL, &out) != 0) {
		free(out);
		rv_err_clear();
		return rv_strdup("");
	}
	return out;
}

static void systemd_log_name(const struct member_spec *m, char *buf, size_t len)
{
	snprintf(buf, len, "journalctl -u %s", m->unit ? m->unit : "?");
}

/* systemd restarts and stops the unit itself: no pid of ours to signal, nothing
 * to tell about an exit regvault did not cause. */
const struct member_control_ops member_control_systemd = {
	.kind = "systemd",
	.start = systemd_start,
	.stop = systemd_stop,
	.running_pid = systemd_pid,
	.log_tail = systemd_log_tail,
	.log_name = systemd_log_name,
};
