// Capture files as tcpdump, tshark, Wireshark and dumpcap write them: classic pcap (either byte
// order, microsecond or nanosecond timestamps, the modified "Kuznetsov" variant) and pcapng
// (sections of either byte order, several interfaces, if_tsresol/if_tsoffset, enhanced, simple
// and obsolete packet blocks, epb_flags direction). One frame at a time, streamed from the file.
//
// What is refused (CaptureError, naming file and offset): a file that is neither format, a
// record whose length breaks the framing (nothing after it could be trusted). What is skipped
// and counted (counts.skipped): a pcapng block that is internally inconsistent but whose length
// lets the reader continue, a packet on an interface that was never described, and a file that
// ends inside a record (a capture cut short by the writer).
import { ByteSource } from './source.js';
import { CaptureError, countSkip, Direction, emptyFrame, type CaptureFrame, type CaptureInterface, type ReaderCounts } from './frame.js';

const PCAP_US = 0xa1b2c3d4;
const PCAP_NS = 0xa1b23c4d;
const PCAP_KUZNETSOV = 0xa1b2cd34;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;

const BT_IDB = 1;
const BT_OPB = 2;
const BT_SPB = 3;
const BT_EPB = 6;

/** The largest record a capture may hold before its framing is taken as corrupt. */
const MAX_RECORD = 16 << 20;
/** libpcap's largest snapshot length: records up to it are accepted whatever the header says */
const MAX_SNAPLEN = 262144;

export type CaptureFormat = 'pcap' | 'pcapng';

export interface CaptureReader {
  readonly file: string;
  readonly format: CaptureFormat;
  /** interfaces described so far (pcapng: grows as blocks are read; a new section restarts it) */
  readonly interfaces: readonly CaptureInterface[];
  readonly counts: ReaderCounts;
  /** the next frame (the same object every time, refilled), or null at the end */
  next(): CaptureFrame | null;
  /** bytes read so far and the file's size, for progress */
  readonly offset: number;
  close(): void;
}

/** Opens a capture file, detecting the format from its first bytes. */
export function openCapture(path: string): CaptureReader {
  return fromSource(ByteSource.file(path));
}

/** The same over bytes in memory (tests, small captures). */
export function captureFromBuffer(buf: Buffer, name = 'capture'): CaptureReader {
  return fromSource(ByteSource.buffer(buf, name));
}

function fromSource(src: ByteSource): CaptureReader {
  try {
    if (!src.ensure(4)) throw new CaptureError(src.name, 0, `${src.available} bytes is too short for a capture file`);
    const le = src.buf.readUInt32LE(src.pos);
    const be = src.buf.readUInt32BE(src.pos);
    if (le === PCAPNG_SHB) return new PcapngReader(src);
    for (const m of [PCAP_US, PCAP_NS, PCAP_KUZNETSOV]) if (le === m || be === m) return new PcapReader(src);
    throw new CaptureError(src.name, 0, `not a pcap or pcapng file (first bytes ${src.buf.subarray(src.pos, src.pos + 4).toString('hex')})`);
  } catch (err) {
    src.close();
    throw err;
  }
}

/** floor(value / div) and value % div for value = hi * 2^32 + lo (unsigned), exact for div < 2^32
 * without BigInt: long division over 16-bit limbs keeps every intermediate below 2^53. */
function divmod64(hi: number, lo: number, div: number, out: { q: number; r: number }): void {
  if (div > 0xffffffff) {
    const v = (BigInt(hi) << 32n) | BigInt(lo);
    const d = BigInt(div);
    out.q = Number(v / d);
    out.r = Number(v % d);
    return;
  }
  let r = 0;
  let q = 0;
  for (const limb of [hi >>> 16, hi & 0xffff, lo >>> 16, lo & 0xffff]) {
    const cur = r * 65536 + limb;
    const d = Math.floor(cur / div);
    r = cur - d * div;
    q = q * 65536 + d;
  }
  out.q = q;
  out.r = r;
}

