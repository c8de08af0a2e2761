/* cmd_registry.c - `regvault registry validate|sync|heartbeat|status`: the registry
 * services by hand (the daemon runs them too). Each subcommand is in its own file. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
	"usage: regvault registry validate|sync|heartbeat|status [options]\n"
	"\n"
	"  validate [DIR]            check every capability manifest (exit 2 when one is bad)\n"
	"  sync [--dry-run]          write the manifests into etcd once, prune what was removed\n"
	"  heartbeat [--namespace NS ...] [--auto-discover] [--capabilities DIR]\n"
	"            [--interval D] [--ttl D]\n"
	"                            keep Service-type capabilities' health keys, in the foreground\n"
	"  status                    every capability: type, version, health, heartbeat age\n"
	"\n"
	"All take -o json. 'regvault registry SUBCOMMAND --help' for one.\n";

static const struct {
	const char *name;
	int (*fn)(struct cli *, int, char **);
} subcommands[] = {
	{"validate", cmd_registry_validate},
	{"sync", cmd_registry_sync},
	{"heartbeat", cmd_registry_heartbeat},
	{"status", cmd_registry_status},
};

int cmd_registry(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? RV_EXIT_USAGE : RV_EXIT_OK;
	}
	for (size_t i = 0; i < RV_ARRAY_LEN(subcommands); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].fn(cli, argc - 1, argv + 1);
	return cli_usage_error("registry", "unknown subcommand '%s'", argv[1]);
}
