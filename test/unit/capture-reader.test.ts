// The capture reader (src/capture) against files other tools wrote: tcpdump-style pcap from our
// writer turned into pcapng, nanosecond pcap and modified pcap by Wireshark's editcap, merged
// into multi-interface pcapng by mergecap, and tshark reading the same files as the oracle of
// frame count, lengths and timestamps. Hand-built files cover what no tool here writes:
// big-endian files, 2^-n timestamp resolutions, if_tsoffset, simple and obsolete packet blocks,
// epb_flags, several sections. Malformed files end with a CaptureError naming the offset or a
// counted skip, never a crash or a hang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { captureFromBuffer, openCapture, type CaptureReader } from '../../src/capture/reader.js';
import { CaptureError, Direction, type CaptureFrame } from '../../src/capture/frame.js';
import { encodePcap } from '../../src/lab/pcap.js';
import { tcpFrame, udpFrame } from '../support/frames.js';
import { PCAP_MALFORMED } from '../support/testdata.js';

interface Seen {
  data: string;
  origLen: number;
  sec: number;
  nsec: number;
  iface: number;
  linktype: number;
  direction: number;
}

function all(r: CaptureReader): Seen[] {
  const out: Seen[] = [];
  for (let f: CaptureFrame | null = r.next(); f; f = r.next()) {
    out.push({ data: f.data.toString('hex'), origLen: f.origLen, sec: f.sec, nsec: f.nsec, iface: f.iface, linktype: f.linktype, direction: f.direction });
  }
  r.close();
  return out;
}

