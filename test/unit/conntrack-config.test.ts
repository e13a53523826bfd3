// The `conntrack` config section: defaults close to netfilter's, bounds on the table size and
// timeouts, strict keys, and the reference's flood thresholds refused with where they belong.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/index.js';
import { parseConfigText } from '../../src/catalog.js';
import { CT_STATES, DEFAULT_TIMEOUTS, encodeTimeouts, stateName, TIMEOUT_KEYS, TIMEOUT_OF_STATE } from '../../src/engines/conntrack/states.js';
import { layouts } from '../../src/kernel/layouts.gen.js';

const HEAD = 'agent:\n  interfaces: [eth1]\n';

function problems(yaml: string): string[] {
  try {
    parseConfigText(HEAD + yaml, 'c.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  assert.fail('expected the config to be rejected');
}

describe('conntrack config', () => {
  it('is off by default with a 262144-entry table and netfilter-like timeouts', () => {
    const c = parseConfigText(HEAD, 'c.yaml').conntrack;
    assert.deepEqual(c, { enabled: false, max_entries: 262144, gc_interval_secs: 30, timeouts: DEFAULT_TIMEOUTS });
    assert.equal(c.timeouts.tcp_established, 432000);
    assert.equal(c.timeouts.tcp_time_wait, 120);
    assert.equal(c.timeouts.udp_unreplied, 30);
  });

  it('takes enabled, table size and any subset of timeouts', () => {
    const c = parseConfigText(`${HEAD}conntrack:\n  enabled: true\n  max_entries: 4096\n  timeouts: { tcp_established: 3600, icmp_replied: 5 }\n`, 'c.yaml').conntrack;
    assert.equal(c.enabled, true);
    assert.equal(c.max_entries, 4096);
    assert.equal(c.timeouts.tcp_established, 3600);
    assert.equal(c.timeouts.icmp_replied, 5);
    assert.equal(c.timeouts.tcp_syn_sent, 120, 'the others keep their defaults');
  });

  it('bounds the table size', () => {
    assert.match(problems('conntrack: { max_entries: 100 }\n').join(), /conntrack\.max_entries: expected a table size 1024-16777216; got 100/);
    assert.match(problems('conntrack: { max_entries: 100000000 }\n').join(), /conntrack\.max_entries/);
    assert.match(problems('conntrack: { max_entries: "big" }\n').join(), /conntrack\.max_entries/);
  });

  it('bounds the timeouts and names the bad one', () => {
    assert.match(problems('conntrack: { timeouts: { udp_assured: 0 } }\n').join(), /conntrack\.timeouts\.udp_assured: expected seconds 1-31536000; got 0/);
    assert.match(problems('conntrack: { timeouts: { tcp_established: 1.5 } }\n').join(), /conntrack\.timeouts\.tcp_established/);
    assert.match(problems('conntrack: { timeouts: { tcp_establised: 10 } }\n').join(), /unknown key "tcp_establised".*tcp_established/);
  });

  it('refuses the reference flood thresholds and says they belong to ddos', () => {
    for (const k of ['half_open_threshold', 'rst_threshold', 'fin_threshold', 'ack_threshold']) {
      const p = problems(`conntrack: { enabled: true, ${k}: 100 }\n`).join();
      assert.match(p, new RegExp(`\`${k}\` is not supported by this version \\(flood thresholds belong to DDoS protection: use ddos\\.connection_tracking\\.${k}\\)`));
    }
    assert.match(problems('conntrack: { enabeld: true }\n').join(), /unknown key "enabeld".*did you mean "enabled"/i);
  });
});

describe('conntrack states and the timeout map', () => {
  it('every timeout key names a state, and every state has a timeout (udp_replied keeps udp_unreplied\'s, as netfilter)', () => {
    const covered = new Set<string>(Object.values(TIMEOUT_KEYS));
    assert.deepEqual([...Object.keys(CT_STATES)].filter((s) => !covered.has(s)), ['udp_replied']);
    assert.deepEqual(Object.keys(TIMEOUT_OF_STATE).sort(), Object.keys(CT_STATES).sort());
    assert.equal(TIMEOUT_OF_STATE.udp_replied, 'udp_unreplied');
    const b = encodeTimeouts({ ...DEFAULT_TIMEOUTS, udp_unreplied: 9 }, layouts.ct_config.size);
    assert.equal(b.readBigUInt64LE(CT_STATES.udp_replied * 8), 9_000_000_000n);
  });

  it('encodes struct ct_config: seconds → ns at the state number, slot 0 unused', () => {
    const b = encodeTimeouts({ ...DEFAULT_TIMEOUTS, tcp_time_wait: 7 }, layouts.ct_config.size);
    assert.equal(b.length, layouts.ct_config.size);
    assert.equal(b.readBigUInt64LE(0), 0n);
    assert.equal(b.readBigUInt64LE(CT_STATES.time_wait * 8), 7_000_000_000n);
    assert.equal(b.readBigUInt64LE(CT_STATES.established * 8), 432_000_000_000_000n);
    assert.equal(b.readBigUInt64LE(CT_STATES.icmp_replied * 8), 30_000_000_000n);
  });

  it('names states, and keeps unknown numbers visible', () => {
    assert.equal(stateName(4), 'established');
    assert.equal(stateName(99), 'state_99');
  });
});
