/* Unit tests for capability manifests (registry/capability_manifest.c): the YAML
 * read into the JSON the sync writes, and every problem as file:line: what. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/common.h"
#include "registry/registry.h"
#include "tests/unit/unit.h"

static int parse(const char *text, const char *file, struct capability *c, struct manifest_problem *p)
{
	int r = manifest_parse(text, strlen(text), file, c, p);
	rv_err_clear();
	return r;
}

TEST(manifest_complete_example)
{
	static const char text[] = "namespace: chora.devex.registry\n"
				   "version: 2.1.0\n"
				   "metadata:\n"
				   "  title: Capability registry\n"
				   "  creator: chora devex team\n"
				   "  date: 2025-11-17\n"
				   "  subject: [registry, etcd]\n"
				   "  port: 8080\n"
				   "  ratio: 0.25\n"
				   "  public: true\n"
				   "  replaces: ~\n"
				   "  code: '0042'\n"
				   "dependencies:\n"
				   "  - chora.base.core >=2.0.0 <3.0.0\n"
				   "  - chora.base.logging\n"
				   "chora_service:\n"
				   "  port: 8080\n"
				   "  health_check:\n"
				   "    http: http://127.0.0.1:8080/health\n"
				   "    timeout: 2s\n";
	struct capability c;
	struct manifest_problem p;
	CHECK_INT(parse(text, "caps/whatever.yaml", &c, &p), 0);
	CHECK_STR(c.ns, "chora.devex.registry");
	CHECK_STR(c.file, "caps/whatever.yaml");
	CHECK_STR(c.version, "2.1.0");
	CHECK_INT(c.type, CAPABILITY_SERVICE);
	CHECK_STR(capability_type_name(c.type), "service");
	CHECK_STR(c.metadata_json, "{\"title\":\"Capability registry\",\"creator\":\"chora devex team\","
				   "\"date\":\"2025-11-17\",\"subject\":[\"registry\",\"etcd\"],\"port\":8080,"
				   "\"ratio\":0.25,\"public\":true,\"replaces\":null,\"code\":\"0042\"}");
	CHECK_STR(c.dependencies_json, "[{\"namespace\":\"chora.base.core\",\"range\":\">=2.0.0 <3.0.0\"},"
				       "{\"namespace\":\"chora.base.logging\",\"range\":null}]");
	CHECK_INT(c.n_deps, 2);
	CHECK_STR(c.deps[0].ns, "chora.base.core");
	CHECK_STR(c.deps[0].range, ">=2.0.0 <3.0.0");
	CHECK(c.deps[1].range == NULL);
	CHECK_INT(c.check.kind, HEALTH_CHECK_HTTP);
	CHECK_STR(c.check.url, "http://127.0.0.1:8080/health");
	CHECK_INT(c.check.timeout_ms, 2000);
	capability_free(&c);
}

TEST(manifest_defaults)
{
	struct capability c;
	struct manifest_problem p;
	CHECK_INT(parse("version: 1.0.0\n", "/x/chora.awareness.sap_self_evaluation.yaml", &c, &p), 0);
	CHECK_STR(c.ns, "chora.awareness.sap_self_evaluation");
	CHECK_INT(c.type, CAPABILITY_PATTERN);
	CHECK_STR(capability_type_name(c.type), "pattern");
	CHECK_STR(c.metadata_json, "{}");
	CHECK_STR(c.dependencies_json, "[]");
	CHECK_INT(c.check.kind, HEALTH_CHECK_NONE);
	capability_free(&c);

	/* an empty chora_service still makes a service; a command check has argv */
	CHECK_INT(parse("version: 1.0.0\nchora_service:\n", "a.yml", &c, &p), 0);
	CHECK_STR(c.ns, "a");
	CHECK_INT(c.type, CAPABILITY_SERVICE);
	capability_free(&c);
	CHECK_INT(parse("version: 1.0.0\nchora_service:\n  health_check:\n    command: [pg_isready, -q]\n", "b.yaml",
			&c, &p),
		  0);
	CHECK_INT(c.check.kind, HEALTH_CHECK_COMMAND);
	CHECK_INT(c.check.argc, 2);
	CHECK_STR(c.check.argv[0], "pg_isready");
	CHECK_STR(c.check.argv[1], "-q");
	CHECK(c.check.argv[2] == NULL);
	CHECK_INT(c.check.timeout_ms, 5000);
	capability_free(&c);
}

