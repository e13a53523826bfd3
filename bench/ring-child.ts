// Runs pinned to the consumer's CPU (spawned by bench/ring.ts under taskset): starts the real
// xdp-firewall engine (no interface), points the bench's producer program at the engine's own
// ring, and for each run has bench/tools/ring-tool drive the producer from the other CPU while
// one consumer reads the ring:
//   c       ring-tool's libbpf consumer that only counts (the ring's own limit), same CPU;
//   raw     the agent's ring reader (native batch + split), a handler that only reads the
//           record's sequence number;
//   decode  the agent's path: ring reader -> RecordRouter -> the engine's onRecord (decode,
//           alert build) -> the engine context's emit, which here only reads the sequence back
//           out of the alert;
//   eve     the same, emit -> the alert pipeline -> the EVE file sink, as createAlertPipeline
//           builds it from the config.
// Every run is accounted exactly (sequence numbers and kernel counters); judging the figures is
// the parent's job (bench/ring-figures.ts). Prints one JSON line (RingChildResult).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createAlertPipeline } from '../src/alerts/build.js';
import type { Alert } from '../src/alerts/model.js';
import type { SentinelRecord } from '../src/alerts/records.js';
import { BlocklistKernel } from '../src/blocklist/kernel.js';
import { MemoryBlocklistRepo } from '../src/blocklist/memory-repo.js';
import { BlocklistService } from '../src/blocklist/service.js';
import type { AlertPipeline } from '../src/alerts/pipeline.js';
import { parseConfigText, type Config } from '../src/catalog.js';
import type { Engine } from '../src/engines/engine.js';
import { firewallModule } from '../src/engines/firewall/index.js';
import { RecordRouter } from '../src/engines/record-router.js';
import { sharedMapSizes } from '../src/engines/runtime/shared-maps.js';
import { BootClock } from '../src/kernel/boot-clock.js';
import { ensureBpffsSync } from '../src/kernel/bpffs.js';
import { layouts } from '../src/kernel/layouts.gen.js';
import { loadNative, type NativeBridge } from '../src/kernel/native.js';
import { RingReader, type RecordHandler } from '../src/kernel/ring.js';
import { createLogger } from '../src/log.js';
import { AgentMetrics } from '../src/metrics/agent-metrics.js';
import { BASE_RULE_COUNT, ringBenchYaml } from './policy.js';

export const RING_STAGES = ['c', 'raw', 'decode', 'eve'] as const;
export type RingStage = (typeof RING_STAGES)[number];

export interface RingRunSpec {
  stage: RingStage;
  /** records per second the producer offers; 0 = as fast as it can */
  rate: number;
  round: number;
}

export interface RingChildSpec {
  objectDir: string;
  producerObj: string;
  tool: string;
  /** bpffs directory made for the run (the engine pins its maps under it) */
  pinRoot: string;
  /** scratch directory (config, EVE files) */
  dir: string;
  /** the ring's size in bytes (the agent's ring_buffer_size) */
  ringSize: number;
  producerCpu: number;
  consumerCpu: number;
  warmupMs: number;
  windowMs: number;
  runs: RingRunSpec[];
}

/** The consumer and the producer over the window of steady state. */
export interface RingWindow {
  /** records the consumer read */
  records: number;
  wallNs: number;
  /** CPU time of the consumer (the whole process: it is pinned to one CPU) */
  cpuNs: number;
  /** producer runs (sequence numbers taken), records written, and not written for lack of room */
  produced: number;
  written: number;
  lostFull: number;
  lostBackpressure: number;
  /** eve: lines the EVE sink wrote, and its queue at the window's end minus at its start */
  eveLines?: number;
  eveQueueGrowth?: number;
}

export interface RingRun extends RingRunSpec {
  /** the producer's own report */
  producer: { runs: number; calls: number; wallNs: number; cpuNs: number };
  /** kernel counters over the whole run */
  produced: number;
  written: number;
  lostFull: number;
  lostBackpressure: number;
  /** records the consumer read (the reader's count; ring-tool's for c) */
  consumed: number;
  /** batches the reader handed over (wake-ups that found records; polls for c) */
  batches: number;
  /** records the path delivered to its end: alerts emitted (decode), lines in the EVE file
   * (eve), records handled (raw), records counted (c) */
  delivered: number;
  /** sequence numbers below `produced` the end of the path never saw, and ones it saw twice;
   * null where the path does not look (c) */
  missing: number | null;
  duplicates: number | null;
  /** records the reader or the engine could not decode; alerts or lines the pipeline or the
   * sink dropped */
  decodeFailures: number;
  sinkDropped: number;
  /** alerts (decode) or EVE lines (eve) naming a rule the engine does not know, or records that
   * are not alerts (must be 0:
   * the records carry the policy's rule numbers) */
  unknownRules: number;
  /** eve: ms from the producer's end until the sink had written everything */
  flushMs?: number;
  /** JS paths: the consumer's CPU and wall time from its first record until everything was
   * delivered (the sink flushed): with `delivered`, the whole path's cost per record including
   * what was still queued when the window closed */
  whole: { cpuNs: number; wallNs: number } | null;
  window: RingWindow | null;
}