class PcapReader implements CaptureReader {
  readonly format = 'pcap' as const;
  readonly counts: ReaderCounts = { frames: 0, skipped: new Map() };
  readonly interfaces: CaptureInterface[];
  private readonly le: boolean;
  private readonly nanos: boolean;
  private readonly recHdr: number;
  private readonly fcs: number;
  private readonly limit: number;
  private readonly frame = emptyFrame();
  private done = false;

  constructor(private readonly src: ByteSource) {
    if (!src.ensure(24)) throw new CaptureError(src.name, 0, `${src.available} bytes is too short for a pcap header (24)`);
    const b = src.buf;
    const p = src.pos;
    const magicLe = b.readUInt32LE(p);
    this.le = magicLe === PCAP_US || magicLe === PCAP_NS || magicLe === PCAP_KUZNETSOV;
    const magic = this.le ? magicLe : b.readUInt32BE(p);
    this.nanos = magic === PCAP_NS;
    this.recHdr = magic === PCAP_KUZNETSOV ? 24 : 16;
    const snaplen = this.u32(p + 16);
    const field = this.u32(p + 20);
    // upper bits: FCS present (bit 28) and its length in 16-bit words (bits 29-31)
    this.fcs = field & 0x10000000 ? ((field >>> 29) & 7) * 2 : 0;
    this.interfaces = [{ linktype: field & 0x03ffffff, snaplen }];
    this.limit = Math.min(Math.max(snaplen, MAX_SNAPLEN), MAX_RECORD);
    this.frame.linktype = field & 0x03ffffff;
    src.skip(24);
  }

  get file(): string {
    return this.src.name;
  }

  get offset(): number {
    return this.src.offset;
  }

  private u32(at: number): number {
    return this.le ? this.src.buf.readUInt32LE(at) : this.src.buf.readUInt32BE(at);
  }

  next(): CaptureFrame | null {
    const src = this.src;
    if (this.done) return null;
    const at = src.offset;
    if (!src.ensure(this.recHdr)) {
      if (src.available > 0) countSkip(this.counts, 'truncated record (the file ends inside it)');
      this.done = true;
      return null;
    }
    const p = src.pos;
    const sec = this.u32(p);
    const frac = this.u32(p + 4);
    const incl = this.u32(p + 8);
    const orig = this.u32(p + 12);
    if (incl > this.limit) {
      this.done = true;
      throw new CaptureError(src.name, at, `record of ${incl} captured bytes exceeds the limit of ${this.limit} (corrupt record header; nothing after it can be framed)`);
    }
    if (!src.ensure(this.recHdr + incl)) {
      countSkip(this.counts, 'truncated record (the file ends inside it)');
      this.done = true;
      return null;
    }
    const f = this.frame;
    const dataAt = src.pos + this.recHdr;
    const keep = incl >= this.fcs + 14 ? incl - this.fcs : incl;
    f.data = src.buf.subarray(dataAt, dataAt + keep);
    f.origLen = orig;
    const ns = this.nanos ? frac : frac * 1000;
    f.sec = sec + Math.floor(ns / 1e9);
    f.nsec = ns % 1e9;
    f.offset = at;
    src.skip(this.recHdr + incl);
    this.counts.frames++;
    return f;
  }

  close(): void {
    this.src.close();
  }
}

interface NgInterface extends CaptureInterface {
  /** timestamp units per second */
  unitsPerSec: number;
  /** if_tsoffset, seconds */
  tsOffset: number;
  /** if_fcslen, bytes */
  fcs: number;
}

class PcapngReader implements CaptureReader {
  readonly format = 'pcapng' as const;
  readonly counts: ReaderCounts = { frames: 0, skipped: new Map() };
  interfaces: NgInterface[] = [];
  private le = true;
  private readonly frame = emptyFrame();
  private readonly qr = { q: 0, r: 0 };
  private lastSec = 0;
  private lastNsec = 0;
  private done = false;

  constructor(private readonly src: ByteSource) {}

  get file(): string {
    return this.src.name;
  }

