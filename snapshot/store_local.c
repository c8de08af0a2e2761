/* store_local.c - a store in a local directory.
 *
 * A write goes to <dir>/.<name>.tmp-<pid>-<rand>; commit fsyncs it, renames it to
 * <dir>/<name> without replacing an existing object (two saves never overwrite each
 * other), and fsyncs the directory, so the name appears only with complete, durable
 * contents. list ignores dot-files (temporary files, the lock). cleanup removes
 * temporary files whose writer process is gone. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/common.h"
#include "snapshot/store_impl.h"

struct local_store {
	struct store base;
	char *dir;
};

struct local_writer {
	struct store_writer base;
	struct local_store *ls;
	int fd;
	char *tmp_path, *final_path, *name;
	uint64_t written, flushed; /* bytes written; bytes handed to writeback */
};

/* Start writeback every few MiB while the stream runs, so that the fsync at commit
 * finds little left to write (and dirty pages do not pile up). */
#define WRITEBACK_STEP (8u << 20)

/* Names a commit tries after its own is taken (next_name). */
#define NEXT_NAME_TRIES 100

static struct local_store *LS(struct store *s)
{
	return (struct local_store *)s;
}

/* Names are flat: no '/', not "." or "..", not empty, not a dot-file. */
static int check_name(const struct local_store *ls, const char *name)
{
	if (!name || !*name || name[0] == '.' || strchr(name, '/'))
		return rv_fail(-EINVAL, "'%s' is not a valid object name in store %s", name ? name : "",
			       ls->dir);
	return 0;
}

static char *path_of(const struct local_store *ls, const char *name)
{
	struct rv_buf b = {0};
	rv_buf_printf(&b, "%s/%s", ls->dir, name);
	return b.data;
}

static int open_local(const struct store_spec *spec, const char *location, struct store **out)
{
	struct local_store *ls;
	struct stat st;
	size_t len = strlen(location);
	(void)spec;

	/* file:///x gives "/x"; keep a relative path relative. */
	while (len > 1 && location[len - 1] == '/')
		len--;
	if (stat(location, &st) < 0) {
		int e = errno;
		char *parent = rv_strdup(location), *slash;
		if (e != ENOENT) {
			free(parent);
			return rv_fail(-e, "cannot use store directory %s: %s", location, strerror(e));
		}
		parent[len] = '\0';
		slash = strrchr(parent, '/');
		if (slash == parent)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		else
			strcpy(parent, ".");
		if (!rv_path_exists(parent)) {
			int r = rv_fail(-ENOENT,
					"store directory %s does not exist, nor does its parent %s; create it or set store.url",
					location, parent);
			free(parent);
			return r;
		}
		free(parent);
		if (mkdir(location, 0750) < 0 && errno != EEXIST)
			return rv_fail(-errno, "cannot create store directory %s: %s", location, strerror(errno));
		rv_fsync_parent(location);
	} else if (!S_ISDIR(st.st_mode)) {
		return rv_fail(-ENOTDIR, "store %s is not a directory", location);
	}
	ls = rv_xcalloc(1, sizeof *ls);
	ls->dir = rv_xmalloc(len + 1);
	memcpy(ls->dir, location, len);
	ls->dir[len] = '\0';
	*out = &ls->base;
	return 0;
}

static void close_local(struct store *s)
{
	struct local_store *ls = LS(s);
	free(ls->dir);
	free(ls);
}

static int put_begin(struct store *s, const char *name, uint64_t expected_size, struct store_writer **w)
{
	struct local_store *ls = LS(s);
	struct local_writer *lw;
	struct rv_buf tmp = {0};
	unsigned rnd;
	int fd, r;
	(void)expected_size;

	if ((r = check_name(ls, name)) < 0)
		return r;
	if (access(ls->dir, W_OK | X_OK) < 0)
		return rv_fail(-errno, "cannot write to store directory %s: %s", ls->dir, strerror(errno));
	rnd = (unsigned)random() ^ (unsigned)(rv_now_mono() * 1e6);
	rv_buf_printf(&tmp, "%s/.%s.tmp-%ld-%08x", ls->dir, name, (long)getpid(), rnd);
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0) {
		r = rv_fail(-errno, "cannot create %s in store %s: %s", name, ls->dir, strerror(errno));
		rv_buf_free(&tmp);
		return r;
	}
	lw = rv_xcalloc(1, sizeof *lw);
	lw->ls = ls;
	lw->fd = fd;
	lw->tmp_path = tmp.data;
	lw->final_path = path_of(ls, name);
	lw->name = rv_strdup(name);
	*w = &lw->base;
	return 0;
}

