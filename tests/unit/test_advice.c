/* Unit tests for the advice that travels with an error (common/error.c): the modules'
 * sentences name no flag and no regvault command; the CLI's wording is appended to
 * them, the daemon's names none; and the one JSON writer of the reports. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "tests/unit/unit.h"

/* What a CLI user or a daemon could be told to type. */
static bool names_a_flag_or_command(const char *s)
{
	return strstr(s, "--") || strstr(s, "regvault ");
}

struct advice_case {
	const char *neutral; /* the module's sentence, with no wording installed */
	const char *cli;     /* the same error on the command line */
};

/* Each call fails one module the way an operator meets it. */
static int fail_case(int which, const char *dir, struct store *st)
{
	struct store_spec none = {0};
	struct store *s = NULL;
	struct rv_config cfg;
	char name[256], missing[512];
	struct maint_diskcheck_opts o = {.size = 4096, .block_size = 4096, .threshold_us = 1000};
	struct maint_diskcheck_result res;
	switch (which) {
	case 0: return store_open(&none, &s);
	case 1: return snap_resolve(st, "latest", name, sizeof name);
	case 2: return snap_resolve(st, "nosuch", name, sizeof name);
	case 3:
		snprintf(missing, sizeof missing, "%s/missing", dir);
		o.dir = missing;
		return maint_diskcheck(&o, &res);
	case 4: return config_load("/nonexistent/regvault.yaml", &cfg);
	default: return 0;
	}
}

TEST(advice_module_sentences_name_no_flag_and_the_cli_appends_its_wording)
{
	char tmpl[] = "/tmp/regvault-unit-advice.XXXXXX";
	char *dir = mkdtemp(tmpl);
	struct store_spec spec = {0};
	struct store *st = NULL;
	char want[4][1024];
	CHECK(dir);
	spec.url = dir;
	CHECK_INT(store_open(&spec, &st), 0);
	snprintf(want[0], sizeof want[0], "store %s holds no snapshot yet", store_describe(st));
	snprintf(want[1], sizeof want[1], "there is no snapshot nosuch.tar.zst in store %s", store_describe(st));
	snprintf(want[2], sizeof want[2], "cannot test the disk at %s/missing: No such file or directory", dir);
	const struct advice_case cases[] = {
		{"no store is configured; set store.url in the configuration", " or pass --store URL"},
		{want[0], "; run 'regvault snapshot save'"},
		{want[1], "; 'regvault snapshot list' shows what is there"},
		{want[2], "; pass --dir with a directory on the disk etcd uses"},
		{"cannot read config /nonexistent/regvault.yaml (given): No such file or directory", NULL},
	};
	for (int i = 0; i < (int)RV_ARRAY_LEN(cases); i++) {
		char cli_text[2048];
		rv_advice_install(NULL);
		int r = fail_case(i, dir, st);
		CHECK(r < 0);
		CHECK_STR(rv_errmsg(r), cases[i].neutral);
		CHECK(!names_a_flag_or_command(rv_errmsg(r)));
		cli_advice_install();
		r = fail_case(i, dir, st);
		if (cases[i].cli)
			snprintf(cli_text, sizeof cli_text, "%s%s", cases[i].neutral, cases[i].cli);
		else /* the label of where the file came from, inside the sentence */
			snprintf(cli_text, sizeof cli_text, "cannot read config /nonexistent/regvault.yaml (given with --config): No such file or directory");
		CHECK_STR(rv_errmsg(r), cli_text);
		/* The daemon's wording never asks for a flag. */
		report_advice_install_config();
		r = fail_case(i, dir, st);
		CHECK(!names_a_flag_or_command(rv_errmsg(r)));
	}
	cli_advice_install();
	store_close(st);
	rmdir(dir);
}

TEST(advice_travels_with_its_code_through_wraps)
{
	cli_advice_install();
	int r = rv_fail_advice(-ENOENT, RV_ADVICE_SNAPSHOT_SAVE, "store x holds no snapshot yet");
	CHECK_INT(rv_erradvice(r), RV_ADVICE_SNAPSHOT_SAVE);
	r = rv_fail_wrap(r, "drill refused");
	CHECK_STR(rv_errmsg(r), "drill refused: store x holds no snapshot yet; run 'regvault snapshot save'");
	/* Another code's advice describes nothing here. */
	CHECK_INT(rv_erradvice(-EIO), RV_ADVICE_NONE);
	/* A new sentence has only its own advice. */
	r = rv_fail(-EIO, "the disk failed");
	CHECK_INT(rv_erradvice(r), RV_ADVICE_NONE);
	CHECK_STR(rv_errmsg(r), "the disk failed");
	rv_err_clear();
	CHECK_INT(rv_erradvice(-ENOENT), RV_ADVICE_NONE);
}

TEST(advice_every_id_has_cli_wording_and_none_of_the_daemon_names_a_flag)
{
	cli_advice_install();
	for (int a = RV_ADVICE_NONE + 1; a < RV_ADVICE_COUNT; a++)
		if (!rv_advice_text((enum rv_advice)a)[0])
			unit_failed(__FILE__, __LINE__, "advice %d has no CLI wording", a);
	for (int a = RV_ADVICE_NONE + 1; a < RV_ADVICE_COUNT; a++)
		if (names_a_flag_or_command(report_advice_config_text((enum rv_advice)a)))
			unit_failed(__FILE__, __LINE__, "the daemon's advice %d names a flag: %s", a,
				    report_advice_config_text((enum rv_advice)a));
	CHECK_STR(report_advice_config_text(RV_ADVICE_NONE), "");
	CHECK_STR(report_advice_config_text(RV_ADVICE_COUNT), "");
}

TEST(report_json_one_writer_for_every_report)
{
	json_t *o = json_object();
	json_object_set_new(o, "b", json_integer(2));
	json_object_set_new(o, "a", json_real(0.1 + 0.2));
	char *s = report_json_dumps(o);
	/* keys in insertion order, two-space indent, 15 significant digits */
	CHECK_STR(s, "{\n  \"b\": 2,\n  \"a\": 0.3\n}");
	free(s);
	json_decref(o);

	/* The drill's reals keep the 6 digits they always had. */
	struct drill_report *d = rv_xcalloc(1, sizeof *d);
	d->age_s = 12.3456789;
	d->recovery_time_s = 3.0;
	d->phases.fetch = 0.0000123456789;
	json_t *j = report_drill_json(d);
	s = report_json_dumps(j);
	CHECK_CONTAINS(s, "\"recovery_point_s\": 12.3457,");
	CHECK_CONTAINS(s, "\"recovery_time_s\": 3.0,");
	CHECK_CONTAINS(s, "\"fetch\": 1.23457e-5,");
	free(s);
	json_decref(j);
	free(d);
}