export interface RingChildResult {
  runs: RingRun[];
  /** the ring's size as the kernel has it, and the record size */
  ringBytes: number;
  recordBytes: number;
  /** where the two ends ran (Cpus_allowed_list of this process; ring-tool pins itself) */
  consumerCpus: string;
}

const E = layouts.fw_event.fields;
/** sequence numbers one run can check (bits of the seen-map) */
const SEQ_CAPACITY = 1 << 27;

/** Which sequence numbers were seen, and which twice. */
class SeqSeen {
  private readonly bits = new Uint8Array(SEQ_CAPACITY / 8);
  duplicates = 0;
  outOfRange = 0;
  distinct = 0;

  see(seq: number): void {
    if (seq >= SEQ_CAPACITY || seq < 0) {
      this.outOfRange++;
      return;
    }
    const i = seq >>> 3;
    const m = 1 << (seq & 7);
    if (this.bits[i]! & m) this.duplicates++;
    else {
      this.bits[i]! |= m;
      this.distinct++;
    }
  }

  /** numbers in 0..produced-1 not seen */
  missingBelow(produced: number): number {
    let seenBelow = 0;
    const full = Math.min(produced, SEQ_CAPACITY) >>> 3;
    for (let i = 0; i < full; i++) {
      let b = this.bits[i]!;
      while (b) {
        b &= b - 1;
        seenBelow++;
      }
    }
    for (let s = full << 3; s < Math.min(produced, SEQ_CAPACITY); s++) if (this.bits[s >>> 3]! & (1 << (s & 7))) seenBelow++;
    return produced - seenBelow;
  }
}

const seqOfAlert = (a: Alert): number => (a.flow?.srcPort ?? 0) + (a.flow?.dstPort ?? 0) * 65536;

function cpuNsNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

interface ToolProc {
  done: Promise<string>;
  /** resolves at the first line of output ("start" / "ready") */
  first: Promise<void>;
  closeStdin(): void;
}

/** Starts ring-tool with `fds` as its fds 3, 4, ...; `onWindow` runs when it says its window is
 * over. */
function runTool(tool: string, args: string[], fds: number[], timeoutMs: number, onWindow?: () => void): ToolProc {
  const p = spawn(tool, args, { stdio: ['pipe', 'pipe', 'pipe', ...fds] });
  let out = '';
  let err = '';
  let firstSeen: () => void = () => undefined;
  const first = new Promise<void>((resolve) => (firstSeen = resolve));
  p.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (out.includes('\n')) firstSeen();
    if (onWindow && /^window$/m.test(out)) {
      onWindow();
      onWindow = undefined;
    }
  });
  p.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const done = new Promise<string>((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      firstSeen();
      if (code === 0) resolve(out);
      else reject(new Error(`ring-tool ${args[0]} exited with ${code ?? signal}: ${err.trim() || out.trim()}`));
    });
  });
  return { done, first, closeStdin: () => p.stdin!.end() };
}

const lastJson = <T>(out: string): T => JSON.parse(out.trim().split('\n').at(-1)!) as T;

class Bench {
  private readonly native: NativeBridge = loadNative();
  private readonly producerObj: number;
  readonly progFd: number;
  readonly ringFd: number;
  readonly seqFd: number;
  readonly countersFd: number;
  private readonly ncpus: number;
  /** where the engine's records go in the current run */
  emit: (r: SentinelRecord) => void = () => undefined;

