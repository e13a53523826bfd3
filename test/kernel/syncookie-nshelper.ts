// Runs inside a test network namespace (`ip netns exec NS node syncookie-nshelper.js JOB`):
// BPF_PROG_TEST_RUN judges XDP packets in the caller's namespace, and xdp-ratelimit answers
// SYNs only for local listeners, so the listeners and the test runs must share one namespace.
// Opens a listener per family, then judges one frame per stdin line and answers with one JSON
// line (verdict, output frame, counter and stat deltas); syncookie-xdp.test.ts asserts.
import net from 'node:net';
import readline from 'node:readline';
import type { CookieConfig } from '../../src/engines/ratelimit/kernel.js';
import { HARNESS_COOKIE_CONFIG, RatelimitHarness } from './ratelimit-harness.js';
import { listenTcp } from '../support/listen.js';

/** One frame to judge (hex), one per stdin line; a line { "policy": {...} } installs a policy
 * (and forgets every bucket, and every kernel-path refresh stamp) instead, with the harness's
 * cookie config unless the line carries { "allow": n } to narrow the host options. */
export interface SyncookieStep {
  label: string;
  frame: string;
}

export interface SyncookieStepResult {
  label: string;
  retval: number;
  out: string;
  delta: Record<string, number>;
  stats: Record<string, string>;
}

const s4 = await listenTcp('0.0.0.0');
const s6 = await listenTcp('::');
const port = (s: net.Server): number => (s.address() as net.AddressInfo).port;
process.stdout.write(`${JSON.stringify({ port4: port(s4), port6: port(s6) })}\n`);

const h = new RatelimitHarness();
const lines = readline.createInterface({ input: process.stdin });
try {
  for await (const line of lines) {
    const msg = JSON.parse(line) as SyncookieStep | { policy: { ddos: Record<string, unknown> }; allow?: number };
    if ('policy' in msg) {
      const cfg: CookieConfig = { ...HARNESS_COOKIE_CONFIG, allow: msg.allow ?? HARNESS_COOKIE_CONFIG.allow };
      h.kernel.writeCookieConfig(cfg);
      h.install(msg.policy);
      h.clearRefreshStamps();
      process.stdout.write('{"installed":true}\n');
      continue;
    }
    const step = msg;
    const before = h.stats();
    const r = h.run(Buffer.from(step.frame, 'hex'));
    const after = h.stats();
    const stats: Record<string, string> = {};
    for (const k of Object.keys(after) as (keyof typeof after)[]) if (after[k] !== before[k]) stats[k] = String(after[k] - before[k]);
    const res: SyncookieStepResult = { label: step.label, retval: r.retval, out: r.out.toString('hex'), delta: r.delta as Record<string, number>, stats };
    process.stdout.write(`${JSON.stringify(res)}\n`);
  }
} finally {
  h.close();
  s4.close();
  s6.close();
}
