/* job_history.c - what each job run did, one JSON line a run in state_dir/jobs.jsonl.
 *
 * A line is appended with one write(2) on an O_APPEND descriptor and fsynced, so a
 * crash leaves at most a torn last line, which readers skip (and the next append
 * starts on a line of its own). Rotation moves the file to jobs.jsonl.1 once it
 * would grow past its limit: two files at most. Appends and rotation take
 * state_dir/locks/history.lock, so that a reader never sees a rotation half done. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "scheduler/scheduler.h"

#define HISTORY "jobs.jsonl"
/* A reader refuses files larger than this (the writer keeps them near its limit). */
#define READ_MAX ((size_t)256 << 20)

static const char *const results[] = {"success", "failure", "skipped", "cancelled"};

/* The history lock, created when create is set (writers), else only opened. */
static int history_lock(const char *state_dir, bool create, int how, int *fd)
{
	char dir[PATH_MAX], path[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/locks", state_dir);
	snprintf(path, sizeof path, "%s/history.lock", dir);
	*fd = -1;
	if (create) {
		int r = rv_mkdir_p(dir, 0700);
		if (r < 0)
			return rv_fail(r, "cannot create %s for the job history: %s; set state_dir in the configuration to a "
					  "directory regvault can write",
				       dir, strerror(-r));
	}
	*fd = open(path, (create ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0600);
	if (*fd < 0) {
		int e = errno;
		if (!create && e == ENOENT)
			return 0; /* nothing was ever written */
		return rv_fail(-e, "cannot open %s: %s", path, strerror(e));
	}
	while (flock(*fd, how) < 0) {
		int e = errno;
		if (e == EINTR)
			continue;
		close(*fd);
		*fd = -1;
		return rv_fail(-e, "cannot lock %s: %s", path, strerror(e));
	}
	return 0;
}

static json_t *run_json(const struct job_run *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "job", json_string(job_kind_name(r->kind)));
	json_object_set_new(o, "start_ms", json_integer(r->start_ms));
	json_object_set_new(o, "end_ms", json_integer(r->end_ms));
	json_object_set_new(o, "result", json_string(r->result ? r->result : "failure"));
	json_object_set_new(o, "error", r->error ? json_string(r->error) : json_null());
	json_object_set_new(o, "report", r->report ? json_incref(r->report) : json_null());
	return o;
}

/* Append one line (with a newline first when the file ends in a torn line). */
static int append_line(const char *path, const char *line, size_t len, size_t max, const char *state_dir)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	struct stat st;
	if (fd < 0)
		return rv_fail(-errno, "cannot open the job history %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return rv_fail(-e, "cannot read the job history %s: %s", path, strerror(e));
	}
	if (st.st_size > 0 && (size_t)st.st_size + len > max) {
		char old[PATH_MAX + 2];
		snprintf(old, sizeof old, "%s.1", path);
		close(fd);
		if (rename(path, old) < 0)
			return rv_fail(-errno, "cannot rotate the job history %s to %s: %s", path, old, strerror(errno));
		rv_fsync_dir(state_dir);
		fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return rv_fail(-errno, "cannot open the job history %s: %s", path, strerror(errno));
		st.st_size = 0;
	}
	char last = '\n';
	if (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)
		last = '\n';
	struct rv_buf b = {0};
	if (last != '\n')
		rv_buf_append(&b, "\n", 1);
	rv_buf_append(&b, line, len);
	ssize_t w;
	do
		w = write(fd, b.data, b.len);
	while (w < 0 && errno == EINTR);
	int r = w < 0 ? -errno : (size_t)w != b.len ? -ENOSPC : 0;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	rv_buf_free(&b);
	close(fd);
	if (r < 0)
		return rv_fail(r, "cannot append to the job history %s: %s", path, strerror(-r));
	if (st.st_size == 0)
		rv_fsync_dir(state_dir);
	return 0;
}

int job_history_append_max(const char *state_dir, const struct job_run *r, size_t max_bytes)
{
	char path[PATH_MAX];
	int lock, rc;
	json_t *o = run_json(r);
	char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	json_decref(o);
	if (!line)
		return rv_fail(-ENOMEM, "cannot write the record of a %s run: out of memory", job_kind_name(r->kind));
	snprintf(path, sizeof path, "%s/" HISTORY, state_dir);
	if ((rc = history_lock(state_dir, true, LOCK_EX, &lock)) == 0) {
		size_t len = strlen(line);
		line = rv_xrealloc(line, len + 2);
		line[len++] = '\n';
		line[len] = 0;
		rc = append_line(path, line, len, max_bytes, state_dir);
		close(lock);
	}
	free(line);
	return rc;
}

int job_history_append(const char *state_dir, const struct job_run *r)
{
	return job_history_append_max(state_dir, r, JOB_HISTORY_MAX_BYTES);
}

