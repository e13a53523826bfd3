// Drop throughput on a veth pair, five contenders, one frame source, one run:
//   - xdp-firewall holding the 10,000-rule policy (bench/mixed-policy.ts), traffic aimed at its
//     deny rules (thousands of flows per family, spread over the whole policy);
//   - xdp-firewall with no rules (default deny): the program's cost without rule cost;
//   - a bare XDP_DROP program: the receive path alone, the limit of this machine;
//   - nftables netdev ingress with the same policy as sets (every rule counting);
//   - nftables netdev ingress with one counting drop rule: the hook's cost without rule cost.
// The frame source needs no live-frames test run (bench/loopgen.ts, bench/progs/xdp_loopgen.bpf.c)
// and runs on one CPU, the receiver on the other; figures are per second of the receiver's CPU
// time and are printed only where the source provably outran the contender
// (bench/throughput-figures.ts). Everything lives in a lab namespace made for the run and
// removed afterwards, even on failure; the host's interfaces are never touched.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../src/catalog.js';
import { compileFirewall, type CompiledFirewall } from '../src/engines/firewall/compile.js';
import type { NativeBridge } from '../src/kernel/native.js';
import { Lab } from '../src/lab/index.js';
import { firewallYaml, mixedPolicy, nftRuleset, nftSingleDrop, throughputFlows } from './mixed-policy.js';
import type { Contender, ThroughputChildResult, ThroughputChildSpec, ThroughputRun } from './throughput-child.js';
import { runProblems, throughputFigures, throughputGoal, throughputRatios, SOURCE_MARGIN, type ThroughputFigure, type ThroughputGoal, type ThroughputRatios } from './throughput-figures.js';
import { walkStats, type WalkStats } from './walk-stats.js';

const THROUGHPUT_RULES = 10_000;
/** Distinct flows per family (each aimed at a deny rule). */
const THROUGHPUT_FLOWS = 4096;

export interface ThroughputSettings {
  /** copies of each lap sent to the receiver */
  copies: number;
  /** frames circulating in the loop */
  seeds: number;
  warmupMs: number;
  windowMs: number;
  rounds: number;
}

export const THROUGHPUT_DEFAULTS: ThroughputSettings = { copies: 8, seeds: 64, warmupMs: 200, windowMs: 600, rounds: 5 };

export interface ThroughputFlowsInfo {
  family: 4 | 6;
  flows: number;
  /** deny rules of the family the flows were aimed at (round-robin) */
  deny_rules: number;
  /** of them, rules no draw could reach (an earlier rule took every packet tried) */
  unreachable: number;
  /** flows by protocol */
  tcp: number;
  udp: number;
  /** priority positions (0..1 of the policy) of the deciding rules: first and last */
  rule_span: [number, number];
}

export interface ThroughputResult {
  method: string;
  rules: number;
  settings: ThroughputSettings & { loop_cpu: number; rx_cpu: number; source_margin: number };
  flows: ThroughputFlowsInfo[];
  /** what the classifier walk of the flows took (kernel-counted, bench-only build) */
  walk: ({ family: 4 | 6 } & WalkStats)[];
  figures: ThroughputFigure[];
  ratios: ThroughputRatios[];
  goal: ThroughputGoal;
}

export interface ThroughputOptions {
  native: NativeBridge;
  root: string;
  dir: string;
  seed: number;
  settings: ThroughputSettings;
  /** rules in the policy (THROUGHPUT_RULES unless a quick run asks for fewer) */
  rules?: number;
  /** the contenders, in the order of the first round (default: all five) */
  contenders?: Contender[];
  log: (line: string) => void;
}

const METHOD =
  'A frame source that needs no live-frames test run: seed frames circulate on a veth pair (XDP_TX on one end; on the other a BPF_F_BROADCAST redirect through a devmap holding that end and the target veth several times, a devmap program rewriting each target copy to the next flow); the receiving veth (native XDP, or nftables netdev ingress with GRO on) runs threaded NAPI pinned to the other CPU than the loop. ' +
  'Figure = frames the contender itself counted (xdp-firewall: its drop counter, every frame decided by its aimed rule or, without rules, the default; nftables: its rule counters; bare XDP_DROP: the veth\'s rx_packets) per second of CPU time of the receiver\'s NAPI thread, over a window of steady state; median over rounds that rotate the contenders. ' +
  'A figure is printed only where the source offered at least SOURCE_MARGIN times the contender\'s rate per CPU-second of its own threads.';

function flowInfo(c: CompiledFirewall, family: 4 | 6, r: ReturnType<typeof throughputFlows>): ThroughputFlowsInfo {
  const pos = r.flows.map((f) => f.rule / c.rules.length);
  return {
    family,
    flows: r.flows.length,
    deny_rules: r.denyRules,
    unreachable: r.unreachable,
    tcp: r.flows.filter((f) => f.proto === 6).length,
    udp: r.flows.filter((f) => f.proto === 17).length,
    rule_span: [Math.round(Math.min(...pos) * 1000) / 1000, Math.round(Math.max(...pos) * 1000) / 1000],
  };
}