TEST(manifest_problems_name_the_line)
{
	static const struct {
		const char *file, *text;
		unsigned line;
		const char *what, *ns;
	} cases[] = {
		{"a.yaml", "namespace: a\n", 1, "version is missing", "a"},
		{"a.yaml", "version: 1.0\n", 1, "version: '1.0' is not a version", "a"},
		{"a.yaml", "version: 1.0.0\nversion: 1.0.1\n", 2, "version is given twice", "a"},
		{"a.yaml", "version: 1.0.0\nmetdata: {}\n", 2, "did you mean metadata?", "a"},
		{"a.yaml", "version: 1.0.0\ncolour: red\n", 2, "unknown key 'colour'", "a"},
		{"a.yaml", "version: 1.0.0\nmetadata: [1, 2]\n", 2, "metadata must be a mapping", "a"},
		{"a.yaml", "version: 1.0.0\nmetadata:\n  t: 1\n  t: 2\n", 4, "the key 't' twice", "a"},
		{"a.yaml", "version: 1.0.0\ndependencies:\n  - chora.base\n  - Bad.Name\n", 4, "not a namespace", "a"},
		{"a.yaml", "version: 1.0.0\ndependencies:\n  - b >=x\n", 3, "dependency b: range '>=x'", "a"},
		{"a.yaml", "version: 1.0.0\ndependencies:\n  - b\n  - b ^1.0.0\n", 4, "listed twice", "a"},
		{"a.yaml", "version: 1.0.0\ndependencies: b\n", 2, "dependencies must be a list", "a"},
		{"a.yaml", "version: 1.0.0\nchora_service: yes\n", 2, "chora_service must be a mapping", "a"},
		{"a.yaml", "version: 1.0.0\nchora_service:\n  helth_check: {}\n", 3, "did you mean health_check", "a"},
		{"a.yaml", "version: 1.0.0\nchora_service:\n  health_check:\n    timeout: 5s\n", 4, "needs http", "a"},
		{"a.yaml", "version: 1.0.0\nchora_service:\n  health_check:\n    http: localhost\n", 4,
		 "http:// or https://", "a"},
		{"a.yaml", "version: 1.0.0\nchora_service:\n  health_check:\n    command: pg_isready -q\n", 4,
		 "list of arguments", "a"},
		{"a.yaml", "version: 1.0.0\nchora_service:\n  health_check:\n    http: http://x/\n    timeout: soon\n", 5,
		 "duration", "a"},
		{"a.yaml", "version: 1.0.0\nchora_service:\n  health_check:\n    http: http://x/\n    command: [x]\n", 5,
		 "both http and command", "a"},
		{"a.yaml", "version: 1.0.0\n  bad: indent\n", 2, "YAML syntax error", "a"},
		{"a.yaml", "- version: 1.0.0\n", 1, "must be a mapping", "a"},
		{"a.yaml", "", 1, "empty", "a"},
		{"a.yaml", "version: 1.0.0\n---\nversion: 2.0.0\n", 3, "second YAML document", "a"},
		{"a.yaml", "namespace: Chora\nversion: 1.0.0\n", 1, "not dotted lower-case", "a"},
		{"Bad Name.yaml", "version: 1.0.0\n", 1, "file name 'Bad Name' is not a namespace", NULL},
		{"Bad Name.yaml", "namespace: good.one\nversion: x\n", 2, "not a version", "good.one"},
		{"a.yaml", "a: &a [*a, *a]\n", 1, "", "a"},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		struct capability c;
		struct manifest_problem p;
		if (parse(cases[i].text, cases[i].file, &c, &p) != -EINVAL) {
			unit_failed(__FILE__, __LINE__, "case %zu parsed", i);
			capability_free(&c);
			return;
		}
		if (p.line != cases[i].line || !p.what || !strstr(p.what, cases[i].what) ||
		    strcmp(p.file, cases[i].file) != 0 ||
		    (cases[i].ns ? !p.ns || strcmp(p.ns, cases[i].ns) != 0 : p.ns != NULL)) {
			unit_failed(__FILE__, __LINE__, "case %zu: %s:%u: %s (ns %s)", i, p.file, p.line, p.what,
				    p.ns ? p.ns : "none");
			manifest_problem_free(&p);
			return;
		}
		manifest_problem_free(&p);
	}
}

