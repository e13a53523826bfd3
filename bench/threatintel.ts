// tc-threatintel: lookup cost per packet at 1k, 100k and 1M indicators beside the TC floor (a
// program that only returns), and what loading 1M indicators costs from feed text to an active
// generation in the kernel (parse, compile, create + batch-write + bloom fill + flip).
//
// Run: node dist/bench/threatintel.js [--sizes 1000,100000,1000000] [--samples 7] [--repeat 200000]
// (make bench runs it after the main bench). Packets go through BPF_PROG_TEST_RUN only; the
// addresses are map keys, never sent. Each size is a plain-list feed: up to 131,072 IPv4
// addresses (198.18.0.0/15) and the rest IPv6 (2001:db8::/32). ns/packet is the kernel's own
// average over `repeat` runs of one frame; the median of `samples` is reported.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../src/kernel/object.js';
import { parsePlain } from '../src/intel/formats.js';
import { compileIntel } from '../src/engines/threatintel/compile.js';
import { THREATINTEL_OBJECT_FILE, ThreatIntelKernel, TI_ENTRY } from '../src/engines/threatintel/kernel.js';
import { udpFrame } from '../test/support/frames.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const SIZES = arg('sizes', '1000,100000,1000000').split(',').map(Number);
const SAMPLES = Number(arg('samples', '7'));
const REPEAT = Number(arg('repeat', '200000'));
const V4_SPACE = 131_072;

function feedText(n: number): string {
  const v4 = Math.min(Math.ceil(n / 2), V4_SPACE);
  const lines: string[] = [];
  for (let i = 0; i < v4; i++) lines.push(`198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
  for (let i = 0; i < n - v4; i++) lines.push(`2001:db8:${((i >> 16) & 0xffff).toString(16)}::${(i & 0xffff).toString(16)}`);
  return `${lines.join('\n')}\n`;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function nsPerPacket(obj: BpfObject, entry: string, frame: Buffer): number {
  const prog = obj.program(entry);
  const xs: number[] = [];
  for (let s = 0; s < SAMPLES; s++) xs.push(prog.testRun({ data: frame, repeat: REPEAT }).duration);
  return median(xs);
}

async function main(): Promise<void> {
  const floor = BpfObject.load(path.join(ROOT, 'build', 'bpf-bench', 'xdp_floor.bpf.o'));
  const k = ThreatIntelKernel.load(path.join(ROOT, 'build', 'bpf', THREATINTEL_OBJECT_FILE));
  k.writeConfig({ enabled: true, quarantineIfindex: 0, quarantineVlan: 0 });
  // packets whose addresses are in no set (the common case: one bloom check per address)
  const miss4 = udpFrame({ src: '198.19.255.254', dst: '198.19.255.253', sport: 40000, dport: 53 });
  const miss6 = udpFrame({ src: '2001:db8:ffff::1', dst: '2001:db8:ffff::2', sport: 40000, dport: 53 });
  const floorNs = nsPerPacket(floor, 'tc_floor_next', miss4);
  console.log(`tc floor: ${floorNs.toFixed(1)} ns/packet (median of ${SAMPLES} x ${REPEAT} test runs)`);
  const rows: { size: number; v4: number; v6: number; miss4: number; miss6: number; parseMs: number; compileMs: number; kernelMs: number; totalMs: number }[] = [];
  let id = 0;
  for (const n of SIZES) {
    const text = feedText(n);
    const t0 = performance.now();
    const parsed = parsePlain(text, { valueType: 'ip', defaultConfidence: 100, feedId: 'bench', commentPrefix: '#' });
    const t1 = performance.now();
    const compiled = compileIntel([{ policy: { id: 'bench', action: 'alert', minConfidence: 0, actionMinConfidence: 0 }, indicators: parsed.indicators }], Date.now());
    const t2 = performance.now();
    const swap = await k.swap(++id, compiled.set);
    const t3 = performance.now();
    if (compiled.set.v4.count + compiled.set.v6.count !== n) throw new Error(`${n} indicators expected, ${compiled.set.v4.count + compiled.set.v6.count} compiled`);
    const row = { size: n, v4: compiled.set.v4.count, v6: compiled.set.v6.count, miss4: nsPerPacket(k.obj, TI_ENTRY, miss4), miss6: nsPerPacket(k.obj, TI_ENTRY, miss6), parseMs: t1 - t0, compileMs: t2 - t1, kernelMs: t3 - t2, totalMs: t3 - t0 };
    rows.push(row);
    console.log(
      `${n} indicators (${row.v4} IPv4 + ${row.v6} IPv6): lookup ${row.miss4.toFixed(1)} ns (v4) / ${row.miss6.toFixed(1)} ns (v6) per packet, ` +
        `${(row.miss4 / floorNs).toFixed(2)}x / ${(row.miss6 / floorNs).toFixed(2)}x the floor; ` +
        `load ${row.totalMs.toFixed(0)} ms = parse ${row.parseMs.toFixed(0)} + compile ${row.compileMs.toFixed(0)} + kernel ${row.kernelMs.toFixed(0)} ` +
        `(create ${swap.createMs.toFixed(0)}, write ${swap.writeMs.toFixed(0)}, bloom fill ${swap.fillMs.toFixed(0)}, flip ${swap.flipMs.toFixed(1)})`,
    );
    await k.releaseInactive();
  }
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  console.log(`lookup at ${last.size} vs ${first.size}: ${(last.miss4 / first.miss4).toFixed(2)}x (IPv4), ${(last.miss6 / first.miss6).toFixed(2)}x (IPv6); goal <= 1.3x`);
  console.log(`load of ${last.size} indicators: ${(last.totalMs / 1000).toFixed(2)} s; goal <= 2 s`);
  console.log(JSON.stringify({ threatintel: { floorNs, rows } }));
  k.close();
  floor.close();
}

await main();
