/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* SipHash-2-4 (Aumasson and Bernstein, 2012) over whole 64-bit words: the keyed hash behind the
 * agent's SYN cookies. A PRF with a 128-bit key, so a cookie cannot be forged without the key,
 * and short inputs cost a few dozen ALU instructions (no loops the verifier has to walk: the
 * word count is a compile-time constant at every call site).
 *
 * Words are taken as they sit in memory on this little-endian machine, which is what the
 * specification's byte-wise reading of the message gives; the agent's reference implementation
 * (test/support/siphash.ts) checks that against the published test vectors. */
#ifndef SENTINEL_SIPHASH_H
#define SENTINEL_SIPHASH_H

#include "common.h"
#include "../contract/syncookie.h" /* struct sn_sipkey: the agent writes the key */

#define SN_ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

#define SN_SIPROUND(v0, v1, v2, v3)          \
	do {                                   \
		v0 += v1;                      \
		v1 = SN_ROTL64(v1, 13);        \
		v1 ^= v0;                      \
		v0 = SN_ROTL64(v0, 32);        \
		v2 += v3;                      \
		v3 = SN_ROTL64(v3, 16);        \
		v3 ^= v2;                      \
		v0 += v3;                      \
		v3 = SN_ROTL64(v3, 21);        \
		v3 ^= v0;                      \
		v2 += v1;                      \
		v1 = SN_ROTL64(v1, 17);        \
		v1 ^= v2;                      \
		v2 = SN_ROTL64(v2, 32);        \
	} while (0)

/* SipHash-2-4 of n 64-bit words (a message of 8 * n bytes). */
static __always_inline __u64 sn_siphash_words(const __u64 *m, const int n, const struct sn_sipkey *key)
{
	__u64 v0 = key->k0 ^ 0x736f6d6570736575ULL;
	__u64 v1 = key->k1 ^ 0x646f72616e646f6dULL;
	__u64 v2 = key->k0 ^ 0x6c7967656e657261ULL;
	__u64 v3 = key->k1 ^ 0x7465646279746573ULL;
#pragma unroll
	for (int i = 0; i < n; i++) {
		v3 ^= m[i];
		SN_SIPROUND(v0, v1, v2, v3);
		SN_SIPROUND(v0, v1, v2, v3);
		v0 ^= m[i];
	}
	/* the last block: message length in the top byte, no tail bytes */
	__u64 b = ((__u64)(8 * n)) << 56;
	v3 ^= b;
	SN_SIPROUND(v0, v1, v2, v3);
	SN_SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SN_SIPROUND(v0, v1, v2, v3);
	SN_SIPROUND(v0, v1, v2, v3);
	SN_SIPROUND(v0, v1, v2, v3);
	SN_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

#endif
