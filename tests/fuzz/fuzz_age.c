/* fuzz_age.c - the age decryptor (snapshot/age.c): the header's stanzas, base64
 * and MAC line, then the STREAM payload, as restore and verify read an encrypted
 * artifact from a store someone else can write to. The identity is fixed (the
 * corpus holds files encrypted to it, so mutations reach the payload too); the
 * first input byte picks the size of the pieces the rest is fed in. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/snapshot.h"

/* age's documentation identity; its recipient is
 * age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj. */
#define IDENTITY "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"

static struct age_keys *keys;

static int sink(const void *p, size_t n, void *ud)
{
	uint64_t *sum = ud;
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		*sum += b[i];
	return 0;
}

static void init(void)
{
	char path[] = "/tmp/fuzz-age-identity-XXXXXX";
	struct store_encryption e = {.identity_file = path};
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, IDENTITY "\n", sizeof IDENTITY) != (ssize_t)sizeof IDENTITY)
		abort();
	close(fd);
	chmod(path, 0600);
	if (age_keys_from_config(&e, &keys) < 0 || age_keys_load_identity(keys, path) < 0)
		abort();
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct age_dec *d;
	uint64_t sum = 0;
	size_t piece;
	int r = 0;
	if (!keys)
		init();
	if (size < 1)
		return 0;
	piece = 1 + (size_t)data[0] * 257;
	data++;
	size--;
	age_dec_new(keys, "fuzz input", sink, &sum, &d);
	for (size_t i = 0; r == 0 && i < size; i += piece)
		r = age_dec_write(d, data + i, size - i < piece ? size - i : piece);
	if (r == 0)
		age_dec_finish(d);
	age_dec_free(d);
	rv_err_clear();
	return 0;
}
