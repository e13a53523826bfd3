// RFC 1071 Internet checksum and the TCP/UDP/ICMPv6 pseudo-headers (RFC 793/768 for IPv4,
// RFC 8200 §8.1 for IPv6).

/** One's-complement sum of 16-bit big-endian words, folded to 16 bits (not yet inverted). */
function onesComplementSum(parts: readonly Uint8Array[]): number {
  let sum = 0;
  // Odd-length parts are only allowed last: RFC 1071 pads the final byte, not each part.
  for (let p = 0; p < parts.length; p++) {
    const b = parts[p]!;
    if (b.length % 2 !== 0 && p !== parts.length - 1) {
      throw new Error(`checksum part ${p} has odd length ${b.length}; only the last part may`);
    }
    for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
    if (b.length % 2 === 1) sum += b[b.length - 1]! << 8;
    // Fold as we go so the sum never leaves the safe-integer range on huge inputs.
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  return sum;
}

export function internetChecksum(...parts: Uint8Array[]): number {
  return ~onesComplementSum(parts) & 0xffff;
}

export function pseudoHeader(src: Uint8Array, dst: Uint8Array, protocol: number, l4Length: number): Buffer {
  if (src.length === 4 && dst.length === 4) {
    const ph = Buffer.alloc(12);
    Buffer.from(src).copy(ph, 0);
    Buffer.from(dst).copy(ph, 4);
    ph[9] = protocol;
    ph.writeUInt16BE(l4Length, 10);
    return ph;
  }
  if (src.length === 16 && dst.length === 16) {
    const ph = Buffer.alloc(40);
    Buffer.from(src).copy(ph, 0);
    Buffer.from(dst).copy(ph, 16);
    ph.writeUInt32BE(l4Length, 32);
    ph[39] = protocol;
    return ph;
  }
  throw new Error(`pseudo-header needs two 4-byte or two 16-byte addresses, got ${src.length} and ${dst.length}`);
}
