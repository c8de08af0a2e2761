/* files.c - file system steps of a restore: renames that are durable, removal of
 * trees regvault made itself, the restore lock and atomic small files. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore/restore_impl.h"

void rs_parent(const char *path, char *out, size_t len)
{
	const char *slash;
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	slash = memrchr(path, '/', n);
	if (!slash) {
		snprintf(out, len, ".");
		return;
	}
	if (slash == path) {
		snprintf(out, len, "/");
		return;
	}
	snprintf(out, len, "%.*s", (int)(slash - path), path);
}

int rs_rename(const char *from, const char *to)
{
	char pf[PATH_MAX], pt[PATH_MAX];
	if (rename(from, to) < 0) {
		int e = -errno;
		return rv_fail(e, "cannot move %s to %s: %s", from, to, strerror(-e));
	}
	rs_parent(from, pf, sizeof pf);
	rs_parent(to, pt, sizeof pt);
	rv_fsync_dir(pf);
	if (strcmp(pf, pt) != 0)
		rv_fsync_dir(pt);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int rs_rmtree(const char *path)
{
	int r;
	if (!rv_path_exists(path))
		return 0;
	r = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (r < 0)
		r = -errno;
	if (r != 0)
		return rv_fail(r < 0 ? r : -EIO, "cannot remove %s: %s", path, strerror(r < 0 ? -r : EIO));
	return 0;
}

static uint64_t du_total;
static int du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F)
		du_total += (uint64_t)st->st_size;
	return 0;
}

uint64_t rs_du(const char *path)
{
	du_total = 0;
	nftw(path, du_one, 16, FTW_PHYS);
	return du_total;
}

int rs_lock(const char *state_dir, int *fd)
{
	char path[PATH_MAX];
	int r = rv_mkdir_p(state_dir, 0700);
	if (r < 0)
		return rv_fail(r, "cannot create the state directory %s: %s", state_dir, strerror(-r));
	snprintf(path, sizeof path, "%s/%s", state_dir, RS_LOCK_NAME);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return rv_fail(-errno, "cannot open the restore lock %s: %s", path, strerror(errno));
	/* The tools of a restore killed a moment ago hold the lock until they are gone,
	 * which takes them a moment after they were killed with it: wait that long. */
	int waited = 0;
	while ((r = flock(*fd, LOCK_EX | LOCK_NB)) < 0 && errno == EWOULDBLOCK && waited < RS_LOCK_WAIT_MS) {
		rv_sleep_ms(50);
		waited += 50;
	}
	if (r < 0) {
		int e = errno;
		close(*fd);
		*fd = -1;
		if (e == EWOULDBLOCK)
			return rv_fail(-EBUSY, "another restore, rollback or cleanup is running (it holds %s); wait for it to finish", path);
		return rv_fail(-e, "cannot lock %s: %s", path, strerror(e));
	}
	return 0;
}

void rs_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int rs_write_atomic(const char *path, const char *text)
{
	char tmp[PATH_MAX + 16];
	int fd, r;
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return rv_fail(-errno, "cannot write %s: %s", tmp, strerror(errno));
	r = rv_write_all(fd, text, strlen(text));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return rv_fail(r, "cannot write %s: %s", path, strerror(-r));
	}
	rv_fsync_parent(path);
	return 0;
}

void rs_note_kept_aside(struct restore_plan *p)
{
	for (size_t i = 0; i < p->n_members; i++)
		p->members[i].kept_aside = p->members[i].aside_dir[0] && rv_path_exists(p->members[i].aside_dir);
}

bool rs_is_mountpoint(const char *path)
{
	struct stat a, b;
	char parent[PATH_MAX];
	rs_parent(path, parent, sizeof parent);
	if (stat(path, &a) < 0 || stat(parent, &b) < 0)
		return false;
	return a.st_dev != b.st_dev;
}

static uid_t chown_uid;
static gid_t chown_gid;
static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, chown_uid, chown_gid) < 0 ? -errno : 0;
}

int rs_chown_like(const char *tree, const char *like)
{
	struct stat sb;
	int r;
	if (geteuid() != 0 || stat(like, &sb) < 0 || (sb.st_uid == 0 && sb.st_gid == 0))
		return 0;
	chown_uid = sb.st_uid;
	chown_gid = sb.st_gid;
	r = nftw(tree, chown_one, 16, FTW_PHYS);
	if (r != 0)
		return rv_fail(r < 0 ? r : -EIO, "cannot give %s the owner of %s (uid %d): %s", tree, like, (int)sb.st_uid,
			       strerror(r < 0 ? -r : EIO));
	return 0;
}

/* The staging dirs hold copies only (the fetched db, restored dirs not yet swapped
 * in): gone once a restore is over, whichever way it ended before the stop. */
void rs_remove_staging(const struct restore_plan *p)
{
	for (size_t i = 0; i < p->n_members; i++) {
		char dir[PATH_MAX];
		rs_parent(p->members[i].staged_dir, dir, sizeof dir);
		if (rs_rmtree(dir) < 0)
			rv_warn("%s", rv_errmsg(-EIO));
	}
	rv_err_clear();
}
