/* age_impl.h - private to the snapshot module: the pieces of the age format
 * (age.c, bech32.c) that the unit tests look at besides the public API. */
#ifndef REGVAULT_AGE_IMPL_H
#define REGVAULT_AGE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/snapshot.h"

#define AGE_CHUNK 65536u
#define AGE_TAG 16u
#define AGE_MAX_HEADER 65536u /* a header longer than this is refused */
#define AGE_SCRYPT_MAX_LOG2N 22 /* as age's own default limit */

/* Bech32 with data of n bytes; upper writes it in capitals. 0 or -EINVAL/-ENAMETOOLONG. */
int age_bech32_encode(const char *hrp, const uint8_t *data, size_t n, bool upper, char *out, size_t len);
/* 0 with hrp (lower case) and data filled, or -EINVAL (bad checksum, mixed case, ...). */
int age_bech32_decode(const char *s, char *hrp, size_t hrplen, uint8_t *data, size_t cap, size_t *n);

/* Standard base64 without padding, as age writes it (no line breaks). */
size_t age_b64_encode(const uint8_t *p, size_t n, char *out);
/* Strict: canonical, no padding; -EINVAL otherwise. */
int age_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *n);

#endif
