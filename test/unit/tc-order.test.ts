// The TC pipeline's table (the specification's order) and the anchor planner that keeps the
// kernel's order equal to it. The kernel side is tested in test/kernel/tc-order.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TC_PIPELINE, tcOrder, tcRank } from '../../src/engines/tc-pipeline.js';
import { checkTcRank, clsactPriority, planTcAnchor, type TcAnchor, type TcHookEntry } from '../../src/kernel/tc-order.js';
import { prng, Rand } from '../support/firewall-random.js';

describe('TC pipeline table', () => {
  it('is the specification order; tc-syncookie right after tc-conntrack, before any rewrite', () => {
    assert.deepEqual(tcOrder('ingress'), ['tc-conntrack', 'tc-syncookie', 'tc-scrub', 'tc-nat-ingress', 'tc-ids', 'tc-threatintel', 'tc-dns']);
    assert.deepEqual(tcOrder('egress'), ['tc-conntrack', 'tc-nat-egress']);
  });

  it('gives each program one distinct rank per hook, each a valid clsact priority', () => {
    for (const dir of ['ingress', 'egress'] as const) {
      const ranks = Object.values(TC_PIPELINE[dir]);
      assert.equal(new Set(ranks).size, ranks.length, `${dir}: no two programs share a rank`);
      for (const r of ranks) assert.doesNotThrow(() => checkTcRank(r));
      for (const r of ranks) assert.equal(clsactPriority(r), 20000 + r);
    }
  });

  it('names the table and what it holds when a program has no place at a hook', () => {
    assert.throws(() => tcRank('tc-dns', 'egress'), /tc-dns has no place at TC egress .*tc-pipeline\.ts has: tc-conntrack, tc-nat-egress/);
    assert.throws(() => tcRank('xdp-firewall', 'ingress'), /no place at TC ingress/);
    assert.equal(tcRank('tc-syncookie', 'ingress'), 15);
  });

  it('refuses ranks outside 1..999', () => {
    for (const bad of [0, -1, 1000, 1.5, Number.NaN]) assert.throws(() => clsactPriority(bad), RangeError);
  });
});

/** A model hook: link ids in kernel order, and how the kernel inserts. */
function insert(list: number[], id: number, a: TcAnchor): void {
  if (a.where === 'append') list.push(id);
  else {
    const at = list.indexOf(a.linkId);
    assert.ok(at >= 0, `anchor ${a.linkId} is at the hook`);
    list.splice(a.where === 'before' ? at : at + 1, 0, id);
  }
}

describe('planTcAnchor', () => {
  const entries = (ids: number[]): TcHookEntry[] => ids.map((linkId) => ({ progId: linkId + 1000, linkId }));

  it('appends when nothing of ours is at the hook (foreign programs are not anchors)', () => {
    assert.deepEqual(planTcAnchor([], () => undefined, 10), { where: 'append' });
    assert.deepEqual(planTcAnchor(entries([7, 8]), () => undefined, 10), { where: 'append' });
    // a program attached without a link (id 0) is never an anchor either
    assert.deepEqual(planTcAnchor([{ progId: 5, linkId: 0 }], () => 10, 20), { where: 'append' });
  });

  it('goes before the nearest higher rank, else after the nearest lower or equal one', () => {
    const rank = new Map([[1, 10], [2, 30], [3, 50], [9, 20]]);
    const rankOf = (id: number) => rank.get(id);
    const hook = entries([1, 2, 3]);
    assert.deepEqual(planTcAnchor(hook, rankOf, 20), { where: 'before', linkId: 2, rank: 30 });
    assert.deepEqual(planTcAnchor(hook, rankOf, 5), { where: 'before', linkId: 1, rank: 10 });
    assert.deepEqual(planTcAnchor(hook, rankOf, 60), { where: 'after', linkId: 3, rank: 50 });
    assert.deepEqual(planTcAnchor(hook, rankOf, 50), { where: 'after', linkId: 3, rank: 50 }, 'equal rank: after it');
    // the nearest by rank, wherever it sits in the list
    assert.deepEqual(planTcAnchor(entries([3, 2]), rankOf, 20), { where: 'before', linkId: 2, rank: 30 });
    assert.deepEqual(planTcAnchor(entries([9, 1, 7]), rankOf, 25), { where: 'after', linkId: 9, rank: 20 });
  });

  it('keeps any attach/detach sequence in rank order, foreign programs where they were (model)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = new Rand(prng(seed));
      const rank = new Map<number, number>();
      const hook: number[] = [];
      let next = 1;
      for (let step = 0; step < 40; step++) {
        const ours = hook.filter((id) => rank.has(id));
        if (ours.length > 0 && r.chance(0.35)) {
          hook.splice(hook.indexOf(r.pick(ours)), 1);
        } else if (r.chance(0.15)) {
          hook.push(next++); // foreign: appended by someone else
        } else {
          const id = next++;
          const want = r.pick([10, 15, 20, 30, 40, 50, 60]);
          insert(hook, id, planTcAnchor(entries(hook), (x) => rank.get(x), want));
          rank.set(id, want);
        }
        const got = hook.filter((id) => rank.has(id)).map((id) => rank.get(id)!);
        assert.deepEqual(got, [...got].sort((a, b) => a - b), `seed ${seed} step ${step}: ${JSON.stringify(hook)}`);
      }
    }
  });
});