/* Aliases cannot blow a small file up into a huge JSON value. */
TEST(manifest_alias_bomb_is_refused)
{
	struct rv_buf b = {0};
	rv_buf_printf(&b, "version: 1.0.0\nmetadata:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 12; i++)
		rv_buf_printf(&b, "  a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
			      i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	struct capability c;
	struct manifest_problem p;
	CHECK_INT(parse(b.data, "bomb.yaml", &c, &p), -EINVAL);
	CHECK_CONTAINS(p.what, "too large");
	manifest_problem_free(&p);
	rv_buf_free(&b);
}

TEST(namespace_rules)
{
	CHECK(capability_namespace_valid("chora.devex.registry"));
	CHECK(capability_namespace_valid("a"));
	CHECK(capability_namespace_valid("a1.b_c.d-e"));
	CHECK(!capability_namespace_valid(""));
	CHECK(!capability_namespace_valid("Chora"));
	CHECK(!capability_namespace_valid("a..b"));
	CHECK(!capability_namespace_valid(".a"));
	CHECK(!capability_namespace_valid("a."));
	CHECK(!capability_namespace_valid("1a"));
	CHECK(!capability_namespace_valid("a/b"));
	CHECK(!capability_namespace_valid("a b"));
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

TEST(manifest_dir_loads_valid_and_reports_invalid)
{
	char dir[] = "/tmp/rv-manifests-XXXXXX";
	CHECK(mkdtemp(dir));
	write_file(dir, "zeta.yaml", "version: 1.0.0\n");
	write_file(dir, "alpha.yml", "version: 1.0.0\nchora_service: {}\n");
	write_file(dir, "broken.yaml", "version: [\n");
	write_file(dir, "one.yaml", "namespace: same\nversion: 1.0.0\n");
	write_file(dir, "two.yaml", "namespace: same\nversion: 2.0.0\n");
	write_file(dir, ".hidden.yaml", "version: nope\n");
	write_file(dir, "notes.txt", "not a manifest\n");

	struct manifest_set s;
	CHECK_INT(manifest_load_dir(dir, &s), 0);
	CHECK_INT(s.dir_err, 0);
	CHECK_INT(s.n_caps, 2);
	CHECK_STR(s.caps[0].ns, "alpha");
	CHECK_INT(s.caps[0].type, CAPABILITY_SERVICE);
	CHECK_STR(s.caps[1].ns, "zeta");
	CHECK_INT(s.n_problems, 3);
	CHECK_CONTAINS(s.problems[0].file, "broken.yaml");
	CHECK_STR(s.problems[0].ns, "broken");
	CHECK_CONTAINS(s.problems[1].file, "one.yaml");
	CHECK_CONTAINS(s.problems[1].what, "also the namespace of");
	CHECK_CONTAINS(s.problems[1].what, "two.yaml");
	CHECK_STR(s.problems[1].ns, "same");
	CHECK_CONTAINS(s.problems[2].file, "two.yaml");
	manifest_set_free(&s);

	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(manifest_load_dir(dir, &s), 0);
	CHECK_INT(s.dir_err, -ENOENT);
	CHECK_CONTAINS(s.dir_msg, "cannot read the manifests directory");
	CHECK_INT(s.n_caps, 0);
	manifest_set_free(&s);
}
