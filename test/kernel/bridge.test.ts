// The native bridge against the real kernel: objects with a pin root and map reuse, every map
// operation on HASH/ARRAY/PERCPU_ARRAY/LPM_TRIE, test runs, ring-buffer batching, BTF layouts,
// probes, and the errors (errno, libbpf message, verifier log, bad handles).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadNative } from '../../src/kernel/native.js';
import { BpfObject } from '../../src/kernel/object.js';
import { BpfMap, bytesCodec, sumU64Slots, u32Codec, u64Codec, UpdateFlags } from '../../src/kernel/map.js';
import { RingReader } from '../../src/kernel/ring.js';
import { BpfError } from '../../src/kernel/errors.js';
import { ensureBpffsSync, removePinTree } from '../../src/kernel/bpffs.js';
import { BpfMapType, BpfProgType } from '../../src/kernel/bpf-enums.js';
import { compileRejectedProgram, haveTool, isRoot, objectsBuilt, repoRoot, requireOrSkip, testObj, uniqueName } from './bridge-util.js';

const native = loadNative();

// bridge_net pins a map by name: every load of it gets a pin root of this run, never the
// default /sys/fs/bpf, and the tree is removed at the end.
const runPins = `/sys/fs/bpf/${uniqueName('snrun')}`;
const netOpts = (): { pinRoot: string } => {
  ensureBpffsSync(runPins);
  return { pinRoot: runPins };
};
after(() => {
  if (existsSync(runPins)) removePinTree(runPins);
});

function prereqs(t: import('node:test').TestContext, ...objs: string[]): boolean {
  return requireOrSkip(t, isRoot(), 'root is needed to load BPF programs') && requireOrSkip(t, objectsBuilt(...objs), `test objects ${objs.join(', ')} (make bpf)`);
}

test('libbpf version and possible CPUs are reported', () => {
  assert.match(native.libbpfVersion(), /^1\.\d+$/);
  const cpus = native.numPossibleCpus();
  const possible = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  const last = Number(possible.split(/[-,]/).pop());
  assert.equal(cpus, last + 1);
});

test('probes report supported program types, map types and helpers', (t) => {
  if (!requireOrSkip(t, isRoot(), 'root is needed to probe')) return;
  assert.equal(native.probeProgType(BpfProgType.XDP), 1);
  assert.equal(native.probeProgType(BpfProgType.SCHED_CLS), 1);
  assert.equal(native.probeMapType(BpfMapType.RINGBUF), 1);
  assert.equal(native.probeMapType(BpfMapType.LPM_TRIE), 1);
  assert.equal(native.probeHelper(BpfProgType.XDP, 1 /* map_lookup_elem */), 1);
  // bpf_skb_store_bytes (9) is a TC helper, bpf_xdp_adjust_tail (65) an XDP one
  assert.equal(native.probeHelper(BpfProgType.XDP, 9), 0);
  assert.equal(native.probeHelper(BpfProgType.SCHED_CLS, 9), 1);
  assert.equal(native.probeHelper(BpfProgType.SCHED_CLS, 65), 0);
  assert.equal(native.probeHelper(BpfProgType.XDP, 65), 1);
});