/* One line into run: false for a line that is not a run this version knows. */
static bool parse_line(const char *s, size_t len, struct job_run *run)
{
	json_t *o = json_loadb(s, len, 0, NULL);
	const char *job = json_string_value(json_object_get(o, "job"));
	const char *result = json_string_value(json_object_get(o, "result"));
	json_t *start = json_object_get(o, "start_ms"), *end = json_object_get(o, "end_ms");
	bool ok = false;

	memset(run, 0, sizeof *run);
	if (!json_is_object(o) || !job || !result || !json_is_integer(start) || !json_is_integer(end))
		goto out;
	for (int k = 0; k < JOB_KIND_COUNT && !ok; k++)
		if (strcmp(job, job_kind_name((enum job_kind)k)) == 0) {
			run->kind = (enum job_kind)k;
			ok = true;
		}
	run->result = NULL;
	for (size_t i = 0; i < RV_ARRAY_LEN(results); i++)
		if (strcmp(result, results[i]) == 0)
			run->result = results[i];
	if (!ok || !run->result) {
		ok = false;
		goto out;
	}
	run->start_ms = json_integer_value(start);
	run->end_ms = json_integer_value(end);
	const char *err = json_string_value(json_object_get(o, "error"));
	run->error = err ? rv_strdup(err) : NULL;
	json_t *rep = json_object_get(o, "report");
	run->report = rep && !json_is_null(rep) ? json_incref(rep) : NULL;
out:
	json_decref(o);
	return ok;
}

struct runs {
	struct job_run *v;
	size_t n, cap;
};

/* Every complete line of one file; a missing file has none. */
static int read_file_runs(const char *path, const char *job, struct runs *out)
{
	char *text;
	size_t len;
	int r = rv_read_file(path, &text, &len, READ_MAX);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return rv_fail(r, "cannot read the job history %s: %s", path, strerror(-r));
	for (size_t at = 0; at < len;) {
		char *nl = memchr(text + at, '\n', len - at);
		if (!nl)
			break; /* a torn last line: the run that wrote it did not finish writing */
		size_t n = (size_t)(nl - (text + at));
		struct job_run run;
		if (n && parse_line(text + at, n, &run)) {
			if (job && strcmp(job, job_kind_name(run.kind)) != 0) {
				free(run.error);
				json_decref(run.report);
			} else {
				if (out->n == out->cap) {
					out->cap = out->cap ? out->cap * 2 : 16;
					out->v = rv_xrealloc(out->v, out->cap * sizeof *out->v);
				}
				out->v[out->n++] = run;
			}
		}
		at += n + 1;
	}
	free(text);
	return 0;
}

int job_history_read(const char *state_dir, const char *job, size_t last_n, struct job_run **out, size_t *n)
{
	char path[PATH_MAX], old[PATH_MAX + 2];
	struct runs runs = {0};
	enum job_kind k;
	int lock, r;

	*out = NULL;
	*n = 0;
	if (job && (r = job_kind_parse(job, &k)) < 0)
		return r;
	snprintf(path, sizeof path, "%s/" HISTORY, state_dir);
	snprintf(old, sizeof old, "%s.1", path);
	if ((r = history_lock(state_dir, false, LOCK_SH, &lock)) < 0)
		return r;
	r = read_file_runs(old, job, &runs);
	if (r == 0)
		r = read_file_runs(path, job, &runs);
	if (lock >= 0)
		close(lock);
	if (r < 0) {
		job_runs_free(runs.v, runs.n);
		return r;
	}
	if (last_n && runs.n > last_n) {
		size_t drop = runs.n - last_n;
		for (size_t i = 0; i < drop; i++) {
			free(runs.v[i].error);
			json_decref(runs.v[i].report);
		}
		memmove(runs.v, runs.v + drop, last_n * sizeof *runs.v);
		runs.n = last_n;
	}
	*out = runs.v;
	*n = runs.n;
	return 0;
}

int job_history_last_success(const char *state_dir, enum job_kind k, int64_t *end_ms)
{
	struct job_run *v;
	size_t n;
	*end_ms = 0;
	int r = job_history_read(state_dir, job_kind_name(k), 0, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		/* A one-shot prune is recorded as a snapshot run ({"prune": ...}) but saved
		 * nothing: it is no snapshot's success. */
		bool prune_only = k == JOB_SNAPSHOT && json_is_object(v[i].report) &&
				  json_object_get(v[i].report, "prune") && !json_object_get(v[i].report, "save");
		if (strcmp(v[i].result, "success") == 0 && !prune_only && v[i].end_ms > *end_ms)
			*end_ms = v[i].end_ms;
	}
	job_runs_free(v, n);
	return 0;
}

void job_runs_free(struct job_run *runs, size_t n)
{
	if (!runs)
		return;
	for (size_t i = 0; i < n; i++) {
		free(runs[i].error);
		json_decref(runs[i].report);
	}
	free(runs);
}
