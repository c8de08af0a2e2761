/* report.c - how every report is written, by the CLI's -o json and by the daemon
 * alike, so the two give the same bytes; and the daemon's wording of the advice the
 * modules record with their errors. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scheduler/scheduler.h"

/* Two-space indent, keys in insertion order, reals with 15 significant digits (as
 * many as a double holds, so a value reads back as it was). */
#define REPORT_JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

char *report_json_dumps(const json_t *root)
{
	return root ? json_dumps(root, REPORT_JSON_FLAGS) : NULL;
}

int report_json_write(const json_t *root, FILE *f)
{
	char *s = report_json_dumps(root);
	int r = 0;
	if (!s)
		return -ENOMEM;
	if (fputs(s, f) == EOF || fputc('\n', f) == EOF)
		r = -EIO;
	free(s);
	return r;
}

int report_json_save(const json_t *root, const char *path)
{
	char *text = report_json_dumps(root);
	if (!text)
		return rv_fail(-ENOMEM, "cannot write %s: out of memory", path);
	int r = rv_write_file_atomic(path, text);
	free(text);
	return r;
}

/* The daemon's wording: what to change or look at, never a flag to type. */
static const char *const config_advice_texts[RV_ADVICE_COUNT] = {
	[RV_ADVICE_CHECK_CLUSTER_STATUS] = "; check the status of every member",
	[RV_ADVICE_CLUSTER_UP] = " (their etcd services)",
	[RV_ADVICE_START_MEMBER] = " (start its etcd service)",
	[RV_ADVICE_RECOVER_SPACE] = ": recover the space (compact, defragment, disarm NOSPACE)",
	[RV_ADVICE_RUN_RECOVER_SPACE] = "; recover the space first (compact, defragment, disarm NOSPACE)",
	[RV_ADVICE_HASHCHECK_FIRST] = "; compare the members' HashKV first",
	[RV_ADVICE_FIND_DIVERGED] = " (compare the members' HashKV) and restore it before any maintenance",
	[RV_ADVICE_SNAPSHOT_SAVE] = "; take a snapshot first",
	[RV_ADVICE_NO_QUORUM_SAVE] = "; a scheduled save never saves without quorum",
	[RV_ADVICE_SOURCE_MEMBERS_DOWN] = " or choose another source (snapshot.source)",
	[RV_ADVICE_DISKCHECK_DIR] = "; check the members' data_dir in the configuration",
	[RV_ADVICE_DISKCHECK_DIR_WRITABLE] = "; check the members' data_dir and that the daemon's user may write there",
	[RV_ADVICE_RESTORE_FORCE] = "; a restore of a serving cluster must be asked for on purpose",
	[RV_ADVICE_FINISH_ROLLBACK] = "; finish the rollback before anything else",
	[RV_ADVICE_ROLLBACK_ONCE_STOPPED] = "; roll the restore back once the member is stopped",
	[RV_ADVICE_RUN_ROLLBACK] = " and roll the restore back",
	[RV_ADVICE_PENDING_ROLLBACK] = " Roll it back to put them back and start the old cluster",
	[RV_ADVICE_PENDING_RESUME] = ", or resume it to finish the restore",
	[RV_ADVICE_CONFIG_DEFAULT] = "; give another in $REGVAULT_CONFIG",
	[RV_ADVICE_START_DAEMON] = "; check that the daemon runs on this host",
};

const char *report_advice_config_text(enum rv_advice a)
{
	if (a <= RV_ADVICE_NONE || a >= RV_ADVICE_COUNT || !config_advice_texts[a])
		return "";
	return config_advice_texts[a];
}

void report_advice_install_config(void)
{
	rv_advice_install(config_advice_texts);
}