  private constructor(
    readonly spec: RingChildSpec,
    readonly engine: Engine<Config>,
    private readonly blocklist: BlocklistService,
  ) {
    const n = this.native;
    this.ringFd = engine.ringFds()[0]!;
    // the producer writes into the engine's own ring: the map the agent reads, at its size
    this.producerObj = n.objOpen(spec.producerObj, { reuseMaps: { fw_events: this.ringFd } });
    n.objLoad(this.producerObj);
    this.progFd = n.progFd(this.producerObj, 'ring_produce');
    this.seqFd = n.mapFd(this.producerObj, 'rp_seq');
    this.countersFd = n.mapFd(this.producerObj, 'rp_counters');
    this.ncpus = n.numPossibleCpus();
    const cfg = Buffer.alloc(8);
    cfg.writeUInt32LE(BASE_RULE_COUNT, 0);
    cfg.writeUInt32LE(1, 4);
    n.mapUpdate(n.mapFd(this.producerObj, 'rp_config'), Buffer.alloc(4), cfg);
  }

  static async start(spec: RingChildSpec): Promise<Bench> {
    ensureBpffsSync(path.join(spec.pinRoot, 'maps'));
    ensureBpffsSync(path.join(spec.pinRoot, 'links'));
    const config = parseConfigText(ringBenchYaml(spec.ringSize, path.join(spec.dir, 'eve-unused.json')), path.join(spec.dir, 'ring.yaml'));
    // the block list the firewall consults, as the agent gives it one (empty here)
    const blocklist = new BlocklistService({ target: BlocklistKernel.create(spec.objectDir, path.join(spec.pinRoot, 'maps')), repo: new MemoryBlocklistRepo(), maxEntries: 16, sampleEvery: 1 });
    let bench: Bench | null = null;
    const engine = firewallModule.create({
      config,
      log: createLogger({ level: 'silent' }),
      metrics: new AgentMetrics({ version: 'bench', defaultMetrics: false }),
      pinRoot: spec.pinRoot,
      objectDir: spec.objectDir,
      clock: new BootClock(),
      interfaces: [],
      sharedMapSizes: sharedMapSizes(config),
      blocklist: blocklist.forOwner('xdp-firewall'),
      emit: (r) => bench!.emit(r),
      requestRefresh: async () => ({ ok: false, error: 'no control plane in the bench' }),
    });
    await engine.start();
    bench = new Bench(spec, engine, blocklist);
    return bench;
  }

  async close(): Promise<void> {
    this.native.objClose(this.producerObj);
    const errors = await this.engine.stop();
    this.blocklist.close();
    if (errors.length) throw new Error(`stopping the firewall engine: ${errors.join('; ')}`);
  }

  private reset(): void {
    const n = this.native;
    n.mapUpdate(this.seqFd, Buffer.alloc(4), Buffer.alloc(8));
    n.mapUpdate(this.countersFd, Buffer.alloc(4), Buffer.alloc(this.ncpus * 16 * 8));
  }

  /** The producer's sequence and its record counters now. */
  producerNow(): { produced: number; written: number; lostFull: number; lostBackpressure: number } {
    const n = this.native;
    const seq = Number(n.mapLookup(this.seqFd, Buffer.alloc(4))!.readBigUInt64LE(0));
    const v = n.mapLookup(this.countersFd, Buffer.alloc(4))!;
    const sum = (slot: number): number => {
      let s = 0;
      for (let c = 0; c < this.ncpus; c++) s += Number(v.readBigUInt64LE(c * 128 + slot * 8));
      return s;
    };
    return { produced: seq, written: sum(5), lostFull: sum(6), lostBackpressure: sum(7) };
  }

  /** The producer runs until the consumer's window is over (its stdin is closed then), or
   * for ten windows at most. */
  private producer(rate: number): ToolProc {
    const s = this.spec;
    const ms = 10 * (s.warmupMs + s.windowMs) + 5000;
    return runTool(s.tool, ['produce', String(s.producerCpu), String(rate), String(ms)], [this.progFd], ms + 30_000);
  }

  private drained(): void {
    // nothing of an earlier run may be read by the next one
    const r = new RingReader([this.ringFd], () => true, { minLength: 0 });
    try {
      while (r.consume() > 0);
    } finally {
      r.close();
    }
  }

  async run(r: RingRunSpec): Promise<RingRun> {
    this.drained();
    this.reset();
    return r.stage === 'c' ? this.runC(r) : this.runJs(r);
  }

