// The TC pipeline holds the specification's order however its programs come and go. Stand-ins
// (tc_stages.bpf.o, one per program of src/engines/tc-pipeline.ts, ranked from that table)
// are attached on a veth of a lab namespace in shuffled orders, detached and re-attached at
// random, beside foreign programs that are not ours; after every step the order the kernel
// reports must be rank order with the foreign programs still there, and real pings (IPv4 and
// IPv6) must run every program in exactly the reported order: each stand-in appends its id to
// a trace carried in the packet, so the traversal is observed, not only reported.
// TCX: the order is read with BPF_PROG_QUERY. clsact (forced): with `tc -j filter show`, and
// each of ours must sit at priority 20000 + rank.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { tcOrder, tcRank } from '../../src/engines/tc-pipeline.js';
import type { TcDirection } from '../../src/kernel/tc-order.js';
import { Lab } from '../../src/lab/index.js';
import { labPrerequisites } from '../support/env.js';
import { prng, Rand } from '../support/firewall-random.js';
import { NsHelper } from '../support/ns-helper.js';
import { objectsBuilt, testObj, uniqueName } from './bridge-util.js';
import type { AttachAnswer, OrderAnswer, OrderRequest, TrafficAnswer } from './tc-order-nshelper.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const skip = labPrerequisites(['ip', 'ping', 'tc']) ?? (objectsBuilt('tc_stages') ? false : 'build/bpf-test/tc_stages.bpf.o is missing (make bpf)');
if (skip && process.env.CI === 'true') throw new Error(`CI=true and this test cannot run: ${skip}`);

const A = { 4: '198.18.42.1', 6: '2001:db8:42::1' } as const;
const B = { 4: '198.18.42.2', 6: '2001:db8:42::2' } as const;
const DIRS: readonly TcDirection[] = ['ingress', 'egress'];
/** the foreign stand-ins' ids (tc_stages.bpf.c has no other above 9) */
const FOREIGN = 15;
/** b pings a: its egress sees the echo requests, its ingress the replies */
const ICMP_SEEN = { ingress: { 4: 0, 6: 129 }, egress: { 4: 8, 6: 128 } } as const;
const PINGS = 2;

/** Stand-in ids: the table's ingress programs are 1.., its egress ones follow. */
const STAND_IN: Record<TcDirection, { program: string; id: number; rank: number }[]> = (() => {
  let id = 0;
  const out = {} as Record<TcDirection, { program: string; id: number; rank: number }[]>;
  for (const dir of DIRS) out[dir] = tcOrder(dir).map((program) => ({ program, id: ++id, rank: tcRank(program, dir) }));
  return out;
})();
const rankOf = (dir: TcDirection, id: number): number => STAND_IN[dir].find((s) => s.id === id)!.rank;
const nameOf = (dir: TcDirection, id: number): string => (id === FOREIGN ? 'foreign' : STAND_IN[dir].find((s) => s.id === id)!.program);

