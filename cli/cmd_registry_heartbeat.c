/* cmd_registry_heartbeat.c - `regvault registry heartbeat` and `regvault registry status`. */
#include "cli/cli.h"

int cmd_registry_heartbeat(struct cli *cli, int argc, char **argv)
{
	(void)cli, (void)argc, (void)argv;
	return cli_usage_error("registry heartbeat", "not built yet");
}

int cmd_registry_status(struct cli *cli, int argc, char **argv)
{
	(void)cli, (void)argc, (void)argv;
	return cli_usage_error("registry status", "not built yet");
}
