/* report_registry_status.c - `registry status -o json`: every capability's type,
 * version and heartbeat (docs/reference/registry-heartbeat.md lists the keys). */
#include <math.h>

#include "scheduler/scheduler.h"

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *report_registry_status_json(const struct registry_status_row *rows, size_t n, bool ok)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct registry_status_row *r = &rows[i];
		json_t *o = json_object();
		json_object_set_new(o, "namespace", json_string(r->ns));
		json_object_set_new(o, "type", r->type && *r->type ? json_string(r->type) : json_null());
		json_object_set_new(o, "version", str_or_null(r->version));
		json_object_set_new(o, "health", json_string(r->health));
		json_object_set_new(o, "detail", str_or_null(r->detail));
		json_object_set_new(o, "last_heartbeat", str_or_null(r->timestamp));
		json_object_set_new(o, "heartbeat_age_s",
				    isnan(r->heartbeat_age_s) ? json_null() : json_real(r->heartbeat_age_s));
		json_object_set_new(o, "lease_ttl_s", r->lease_ttl_s < 0 ? json_null() : json_integer(r->lease_ttl_s));
		json_object_set_new(o, "heartbeat_count",
				    r->heartbeat_count < 0 ? json_null() : json_integer(r->heartbeat_count));
		json_object_set_new(o, "kept_by", str_or_null(r->kept_by));
		json_object_set_new(o, "in_manifests", json_boolean(r->in_manifests));
		json_object_set_new(o, "in_etcd", json_boolean(r->in_etcd));
		json_array_append_new(arr, o);
	}
	return json_pack("{s:b, s:I, s:o}", "ok", ok, "count", (json_int_t)n, "capabilities", arr);
}
