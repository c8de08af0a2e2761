/* bech32.c - Bech32 (BIP 173, the original checksum constant) as age uses it for
 * its keys: "age1..." recipients and "AGE-SECRET-KEY-1..." identities. age sets no
 * length limit, so none is applied here beyond the buffers'. */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/age_impl.h"

static const char CHARSET[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t polymod(const uint8_t *v, size_t n)
{
	static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
	uint32_t chk = 1;
	for (size_t i = 0; i < n; i++) {
		uint32_t top = chk >> 25;
		chk = ((chk & 0x1ffffff) << 5) ^ v[i];
		for (int j = 0; j < 5; j++)
			if ((top >> j) & 1)
				chk ^= gen[j];
	}
	return chk;
}

/* hrp expanded, then data: into buf (cap at least 2*hrplen+1+n+6). */
static size_t expand(const char *hrp, const uint8_t *data, size_t n, uint8_t *buf)
{
	size_t h = strlen(hrp), k = 0;
	for (size_t i = 0; i < h; i++)
		buf[k++] = (uint8_t)(tolower((unsigned char)hrp[i]) >> 5);
	buf[k++] = 0;
	for (size_t i = 0; i < h; i++)
		buf[k++] = (uint8_t)(tolower((unsigned char)hrp[i]) & 31);
	memcpy(buf + k, data, n);
	return k + n;
}

int age_bech32_encode(const char *hrp, const uint8_t *data, size_t n, bool upper, char *out, size_t len)
{
	uint8_t five[256], buf[512];
	size_t nf = 0, h = strlen(hrp), k;
	uint32_t acc = 0, chk;
	int bits = 0;

	if (n > 150 || h > 64)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | data[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			five[nf++] = (acc >> bits) & 31;
		}
	}
	if (bits)
		five[nf++] = (acc << (5 - bits)) & 31;
	if (h + 1 + nf + 6 + 1 > len)
		return -ENAMETOOLONG;
	k = expand(hrp, five, nf, buf);
	memset(buf + k, 0, 6);
	chk = polymod(buf, k + 6) ^ 1;
	for (int i = 0; i < 6; i++)
		five[nf + i] = (chk >> (5 * (5 - i))) & 31;
	for (size_t i = 0; i < h; i++)
		out[i] = (char)(upper ? toupper((unsigned char)hrp[i]) : tolower((unsigned char)hrp[i]));
	out[h] = '1';
	for (size_t i = 0; i < nf + 6; i++) {
		char c = CHARSET[five[i]];
		out[h + 1 + i] = (char)(upper ? toupper((unsigned char)c) : c);
	}
	out[h + 1 + nf + 6] = '\0';
	explicit_bzero(buf, sizeof buf);
	explicit_bzero(five, sizeof five);
	return 0;
}

int age_bech32_decode(const char *s, char *hrp, size_t hrplen, uint8_t *data, size_t cap, size_t *n)
{
	size_t len = strlen(s), sep, nf, k, nd = 0;
	uint8_t five[256], buf[512];
	bool lower = false, upper = false;
	uint32_t acc = 0;
	int bits = 0, rc = -EINVAL;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 33 || c > 126)
			return -EINVAL;
		lower |= islower(c) != 0;
		upper |= isupper(c) != 0;
	}
	if (lower && upper)
		return -EINVAL;
	{
		const char *p = strrchr(s, '1');
		if (!p)
			return -EINVAL;
		sep = (size_t)(p - s);
	}
	if (sep < 1 || sep >= hrplen || sep > 64 || len - sep - 1 < 6 || len - sep - 1 - 6 > sizeof five)
		return -EINVAL;
	for (size_t i = 0; i < sep; i++)
		hrp[i] = (char)tolower((unsigned char)s[i]);
	hrp[sep] = '\0';
	nf = len - sep - 1;
	for (size_t i = 0; i < nf; i++) {
		const char *p = strchr(CHARSET, tolower((unsigned char)s[sep + 1 + i]));
		if (!p || !*p)
			goto out;
		five[i] = (uint8_t)(p - CHARSET);
	}
	k = expand(hrp, five, nf, buf);
	if (polymod(buf, k) != 1)
		goto out;
	nf -= 6;
	for (size_t i = 0; i < nf; i++) {
		acc = (acc << 5) | five[i];
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (nd >= cap)
				goto out;
			data[nd++] = (uint8_t)(acc >> bits);
		}
	}
	/* Padding: fewer than 5 bits, all zero. */
	if (bits >= 5 || (acc & ((1u << bits) - 1)))
		goto out;
	*n = nd;
	rc = 0;
out:
	explicit_bzero(buf, sizeof buf);
	explicit_bzero(five, sizeof five);
	return rc;
}
