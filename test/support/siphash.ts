// SipHash-2-4 over bytes, written from the paper (Aumasson and Bernstein, "SipHash: a fast
// short-input PRF", 2012) with BigInt arithmetic: an implementation that shares nothing with the
// kernel's (bpf/include/sentinel/lib/siphash.h), checked against the paper's published vectors in
// test/unit/siphash.test.ts, so the kernel tests can recompute the cookies xdp-ratelimit makes.
const M64 = (1n << 64n) - 1n;

const rotl = (x: bigint, b: bigint): bigint => ((x << b) | (x >> (64n - b))) & M64;

/** SipHash-2-4 of `msg` under a 16-byte key; the 64-bit result as a bigint. */
export function siphash24(key: Buffer, msg: Buffer): bigint {
  if (key.length !== 16) throw new RangeError('SipHash takes a 16-byte key');
  const k0 = key.readBigUInt64LE(0);
  const k1 = key.readBigUInt64LE(8);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = (): void => {
    v0 = (v0 + v1) & M64;
    v1 = rotl(v1, 13n) ^ v0;
    v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M64;
    v3 = rotl(v3, 16n) ^ v2;
    v0 = (v0 + v3) & M64;
    v3 = rotl(v3, 21n) ^ v0;
    v2 = (v2 + v1) & M64;
    v1 = rotl(v1, 17n) ^ v2;
    v2 = rotl(v2, 32n);
  };
  const full = msg.length - (msg.length % 8);
  const compress = (m: bigint): void => {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  };
  for (let i = 0; i < full; i += 8) compress(msg.readBigUInt64LE(i));
  // last block: the remaining bytes, little endian, and the length's low byte on top
  let b = BigInt(msg.length & 0xff) << 56n;
  for (let i = full; i < msg.length; i++) b |= BigInt(msg[i]!) << BigInt(8 * (i - full));
  compress(b);
  v2 ^= 0xffn;
  for (let i = 0; i < 4; i++) round();
  return v0 ^ v1 ^ v2 ^ v3;
}
