/* diskcheck.c - the disk test etcd's operators run with fio
 * (--rw=write --ioengine=sync --fdatasync=1 --size=22m --bs=2300), native: the same
 * file layout as fio (fallocate the whole size first, drop its cache), then
 * sequential writes of one block, each followed by fdatasync, whose latency is
 * what the WAL feels. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "maint/maint.h"

#define DISKCHECK_MAX_BLOCK (64u << 20)
#define DISKCHECK_MAX_SIZE (64ull << 30)

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest rank on sorted values. */
static double percentile(const double *v, size_t n, double q)
{
	size_t rank = (size_t)ceil(q * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static int check_dir(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		return rv_fail_advice(-errno, RV_ADVICE_DISKCHECK_DIR, "cannot test the disk at %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return rv_fail_advice(-ENOTDIR, RV_ADVICE_DISKCHECK_DIR, "cannot test the disk at %s: it is not a directory", dir);
	return 0;
}

int maint_diskcheck(const struct maint_diskcheck_opts *o, struct maint_diskcheck_result *out)
{
	char path[PATH_MAX];
	uint64_t free_bytes = 0;
	double *lat = NULL;
	uint8_t *block = NULL;
	int fd = -1, r;

	memset(out, 0, sizeof *out);
	if (o->block_size == 0 || o->block_size > DISKCHECK_MAX_BLOCK)
		return rv_fail(-EINVAL, "the block size must be between 1 byte and 64 MiB, not %llu",
			       (unsigned long long)o->block_size);
	if (o->size < o->block_size || o->size > DISKCHECK_MAX_SIZE)
		return rv_fail(-EINVAL, "the size must be at least one block (%llu bytes) and at most 64 GiB, not %llu",
			       (unsigned long long)o->block_size, (unsigned long long)o->size);
	if (o->threshold_us <= 0)
		return rv_fail(-EINVAL, "the threshold must be more than 0");
	if ((r = check_dir(o->dir)) < 0)
		return r;
	snprintf(out->dir, sizeof out->dir, "%s", o->dir);
	out->threshold_us = o->threshold_us;

	snprintf(path, sizeof path, "%s/.regvault-diskcheck.%ld.tmp", o->dir, (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return rv_fail_advice(-errno, RV_ADVICE_DISKCHECK_DIR_WRITABLE, "cannot write a test file in %s: %s", o->dir,
				      strerror(errno));
	if (rv_fs_free_bytes(o->dir, &free_bytes) == 0 && free_bytes < o->size + (16u << 20)) {
		char need[16], have[16];
		r = rv_fail(-ENOSPC, "not enough free space in %s for the test: it needs %s, %s are free", o->dir,
			    rv_fmt_bytes(o->size + (16u << 20), need, sizeof need),
			    rv_fmt_bytes(free_bytes, have, sizeof have));
		goto out;
	}
	/* As fio lays the file out: allocated (size extended), then out of the cache. */
	if (fallocate(fd, 0, 0, (off_t)o->size) < 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
		r = rv_fail(-errno, "cannot allocate %llu bytes for the test file in %s: %s",
			    (unsigned long long)o->size, o->dir, strerror(errno));
		goto out;
	}
	posix_fadvise(fd, 0, (off_t)o->size, POSIX_FADV_DONTNEED);
	/* fio closes the laid-out file and opens it again for the run. */
	close(fd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = rv_fail(-errno, "cannot open the test file in %s again: %s", o->dir, strerror(errno));
		goto out;
	}
	posix_fadvise(fd, 0, (off_t)o->size, POSIX_FADV_DONTNEED);
	posix_fadvise(fd, 0, (off_t)o->size, POSIX_FADV_SEQUENTIAL);

	uint64_t n = o->size / o->block_size;
	lat = rv_xmalloc(n * sizeof *lat);
	block = rv_xmalloc(o->block_size);
	/* Random bytes, as fio writes: no filesystem can compress them away. */
	uint64_t x = (uint64_t)now_us() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < o->block_size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		block[i] = (uint8_t)x;
	}

	double start = now_us();
	for (uint64_t i = 0; i < n; i++) {
		if (o->progress)
			o->progress(o->progress_ud, "diskcheck", i * o->block_size, n * o->block_size);
		if (rv_cancelled(o->cancel)) {
			r = rv_fail(-EINTR, "the disk check in %s was interrupted after %llu writes; its test file is removed",
				    o->dir, (unsigned long long)i);
			goto out;
		}
		if ((r = rv_write_all(fd, block, o->block_size)) < 0) {
			rv_fail(r, "cannot write the test file in %s: %s", o->dir, strerror(-r));
			goto out;
		}
		double t0 = now_us();
		if (fdatasync(fd) < 0) {
			r = rv_fail(-errno, "fdatasync of the test file in %s failed: %s", o->dir, strerror(errno));
			goto out;
		}
		lat[i] = now_us() - t0;
	}
	double total_us = now_us() - start;
	if (o->progress)
		o->progress(o->progress_ud, "diskcheck", n * o->block_size, n * o->block_size);

	qsort(lat, n, sizeof *lat, cmp_double);
	out->writes = n;
	out->bytes = n * o->block_size;
	out->seconds = total_us / 1e6;
	out->iops = total_us > 0 ? (double)n / (total_us / 1e6) : 0;
	out->min_us = lat[0];
	out->max_us = lat[n - 1];
	out->p50_us = percentile(lat, n, 0.50);
	out->p90_us = percentile(lat, n, 0.90);
	out->p99_us = percentile(lat, n, 0.99);
	out->p999_us = percentile(lat, n, 0.999);
	out->pass = out->p99_us < (double)o->threshold_us;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	unlink(path);
	free(lat);
	free(block);
	return r;
}

void maint_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The data dir, or its nearest existing ancestor (a member not started yet). */
static char *existing_dir(const char *path)
{
	char *p = rv_strdup(path && *path ? path : ".");
	struct stat st;
	for (;;) {
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			return p;
		char *slash = strrchr(p, '/');
		if (!slash) {
			free(p);
			return rv_strdup(".");
		}
		if (slash == p) {
			p[1] = 0;
			return p;
		}
		*slash = 0;
	}
}

int maint_diskcheck_dirs(const struct cluster_spec *cs, char ***dirs, char ***members, size_t *n)
{
	char **d = rv_xcalloc(cs->n_members + 1, sizeof *d);
	char **m = rv_xcalloc(cs->n_members + 1, sizeof *m);
	size_t k = 0;
	for (size_t i = 0; i < cs->n_members; i++) {
		char *dir = existing_dir(cs->members[i].data_dir);
		size_t j;
		for (j = 0; j < k; j++) {
			bool same = false;
			if (rv_same_fs(d[j], dir, &same) == 0 && same)
				break;
		}
		if (j < k) {
			char *joined = rv_xmalloc(strlen(m[j]) + strlen(cs->members[i].name) + 2);
			sprintf(joined, "%s,%s", m[j], cs->members[i].name);
			free(m[j]);
			m[j] = joined;
			free(dir);
		} else {
			d[k] = dir;
			m[k] = rv_strdup(cs->members[i].name);
			k++;
		}
	}
	*dirs = d;
	*members = m;
	*n = k;
	return 0;
}
