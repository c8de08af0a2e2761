/* coord.c - what the coordinator of a restore across hosts (scheduler's
 * agent_restore.c) takes from the one-host restore: the same fetch and checks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "restore/restore_impl.h"

int restore_plan_observe(const struct cluster_spec *cs, struct restore_plan *p)
{
	memset(p, 0, sizeof *p);
	int r = rs_plan_members(cs, p);
	if (r == 0)
		rs_preflight(cs, p);
	return r;
}

/* The last 32 bytes of a verified db: etcd's sha256 of everything before. */
int rs_trailer_hex(const char *path, char out[65])
{
	unsigned char t[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rv_fail(-errno, "cannot open %s: %s", path, strerror(errno));
	off_t end = lseek(fd, 0, SEEK_END);
	ssize_t n = end >= 32 ? pread(fd, t, 32, end - 32) : -1;
	close(fd);
	if (n != 32)
		return rv_fail(-EBADMSG, "%s is too short to be an etcd snapshot", path);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", t[i]);
	return 0;
}

int restore_fetch_verified(struct store *st, const char *artifact, const char *db_file, const char *dir,
			   char *db_path, size_t len, int64_t *revision, char sha256[65])
{
	struct snap_manifest m = {0};
	uint64_t size = 0;
	int r = rv_mkdir_p(dir, 0700);
	if (r < 0)
		return rv_fail(r, "cannot create the staging directory %s: %s", dir, strerror(-r));
	snprintf(db_path, len, "%s/snapshot.db", dir);
	r = rs_fetch(st, artifact, db_file, db_path, &m, NULL, NULL);
	if (r == 0)
		r = db_file ? rs_verify_db(db_path, NULL, &size, NULL, NULL) : rs_check_staged(db_path, &m, &size);
	if (r == 0)
		r = rs_db_last_revision(db_path, revision);
	if (r == 0)
		r = rs_trailer_hex(db_path, sha256);
	if (r < 0)
		return rv_fail_wrap(r, "artifact %s refused before any member was stopped", db_file ? db_file : artifact);
	if (!db_file && m.revision > *revision)
		*revision = m.revision;
	return 0;
}

int restore_check_cluster(const struct cluster_spec *cs, int64_t revision, uint32_t *hash, int64_t *revision_now)
{
	struct rs_check c;
	int r = rs_check_cluster(cs, revision, 0, &c);
	if (r == 0) {
		*hash = c.hash;
		*revision_now = c.revision;
	}
	return r;
}
