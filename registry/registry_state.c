/* registry_state.c - where regvault keeps its own registry keys in etcd. */
#include <stdio.h>
#include <stdlib.h>

#include "registry/registry.h"

char *registry_state_prefix(const struct cluster_spec *cs)
{
	char *s = NULL;
	if (asprintf(&s, "/regvault/%s/registry", cs->name ? cs->name : "default") < 0)
		return NULL;
	return s;
}
