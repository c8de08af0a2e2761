/* cmd_keygen.c - 'regvault keygen FILE': a new age X25519 identity in FILE (mode
 * 0600, never over an existing file), its recipient printed, like age-keygen. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "snapshot/snapshot.h"

static const char usage[] =
	"usage: regvault keygen FILE\n"
	"\n"
	"Writes a new age identity (private key) to FILE, readable only by its owner, and prints\n"
	"its recipient (public key, age1...). The file is what store.encryption.identity_file names\n"
	"for reading encrypted artifacts, and what 'age -d -i FILE' takes; the recipient goes into\n"
	"store.encryption.recipients on the hosts that write backups. FILE must not exist yet.\n"
	"Keep a copy of FILE offline: without it, the artifacts made for its recipient cannot be read.\n"
	"\n"
	"Exit codes: 0 written, 1 it could not be written, 2 usage error.\n";

int cmd_keygen(struct cli *cli, int argc, char **argv)
{
	char id[128], rcp[128], stamp[32], text[512];
	time_t now = time(NULL);
	struct tm tm;
	int fd, r;
	size_t n;

	if (cli_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return RV_EXIT_OK;
	}
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage_error("keygen", "give exactly one FILE to write the identity to");
	if ((r = age_keygen(id, sizeof id, rcp, sizeof rcp)) < 0)
		return cli_fail(r);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = (size_t)snprintf(text, sizeof text, "# created: %s\n# public key: %s\n%s\n", stamp, rcp, id);
	explicit_bzero(id, sizeof id);
	fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		explicit_bzero(text, sizeof text);
		return cli_fail(rv_fail(r, "cannot create %s: %s", argv[1],
					r == -EEXIST ? "it exists already (an identity is never overwritten)" : strerror(-r)));
	}
	r = rv_write_all(fd, text, n);
	explicit_bzero(text, sizeof text);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		unlink(argv[1]);
		return cli_fail(rv_fail(r, "cannot write %s: %s", argv[1], strerror(-r)));
	}
	if (cli->json) {
		json_t *o = json_object();
		json_object_set_new(o, "identity_file", json_string(argv[1]));
		json_object_set_new(o, "recipient", json_string(rcp));
		cli_print_json(o);
	} else {
		printf("%s\n", rcp);
	}
	return RV_EXIT_OK;
}
