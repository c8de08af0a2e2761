/* fuzz_manifest.c - manifests (snapshot/manifest.c) and sidecars (snap_ops.c,
 * through snap_sidecar_read): JSON a store hands back. A manifest that parses
 * must survive being written and read again unchanged (but for duration_s, which
 * is written to 6 digits), since save writes what list and restore read. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/snap_impl.h"
#include "tests/fuzz/mem_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_manifest m, again;
	struct mem_store ms;
	char artifact_sha[65];

	if (snap_manifest_from_json((const char *)data, size, "fuzz", &m) == 0) {
		char *text = snap_manifest_to_json(&m, true);
		if (snap_manifest_from_json(text, strlen(text), "fuzz (written again)", &again) != 0)
			abort(); /* what regvault writes it cannot read back */
		again.duration_s = m.duration_s;
		if (memcmp(&m, &again, sizeof m) != 0)
			abort(); /* it reads back something else */
		free(text);
	}
	rv_err_clear();

	mem_store_init(&ms, data, size);
	snap_sidecar_read(&ms.base, "fuzz-20261201T000000.000Z-r1.tar.zst", &m, artifact_sha);
	rv_err_clear();
	return 0;
}
