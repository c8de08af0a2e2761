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

/* systemd control (member_systemd.c). */
int member_systemd_start(const struct member_spec *m);
int member_systemd_stop(const struct member_spec *m);
pid_t member_systemd_pid(const struct member_spec *m);
char *member_systemd_log_tail(const struct member_spec *m, int lines);

/* Run argv (argv[0] searched in PATH) and wait; stdout+stderr are collected into
 * *output (malloc'd, may be NULL). Returns the exit status (>= 0) or a negative
 * errno when it could not be run. */
int member_run_command(char *const argv[], char **output);

#endif
