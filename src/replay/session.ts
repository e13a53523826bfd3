// `ebpfsentinel replay`: a capture through the programs a config runs, as live traffic would
// meet them. The engines the config enables start as in the agent — objects loaded under a pin
// root of the replay's own, maps filled, policy written, the same block list service — except
// that what they would attach is collected (ReplayHooks) instead. Each frame is then test-run
// through the XDP program and the TC programs of its direction in pipeline order, in capture
// order, so state the programs keep (conntrack, rate buckets, the block list) carries from frame
// to frame. Their ring-buffer events go through the engines' own decoders, the same alert
// pipeline and sinks, each record stamped with its frame's capture time.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, truncateSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createAlertPipeline } from '../alerts/build.js';
import type { AlertPipeline } from '../alerts/pipeline.js';
import type { AlertingConfig } from '../alerts/section.js';
import type { SentinelRecord } from '../alerts/records.js';
import { BlocklistKernel } from '../blocklist/kernel.js';
import { MemoryBlocklistRepo } from '../blocklist/memory-repo.js';
import { BlocklistService } from '../blocklist/service.js';
import { openCapture } from '../capture/reader.js';
import { CaptureError, Direction, type ReaderCounts } from '../capture/frame.js';
import { cookedOutgoing, linkTypeSupported, toEthernet, unsupportedLinkType, UNUSABLE } from '../capture/link.js';
import { ENGINES, type Config } from '../catalog.js';
import type { Engine, EngineContext } from '../engines/engine.js';
import { RecordRouter } from '../engines/record-router.js';
import { ReplayHooks } from '../engines/runtime/replay-hooks.js';
import { sharedMapSizes } from '../engines/runtime/shared-maps.js';
import { ensureBpffsSync } from '../kernel/bpffs.js';
import { RingReader } from '../kernel/ring.js';
import { FrameBatch, NO_STAGE, TestRunChain, Verdict, VERDICT_NAMES } from '../kernel/test-run-chain.js';
import { AgentMetrics } from '../metrics/agent-metrics.js';
import type { ProgramCounters } from '../status/types.js';
import { VERSION } from '../version.js';
import { ReplayClock } from './clock.js';

const ETH_HLEN = 14;
/** ring size a replay gives every program, at least: a batch's events must fit before the reader drains them */
const REPLAY_RING_BYTES = 16 << 20;
const DEFAULT_BATCH = 256;

export interface ReplayOptions {
  capture: string;
  config: Config;
  /** directory of the built BPF objects */
  objectDir: string;
  /** EVE output: a file path (truncated first), or '-' for `stdout` */
  eve: string;
  stdout?: Writable;
  /** the interface name records carry (in_iface); default none, as for a capture file */
  interfaceName?: string;
  /** frames per native call; default 256 */
  batchSize?: number;
  /** pin root of the replay's own programs; default a fresh directory under /sys/fs/bpf */
  pinRoot?: string;
  log: Logger;
  /** called now and then with how far the replay got */
  progress?: (p: ReplayProgress) => void;
}

export interface ReplayProgress {
  frames: number;
  bytesRead: number;
  bytesTotal: number;
}

export interface ReplaySummary {
  capture: string;
  format: string;
  /** frames the capture held (every packet record) */
  frames: number;
  /** frames run through the programs */
  replayed: number;
  /** replayed frames by outcome: pass, drop, tx, redirect, aborted */
  verdicts: Record<string, number>;
  /** frames ended by each program (drop, tx, redirect, aborted), by program then outcome */
  decided_by: Record<string, Record<string, number>>;
  /** frames the replay could not run, by reason */
  unusable: Record<string, number>;
  /** records or blocks of the file the reader skipped, by reason */
  reader_skipped: Record<string, number>;
  /** inbound frames and frames the capture marks outbound (run through TC egress) */
  directions: { inbound: number; outbound: number };
  /** the programs each direction ran through, in order */
  chain: { xdp: string | null; ingress: string[]; egress: string[] };
  events: { received: number; undecodable: number; kernel_lost: { ring_full: number; backpressure: number } };
  /** each running program's own counters after the replay (seen, passed, dropped, malformed,
   * events, events lost): what the programs made of the frames, bad ones included */
  programs: Record<string, ProgramCounters>;
  /** records handed to the pipeline, by kind */
  records: Record<string, number>;
  /** records a sink dropped, by sink and reason */
  sink_dropped: Record<string, Record<string, number>>;
  /** capture time of the first and last frame (ISO 8601) */
  first?: string;
  last?: string;
  /** loading the programs and writing the policy */
  setup_ms: number;
  /** reading, running and writing the frames */
  replay_ms: number;
  /** CPU time (user + system) of the process over replay_ms */
  cpu_ms: number;
  /** frames replayed per second of replay_ms */
  rate: number;
  /** a fault that ended the replay early (the records up to it were written) */
  error?: string;
}

