/* cluster_client.c - a client for the configured members, endpoints in member
 * order so that endpoint i is member i, and messages name members. */
#include <stdlib.h>

#include "common/common.h"
#include "registry/registry.h"

int cluster_client_new(const struct cluster_spec *cs, int timeout_ms, etcd_client **out)
{
	struct etcd_client_opts o = {0};
	int r;

	o.n_endpoints = cs->n_members;
	o.endpoints = rv_xcalloc(cs->n_members ? cs->n_members : 1, sizeof(char *));
	o.names = rv_xcalloc(cs->n_members ? cs->n_members : 1, sizeof(char *));
	for (size_t i = 0; i < cs->n_members; i++) {
		o.endpoints[i] = cs->members[i].client_url;
		o.names[i] = cs->members[i].name;
	}
	o.tls = cs->tls;
	o.user = cs->user;
	o.password = cs->password;
	o.timeout_ms = timeout_ms;
	r = etcd_client_new(&o, out);
	free(o.endpoints);
	free(o.names);
	return r;
}

int cluster_fail_none_answers(const struct cluster_spec *cs, int code, const char *consequence)
{
	struct rv_buf names = {0};
	for (size_t i = 0; i < cs->n_members; i++)
		rv_buf_printf(&names, "%s%s", i ? ", " : "", cs->members[i].name);
	int r = rv_fail_advice(code, RV_ADVICE_CLUSTER_UP, "no member of cluster %s answers (%s), so %s; start them",
			       cs->name, names.data ? names.data : "none is configured", consequence);
	rv_buf_free(&names);
	return r;
}
