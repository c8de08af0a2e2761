/* job_lock.c - one lock per job, so that the daemon and a one-shot command never
 * run the same job at once.
 *
 * flock(2) on state_dir/locks/<job>.lock: the kernel drops it when the holder's
 * descriptor closes, so a holder that crashed or was killed frees it, and there is
 * no stale lock to clean up. The descriptor is close-on-exec, so the etcd a drill
 * starts does not inherit it. After taking the lock the holder writes one record,
 * "<pid> <unix seconds> <holder>" padded to a fixed size at offset 0, so that a
 * record is always overwritten whole; the one refused reads it to say who holds
 * the job. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/common.h"
#include "scheduler/scheduler.h"

#define RECORD_SIZE 256
/* How long a refused taker waits for a holder that has the lock but has not yet
 * written its record. */
#define RECORD_WAIT_MS 250
#define POLL_MS 100

struct job_lock {
	int fd;
	bool shared;
};

static int open_lock(const char *state_dir, enum job_kind k, char *path, size_t len, int *fd)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/locks", state_dir);
	int r = rv_mkdir_p(dir, 0700);
	if (r < 0)
		return rv_fail(r, "cannot create the job lock directory %s: %s; set state_dir in the configuration to a "
				  "directory regvault can write",
			       dir, strerror(-r));
	snprintf(path, len, "%s/%s.lock", dir, job_kind_name(k));
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0)
		return rv_fail(-errno, "cannot open the lock of job %s, %s: %s", job_kind_name(k), path, strerror(errno));
	return 0;
}

static void write_record(int fd, const char *holder)
{
	char rec[RECORD_SIZE];
	int n = snprintf(rec, sizeof rec, "%ld %lld ", (long)getpid(), (long long)rv_now_unix());
	/* The holder on one line: it is printed to whoever is refused. */
	for (const char *p = holder ? holder : "?"; *p && n < RECORD_SIZE - 2; p++)
		rec[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
	memset(rec + n, ' ', (size_t)(RECORD_SIZE - 1 - n));
	rec[RECORD_SIZE - 1] = '\n';
	/* Best effort: the lock is what excludes; the record only names the holder. */
	if (pwrite(fd, rec, sizeof rec, 0) < 0)
		return;
}

/* The sentence for a job that is held: the holder's record, once it is complete
 * and names a live process (a record may still be the one a dead holder left). */
static int busy(int fd, enum job_kind k, const char *path)
{
	const char *job = job_kind_name(k);
	for (int waited = 0;; waited += 10) {
		char rec[RECORD_SIZE + 1];
		ssize_t n = pread(fd, rec, RECORD_SIZE, 0);
		long pid;
		long long since;
		int at = 0;
		if (n > 0) {
			rec[n] = 0;
			char *nl = strchr(rec, '\n');
			if (nl && sscanf(rec, "%ld %lld %n", &pid, &since, &at) == 2 && at > 0 && pid > 0 &&
			    (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
				char *holder = rec + at, *end = nl;
				while (end > holder && end[-1] == ' ')
					end--;
				*end = 0;
				char when[21];
				rv_utc_rfc3339(since, when);
				return rv_fail(-EBUSY, "job %s is already running in %s (pid %ld, since %s); try again when it has finished",
					       job, *holder ? holder : "another process", pid, when);
			}
		}
		if (waited >= RECORD_WAIT_MS)
			break;
		rv_sleep_ms(10);
	}
	return rv_fail(-EBUSY, "job %s is already running (a process holds its lock %s without saying which); try again when it has finished",
		       job, path);
}

static int take(const char *state_dir, enum job_kind k, const char *holder, bool shared, bool wait,
		const struct rv_cancel *cancel, struct job_lock **out)
{
	char path[PATH_MAX];
	int fd = -1, r;

	*out = NULL;
	if ((r = open_lock(state_dir, k, path, sizeof path, &fd)) < 0)
		return r;
	while (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		int e = errno;
		if (e == EINTR)
			continue;
		if (e != EWOULDBLOCK) {
			close(fd);
			return rv_fail(-e, "cannot lock %s (job %s): %s", path, job_kind_name(k), strerror(e));
		}
		if (!wait) {
			r = busy(fd, k, path);
			close(fd);
			return r;
		}
		if (rv_sleep_cancellable(POLL_MS, cancel) < 0) {
			r = busy(fd, k, path);
			close(fd);
			return rv_fail_wrap(-EINTR, "cancelled while waiting for job %s", job_kind_name(k));
		}
	}
	write_record(fd, holder);
	struct job_lock *l = rv_xcalloc(1, sizeof *l);
	l->fd = fd;
	l->shared = shared;
	*out = l;
	return 0;
}

int job_lock_take(const char *state_dir, enum job_kind k, const char *holder, bool wait,
		  const struct rv_cancel *cancel, struct job_lock **out)
{
	return take(state_dir, k, holder, false, wait, cancel, out);
}

int job_lock_take_shared(const char *state_dir, enum job_kind k, const char *holder, struct job_lock **out)
{
	return take(state_dir, k, holder, true, false, NULL, out);
}

void job_lock_release(struct job_lock *l)
{
	if (!l)
		return;
	/* Clear the record while still holding the lock alone; a shared holder only
	 * when it is the last (the upgrade fails while another holds it too). */
	if (!l->shared || flock(l->fd, LOCK_EX | LOCK_NB) == 0) {
		if (ftruncate(l->fd, 0) < 0) {
			/* the record stays; its pid is dead once we exit, and readers check that */
		}
	}
	close(l->fd);
	free(l);
}
