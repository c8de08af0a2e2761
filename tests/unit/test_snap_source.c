/* Unit tests for choosing a snapshot source: which members have quorum (a leader
 * that still leads, and an applied index caught up with the leader's), as a table
 * of three members' Status answers. */
#include "common/common.h"
#include "snapshot/snap_impl.h"
#include "tests/unit/unit.h"

struct st3 {
	bool answered;
	uint64_t id, leader, raft_index, applied;
};

static const struct {
	const char *what;
	struct st3 m[3];
	const char *want[3]; /* NULL: qualifies; else a substring of the reason */
} cases[] = {
	{"healthy, in step",
	 {{true, 1, 1, 500, 500}, {true, 2, 1, 500, 498}, {true, 3, 1, 499, 499}},
	 {NULL, NULL, NULL}},
	{"two down: the survivor has no leader",
	 {{false, 1, 0, 0, 0}, {false, 2, 0, 0, 0}, {true, 3, 0, 800, 800}},
	 {NULL, NULL, "has no leader"}},
	{"a follower 1001 entries behind",
	 {{true, 1, 1, 5000, 5000}, {true, 2, 1, 5000, 3999}, {true, 3, 1, 5000, 4000}},
	 {NULL, "is 1001 raft entries behind the leader", NULL}},
	{"the leader does not answer us: the highest committed index of its followers",
	 {{false, 1, 0, 0, 0}, {true, 2, 1, 9000, 9000}, {true, 3, 1, 8990, 7000}},
	 {NULL, NULL, "is 2000 raft entries behind"}},
	{"a follower whose leader stepped down",
	 {{true, 1, 0, 700, 700}, {true, 2, 1, 700, 700}, {false, 3, 0, 0, 0}},
	 {"has no leader", "follows a leader that no longer leads", NULL}},
	{"no applied index reported (older etcd): the committed one",
	 {{true, 1, 1, 300, 0}, {true, 2, 1, 300, 0}, {true, 3, 1, 300, 0}},
	 {NULL, NULL, NULL}},
	{"applied ahead of a leader read earlier",
	 {{true, 1, 1, 100, 100}, {true, 2, 1, 150, 150}, {true, 3, 1, 160, 160}},
	 {NULL, NULL, NULL}},
};

TEST(snap_source_quorum_table)
{
	for (size_t c = 0; c < RV_ARRAY_LEN(cases); c++) {
		struct etcd_status sts[3] = {0};
		bool answered[3];
		for (size_t i = 0; i < 3; i++) {
			const struct st3 *m = &cases[c].m[i];
			answered[i] = m->answered;
			sts[i].hdr.member_id = m->id;
			sts[i].leader = m->leader;
			sts[i].raft_index = m->raft_index;
			sts[i].raft_applied_index = m->applied;
		}
		for (size_t i = 0; i < 3; i++) {
			char buf[96];
			const char *why;
			if (!answered[i])
				continue;
			why = snap_source_no_quorum(sts, answered, 3, i, buf, sizeof buf);
			if (!cases[c].want[i] != !why || (why && !strstr(why, cases[c].want[i]))) {
				unit_failed(__FILE__, __LINE__, "case '%s', member %zu: got '%s', expected '%s'",
					    cases[c].what, i + 1, why ? why : "(qualifies)",
					    cases[c].want[i] ? cases[c].want[i] : "(qualifies)");
				return;
			}
		}
	}
}