test('open/load with a pin root: the pinned map is on bpffs and a second object reuses it', (t) => {
  if (!prereqs(t, 'bridge_net')) return;
  const pinRoot = `/sys/fs/bpf/${uniqueName('sntest')}`;
  ensureBpffsSync(pinRoot);
  let a: BpfObject | undefined;
  let b: BpfObject | undefined;
  try {
    a = BpfObject.open(testObj('bridge_net'), { pinRoot, maxEntries: { t_hash: 2048 } });
    assert.equal(a.loaded, false);
    assert.equal(a.programInfo().find((p) => p.name === 'xdp_count')?.fd, -1, 'no fd before load');
    a.load();
    const progs = a.programInfo();
    assert.deepEqual(progs.map((p) => p.name).sort(), ['tc_count_egress', 'tc_count_ingress', 'xdp_count', 'xdp_count_alt', 'xdp_shared_bump']);
    assert.equal(progs.find((p) => p.name === 'xdp_count')?.type, BpfProgType.XDP);
    assert.equal(progs.find((p) => p.name === 'tc_count_ingress')?.type, BpfProgType.SCHED_CLS);
    assert.ok(progs.every((p) => p.fd > 2));
    const maps = a.mapInfo();
    assert.equal(maps.find((m) => m.name === 't_hash')?.maxEntries, 2048, 'maxEntries applied before load');
    assert.equal(native.mapInfo(a.mapFd('t_hash')).maxEntries, 2048, 'kernel map has the new size');
    assert.ok(existsSync(path.join(pinRoot, 'bridge_shared')), 'map pinned by name under the pin root');

    // the program bumps bridge_shared[1]; a second object with the same pin root sees it
    const frame = Buffer.alloc(64);
    a.program('xdp_shared_bump').testRun({ data: frame, repeat: 5 });
    b = BpfObject.load(testObj('bridge_net'), { pinRoot });
    const viaB = b.map('bridge_shared', u32Codec, u64Codec);
    assert.equal(viaB.lookup(1), 5n);
    b.program('xdp_shared_bump').testRun({ data: frame, repeat: 2 });
    assert.equal(a.map('bridge_shared', u32Codec, u64Codec).lookup(1), 7n, 'both objects use one kernel map');
    assert.equal(native.mapInfo(a.mapFd('bridge_shared')).id, native.mapInfo(b.mapFd('bridge_shared')).id);

    // reuseMaps hands an explicit fd to a third object
    const pinned = BpfMap.fromPin(path.join(pinRoot, 'bridge_shared'), u32Codec, u64Codec);
    const c = BpfObject.open(testObj('bridge_net'), { pinRoot, reuseMaps: { t_hash: a.mapFd('t_hash') } });
    try {
      c.load();
      assert.equal(native.mapInfo(c.mapFd('t_hash')).id, native.mapInfo(a.mapFd('t_hash')).id);
    } finally {
      c.close();
    }
    assert.equal(pinned.lookup(1), 7n);
    pinned.close();
  } finally {
    a?.close();
    b?.close();
    removePinTree(pinRoot);
  }
  assert.equal(existsSync(pinRoot), false, 'pin tree removed');
});

