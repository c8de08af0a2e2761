/* store_tool.c - a test driver for the store API (store_* in snapshot/snapshot.h).
 * The store comes from STORE_URL; S3 settings from the AWS_* variables (through
 * store_spec_apply_env) and STORE_S3_TIMEOUT_S, STORE_S3_CA_FILE, STORE_S3_PATH_STYLE,
 * STORE_S3_PARTS_IN_FLIGHT, STORE_S3_SSE, STORE_S3_KMS_KEY_ID.
 *
 *   store-tool put FILE NAME [EXPECTED_SIZE]   upload FILE (- = stdin) as NAME
 *   store-tool put-abort FILE NAME             write FILE, then abort
 *   store-tool put-exit FILE NAME              write FILE, then exit without commit or abort
 *   store-tool put-next FILE NAME              upload FILE as NAME, or as NAME.next when NAME is
 *                                              taken at commit (store_put_set_next_name)
 *   store-tool putmany COUNT PREFIX            COUNT small objects PREFIX000000...
 *   store-tool get NAME FILE [OFFSET [LEN]]    download (FILE - = stdout)
 *   store-tool getchunks NAME FILE CHUNK FIRST  download by ranged reads as the artifact reader does:
 *                                              FIRST bytes, then CHUNK at a time until a short read
 *   store-tool ls [PREFIX [START_AFTER]] | stat NAME | rm NAME | cleanup
 * Exit 0 ok, 1 failed (message on stderr), 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "snapshot/snapshot.h"

static int usage(void)
{
	fprintf(stderr, "usage: store-tool put FILE NAME [SIZE] | put-abort FILE NAME | put-exit FILE NAME | put-next FILE NAME | "
			"putmany COUNT PREFIX | get NAME FILE [OFFSET [LEN]] | getchunks NAME FILE CHUNK FIRST | ls [PREFIX [START_AFTER]] | stat NAME | rm NAME | cleanup\n");
	return 2;
}

static int write_fd(const void *p, size_t n, void *ud)
{
	return rv_write_all(*(int *)ud, p, n);
}

struct chunk_sink {
	int fd;
	uint64_t got;
};

static int chunk_write(const void *p, size_t n, void *ud)
{
	struct chunk_sink *c = ud;
	c->got += n;
	return rv_write_all(c->fd, p, n);
}

static int next_name(const char *taken, char *next, size_t len, void *ud)
{
	(void)ud;
	snprintf(next, len, "%s.next", taken);
	return 0;
}

/* mode: 0 commit, 1 abort, 2 exit without either, 3 commit with next_name */
static int put_file(struct store *st, const char *file, const char *name, uint64_t expected, int mode)
{
	static char buf[1 << 20];
	struct store_writer *w;
	int fd, r;
	/* begin first: a store that refuses fails before anything is read */
	r = store_put_begin(st, name, expected, &w);
	if (r < 0)
		return r;
	if (mode == 3)
		store_put_set_next_name(w, next_name, NULL);
	fd = strcmp(file, "-") ? open(file, O_RDONLY) : 0;
	if (fd < 0) {
		r = rv_fail(-errno, "cannot open %s: %s", file, strerror(errno));
		store_put_abort(w);
		return r;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			r = rv_fail(-errno, "reading %s: %s", file, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		r = store_put_write(w, buf, (size_t)n);
		if (r < 0)
			break;
	}
	if (fd)
		close(fd);
	if (mode == 2)
		_exit(0); /* a killed writer */
	if (r < 0 || mode == 1) {
		store_put_abort(w);
		return r;
	}
	return store_put_commit(w);
}

int main(int argc, char **argv)
{
	struct store_spec spec = {0};
	struct store *st;
	const char *t;
	int r;

	if (argc < 2)
		return usage();
	spec.url = getenv("STORE_URL");
	spec.s3.path_style = -1;
	spec.s3.timeout_s = (t = getenv("STORE_S3_TIMEOUT_S")) ? atoi(t) : 0;
	spec.s3.ca_file = getenv("STORE_S3_CA_FILE");
	spec.s3.parts_in_flight = (t = getenv("STORE_S3_PARTS_IN_FLIGHT")) ? atoi(t) : 0;
	spec.s3.sse = (t = getenv("STORE_S3_SSE")) && *t ? (char *)t : NULL;
	spec.s3.kms_key_id = (t = getenv("STORE_S3_KMS_KEY_ID")) && *t ? (char *)t : NULL;
	if ((t = getenv("STORE_S3_PATH_STYLE")))
		spec.s3.path_style = atoi(t);
	if (getenv("STORE_TOOL_DEBUG"))
		rv_log_verbosity = RV_LOG_DEBUG;
	r = store_open(&spec, &st);
	if (r < 0) {
		fprintf(stderr, "store-tool: %s\n", rv_errmsg(r));
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "put") && (argc == 4 || argc == 5)) {
		r = put_file(st, argv[2], argv[3], argc == 5 ? strtoull(argv[4], NULL, 10) : 0, 0);
	} else if (!strcmp(cmd, "put-abort") && argc == 4) {
		r = put_file(st, argv[2], argv[3], 0, 1);
	} else if (!strcmp(cmd, "put-exit") && argc == 4) {
		r = put_file(st, argv[2], argv[3], 0, 2);
	} else if (!strcmp(cmd, "put-next") && argc == 4) {
		r = put_file(st, argv[2], argv[3], 0, 3);
	} else if (!strcmp(cmd, "putmany") && argc == 4) {
		int count = atoi(argv[2]);
		for (int i = 0; i < count && r == 0; i++) {
			char name[512];
			struct store_writer *w;
			snprintf(name, sizeof(name), "%s%06d", argv[3], i);
			r = store_put_begin(st, name, strlen(name), &w);
			if (r == 0 && (r = store_put_write(w, name, strlen(name))) < 0)
				store_put_abort(w);
			else if (r == 0)
				r = store_put_commit(w);
		}
	} else if (!strcmp(cmd, "get") && argc >= 4 && argc <= 6) {
		int fd = strcmp(argv[3], "-") ? open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644) : 1;
		if (fd < 0) {
			r = rv_fail(-errno, "cannot create %s", argv[3]);
		} else {
			r = store_get(st, argv[2], argc >= 5 ? strtoull(argv[4], NULL, 10) : 0,
				      argc == 6 ? strtoull(argv[5], NULL, 10) : 0, write_fd, &fd);
			if (fd != 1)
				close(fd);
		}
	} else if (!strcmp(cmd, "getchunks") && argc == 6) {
		struct chunk_sink cs = {.fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644)};
		uint64_t off = 0, want = strtoull(argv[5], NULL, 10), chunk = strtoull(argv[4], NULL, 10);
		if (cs.fd < 0)
			r = rv_fail(-errno, "cannot create %s", argv[3]);
		while (r == 0 && cs.fd >= 0) {
			cs.got = 0;
			r = store_get(st, argv[2], off, want, chunk_write, &cs);
			off += cs.got;
			if (cs.got < want)
				break;
			want = chunk;
		}
		if (cs.fd >= 0)
			close(cs.fd);
	} else if (!strcmp(cmd, "ls") && argc >= 2 && argc <= 4) {
		struct store_object *o;
		size_t n;
		const char *prefix = argc > 2 && *argv[2] ? argv[2] : NULL, *after = argc > 3 ? argv[3] : NULL;
		r = store_list_from(st, prefix, after, &o, &n);
		if (r == 0) {
			for (size_t i = 0; i < n; i++)
				printf("%s\t%llu\t%lld\n", o[i].name, (unsigned long long)o[i].size, (long long)o[i].mtime);
			store_objects_free(o, n);
		}
	} else if (!strcmp(cmd, "stat") && argc == 3) {
		struct store_object o;
		r = store_stat(st, argv[2], &o);
		if (r == 0) {
			printf("%s\t%llu\t%lld\n", o.name, (unsigned long long)o.size, (long long)o.mtime);
			free(o.name);
		}
	} else if (!strcmp(cmd, "rm") && argc == 3) {
		r = store_delete(st, argv[2]);
	} else if (!strcmp(cmd, "cleanup") && argc == 2) {
		r = store_cleanup(st);
	} else {
		store_close(st);
		return usage();
	}
	store_close(st);
	if (r < 0) {
		fprintf(stderr, "store-tool: %s\n", rv_errmsg(r));
		return 1;
	}
	return 0;
}
