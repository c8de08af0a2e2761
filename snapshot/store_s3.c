/* store_s3.c - placeholder until the s3 store lands. */
#include <errno.h>

#include "common/common.h"
#include "snapshot/store_impl.h"

static int open_s3(const struct store_spec *spec, const char *location, struct store **out)
{
	(void)spec;
	(void)out;
	return rv_fail(-ENOSYS, "the s3 store (%s) is not implemented yet", location);
}

const struct store_ops store_s3_ops = {.kind = "s3", .open = open_s3};