function tool(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`${cmd} could not run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** tshark's view of a file: per frame, epoch time (ns), captured length, wire length. */
function tsharkFrames(file: string): { sec: number; nsec: number; cap: number; len: number }[] {
  const out = tool('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.cap_len', '-e', 'frame.len', '-o', 'gui.column.format:"No.","%m"']);
  return out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [t, cap, len] = l.split('\t');
      const [s, frac = ''] = t!.split('.');
      return { sec: Number(s), nsec: Number(frac.padEnd(9, '0').slice(0, 9)), cap: Number(cap), len: Number(len) };
    });
}

const frames = [
  udpFrame({ src: '198.18.0.10', dst: '198.18.1.1', sport: 40000, dport: 53, payload: 'query' }),
  tcpFrame({ src: '2001:db8::10', dst: '2001:db8:0:1::1', sport: 40001, dport: 443 }),
  udpFrame({ src: '2001:db8::66', dst: '2001:db8:0:1::1', sport: 5353, dport: 53, payload: Buffer.alloc(300, 7) }),
];

function withDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(path.join(tmpdir(), 'esn-capture-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('classic pcap: our frames, microsecond timestamps, as tshark reads them', () => {
  withDir((dir) => {
    const file = path.join(dir, 'a.pcap');
    writeFileSync(file, encodePcap(frames, { startUs: 1_700_000_000_123_456n }));
    const got = all(openCapture(file));
    assert.deepEqual(got.map((g) => g.data), frames.map((f) => f.toString('hex')));
    const ts = tsharkFrames(file);
    assert.deepEqual(got.map((g) => [g.sec, g.nsec, g.data.length / 2, g.origLen]), ts.map((t) => [t.sec, t.nsec, t.cap, t.len]));
    assert.equal(got[0]!.sec, 1_700_000_000);
    assert.equal(got[0]!.nsec, 123_456_000);
  });
});

test('editcap conversions read back frame for frame: pcapng (if_tsresol), nanosecond pcap, modified pcap', () => {
  withDir((dir) => {
    const src = path.join(dir, 'a.pcap');
    writeFileSync(src, encodePcap(frames, { startUs: 1_650_000_000_999_999n }));
    const want = all(openCapture(src));
    for (const fmt of ['pcapng', 'nsecpcap', 'modpcap']) {
      const out = path.join(dir, `a.${fmt}`);
      tool('editcap', ['-F', fmt, src, out]);
      const r = openCapture(out);
      assert.equal(r.format, fmt === 'pcapng' ? 'pcapng' : 'pcap');
      const got = all(r);
      assert.deepEqual(got.map((g) => [g.data, g.sec, g.nsec, g.linktype]), want.map((g) => [g.data, g.sec, g.nsec, g.linktype]), fmt);
      assert.deepEqual(got.map((g) => [g.sec, g.nsec]), tsharkFrames(out).map((t) => [t.sec, t.nsec]), `${fmt} against tshark`);
    }
    // nanoseconds survive a pcapng written with a nanosecond resolution
    const ns = path.join(dir, 'ns.pcap');
    tool('editcap', ['-F', 'nsecpcap', src, ns]);
    const nsng = path.join(dir, 'ns.pcapng');
    tool('editcap', ['-F', 'pcapng', ns, nsng]);
    // shift by 123 ns so the nanoseconds are not a whole number of microseconds
    const shifted = path.join(dir, 'ns2.pcapng');
    tool('editcap', ['-t', '0.000000123', nsng, shifted]);
    const got = all(openCapture(shifted));
    assert.deepEqual(got.map((g) => [g.sec, g.nsec]), tsharkFrames(shifted).map((t) => [t.sec, t.nsec]));
    assert.equal(got[0]!.nsec % 1000, 123);
  });
});

test('mergecap: one pcapng, several interfaces of different link types, in time order', () => {
  withDir((dir) => {
    const eth = path.join(dir, 'eth.pcap');
    const raw = path.join(dir, 'raw.pcap');
    writeFileSync(eth, encodePcap(frames, { startUs: 1_700_000_000_000_000n }));
    // raw IP (LINKTYPE_RAW 101): the IP packets of the same frames, 500 us later each
    writeFileSync(raw, encodePcap(frames.map((f) => f.subarray(14)), { linktype: 101, startUs: 1_700_000_000_000_500n }));
    const merged = path.join(dir, 'm.pcapng');
    tool('mergecap', ['-F', 'pcapng', '-w', merged, eth, raw]);
    const r = openCapture(merged);
    const got = all(r);
    assert.equal(got.length, 6);
    assert.deepEqual(new Set(got.map((g) => g.linktype)), new Set([1, 101]));
    const byIface = new Map<number, number>();
    for (const g of got) byIface.set(g.iface, g.linktype);
    assert.equal(byIface.size, 2);
    assert.deepEqual(got.map((g) => [g.sec, g.nsec]), tsharkFrames(merged).map((t) => [t.sec, t.nsec]));
  });
});

// ---- hand-built pcapng: what no tool here writes ----

function block(le: boolean, type: number, body: Buffer): Buffer {
  const pad = (4 - (body.length % 4)) % 4;
  const len = 12 + body.length + pad;
  const b = Buffer.alloc(len);
  const w = (v: number, at: number): number => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
  w(type, 0);
  w(len, 4);
  body.copy(b, 8);
  w(len, len - 4);
  return b;
}

function opts(le: boolean, list: [number, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  for (const [code, v] of list) {
    const h = Buffer.alloc(4);
    if (le) {
      h.writeUInt16LE(code, 0);
      h.writeUInt16LE(v.length, 2);
    } else {
      h.writeUInt16BE(code, 0);
      h.writeUInt16BE(v.length, 2);
    }
    parts.push(h, v, Buffer.alloc((4 - (v.length % 4)) % 4));
  }
  parts.push(Buffer.alloc(4)); // opt_endofopt
  return Buffer.concat(parts);
}

function u32(le: boolean, ...vs: number[]): Buffer {
  const b = Buffer.alloc(4 * vs.length);
  vs.forEach((v, i) => (le ? b.writeUInt32LE(v >>> 0, 4 * i) : b.writeUInt32BE(v >>> 0, 4 * i)));
  return b;
}

function shb(le: boolean): Buffer {
  const body = Buffer.alloc(16);
  if (le) {
    body.writeUInt32LE(0x1a2b3c4d, 0);
    body.writeUInt16LE(1, 4);
  } else {
    body.writeUInt32BE(0x1a2b3c4d, 0);
    body.writeUInt16BE(1, 4);
  }
  body.fill(0xff, 8, 16);
  return block(le, 0x0a0d0d0a, body);
}

function idb(le: boolean, linktype: number, o: [number, Buffer][] = [], snaplen = 0): Buffer {
  const h = Buffer.alloc(8);
  if (le) {
    h.writeUInt16LE(linktype, 0);
    h.writeUInt32LE(snaplen, 4);
  } else {
    h.writeUInt16BE(linktype, 0);
    h.writeUInt32BE(snaplen, 4);
  }
  return block(le, 1, Buffer.concat([h, opts(le, o)]));
}

function epb(le: boolean, iface: number, ts: bigint, data: Buffer, o: [number, Buffer][] = []): Buffer {
  const head = u32(le, iface, Number(ts >> 32n), Number(ts & 0xffffffffn), data.length, data.length);
  return block(le, 6, Buffer.concat([head, data, Buffer.alloc((4 - (data.length % 4)) % 4), opts(le, o)]));
}

test('pcapng by hand: both byte orders, 2^-n and 10^-n resolutions, if_tsoffset, SPB, OPB, epb_flags, unknown blocks, two sections', () => {
  for (const le of [true, false]) {
    const f0 = frames[0]!;
    const f1 = frames[1]!;
    const file = Buffer.concat([
      shb(le),
      // iface 0: Ethernet, microseconds (no if_tsresol), named
      idb(le, 1, [[2, Buffer.from('eth0')]]),
      // iface 1: raw IPv6, 2^-20 s units and a 100 s offset
      idb(le, 229, [[9, Buffer.from([0x80 | 20])], [14, le ? Buffer.from('6400000000000000', 'hex') : Buffer.from('0000000000000064', 'hex')]]),
      epb(le, 0, 1_700_000_000_250_000n, f0, [[2, u32(le, 2)]]),
      block(le, 0x00000bad, Buffer.from('an unknown block type')),
      epb(le, 1, (1_000n << 20n) + (1n << 19n), f1.subarray(14), [[2, u32(le, 1)]]),
      // simple packet block on iface 0: no timestamp of its own
      block(le, 3, Buffer.concat([u32(le, f0.length), f0])),
      // obsolete packet block: u16 iface, u16 drops
      block(le, 2, Buffer.concat([Buffer.from([0, 0, 0, 0]), u32(le, Number(1_700_000_001_000_000n >> 32n), Number(1_700_000_001_000_000n & 0xffffffffn), f0.length, f0.length), f0])),
      // a second section: interfaces start again, this one nanoseconds
      shb(le),
      idb(le, 1, [[9, Buffer.from([9])]]),
      epb(le, 0, 1_700_000_002_000_000_007n, f0),
    ]);
    const r = captureFromBuffer(file, le ? 'le.pcapng' : 'be.pcapng');
    const got = all(r);
    assert.equal(got.length, 5, le ? 'LE' : 'BE');
    assert.deepEqual(got[0], { data: f0.toString('hex'), origLen: f0.length, sec: 1_700_000_000, nsec: 250_000_000, iface: 0, linktype: 1, direction: Direction.Outbound });
    assert.deepEqual([got[1]!.sec, got[1]!.nsec, got[1]!.linktype, got[1]!.direction, got[1]!.data], [1100, 500_000_000, 229, Direction.Inbound, f1.subarray(14).toString('hex')]);
    assert.deepEqual([got[2]!.sec, got[2]!.nsec, got[2]!.data], [1100, 500_000_000, f0.toString('hex')], 'SPB takes the previous time');
    assert.equal(got[3]!.sec, 1_700_000_001);
    assert.deepEqual([got[4]!.sec, got[4]!.nsec, got[4]!.iface], [1_700_000_002, 7, 0]);
    assert.equal(r.counts.skipped.size, 0);
  }
});

test('pcapng: packets of an undescribed interface and inconsistent blocks are skipped and counted; broken framing is refused at its offset', () => {
  const f0 = frames[0]!;
  const good = Buffer.concat([shb(true), idb(true, 1), epb(true, 0, 1n, f0)]);
  const stray = Buffer.concat([good, epb(true, 7, 2n, f0)]);
  let r = captureFromBuffer(stray, 'stray.pcapng');
  assert.equal(all(r).length, 1);
  assert.equal(r.counts.skipped.get('packet on an interface no interface description block described'), 1);

  // captured length running past its block
  const bad = epb(true, 0, 3n, f0);
  bad.writeUInt32LE(5000, 20);
  r = captureFromBuffer(Buffer.concat([good, bad, epb(true, 0, 4n, f0)]), 'caplen.pcapng');
  assert.equal(all(r).length, 2);
  assert.equal(r.counts.skipped.get('packet block whose captured length runs past the block'), 1);

  // a trailing length that disagrees: framing is lost
  const broken = epb(true, 0, 5n, f0);
  broken.writeUInt32LE(broken.length + 4, broken.length - 4);
  r = captureFromBuffer(Buffer.concat([good, broken]), 'trailer.pcapng');
  assert.equal(r.next()?.sec, 0);
  assert.throws(() => r.next(), (e: unknown) => e instanceof CaptureError && e.offset === good.length && /trailing length/.test(e.message) && /trailer\.pcapng/.test(e.message));

  // a file cut inside a block: counted, not an error
  r = captureFromBuffer(Buffer.concat([good, epb(true, 0, 6n, f0)]).subarray(0, good.length + 20), 'cut.pcapng');
  assert.equal(all(r).length, 1);
  assert.equal(r.counts.skipped.get('truncated block (the file ends inside it)'), 1);

  assert.throws(() => captureFromBuffer(Buffer.concat([idb(true, 1), epb(true, 0, 1n, f0)]), 'nohead').next(), /not a pcap or pcapng file/);
  assert.throws(() => captureFromBuffer(Buffer.from('hello, world'), 'text.txt'), (e: unknown) => e instanceof CaptureError && /text\.txt: offset 0: not a pcap or pcapng file/.test(e.message));
});

test('classic pcap: big-endian, nanoseconds, FCS bits, truncation counted, a corrupt length refused at its offset', () => {
  const le = encodePcap(frames, { startUs: 1_600_000_000_000_001n });
  // the same file in big-endian byte order
  const be = Buffer.from(le);
  const swap = (at: number): void => void be.writeUInt32BE(le.readUInt32LE(at), at);
  const swap16 = (at: number): void => void be.writeUInt16BE(le.readUInt16LE(at), at);
  swap(0);
  swap16(4);
  swap16(6);
  for (const at of [8, 12, 16, 20]) swap(at);
  let off = 24;
  while (off < le.length) {
    for (let k = 0; k < 16; k += 4) swap(off + k);
    off += 16 + le.readUInt32LE(off + 8);
  }
  assert.deepEqual(all(captureFromBuffer(be, 'be.pcap')), all(captureFromBuffer(le, 'le.pcap')));

  // nanosecond magic: the fraction is nanoseconds
  const ns = Buffer.from(le);
  ns.writeUInt32LE(0xa1b23c4d, 0);
  ns.writeUInt32LE(999_999_999, 24 + 4);
  const g = all(captureFromBuffer(ns, 'ns.pcap'));
  assert.deepEqual([g[0]!.sec, g[0]!.nsec], [1_600_000_000, 999_999_999]);

  // FCS present, 4 bytes (bit 28 set, 2 16-bit words): stripped from every frame
  const fcs = Buffer.from(le);
  fcs.writeUInt32LE(1 | 0x10000000 | (2 << 29), 20);
  const gf = all(captureFromBuffer(fcs, 'fcs.pcap'));
  assert.equal(gf[0]!.linktype, 1);
  assert.equal(gf[0]!.data, frames[0]!.subarray(0, frames[0]!.length - 4).toString('hex'));

  // cut inside the last record
  const r = captureFromBuffer(le.subarray(0, le.length - 10), 'cut.pcap');
  assert.equal(all(r).length, 2);
  assert.equal(r.counts.skipped.get('truncated record (the file ends inside it)'), 1);

  // an impossible captured length in the second record header
  const bad = Buffer.from(le);
  const second = 24 + 16 + frames[0]!.length;
  bad.writeUInt32LE(0x7fffffff, second + 8);
  const rb = captureFromBuffer(bad, 'bad.pcap');
  assert.ok(rb.next());
  assert.throws(() => rb.next(), (e: unknown) => e instanceof CaptureError && e.offset === second && /bad\.pcap: offset \d+: record of 2147483647 captured bytes/.test(e.message));
});

test('files are read through a window: a capture larger than the read chunk comes out whole', () => {
  withDir((dir) => {
    const many: Buffer[] = [];
    for (let i = 0; i < 70_000; i++) many.push(udpFrame({ src: '198.18.0.10', dst: '198.18.1.1', sport: 1024 + (i % 60000), dport: 53, payload: Buffer.alloc(i % 50) }));
    const file = path.join(dir, 'big.pcap');
    writeFileSync(file, encodePcap(many));
    assert.ok(readFileSync(file).length > 4 << 20);
    const r = openCapture(file);
    let n = 0;
    for (let f = r.next(); f; f = r.next()) {
      assert.equal(f.data.length, many[n]!.length);
      if (n % 9973 === 0) assert.ok(f.data.equals(many[n]!));
      n++;
    }
    r.close();
    assert.equal(n, many.length);
  });
});

test('tcpdump\'s malformed captures read with every packet counted as tshark counts them', () => {
  const files = readdirSync(PCAP_MALFORMED).filter((f) => f.endsWith('.pcap'));
  assert.ok(files.length >= 20, `pcap-malformed holds ${files.length} pcaps`);
  for (const f of files) {
    const file = path.join(PCAP_MALFORMED, f);
    const r = openCapture(file);
    const got = all(r);
    const ts = tsharkFrames(file);
    // a header announcing an FCS (bit 28, its length in 16-bit words above): we strip it, as a
    // NIC does before XDP; tshark counts it in the captured length
    const field = readFileSync(file).readUInt32LE(20);
    const fcs = field & 0x10000000 ? ((field >>> 29) & 7) * 2 : 0;
    assert.deepEqual(got.map((g) => [g.sec, g.nsec, g.data.length / 2 + fcs, g.origLen]), ts.map((t) => [t.sec, t.nsec, t.cap, t.len]), f);
    assert.equal(r.counts.skipped.size, 0, f);
  }
});

test('mutated captures never crash or hang the reader: each ends, or fails with a CaptureError', () => {
  const f0 = frames[0]!;
  const seeds = [
    encodePcap(frames),
    Buffer.concat([shb(true), idb(true, 1, [[9, Buffer.from([6])]]), epb(true, 0, 1n, f0, [[2, u32(true, 1)]]), epb(true, 0, 2n, frames[2]!)]),
  ];
  let x = 0x9e3779b9;
  const rnd = (n: number): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  let errors = 0;
  for (let round = 0; round < 3000; round++) {
    const seed = seeds[round % seeds.length]!;
    const m = Buffer.from(seed.subarray(0, rnd(4) === 0 ? rnd(seed.length) : seed.length));
    for (let k = 1 + rnd(6); k > 0 && m.length; k--) m[rnd(m.length)] = rnd(256);
    try {
      const r = captureFromBuffer(m, `mutant-${round}`);
      let n = 0;
      for (let f = r.next(); f; f = r.next()) {
        assert.ok(f.data.length <= m.length, 'a frame is never longer than the file');
        assert.ok(++n <= m.length, 'the reader advances');
      }
    } catch (err) {
      assert.ok(err instanceof CaptureError, `round ${round}: ${String(err)}`);
      errors++;
    }
  }
  assert.ok(errors > 0, 'some mutants are refused');
});
