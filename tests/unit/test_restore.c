/* Unit tests for restore/: paths, the staged snapshot check, the journal, a rollback
 * of directories (no etcd running), leftovers. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore/restore_impl.h"
#include "tests/unit/unit.h"

static char dir[64];

static bool make_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/rv-restore-test-XXXXXX");
	return mkdtemp(dir) != NULL;
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		rv_write_all(fd, p, n);
		close(fd);
	}
}

static bool file_holds(const char *path, const char *want)
{
	char *text = NULL;
	bool same;
	if (rv_read_file(path, &text, NULL, 0) < 0)
		return false;
	same = strcmp(text, want) == 0;
	free(text);
	return same;
}

TEST(restore_parent)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"/var/lib/etcd/etcd1", "/var/lib/etcd"}, {"/var/lib/etcd/etcd1/", "/var/lib/etcd"},
		{"/etcd1", "/"}, {"etcd1", "."}, {"a/b", "a"},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		char out[PATH_MAX];
		rs_parent(cases[i].in, out, sizeof out);
		CHECK_STR(out, cases[i].want);
	}
}

/* A fake etcd snapshot: 1024 db bytes and etcd's sha256 trailer. */
TEST(restore_verify_staged_db)
{
	uint8_t buf[1024 + 32];
	char path[128], hex[65];
	uint64_t size = 0;
	CHECK(make_dir());
	for (size_t i = 0; i < 1024; i++)
		buf[i] = (uint8_t)(i * 7);
	SHA256(buf, 1024, buf + 1024);
	rv_hex(buf + 1024, 32, hex);
	snprintf(path, sizeof path, "%s/snapshot.db", dir);

	write_file(path, buf, sizeof buf);
	CHECK_INT(rs_verify_db(path, NULL, &size, NULL, NULL), 0);
	CHECK_INT(size, 1024);
	CHECK_INT(rs_verify_db(path, hex, NULL, NULL, NULL), 0);
	/* The manifest says another hash. */
	/* The cheap check of a file snap_fetch verified: size, trailer, manifest. */
	struct snap_manifest m = {0};
	snprintf(m.sha256, sizeof m.sha256, "%s", hex);
	m.db_size = 1024;
	CHECK_INT(rs_check_staged(path, &m, &size), 0);
	m.db_size = 2048;
	CHECK_INT(rs_check_staged(path, &m, NULL), -EBADMSG);
	m.db_size = 1024;
	m.sha256[0] = m.sha256[0] == 'a' ? 'b' : 'a';
	CHECK_INT(rs_check_staged(path, &m, NULL), -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "manifest says");
	CHECK_INT(rs_verify_db(path, "00000000000000000000000000000000000000000000000000000000000000ff", NULL, NULL, NULL), -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "manifest says");
	/* One flipped db byte. */
	buf[100] ^= 1;
	write_file(path, buf, sizeof buf);
	CHECK_INT(rs_verify_db(path, NULL, NULL, NULL, NULL), -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "sha256 check");
	/* No trailer (a raw member/snap/db). */
	write_file(path, buf, 1024);
	CHECK_INT(rs_verify_db(path, NULL, NULL, NULL, NULL), -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "trailer");
	CHECK_INT(rs_verify_db("/nonexistent/snapshot.db", NULL, NULL, NULL, NULL), -ENOENT);
	/* Not a bbolt file: no revision to read (and no crash on junk). */
	int64_t rev = 0;
	uint8_t junk[20000];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	write_file(path, junk, sizeof junk);
	CHECK_INT(rs_db_last_revision(path, &rev), -EBADMSG);
	write_file(path, junk, 100);
	CHECK_INT(rs_db_last_revision(path, &rev), -EBADMSG);
	CHECK_INT(rs_rmtree(dir), 0);
}

static struct member_spec members[3];
static char data_dirs[3][PATH_MAX];
static struct cluster_spec spec = {.name = "t", .token = "tok", .members = members, .n_members = 3};

static void setup_spec(void)
{
	static char *names[] = {"etcd1", "etcd2", "etcd3"};
	for (int i = 0; i < 3; i++) {
		snprintf(data_dirs[i], sizeof data_dirs[i], "%s/etcd%d", dir, i + 1);
		members[i].name = names[i];
		members[i].data_dir = data_dirs[i];
		members[i].client_url = "http://127.0.0.1:1";
		members[i].peer_url = "http://127.0.0.1:2";
	}
}