function shuffle<T>(r: Rand, xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

describe('TC pipeline order', { skip }, () => {
  let lab: Lab;

  before(async () => {
    lab = await Lab.create({
      name: 'tcorder',
      hosts: [{ name: 'a' }, { name: 'b' }],
      links: [{ a: { host: 'a', ifname: 'a0', addrs: [`${A[4]}/24`, `${A[6]}/64`] }, b: { host: 'b', ifname: 'b0', addrs: [`${B[4]}/24`, `${B[6]}/64`] } }],
    });
  });

  after(async () => {
    await lab?.destroy();
  });

  /** One helper per scenario, so every scenario starts from a hook with nothing on it. */
  async function withHelper(fn: (call: <T>(m: OrderRequest) => Promise<T>) => Promise<void>): Promise<void> {
    const h = NsHelper.start(lab, 'b', path.join(HERE, 'tc-order-nshelper.js'), [testObj('tc_stages'), lab.ifname('b0'), A[4], A[6], `/sys/fs/bpf/${uniqueName('tco')}`]);
    try {
      assert.deepEqual(JSON.parse(await h.next()), { ready: true });
      await fn(async <T>(m: OrderRequest): Promise<T> => {
        const r = await h.request<T & { error?: string }>(m);
        assert.equal(r.error, undefined, `${JSON.stringify(m)}: ${r.error}`);
        return r;
      });
    } finally {
      await h.close();
    }
  }

  /** What the kernel holds at a hook, as stand-in ids in run order (foreign ones included). */
  async function kernelOrder(call: <T>(m: OrderRequest) => Promise<T>, dir: TcDirection, via: 'tcx' | 'clsact', ours: ReadonlySet<number>, foreign: number): Promise<number[]> {
    const o = await call<OrderAnswer>({ op: 'order', dir });
    let ids: number[];
    if (via === 'tcx') {
      assert.ok(o.tcx, 'this kernel has TCX');
      assert.deepEqual(o.clsact, [], 'TCX needs no clsact filter');
      assert.ok(o.tcx.every((p) => p.id !== null), `only the test's programs at ${dir}: ${JSON.stringify(o.tcx)}`);
      ids = o.tcx.map((p) => p.id!);
      for (const p of o.tcx) assert.equal(p.rank, p.id === FOREIGN ? null : rankOf(dir, p.id!), `${nameOf(dir, p.id!)}: the query names its rank, none for a foreign program`);
    } else {
      assert.deepEqual(o.tcx ?? [], [], 'forced clsact: nothing at the TCX hook');
      ids = o.clsact.map((f) => f.id!);
      const prefs = o.clsact.map((f) => f.pref);
      assert.deepEqual(prefs, [...prefs].sort((x, y) => x - y), 'tc lists the chain by priority');
      for (const f of o.clsact) if (f.id !== FOREIGN) assert.equal(f.pref, 20000 + rankOf(dir, f.id!), `${nameOf(dir, f.id!)} at priority 20000 + rank`);
    }
    const mine = ids.filter((id) => id !== FOREIGN);
    const want = [...ours].sort((x, y) => rankOf(dir, x) - rankOf(dir, y));
    assert.deepEqual(mine.map((id) => nameOf(dir, id)), want.map((id) => nameOf(dir, id)), `${via} ${dir}: ours in rank order`);
    assert.equal(ids.filter((id) => id === FOREIGN).length, foreign, `${via} ${dir}: the foreign program is left where it was`);
    return ids;
  }

  /** Pings both families; at each hook every program ran on every packet, in `orders[dir]`. */
  async function traverse(call: <T>(m: OrderRequest) => Promise<T>, orders: Record<TcDirection, number[]>): Promise<void> {
    const t = await call<TrafficAnswer>({ op: 'traffic', count: PINGS });
    assert.deepEqual(t.ping, { v4: true, v6: true }, 'pings through the chain');
    const runsExpected = new Array<number>(32).fill(0);
    for (const dir of DIRS) {
      for (const id of orders[dir]) for (const fam of [4, 6] as const) runsExpected[id * 2 + (fam === 6 ? 1 : 0)] += PINGS;
      for (const fam of [4, 6] as const) {
        const seen = t.traces.filter((x) => x.family === fam && x.icmpType === ICMP_SEEN[dir][fam]);
        const full = orders[dir];
        if (full.length === 0) {
          assert.deepEqual(seen, [], `IPv${fam} ${dir}: nothing runs`);
          continue;
        }
        const longest = seen.reduce((m, x) => (x.ids.length > m.ids.length ? x : m), seen[0] ?? { ids: [], count: 0, family: fam, icmpType: 0 });
        assert.deepEqual(longest.ids.map((id) => nameOf(dir, id)), full.map((id) => nameOf(dir, id)), `IPv${fam} ${dir}: traversal order = reported order`);
        // every step recorded its prefix of the one traversal, once per packet
        assert.deepEqual(seen.map((x) => x.ids.join(',')).sort(), full.map((_, i) => full.slice(0, i + 1).join(',')).sort(), `IPv${fam} ${dir}: one traversal`);
        for (const x of seen) assert.equal(x.count, PINGS, `IPv${fam} ${dir}: trace ${x.ids.join(',')} once per packet`);
      }
    }
    assert.deepEqual(t.runs, runsExpected, 'every attached program ran on every echo packet of both families, nothing else ran');
  }

  for (const via of ['tcx', 'clsact'] as const) {
    for (const seed of [1, 2]) {
      it(`${via}: shuffled starts and runtime toggles keep rank order beside a foreign program (seed ${seed})`, async () => {
        const r = new Rand(prng(seed * 7919 + (via === 'tcx' ? 0 : 1)));
        await withHelper(async (call) => {
          const ours: Record<TcDirection, Set<number>> = { ingress: new Set(), egress: new Set() };
          const foreign: Record<TcDirection, number> = { ingress: 0, egress: 0 };
          const orders = {} as Record<TcDirection, number[]>;
          const check = async (dir: TcDirection) => (orders[dir] = await kernelOrder(call, dir, via, ours[dir], foreign[dir]));
          const attach = async (dir: TcDirection, id: number) => {
            const a = await call<AttachAnswer>({ op: 'attach', id, dir, rank: rankOf(dir, id), via });
            assert.equal(a.kind, via);
            ours[dir].add(id);
            await check(dir);
          };
          const addForeign = async (dir: TcDirection) => {
            if (via === 'tcx') await call<AttachAnswer>({ op: 'attach', id: FOREIGN, dir, via: 'tcx' });
            // by tc(8) itself, between our ranks (tc-nat-ingress 30 and tc-ids 40 at ingress)
            else await call({ op: 'foreign-tc', id: FOREIGN, dir, pref: 20035 });
            foreign[dir] = 1;
            await check(dir);
          };

          // TCX: the foreign program comes first at one hook and between ours at the other;
          // clsact: tc adds it once ours created the qdisc
          for (const dir of DIRS) {
            const order = shuffle(r, STAND_IN[dir].map((s) => s.id));
            const foreignAfter = via === 'tcx' && dir === 'ingress' ? 0 : r.int(1, order.length - 1);
            for (const [i, id] of order.entries()) {
              if (i === foreignAfter) await addForeign(dir);
              await attach(dir, id);
            }
          }
          await traverse(call, orders);

          for (let round = 0; round < 4; round++) {
            for (const dir of DIRS) {
              const off = shuffle(r, [...ours[dir]]).slice(0, r.int(1, ours[dir].size));
              for (const id of off) {
                await call({ op: 'detach', id, dir });
                ours[dir].delete(id);
                await check(dir);
              }
              if (round % 2 === 1) await traverse(call, orders); // part of the pipeline stopped
              for (const id of shuffle(r, off)) await attach(dir, id);
            }
            await traverse(call, orders);
          }

          // every program of ours stopped: the foreign one is still there and still runs
          for (const dir of DIRS) {
            for (const id of shuffle(r, [...ours[dir]])) {
              await call({ op: 'detach', id, dir });
              ours[dir].delete(id);
            }
            await check(dir);
            assert.deepEqual(orders[dir], [FOREIGN]);
          }
          await traverse(call, orders);
        });
      });
    }
  }
});
