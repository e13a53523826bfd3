// SHA-1 of a message of at most 55 bytes (one 64-byte block), in JS: the community id hashes
// 12 to 40 bytes for every EVE record, and for an input that small the call into the crypto
// binding (argument checks, an EVP context, a Buffer for the digest) costs several times the
// 80 rounds themselves. Checked against node:crypto over random inputs in
// test/unit/community-id.test.ts. Not for anything secret: SHA-1 is broken for that, and the
// community id spec uses it only as a well-spread flow hash.

/** The longest message one padded block holds. */
export const SHA1_SHORT_MAX = 55;

const W = new Int32Array(80);
const BLOCK = new Uint8Array(64);

/** SHA-1 of msg[0..len) (len <= 55) into `out` as five big-endian 32-bit words. */
export function sha1Short(msg: Uint8Array, len: number, out: Int32Array): void {
  if (len > SHA1_SHORT_MAX || len < 0) throw new RangeError(`sha1Short: message of ${len} bytes is not 0..${SHA1_SHORT_MAX}`);
  // the block: message, 0x80, zeros, bit length (big-endian) in the last 8 bytes
  const blk = BLOCK;
  for (let i = 0; i < len; i++) blk[i] = msg[i]!;
  blk[len] = 0x80;
  blk.fill(0, len + 1, 60);
  for (let i = 0; i < 15; i++) W[i] = (blk[4 * i]! << 24) | (blk[4 * i + 1]! << 16) | (blk[4 * i + 2]! << 8) | blk[4 * i + 3]!;
  W[15] = len * 8;
  for (let i = 16; i < 80; i++) {
    const x = W[i - 3]! ^ W[i - 8]! ^ W[i - 14]! ^ W[i - 16]!;
    W[i] = (x << 1) | (x >>> 31);
  }
  let a = 0x67452301;
  let b = 0xefcdab89 | 0;
  let c = 0x98badcfe | 0;
  let d = 0x10325476;
  let e = 0xc3d2e1f0 | 0;
  for (let i = 0; i < 80; i++) {
    let f: number;
    let k: number;
    if (i < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (i < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc | 0;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6 | 0;
    }
    const t = (((a << 5) | (a >>> 27)) + f + e + k + W[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  out[0] = (a + 0x67452301) | 0;
  out[1] = (b + (0xefcdab89 | 0)) | 0;
  out[2] = (c + (0x98badcfe | 0)) | 0;
  out[3] = (d + 0x10325476) | 0;
  out[4] = (e + (0xc3d2e1f0 | 0)) | 0;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const HEX = '0123456789abcdef';
const hexCodes: number[] = new Array<number>(40).fill(0);
const b64Codes: number[] = new Array<number>(28).fill(0);

/** The 20-byte digest in base64 (with its "=" pad, as Buffer#toString('base64') writes it) or
 * lowercase hex. */
export function digestText(h: Int32Array, encoding: 'base64' | 'hex'): string {
  const byte = (i: number): number => (h[i >> 2]! >>> (24 - 8 * (i & 3))) & 0xff;
  if (encoding === 'hex') {
    for (let i = 0; i < 20; i++) {
      const v = byte(i);
      hexCodes[2 * i] = HEX.charCodeAt(v >> 4);
      hexCodes[2 * i + 1] = HEX.charCodeAt(v & 15);
    }
    return String.fromCharCode.apply(null, hexCodes);
  }
  const codes = b64Codes;
  let n = 0;
  for (let i = 0; i < 18; i += 3) {
    const v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    codes[n++] = B64.charCodeAt(v >> 18);
    codes[n++] = B64.charCodeAt((v >> 12) & 63);
    codes[n++] = B64.charCodeAt((v >> 6) & 63);
    codes[n++] = B64.charCodeAt(v & 63);
  }
  const v = (byte(18) << 8) | byte(19);
  codes[n++] = B64.charCodeAt(v >> 10);
  codes[n++] = B64.charCodeAt((v >> 4) & 63);
  codes[n++] = B64.charCodeAt((v << 2) & 63);
  codes[n++] = 61; // '='
  return String.fromCharCode.apply(null, codes);
}