export async function measureThroughput(o: ThroughputOptions): Promise<ThroughputResult> {
  const ncpu = cpus().length;
  if (ncpu < 2) throw new Error(`the drop-throughput bench needs 2 CPUs (source and receiver on one each); this machine has ${ncpu}`);
  const loopCpu = 0;
  const rxCpu = 1;
  const n = o.rules ?? THROUGHPUT_RULES;
  const rules = mixedPolicy(n, o.seed);
  const configFile = path.join(o.dir, 'throughput-policy.yaml');
  const emptyFile = path.join(o.dir, 'throughput-empty.yaml');
  const yaml = firewallYaml(rules, 'bench0');
  writeFileSync(configFile, yaml);
  writeFileSync(emptyFile, 'agent:\n  interfaces: [bench0]\nfirewall:\n  default_policy: deny\n  rules: []\n');
  const config = parseConfigText(yaml, configFile);
  const compiled = compileFirewall(config.firewall, config.resolved.firewall.aliases);

  const t0 = performance.now();
  const aimed = ([4, 6] as const).map((family) => ({ family, r: throughputFlows(compiled, family, THROUGHPUT_FLOWS, o.seed) }));
  const flows = aimed.map(({ family, r }) => flowInfo(compiled, family, r));
  for (const f of flows) {
    o.log(
      `throughput: IPv${f.family} ${f.flows} flows (${f.tcp} TCP SYN, ${f.udp} UDP) aimed at ${f.deny_rules - f.unreachable} of ${f.deny_rules} deny rules, ` +
        `deciding rules from ${(f.rule_span[0] * 100).toFixed(1)} % to ${(f.rule_span[1] * 100).toFixed(1)} % down the policy (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
  }
  const walkObj = path.join(o.root, 'build', 'bpf-bench', 'xdp_firewall_walkstats.bpf.o');
  const walk = aimed.map(({ family, r }) => ({ family, ...walkStats(o.native, walkObj, compiled, r.flows.map((f) => f.frame)) }));
  for (const w of walk) {
    o.log(
      `throughput: IPv${w.family} walk of the flows (kernel-counted): depth mean ${w.depth.mean} max ${w.depth.max}; ` +
        `leaf entries examined mean ${w.candidates.mean} max ${w.candidates.max}; rules checked mean ${w.rules_checked.mean} max ${w.rules_checked.max}`,
    );
  }

  const lab = await Lab.create({
    name: 'bench-throughput',
    hosts: [{ name: 'thru' }],
    // Roles of two letters: a NAPI thread is found by its name, "napi/<device>-", cut at 15.
    links: [
      { a: { host: 'thru', ifname: 'la' }, b: { host: 'thru', ifname: 'lb' } },
      { a: { host: 'thru', ifname: 'tx' }, b: { host: 'thru', ifname: 'rx' } },
    ],
  });
  let res: ThroughputChildResult;
  try {
    // No IPv6 stack on the devices: router solicitations and MLD reports would be frames the
    // contenders judge besides the bench's. The programs still parse and judge IPv6 frames.
    for (const dev of ['all', 'default', ...['la', 'lb', 'tx', 'rx'].map((r) => lab.ifname(r))]) await lab.sysctl('thru', `net.ipv6.conf.${dev}.disable_ipv6`, '1');
    const table = 'sentinel_bench';
    const receiver = lab.ifname('rx');
    const nftSets = path.join(lab.tmpDir, 'policy.nft');
    const nftDrop = path.join(lab.tmpDir, 'drop.nft');
    writeFileSync(nftSets, nftRuleset(rules, table, receiver));
    writeFileSync(nftDrop, nftSingleDrop(table, receiver));
    const contenders: Contender[] = o.contenders ?? ['xdp-firewall', 'xdp-drop', 'xdp-firewall-empty', 'nft-sets', 'nft-drop'];
    const spec: ThroughputChildSpec = {
      devs: { a: lab.ifname('la'), b: lab.ifname('lb'), target: lab.ifname('tx'), receiver },
      loopCpu,
      rxCpu,
      loopObj: path.join(o.root, 'build', 'bpf-bench', 'xdp_loopgen.bpf.o'),
      floorObj: path.join(o.root, 'build', 'bpf-bench', 'xdp_floor.bpf.o'),
      firewallObj: path.join(o.root, 'build', 'bpf', 'xdp_firewall.bpf.o'),
      firewallConfig: configFile,
      emptyConfig: emptyFile,
      nftTable: table,
      nftSets,
      nftDrop,
      flows: aimed.map(({ family, r }) => ({ family, hex: r.flows.map((f) => f.frame.toString('hex')) })),
      ...o.settings,
      contenders,
    };
    const specFile = path.join(lab.tmpDir, 'spec.json');
    writeFileSync(specFile, JSON.stringify(spec));
    const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'throughput-child.js');
    const s = o.settings;
    const eta = contenders.length * 2 * s.rounds * (s.warmupMs + s.windowMs + 300);
    o.log(
      `throughput: ${contenders.length} contenders x 2 families x ${s.rounds} rounds, ${s.copies} copies per lap, ${s.seeds} frames circulating; ` +
        `loop on CPU ${loopCpu}, receiver on CPU ${rxCpu}, lab ${lab.prefix}; about ${Math.ceil(eta / 1000)} s`,
    );
    const out = await lab.exec('thru', 'taskset', ['-c', String(loopCpu), process.execPath, child, specFile], { timeoutMs: eta * 3 + 120_000 });
    res = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as ThroughputChildResult;
  } finally {
    await lab.destroy();
  }
  o.log(`throughput: threads pinned: loop ${res.pinned.loop.join(',')}, receiver ${res.pinned.receiver.join(',')}`);
  const problems = res.runs.flatMap(runProblems);
  if (problems.length) throw new Error(`throughput: the runs did not measure what they claim:\n  ${problems.slice(0, 10).join('\n  ')}`);
  const figures = throughputFigures(res.runs);
  const ratios = throughputRatios(figures);
  return {
    method: METHOD.replace('SOURCE_MARGIN', String(SOURCE_MARGIN)),
    rules: res.firewallRules,
    settings: { ...o.settings, loop_cpu: loopCpu, rx_cpu: rxCpu, source_margin: SOURCE_MARGIN },
    flows,
    walk,
    figures,
    ratios,
    goal: throughputGoal(figures, ratios),
  };
}

export type { ThroughputRun };