  private async runC(r: RingRunSpec): Promise<RingRun> {
    const s = this.spec;
    let prod: ToolProc | null = null;
    const consumer = runTool(s.tool, ['consume', String(s.consumerCpu), String(s.warmupMs), String(s.windowMs)], [this.ringFd, this.countersFd, this.seqFd], 20 * (s.warmupMs + s.windowMs) + 60_000, () =>
      prod?.closeStdin(),
    );
    await consumer.first;
    prod = this.producer(r.rate);
    const p = lastJson<{ runs: number; calls: number; wall_ns: number; cpu_ns: number }>(await prod.done);
    consumer.closeStdin();
    type CWin = { records: number; wall_ns: number; cpu_ns: number; produced: number; written: number; lost_full: number; lost_backpressure: number };
    const c = lastJson<{ records: number; bytes: number; batches: number; window: CWin | null }>(await consumer.done);
    const k = this.producerNow();
    const w = c.window;
    return {
      ...r,
      producer: { runs: p.runs, calls: p.calls, wallNs: p.wall_ns, cpuNs: p.cpu_ns },
      ...k,
      consumed: c.records,
      batches: c.batches,
      delivered: c.records,
      missing: null,
      duplicates: null,
      decodeFailures: 0,
      sinkDropped: 0,
      unknownRules: 0,
      whole: null,
      window: w
        ? { records: w.records, wallNs: w.wall_ns, cpuNs: w.cpu_ns, produced: w.produced, written: w.written, lostFull: w.lost_full, lostBackpressure: w.lost_backpressure }
        : null,
    };
  }

  private async runJs(r: RingRunSpec): Promise<RingRun> {
    const s = this.spec;
    const seen = new SeqSeen();
    let delivered = 0;
    let unknownRules = 0;
    let pipeline: AlertPipeline | null = null;
    let eveDir = '';
    let handler: RecordHandler;
    if (r.stage === 'raw') {
      const lo = E.src_port.offset;
      const hi = E.dst_port.offset;
      handler = (buf, off) => {
        seen.see(buf.readUInt16LE(off + lo) + buf.readUInt16LE(off + hi) * 65536);
        delivered++;
      };
    } else {
      const router = new RecordRouter([this.engine]);
      handler = router.handle;
      if (r.stage === 'decode') {
        this.emit = (r) => {
          if (r.kind !== 'alert') return void unknownRules++;
          seen.see(seqOfAlert(r));
          if (r.ruleId.startsWith('rule#')) unknownRules++;
          delivered++;
        };
      } else {
        eveDir = path.join(s.dir, `eve-${r.stage}-${r.rate}-${r.round}`);
        const cfg = parseConfigText(ringBenchYaml(s.ringSize, path.join(eveDir, 'eve.json')), path.join(s.dir, 'ring.yaml'));
        pipeline = await createAlertPipeline(cfg.alerting, { registry: new AgentMetrics({ version: 'bench', defaultMetrics: false }).registry });
        const pl = pipeline;
        this.emit = (a) => pl.push(a);
      }
    }
    const reader = new RingReader([this.ringFd], handler);
    const eveStats = (): { lines: number; queued: number; dropped: number } => {
      const st = pipeline!.stats();
      const sink = st.sinks[0]!;
      return { lines: sink.delivered, queued: sink.queued, dropped: Object.values(sink.dropped).reduce((a, b) => a + b, 0) + st.internal_errors };
    };
    type Mark = { records: number; wallNs: number; cpuNs: number; produced: number; written: number; lostFull: number; lostBackpressure: number; eveLines: number; eveQueued: number };
    const marks: Mark[] = [];
    let prod: ToolProc | null = null;
    const mark = (): void => {
      const e = pipeline ? eveStats() : { lines: 0, queued: 0 };
      marks.push({ records: reader.stats.records, wallNs: Number(process.hrtime.bigint()), cpuNs: cpuNsNow(), ...this.producerNow(), eveLines: e.lines, eveQueued: e.queued });
      if (marks.length === 2) prod?.closeStdin();
    };
    // the window starts warmupMs after the first record, like ring-tool's
    const timers: NodeJS.Timeout[] = [];
    let first: { cpuNs: number; wallNs: number } | null = null;
    const watch = setInterval(() => {
      if (reader.stats.records === 0) return;
      clearInterval(watch);
      first = { cpuNs: cpuNsNow(), wallNs: Number(process.hrtime.bigint()) };
      timers.push(setTimeout(mark, s.warmupMs), setTimeout(mark, s.warmupMs + s.windowMs));
    }, 1);
    let flushMs: number | undefined;
    let whole: RingRun['whole'] = null;
    let p: { runs: number; calls: number; wall_ns: number; cpu_ns: number };
    try {
      prod = this.producer(r.rate);
      p = lastJson(await prod.done);
      // a mark still pending (the window did not fit in the producer's run) belongs to no run
      clearInterval(watch);
      for (const t of timers) clearTimeout(t);
      const t = performance.now();
      // what the producer wrote last is still in the ring, or in the sink's queue
      for (;;) {
        while (reader.consume() > 0);
        if (pipeline) await pipeline.flush();
        if (reader.consume() === 0) break;
      }
      if (pipeline) flushMs = Math.round(performance.now() - t);
      const f = first as { cpuNs: number; wallNs: number } | null;
      if (f) whole = { cpuNs: cpuNsNow() - f.cpuNs, wallNs: Number(process.hrtime.bigint()) - f.wallNs };
    } finally {
      reader.close();
      this.emit = () => undefined;
    }
    const k = this.producerNow();
    let sinkDropped = 0;
    if (pipeline) {
      sinkDropped = eveStats().dropped;
      await pipeline.close();
      ({ lines: delivered, unknownRules } = readEve(eveDir, seen));
      rmSync(eveDir, { recursive: true, force: true });
    }
    const [a, b] = marks;
    return {
      ...r,
      producer: { runs: p.runs, calls: p.calls, wallNs: p.wall_ns, cpuNs: p.cpu_ns },
      ...k,
      consumed: reader.stats.records,
      batches: reader.stats.batches,
      delivered,
      missing: seen.missingBelow(k.produced) + seen.outOfRange,
      duplicates: seen.duplicates,
      decodeFailures: reader.stats.decodeFailures,
      sinkDropped,
      unknownRules,
      ...(flushMs === undefined ? {} : { flushMs }),
      whole,
      window:
        a && b
          ? {
              records: b.records - a.records,
              wallNs: b.wallNs - a.wallNs,
              cpuNs: b.cpuNs - a.cpuNs,
              produced: b.produced - a.produced,
              written: b.written - a.written,
              lostFull: b.lostFull - a.lostFull,
              lostBackpressure: b.lostBackpressure - a.lostBackpressure,
              ...(pipeline ? { eveLines: b.eveLines - a.eveLines, eveQueueGrowth: b.eveQueued - a.eveQueued } : {}),
            }
          : null,
    };
  }
}

