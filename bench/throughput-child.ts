// Runs inside the bench's network namespace (spawned by bench/throughput.ts through
// `ip netns exec`): generates live frames into one end of a veth pair and measures how fast the
// other end drops them under each contender. Prints one JSON line (ThroughputChildResult).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseConfigText } from '../src/config/index.js';
import { compileFirewall } from '../src/engines/firewall/compile.js';
import { FirewallKernel } from '../src/engines/firewall/kernel.js';
import { loadNative } from '../src/kernel/native.js';

export type Contender = 'xdp-firewall' | 'xdp-drop' | 'nftables';

export interface ThroughputChildSpec {
  sender: string;
  receiver: string;
  generatorObj: string;
  floorObj: string;
  firewallObj: string;
  firewallConfig: string;
  nftFile: string;
  nftTable: string;
  /** hex frames, one per family, in the order of `families` */
  frames: { family: 4 | 6; hex: string }[];
  framesPerRun: number;
  rounds: number;
  batchSize: number;
}

export interface ThroughputRun {
  contender: Contender;
  family: 4 | 6;
  round: number;
  frames: number;
  seconds: number;
  /** frames the contender reported dropping during the run (must equal `frames`) */
  dropped: number;
}

export interface ThroughputChildResult {
  runs: ThroughputRun[];
  firewallRules: number;
}

const BPF_F_TEST_XDP_LIVE_FRAMES = 2;

const sh = (cmd: string, args: string[], input?: string): string => execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
const ifindexOf = (name: string): number => Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());

/** XDP drops the receiving veth counted (ethtool's per-queue rx_queue_N_xdp_drops). */
function vethXdpDrops(dev: string): number {
  let n = 0;
  for (const m of sh('ethtool', ['-S', dev]).matchAll(/rx_queue_\d+_xdp_drops:\s*(\d+)/g)) n += Number(m[1]);
  return n;
}

/** Packets through the ruleset's final `counter drop` (what nothing else matched). */
function nftDefaultDrops(table: string): number {
  const json = JSON.parse(sh('nft', ['-j', 'list', 'chain', 'netdev', table, 'ingress'])) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] };
  for (const item of json.nftables) for (const e of item.rule?.expr ?? []) if (e.counter) return e.counter.packets;
  throw new Error(`nft table ${table}: no counter found`);
}

function main(spec: ThroughputChildSpec): ThroughputChildResult {
  const native = loadNative();
  const sender = ifindexOf(spec.sender);
  const receiver = ifindexOf(spec.receiver);
  // GRO on the receiver: veth then takes redirected XDP frames without a program attached
  // (the nftables run needs it); it changes nothing for frames an XDP program drops.
  sh('ethtool', ['-K', spec.receiver, 'gro', 'on']);

  const gen = native.objOpen(spec.generatorObj, {});
  native.objLoad(gen);
  const target = Buffer.alloc(4);
  target.writeUInt32LE(sender);
  native.mapUpdate(native.mapFd(gen, 'livegen_target'), Buffer.alloc(4), target, 0);
  const genFd = native.progFd(gen, 'xdp_livegen');

  const floor = native.objOpen(spec.floorObj, {});
  native.objLoad(floor);
  const dropFd = native.progFd(floor, 'xdp_floor_drop');

  const config = parseConfigText(readFileSync(spec.firewallConfig, 'utf8'), spec.firewallConfig);
  const compiled = compileFirewall(config.firewall, config.resolved.firewallAliases);
  // A small ring: the firewall's drop events meet back-pressure within microseconds and are then
  // counted as lost, which is what a flood costs the product in production too.
  const fw = FirewallKernel.load({ objectPath: spec.firewallObj, ringSize: 1 << 20 });
  fw.writer.apply(compiled);
  const fwFd = fw.obj.program('xdp_firewall').fd;
  const fwDropped = (): number => {
    let n = 0n;
    for (const c of fw.readCounters().values()) n += c.dropped;
    return Number(n);
  };
  const nftText = readFileSync(spec.nftFile, 'utf8');

  const contenders: Record<Contender, { attach(): () => void; dropped(): number }> = {
    'xdp-drop': {
      attach: () => {
        const l = native.xdpAttach(dropFd, receiver, 'native');
        return () => native.linkDestroy(l.link);
      },
      dropped: () => vethXdpDrops(spec.receiver),
    },
    'xdp-firewall': {
      attach: () => {
        const l = native.xdpAttach(fwFd, receiver, 'native');
        return () => native.linkDestroy(l.link);
      },
      dropped: fwDropped,
    },
    nftables: {
      attach: () => {
        sh('nft', ['-f', '-'], nftText);
        return () => sh('nft', ['delete', 'table', 'netdev', spec.nftTable]);
      },
      dropped: () => nftDefaultDrops(spec.nftTable),
    },
  };

  const runs: ThroughputRun[] = [];
  const order: Contender[] = ['xdp-firewall', 'xdp-drop', 'nftables'];
  for (let round = 0; round < spec.rounds; round++) {
    // rotate the order so drift lands on every contender alike
    for (let i = 0; i < order.length; i++) {
      const contender = order[(i + round) % order.length]!;
      const c = contenders[contender];
      const detach = c.attach();
      try {
        for (const f of spec.frames) {
          const data = Buffer.from(f.hex, 'hex');
          const before = c.dropped();
          const t0 = process.hrtime.bigint();
          native.testRun(genFd, { data, repeat: spec.framesPerRun, flags: BPF_F_TEST_XDP_LIVE_FRAMES, batchSize: spec.batchSize });
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
          runs.push({ contender, family: f.family, round, frames: spec.framesPerRun, seconds, dropped: c.dropped() - before });
        }
      } finally {
        detach();
      }
    }
  }
  fw.close();
  native.objClose(floor);
  native.objClose(gen);
  return { runs, firewallRules: compiled.rules.length };
}

const spec = JSON.parse(process.argv[2] ?? '') as ThroughputChildSpec;
process.stdout.write(JSON.stringify(main(spec)) + '\n');