TEST(restore_plan_and_journal_round_trip)
{
	struct restore_plan *p = rv_xcalloc(1, sizeof *p), *q = rv_xcalloc(1, sizeof *q);
	struct restore_pending pend;
	char phase[32], started[21], state[128];
	bool found = true;
	CHECK(make_dir());
	setup_spec();
	snprintf(state, sizeof state, "%s/state", dir);
	mkdir(data_dirs[0], 0700);
	CHECK_INT(rs_plan_members(&spec, p), 0);
	CHECK(strncmp(p->token, "tok-restore-", 12) == 0);
	CHECK(p->members[0].has_data);
	CHECK(!p->members[1].has_data);
	CHECK(rv_str_has_suffix(p->members[0].aside_dir, p->stamp));
	CHECK_CONTAINS(p->members[0].aside_dir, "/etcd1.before-restore-");
	CHECK_CONTAINS(p->members[2].staged_dir, "/.regvault-restore-staging/etcd3");
	snprintf(p->artifact, sizeof p->artifact, "a.tar.zst");
	p->snapshot_revision = 42;
	p->members[1].running = true;
	p->members[1].healthy = true;

	CHECK_INT(restore_pending(state, &pend, &found), 0);
	CHECK(!found);
	CHECK_INT(rs_journal_write(state, "swapping", p), 0);
	CHECK_INT(rs_journal_read(state, phase, sizeof phase, q, started, &found), 0);
	CHECK(found);
	CHECK_STR(phase, "swapping");
	CHECK_STR(q->artifact, "a.tar.zst");
	CHECK_INT(q->snapshot_revision, 42);
	CHECK_INT(q->n_members, 3);
	CHECK_STR(q->members[2].aside_dir, p->members[2].aside_dir);
	CHECK(q->members[0].has_data && !q->members[0].running);
	CHECK(q->members[1].running && q->members[1].healthy);
	CHECK_INT(restore_pending(state, &pend, &found), 0);
	CHECK(found);
	CHECK_CONTAINS(pend.hint, "regvault restore --rollback");
	CHECK_INT(rs_journal_remove(state), 0);
	CHECK_INT(restore_pending(state, &pend, &found), 0);
	CHECK(!found);
	/* An aside dir that exists already is refused. Plans are named by the second:
	 * try again when the second changed between the two plans. */
	int refused = 0;
	for (int attempt = 0; attempt < 3 && refused != -EEXIST; attempt++) {
		mkdir(p->members[0].aside_dir, 0700);
		refused = rs_plan_members(&spec, q);
		if (strcmp(q->stamp, p->stamp) != 0) {
			memcpy(p, q, sizeof *p); /* q's stamp is the one to collide with next */
			refused = 0;
		}
	}
	CHECK_INT(refused, -EEXIST);
	free(p);
	free(q);
	CHECK_INT(rs_rmtree(dir), 0);
}

/* Interrupted after the swap: restored dirs in place, old ones aside. No member
 * runs, so the rollback is renames only; it can run twice. */
