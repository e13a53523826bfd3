// xdp-ratelimit bench cases: a packet within its rule's limit (pass) and one over it (drop),
// IPv4 and IPv6, through the real compiler and kernel writer. Each case is checked through the
// program's own counters before it is timed (a pass case that dropped would time the wrong path).
import { compileRatelimit } from '../src/engines/ratelimit/compile.js';
import { RatelimitKernel, type RlCounters } from '../src/engines/ratelimit/kernel.js';
import { ddosSchema, ratelimitSchema } from '../src/engines/ratelimit/schema.js';
import type { NativeBridge } from '../src/kernel/native.js';
import { udpFrame } from '../test/support/frames.js';
import { XDP_DROP, XDP_PASS, type Subject } from './harness.js';

const RATELIMIT_PROGRAM = 'xdp-ratelimit';

const SRC = { pass: { 4: '198.18.0.10', 6: '2001:db8::10' }, drop: { 4: '198.18.0.66', 6: '2001:db8::66' } } as const;
const DST = { 4: '198.18.1.1', 6: '2001:db8:0:1::1' } as const;

export interface RatelimitBench {
  subjects: Subject[];
  close(): void;
}

function total(k: RatelimitKernel, slot: keyof RlCounters): bigint {
  let n = 0n;
  for (const c of k.readCounters().values()) n += c[slot];
  return n;
}

export function setupRatelimit(o: { native: NativeBridge; objectPath: string; log: (line: string) => void }): RatelimitBench {
  const k = RatelimitKernel.load({ objectPath: o.objectPath });
  // "pass": a limit no bench reaches (1e8 pps, a second of burst); "drop": 1 pps, burst 1, so
  // after the first packet every run is over the limit. Events: one per million drops.
  k.apply(
    compileRatelimit(
      ratelimitSchema.parse({
        enabled: true,
        event_sample_every: 1_000_000,
        rules: [
          { id: 'bench-pass', src_ip: [SRC.pass[4], SRC.pass[6]], protocol: 'udp', rate: 100_000_000 },
          { id: 'bench-drop', src_ip: [SRC.drop[4], SRC.drop[6]], protocol: 'udp', rate: 1, burst: 1 },
        ],
      }),
      ddosSchema.parse({}),
    ),
  );
  const fd = k.progFd;
  const subjects: Subject[] = [];
  for (const fam of [4, 6] as const) {
    for (const kind of ['pass', 'drop'] as const) {
      const frame = udpFrame({ src: SRC[kind][fam], dst: DST[fam], sport: 40000, dport: 53 });
      const slot: keyof RlCounters = kind === 'pass' ? 'passed' : 'drop_rule';
      subjects.push({
        id: `ratelimit.${kind}.v${fam}`,
        program: RATELIMIT_PROGRAM,
        description: kind === 'pass' ? 'rate-limit rule, within the limit (GCRA CAS, pass)' : 'rate-limit rule, over the limit (drop, counted)',
        family: fam,
        progFd: fd,
        frame,
        retval: kind === 'pass' ? XDP_PASS : XDP_DROP,
        maxRepeatPerCall: 0xffffffff,
        beginSample: () => {
          // The drop bucket earns one packet per second: spend it outside the timed calls, and
          // allow for the one or two it earns while a sample runs.
          if (kind === 'drop') o.native.testRun(fd, { data: frame });
          const before = total(k, slot);
          const t0 = Date.now();
          return (repeats) => {
            const d = total(k, slot) - before;
            const slack = kind === 'drop' ? BigInt(Math.ceil((Date.now() - t0) / 1000) + 1) : 0n;
            if (d > BigInt(repeats) || d < BigInt(repeats) - slack) throw new Error(`ratelimit.${kind}.v${fam}: ${d} of ${repeats} runs counted as ${slot}`);
          };
        },
      });
    }
  }
  o.log(`xdp-ratelimit: 2 rules (pass at 1e8 pps, drop at 1 pps), ${subjects.length} cases`);
  return { subjects, close: () => k.close() };
}