  get offset(): number {
    return this.src.offset;
  }

  private u16(at: number): number {
    return this.le ? this.src.buf.readUInt16LE(at) : this.src.buf.readUInt16BE(at);
  }

  private u32(at: number): number {
    return this.le ? this.src.buf.readUInt32LE(at) : this.src.buf.readUInt32BE(at);
  }

  next(): CaptureFrame | null {
    const src = this.src;
    while (!this.done) {
      const at = src.offset;
      if (!src.ensure(12)) {
        if (src.available > 0) countSkip(this.counts, 'truncated block (the file ends inside it)');
        this.done = true;
        return null;
      }
      const p = src.pos;
      if (src.buf.readUInt32LE(p) === PCAPNG_SHB) {
        // a section header states its own byte order, after its length
        const bom = src.buf.readUInt32LE(p + 8);
        if (bom === PCAPNG_BOM) this.le = true;
        else if (bom === 0x4d3c2b1a) this.le = false;
        else throw new CaptureError(src.name, at, `pcapng section header with an unknown byte-order magic 0x${bom.toString(16)}`);
        this.interfaces = [];
      } else if (at === 0) {
        throw new CaptureError(src.name, at, 'a pcapng file must start with a section header block');
      }
      const type = this.u32(p);
      const len = this.u32(p + 4);
      if (len < 12 || len % 4 !== 0 || len > MAX_RECORD) {
        this.done = true;
        throw new CaptureError(src.name, at, `pcapng block of type ${type} has an impossible length ${len} (at least 12, a multiple of 4, at most ${MAX_RECORD})`);
      }
      if (!src.ensure(len)) {
        countSkip(this.counts, 'truncated block (the file ends inside it)');
        this.done = true;
        return null;
      }
      if (this.u32(p + len - 4) !== len) {
        this.done = true;
        throw new CaptureError(src.name, at, `pcapng block of type ${type}: trailing length ${this.u32(p + len - 4)} differs from the leading ${len}`);
      }
      const f = this.block(type, p, len);
      src.skip(len);
      if (f) {
        this.counts.frames++;
        return f;
      }
    }
    return null;
  }

