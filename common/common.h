/* common.h - small utilities every regvault module uses. Depends on libc only.
 *
 * Errors: functions return 0 or a negative errno. The function that knows the
 * object and the cause records one sentence with rv_fail(); the edge (the CLI, the
 * daemon's job runner) prints it once with rv_errmsg(). Callers that add context
 * use rv_failf_wrap(), which prefixes the sentence already recorded.
 */
#ifndef REGVAULT_COMMON_H
#define REGVAULT_COMMON_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define RV_VERSION "0.1.0"

/* Exit codes, everywhere. */
enum { RV_EXIT_OK = 0, RV_EXIT_FAIL = 1, RV_EXIT_USAGE = 2 };

#define RV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RV_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- errors (error.c) ---- */
/* Record a message for the current thread and return code (a negative errno). */
int rv_fail(int code, const char *fmt, ...) RV_PRINTF(2, 3);
/* Prefix the recorded message with more context: "<prefix>: <old message>". */
int rv_fail_wrap(int code, const char *fmt, ...) RV_PRINTF(2, 3);
/* The recorded message, or strerror(-code) when none was recorded. */
const char *rv_errmsg(int code);
void rv_err_clear(void);
bool rv_err_isset(void);

/* Advice that names how an edge is driven (a command-line flag, a regvault command)
 * is not written by the modules: they record an advice id with the sentence, and
 * the edge installs once, before any thread starts, the wording of every id (the
 * CLI its flags and commands, the daemon its configuration). rv_errmsg() returns
 * the sentence with the installed wording of its advice appended. */
enum rv_advice {
	RV_ADVICE_NONE,
	RV_ADVICE_CLUSTER_STATUS,       /* "... check that it is running" */
	RV_ADVICE_CHECK_CLUSTER_STATUS, /* "... do not agree on one leader after N s" */
	RV_ADVICE_CLUSTER_UP,           /* "... start them" */
	RV_ADVICE_START_MEMBER,         /* a status row: "not running" */
	RV_ADVICE_RECOVER_SPACE,        /* "the database is over its quota" */
	RV_ADVICE_RUN_RECOVER_SPACE,    /* "has a NOSPACE alarm, so nothing was changed" */
	RV_ADVICE_HASHCHECK_FIRST,      /* space recovery refused: a CORRUPT alarm */
	RV_ADVICE_FIND_DIVERGED,        /* "... find the member that diverged" */
	RV_ADVICE_SNAPSHOT_SAVE,        /* "store S holds no snapshot yet" */
	RV_ADVICE_SNAPSHOT_LIST,        /* "there is no snapshot N in store S" */
	RV_ADVICE_STORE_URL,            /* "no store ...; configure store.url" */
	RV_ADVICE_NO_QUORUM_SAVE,       /* "cluster C has no quorum ...; start the members that are down" */
	RV_ADVICE_SOURCE_CATCH_UP,      /* "... retry when it has caught up or choose another source" */
	RV_ADVICE_SOURCE_MEMBERS_DOWN,  /* "... start the members that are down" */
	RV_ADVICE_SAVED_WITHOUT_QUORUM, /* the warning of a save without quorum: "saving from M anyway" */
	RV_ADVICE_DISKCHECK_DIR,        /* "cannot test the disk at D: ..." */
	RV_ADVICE_DISKCHECK_DIR_WRITABLE, /* "cannot write a test file in D: ..." */
	RV_ADVICE_RESTORE_FORCE,        /* "the cluster is healthy and serving ...; nothing was changed" */
	RV_ADVICE_FINISH_ROLLBACK,      /* "the interrupted restore was rolling back" */
	RV_ADVICE_ROLLBACK_ONCE_STOPPED, /* "rollback stopped: ...; the old data dirs are still at D" */
	RV_ADVICE_RUN_ROLLBACK,         /* "rollback stopped: ...; fix the cause" */
	RV_ADVICE_PENDING_ROLLBACK,     /* "a restore of A was interrupted ... (as D once moved)." */
	RV_ADVICE_PENDING_RESUME,       /* after RV_ADVICE_PENDING_ROLLBACK, when it can be resumed */
	RV_ADVICE_CONFIG_GIVEN,         /* "cannot read config F (given" */
	RV_ADVICE_CONFIG_DEFAULT,       /* "cannot read config F (the default" */
	RV_ADVICE_START_DAEMON,         /* "no regvault daemon answers on S" */
	RV_ADVICE_FROM_ARTIFACT,        /* "store S holds no continuous backup ..." */
	RV_ADVICE_COUNT
};
/* rv_fail() with the advice that goes after the sentence. */
int rv_fail_advice(int code, enum rv_advice advice, const char *fmt, ...) RV_PRINTF(3, 4);
/* The advice recorded with code's sentence (RV_ADVICE_NONE when none, or another code's). */
enum rv_advice rv_erradvice(int code);
/* Install the wording of every advice (texts[id]; NULL entries and a NULL table: none). */
void rv_advice_install(const char *const *texts);
/* The installed wording of a, "" when none: for sentences composed in pieces. */
const char *rv_advice_text(enum rv_advice a);

