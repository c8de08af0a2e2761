/* cmd_member.c - 'regvault member exec [--print] MEMBER': become one member's etcd
 * (execv), with the command line registry/ builds for `cluster up`, so that a
 * systemd unit (regvault-etcd@.service) runs a member without a copy of its flags. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char usage_group[] =
	"usage: regvault member exec [--print] MEMBER\n"
	"\n"
	"  exec     run one configured member's etcd in the foreground, in place of regvault\n"
	"\n"
	"'regvault member SUBCOMMAND --help' for the options of each.\n"
	"Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.\n";

static const char usage_exec[] =
	"usage: regvault member exec [--print] MEMBER\n"
	"\n"
	"Replace this process with the etcd of the configured member MEMBER, run with exactly\n"
	"the command line 'regvault cluster up' starts it with: the etcd binary\n"
	"(cluster.etcd.binary) found in PATH, --name, the absolute --data-dir, the URL flags,\n"
	"--initial-cluster, its token and state, the cluster.etcd settings, then\n"
	"cluster.etcd.extra_args (server TLS flags go there). This is what the systemd unit\n"
	"regvault-etcd@.service runs (ExecStart=/usr/bin/regvault member exec %i) for a\n"
	"member with control: systemd and unit: regvault-etcd@MEMBER.service: the unit holds\n"
	"no copy of the flags, and the process keeps systemd's environment (NOTIFY_SOCKET:\n"
	"etcd says READY=1 once it serves). Unlike cluster up it writes no pid file and no\n"
	"log of its own: etcd logs to stderr (the journal, under systemd). Refused when an\n"
	"etcd of this member already runs on this host.\n"
	"\n"
	"Options:\n"
	"  --print, --dry-run\n"
	"              print the command line instead, one argument a line (-o json: an\n"
	"              array of strings), and run nothing\n"
	"  -h, --help  this help\n"
	"\n"
	"Exit codes: etcd's own once it runs; before that 1 when etcd cannot be run or the\n"
	"member already runs, 2 usage or configuration error (an unknown MEMBER).\n";

/* Hand over a process as a fresh one would get it: every signal at its default
 * and none blocked (cluster up's members get the same), no descriptor of ours
 * beyond stdin, stdout and stderr, the working directory /. */
static void reset_for_exec(void)
{
	struct sigaction dfl;
	sigset_t none;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < _NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL); /* glibc's own signals say EINVAL: fine */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		/* an old kernel: what is left open is ours and close-on-exec anyway */
	}
	if (chdir("/") < 0) {
		/* the paths handed over are absolute */
	}
}

static int member_exec_cmd(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {{"print", no_argument, NULL, 'p'},
						 {"dry-run", no_argument, NULL, 'p'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct rv_config cfg = {0};
	bool print = false;
	int c, rc;
	optind = 0; /* GNU: re-initialise */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (c == 'p')
			print = true;
		else if (c == 'h') {
			fputs(usage_exec, stdout);
			return RV_EXIT_OK;
		} else
			return cli_option_error("member exec", c, argc, argv);
	}
	if (optind >= argc)
		return cli_usage_error("member exec", "which member? give its name (cluster.members[].name)");
	if (optind + 1 < argc)
		return cli_usage_error("member exec", "unexpected argument '%s'", argv[optind + 1]);
	const char *name = argv[optind];
	if ((rc = cli_load_config(cli, &cfg)))
		return rc;
	const struct cluster_spec *cs = &cfg.cluster;
	size_t idx = cs->n_members;
	for (size_t i = 0; i < cs->n_members; i++)
		if (strcmp(cs->members[i].name, name) == 0)
			idx = i;
	if (idx == cs->n_members) {
		struct rv_buf names = {0};
		for (size_t i = 0; i < cs->n_members; i++)
			rv_buf_printf(&names, "%s%s", i ? ", " : "", cs->members[i].name);
		rc = cli_usage_error("member exec", "no member '%s' in the configuration (members: %s)", name,
				     names.data ? names.data : "none");
		rv_buf_free(&names);
		config_free(&cfg);
		return rc;
	}

	char **eargv = NULL;
	int r = member_etcd_argv(cs, idx, &eargv);
	if (r < 0) {
		rc = cli_fail(r);
		config_free(&cfg);
		return rc;
	}
	if (print) {
		if (cli->json) {
			json_t *a = json_array();
			for (size_t i = 0; eargv[i]; i++)
				json_array_append_new(a, json_string(eargv[i]));
			cli_print_json(a);
		} else {
			for (size_t i = 0; eargv[i]; i++)
				printf("%s\n", eargv[i]);
		}
		member_argv_free(eargv);
		config_free(&cfg);
		return RV_EXIT_OK;
	}

	pid_t running = member_process_pid(&cs->members[idx]);
	if (running > 0) {
		fprintf(stderr,
			"regvault: member %s already runs on this host (etcd, pid %d); not starting a second etcd on "
			"its data dir\n",
			name, (int)running);
		member_argv_free(eargv);
		config_free(&cfg);
		return RV_EXIT_FAIL;
	}
	rv_info("member %s: executing %s (data dir from the configuration)", name, eargv[0]);
	fflush(stdout);
	fflush(stderr);
	reset_for_exec();
	execv(eargv[0], eargv);
	int e = errno;
	fprintf(stderr, "regvault: cannot start member %s: cannot execute %s: %s\n", name, eargv[0], strerror(e));
	member_argv_free(eargv);
	config_free(&cfg);
	return RV_EXIT_FAIL;
}

int cmd_member(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage_group, argc < 2 ? stderr : stdout);
		return argc < 2 ? RV_EXIT_USAGE : RV_EXIT_OK;
	}
	if (strcmp(argv[1], "exec") == 0)
		return member_exec_cmd(cli, argc - 1, argv + 1);
	return cli_usage_error("member", "unknown subcommand '%s'", argv[1]);
}
