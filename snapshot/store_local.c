/* store_local.c - placeholder until the local store lands. */
#include <errno.h>

#include "common/common.h"
#include "snapshot/store_impl.h"

static int open_local(const struct store_spec *spec, const char *location, struct store **out)
{
	(void)spec;
	(void)out;
	return rv_fail(-ENOSYS, "the local store (%s) is not implemented yet", location);
}

const struct store_ops store_local_ops = {.kind = "local", .open = open_local};