test('map operations on HASH, ARRAY, PERCPU_ARRAY and LPM_TRIE', (t) => {
  if (!prereqs(t, 'bridge_net')) return;
  const obj = BpfObject.load(testObj('bridge_net'), netOpts());
  try {
    // HASH
    const h = obj.map('t_hash', u32Codec, u64Codec);
    assert.equal(h.lookup(7), undefined);
    h.update(7, 70n);
    assert.equal(h.lookup(7), 70n);
    assert.throws(() => h.update(7, 1n, UpdateFlags.NOEXIST), (e: unknown) => e instanceof BpfError && e.code === 'EEXIST' && e.errno === 17);
    assert.throws(() => h.update(8, 1n, UpdateFlags.EXIST), (e: unknown) => e instanceof BpfError && e.code === 'ENOENT');
    const batch: Array<[number, bigint]> = Array.from({ length: 500 }, (_, i) => [1000 + i, BigInt(i) * 3n]);
    assert.equal(h.updateBatch(batch), 500);
    assert.equal(h.lookup(1499), 499n * 3n);
    const all = new Map(h.all());
    assert.equal(all.size, 501);
    assert.equal(all.get(7), 70n);
    assert.equal(all.get(1250), 750n);
    const keys = [...h.keys()].sort((x, y) => x - y);
    assert.equal(keys.length, 501);
    assert.deepEqual(keys.slice(0, 3), [7, 1000, 1001]);
    assert.equal([...h.entries()].length, 501);
    assert.equal(h.delete(7), true);
    assert.equal(h.delete(7), false);
    assert.equal(h.all().length, 500);
    // wrong key size is a TypeError naming the sizes, from the native layer
    assert.throws(() => native.mapLookup(h.fd, Buffer.alloc(3)), /key must be 4 bytes, got 3/);

    // ARRAY: every index exists
    const a = obj.map('t_array', u32Codec, u64Codec);
    assert.equal(a.lookup(3), 0n);
    a.update(3, 33n);
    assert.equal(a.updateBatch([[4, 44n], [5, 55n]]), 2);
    const arr = a.all();
    assert.equal(arr.length, 16);
    assert.deepEqual(arr.slice(3, 6), [[3, 33n], [4, 44n], [5, 55n]]);
    assert.throws(() => a.lookup(16) ?? assert.fail('index 16 is out of range'), (e: unknown) => e instanceof Error);

    // PERCPU_ARRAY: value_size 12 -> 16-byte stride per CPU
    const ncpu = native.numPossibleCpus();
    const p = obj.map('t_percpu', u32Codec, bytesCodec(12));
    assert.equal(p.perCpu, true);
    assert.equal(p.cpuStride, 16);
    const vals = Array.from({ length: ncpu }, (_, i) => {
      const b = Buffer.alloc(12);
      b.writeUInt32LE(10 + i, 0);
      b.writeUInt32LE(20 + i, 4);
      b.writeUInt32LE(30 + i, 8);
      return b;
    });
    p.updatePerCpu(2, vals);
    const got = p.lookupPerCpu(2);
    assert.ok(got);
    assert.equal(got.length, ncpu);
    got.forEach((b, i) => assert.deepEqual(b, vals[i]));
    assert.equal(native.mapLookup(p.fd, u32Codec.encode(2))?.length, ncpu * 16, 'raw per-CPU buffer sized ncpus*round_up(12,8)');
    const allP = p.allPerCpu();
    assert.equal(allP.length, 4);
    assert.deepEqual(allP[2][1], vals);
    assert.throws(() => p.lookup(2), /per-CPU/);
    // sumU64Slots: slot 0 of each CPU is (20+i)<<32 | (10+i)
    const sums = sumU64Slots(got, 1);
    let expect = 0n;
    for (let i = 0; i < ncpu; i++) expect += (BigInt(20 + i) << 32n) | BigInt(10 + i);
    assert.deepEqual(sums, [expect]);

    // LPM_TRIE (no batch lookup support: lookupAll falls back to iteration)
    const key = (plen: number, addr: string): Buffer => {
      const b = Buffer.alloc(20);
      b.writeUInt32LE(plen, 0);
      const parts = addr.split(':').map((x) => parseInt(x || '0', 16));
      parts.forEach((v, i) => b.writeUInt16BE(v, 4 + i * 2));
      return b;
    };
    const l = obj.map('t_lpm', bytesCodec(20), u32Codec);
    l.update(key(32, '2001:db8:0:0:0:0:0:0'), 1);
    l.update(key(48, '2001:db8:1:0:0:0:0:0'), 2);
    assert.equal(l.lookup(key(128, '2001:db8:1:0:0:0:0:5')), 2, 'longest prefix wins');
    assert.equal(l.lookup(key(128, '2001:db8:2:0:0:0:0:5')), 1);
    assert.equal(l.lookup(key(128, '2001:db9:0:0:0:0:0:1')), undefined);
    const lall = l.all();
    assert.equal(lall.length, 2);
    assert.deepEqual(lall.map(([, v]) => v).sort(), [1, 2]);
    assert.equal(l.delete(key(48, '2001:db8:1:0:0:0:0:0')), true);
    assert.equal(l.lookup(key(128, '2001:db8:1:0:0:0:0:5')), 1);
  } finally {
    obj.close();
  }
});

