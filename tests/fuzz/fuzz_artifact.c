/* fuzz_artifact.c - the artifact reader (snapshot/artifact_read.c): zstd frames,
 * the tar inside them, both manifests and the db's sha256 trailer, as `snapshot
 * verify`, `restore` (whole) and `snapshot list` (head only) read an artifact that
 * came from a store someone else can write to. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "snapshot/snap_impl.h"
#include "tests/fuzz/mem_store.h"

/* What restore does with the db: takes it in pieces; here, touches every byte. */
static int db_sink(const void *p, size_t n, void *ud)
{
	uint64_t *sum = ud;
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		*sum += b[i];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem_store ms;
	struct snap_read_result *res = rv_xcalloc(1, sizeof *res);
	struct snap_manifest head;
	uint64_t sum = 0;

	mem_store_init(&ms, data, size);
	snap_artifact_read(&ms.base, "fuzz-20261201T000000.000Z-r1.tar.zst", db_sink, &sum, res);
	rv_err_clear();
	snap_artifact_read_head(&ms.base, "fuzz-20261201T000000.000Z-r1.tar.zst", &head);
	rv_err_clear();
	free(res);
	return 0;
}
