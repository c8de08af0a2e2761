/* fuzz_config.c - the YAML configuration (scheduler/config.c, config_yaml.c and,
 * through maint.defrag_rule, the rule parser) as config_load reads a file: the
 * bytes are not NUL-terminated, and a file may hold anything. */
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "scheduler/scheduler.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_config cfg;
	if (config_parse((const char *)data, size, "fuzz.yaml", &cfg) == 0)
		config_free(&cfg); /* on failure config_parse has freed it */
	rv_err_clear();
	return 0;
}
