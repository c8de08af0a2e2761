/* member_check.c - `restore --dry-run` across hosts, one host's part: could this
 * host prepare its member from a db of a given size? It looks and changes nothing,
 * so the coordinator can ask every host before anything is sent or stopped. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "restore/restore_impl.h"

/* The member's etcd binary as its start would run it: a path, else found on PATH. */
static int find_etcd(const struct cluster_spec *cs, char *out, size_t len)
{
	const char *bin = cs->etcd.binary && *cs->etcd.binary ? cs->etcd.binary : "etcd";
	if (strchr(bin, '/')) {
		snprintf(out, len, "%s", bin);
		return access(bin, X_OK) == 0 ? 0 : -errno;
	}
	return rv_proc_find_program(bin, out, len);
}

int restore_member_check(const struct cluster_spec *cs, size_t idx, const char *state_dir, uint64_t db_size,
			 struct restore_member_check *out)
{
	const struct member_spec *m = &cs->members[idx];
	char parent[PATH_MAX], a[32], b[32];
	struct restore_member_state st;
	struct restore_pending pend;
	bool pending = false;

	memset(out, 0, sizeof *out);
	out->has_data = rv_path_exists(m->data_dir);
	/* The received db and the restored data dir (the db again, and a WAL of 64 MB
	 * preallocated) are both in the staging beside the data dir at the end. */
	out->need_bytes = 2 * db_size + (80u << 20);
	rs_parent(m->data_dir, parent, sizeof parent);
	int fr = rv_fs_free_bytes(parent, &out->free_bytes);
	if (rs_find_tool(cs, out->tool, sizeof out->tool) < 0) {
		snprintf(out->reason, sizeof out->reason, "%s", rv_errmsg(-ENOENT));
		rv_err_clear();
		out->tool[0] = 0;
	}
	int er = find_etcd(cs, out->etcd_binary, sizeof out->etcd_binary);
	if (er < 0)
		rv_err_clear();

	int r = restore_member_status(state_dir, &st);
	if (r < 0) {
		snprintf(out->reason, sizeof out->reason, "%s", rv_errmsg(r));
		rv_err_clear();
	} else if (st.found) {
		snprintf(out->reason, sizeof out->reason,
			 "member %s is at step '%s' of another restore (%s, of %s); finish or roll back that restore first",
			 m->name, st.phase, st.stamp, st.artifact);
	} else if (restore_pending(state_dir, &pend, &pending) == 0 && pending) {
		snprintf(out->reason, sizeof out->reason, "a restore on this host alone is pending at step '%s'; %s",
			 pend.phase, pend.hint);
	} else if (fr < 0) {
		snprintf(out->reason, sizeof out->reason,
			 "the directory %s, where member %s's data dir and the restore's staging go, cannot be read: %s",
			 parent, m->name, strerror(-fr));
	} else if (out->free_bytes < out->need_bytes) {
		snprintf(out->reason, sizeof out->reason,
			 "not enough space beside %s for the received snapshot and the restored data dir: %s needed, %s free",
			 m->data_dir, rv_fmt_bytes(out->need_bytes, a, sizeof a), rv_fmt_bytes(out->free_bytes, b, sizeof b));
	} else if (!out->reason[0] && er < 0) {
		snprintf(out->reason, sizeof out->reason,
			 "member %s's etcd binary %s is not on this host (%s); install etcd or set cluster.etcd.binary",
			 m->name, cs->etcd.binary && *cs->etcd.binary ? cs->etcd.binary : "etcd", strerror(-er));
		out->etcd_binary[0] = 0;
	}
	rv_err_clear();
	out->could = !out->reason[0];
	return 0;
}
