/* snapshot.c - 'regvault snapshot': placeholder until the command lands. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_snapshot(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	fprintf(stderr, "regvault: '%s' is not implemented yet\n", argv[0]);
	return RV_EXIT_FAIL;
}
