/* fuzz_capability_manifest.c - capability manifests (registry/capability_manifest.c)
 * and SemVer ranges (registry/semver.c): YAML from the manifests repository, which
 * anyone with a pull request writes. A manifest that parses must be what the sync
 * may write: a valid namespace and version, metadata a JSON object, dependencies a
 * JSON array of one {"namespace", "range"} per dependency with a range that checks. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"

static void check_capability(const struct capability *c)
{
	struct semver v;
	if (!capability_namespace_valid(c->ns) || semver_parse(c->version, &v) != 0)
		abort();
	json_t *m = json_loads(c->metadata_json, 0, NULL);
	json_t *d = json_loads(c->dependencies_json, 0, NULL);
	if (!json_is_object(m) || !json_is_array(d) || json_array_size(d) != c->n_deps)
		abort(); /* what the sync would write is not the JSON it promises */
	for (size_t i = 0; i < c->n_deps; i++) {
		json_t *o = json_array_get(d, i);
		const char *ns = json_string_value(json_object_get(o, "namespace"));
		json_t *range = json_object_get(o, "range");
		if (!ns || strcmp(ns, c->deps[i].ns) != 0 || !capability_namespace_valid(ns))
			abort();
		if (c->deps[i].range ? strcmp(json_string_value(range), c->deps[i].range) != 0 : !json_is_null(range))
			abort();
		if (c->deps[i].range && semver_range_check(c->deps[i].range) != 0)
			abort();
	}
	if (c->type == CAPABILITY_PATTERN && c->check.kind != HEALTH_CHECK_NONE)
		abort();
	if (c->check.kind == HEALTH_CHECK_COMMAND && (!c->check.argv || !c->check.argv[0] || c->check.argv[c->check.argc]))
		abort();
	json_decref(m);
	json_decref(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct capability c;
	struct manifest_problem p;
	if (manifest_parse((const char *)data, size, "fuzz/chora.fuzz.yaml", &c, &p) == 0) {
		check_capability(&c);
		capability_free(&c);
	} else {
		if (!p.what || !p.file || p.line == 0)
			abort(); /* a problem must say where and what */
		manifest_problem_free(&p);
	}
	rv_err_clear();

	/* the same bytes as a range and a version */
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	struct semver v, w;
	bool ok;
	if (semver_range_check(text) == 0 && semver_parse("1.2.3-rc.1", &v) == 0)
		semver_range_satisfies(text, &v, &ok);
	if (semver_parse(text, &w) == 0 && semver_parse("1.2.3", &v) == 0) {
		int c1 = semver_compare(&v, &w), c2 = semver_compare(&w, &v);
		if ((c1 > 0) != (c2 < 0) || (c1 == 0) != (c2 == 0))
			abort(); /* precedence is not antisymmetric */
	}
	rv_err_clear();
	free(text);
	return 0;
}
