// Stable rule numbers (src/engines/rule-numbers.ts): what xdp-firewall's hit counters and
// xdp-ratelimit's buckets are keyed by, so they must follow a rule id across reloads whatever
// its position, stay readable for late events, and be reused only when allowed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RuleNumbers } from '../../src/engines/rule-numbers.js';

/** One generation flip with these ids: their numbers. */
function flip(n: RuleNumbers, ids: string[]): Map<string, number> {
  const { nums } = n.assign(ids);
  n.committed(new Set(ids));
  return nums;
}

describe('stable rule numbers', () => {
  it('a rule keeps its number wherever it moves; new rules get new ones, reported as fresh', () => {
    const n = new RuleNumbers({ capacity: 100, owner: 'test', recycle: true });
    const first = flip(n, ['a', 'b', 'c']);
    const { nums, fresh } = n.assign(['c', 'x', 'a']);
    assert.equal(nums.get('a'), first.get('a'));
    assert.equal(nums.get('c'), first.get('c'));
    assert.deepEqual(fresh, [nums.get('x')]);
    assert.ok(![...first.values()].includes(nums.get('x')!), 'x does not take b\'s number while b may still be in flight');
  });

  it('a removed rule\'s number still names it for two flips (late events), then is recycled', () => {
    const n = new RuleNumbers({ capacity: 100, owner: 'test', recycle: true });
    const b = flip(n, ['a', 'b']).get('b')!;
    flip(n, ['a']); // b removed: the previous generation still holds it
    assert.equal(n.idOf(b), 'b', 'a late event still names b');
    flip(n, ['a']);
    assert.equal(n.idOf(b), 'b', 'one more flip: still named');
    flip(n, ['a']);
    assert.equal(n.idOf(b), undefined, 'two more flips: no generation can hold it');
    assert.equal(flip(n, ['a', 'new']).get('new'), b, 'then the number is handed out again');
  });

  it('with recycling off a number is never handed out again (state under it just idles out)', () => {
    const n = new RuleNumbers({ capacity: 2 ** 32 - 1, owner: 'test', recycle: false });
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) for (const v of flip(n, [`r${i}`, 'keep']).values()) seen.add(v);
    assert.equal(seen.size, 51, '50 one-flip rules and one kept rule: 51 distinct numbers');
    assert.equal(n.inUse, 4, 'only the two live rules and the two still retiring are remembered');
  });

  it('running out of numbers is an error naming the owner', () => {
    const n = new RuleNumbers({ capacity: 3, owner: 'ratelimit', recycle: false });
    flip(n, ['a', 'b']);
    assert.throws(() => n.assign(['a', 'b', 'c']), /ratelimit: out of rule numbers \(2 rules at once\)/);
  });
});
