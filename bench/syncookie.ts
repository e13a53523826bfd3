// The SYN-cookie cases run in a child process inside a network namespace made for the run (a
// listener must own the SYN's destination, and test runs look sockets up in the caller's
// namespace; the host's sockets are never involved). The namespace is removed even on failure.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { newRunPrefix } from '../src/lab/names.js';
import type { Measured } from './measure.js';
import type { SyncookieChildResult, SyncookieChildSpec } from './syncookie-child.js';

const sh = (args: string[]): void => void execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });

/** Parses the child's last stdout line; anything else there is an error. */
export function parseChildResult(stdout: string): SyncookieChildResult {
  const last = stdout.trim().split('\n').at(-1) ?? '';
  let v: unknown;
  try {
    v = JSON.parse(last);
  } catch {
    throw new Error(`syncookie bench child: last output line is not JSON: ${JSON.stringify(last.slice(0, 200))}`);
  }
  const r = v as Partial<SyncookieChildResult>;
  if (typeof r.floorNs !== 'number' || !(r.floorNs > 0) || !Array.isArray(r.cases) || r.cases.length === 0) {
    throw new Error('syncookie bench child: result has no floor or no cases');
  }
  for (const c of r.cases) {
    if (!c || typeof c.subject?.id !== 'string' || !Array.isArray(c.samples) || c.samples.length === 0 || c.samples.some((x) => typeof x !== 'number' || !(x > 0))) {
      throw new Error(`syncookie bench child: case ${JSON.stringify(c?.subject?.id)} has no valid samples`);
    }
  }
  return r as SyncookieChildResult;
}

export function measureSyncookie(o: { root: string; samples: number; sampleMs: number; log: (line: string) => void }): Measured[] {
  const ns = `${newRunPrefix()}-syn`;
  const spec: SyncookieChildSpec = {
    ratelimitObj: path.join(o.root, 'build', 'bpf', 'xdp_ratelimit.bpf.o'),
    restoreObj: path.join(o.root, 'build', 'bpf-bench', 'xdp_restore.bpf.o'),
    floorObj: path.join(o.root, 'build', 'bpf-bench', 'xdp_floor.bpf.o'),
    samples: o.samples,
    sampleMs: o.sampleMs,
  };
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'syncookie-child.js');
  o.log(`syncookie: xdp-ratelimit with syn_protection always on, listeners and runs in namespace ${ns}`);
  let out: string;
  sh(['ip', 'netns', 'add', ns]);
  try {
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, child, JSON.stringify(spec)], {
      encoding: 'utf8',
      maxBuffer: 16 << 20,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  } finally {
    sh(['ip', 'netns', 'del', ns]);
  }
  const res = parseChildResult(out);
  o.log(`syncookie: floor in the namespace ${res.floorNs.toFixed(2)} ns/pkt (its cases' ratios refer to it)`);
  const odd = res.cases.filter((c) => c.disagreed > 0).map((c) => `${c.subject.id} ${c.disagreed}/${c.samples.length}`);
  if (odd.length) o.log(`syncookie: CPU time and the kernel's timer disagreed by over 1 % (figure clamped to the kernel's): ${odd.join(', ')}`);
  return res.cases.map((c) => ({ ...c, floorNs: res.floorNs }));
}
