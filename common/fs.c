/* fs.c - file helpers: full reads and writes, fsync of directories (a rename is
 * durable only once its directory is synced), secrets that must stay private. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/common.h"

int rv_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int rv_read_full(int fd, void *p, size_t n, size_t *got)
{
	char *c = p;
	size_t done = 0;
	while (done < n) {
		ssize_t r = read(fd, c + done, n - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	if (got)
		*got = done;
	return 0;
}

int rv_read_file(const char *path, char **out, size_t *len, size_t max)
{
	struct rv_buf b = {0};
	char chunk[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			close(fd);
			rv_buf_free(&b);
			return e;
		}
		if (r == 0)
			break;
		rv_buf_append(&b, chunk, (size_t)r);
		if (max && b.len > max) {
			close(fd);
			rv_buf_free(&b);
			return -EFBIG;
		}
	}
	close(fd);
	if (!b.data)
		rv_buf_append(&b, "", 0);
	*out = b.data;
	if (len)
		*len = b.len;
	return 0;
}

int rv_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int rv_fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return rv_fsync_dir(".");
	if (slash == dir)
		slash[1] = 0;
	else
		*slash = 0;
	return rv_fsync_dir(dir);
}

int rv_mkdir_p(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

bool rv_path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int rv_check_secret_file(const char *path, const char *what)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return rv_fail(-errno, "cannot read %s %s: %s", what, path, strerror(errno));
	if (st.st_mode & (S_IROTH | S_IWOTH))
		return rv_fail(-EPERM,
			       "%s %s is readable by other users (mode %04o); restrict it with: chmod 600 %s",
			       what, path, (unsigned)(st.st_mode & 07777), path);
	return 0;
}

int rv_read_secret_file(const char *path, const char *what, char **out)
{
	char *s;
	size_t len;
	int r = rv_check_secret_file(path, what);
	if (r < 0)
		return r;
	r = rv_read_file(path, &s, &len, 65536);
	if (r < 0)
		return rv_fail(r, "cannot read %s %s: %s", what, path, strerror(-r));
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = 0;
	*out = s;
	return 0;
}

int rv_fs_free_bytes(const char *path, uint64_t *out)
{
	struct statvfs v;
	if (statvfs(path, &v) < 0)
		return -errno;
	*out = (uint64_t)v.f_bavail * v.f_frsize;
	return 0;
}

int rv_same_fs(const char *a, const char *b, bool *same)
{
	struct stat sa, sb;
	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return -errno;
	*same = sa.st_dev == sb.st_dev;
	return 0;
}

/* text to path: a temporary file beside it (0600), fsync, rename, fsync of the
 * directory; nothing is left half-written. */
int rv_write_file_atomic(const char *path, const char *text)
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
