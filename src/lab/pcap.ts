// Classic libpcap files (what `tcpdump -w` writes by default), so captures can be counted and
// inspected and crafted frames can be fed to tcpdump for an independent decode. Reading goes
// through the product's capture reader (src/capture), which `ebpfsentinel replay` uses.
import { readFileSync, writeFileSync } from 'node:fs';
import { captureFromBuffer } from '../capture/reader.js';

const LINKTYPE_ETHERNET = 1;
const MAGIC_US = 0xa1b2c3d4;

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

/** Every frame of a capture in memory (pcap or pcapng, src/capture/reader.ts), copied out. */
export function decodePcap(buf: Buffer, source = 'pcap'): PcapFile {
  const r = captureFromBuffer(buf, source);
  const records: PcapRecord[] = [];
  for (let f = r.next(); f !== null; f = r.next()) {
    records.push({ tsUs: BigInt(f.sec) * 1_000_000n + BigInt(Math.floor(f.nsec / 1000)), origLen: f.origLen, data: Buffer.from(f.data) });
  }
  const itf = r.interfaces[0];
  return { linktype: itf?.linktype ?? LINKTYPE_ETHERNET, snaplen: itf?.snaplen ?? 0, records };
}

export function readPcap(path: string): PcapFile {
  return decodePcap(readFileSync(path), path);
}