TEST(restore_rollback_puts_old_dirs_back)
{
	struct restore_plan *p = rv_xcalloc(1, sizeof *p);
	struct restore_report *rep = rv_xcalloc(1, sizeof *rep);
	struct restore_leftover *lo = NULL;
	size_t n = 0;
	char state[128], path[PATH_MAX + 32];
	CHECK(make_dir());
	setup_spec();
	snprintf(state, sizeof state, "%s/state", dir);
	for (int i = 0; i < 3; i++)
		mkdir(data_dirs[i], 0700);
	CHECK_INT(rs_plan_members(&spec, p), 0);
	for (int i = 0; i < 3; i++) {
		/* old data aside, restored data in place */
		CHECK_INT(rs_rename(data_dirs[i], p->members[i].aside_dir), 0);
		snprintf(path, sizeof path, "%s/which", p->members[i].aside_dir);
		write_file(path, "old", 3);
		mkdir(data_dirs[i], 0700);
		snprintf(path, sizeof path, "%s/which", data_dirs[i]);
		write_file(path, "restored", 8);
	}
	CHECK_INT(rs_journal_write(state, "starting", p), 0);
	CHECK_INT(restore_rollback(&spec, state, 1000, rep), 0);
	CHECK(rep->rolled_back && rep->rollback_ok);
	CHECK_CONTAINS(rep->rollback, "no member ran before the restore");
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/which", data_dirs[i]);
		CHECK(file_holds(path, "old"));
		CHECK(!rv_path_exists(p->members[i].aside_dir));
		snprintf(path, sizeof path, "%s.failed-restore-%s/which", data_dirs[i], p->stamp);
		CHECK(file_holds(path, "restored"));
	}
	/* The journal is gone: a second rollback has nothing to do. */
	CHECK_INT(restore_rollback(&spec, state, 1000, rep), -ENOENT);
	CHECK_CONTAINS(rv_errmsg(-ENOENT), "no interrupted restore");
	/* The failed-restore dirs are leftovers; cleanup removes them and nothing else. */
	CHECK_INT(restore_leftovers(&spec, &lo, &n), 0);
	CHECK_INT(n, 3);
	free(lo);
	CHECK_INT(restore_cleanup(&spec, state, &lo, &n), 0);
	CHECK_INT(n, 3);
	free(lo);
	CHECK_INT(restore_leftovers(&spec, &lo, &n), 0);
	CHECK_INT(n, 0);
	free(lo);
	snprintf(path, sizeof path, "%s/which", data_dirs[0]);
	CHECK(file_holds(path, "old"));
	free(p);
	free(rep);
	CHECK_INT(rs_rmtree(dir), 0);
}

/* A journal written by another configuration is not acted on. */
TEST(restore_rollback_refuses_a_foreign_journal)
{
	struct restore_plan *p = rv_xcalloc(1, sizeof *p);
	struct restore_report *rep = rv_xcalloc(1, sizeof *rep);
	char state[128];
	CHECK(make_dir());
	setup_spec();
	snprintf(state, sizeof state, "%s/state", dir);
	CHECK_INT(rs_plan_members(&spec, p), 0);
	snprintf(p->members[1].data_dir, sizeof p->members[1].data_dir, "/elsewhere/etcd2");
	CHECK_INT(rs_journal_write(state, "starting", p), 0);
	CHECK_INT(restore_rollback(&spec, state, 1000, rep), -EINVAL);
	CHECK_CONTAINS(rv_errmsg(-EINVAL), "/elsewhere/etcd2");
	free(p);
	free(rep);
	CHECK_INT(rs_rmtree(dir), 0);
}

/* The tree walk behind rmtree and du: depth first, symlinks never followed (a link
 * to a file outside the tree is removed, not its target, and not counted). */
TEST(rmtree_and_du_never_follow_symlinks)
{
	char path[PATH_MAX], outside[PATH_MAX], tree[PATH_MAX];
	static const char data[1000] = {0};
	CHECK(make_dir());
	snprintf(outside, sizeof outside, "%s/outside", dir);
	write_file(outside, data, 700);
	snprintf(tree, sizeof tree, "%s/tree", dir);
	snprintf(path, sizeof path, "%s/tree/member/snap", dir);
	CHECK_INT(rv_mkdir_p(path, 0700), 0);
	snprintf(path, sizeof path, "%s/tree/member/snap/db", dir);
	write_file(path, data, 1000);
	snprintf(path, sizeof path, "%s/tree/member/wal.log", dir);
	write_file(path, data, 300);
	snprintf(path, sizeof path, "%s/tree/member/link", dir);
	CHECK(symlink(outside, path) == 0);
	snprintf(path, sizeof path, "%s/tree/dirlink", dir);
	CHECK(symlink(dir, path) == 0);
	CHECK_INT(rs_du(tree), 1300);
	CHECK_INT(rs_rmtree(tree), 0);
	CHECK(!rv_path_exists(tree));
	CHECK(rv_path_exists(outside));
	CHECK_INT(rs_rmtree(tree), 0); /* gone already: nothing to do */
	CHECK_INT(rs_rmtree(dir), 0);
}
