/* config.c - placeholder: the YAML loader lands with the config work. */
#include <errno.h>

#include "common/common.h"
#include "scheduler/scheduler.h"

int config_parse(const char *text, size_t len, const char *name, struct rv_config *out)
{
	(void)text;
	(void)len;
	(void)out;
	return rv_fail(-ENOSYS, "cannot read configuration %s: not implemented yet", name);
}

int config_load(const char *path, struct rv_config *out)
{
	return config_parse("", 0, path ? path : RV_DEFAULT_CONFIG, out);
}

void config_free(struct rv_config *c)
{
	(void)c;
}
