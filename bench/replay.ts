// `ebpfsentinel replay` frames per second: a synthetic capture (deterministic, IPv4 and IPv6 TCP
// handshakes and data, UDP, a share denied by a rule) replayed through xdp-firewall and
// tc-conntrack with the product's own session (src/replay/session.ts, EVE to a file), beside
// the floor of the method: the same frames through a bare XDP_PASS program with the same native
// batch runner (one BPF_PROG_TEST_RUN per frame and nothing else). Figures are frames per second
// of wall time and per second of the process's CPU time (robust to a busy machine), median over
// rounds; the goal is 500,000 frames/s.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfigText } from '../src/catalog.js';
import { encodePcap } from '../src/lab/pcap.js';
import { BpfObject } from '../src/kernel/object.js';
import { FrameBatch, TestRunChain } from '../src/kernel/test-run-chain.js';
import { createLogger } from '../src/log.js';
import { replayCapture } from '../src/replay/session.js';
import { tcpFrame, udpFrame } from '../test/support/frames.js';

export const REPLAY_GOAL = 500_000;

export interface ReplayFigure {
  /** frames per second of wall time, of CPU time (median over rounds) */
  per_s: number;
  per_cpu_s: number;
  per_cpu_s_runs: number[];
}

export interface ReplayBenchResult {
  method: string;
  settings: { frames: number; rounds: number; batch: number };
  /** the product's replay: xdp-firewall (10 rules) and tc-conntrack, EVE to a file */
  replay: ReplayFigure & { alerts: number };
  /** the same frames, one test run each of a bare XDP_PASS, with the same batch runner */
  floor: ReplayFigure;
  goal: { target: number; met: boolean; note: string };
}

const METHOD =
  'A synthetic capture (bench/replay.ts: 2,048 flows per family, each a TCP handshake and data or a UDP exchange; every 16th flow a UDP query to port 53 a rule denies) is replayed by the product\'s session (replayCapture: pcap reader, link conversion, native batch runner, ring drained and EVE written after every batch of 256) through xdp-firewall (10 rules, default pass) and tc-conntrack. ' +
  'Floor: the same Ethernet frames through a bare XDP_PASS program (bench/progs/xdp_floor.bpf.c) with the same native batch runner: the cost of one BPF_PROG_TEST_RUN per frame and nothing else. Figures: frames per second of the whole run\'s wall time and of the process\'s CPU time (user + system), median over rounds.';

const POLICY = `agent:
  interfaces: [bench0]
firewall:
  mode: block
  default_policy: pass
  rules:
    - { id: no-dns, priority: 1, action: deny, protocol: udp, dst_port: 53 }
    - { id: ssh, priority: 2, action: allow, protocol: tcp, dst_port: 22, src_ip: 198.18.0.0/24 }
    - { id: web, priority: 3, action: allow, protocol: tcp, dst_port: "80-443" }
    - { id: ntp, priority: 4, action: allow, protocol: udp, dst_port: 123 }
    - { id: ping, priority: 5, action: allow, protocol: icmp, icmp_type: 8 }
    - { id: ping6, priority: 6, action: allow, protocol: icmpv6, icmp_type: 128 }
    - { id: smtp, priority: 7, action: deny, protocol: tcp, dst_port: 25 }
    - { id: telnet, priority: 8, action: deny, protocol: tcp, dst_port: 23 }
    - { id: rdp, priority: 9, action: deny, protocol: tcp, dst_port: 3389 }
    - { id: smb, priority: 10, action: deny, protocol: tcp, dst_port: 445 }
conntrack:
  enabled: true
`;

