// Runs inside the bench's network namespace (spawned by bench/throughput.ts, pinned to the loop
// CPU): drives the loop frame source (bench/loopgen.ts) into the receiving veth and reads, per
// contender, family and round, what the receiver processed in a window of steady state, the CPU
// time of the receiver's and the loop's NAPI threads over it, and what was offered. Judging the
// figures is the parent's job. Prints one JSON line (ThroughputChildResult).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseConfigText } from '../src/catalog.js';
import { compileFirewall } from '../src/engines/firewall/compile.js';
import { FirewallKernel } from '../src/engines/firewall/kernel.js';
import { sumCounters } from './firewall.js';
import { loadNative } from '../src/kernel/native.js';
import { ifindexOf, LoopSource, napiThreads, pinThread, threadCpus, threadedNapi, threadSample } from './loopgen.js';
import { nftRuleCounters } from './mixed-policy.js';

export const CONTENDERS = ['xdp-drop', 'xdp-firewall', 'xdp-firewall-empty', 'nft-drop', 'nft-sets'] as const;
export type Contender = (typeof CONTENDERS)[number];

export interface ThroughputChildSpec {
  devs: { a: string; b: string; target: string; receiver: string };
  loopCpu: number;
  rxCpu: number;
  loopObj: string;
  floorObj: string;
  firewallObj: string;
  /** the policy's config file (10,000 rules) and one with no rules (default deny) */
  firewallConfig: string;
  emptyConfig: string;
  nftTable: string;
  /** nft scripts: the policy as sets, and a single counting drop rule */
  nftSets: string;
  nftDrop: string;
  flows: { family: 4 | 6; hex: string[] }[];
  copies: number;
  seeds: number;
  warmupMs: number;
  windowMs: number;
  rounds: number;
  contenders: Contender[];
}

export interface ThroughputRun {
  contender: Contender;
  family: 4 | 6;
  round: number;
  /** frames the contender itself counted as judged (its own counters) */
  processed: number;
  /** of them, frames judged by another path than the expected one (must be 0) */
  misjudged: number;
  /** the receiver's rx_packets over the window (a cross-check of `processed`), read on both
   * sides of each contender count */
  rxPackets: number;
  /** how far rx_packets moved while the contender's counters were read, at both ends: the
   * two counts can differ by that much */
  rxSpan: number;
  /** frames offered that the receiver's ring had no room for (rx_dropped) */
  overflow: number;
  /** copies the source handed to the receiver */
  offered: number;
  /** copies the source failed to rewrite (must be 0) */
  loopErrors: number;
  wallNs: number;
  /** CPU time of the receiver's NAPI thread, and of the loop's two */
  rxCpuNs: number;
  loopCpuNs: number;
  /** times the receiver's thread went to sleep for lack of frames */
  rxSleeps: number;
}

export interface ThroughputChildResult {
  runs: ThroughputRun[];
  firewallRules: number;
  /** where the threads ran (Cpus_allowed_list) */
  pinned: { loop: string[]; receiver: string[] };
}

const sh = (cmd: string, args: string[], input?: string): string => execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const devStat = (dev: string, name: string): number => Number(readFileSync(`/sys/class/net/${dev}/statistics/${name}`, 'utf8').trim());

interface Count {
  processed: number;
  misjudged: number;
}

interface ContenderDriver {
  attach(): () => void;
  count(): Count;
}

