// Runs inside host b of tc-order.test.ts (`ip netns exec`), where attaching by ifindex works:
// attaches and detaches the stand-in programs of tc_stages.bpf.o on b's veth as told (one JSON
// request per stdin line, one JSON answer line each), reports the order the kernel holds them
// in (TCX: our BPF_PROG_QUERY; clsact: `tc -j filter show`, an independent reader), and sends
// real pings to a, returning what the stand-ins counted and traced. Cleans up on stdin's end.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import readline from 'node:readline';
import { ensureBpffsSync, removePinTree } from '../../src/kernel/bpffs.js';
import { attachTc, queryTcHook, type Link, type TcDirection } from '../../src/kernel/link.js';
import { bytesCodec, u32Codec, u64Codec } from '../../src/kernel/map.js';
import { loadNative } from '../../src/kernel/native.js';
import { BpfObject } from '../../src/kernel/object.js';

export type OrderRequest =
  | { op: 'attach'; id: number; dir: TcDirection; rank?: number; via?: 'auto' | 'tcx' | 'clsact' }
  | { op: 'detach'; id: number; dir: TcDirection }
  /** a filter added by tc(8) itself from the pinned program: not ours in any sense */
  | { op: 'foreign-tc'; id: number; dir: TcDirection; pref: number }
  | { op: 'order'; dir: TcDirection }
  | { op: 'traffic'; count: number };

export interface AttachAnswer {
  kind: 'tcx' | 'clsact';
  linkId: number;
  priority: number;
  anchor: string;
  staleRetries: number;
}

/** One program at the hook in kernel order: the stand-in's id (null: not one of them). */
export interface OrderAnswer {
  tcx: { id: number | null; progId: number; linkId: number; rank: number | null }[] | null;
  revision: string | null;
  /** clsact filters in chain order (tc lists them by preference) */
  clsact: { id: number | null; pref: number }[];
}

export interface TrafficAnswer {
  ping: { v4: boolean; v6: boolean };
  /** runs[id * 2 + (v6 ? 1 : 0)] */
  runs: number[];
  traces: { ids: number[]; family: number; icmpType: number; count: number }[];
}

const [objPath, ifname, peer4, peer6, pinDir] = process.argv.slice(2);
if (!objPath || !ifname || !peer4 || !peer6 || !pinDir) throw new Error('usage: tc-order-nshelper OBJECT IFNAME PEER4 PEER6 PINDIR');

ensureBpffsSync(pinDir);
const obj = BpfObject.load(objPath);
const runs = obj.map('stage_runs', u32Codec, u64Codec);
const traces = obj.map('stage_traces', bytesCodec(8), u64Codec);
const links = new Map<string, Link>();
const tcFilters: { dir: TcDirection; pref: number }[] = [];
const key = (id: number, dir: TcDirection): string => `${dir}/${id}`;

function tc(args: string[]): string {
  const r = spawnSync('tc', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tc ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

function attach(m: Extract<OrderRequest, { op: 'attach' }>): AttachAnswer {
  if (links.has(key(m.id, m.dir))) throw new Error(`stage ${m.id} is already attached at ${m.dir}`);
  const l = attachTc(obj.progFd(`stage_${m.id}`), ifname!, m.dir, { ...(m.rank !== undefined ? { rank: m.rank } : {}), via: m.via ?? 'auto', label: `stage_${m.id}` });
  links.set(key(m.id, m.dir), l);
  const t = l.tc!;
  return { kind: l.kind as 'tcx' | 'clsact', linkId: t.linkId, priority: t.priority, anchor: t.anchor ? JSON.stringify(t.anchor) : 'none', staleRetries: t.staleRetries };
}

function order(dir: TcDirection): OrderAnswer {
  const idByLink = new Map<number, number>();
  for (const [k, l] of links) if (k.startsWith(`${dir}/`) && l.tc?.linkId) idByLink.set(l.tc.linkId, Number(k.split('/')[1]));
  const hook = queryTcHook(ifname!, dir);
  const filters = JSON.parse(tc(['-j', 'filter', 'show', 'dev', ifname!, dir]) || '[]') as { pref?: number; options?: { bpf_name?: string } }[];
  const clsact = filters
    .filter((f) => f.options?.bpf_name !== undefined && f.pref !== undefined)
    .map((f) => {
      const m = /^stage_(\d+)/.exec(f.options!.bpf_name!);
      return { id: m ? Number(m[1]) : null, pref: f.pref! };
    });
  return {
    tcx: hook ? hook.programs.map((p) => ({ id: idByLink.get(p.linkId) ?? null, progId: p.progId, linkId: p.linkId, rank: p.rank ?? null })) : null,
    revision: hook ? String(hook.revision) : null,
    clsact,
  };
}

function ping(fam: 4 | 6, addr: string, count: number): boolean {
  return spawnSync('ping', [`-${fam}`, '-c', String(count), '-i', '0.05', '-W', '2', addr], { encoding: 'utf8' }).status === 0;
}

function traffic(count: number): TrafficAnswer {
  for (const k of [...traces.keys()]) traces.delete(k);
  for (let i = 0; i < 32; i++) runs.update(i, 0n);
  const p = { v4: ping(4, peer4!, count), v6: ping(6, peer6!, count) };
  const out: TrafficAnswer = { ping: p, runs: Array.from({ length: 32 }, (_, i) => Number(runs.lookup(i) ?? 0n)), traces: [] };
  for (const [k, n] of traces.entries()) {
    const trace = k.readUInt32LE(0);
    const steps = k.readUInt8(4);
    out.traces.push({ ids: Array.from({ length: steps }, (_, i) => (trace >>> (4 * i)) & 0xf), family: k.readUInt8(5), icmpType: k.readUInt8(6), count: Number(n) });
  }
  return out;
}

function handle(m: OrderRequest): unknown {
  switch (m.op) {
    case 'attach':
      return attach(m);
    case 'detach': {
      const l = links.get(key(m.id, m.dir));
      if (!l) throw new Error(`stage ${m.id} is not attached at ${m.dir}`);
      l.destroy();
      links.delete(key(m.id, m.dir));
      return {};
    }
    case 'foreign-tc': {
      const pin = `${pinDir}/stage_${m.id}`;
      if (!existsSync(pin)) loadNative().objPin(obj.progFd(`stage_${m.id}`), pin);
      tc(['filter', 'add', 'dev', ifname!, m.dir, 'pref', String(m.pref), 'bpf', 'direct-action', 'object-pinned', pin]);
      tcFilters.push({ dir: m.dir, pref: m.pref });
      return {};
    }
    case 'order':
      return order(m.dir);
    case 'traffic':
      return traffic(m.count);
  }
}

process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
try {
  for await (const line of readline.createInterface({ input: process.stdin })) {
    let answer: unknown;
    try {
      answer = handle(JSON.parse(line) as OrderRequest);
    } catch (e) {
      answer = { error: e instanceof Error ? e.message : String(e) };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  }
} finally {
  for (const l of links.values()) l.destroy();
  for (const f of tcFilters) spawnSync('tc', ['filter', 'del', 'dev', ifname, f.dir, 'pref', String(f.pref)]);
  obj.close();
  if (existsSync(pinDir)) removePinTree(pinDir);
}
