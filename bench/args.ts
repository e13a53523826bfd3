// Command line of `node dist/bench/run.js` (what `make bench` runs). Pure: unit-tested.
import { parseArgs } from 'node:util';
import { FW_LPM_PER_GENERATION } from '../src/engines/firewall/compile.js';

export interface BenchArgs {
  samples: number;
  sampleMs: number;
  /** CIDRs per family in the block list */
  listSize: number;
  out: string;
  write: boolean;
  /** the drop throughput comparison (xdp-firewall with and without rules, bare XDP_DROP,
   * nftables with the policy and with one rule) */
  throughput: boolean;
  /** the rule-scaling sweep (per-frame cost over whole policies of 10 / 1,000 / 10,000 rules) */
  scaling: boolean;
  /** passes over every frame set of the scaling sweep (each frame's figure is their median) */
  scalingSweeps: number;
  /** runs per frame in a row in the scaling sweep's warm mode */
  scalingRuns: number;
  /** rounds of the throughput comparison (each measures every contender and family once) */
  throughputRounds: number;
  /** length of one throughput measurement window in ms */
  throughputWindowMs: number;
  /** copies each lap of the loop frame source sends to the receiver */
  throughputCopies: number;
  /** the ring-buffer part (kernel producer -> decoded alert -> EVE file, beside a C consumer) */
  ring: boolean;
  /** rounds of the ring part (each runs every consumer once) */
  ringRounds: number;
  /** its window of steady state per run, ms */
  ringWindowMs: number;
  /** records per second offered to the EVE path for its goal */
  ringEveRate: number;
  /** the replay part (a capture through the product's replay, beside a bare test-run floor) */
  replay: boolean;
  /** only the cases whose id matches (floors always run); implies no write */
  only: RegExp | null;
  help: boolean;
}

export const USAGE = `usage: node dist/bench/run.js [options]   (make bench)
  --samples N      samples per case, interleaved across cases (default 7, 3..99)
  --sample-ms MS   target length of one sample in ms (default 300, 20..5000)
  --list-size N    CIDRs per family in the block list (default 100000, at most what one
                   policy generation may hold per family)
  --scaling-sweeps N
                   passes over the frames of the rule-scaling sweep (default 7, 3..51)
  --scaling-runs N runs per frame in a row in its warm mode (default 200, 10..10000)
  --no-scaling     skip the rule-scaling sweep
  --throughput-rounds N
                   rounds of the drop throughput comparison (default 5, 1..50)
  --throughput-window-ms MS
                   measurement window per contender, family and round (default 600, 100..10000)
  --throughput-copies N
                   frames each lap of the loop frame source sends to the receiver (default 8, 1..15)
  --no-throughput  skip the drop throughput comparison
  --ring-rounds N  rounds of the ring-buffer part (default 3, 1..20)
  --ring-window-ms MS
                   its window of steady state per run (default 1000, 200..10000)
  --ring-eve-rate N
                   records per second offered to the EVE file path (default 200000)
  --no-ring        skip the ring-buffer part
  --no-replay      skip the replay part (frames per second of ebpfsentinel replay)
  --only REGEX     measure only the cases whose id matches (the floors always run; the SYN-cookie,
                   scaling, throughput, ring and replay parts run only when REGEX matches
                   "syncookie" / "scaling" / "throughput" / "ring" / "replay");
                   a partial run never writes the results file
  --out FILE       results file (default bench/results.json in the checkout)
  --no-write       print only; leave the results file alone
  -h, --help       this text`;

export class ArgsError extends Error {
  override name = 'ArgsError';
}

function intArg(name: string, raw: string | undefined, def: number, lo: number, hi: number): number {
  if (raw === undefined) return def;
  if (!/^[0-9]+$/.test(raw)) throw new ArgsError(`--${name}: expected a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < lo || n > hi) throw new ArgsError(`--${name}: ${n} is outside ${lo}..${hi}`);
  return n;
}

export function parseBenchArgs(argv: readonly string[], defaultOut: string): BenchArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        samples: { type: 'string' },
        'sample-ms': { type: 'string' },
        'list-size': { type: 'string' },
        out: { type: 'string' },
        'no-write': { type: 'boolean' },
        'no-throughput': { type: 'boolean' },
        'no-scaling': { type: 'boolean' },
        'scaling-sweeps': { type: 'string' },
        'scaling-runs': { type: 'string' },
        'throughput-rounds': { type: 'string' },
        'throughput-window-ms': { type: 'string' },
        'throughput-copies': { type: 'string' },
        'no-ring': { type: 'boolean' },
        'no-replay': { type: 'boolean' },
        'ring-rounds': { type: 'string' },
        'ring-window-ms': { type: 'string' },
        'ring-eve-rate': { type: 'string' },
        only: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new ArgsError((e as Error).message);
  }
  if (values.out !== undefined && values.out.trim() === '') throw new ArgsError('--out: expected a file name');
  let only: RegExp | null = null;
  if (values.only !== undefined) {
    try {
      only = new RegExp(values.only);
    } catch (e) {
      throw new ArgsError(`--only: not a regular expression: ${(e as Error).message}`);
    }
  }
  return {
    samples: intArg('samples', values.samples, 7, 3, 99),
    sampleMs: intArg('sample-ms', values['sample-ms'], 300, 20, 5000),
    listSize: intArg('list-size', values['list-size'], 100_000, 1, FW_LPM_PER_GENERATION),
    out: values.out ?? defaultOut,
    write: !values['no-write'] && only === null,
    throughput: !values['no-throughput'] && (only === null || only.test('throughput')),
    scaling: !values['no-scaling'] && (only === null || only.test('scaling')),
    scalingSweeps: intArg('scaling-sweeps', values['scaling-sweeps'], 7, 3, 51),
    scalingRuns: intArg('scaling-runs', values['scaling-runs'], 200, 10, 10_000),
    throughputRounds: intArg('throughput-rounds', values['throughput-rounds'], 5, 1, 50),
    throughputWindowMs: intArg('throughput-window-ms', values['throughput-window-ms'], 600, 100, 10_000),
    throughputCopies: intArg('throughput-copies', values['throughput-copies'], 8, 1, 15),
    ring: !values['no-ring'] && (only === null || only.test('ring')),
    ringRounds: intArg('ring-rounds', values['ring-rounds'], 3, 1, 20),
    ringWindowMs: intArg('ring-window-ms', values['ring-window-ms'], 1000, 200, 10_000),
    ringEveRate: intArg('ring-eve-rate', values['ring-eve-rate'], 200_000, 1000, 10_000_000),
    replay: !values['no-replay'] && (only === null || only.test('replay')),
    only,
    help: values.help ?? false,
  };
}