static int put_write(struct store_writer *w, const void *p, size_t n)
{
	struct local_writer *lw = (struct local_writer *)w;
	int e = -rv_write_all(lw->fd, p, n);
	if (e) {
		if (e == ENOSPC)
			return rv_fail(-ENOSPC, "store %s is full while writing %s; free space or prune", lw->ls->dir,
				       lw->name);
		return rv_fail(-e, "cannot write %s in store %s: %s", lw->name, lw->ls->dir, strerror(e));
	}
	lw->written += n;
	if (lw->written - lw->flushed >= WRITEBACK_STEP) {
		/* Asynchronous and advisory: fsync at commit is what makes it durable. */
		sync_file_range(lw->fd, (off64_t)lw->flushed, (off64_t)(lw->written - lw->flushed),
				SYNC_FILE_RANGE_WRITE);
		lw->flushed = lw->written;
	}
	return 0;
}

static void writer_free(struct local_writer *lw)
{
	if (lw->fd >= 0)
		close(lw->fd);
	free(lw->tmp_path);
	free(lw->final_path);
	free(lw->name);
	free(lw);
}

static void put_abort(struct store_writer *w)
{
	struct local_writer *lw = (struct local_writer *)w;
	unlink(lw->tmp_path);
	writer_free(lw);
}

static int put_commit(struct store_writer *w)
{
	struct local_writer *lw = (struct local_writer *)w;
	int r = 0;

	if (fsync(lw->fd) < 0)
		r = rv_fail(-errno, "cannot flush %s to disk in store %s: %s", lw->name, lw->ls->dir,
			    strerror(errno));
	else if (close(lw->fd) < 0)
		r = rv_fail(-errno, "cannot close %s in store %s: %s", lw->name, lw->ls->dir, strerror(errno));
	lw->fd = -1;
	/* RENAME_NOREPLACE: an object that exists is never replaced; the writer's
	 * next_name gives another name to try. */
	for (int tries = 0; r == 0; tries++) {
		char next[256];
		int e;
		if (renameat2(AT_FDCWD, lw->tmp_path, AT_FDCWD, lw->final_path, RENAME_NOREPLACE) == 0)
			break;
		e = errno;
		if (e == EEXIST && lw->base.next_name && tries < NEXT_NAME_TRIES &&
		    lw->base.next_name(lw->name, next, sizeof next, lw->base.next_name_ud) == 0 &&
		    check_name(lw->ls, next) == 0) {
			free(lw->name);
			free(lw->final_path);
			lw->name = rv_strdup(next);
			lw->final_path = path_of(lw->ls, next);
			continue;
		}
		if (e == EEXIST)
			r = rv_fail(-EEXIST, "%s already exists in store %s", lw->name, lw->ls->dir);
		else
			r = rv_fail(-e, "cannot publish %s in store %s: %s", lw->name, lw->ls->dir, strerror(e));
	}
	if (r == 0 && rv_fsync_dir(lw->ls->dir) < 0)
		r = rv_fail(-EIO, "cannot flush store directory %s to disk after publishing %s", lw->ls->dir,
			    lw->name);
	if (r < 0)
		unlink(lw->tmp_path);
	writer_free(lw);
	return r;
}

static int get_local(struct store *s, const char *name, uint64_t offset, uint64_t len, store_read_cb cb,
		     void *ud)
{
	struct local_store *ls = LS(s);
	char *path;
	char *buf;
	int fd, r = 0;
	uint64_t left = len ? len : UINT64_MAX;
	const size_t bufsz = 1 << 20;

	if ((r = check_name(ls, name)) < 0)
		return r;
	path = path_of(ls, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			r = rv_fail(-ENOENT, "%s is not in store %s", name, ls->dir);
		else
			r = rv_fail(-errno, "cannot read %s in store %s: %s", name, ls->dir, strerror(errno));
		free(path);
		return r;
	}
	buf = rv_xmalloc(bufsz);
	while (left > 0) {
		size_t want = left < bufsz ? (size_t)left : bufsz;
		ssize_t got;
		if (rv_cancelled(s->cancel)) {
			r = rv_fail(-EINTR, "reading %s in store %s was interrupted", name, ls->dir);
			break;
		}
		got = pread(fd, buf, want, (off_t)offset);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			r = rv_fail(-errno, "cannot read %s in store %s: %s", name, ls->dir, strerror(errno));
			break;
		}
		if (got == 0)
			break;
		offset += (uint64_t)got;
		left -= (uint64_t)got;
		if ((r = cb(buf, (size_t)got, ud)) != 0)
			break;
	}
	free(buf);
	close(fd);
	free(path);
	return r;
}