test('testRun: data in and out (rewritten, shrunk), retval, repeat and duration', (t) => {
  if (!prereqs(t, 'bridge_ring', 'bridge_net')) return;
  const obj = BpfObject.load(testObj('bridge_ring'));
  const net = BpfObject.load(testObj('bridge_net'), netOpts());
  try {
    const frame = Buffer.alloc(60);
    Buffer.from([1, 2, 3, 4, 5, 6]).copy(frame, 0);
    Buffer.from([0xa, 0xb, 0xc, 0xd, 0xe, 0xf]).copy(frame, 6);
    frame.writeUInt16BE(0x0800, 12);
    for (let i = 14; i < 60; i++) frame[i] = i;
    const r = obj.program('xdp_rewrite').testRun({ data: frame });
    assert.equal(r.retval, 3 /* XDP_TX */);
    assert.equal(r.dataOut.length, 56, 'adjust_tail(-4) shrinks the output');
    assert.deepEqual([...r.dataOut.subarray(0, 12)], [0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(r.dataOut.subarray(12), frame.subarray(12, 56));
    assert.equal(r.ctxOut, null);
    // XDP context in/out (struct xdp_md, 24 bytes)
    const ctx = Buffer.alloc(24);
    ctx.writeUInt32LE(0, 0);
    ctx.writeUInt32LE(60, 4);
    const withCtx = obj.program('xdp_rewrite').testRun({ data: frame, ctx });
    assert.ok(withCtx.ctxOut);
    assert.equal(withCtx.ctxOut.readUInt32LE(4), 56, 'ctx out data_end follows the shrink');
    // repeat: the kernel runs the program N times and reports the mean ns per run (the
    // rewrite program would shrink the same frame on every run, so a pass-through one is used)
    const rep = net.program('xdp_count').testRun({ data: frame, repeat: 100_000 });
    assert.equal(rep.retval, 2 /* XDP_PASS */);
    assert.ok(rep.duration > 0 && rep.duration < 100_000, `duration ${rep.duration} ns per run`);
    assert.deepEqual(rep.dataOut, frame);
  } finally {
    obj.close();
    net.close();
  }
});

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

test('ring buffer: N test runs deliver N records in batches, lengths and contents intact', async (t) => {
  if (!prereqs(t, 'bridge_ring')) return;
  const obj = BpfObject.load(testObj('bridge_ring'));
  const N = 5000;
  const seen: number[] = [];
  let badContent = 0;
  let batchesSeen = 0;
  const reader = new RingReader([obj.mapFd('events'), obj.mapFd('events2')], (buf, off, len) => {
    const seq = buf.readUInt32LE(off + 16);
    if (len !== 24 + (seq % 8)) badContent++;
    if (buf.readUInt16LE(off + 14) !== len) badContent++;
    if (buf[off + 20] !== 0x5a) badContent++; // first frame byte
    for (let i = 24; i < len; i++) if (buf[off + i] !== (seq & 0xff)) badContent++;
    seen.push(seq);
  });
  try {
    const frame = Buffer.alloc(64, 0x5a);
    const r = obj.program('xdp_emit').testRun({ data: frame, repeat: N });
    assert.equal(r.retval, 2);
    await waitFor(() => seen.length >= N, 5000);
    batchesSeen = reader.stats.batches;
    assert.equal(seen.length, N, 'every record arrived');
    assert.deepEqual(seen, Array.from({ length: N }, (_, i) => i), 'in order, none duplicated');
    assert.equal(badContent, 0);
    assert.ok(batchesSeen < N / 10, `records came in batches (${batchesSeen} callbacks for ${N} records)`);
    assert.equal(reader.stats.records, N);
    assert.equal(reader.stats.decodeFailures, 0);

    // second ring on the same manager, drained synchronously
    const before = seen.length;
    obj.program('xdp_emit2').testRun({ data: frame, repeat: 10 });
    const drained = reader.consume();
    assert.equal(drained, 10);
    assert.equal(seen.length, before + 10);
    assert.deepEqual(seen.slice(before), Array.from({ length: 10 }, (_, i) => N + i));

    // records shorter than the event header are counted, not handed on
    obj.program('xdp_emit_short').testRun({ data: frame, repeat: 3 });
    assert.equal(reader.consume(), 3);
    assert.equal(reader.stats.decodeFailures, 3);
    assert.equal(seen.length, before + 10);
  } finally {
    reader.close();
    obj.close();
  }
  assert.equal(reader.open, false);
});

test('ring buffer: a backlog larger than one batch comes in several, intact and in order; consume() inside a handler is refused', (t) => {
  if (!prereqs(t, 'bridge_ring')) return;
  const obj = BpfObject.load(testObj('bridge_ring'));
  const N = 20_000; // ~630 KiB of batch: more than one 256 KiB batch
  const seen: number[] = [];
  let badContent = 0;
  let inner: unknown = null;
  const reader: RingReader = new RingReader([obj.mapFd('events')], (buf, off, len) => {
    const seq = buf.readUInt32LE(off + 16);
    if (len !== 24 + (seq % 8)) badContent++;
    for (let i = 24; i < len; i++) if (buf[off + i] !== (seq & 0xff)) badContent++;
    if (seen.length === 0) {
      try {
        reader.consume(); // would overwrite the batch this handler is reading
      } catch (e) {
        inner = e;
      }
    }
    seen.push(seq);
  });
  try {
    assert.equal(obj.program('xdp_emit').testRun({ data: Buffer.alloc(64, 0x5a), repeat: N }).retval, 2);
    // synchronous: the event loop has not run, so everything comes from this one call
    assert.equal(reader.consume(), N);
    assert.equal(seen.length, N, 'every record arrived');
    assert.ok(seen.every((s, i) => s === i), 'in order, none duplicated');
    assert.equal(badContent, 0, 'lengths and contents intact across batches');
    assert.ok(reader.stats.batches >= 3, `a backlog of ${N} records came in several batches (${reader.stats.batches})`);
    assert.equal(reader.stats.decodeFailures, 0);
    assert.match(String((inner as Error | null)?.message), /own callback/);
    assert.equal(reader.consume(), 0, 'nothing left');
  } finally {
    reader.close();
    obj.close();
  }
});

test('ring close lets the process exit; a throwing consumer is counted and reported', (t) => {
  if (!prereqs(t, 'bridge_ring')) return;
  const script = `
    import { BpfObject } from ${JSON.stringify(path.join(repoRoot, 'dist', 'src', 'kernel', 'object.js'))};
    import { RingReader } from ${JSON.stringify(path.join(repoRoot, 'dist', 'src', 'kernel', 'ring.js'))};
    const obj = BpfObject.load(${JSON.stringify(testObj('bridge_ring'))});
    let errors = 0;
    const r = new RingReader([obj.mapFd('events')], () => { throw new Error('boom'); }, { onHandlerError: () => errors++ });
    obj.program('xdp_emit').testRun({ data: Buffer.alloc(64), repeat: 4 });
    setTimeout(() => { console.log(JSON.stringify({ ...r.stats, errors })); r.close(); obj.close(); }, 200);
  `;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'snring-'));
  try {
    const file = path.join(dir, 'ring-exit.mjs');
    writeFileSync(file, script);
    // the child exits by itself only if ringClose released the uv handle
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 10_000 });
    const stats = JSON.parse(out.trim()) as { records: number; decodeFailures: number; errors: number; batches: number };
    assert.equal(stats.records, 4);
    assert.equal(stats.decodeFailures, 4);
    assert.equal(stats.errors, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('BTF struct queries match the C compiler (offsetof/_Static_assert in the test program)', (t) => {
  if (!requireOrSkip(t, objectsBuilt('bridge_layout'), 'build/bpf-test/bridge_layout.bpf.o (make bpf)')) return;
  const src = readFileSync(path.join(repoRoot, 'test', 'kernel', 'progs', 'bridge_layout.bpf.c'), 'utf8');
  const [s] = native.btfStructs(testObj('bridge_layout'), ['bridge_layout_probe']);
  const asserts = [...src.matchAll(/_Static_assert\(offsetof\(struct bridge_layout_probe, (\w+)\) == (\d+)/g)];
  assert.ok(asserts.length >= 9, 'the C program pins the offsets');
  for (const [, member, off] of asserts) {
    const m = s.members.find((x) => x.name === member);
    assert.ok(m, `member ${member}`);
    assert.equal(m.bitOffset / 8, Number(off), `offset of ${member}`);
  }
  const size = /_Static_assert\(sizeof\(struct bridge_layout_probe\) == (\d+)/.exec(src);
  assert.ok(size);
  assert.equal(s.size, Number(size[1]));
  const by = Object.fromEntries(s.members.map((m) => [m.name, m]));
  assert.deepEqual([by.addr.typeName, by.addr.size], ['__u32[4]', 16]);
  assert.deepEqual([by.mac.typeName, by.mac.size], ['__u8[6]', 6]);
  assert.deepEqual([by.hdr.typeName, by.hdr.size], ['struct sentinel_event_hdr', 16]);
  assert.deepEqual([by.matrix.typeName, by.matrix.size], ['__u16[2][3]', 12]);
  assert.deepEqual([by.flags.typeName, by.flags.size], ['__u32', 4], 'qualifiers dropped');
  assert.deepEqual([by.c.typeName, by.c.size], ['__u64', 8]);
  assert.deepEqual([by.bits_lo.bitSize, by.bits_lo.bitOffset, by.bits_hi.bitSize, by.bits_hi.bitOffset], [4, 576, 12, 580]);
  const [hdr] = native.btfStructs(testObj('bridge_layout'), ['sentinel_event_hdr']);
  assert.deepEqual(hdr.members.map((m) => [m.name, m.bitOffset / 8, m.size]), [
    ['ts_ns', 0, 8], ['type', 8, 2], ['program', 10, 1], ['flags', 11, 1], ['cpu', 12, 2], ['len', 14, 2],
  ]);
  assert.throws(() => native.btfStructs(testObj('bridge_layout'), ['no_such_struct']), /no_such_struct/);
  // kernel BTF works too
  const [ip] = native.btfStructs('vmlinux', ['iphdr']);
  assert.equal(ip.size, 20);
});

test('a program the verifier rejects: objLoad throws with errno, libbpf message and the verifier log', (t) => {
  if (!requireOrSkip(t, isRoot(), 'root is needed to load BPF programs')) return;
  if (!requireOrSkip(t, haveTool('clang'), 'clang')) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'snbad-'));
  try {
    const out = compileRejectedProgram(dir);
    const obj = BpfObject.open(out);
    try {
      assert.throws(
        () => obj.load(),
        (e: unknown) => {
          assert.ok(e instanceof BpfError, String(e));
          assert.equal(e.syscall, 'objLoad');
          assert.equal(e.code, 'EACCES');
          assert.equal(e.errno, 13);
          assert.match(e.libbpfMessage, /xdp_reads_past_end/);
          assert.match(e.verifierLog, /invalid access to packet/);
          assert.match(e.verifierLog, /processed \d+ insns/);
          return true;
        },
      );
    } finally {
      obj.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('errors: missing files and maps carry errno and code; bad handles are TypeErrors', (t) => {
  if (!prereqs(t, 'bridge_net')) return;
  assert.throws(() => BpfObject.open('/nonexistent/x.bpf.o'), (e: unknown) => e instanceof BpfError && e.code === 'ENOENT' && e.errno === 2 && /x\.bpf\.o/.test(e.libbpfMessage));
  assert.throws(() => native.objGet('/sys/fs/bpf/definitely-not-here'), (e: unknown) => (e as { code?: string }).code === 'ENOENT');
  assert.throws(() => BpfObject.open(testObj('bridge_net'), { ...netOpts(), maxEntries: { nope: 4 } }), /map 'nope'/);
  const obj = BpfObject.open(testObj('bridge_net'), netOpts());
  assert.throws(() => obj.mapFd('t_hash'), /not loaded/);
  obj.load();
  assert.throws(() => obj.mapFd('no_map'), (e: unknown) => e instanceof BpfError && e.code === 'ENOENT' && /no_map/.test(e.message));
  assert.throws(() => obj.progFd('no_prog'), /no_prog/);
  assert.throws(() => native.objLoad(obj.handle), /already loaded/);
  obj.close();
  for (const call of [() => native.objLoad(obj.handle), () => native.objPrograms(123456), () => native.linkDestroy(999), () => native.ringConsume(0), () => native.objMaps(-1)]) {
    assert.throws(call, TypeError);
  }
  assert.throws(() => native.mapLookup(-1, Buffer.alloc(4)), TypeError);
  assert.throws(() => native.xdpAttach(3, 1, 'turbo' as 'native'), /mode must be/);
  assert.throws(() => native.tcAttach(3, 1, 'sideways' as 'ingress'), /direction must be/);
  assert.throws(() => native.closeFd(1), /stdio/);
  assert.throws(() => native.mapInfo(0x7ffffff0), (e: unknown) => /^EBADFD?$/.test((e as { code?: string }).code ?? ''));
});

test('mmapable arrays: writes at an offset land in the elements, bounds and flags are checked, a closed mapping is refused', (t) => {
  if (!requireOrSkip(t, isRoot(), 'root is needed to create BPF maps') || !requireOrSkip(t, haveTool('bpftool'), 'bpftool (make test installs it)')) return;
  ensureBpffsSync(runPins);
  const BPF_F_MMAPABLE = 1 << 10;
  const make = (name: string, flags: number): number => {
    const pin = path.join(runPins, name);
    execFileSync('bpftool', ['map', 'create', pin, 'type', 'array', 'key', '4', 'value', '12', 'entries', '4', 'name', name, 'flags', String(flags)]);
    return native.objGet(pin);
  };
  const mm = make(uniqueName('mm'), BPF_F_MMAPABLE);
  const plain = make(uniqueName('pl'), 0);
  try {
    assert.throws(() => native.mapMmap(plain), /is not a BPF_F_MMAPABLE array/);
    const h = native.mapMmap(mm);
    // Elements are round_up(12, 8) = 16 bytes apart: element 2 starts at byte 32.
    native.mmapWrite(h, 32, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    native.mmapWrite(h, 4, Buffer.from([0xaa]));
    const key = (i: number): Buffer => Buffer.from(new Uint32Array([i]).buffer);
    assert.deepEqual([...native.mapLookup(mm, key(2))!], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.deepEqual([...native.mapLookup(mm, key(0))!], [0, 0, 0, 0, 0xaa, 0, 0, 0, 0, 0, 0, 0]);
    assert.throws(() => native.mmapWrite(h, 60, Buffer.alloc(8)), /8 bytes at offset 60 pass the end of map .* \(64 bytes\)/);
    native.mmapClose(h);
    assert.throws(() => native.mmapWrite(h, 0, Buffer.alloc(1)), /not a live map mapping handle/);
  } finally {
    native.closeFd(mm);
    native.closeFd(plain);
  }
});
