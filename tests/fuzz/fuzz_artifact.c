/* fuzz_artifact.c - the artifact reader (snapshot/artifact_read.c): zstd frames,
 * the tar inside them, both manifests and the db's sha256 trailer, as `snapshot
 * verify`, `restore` (whole) and `snapshot list` (head only) read an artifact that
 * came from a store someone else can write to.
 *
 * The first input byte picks what the rest is. Even: the artifact file as stored,
 * so the fuzzer works on the zstd framing itself. Odd: the tar stream inside it,
 * which is compressed here (checksummed frames, the first ending after byte
 * 512 * (1 + byte / 2), where regvault ends it after manifest.json) before it is
 * read; through compressed bytes a mutation seldom reaches the tar and manifest
 * checks, so this way they are fuzzed too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <zstd.h>

#include "snapshot/snap_impl.h"
#include "tests/fuzz/mem_store.h"

#define NAME "fuzz-20261201T000000.000Z-r1.tar.zst"

/* What restore does with the db: takes it in pieces; here, touches every byte. */
static int db_sink(const void *p, size_t n, void *ud)
{
	uint64_t *sum = ud;
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		*sum += b[i];
	return 0;
}

/* tar (n bytes) as two checksummed zstd frames split at cut. */
static uint8_t *compress_frames(const uint8_t *tar, size_t n, size_t cut, size_t *out_len)
{
	static ZSTD_CCtx *cc;
	size_t cap = ZSTD_compressBound(n) + 2 * ZSTD_compressBound(0);
	uint8_t *out = rv_xmalloc(cap);
	size_t pos = 0;

	if (!cc) {
		cc = ZSTD_createCCtx();
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	}
	if (cut > n)
		cut = n;
	const size_t parts[2][2] = {{0, cut}, {cut, n - cut}};
	for (int i = 0; i < 2; i++) {
		size_t r = ZSTD_compress2(cc, out + pos, cap - pos, tar + parts[i][0], parts[i][1]);
		if (ZSTD_isError(r))
			abort();
		pos += r;
	}
	*out_len = pos;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem_store ms;
	struct snap_read_result *res;
	struct snap_manifest head;
	uint8_t *owned = NULL;
	uint64_t sum = 0;

	if (size < 1)
		return 0;
	const uint8_t *file = data + 1;
	size_t len = size - 1;
	if (data[0] & 1)
		file = owned = compress_frames(data + 1, size - 1, 512 * (1 + (size_t)(data[0] >> 1)), &len);

	res = rv_xcalloc(1, sizeof *res);
	mem_store_init(&ms, file, len);
	snap_artifact_read(&ms.base, NAME, db_sink, &sum, res);
	rv_err_clear();
	snap_artifact_read_head(&ms.base, NAME, &head);
	rv_err_clear();
	free(res);
	free(owned);
	return 0;
}
