/* lifecycle_impl.h - private to registry/: what the member process files share
 * (member_process.c, member_systemd.c, lifecycle.c, cluster_status.c). */
#ifndef REGVAULT_LIFECYCLE_IMPL_H
#define REGVAULT_LIFECYCLE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "registry/registry.h"

/* member_start writes this line into the member's log before each start, so that
 * error messages quote only what the last start said. */
#define LOG_START_MARK "==== "

/* The pid recorded in the member's pid file, or 0 (no file, unreadable, garbage). */
pid_t member_pidfile_pid(const struct member_spec *m);
/* True when pid is a live (not zombie) etcd whose command line names this member's
 * data dir. */
bool member_pid_is_member(pid_t pid, const struct member_spec *m);
/* True when pid no longer exists or is a zombie. */
bool member_pid_gone(pid_t pid);
/* The member's data dir as an absolute path without trailing slashes. */
void member_abs_data_dir(const struct member_spec *m, char *buf, size_t len);

/* Send SIGTERM to every pid (0 entries are skipped), wait until they are gone,
 * SIGKILL what is left after timeout_ms. Returns 0, or -ETIMEDOUT with a message
 * naming the member when one survives even SIGKILL. */
int member_terminate(const struct cluster_spec *cs, const size_t *idx, const pid_t *pids, size_t n,
		     int timeout_ms);

/* How a member is controlled, one table per `control:` kind (member_process.c for
 * local, member_systemd.c for systemd), chosen by member_control() alone. */
struct member_control_ops {
	const char *kind; /* as in the configuration: "local", "systemd" */
	int (*start)(const struct cluster_spec *cs, size_t idx);
	int (*stop)(const struct cluster_spec *cs, size_t idx, int timeout_ms);
	pid_t (*running_pid)(const struct member_spec *m);
	/* The pid regvault started and stops by signal, so that cluster_down can stop
	 * several at once (the followers, then the leader); NULL: stop() one by one. */
	pid_t (*signal_pid)(const struct member_spec *m);
	/* After those stops: forget what no longer runs (a stale pid file). */
	void (*forget)(const struct member_spec *m);
	/* True when the process regvault started is gone (it exited while starting);
	 * *was gets its pid. NULL: cannot tell. */
	bool (*exited)(const struct member_spec *m, pid_t *was);
	/* True only when it is certain that no process of the member runs, so status
	 * can say "not running". NULL: never certain. */
	bool (*known_stopped)(const struct member_spec *m);
	char *(*log_tail)(const struct member_spec *m, int lines);
	/* Where its log is, for messages: a path, "journalctl -u <unit>". */
	void (*log_name)(const struct member_spec *m, char *buf, size_t len);
};
extern const struct member_control_ops member_control_local;
extern const struct member_control_ops member_control_systemd;
const struct member_control_ops *member_control(const struct member_spec *m);

#endif
