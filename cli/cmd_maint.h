/* cmd_maint.h - what the two files of 'regvault maint' share (not a module API):
 * cmd_maint.c (compact, defrag, alarms, recover-space, dispatch) and cmd_maint_checks.c
 * (hashcheck, diskcheck, perfcheck). */
#ifndef REGVAULT_CLI_CMD_MAINT_H
#define REGVAULT_CLI_CMD_MAINT_H

#include "cli/cli.h"
#include "maint/maint.h"

/* Load the configuration and make a client for its members. */
int cli_maint_open_cluster(struct cli *cli, struct rv_config *cfg, etcd_client **c);
void cli_maint_close_cluster(struct rv_config *cfg, etcd_client *c);
/* getopt_long from the start of a subcommand's argv, quietly (we say what went wrong). */
void cli_maint_opts_begin(void);
/* A usage error for arguments left after the options, else 0. */
int cli_maint_extra_args(const char *sub, int argc, char **argv);
/* Subcommands whose only option is --help: an exit code when done (help printed,
 * or a usage error), -1 to go on. */
int cli_maint_only_help_option(const char *sub, const char *usage, int argc, char **argv);

int cli_maint_hashcheck(struct cli *cli, int argc, char **argv);
int cli_maint_diskcheck(struct cli *cli, int argc, char **argv);
int cli_maint_perfcheck(struct cli *cli, int argc, char **argv);

#endif