/* ---- cancellation (cancel.c) ---- */
/* Passed in the options of every long operation (NULL: cannot be cancelled). The
 * edge requests (from a signal handler or another thread); the operation stops at
 * its next safe point and returns -EINTR with a sentence saying what is left. */
struct rv_cancel {
	atomic_int requested;
};
void rv_cancel_request(struct rv_cancel *c);
bool rv_cancelled(const struct rv_cancel *c);
/* rv_sleep_ms that ends early: 0 after ms, -EINTR as soon as c is cancelled. */
int rv_sleep_cancellable(int64_t ms, const struct rv_cancel *c);

/* ---- other programs (process.c) ---- */
/* The one way regvault runs a program (etcd members, systemctl, journalctl,
 * etcdctl/etcdutl): argv only, never a shell; argv[0] found in PATH before the fork;
 * in the child only async-signal-safe calls (gRPC has threads), stdin from
 * /dev/null, every other inherited descriptor closed except keep_fds, the signal
 * mask empty and every disposition SIG_DFL, and an environment built for it (the
 * parent's own is never changed). Safe to use from several threads at once. */
struct rv_proc_opts {
	char *const *argv;
	const char *what;              /* who it is in messages; NULL: argv[0] */
	const char *const *env_add;    /* NULL-terminated "NAME=value", replacing NAME */
	const char *const *env_remove; /* NULL-terminated names ("NOTIFY_SOCKET") */
	/* stdout and stderr: captured into a pipe the runner reads (rv_proc_output;
	 * its tail goes into failure messages), and also appended to log_fd when > 0;
	 * not captured: straight into log_fd, or /dev/null when log_fd <= 0. */
	bool capture;
	int log_fd;
	const int *keep_fds; /* inherited at the same numbers (each >= 3) */
	size_t n_keep_fds;
	const char *cwd;      /* chdir in the child first; NULL: stay */
	/* Double fork and setsid: re-parented away (no zombie, ^C on our terminal does
	 * not reach it) and never waited for; capture is not possible. */
	bool detached;
	/* SIGKILL the child when the thread that spawned it ends (PR_SET_PDEATHSIG):
	 * a tool must not outlive a regvault killed outright. */
	bool die_with_parent;
	/* With die_with_parent, for a server that must not outlive us (a drill's scratch
	 * member): one fork, setsid in the child (^C on our terminal does not reach it),
	 * and rv_proc_free leaves it running. It stays our child: whoever stops it reaps
	 * it with rv_proc_reap_pid. */
	bool own_session;
	/* Called in the parent with the child's pid before the child execs; a negative
	 * return makes the child exit without exec, and rv_proc_spawn returns it (so a
	 * pid file can be written before anything runs unrecorded). */
	int (*before_exec)(pid_t pid, void *ud);
	void *before_exec_ud;
	int timeout_ms; /* rv_proc_run's deadline; <= 0: 60 s */
	int grace_ms;   /* SIGTERM to SIGKILL when a wait gives up; <= 0: 1 s */
	const struct rv_cancel *cancel; /* rv_proc_run's */
};
struct rv_proc;
/* Find name in PATH (as is when it holds a '/'); -ENOENT or -EACCES otherwise. */
int rv_proc_find_program(const char *name, char *out, size_t len);
/* Start o->argv. Errors name the program: -ENOENT when it is not found, the exec's
 * errno (-ENOEXEC, -EACCES) when it cannot be executed. */
