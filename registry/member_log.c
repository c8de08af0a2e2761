/* member_log.c - keep a member's log (<data_dir>.log) bounded over months of running.
 *
 * The running etcd holds the log open with O_APPEND and cannot be told to reopen it,
 * so rotation copies and truncates (logrotate's copytruncate): the older files shift
 * (.log.1 -> .log.2 ...), the live file is copied to .log.1, then truncated in place;
 * etcd's next write lands at offset 0. Lines written between the copy and the truncate
 * are lost, a window of a few milliseconds once per rotation. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "registry/registry.h"

static int copy_fd_to_new_file(int in, const char *dest, uint64_t max)
{
	char tmp[4096 + 8];
	snprintf(tmp, sizeof tmp, "%s.tmp", dest);
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	char buf[65536];
	uint64_t done = 0;
	int r = 0;
	while (done < max) {
		size_t want = sizeof buf;
		if (max - done < want)
			want = (size_t)(max - done);
		ssize_t n = pread(in, buf, want, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		if ((r = rv_write_all(out, buf, (size_t)n)) < 0)
			break;
		done += (uint64_t)n;
	}
	if (close(out) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, dest) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int member_log_rotate(const struct member_spec *m, uint64_t max_bytes, int keep, bool *rotated)
{
	char path[4096], older[4096 + 16], newer[4096 + 16];
	*rotated = false;
	if (keep < 1)
		keep = 1;
	member_log_path(m, path, sizeof path);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : rv_fail(-errno, "cannot open the log of member %s (%s): %s", m->name, path,
						     strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size <= max_bytes) {
		close(fd);
		return 0;
	}
	for (int i = keep - 1; i >= 1; i--) {
		snprintf(older, sizeof older, "%s.%d", path, i + 1);
		snprintf(newer, sizeof newer, "%s.%d", path, i);
		if (rename(newer, older) < 0 && errno != ENOENT) {
			int e = errno;
			close(fd);
			return rv_fail(-e, "cannot rotate the log of member %s: renaming %s: %s", m->name, newer,
				       strerror(e));
		}
	}
	snprintf(newer, sizeof newer, "%s.1", path);
	int r = copy_fd_to_new_file(fd, newer, (uint64_t)st.st_size);
	if (r == 0 && ftruncate(fd, 0) < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		return rv_fail(r, "cannot rotate the log of member %s (%s): %s; free space on its disk", m->name, path,
			       strerror(-r));
	*rotated = true;
	return 0;
}
