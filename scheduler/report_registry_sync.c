/* report_registry_sync.c - `registry sync` and `registry validate` as JSON
 * (docs/reference/registry.md lists the keys). */
#include <string.h>

#include "scheduler/scheduler.h"

/* "metadata,version" as ["metadata", "version"]. */
static json_t *keys_array(const char *keys)
{
	json_t *a = json_array();
	const char *p = keys ? keys : "";
	while (*p) {
		size_t n = strcspn(p, ",");
		json_array_append_new(a, json_stringn(p, n));
		p += n + (p[n] == ',');
	}
	return a;
}

/* "a; b" as ["a", "b"]. */
static json_t *warnings_array(const char *w)
{
	json_t *a = json_array();
	const char *p = w ? w : "";
	while (*p) {
		const char *e = strstr(p, "; ");
		size_t n = e ? (size_t)(e - p) : strlen(p);
		json_array_append_new(a, json_stringn(p, n));
		p += n + (e ? 2 : 0);
	}
	return a;
}

json_t *report_registry_sync_json(const struct sync_report *r)
{
	json_t *root = json_object(), *counts = json_object(), *rows = json_array();
	json_object_set_new(root, "dry_run", json_boolean(r->dry_run));
	json_object_set_new(root, "revision", json_integer(r->revision));
	json_object_set_new(root, "txns", json_integer((json_int_t)r->txns));
	json_object_set_new(root, "git_commit", r->git_commit ? json_string(r->git_commit) : json_null());
	for (int a = SYNC_CREATE; a <= SYNC_DEFERRED; a++)
		json_object_set_new(counts, sync_action_name(a), json_integer((json_int_t)r->counts[a]));
	json_object_set_new(root, "counts", counts);
	json_t *types = json_object();
	json_object_set_new(types, "service", json_integer((json_int_t)r->n_by_type[CAPABILITY_SERVICE]));
	json_object_set_new(types, "pattern", json_integer((json_int_t)r->n_by_type[CAPABILITY_PATTERN]));
	json_object_set_new(root, "types", types);
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct sync_row *row = &r->rows[i];
		json_t *o = json_object();
		json_object_set_new(o, "namespace", json_string(row->ns));
		json_object_set_new(o, "action", json_string(sync_action_name(row->action)));
		json_object_set_new(o, "keys", keys_array(row->keys));
		if (row->file) {
			json_object_set_new(o, "file", json_string(row->file));
			json_object_set_new(o, "line", json_integer(row->line));
		}
		if (row->reason)
			json_object_set_new(o, "reason", json_string(row->reason));
		json_array_append_new(rows, o);
	}
	json_object_set_new(root, "capabilities", rows);
	json_object_set_new(root, "warnings", warnings_array(r->warnings));
	return root;
}

json_t *report_registry_validate_json(const struct manifest_set *s)
{
	json_t *root = json_object(), *caps = json_array(), *problems = json_array();
	json_object_set_new(root, "ok", json_boolean(s->dir_err == 0 && s->n_problems == 0));
	json_object_set_new(root, "valid", json_integer((json_int_t)s->n_caps));
	json_object_set_new(root, "invalid", json_integer((json_int_t)s->n_problems));
	if (s->dir_err)
		json_object_set_new(root, "error", json_string(s->dir_msg));
	for (size_t i = 0; i < s->n_caps; i++) {
		const struct capability *c = &s->caps[i];
		json_t *o = json_object();
		json_object_set_new(o, "namespace", json_string(c->ns));
		json_object_set_new(o, "file", json_string(c->file));
		json_object_set_new(o, "type", json_string(capability_type_name(c->type)));
		json_object_set_new(o, "version", json_string(c->version));
		json_object_set_new(o, "dependencies", json_integer((json_int_t)c->n_deps));
		json_array_append_new(caps, o);
	}
	for (size_t i = 0; i < s->n_problems; i++) {
		const struct manifest_problem *p = &s->problems[i];
		json_t *o = json_object();
		json_object_set_new(o, "file", json_string(p->file));
		json_object_set_new(o, "line", json_integer(p->line));
		json_object_set_new(o, "what", json_string(p->what));
		json_object_set_new(o, "namespace", p->ns ? json_string(p->ns) : json_null());
		json_array_append_new(problems, o);
	}
	json_object_set_new(root, "capabilities", caps);
	json_object_set_new(root, "problems", problems);
	return root;
}
