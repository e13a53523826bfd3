// Runs inside a test namespace (`ip netns exec`, SENTINEL_FORCE_CLSACT=1) for adoption.test.ts:
// a first "agent" attaches tc-conntrack's ingress program at TC ingress of the veth (a clsact
// filter: no kernel link, nothing to pin), records it in the manifest and lets go of it (on_exit
// keep); a second takes it over and replaces its program in place; then `detach` removes it.
// After each step it prints what tc(8) — an independent reader — shows at the hook, as JSON.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import { detachPinRoot, PinRootState } from '../../src/engines/runtime/adoption.js';
import { Attachments } from '../../src/engines/runtime/attachments.js';
import { ensureBpffsSync, removePinTree } from '../../src/kernel/bpffs.js';
import { ifindexOf } from '../../src/kernel/link.js';
import { loadNative } from '../../src/kernel/native.js';
import { AgentMetrics } from '../../src/metrics/agent-metrics.js';

const [ifname, objectPath] = process.argv.slice(2) as [string, string];
const pinRoot = `/sys/fs/bpf/sn-adopt-clsact-${process.pid}`;
const log = pino({ level: 'silent' });
const metrics = new AgentMetrics({ version: 't', defaultMetrics: false });
const iface = { ifname, ifindex: ifindexOf(ifname) };

function hook(): { pref: number; handle: string; progId: number }[] {
  const out = JSON.parse(execFileSync('tc', ['-j', 'filter', 'show', 'dev', ifname, 'ingress'], { encoding: 'utf8' }) || '[]') as { pref: number; options?: { handle: string; prog?: { id: number } } }[];
  return out.filter((f) => f.options).map((f) => ({ pref: f.pref, handle: f.options!.handle, progId: f.options!.prog?.id ?? 0 }));
}

function agent(version: string): { prog: number; st: ReturnType<Attachments['status']>; pins: PinRootState; att: Attachments; close(): void } {
  const pins = PinRootState.open(pinRoot, log, version);
  const obj = pins.loader('tc-conntrack')(objectPath, { pinRoot: path.join(pinRoot, 'maps'), maxEntries: { ct_table: 1024 } });
  const att = new Attachments('tc-conntrack', pinRoot, log, metrics, pins);
  const p = obj.program('tc_conntrack_ingress');
  const err = att.addTc(iface, 'ingress', p);
  if (err) throw new Error(err);
  return { prog: loadNative().progId(p.fd), st: att.status(), pins, att, close: () => obj.close() };
}

ensureBpffsSync(path.join(pinRoot, 'links'));
const out: Record<string, unknown> = {};
try {
  const a1 = agent('t1');
  out.first = { prog: a1.prog, status: a1.st, hook: hook() };
  a1.att.releaseAll();
  a1.pins.save('kept');
  a1.close();
  out.afterExit = hook();
  const a2 = agent('t2');
  out.second = { prog: a2.prog, status: a2.st, hook: hook() };
  a2.att.releaseAll();
  a2.pins.save('kept');
  a2.close();
  out.detach = detachPinRoot(pinRoot);
  out.afterDetach = hook();
} finally {
  removePinTree(pinRoot);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