int rv_proc_spawn(const struct rv_proc_opts *o, struct rv_proc **out);
pid_t rv_proc_pid(const struct rv_proc *p);
/* Wait until every one of procs (none detached) has exited, reading their output.
 * Past timeout_ms (<= 0: 60 s), or as soon as c is cancelled, each one still
 * running gets SIGTERM, then SIGKILL after its grace, and is reaped: -ETIMEDOUT or
 * -EINTR with a sentence that says so. 0 when all exited by themselves, whatever
 * their status. */
int rv_proc_wait_all(struct rv_proc *const *procs, size_t n, int timeout_ms, const struct rv_cancel *c);
/* After the wait: the waitpid status (WIFEXITED...), -1 when not reaped. */
int rv_proc_status(const struct rv_proc *p);
/* The last RV_PROC_OUTPUT_MAX bytes the child wrote, trailing blanks trimmed
 * ("" when not captured). */
#define RV_PROC_OUTPUT_MAX 65536
const char *rv_proc_output(const struct rv_proc *p);
/* Record "<what> exited with status N" (or "was killed by signal N") and the last
 * lines of its output; returns -EIO. */
int rv_proc_fail_exit(const struct rv_proc *p);
/* A child still running is killed and reaped; a detached or own_session one is
 * left alone. */
void rv_proc_free(struct rv_proc *p);
/* Reap pid if it is a child of ours that has exited (never waits): true when it
 * was reaped. For own_session children, once they are stopped. */
bool rv_proc_reap_pid(pid_t pid);
/* Spawn, wait (o->timeout_ms, o->cancel) and check: 0 when it exited 0, -EIO from
 * rv_proc_fail_exit otherwise, or what the spawn or the wait returned. status (the
 * waitpid status, -1 when none) and output (malloc'd; "" when not captured) may be
 * NULL. */
int rv_proc_run(const struct rv_proc_opts *o, int *status, char **output);

/* ---- logging (log.c): stderr, never secrets ---- */
enum rv_log_level { RV_LOG_ERROR, RV_LOG_WARN, RV_LOG_INFO, RV_LOG_DEBUG };
extern int rv_log_verbosity; /* RV_LOG_INFO by default; -v raises it */
void rv_log(enum rv_log_level lvl, const char *fmt, ...) RV_PRINTF(2, 3);
/* How lines start: plain, journald's "<N>" priority, or a UTC timestamp. The edge
 * (CLI, daemon) chooses; rv_log_format_from_env() says JOURNAL when stderr is the
 * stream $JOURNAL_STREAM names, else PLAIN. */
enum rv_log_format { RV_LOG_FORMAT_PLAIN, RV_LOG_FORMAT_JOURNAL, RV_LOG_FORMAT_TIMESTAMPS };
void rv_log_set_format(enum rv_log_format f);
enum rv_log_format rv_log_format_from_env(void);
/* Write the start of a line of priority lvl (for messages printed at the edge). */
void rv_log_begin_line(enum rv_log_level lvl, FILE *f);
#define rv_debug(...) rv_log(RV_LOG_DEBUG, __VA_ARGS__)
#define rv_info(...) rv_log(RV_LOG_INFO, __VA_ARGS__)
#define rv_warn(...) rv_log(RV_LOG_WARN, __VA_ARGS__)

/* ---- growable buffer (buf.c) ---- */
struct rv_buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len, cap;
};
int rv_buf_append(struct rv_buf *b, const void *p, size_t n);
int rv_buf_printf(struct rv_buf *b, const char *fmt, ...) RV_PRINTF(2, 3);
int rv_buf_vprintf(struct rv_buf *b, const char *fmt, va_list ap);
void rv_buf_free(struct rv_buf *b);
char *rv_strdup(const char *s); /* NULL-safe; aborts on OOM like xstrdup */
void *rv_xmalloc(size_t n);
void *rv_xcalloc(size_t n, size_t sz);
void *rv_xrealloc(void *p, size_t n);

/* ---- files (fs.c) ---- */
int rv_write_all(int fd, const void *p, size_t n);
int rv_read_full(int fd, void *p, size_t n, size_t *got); /* stops at EOF */
int rv_read_file(const char *path, char **out, size_t *len, size_t max);
int rv_fsync_dir(const char *dir);
int rv_fsync_parent(const char *path);
/* text to path atomically (temporary file beside it, mode 0600, fsync, rename). */
int rv_write_file_atomic(const char *path, const char *text);
int rv_mkdir_p(const char *path, unsigned mode);
bool rv_path_exists(const char *path);
/* Refuse a secret file other users can read: returns -EPERM with a message. */
int rv_check_secret_file(const char *path, const char *what);
/* Read a one-line secret (trailing newline stripped). */
int rv_read_secret_file(const char *path, const char *what, char **out);
/* Free space in bytes on the filesystem holding path. */
int rv_fs_free_bytes(const char *path, uint64_t *out);
/* Same filesystem? */
int rv_same_fs(const char *a, const char *b, bool *same);

