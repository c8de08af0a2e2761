/* advice.c - the command line's wording of the advice the modules record with their
 * errors (common.h, enum rv_advice): the flags and commands an operator types. Each
 * text is appended where the module's sentence leaves off. */
#include "cli/cli.h"

static const char *const cli_advice_texts[RV_ADVICE_COUNT] = {
	[RV_ADVICE_CLUSTER_STATUS] = " (regvault cluster status)",
	[RV_ADVICE_CHECK_CLUSTER_STATUS] = "; check 'regvault cluster status'",
	[RV_ADVICE_CLUSTER_UP] = " with 'regvault cluster up'",
	[RV_ADVICE_START_MEMBER] = " (start it with 'regvault cluster up')",
	[RV_ADVICE_RECOVER_SPACE] = ": run 'regvault maint recover-space'",
	[RV_ADVICE_RUN_RECOVER_SPACE] = "; run regvault maint recover-space",
	[RV_ADVICE_HASHCHECK_FIRST] = "; run regvault maint hashcheck first",
	[RV_ADVICE_FIND_DIVERGED] = " (regvault maint hashcheck) and restore it before any maintenance",
	[RV_ADVICE_SNAPSHOT_SAVE] = "; run 'regvault snapshot save'",
	[RV_ADVICE_SNAPSHOT_LIST] = "; 'regvault snapshot list' shows what is there",
	[RV_ADVICE_STORE_URL] = " or pass --store URL",
	[RV_ADVICE_NO_QUORUM_SAVE] =
		" ('regvault cluster up'), or pass --allow-no-quorum to save from a member without quorum anyway",
	[RV_ADVICE_SOURCE_CATCH_UP] = ", or pass --allow-no-quorum to save from it anyway",
	[RV_ADVICE_SOURCE_MEMBERS_DOWN] =
		" ('regvault cluster up') or choose another source, or pass --allow-no-quorum to save from it anyway",
	[RV_ADVICE_SAVED_WITHOUT_QUORUM] = " (--allow-no-quorum)",
	[RV_ADVICE_DISKCHECK_DIR] = "; pass --dir with a directory on the disk etcd uses",
	[RV_ADVICE_DISKCHECK_DIR_WRITABLE] = "; pass --dir with a directory on the disk etcd uses that you can write",
	[RV_ADVICE_RESTORE_FORCE] = "; add --force to restore anyway",
	[RV_ADVICE_FINISH_ROLLBACK] = "; finish that with 'regvault restore --rollback'",
	[RV_ADVICE_ROLLBACK_ONCE_STOPPED] = "; run 'regvault restore --rollback' once the member is stopped",
	[RV_ADVICE_RUN_ROLLBACK] = " and run 'regvault restore --rollback'",
	[RV_ADVICE_PENDING_ROLLBACK] = " Run 'regvault restore --rollback' to put them back and start the old cluster",
	[RV_ADVICE_PENDING_RESUME] = ", or 'regvault restore --resume' to finish the restore",
	[RV_ADVICE_CONFIG_GIVEN] = " with --config",
	[RV_ADVICE_CONFIG_DEFAULT] = "; give another with --config or $REGVAULT_CONFIG",
	[RV_ADVICE_START_DAEMON] = "; start it with 'systemctl start regvault' or run 'regvault daemon'",
	[RV_ADVICE_FROM_ARTIFACT] = "; restore from an artifact now with --from NAME ('regvault snapshot list' shows them)",
};

void cli_advice_install(void)
{
	rv_advice_install(cli_advice_texts);
}
