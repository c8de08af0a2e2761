/* cmd_registry_sync.c - `regvault registry validate` and `regvault registry sync`. */
#include "cli/cli.h"

int cmd_registry_validate(struct cli *cli, int argc, char **argv)
{
	(void)cli, (void)argc, (void)argv;
	return cli_usage_error("registry validate", "not built yet");
}

int cmd_registry_sync(struct cli *cli, int argc, char **argv)
{
	(void)cli, (void)argc, (void)argv;
	return cli_usage_error("registry sync", "not built yet");
}