/* ---- time (time.c) ---- */
double rv_now_mono(void);   /* seconds, monotonic */
int64_t rv_now_unix(void);  /* seconds since the epoch, UTC */
int64_t rv_now_unix_ms(void); /* milliseconds since the epoch, UTC */
void rv_sleep_ms(int64_t ms);
/* 20261121T215213Z (16 chars + NUL) */
void rv_utc_compact(int64_t unix_s, char out[17]);
/* 2026-11-21T21:52:13Z (20 chars + NUL) */
void rv_utc_rfc3339(int64_t unix_s, char out[21]);
int rv_parse_rfc3339(const char *s, int64_t *unix_s);
int rv_parse_utc_compact(const char *s, int64_t *unix_s);

/* ---- units (units.c) ---- */
/* "22MiB", "200 MB", "2300", "1.5GiB" -> bytes. */
int rv_parse_size(const char *s, uint64_t *out);
/* "60s", "500ms", "1h30m", "2d", "90" (seconds) -> milliseconds. */
int rv_parse_duration_ms(const char *s, int64_t *out_ms);
/* "284.1 MB" style, decimal, for humans. buf >= 16. */
const char *rv_fmt_bytes(uint64_t n, char *buf, size_t len);
/* s with control characters written as \n \r \t \xNN, for terminals: names
 * that come from a store may hold any byte. Returns s itself when it has none,
 * else buf (truncated to len). */
const char *rv_printable(const char *s, char *buf, size_t len);
/* The same, written to f, except a line break into an indented (4-space)
 * line, which messages use to quote logs. */
void rv_fputs_printable(const char *s, FILE *f);
/* "1.2 s", "3m05s". buf >= 16. */
const char *rv_fmt_duration(double seconds, char *buf, size_t len);

/* ---- progress ----
 * Modules report the progress of long work through a callback: what ("snapshot",
 * "fetch", "copy", "verify", "diskcheck", "perfcheck"), done of total bytes (total 0:
 * not known yet; (0, 0): starting over). Only the edge draws it. */
typedef void (*rv_progress_fn)(void *ud, const char *what, uint64_t done, uint64_t total);

/* ---- drawing progress on a terminal (progress.c), for the edge ---- */
struct rv_progress {
	const char *label;
	uint64_t total; /* 0 = unknown */
	uint64_t done;
	double started, last_draw;
	bool enabled;
};
extern bool rv_progress_disabled; /* --no-progress */
void rv_progress_start(struct rv_progress *p, const char *label, uint64_t total);
void rv_progress_update(struct rv_progress *p, uint64_t done);
void rv_progress_end(struct rv_progress *p);

/* ---- test points (test_point.c) ---- */
/* In test builds only: SIGKILL when $RV_TEST_CRASH_AT names point, SIGTERM when
 * $RV_TEST_SIGNAL_AT does (to the process, then waiting $RV_TEST_SIGNAL_PAUSE_MS
 * if set, for a daemon that reads signals in its loop), SIGSTOP to process PID
 * (once) when $RV_TEST_SIGSTOP_AT is POINT:PID. A no-op in the packaged build. */
void rv_test_point(const char *point);
/* True the first time it is reached when $RV_TEST_FAIL_AT names point: a fault the
 * caller then makes up (a call's answer lost). Always false in the packaged build. */
bool rv_test_fail_once(const char *point);

/* ---- misc (util.c) ---- */
/* Hex-encode n bytes into out (2n+1). */
void rv_hex(const uint8_t *in, size_t n, char *out);
/* '0'-'9', 'a'-'f', 'A'-'F' -> 0..15; -1 otherwise. */
int rv_hex_nibble(char c);
int rv_unhex(const char *in, uint8_t *out, size_t n);
bool rv_str_has_suffix(const char *s, const char *suffix);
/* Edit distance (optimal string alignment: a swap of neighbours is one edit). */
int rv_edit_distance(const char *a, const char *b);
/* A free TCP port on 127.0.0.1 (bind to 0), for scratch clusters. */
int rv_free_port(int *port);

#endif