static int stat_local(struct store *s, const char *name, struct store_object *out)
{
	struct local_store *ls = LS(s);
	struct stat st;
	char *path;
	int r;

	if ((r = check_name(ls, name)) < 0)
		return r;
	path = path_of(ls, name);
	r = stat(path, &st);
	free(path);
	if (r < 0) {
		if (errno == ENOENT)
			return rv_fail(-ENOENT, "%s is not in store %s", name, ls->dir);
		return rv_fail(-errno, "cannot stat %s in store %s: %s", name, ls->dir, strerror(errno));
	}
	if (out) {
		out->name = rv_strdup(name);
		out->size = (uint64_t)st.st_size;
		out->mtime = st.st_mtime;
	}
	return 0;
}

static int list_local(struct store *s, const char *prefix, const char *start_after, struct store_object **objs,
		      size_t *n)
{
	size_t plen = prefix ? strlen(prefix) : 0;
	struct local_store *ls = LS(s);
	DIR *d = opendir(ls->dir);
	struct dirent *e;
	struct store_object *v = NULL;
	size_t cnt = 0, cap = 0;

	if (!d)
		return rv_fail(-errno, "cannot list store directory %s: %s", ls->dir, strerror(errno));
	while ((e = readdir(d))) {
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		if ((plen && strncmp(e->d_name, prefix, plen) != 0) || (start_after && strcmp(e->d_name, start_after) <= 0))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			v = rv_xrealloc(v, cap * sizeof *v);
		}
		v[cnt].name = rv_strdup(e->d_name);
		v[cnt].size = (uint64_t)st.st_size;
		v[cnt].mtime = st.st_mtime;
		cnt++;
	}
	closedir(d);
	*objs = v;
	*n = cnt;
	return 0;
}

static int del_local(struct store *s, const char *name)
{
	struct local_store *ls = LS(s);
	char *path;
	int r;

	if ((r = check_name(ls, name)) < 0)
		return r;
	path = path_of(ls, name);
	r = unlink(path);
	free(path);
	if (r < 0) {
		if (errno == ENOENT)
			return rv_fail(-ENOENT, "%s is not in store %s", name, ls->dir);
		return rv_fail(-errno, "cannot delete %s from store %s: %s", name, ls->dir, strerror(errno));
	}
	rv_fsync_dir(ls->dir);
	return 0;
}

/* ".<name>.tmp-<pid>-<rand>": the writer's pid, or 0 when the name is not ours. */
static pid_t tmp_writer_pid(const char *fname)
{
	const char *t = strstr(fname, ".tmp-");
	const char *last = NULL;
	char *end;
	long pid;

	if (fname[0] != '.' || !t)
		return 0;
	while (t) { /* the last ".tmp-" (a name may contain one) */
		last = t;
		t = strstr(t + 1, ".tmp-");
	}
	pid = strtol(last + 5, &end, 10);
	if (pid <= 0 || *end != '-')
		return 0;
	return (pid_t)pid;
}

static int cleanup_local(struct store *s)
{
	struct local_store *ls = LS(s);
	DIR *d = opendir(ls->dir);
	struct dirent *e;
	int removed = 0;

	if (!d)
		return rv_fail(-errno, "cannot list store directory %s: %s", ls->dir, strerror(errno));
	while ((e = readdir(d))) {
		pid_t pid = tmp_writer_pid(e->d_name);
		if (pid <= 0)
			continue;
		/* A live writer (ours or another save) keeps its file. */
		if (kill(pid, 0) == 0 || errno == EPERM)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			rv_debug("removed %s/%s left by a killed write", ls->dir, e->d_name);
			removed++;
		}
	}
	closedir(d);
	if (removed)
		rv_fsync_dir(ls->dir);
	return 0;
}

const struct store_ops store_local_ops = {
	.kind = "local",
	.open = open_local,
	.close = close_local,
	.put_begin = put_begin,
	.put_write = put_write,
	.put_commit = put_commit,
	.put_abort = put_abort,
	.get = get_local,
	.stat = stat_local,
	.list = list_local,
	.del = del_local,
	.cleanup = cleanup_local,
};
