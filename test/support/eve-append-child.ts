// Child process of the EVE file's partial-write test (test/unit/eve-line.test.ts): started
// under `prlimit --fsize=N`, so the kernel takes only part of the batch's write (a short write)
// and refuses the next one (EFBIG; Node ignores SIGXFSZ). Pushes `count` alerts through the
// pipeline the agent builds, closes it, and prints the EVE sink's stats as one JSON line.
import { Registry } from 'prom-client';
import { createAlertPipeline } from '../../src/alerts/build.js';
import type { Alert } from '../../src/alerts/model.js';
import { alertingSchema } from '../../src/alerts/section.js';

/** The i-th alert of the run (the parent builds the same to know the lines). */
export function appendChildAlert(i: number): Alert {
  return {
    kind: 'alert',
    timestampNs: BigInt(Date.UTC(2026, 10, 26, 14, 0, 0)) * 1_000_000n + BigInt(i) * 1000n,
    severity: 'medium',
    engine: 'firewall',
    program: 'xdp-firewall',
    ruleId: `r${i % 7}`,
    ruleName: `deny ${'x'.repeat(i % 50)} été`,
    signatureId: i,
    action: 'blocked',
    reason: 'rule',
    flow:
      i % 2
        ? { srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::20', proto: 6, srcPort: 40000 + i, dstPort: 22 }
        : { srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 17, srcPort: 40000 + i, dstPort: 53 },
  };
}

async function main(): Promise<void> {
  const [file, count] = process.argv.slice(2);
  const cfg = alertingSchema.parse({ eve: { path: file, max_size: 0 }, dedup_window_secs: 0, throttle_max: 0 });
  const p = await createAlertPipeline(cfg, { registry: new Registry() });
  // one tick: one batch, one write
  for (let i = 0; i < Number(count); i++) p.push(appendChildAlert(i));
  await p.close();
  process.stdout.write(`${JSON.stringify(p.stats().sinks.find((s) => s.name === 'eve-file'))}\n`);
}

if (process.argv[1]?.endsWith('eve-append-child.js')) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
