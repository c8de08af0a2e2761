/* job_lock.c - one lock per job, so that the daemon and a one-shot command never
 * run the same job at once.
 *
 * flock(2) on state_dir/locks/<job>.lock: the kernel drops it when the holder's
 * descriptor closes, so a holder that crashed or was killed frees it, and there is
 * no stale lock to clean up. The descriptor is close-on-exec, so the etcd a drill
 * starts does not inherit it. After taking the lock a holder writes a record,
 * "<pid> <unix seconds> <holder>" padded to a fixed size, so that a record is
 * always overwritten whole: the exclusive holder in the first slot of an emptied
 * file, each shared holder in the first slot no live process holds. The one
 * refused reads them to say who holds the job. */
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
#define MAX_SLOTS 64
/* How long a refused taker waits for a holder that has the lock but has not yet
 * written its record. */
#define RECORD_WAIT_MS 250
#define POLL_MS 100

struct job_lock {
	int fd;
	bool shared;
	off_t at; /* our record */
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

/* A complete record of a process that is alive: its pid, since and holder. */
static bool record_live(char rec[RECORD_SIZE + 1], ssize_t n, long *pid, long long *since, char **holder)
{
	int at = 0;
	if (n != RECORD_SIZE || rec[RECORD_SIZE - 1] != '\n')
		return false;
	rec[RECORD_SIZE - 1] = 0;
	if (sscanf(rec, "%ld %lld %n", pid, since, &at) != 2 || at == 0 || *pid <= 0)
		return false;
	if (kill((pid_t)*pid, 0) < 0 && errno != EPERM)
		return false; /* left by a holder that is gone */
	char *end = rec + RECORD_SIZE - 1;
	while (end > rec + at && end[-1] == ' ')
		end--;
	*end = 0;
	*holder = rec + at;
	return true;
}

static void write_record(struct job_lock *l, const char *holder)
{
	char rec[RECORD_SIZE], cur[RECORD_SIZE + 1];
	int n = snprintf(rec, sizeof rec, "%ld %lld ", (long)getpid(), (long long)rv_now_unix());
	/* The holder on one line: it is printed to whoever is refused. */
	for (const char *p = holder ? holder : "?"; *p && n < RECORD_SIZE - 2; p++)
		rec[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
	memset(rec + n, ' ', (size_t)(RECORD_SIZE - 1 - n));
	rec[RECORD_SIZE - 1] = '\n';
	l->at = 0;
	if (!l->shared) {
		if (ftruncate(l->fd, 0) < 0) {
			/* the slot is overwritten whole anyway */
		}
	} else {
		for (int i = 0; i < MAX_SLOTS; i++) {
			long pid;
			long long since;
			char *h;
			l->at = (off_t)i * RECORD_SIZE;
			if (!record_live(cur, pread(l->fd, cur, RECORD_SIZE, l->at), &pid, &since, &h))
				break;
		}
	}
	/* Best effort: the lock is what excludes; the record only names the holder. */
	if (pwrite(l->fd, rec, sizeof rec, l->at) < 0)
		return;
}

/* The sentence for a job that is held: the first live holder's record. */
static int busy(int fd, enum job_kind k, const char *path)
{
	const char *job = job_kind_name(k);
	for (int waited = 0;; waited += 10) {
		for (int i = 0; i < MAX_SLOTS; i++) {
			char rec[RECORD_SIZE + 1], *holder, when[21];
			long pid;
			long long since;
			ssize_t n = pread(fd, rec, RECORD_SIZE, (off_t)i * RECORD_SIZE);
			if (n <= 0)
				break;
			if (!record_live(rec, n, &pid, &since, &holder))
				continue;
			rv_utc_rfc3339(since, when);
			return rv_fail(-EBUSY, "job %s is already running in %s (pid %ld, since %s); try again when it has finished",
				       job, *holder ? holder : "another process", pid, when);
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
	struct job_lock *l = rv_xcalloc(1, sizeof *l);
	l->fd = fd;
	l->shared = shared;
	write_record(l, holder);
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
	/* Clear the records while holding the lock alone; a shared holder that is not
	 * the last (the upgrade fails while another holds it too) blanks its own. A
	 * record left behind names a pid that is gone once we exit: readers skip it. */
	if (!l->shared || flock(l->fd, LOCK_EX | LOCK_NB) == 0) {
		if (ftruncate(l->fd, 0) < 0) {
			/* see above */
		}
	} else {
		char blank[RECORD_SIZE];
		memset(blank, ' ', sizeof blank);
		blank[RECORD_SIZE - 1] = '\n';
		if (pwrite(l->fd, blank, sizeof blank, l->at) < 0) {
			/* see above */
		}
	}
	close(l->fd);
	free(l);
}