async function main(spec: ThroughputChildSpec): Promise<ThroughputChildResult> {
  const native = loadNative();
  const { receiver } = spec.devs;
  const rxIndex = ifindexOf(receiver);
  // GRO on every veth: NAPI then stays up whatever XDP program comes and goes (so the NAPI
  // threads and their pinning do too), and the receiver takes redirected XDP frames without a
  // program of its own (the nftables contenders).
  for (const d of [spec.devs.a, spec.devs.b, receiver]) {
    sh('ethtool', ['-K', d, 'gro', 'on']);
    threadedNapi(d);
  }
  const loopThreads = [...napiThreads(spec.devs.a), ...napiThreads(spec.devs.b)];
  const pinAll = (): number[] => {
    const rx = napiThreads(receiver);
    if (rx.length === 0 || loopThreads.length < 2) throw new Error(`no NAPI threads for ${receiver} or the loop pair: threaded NAPI did not take`);
    for (const p of loopThreads) pinThread(p, spec.loopCpu);
    for (const p of rx) pinThread(p, spec.rxCpu);
    return rx;
  };
  let rxThreads = pinAll();

  const loop = new LoopSource(native, spec.loopObj, { a: spec.devs.a, b: spec.devs.b, target: spec.devs.target }, spec.copies);
  const floor = native.objOpen(spec.floorObj, {});
  const kernels: FirewallKernel[] = [];
  try {
    native.objLoad(floor);
    const dropFd = native.progFd(floor, 'xdp_floor_drop');
    const loadFw = (file: string): { fw: FirewallKernel; rules: number } => {
      const config = parseConfigText(readFileSync(file, 'utf8'), file);
      const compiled = compileFirewall(config.firewall, config.resolved.firewall.aliases);
      // A small ring: drop events meet back-pressure within microseconds and are then counted
      // as lost, which is what a flood costs the product when its reader cannot keep up.
      const fw = FirewallKernel.load({ objectPath: spec.firewallObj, ringSize: 1 << 20 });
      kernels.push(fw);
      fw.writer.apply(compiled);
      return { fw, rules: compiled.rules.length };
    };
    const policy = loadFw(spec.firewallConfig);
    const empty = loadFw(spec.emptyConfig);
    if (empty.rules !== 0) throw new Error(`${spec.emptyConfig} holds ${empty.rules} rules, expected none`);

    const xdp = (fd: number): (() => () => void) => () => {
      const l = native.xdpAttach(fd, rxIndex, 'native');
      if (l.mode !== 'native') throw new Error(`XDP attached to ${receiver} in ${l.mode} mode, not native`);
      return () => native.linkDestroy(l.link);
    };
    const nft = (script: string): (() => () => void) => () => {
      sh('nft', ['-f', script]);
      return () => void sh('nft', ['delete', 'table', 'netdev', spec.nftTable]);
    };
    const nftCounts = (): { packets: number; verdict: string }[] => nftRuleCounters(sh('nft', ['-j', 'list', 'chain', 'netdev', spec.nftTable, 'ingress']));
    const fwCount = (fw: FirewallKernel, byRule: boolean): Count => {
      const c = sumCounters(fw);
      const decided = byRule ? c.rule_hit : c.default_policy;
      return { processed: Number(c.dropped + c.passed), misjudged: Number(c.dropped + c.passed - decided + c.passed) };
    };
    const drivers: Record<Contender, ContenderDriver> = {
      'xdp-drop': { attach: xdp(dropFd), count: () => ({ processed: devStat(receiver, 'rx_packets'), misjudged: 0 }) },
      'xdp-firewall': { attach: xdp(policy.fw.progFd), count: () => fwCount(policy.fw, true) },
      'xdp-firewall-empty': { attach: xdp(empty.fw.progFd), count: () => fwCount(empty.fw, false) },
      'nft-drop': { attach: nft(spec.nftDrop), count: () => ({ processed: nftCounts().reduce((a, r) => a + r.packets, 0), misjudged: 0 }) },
      'nft-sets': {
        attach: nft(spec.nftSets),
        count: () => {
          const rules = nftCounts();
          // every frame is aimed at a deny rule: the accepts and the final default drop must stay at zero
          const last = rules.length - 1;
          return {
            processed: rules.reduce((a, r) => a + r.packets, 0),
            misjudged: rules.reduce((a, r, i) => a + (r.verdict !== 'drop' || i === last ? r.packets : 0), 0),
          };
        },
      },
    };

    const runs: ThroughputRun[] = [];
    const order = spec.contenders;
    for (let round = 0; round < spec.rounds; round++) {
      for (let i = 0; i < order.length; i++) {
        const contender = order[(i + round) % order.length]!;
        const d = drivers[contender];
        const detach = d.attach();
        try {
          rxThreads = pinAll();
          for (const f of spec.flows) {
            const frames = f.hex.map((h) => Buffer.from(h, 'hex'));
            loop.setFlows(frames);
            loop.start(frames[0]!, spec.seeds, Number.MAX_SAFE_INTEGER);
            await sleep(spec.warmupMs);
            // Reads that take a while (nft lists the chain through a process) are bracketed by
            // the clocks, each side's time taken as the middle of its read.
            const snap = (): { t: number; c: Count; rx: number; rxSpan: number; ov: number; rxCpu: number; sleeps: number; loopCpu: number; loop: ReturnType<LoopSource['stats']> } => {
              const t0 = performance.now();
              const a = threadSample(rxThreads);
              const rxA = devStat(receiver, 'rx_packets');
              const c = d.count();
              const rxB = devStat(receiver, 'rx_packets');
              const b = threadSample(rxThreads);
              const t1 = performance.now();
              return {
                t: ((t0 + t1) / 2) * 1e6,
                c,
                rx: (rxA + rxB) / 2,
                rxSpan: rxB - rxA,
                ov: devStat(receiver, 'rx_dropped'),
                rxCpu: (a.cpuNs + b.cpuNs) / 2,
                sleeps: b.voluntary,
                loopCpu: threadSample(loopThreads).cpuNs,
                loop: loop.stats(),
              };
            };
            const s0 = snap();
            await sleep(spec.windowMs);
            const s1 = snap();
            await loop.stop();
            runs.push({
              contender,
              family: f.family,
              round,
              processed: s1.c.processed - s0.c.processed,
              misjudged: s1.c.misjudged - s0.c.misjudged,
              rxPackets: Math.round(s1.rx - s0.rx),
              rxSpan: s0.rxSpan + s1.rxSpan,
              overflow: s1.ov - s0.ov,
              offered: s1.loop.sent - s0.loop.sent,
              loopErrors: s1.loop.errors - s0.loop.errors,
              wallNs: Math.round(s1.t - s0.t),
              rxCpuNs: Math.round(s1.rxCpu - s0.rxCpu),
              loopCpuNs: s1.loopCpu - s0.loopCpu,
              rxSleeps: s1.sleeps - s0.sleeps,
            });
          }
        } finally {
          detach();
        }
      }
    }
    return {
      runs,
      firewallRules: policy.rules,
      pinned: { loop: loopThreads.map(threadCpus), receiver: napiThreads(receiver).map(threadCpus) },
    };
  } finally {
    loop.close();
    for (const k of kernels) k.close();
    native.objClose(floor);
  }
}

// The spec holds thousands of frames: too big for an argument, it comes as a file.
const spec = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as ThroughputChildSpec;
main(spec).then(
  (r) => process.stdout.write(JSON.stringify(r) + '\n'),
  (e: unknown) => {
    process.stderr.write(`throughput child: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