  /** One block at buf[p .. p + len); a frame for packet blocks, null for the others. */
  private block(type: number, p: number, len: number): CaptureFrame | null {
    const b = this.src.buf;
    const bodyEnd = p + len - 4;
    switch (type) {
      case PCAPNG_SHB:
        return null;
      case BT_IDB: {
        if (len < 20) {
          countSkip(this.counts, 'interface description block too short');
          // packets naming it are skipped as on an undescribed interface
          this.interfaces.push({ linktype: -1, snaplen: 0, unitsPerSec: 1e6, tsOffset: 0, fcs: 0 });
          return null;
        }
        const itf: NgInterface = { linktype: this.u16(p + 8), snaplen: this.u32(p + 12), unitsPerSec: 1e6, tsOffset: 0, fcs: 0 };
        this.options(p + 16, bodyEnd, (code, at2, olen) => {
          if (code === 2) itf.name = b.toString('utf8', at2, at2 + olen).replace(/\0+$/, '');
          else if (code === 9 && olen >= 1) {
            const r = b[at2]!;
            const exp = r & 0x7f;
            itf.unitsPerSec = r & 0x80 ? 2 ** exp : 10 ** exp;
          } else if (code === 14 && olen >= 8) {
            itf.tsOffset = Number(this.le ? b.readBigInt64LE(at2) : b.readBigInt64BE(at2));
          } else if (code === 13 && olen >= 1) itf.fcs = b[at2]!;
        });
        if (!Number.isFinite(itf.unitsPerSec) || itf.unitsPerSec < 1 || itf.unitsPerSec > 2 ** 63) {
          countSkip(this.counts, `if_tsresol out of range on interface ${this.interfaces.length} (taken as microseconds)`);
          itf.unitsPerSec = 1e6;
        }
        this.interfaces.push(itf);
        return null;
      }
      case BT_EPB:
      case BT_OPB: {
        // an obsolete packet block has the same layout, its interface id a u16 beside a drop count
        if (len < 32) {
          countSkip(this.counts, 'packet block too short');
          return null;
        }
        const iface = type === BT_EPB ? this.u32(p + 8) : this.u16(p + 8);
        const cap = this.u32(p + 20);
        const orig = this.u32(p + 24);
        const dataAt = p + 28;
        if (dataAt + cap > bodyEnd) {
          countSkip(this.counts, 'packet block whose captured length runs past the block');
          return null;
        }
        const itf = this.interfaces[iface];
        if (!itf || itf.linktype < 0) {
          countSkip(this.counts, 'packet on an interface no interface description block described');
          return null;
        }
        const f = this.frame;
        this.stamp(itf, this.u32(p + 12), this.u32(p + 16), f);
        f.direction = Direction.Unknown;
        this.options(dataAt + ((cap + 3) & ~3), bodyEnd, (code, o, olen) => {
          // epb_flags (pack_flags in an OPB): bits 0-1 are the direction
          if (code === 2 && olen >= 4) {
            const d = this.u32(o) & 3;
            f.direction = d === 1 ? Direction.Inbound : d === 2 ? Direction.Outbound : Direction.Unknown;
          }
        });
        return this.fill(f, itf, iface, dataAt, cap, orig, p);
      }
      case BT_SPB: {
        const itf = this.interfaces[0];
        if (!itf || itf.linktype < 0) {
          countSkip(this.counts, 'packet on an interface no interface description block described');
          return null;
        }
        const orig = this.u32(p + 8);
        let cap = Math.min(orig, len - 16);
        if (itf.snaplen > 0) cap = Math.min(cap, itf.snaplen);
        const f = this.frame;
        // a simple packet block has no timestamp: the previous packet's time stands in
        f.sec = this.lastSec;
        f.nsec = this.lastNsec;
        f.direction = Direction.Unknown;
        return this.fill(f, itf, 0, p + 12, cap, orig, p);
      }
      default:
        // name resolution, statistics, custom and unknown blocks carry no packets
        return null;
    }
  }

  private fill(f: CaptureFrame, itf: NgInterface, iface: number, dataAt: number, cap: number, orig: number, blockAt: number): CaptureFrame {
    const keep = itf.fcs && cap >= itf.fcs + 14 ? cap - itf.fcs : cap;
    f.data = this.src.buf.subarray(dataAt, dataAt + keep);
    f.origLen = orig;
    f.iface = iface;
    f.linktype = itf.linktype;
    f.offset = this.src.offset + (blockAt - this.src.pos);
    return f;
  }

  private stamp(itf: NgInterface, hi: number, lo: number, f: CaptureFrame): void {
    const u = itf.unitsPerSec;
    if (u === 1e6 && hi < 0x200000) {
      // the common case (microseconds, before 2255), exact in a double
      const v = hi * 4294967296 + lo;
      f.sec = Math.floor(v / 1e6);
      f.nsec = (v - f.sec * 1e6) * 1000;
    } else {
      divmod64(hi, lo, u, this.qr);
      f.sec = this.qr.q;
      f.nsec = u === 1e9 ? this.qr.r : Math.floor((this.qr.r * 1e9) / u);
    }
    f.sec += itf.tsOffset;
    this.lastSec = f.sec;
    this.lastNsec = f.nsec;
  }

  /** Walks the options between `from` and `end` (code, value offset, value length); stops at
   * opt_endofopt or at an option that runs past the end. */
  private options(from: number, end: number, fn: (code: number, at: number, len: number) => void): void {
    let o = from;
    while (o + 4 <= end) {
      const code = this.u16(o);
      const olen = this.u16(o + 2);
      if (code === 0) return;
      if (o + 4 + olen > end) {
        countSkip(this.counts, 'option running past its block (ignored)');
        return;
      }
      fn(code, o + 4, olen);
      o += 4 + ((olen + 3) & ~3);
    }
  }

  close(): void {
    this.src.close();
  }
}
