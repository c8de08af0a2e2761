/* point_opts.c - the options of a restore or drill to a point (--to-latest,
 * --to-revision R, --to-time T) and the lines of its report. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* RFC 3339 in UTC, with optional fractional seconds (kept to the millisecond). */
static int parse_time_ms(const char *s, int64_t *ms)
{
	int64_t sec;
	if (rv_parse_rfc3339(s, &sec) < 0)
		return -EINVAL;
	int frac = 0;
	const char *dot = strchr(s, '.');
	if (dot)
		for (int i = 1, scale = 100; i <= 3 && dot[i] >= '0' && dot[i] <= '9'; i++, scale /= 10)
			frac += (dot[i] - '0') * scale;
	*ms = sec * 1000 + frac;
	return 0;
}

int cli_point_option(const char *cmd, int opt, const char *arg, struct restore_point_req *q)
{
	char *end;
	if (q->to != RESTORE_TO_NONE && opt != CLI_OPT_BUMP_REVISION)
		return cli_usage_error(cmd, "--to-latest, --to-revision and --to-time exclude each other");
	switch (opt) {
	case CLI_OPT_TO_LATEST:
		q->to = RESTORE_TO_LATEST;
		return RV_EXIT_OK;
	case CLI_OPT_TO_REVISION:
		q->revision = strtoll(arg, &end, 10);
		if (*end || end == arg || q->revision < 1)
			return cli_usage_error(cmd, "--to-revision takes a revision (a number from 1), not '%s'", arg);
		q->to = RESTORE_TO_REVISION;
		return RV_EXIT_OK;
	case CLI_OPT_TO_TIME:
		if (parse_time_ms(arg, &q->unix_ms) < 0)
			return cli_usage_error(cmd, "--to-time takes an RFC 3339 time in UTC, like 2026-12-02T10:15:00Z, not '%s'",
					       arg);
		q->to = RESTORE_TO_TIME;
		return RV_EXIT_OK;
	case CLI_OPT_BUMP_REVISION:
		q->bump = strtoll(arg, &end, 10);
		if (*end || end == arg || q->bump < 2 || q->bump > 1000000)
			return cli_usage_error(cmd, "--bump-revision takes a number of revisions from 2 to 1000000, not '%s'",
					       arg);
		return RV_EXIT_OK;
	}
	return RV_EXIT_USAGE;
}

int cli_point_spec(const char *cmd, const char *spec, struct restore_point_req *q)
{
	memset(q, 0, sizeof *q);
	if (strncmp(spec, "rev:", 4) == 0) {
		if (strcmp(spec + 4, "latest") == 0)
			return cli_point_option(cmd, CLI_OPT_TO_LATEST, NULL, q);
		return cli_point_option(cmd, CLI_OPT_TO_REVISION, spec + 4, q);
	}
	if (strncmp(spec, "time:", 5) == 0)
		return cli_point_option(cmd, CLI_OPT_TO_TIME, spec + 5, q);
	return RV_EXIT_USAGE;
}

void cli_print_point(const struct restore_point_report *p)
{
	char t[21], b[32];
	if (!p->used || !p->revision)
		return;
	rv_utc_rfc3339(p->unix_ms / 1000, t);
	printf("  point    revision %" PRId64 " (recorded %.19s.%03dZ), chain %s\n", p->revision, t,
	       (int)(p->unix_ms % 1000), p->chain);
	printf("  replay   %zu events in %zu revisions from %zu segments after the db's revision %" PRId64
	       ", %s, %.0f events/s\n",
	       p->events, p->revisions, p->segments, p->db_revision, rv_fmt_duration(p->seconds, b, sizeof b), p->rate);
	if (p->leases_kept || p->leases_granted)
		printf("  leases   %zu of the base kept alive during the replay, %zu granted again under their id\n",
		       p->leases_kept, p->leases_granted);
	if (p->bumped_to)
		printf("  opened   at revision %" PRId64 " (--bump-revision)\n", p->bumped_to);
}
