// Drop throughput on a veth pair, three ways, with one generator: xdp-firewall holding the
// 10,000-rule mixed policy, a bare XDP_DROP program (the limit of this machine), and nftables
// (netdev ingress, the same policy as sets). The generator is BPF live frames redirected into
// the sending veth (bench/progs/xdp_livegen.bpf.c), i.e. frames arrive as from a NIC. Everything
// runs in a namespace made for the run and removed afterwards; the host's interfaces are never
// touched.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { newRunPrefix } from '../src/lab/names.js';
import { tcpFrame } from '../test/support/frames.js';
import { firewallYaml, mixedPolicy, nftRuleset, UNMATCHED } from './mixed-policy.js';
import { summarize } from './stats.js';
import type { Contender, ThroughputChildResult, ThroughputChildSpec } from './throughput-child.js';

export const THROUGHPUT_RULES = 10_000;

export interface ThroughputFigure {
  contender: Contender;
  family: 4 | 6;
  /** median over rounds, packets per second */
  pps: number;
  pps_runs: number[];
}

export interface ThroughputResult {
  method: string;
  rules: number;
  frames_per_run: number;
  rounds: number;
  figures: ThroughputFigure[];
  /** per family: xdp-firewall pps / bare XDP_DROP pps, and xdp-firewall pps / nftables pps */
  ratios: { family: 4 | 6; firewall_to_xdp_drop: number; firewall_to_nftables: number }[];
}

export interface ThroughputOptions {
  root: string;
  dir: string;
  seed: number;
  framesPerRun: number;
  rounds: number;
  /** rules in the policy (THROUGHPUT_RULES unless a quick run asks for fewer) */
  rules?: number;
  log: (line: string) => void;
}

const sh = (args: string[]): void => void execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });

export function measureThroughput(o: ThroughputOptions): ThroughputResult {
  const prefix = newRunPrefix();
  const ns = `${prefix}-thru`;
  const sender = `${prefix}tx`;
  const receiver = `${prefix}rx`;
  const table = 'sentinel_bench';
  const rules = mixedPolicy(o.rules ?? THROUGHPUT_RULES, o.seed);
  const configFile = path.join(o.dir, 'throughput-policy.yaml');
  const nftFile = path.join(o.dir, 'throughput-policy.nft');
  writeFileSync(configFile, firewallYaml(rules, receiver));
  writeFileSync(nftFile, nftRuleset(rules, table, receiver));

  const frames = ([4, 6] as const).map((family) => {
    const u = UNMATCHED[family];
    return { family, hex: tcpFrame({ src: u.src, dst: u.dst, sport: u.sport, dport: u.dport, flags: ['syn'] }).toString('hex') };
  });
  const spec: ThroughputChildSpec = {
    sender,
    receiver,
    generatorObj: path.join(o.root, 'build', 'bpf-bench', 'xdp_livegen.bpf.o'),
    floorObj: path.join(o.root, 'build', 'bpf-bench', 'xdp_floor.bpf.o'),
    firewallObj: path.join(o.root, 'build', 'bpf', 'xdp_firewall.bpf.o'),
    firewallConfig: configFile,
    nftFile,
    nftTable: table,
    frames,
    framesPerRun: o.framesPerRun,
    rounds: o.rounds,
    batchSize: 64,
  };
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'throughput-child.js');
  o.log(`throughput: ${rules.length.toLocaleString('en-US')} rules, ${o.rounds} rounds x ${o.framesPerRun.toLocaleString('en-US')} live frames per contender and family, namespace ${ns}`);
  let out: string;
  sh(['ip', 'netns', 'add', ns]);
  try {
    // No IPv6 stack on the pair: its router solicitations and MLD reports would be extra frames
    // for the contenders to drop. The programs still parse and judge the IPv6 frames we send.
    for (const key of ['all', 'default']) sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${key}.disable_ipv6=1`]);
    sh(['ip', '-n', ns, 'link', 'add', sender, 'type', 'veth', 'peer', 'name', receiver]);
    sh(['ip', '-n', ns, 'link', 'set', sender, 'up']);
    sh(['ip', '-n', ns, 'link', 'set', receiver, 'up']);
    out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, child, JSON.stringify(spec)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  } finally {
    sh(['ip', 'netns', 'del', ns]);
  }
  const res = JSON.parse(out.trim().split('\n').at(-1)!) as ThroughputChildResult;
  const bad = res.runs.filter((r) => r.dropped !== r.frames);
  if (bad.length) {
    const b = bad[0]!;
    throw new Error(`throughput: ${b.contender} IPv${b.family} dropped ${b.dropped} of ${b.frames} frames; the bench would measure the wrong path`);
  }
  const figures: ThroughputFigure[] = [];
  for (const contender of ['xdp-firewall', 'xdp-drop', 'nftables'] as const) {
    for (const family of [4, 6] as const) {
      const pps = res.runs.filter((r) => r.contender === contender && r.family === family).map((r) => Math.round(r.frames / r.seconds));
      figures.push({ contender, family, pps: Math.round(summarize(pps).median), pps_runs: pps });
    }
  }
  const pick = (c: Contender, f: 4 | 6): number => figures.find((x) => x.contender === c && x.family === f)!.pps;
  const r3 = (n: number): number => Math.round(n * 1000) / 1000;
  return {
    method:
      'BPF_PROG_TEST_RUN live frames (BPF_F_TEST_XDP_LIVE_FRAMES, batch 64) redirected into a veth; the peer drops them: xdp-firewall (native XDP) with the mixed policy, a bare XDP_DROP (native XDP), nftables netdev ingress with the same policy as sets (GRO on the receiver). Every frame matches no rule and meets the default deny; each run checks the contender dropped every frame. pps = frames / wall time of the generator call; median over rounds.',
    rules: res.firewallRules,
    frames_per_run: o.framesPerRun,
    rounds: o.rounds,
    figures,
    ratios: ([4, 6] as const).map((family) => ({
      family,
      firewall_to_xdp_drop: r3(pick('xdp-firewall', family) / pick('xdp-drop', family)),
      firewall_to_nftables: r3(pick('xdp-firewall', family) / pick('nftables', family)),
    })),
  };
}
