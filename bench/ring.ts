// Events at the rate the kernel can make them: ring-buffer records from a producer in the kernel
// (a test-run loop writing xdp-firewall drop records into the firewall engine's own ring) to the
// agent's decoded alert and to the EVE file, beside the ring's own limit (a C consumer that only
// counts) measured in the same run. The producer runs on one CPU, every consumer on the other;
// each run is accounted record by record (bench/ring-figures.ts). The child process does the
// work (bench/ring-child.ts); this module plans the runs and judges them.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../src/catalog.js';
import { removePinTree } from '../src/kernel/bpffs.js';
import { newRunPrefix } from '../src/lab/names.js';
import type { RingChildResult, RingChildSpec, RingRunSpec, RingStage } from './ring-child.js';
import { DECODE_GOAL, decodeGoal, eveGoal, ringFigures, ringRatios, ringRunProblems, type RingFigure, type RingGoal, type RingRatios } from './ring-figures.js';

export interface RingSettings {
  rounds: number;
  warmupMs: number;
  windowMs: number;
  /** records per second offered to the EVE path for its goal */
  eveRate: number;
}

export const RING_DEFAULTS: RingSettings = { rounds: 3, warmupMs: 300, windowMs: 1000, eveRate: 200_000 };

export interface RingResult {
  method: string;
  settings: RingSettings & { producer_cpu: number; consumer_cpu: number; ring_bytes: number; record_bytes: number };
  figures: RingFigure[];
  ratios: RingRatios;
  goals: { decode: RingGoal & { bound: number }; eve: RingGoal & { rate: number } };
}

const METHOD =
  'A bench-only XDP program (bench/progs/ring_producer.bpf.c) run with BPF_PROG_TEST_RUN repeat by bench/tools/ring-tool on one CPU writes one xdp-firewall drop record (struct fw_event, the product\'s reserve path with its back-pressure mark) per run into the firewall engine\'s own ring (the agent\'s ring_buffer_size), numbering every run; one consumer at a time reads it on the other CPU: ' +
  'c = libbpf ring_buffer__poll with a callback that only counts (the ring\'s own limit); raw = the agent\'s ring reader (native batch, split in JS); decode = ring reader -> RecordRouter -> the firewall engine\'s onRecord (decode, alert build); eve = the same -> the alert pipeline -> the EVE file sink. ' +
  'Figure = records read per second of the consumer process\'s CPU time over a window of steady state, median over rounds; saturated = the producer lost records for lack of room in every window (the consumer was the bottleneck). Every run is accounted exactly: produced = written + lost (kernel counters), written = read, and every sequence number reached the end of the path once or was counted as lost.';

export async function measureRing(o: { root: string; dir: string; ringSize?: number; settings: RingSettings; stages?: readonly RingStage[]; log: (line: string) => void }): Promise<RingResult> {
  const ncpu = cpus().length;
  if (ncpu < 2) throw new Error(`the ring bench needs 2 CPUs (producer and consumer on one each); this machine has ${ncpu}`);
  const producerCpu = 0;
  const consumerCpu = 1;
  const tool = path.join(o.root, 'build', 'bench', 'ring-tool');
  const producerObj = path.join(o.root, 'build', 'bpf-bench', 'ring_producer.bpf.o');
  for (const f of [tool, producerObj]) if (!existsSync(f)) throw new Error(`${f} is missing: run make build first`);
  const s = o.settings;
  // the ring as the agent sizes it unless told otherwise
  const ringSize = o.ringSize ?? parseConfigText('agent: { interfaces: [bench0] }\n', 'ring-default.yaml').agent.ring_buffer_size;
  const stages = o.stages ?? (['c', 'raw', 'decode', 'eve'] as const);
  const runs: RingRunSpec[] = [];
  // rounds rotate the stages so a busy spell of the machine does not land on one stage only
  for (let round = 0; round < s.rounds; round++) {
    for (const stage of stages) runs.push({ stage, rate: 0, round });
    if (stages.includes('eve')) runs.push({ stage: 'eve', rate: s.eveRate, round });
  }
  const pinRoot = `/sys/fs/bpf/${newRunPrefix()}-ring`;
  const dir = path.join(o.dir, 'ring');
  const spec: RingChildSpec = {
    objectDir: path.join(o.root, 'build', 'bpf'),
    producerObj,
    tool,
    pinRoot,
    dir,
    ringSize,
    producerCpu,
    consumerCpu,
    warmupMs: s.warmupMs,
    windowMs: s.windowMs,
    runs,
  };
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ring-child.js');
  const eta = runs.length * (s.warmupMs + s.windowMs + 1500);
  o.log(
    `ring: ${stages.join(', ')} flat out${stages.includes('eve') ? ` and eve at ${s.eveRate.toLocaleString('en-US')}/s` : ''}, ${s.rounds} rounds; ` +
      `producer on CPU ${producerCpu}, consumer on CPU ${consumerCpu}, ${(ringSize / 1024).toFixed(0)} KiB ring; about ${Math.ceil(eta / 1000)} s`,
  );
  let res: RingChildResult;
  try {
    const out = execFileSync('taskset', ['-c', String(consumerCpu), process.execPath, child, JSON.stringify(spec)], {
      encoding: 'utf8',
      maxBuffer: 16 << 20,
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: eta * 4 + 120_000,
    });
    res = JSON.parse(out.trim().split('\n').at(-1)!) as RingChildResult;
  } finally {
    removePinTree(pinRoot);
    rmSync(dir, { recursive: true, force: true });
  }
  const problems = res.runs.flatMap(ringRunProblems);
  if (problems.length) throw new Error(`ring: the runs did not account for every record:\n  ${problems.slice(0, 10).join('\n  ')}`);
  if (res.consumerCpus !== String(consumerCpu)) o.log(`ring: note: the consumer was allowed CPUs ${res.consumerCpus}, not only ${consumerCpu}`);
  const figures = ringFigures(res.runs);
  return {
    method: METHOD,
    settings: { ...s, producer_cpu: producerCpu, consumer_cpu: consumerCpu, ring_bytes: res.ringBytes, record_bytes: res.recordBytes },
    figures,
    ratios: ringRatios(figures),
    goals: { decode: { ...decodeGoal(figures), bound: DECODE_GOAL }, eve: { ...eveGoal(figures, res.runs, s.eveRate), rate: s.eveRate } },
  };
}

