// Names the agent derives from the contract's enums (src/kernel/contract-names.ts): they are
// metric labels, status keys and alert reasons, so a C rename that would change one shows here.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { namesByValue, programCounterSlots, slotRun, valuesByName } from '../../src/kernel/contract-names.js';
import { fw_reason, rl_reason, sentinel_counter_block } from '../../src/kernel/contract.gen.js';
import { COUNTER_SLOTS, EXT_COUNTER_SLOTS } from '../../src/engines/firewall/kernel.js';
import { RL_COUNTER_SLOTS, RL_STAT_SLOTS } from '../../src/engines/ratelimit/kernel.js';
import { CT_COUNTER_SLOTS } from '../../src/engines/conntrack/kernel.js';
import { SC_COUNTER_SLOTS } from '../../src/engines/ratelimit/syncookie-tc.js';
import { CT_STATES } from '../../src/engines/conntrack/states.js';
import { CT_STATE_BITS } from '../../src/engines/firewall/schema.js';

const COMMON = ['seen', 'passed', 'dropped', 'malformed', 'non_ip', 'events', 'events_lost_ring_full', 'events_lost_backpressure', 'bytes_seen'];

describe('contract names', () => {
  it('counter slots keep the names users already have in metrics and status', () => {
    assert.deepEqual(COUNTER_SLOTS, [...COMMON, 'rule_hit', 'default_policy', 'tailcall_miss', 'fragment', 'blocklist']);
    assert.deepEqual(EXT_COUNTER_SLOTS, ['reject_sent', 'reject_suppressed', 'reject_ratelimited', 'reject_failed', 'ct_fastpath', 'tree_broken']);
    assert.deepEqual(RL_COUNTER_SLOTS, [...COMMON, 'drop_rule', 'drop_default', 'drop_syn_flood', 'drop_udp_flood', 'drop_icmp_flood', 'syncookie_sent', 'syncookie_invalid']);
    assert.deepEqual(RL_STAT_SLOTS, [
      'syncookie_valid', 'over_limit_passed', 'syn_not_answered', 'buckets_expired', 'bucket_create_failed',
      'cas_exhausted', 'housekeeping_runs', 'syn_under_threshold', 'syn_refresh', 'syncookie_valid_kernel',
    ]);
    assert.deepEqual(CT_COUNTER_SLOTS, [...COMMON, 'new_flows', 'invalid', 'table_full', 'expired', 'untracked', 'related', 'skipped_forwarded']);
    assert.deepEqual(SC_COUNTER_SLOTS, [...COMMON, 'reqsk_created', 'not_agent_cookie', 'reqsk_refused']);
  });

  it('codes and states keep their user-facing names', () => {
    assert.deepEqual([...namesByValue('FW_REASON_', fw_reason)], [[1, 'rule'], [2, 'default'], [3, 'malformed'], [4, 'blocklist']]);
    assert.deepEqual([...namesByValue('RL_R_', rl_reason).values()], ['rule', 'default', 'syn_flood', 'udp_flood', 'icmp_flood', 'syncookie_invalid']);
    assert.deepEqual(CT_STATE_BITS, { new: 0, established: 1, related: 2, invalid: 3 });
    assert.deepEqual(Object.keys(CT_STATES), [
      'new', 'syn_sent', 'syn_recv', 'established', 'fin_wait', 'close_wait', 'last_ack', 'time_wait', 'close',
      'udp_unreplied', 'udp_assured', 'icmp_unreplied', 'icmp_replied', 'udp_replied',
    ]);
  });

  it('a run of slots with a gap, a foreign prefix or the wrong start is refused', () => {
    assert.deepEqual(slotRun('X_', { X_A: 3, X_B: 4 }), { first: 3, names: ['a', 'b'] });
    assert.throws(() => slotRun('X_', { X_A: 3, X_B: 5 }), /x_b|b is 5, expected 4/);
    assert.throws(() => slotRun('X_', { X_A: 0, Y_B: 1 }), /Y_B does not start with X_/);
    assert.throws(() => slotRun('X_', { X_A: 1 }, 0), /start at 1, not at 0/);
    assert.deepEqual(valuesByName('X_', { X_ONE_TWO: 7 }), { one_two: 7 });
  });

  it("a program's slots must start at SN_CNT_PROG_0 and end within the block", () => {
    const { SN_CNT_PROG_0: p0, SN_CNT_MAX: max } = sentinel_counter_block;
    assert.deepEqual(programCounterSlots('P_', { P_A: p0 }), [...COMMON, 'a']);
    assert.throws(() => programCounterSlots('P_', { P_A: p0 + 1 }), /not at 9/);
    const tooMany = Object.fromEntries(Array.from({ length: max - p0 + 1 }, (_, i) => [`P_S${i}`, p0 + i]));
    assert.throws(() => programCounterSlots('P_', tooMany), /past SN_CNT_MAX/);
  });
});