/** Reads every EVE file of a run back (rotated ones too): each line must be an alert whose ports
 * carry a sequence number. Returns the lines read and how many name an unknown rule. */
function readEve(dir: string, seen: SeqSeen): { lines: number; unknownRules: number } {
  let lines = 0;
  let unknownRules = 0;
  const buf = Buffer.alloc(1 << 22);
  for (const f of readdirSync(dir).filter((n) => n.startsWith('eve.json'))) {
    const fd = openSync(path.join(dir, f), 'r');
    let rest = '';
    try {
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        const text = rest + buf.toString('utf8', 0, n);
        const parts = text.split('\n');
        rest = parts.pop()!;
        for (const line of parts) {
          const rec = JSON.parse(line) as { event_type?: string; src_port?: number; dest_port?: number; ebpfsentinel?: { rule_id?: string } };
          if (rec.event_type !== 'alert' || typeof rec.src_port !== 'number' || typeof rec.dest_port !== 'number') throw new Error(`${f}: not a firewall alert with ports: ${line.slice(0, 200)}`);
          seen.see(rec.src_port + rec.dest_port * 65536);
          if (rec.ebpfsentinel?.rule_id?.startsWith('rule#') !== false) unknownRules++;
          lines++;
        }
      }
    } finally {
      closeSync(fd);
    }
    if (rest) throw new Error(`${f}: the last line is cut: ${rest.slice(0, 200)}`);
  }
  return { lines, unknownRules };
}

/** With RING_CPU_PROF=FILE, a V8 CPU profile of the runs (not of the set-up: node --cpu-prof's
 * SIGPROF interrupts the verifier, which then gives up with EAGAIN) is written to FILE. */
async function profiled<T>(fn: () => Promise<T>): Promise<T> {
  const file = process.env.RING_CPU_PROF;
  if (!file) return fn();
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  }
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as RingChildSpec;
  const bench = await Bench.start(spec);
  const runs: RingRun[] = [];
  let info: { maxEntries: number };
  try {
    await profiled(async () => {
      for (const r of spec.runs) {
        runs.push(await bench.run(r));
        process.stderr.write(`ring: ${r.stage}${r.rate ? `@${r.rate}` : ''} round ${r.round + 1} done\n`);
      }
    });
    info = loadNative().mapInfo(bench.ringFd);
  } finally {
    await bench.close();
  }
  const status = readFileSync('/proc/self/status', 'utf8');
  const res: RingChildResult = {
    runs,
    ringBytes: info.maxEntries,
    recordBytes: layouts.fw_event.size,
    consumerCpus: /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1] ?? '?',
  };
  process.stdout.write(JSON.stringify(res) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`ring bench child failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