function errnoName(e: number): string {
  return { 1: 'EPERM', 7: 'E2BIG', 12: 'ENOMEM', 22: 'EINVAL', 28: 'ENOSPC', 95: 'EOPNOTSUPP', 524: 'ENOTSUPP' }[e] ?? `errno ${e}`;
}

/** The alerting section a replay runs: the config's dedup, throttle and EVE filters, one sink. */
function replayAlerting(cfg: AlertingConfig, eve: string): AlertingConfig {
  const filters = { min_severity: cfg.eve.min_severity, record_kinds: cfg.eve.record_kinds, ...(cfg.eve.event_types ? { event_types: cfg.eve.event_types } : {}) };
  return {
    ...cfg,
    eve: { ...cfg.eve, enabled: eve !== '-', path: eve === '-' ? cfg.eve.path : path.resolve(eve), max_size: 0 },
    stdout: { ...cfg.stdout, ...filters, enabled: eve === '-', queue_size: Math.max(cfg.stdout.queue_size, cfg.eve.queue_size) },
    routes: [],
  };
}

function bump(m: Record<string, number>, k: string, n = 1): void {
  m[k] = (m[k] ?? 0) + n;
}

export async function replayCapture(opts: ReplayOptions): Promise<ReplaySummary> {
  const t0 = performance.now();
  const reader = openCapture(opts.capture);
  const head = reader.interfaces[0];
  if (reader.format === 'pcap' && head && !linkTypeSupported(head.linktype)) {
    reader.close();
    // the link type is the header's last field
    throw new CaptureError(opts.capture, 20, unsupportedLinkType(head.linktype));
  }
  const log = opts.log;
  const pinRoot = opts.pinRoot ?? path.join('/sys/fs/bpf', `ebpfsentinel-replay-${process.pid}-${randomBytes(4).toString('hex')}`);
  const config: Config = {
    ...opts.config,
    agent: { ...opts.config.agent, pin_root: pinRoot, ring_buffer_size: Math.max(opts.config.agent.ring_buffer_size, REPLAY_RING_BYTES) },
  };
  const clock = new ReplayClock();
  const metrics = new AgentMetrics({ version: VERSION });
  const hooks = new ReplayHooks();
  const engines: Engine<Config>[] = [];
  let pipeline: AlertPipeline | null = null;
  let blocklist: BlocklistService | null = null;
  let ring: RingReader | null = null;
  const cleanups: string[] = [];
  try {
    const total = statSync(opts.capture).size;
    ensureBpffsSync(pinRoot);
    mkdirSync(path.join(pinRoot, 'maps'), { recursive: true });
    mkdirSync(path.join(pinRoot, 'links'), { recursive: true });
    if (opts.eve !== '-' && existsSync(opts.eve)) truncateSync(opts.eve);
    pipeline = await createAlertPipeline(replayAlerting(config.alerting, opts.eve), {
      registry: metrics.registry,
      logger: log,
      version: VERSION,
      now: () => clock.nowMs(),
      // windows close on capture time, swept after every batch
      sweepIntervalMs: 0,
      ...(opts.stdout ? { stdout: opts.stdout } : {}),
    });
    const alerts = pipeline;
    blocklist = new BlocklistService({
      target: BlocklistKernel.create(opts.objectDir, path.join(pinRoot, 'maps')),
      repo: new MemoryBlocklistRepo(),
      maxEntries: config.blocklist.max_entries,
      sampleEvery: config.blocklist.event_sample_every,
      log: log.child({ component: 'blocklist' }),
    });
    blocklist.start();
    const bl = blocklist;
    const interfaces = opts.interfaceName ? [{ ifname: opts.interfaceName, ifindex: 1 }] : [];
    for (const m of ENGINES) {
      if (!m.enabledIn(config)) continue;
      const ctx: EngineContext<Config> = {
        config,
        log,
        metrics,
        pinRoot,
        objectDir: opts.objectDir,
        sharedMapSizes: sharedMapSizes(config),
        clock,
        interfaces,
        emit: (r: SentinelRecord) => alerts.push(r),
        requestRefresh: async () => ({ ok: false, error: 'a replay runs the policy it started with' }),
        blocklist: bl.forOwner(m.program),
        replay: hooks,
      };
      const e = m.create(ctx);
      engines.push(e);
      await e.start();
    }
    const xdp = hooks.xdp();
    const ingress = hooks.tc('ingress');
    const egress = hooks.tc('egress');
    const chain = new TestRunChain({ ...(xdp ? { xdp: xdp.prog.fd } : {}), ingress: ingress.map((h) => h.prog.fd), egress: egress.map((h) => h.prog.fd) });
    const stageNames = (egressDir: boolean): string[] => [xdp?.program ?? '-', ...(egressDir ? egress : ingress).map((h) => h.program)];
    const namesIn = stageNames(false);
    const namesOut = stageNames(true);

    const router = new RecordRouter(engines);
    const fds = engines.flatMap((e) => e.ringFds());
    if (fds.length) ring = new RingReader(fds, router.handle, { onHandlerError: (err) => log.error({ err }, 'replay: record handler failed') });

    const summary: ReplaySummary = {
      capture: opts.capture,
      format: reader.format,
      frames: 0,
      replayed: 0,
      verdicts: {},
      decided_by: {},
      unusable: {},
      reader_skipped: {},
      directions: { inbound: 0, outbound: 0 },
      chain: { xdp: xdp?.program ?? null, ingress: ingress.map((h) => h.program), egress: egress.map((h) => h.program) },
      events: { received: 0, undecodable: 0, kernel_lost: { ring_full: 0, backpressure: 0 } },
      programs: {},
      records: {},
      sink_dropped: {},
      setup_ms: Math.round(performance.now() - t0),
      replay_ms: 0,
      cpu_ms: 0,
      rate: 0,
    };
    const tRun = performance.now();
    const cpu0 = process.cpuUsage();

    const batchSize = opts.batchSize ?? DEFAULT_BATCH;
    const batch = new FrameBatch(batchSize);
    const sec = new Float64Array(batchSize);
    const nsec = new Uint32Array(batchSize);
    let first: [number, number] | null = null;
    const last: [number, number] = [0, 0];
    let lastProgress = performance.now();

    const flushBatch = async (): Promise<void> => {
      if (batch.count === 0) return;
      chain.run(batch);
      clock.setBatch(batch.starts, sec, nsec, batch.count);
      for (let i = 0; i < batch.count; i++) {
        const v = batch.verdict(i);
        if (v === Verdict.Error) {
          const len = batch.offsets[i + 1]! - batch.offsets[i]!;
          const e = batch.errno(i);
          bump(summary.unusable, e === 22 && len > 3000 ? 'larger than a test run takes (over about 3,500 bytes)' : `test run refused the frame (${errnoName(e)})`);
          continue;
        }
        summary.replayed++;
        bump(summary.verdicts, VERDICT_NAMES[v]);
        const st = batch.stage(i);
        if (v !== Verdict.Pass && st !== NO_STAGE) {
          const who = (batch.dirs[i] === 2 ? namesOut : namesIn)[st] ?? `stage ${st}`;
          const m = (summary.decided_by[who] ??= {});
          bump(m, VERDICT_NAMES[v]);
        }
      }
      // the events of this batch, each decoded with its frame's time
      ring?.consume();
      alerts.sweep();
      batch.clear();
      // the sinks keep up: nothing is dropped for a full queue because the replay ran ahead
      await alerts.flush();
      if (opts.progress && performance.now() - lastProgress > 250) {
        lastProgress = performance.now();
        opts.progress({ frames: summary.frames, bytesRead: reader.offset, bytesTotal: total });
      }
    };

    try {
      for (let f = reader.next(); f !== null; f = reader.next()) {
        summary.frames++;
        if (!linkTypeSupported(f.linktype)) throw new CaptureError(reader.file, f.offset, `frame of interface ${f.iface}: ${unsupportedLinkType(f.linktype)}`);
        const out = batch.reserve(f.data.length + ETH_HLEN);
        const len = toEthernet(f.linktype, f.data, out, batch.used);
        if (len < 0) {
          bump(summary.unusable, UNUSABLE[-1 - len]!);
          continue;
        }
        if (len < ETH_HLEN) {
          bump(summary.unusable, 'shorter than an Ethernet header');
          continue;
        }
        const outbound = f.direction === Direction.Outbound || cookedOutgoing(f.linktype, f.data);
        if (outbound) summary.directions.outbound++;
        else summary.directions.inbound++;
        const i = batch.commit(len, outbound);
        sec[i] = f.sec;
        nsec[i] = f.nsec;
        first ??= [f.sec, f.nsec];
        last[0] = f.sec;
        last[1] = f.nsec;
        if (batch.full) await flushBatch();
      }
      await flushBatch();
    } catch (err) {
      if (!(err instanceof CaptureError) || summary.frames === 0) throw err;
      // a fault in the middle: what came before it was replayed and stays written
      await flushBatch().catch(() => undefined);
      summary.error = err.message;
    }

    for (const e of engines) {
      e.refresh();
      summary.programs[e.program] = e.status().counters;
    }
    const counts = router.take();
    for (const n of counts.received.values()) summary.events.received += n;
    for (const n of counts.undecodable.values()) summary.events.undecodable += n;
    // records shorter than the event header, or whose decoder threw
    if (ring) summary.events.undecodable += ring.stats.decodeFailures;
    for (const e of engines) {
      const l = e.losses();
      summary.events.kernel_lost.ring_full += l.ring_full;
      summary.events.kernel_lost.backpressure += l.backpressure;
    }
    await alerts.close();
    pipeline = null;
    const st = alerts.stats();
    summary.records = { ...st.records } as Record<string, number>;
    for (const s of st.sinks) {
      const dropped = Object.entries(s.dropped).filter(([, n]) => n > 0);
      if (dropped.length) summary.sink_dropped[s.name] = Object.fromEntries(dropped);
    }
    summary.reader_skipped = readerSkipped(reader.counts);
    if (first !== null) {
      summary.first = isoOf(first[0], first[1]);
      summary.last = isoOf(last[0], last[1]);
    }
    const ms = performance.now() - tRun;
    const cpu = process.cpuUsage(cpu0);
    summary.replay_ms = Math.round(ms);
    summary.cpu_ms = Math.round((cpu.user + cpu.system) / 1000);
    summary.rate = ms > 0 ? Math.round((summary.replayed * 1000) / ms) : 0;
    return summary;
  } finally {
    reader.close();
    ring?.close();
    for (const e of engines.reverse()) cleanups.push(...(await e.stop('detach')));
    try {
      blocklist?.close();
    } catch (err) {
      cleanups.push(`blocklist: ${(err as Error).message}`);
    }
    if (pipeline) await pipeline.close().catch(() => undefined);
    try {
      rmSync(pinRoot, { recursive: true, force: true });
    } catch (err) {
      cleanups.push(`pin root ${pinRoot}: ${(err as Error).message}`);
    }
    if (cleanups.length) log.warn({ problems: cleanups }, 'replay: cleaning up left problems');
  }
}

function readerSkipped(c: ReaderCounts): Record<string, number> {
  return Object.fromEntries(c.skipped);
}

function isoOf(sec: number, nsec: number): string {
  return `${new Date(sec * 1000).toISOString().slice(0, 19)}.${String(nsec).padStart(9, '0')}Z`;
}
