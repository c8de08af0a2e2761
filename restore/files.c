/* files.c - file system steps of a restore: renames that are durable, removal of
 * trees regvault made itself, the restore lock and atomic small files. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
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

/* Depth first, never following a symlink: fn sees every entry, a directory once
 * before its contents (post false) and once after (post true). What a walk needs
 * travels in ud, so two walks on two threads never meet (nftw's callback would
 * need globals). */
typedef int (*tree_fn)(int at, const char *name, const struct stat *st, bool post, void *ud);

static int walk_at(int at, const char *name, tree_fn fn, void *ud)
{
	struct stat st;
	struct dirent *e;
	int r, fd;
	DIR *d;

	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if ((r = fn(at, name, &st, false, ud)) != 0 || !S_ISDIR(st.st_mode))
		return r;
	if ((fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	if (!(d = fdopendir(fd))) {
		r = -errno;
		close(fd);
		return r;
	}
	for (;;) {
		errno = 0;
		if (!(e = readdir(d))) {
			r = -errno;
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((r = walk_at(fd, e->d_name, fn, ud)) != 0)
			break;
	}
	closedir(d);
	return r ? r : fn(at, name, &st, true, ud);
}

static int rm_one(int at, const char *name, const struct stat *st, bool post, void *ud)
{
	(void)ud;
	if (S_ISDIR(st->st_mode) && !post)
		return 0;
	if (unlinkat(at, name, S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int rs_rmtree(const char *path)
{
	int r;
	if (!rv_path_exists(path))
		return 0;
	r = walk_at(AT_FDCWD, path, rm_one, NULL);
	if (r < 0)
		return rv_fail(r, "cannot remove %s: %s", path, strerror(-r));
	return 0;
}

static int du_one(int at, const char *name, const struct stat *st, bool post, void *ud)
{
	(void)at;
	(void)name;
	(void)post;
	if (S_ISREG(st->st_mode))
		*(uint64_t *)ud += (uint64_t)st->st_size;
	return 0;
}

uint64_t rs_du(const char *path)
{
	uint64_t total = 0;
	walk_at(AT_FDCWD, path, du_one, &total);
	return total;
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

int restore_hold(const char *state_dir, int *fd, bool *held)
{
	char path[PATH_MAX];
	*held = false;
	*fd = -1;
	int r = rv_mkdir_p(state_dir, 0700);
	if (r < 0)
		return rv_fail(r, "cannot create the state directory %s: %s", state_dir, strerror(-r));
	snprintf(path, sizeof path, "%s/%s", state_dir, RS_LOCK_NAME);
	int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0)
		return rv_fail(-errno, "cannot open the restore lock %s: %s", path, strerror(errno));
	while ((r = flock(lfd, LOCK_SH | LOCK_NB)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		int e = errno;
		close(lfd);
		if (e == EWOULDBLOCK)
			return 0;
		return rv_fail(-e, "cannot lock %s: %s", path, strerror(e));
	}
	*fd = lfd;
	*held = true;
	return 0;
}

void restore_hold_release(int fd)
{
	if (fd >= 0)
		close(fd);
}

void rs_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
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

struct owner {
	uid_t uid;
	gid_t gid;
};

static int chown_one(int at, const char *name, const struct stat *st, bool post, void *ud)
{
	const struct owner *o = ud;
	(void)st;
	if (post)
		return 0;
	return fchownat(at, name, o->uid, o->gid, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

int rs_chown_like(const char *tree, const char *like)
{
	struct stat sb;
	int r;
	if (geteuid() != 0 || stat(like, &sb) < 0 || (sb.st_uid == 0 && sb.st_gid == 0))
		return 0;
	struct owner o = {sb.st_uid, sb.st_gid};
	r = walk_at(AT_FDCWD, tree, chown_one, &o);
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
