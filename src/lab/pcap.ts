// Classic libpcap files (what `tcpdump -w` writes by default), so captures can be counted and
// inspected and crafted frames can be fed to tcpdump for an independent decode.
import { readFileSync, writeFileSync } from 'node:fs';

const LINKTYPE_ETHERNET = 1;
const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;

export interface PcapRecord {
  /** capture time in microseconds since the epoch */
  tsUs: bigint;
  /** length on the wire; may exceed data.length when the capture was truncated by snaplen */
  origLen: number;
  data: Buffer;
}

export interface PcapFile {
  linktype: number;
  snaplen: number;
  records: PcapRecord[];
}

export function encodePcap(frames: readonly Buffer[], opts: { linktype?: number; snaplen?: number; startUs?: bigint } = {}): Buffer {
  const snaplen = opts.snaplen ?? 262144;
  const header = Buffer.alloc(24);
  header.writeUInt32LE(MAGIC_US, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(snaplen, 16);
  header.writeUInt32LE(opts.linktype ?? LINKTYPE_ETHERNET, 20);
  const parts: Buffer[] = [header];
  let ts = opts.startUs ?? 1_700_000_000_000_000n;
  for (const frame of frames) {
    const rec = Buffer.alloc(16);
    const incl = Math.min(frame.length, snaplen);
    rec.writeUInt32LE(Number(ts / 1_000_000n), 0);
    rec.writeUInt32LE(Number(ts % 1_000_000n), 4);
    rec.writeUInt32LE(incl, 8);
    rec.writeUInt32LE(frame.length, 12);
    parts.push(rec, frame.subarray(0, incl));
    ts += 1000n;
  }
  return Buffer.concat(parts);
}

export function writePcap(path: string, frames: readonly Buffer[], opts: { linktype?: number; snaplen?: number } = {}): void {
  writeFileSync(path, encodePcap(frames, opts));
}

export function decodePcap(buf: Buffer, source = 'pcap'): PcapFile {
  if (buf.length < 24) throw new Error(`${source}: ${buf.length} bytes is too short for a pcap header (24)`);
  let le: boolean;
  let nanos: boolean;
  const magicLe = buf.readUInt32LE(0);
  const magicBe = buf.readUInt32BE(0);
  if (magicLe === MAGIC_US || magicLe === MAGIC_NS) {
    le = true;
    nanos = magicLe === MAGIC_NS;
  } else if (magicBe === MAGIC_US || magicBe === MAGIC_NS) {
    le = false;
    nanos = magicBe === MAGIC_NS;
  } else {
    throw new Error(`${source}: not a classic pcap file (magic 0x${magicLe.toString(16)}; pcapng is not supported)`);
  }
  const u32 = (off: number): number => (le ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  const snaplen = u32(16);
  const linktype = u32(20) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let off = 24;
  while (off < buf.length) {
    // A capture stopped mid-write can end in a partial record; it is not a packet.
    if (off + 16 > buf.length) break;
    const sec = BigInt(u32(off));
    const frac = BigInt(u32(off + 4));
    const incl = u32(off + 8);
    const origLen = u32(off + 12);
    if (off + 16 + incl > buf.length) break;
    records.push({
      tsUs: sec * 1_000_000n + (nanos ? frac / 1000n : frac),
      origLen,
      data: Buffer.from(buf.subarray(off + 16, off + 16 + incl)),
    });
    off += 16 + incl;
  }
  return { linktype, snaplen, records };
}

export function readPcap(path: string): PcapFile {
  return decodePcap(readFileSync(path), path);
}