/** Frames of `flows` flows per family, interleaved as a capture would hold them. */
export function benchFrames(flows: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < flows; i++) {
    for (const v6 of [false, true]) {
      const c = v6 ? `2001:db8::${(i + 16).toString(16)}` : `198.18.${2 + (i >> 7)}.${(i & 127) + 1}`;
      const s = v6 ? '2001:db8:0:1::1' : '198.18.1.1';
      const sport = 20000 + i;
      if (i % 16 === 0) {
        out.push(udpFrame({ src: c, dst: s, sport, dport: 53, payload: 'q' }));
      } else if (i % 4 === 1) {
        out.push(udpFrame({ src: c, dst: s, sport, dport: 123, payload: Buffer.alloc(48) }));
        out.push(udpFrame({ src: s, dst: c, sport: 123, dport: sport, payload: Buffer.alloc(48) }));
      } else {
        out.push(tcpFrame({ src: c, dst: s, sport, dport: 443, flags: ['syn'], seq: 1 }));
        out.push(tcpFrame({ src: s, dst: c, sport: 443, dport: sport, flags: ['syn', 'ack'], seq: 9, ack: 2 }));
        out.push(tcpFrame({ src: c, dst: s, sport, dport: 443, flags: ['ack'], seq: 2, ack: 10 }));
        for (let k = 0; k < 4; k++) out.push(tcpFrame({ src: c, dst: s, sport, dport: 443, flags: ['psh', 'ack'], seq: 2 + k * 100, ack: 10, payload: Buffer.alloc(100) }));
      }
    }
  }
  return out;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function measureReplay(o: { root: string; dir: string; rounds: number; minFrames?: number; log: (line: string) => void }): Promise<ReplayBenchResult> {
  const dir = path.join(o.dir, 'replay');
  mkdirSync(dir, { recursive: true });
  const base = benchFrames(2048);
  const frames: Buffer[] = [];
  while (frames.length < (o.minFrames ?? 200_000)) frames.push(...base);
  const cap = path.join(dir, 'bench.pcap');
  writeFileSync(cap, encodePcap(frames));
  const config = parseConfigText(POLICY, path.join(dir, 'bench.yaml'));
  const log = createLogger({ level: 'silent' });
  const objectDir = path.join(o.root, 'build', 'bpf');
  const replayRuns: { wall: number; cpu: number }[] = [];
  let alerts = 0;
  const floorRuns: { wall: number; cpu: number }[] = [];
  const floor = BpfObject.load(path.join(o.root, 'build', 'bpf-bench', 'xdp_floor.bpf.o'));
  try {
    const chain = new TestRunChain({ xdp: floor.program('xdp_floor_pass').fd, ingress: [], egress: [] });
    const batch = new FrameBatch(256);
    for (let round = 0; round < o.rounds; round++) {
      // the product, whole: read, convert, run, decode, write
      // the session times its frames apart from loading the programs and writing the policy
      const s = await replayCapture({ capture: cap, config, objectDir, eve: path.join(dir, 'eve.json'), log });
      const wall = s.replay_ms;
      const cpu = s.cpu_ms;
      if (s.replayed !== frames.length) throw new Error(`replay ran ${s.replayed} of ${frames.length} frames: ${JSON.stringify(s.unusable)}`);
      if (s.events.kernel_lost.ring_full + s.events.kernel_lost.backpressure > 0) throw new Error(`replay lost events in the kernel: ${JSON.stringify(s.events)}`);
      alerts = s.records.alert ?? 0;
      replayRuns.push({ wall, cpu });
      // the floor: the same frames, one bare test run each
      const f0 = cpuMs();
      const t0 = performance.now();
      for (let i = 0; i < frames.length; ) {
        batch.clear();
        while (i < frames.length && !batch.full) {
          const f = frames[i++]!;
          f.copy(batch.reserve(f.length), batch.used);
          batch.commit(f.length, false);
        }
        chain.run(batch);
      }
      floorRuns.push({ wall: performance.now() - t0, cpu: cpuMs() - f0 });
      o.log(`  replay round ${round + 1}: ${Math.round((frames.length * 1000) / wall).toLocaleString('en-US')} frames/s (floor ${Math.round((frames.length * 1000) / floorRuns.at(-1)!.wall).toLocaleString('en-US')})`);
    }
  } finally {
    floor.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const fig = (runs: { wall: number; cpu: number }[]): ReplayFigure => ({
    per_s: Math.round(median(runs.map((r) => (frames.length * 1000) / r.wall))),
    per_cpu_s: Math.round(median(runs.map((r) => (frames.length * 1000) / r.cpu))),
    per_cpu_s_runs: runs.map((r) => Math.round((frames.length * 1000) / r.cpu)),
  });
  const replay = { ...fig(replayRuns), alerts };
  const fl = fig(floorRuns);
  const met = replay.per_s >= REPLAY_GOAL;
  return {
    method: METHOD,
    settings: { frames: frames.length, rounds: o.rounds, batch: 256 },
    replay,
    floor: fl,
    goal: {
      target: REPLAY_GOAL,
      met,
      note: met
        ? `met: ${replay.per_s.toLocaleString('en-US')} frames/s`
        : `not met: ${replay.per_s.toLocaleString('en-US')} frames/s (${replay.per_cpu_s.toLocaleString('en-US')} per CPU-second); one bare test run per frame alone (the floor) reaches ${fl.per_s.toLocaleString('en-US')}/s (${fl.per_cpu_s.toLocaleString('en-US')} per CPU-second): each frame costs one BPF_PROG_TEST_RUN syscall per program (XDP, then each TC program), which this machine prices at microseconds`,
    },
  };
}

export function printReplay(r: ReplayBenchResult, log: (line: string) => void): void {
  log(`\n## Replay (${r.settings.frames.toLocaleString('en-US')} frames, median of ${r.settings.rounds})`);
  log('path                                        frames/s   frames/CPU-s');
  log(`replay: xdp-firewall + tc-conntrack, EVE  ${String(r.replay.per_s.toLocaleString('en-US')).padStart(10)}  ${String(r.replay.per_cpu_s.toLocaleString('en-US')).padStart(13)}   (${r.replay.alerts} alerts)`);
  log(`floor: one bare XDP_PASS test run/frame   ${String(r.floor.per_s.toLocaleString('en-US')).padStart(10)}  ${String(r.floor.per_cpu_s.toLocaleString('en-US')).padStart(13)}`);
  log(`goal ${r.goal.target.toLocaleString('en-US')} frames/s: ${r.goal.note}`);
}
