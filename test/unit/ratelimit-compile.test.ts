// compileRatelimit, the pure policy -> kernel rows step: rule order and numbers, one row per
// CIDR (both families for a rule without sources, none of the wrong family for icmp/icmpv6),
// masks, GCRA parameters, match bits, and the ddos header (guards, cookie modes).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/catalog.js';
import { compileRatelimit, limitOf, NO_LIMIT, orderedRules, type CompiledRatelimit } from '../../src/engines/ratelimit/compile.js';
import { formatAddress } from '../../src/net/ip.js';
import { rl_action, rl_cookie_mode, rl_match, rl_scope } from '../../src/kernel/contract.gen.js';

function compile(yaml: string): CompiledRatelimit {
  const c = parseConfigText(`agent:\n  interfaces: [eth1]\n${yaml}`, 'c.yaml');
  return compileRatelimit(c.ratelimit, c.ddos);
}

const hex = (b: Buffer): string => b.toString('hex');

describe('compileRatelimit: rules to rows', () => {
  it('orders by priority, then unprioritised rules in list order; numbers are positions from 1; disabled rules take none', () => {
    const out = compile(
      'ratelimit:\n  enabled: true\n  rules:\n' +
        '    - { id: late, rate: 1, src_ip: 10.0.0.1 }\n' +
        '    - { id: p20, rate: 1, priority: 20, src_ip: 10.0.0.2 }\n' +
        '    - { id: off, rate: 1, priority: 5, enabled: false, src_ip: 10.0.0.3 }\n' +
        '    - { id: p10, rate: 1, priority: 10, src_ip: 10.0.0.4 }\n' +
        '    - { id: last, rate: 1, src_ip: 10.0.0.5 }\n',
    );
    assert.deepEqual(out.rows.map((r) => [r.ruleId, r.ruleNum]), [['p10', 1], ['p20', 2], ['late', 3], ['last', 4]]);
    assert.deepEqual(orderedRules(parseConfigText('agent:\n  interfaces: [eth1]\nratelimit:\n  rules:\n    - { id: b, rate: 1 }\n    - { id: a, rate: 1, priority: 7 }\n', 'c.yaml').ratelimit.rules).map((r) => r.id), ['a', 'b']);
  });

  it('one row per CIDR with its family, masked address and mask; a rule without sources gets both families', () => {
    const out = compile(
      'ratelimit:\n  enabled: true\n  rules:\n' +
        '    - { id: nets, rate: 10, src_ip: [198.18.0.0/15, "2001:db8:1::/48", "2001:db8::9"] }\n' +
        '    - { id: all, rate: 10 }\n',
    );
    const rows = out.rows.map((r) => [r.ruleId, r.ruleNum, r.family, formatAddress(r.family, r.addr), hex(r.mask)]);
    assert.deepEqual(rows, [
      ['nets', 1, 4, '198.18.0.0', 'fffe0000' + '0'.repeat(24)],
      ['nets', 1, 6, '2001:db8:1::', 'ffffffffffff' + '0'.repeat(20)],
      ['nets', 1, 6, '2001:db8::9', 'f'.repeat(32)],
      ['all', 2, 4, '0.0.0.0', '0'.repeat(32)],
      ['all', 2, 6, '::', '0'.repeat(32)],
    ]);
    assert.ok(out.rows.every((r) => r.match === rl_match.RL_M_SRC), 'no protocol, no port: source match only');
  });

  it('drops rows that can never match: icmp has no IPv6 row, icmpv6 no IPv4 row', () => {
    const out = compile('ratelimit:\n  enabled: true\n  rules:\n    - { id: ping, rate: 5, protocol: icmp }\n    - { id: ping6, rate: 5, protocol: icmpv6, src_ip: [10.0.0.0/8, "2001:db8::/32"] }\n');
    assert.deepEqual(out.rows.map((r) => [r.ruleId, r.family, r.proto]), [['ping', 4, 1], ['ping6', 6, 58]]);
    assert.ok(out.rows.every((r) => r.match === (rl_match.RL_M_SRC | rl_match.RL_M_PROTO)));
  });

  it('encodes limit, protocol, port range, action and scope', () => {
    const out = compile(
      'ratelimit:\n  enabled: true\n  rules:\n' +
        '    - { id: dns, rate: 1000, burst: 50, protocol: udp, dst_port: 53, action: pass, per: rule, src_ip: 10.0.0.0/8 }\n' +
        '    - { id: web, rate: 4, protocol: tcp, dst_port: "8000-8080", src_ip: "2001:db8::/64" }\n',
    );
    const [dns, web] = out.rows;
    assert.deepEqual(
      { limit: dns!.limit, proto: dns!.proto, lo: dns!.dportLo, hi: dns!.dportHi, action: dns!.action, scope: dns!.scope, match: dns!.match },
      { limit: { intervalNs: 1_000_000n, toleranceNs: 49_000_000n }, proto: 17, lo: 53, hi: 53, action: rl_action.RL_ACT_PASS, scope: rl_scope.RL_SCOPE_RULE, match: rl_match.RL_M_SRC | rl_match.RL_M_PROTO | rl_match.RL_M_DPORT },
    );
    // burst defaults to the rate: one second of traffic
    assert.deepEqual(web!.limit, { intervalNs: 250_000_000n, toleranceNs: 750_000_000n });
    assert.deepEqual([web!.proto, web!.dportLo, web!.dportHi, web!.action, web!.scope], [6, 8000, 8080, rl_action.RL_ACT_DROP, rl_scope.RL_SCOPE_SOURCE]);
  });

  it('limitOf: interval 1e9/rate ns, tolerance (burst-1) intervals, rounding, and no limit for 0', () => {
    assert.deepEqual(limitOf(3, 1), { intervalNs: 333_333_333n, toleranceNs: 0n });
    assert.deepEqual(limitOf(100_000_000, 10), { intervalNs: 10n, toleranceNs: 90n });
    assert.deepEqual(limitOf(0, 5), NO_LIMIT);
  });

  it('ratelimit disabled: no rows and no default limit, whatever the rules say', () => {
    const out = compile('ratelimit:\n  enabled: false\n  default_rate: 100\n  rules:\n    - { id: a, rate: 1 }\n');
    assert.deepEqual(out.rows, []);
    assert.deepEqual(out.header.dflt, NO_LIMIT);
  });

  it('default limit and housekeeping go to the header', () => {
    const out = compile('ratelimit:\n  enabled: true\n  default_rate: 200\n  default_burst: 20\n  event_sample_every: 7\n  bucket_idle_timeout_secs: 30\n  housekeeping_interval_secs: 2\n');
    assert.deepEqual(out.header.dflt, { intervalNs: 5_000_000n, toleranceNs: 95_000_000n });
    assert.equal(out.header.sampleEvery, 7);
    assert.deepEqual(out.housekeeping, { maxIdleNs: 30_000_000_000n, periodNs: 2_000_000_000n });
    assert.deepEqual(compile('ratelimit:\n  enabled: true\n  default_rate: 200\n').header.dflt, { intervalNs: 5_000_000n, toleranceNs: 995_000_000n }, 'burst = rate by default');
  });
});

describe('compileRatelimit: ddos header', () => {
  it('off by default: no guard, no cookies', () => {
    const h = compile('').header;
    for (const k of ['synAgg', 'synSrc', 'udpAgg', 'udpSrc', 'icmpAgg', 'icmpSrc', 'cookieThreshold'] as const) assert.deepEqual(h[k], NO_LIMIT, k);
    assert.equal(h.cookieMode, rl_cookie_mode.RL_COOKIE_OFF);
    assert.equal(compile('').synCookies, false);
  });

  it('syn_protection: always (threshold_mode false) or above a threshold measured over 100 ms', () => {
    const always = compile('ddos:\n  enabled: true\n  syn_protection: { enabled: true, threshold_mode: false }\n');
    assert.equal(always.header.cookieMode, rl_cookie_mode.RL_COOKIE_ALWAYS);
    assert.deepEqual(always.header.cookieThreshold, NO_LIMIT);
    assert.equal(always.synCookies, true);
    const thr = compile('ddos:\n  enabled: true\n  syn_protection: { enabled: true, threshold_pps: 5000 }\n');
    assert.equal(thr.header.cookieMode, rl_cookie_mode.RL_COOKIE_THRESHOLD);
    assert.deepEqual(thr.header.cookieThreshold, { intervalNs: 200_000n, toleranceNs: 499n * 200_000n });
    // ddos off wins over a section prepared underneath it
    const off = compile('ddos:\n  enabled: false\n  syn_protection: { enabled: true, threshold_mode: false }\n');
    assert.equal(off.header.cookieMode, rl_cookie_mode.RL_COOKIE_OFF);
    assert.equal(off.synCookies, false);
  });

  it('guards: aggregate and per-source limits with a one-second burst; a disabled guard stays unlimited', () => {
    const h = compile(
      'ddos:\n  enabled: true\n  syn_flood: { enabled: true, max_pps: 1000, per_source_pps: 10 }\n  udp_protection: { enabled: true, per_source_pps: 4 }\n  icmp_protection: { enabled: false, max_pps: 50 }\n',
    ).header;
    assert.deepEqual(h.synAgg, { intervalNs: 1_000_000n, toleranceNs: 999_000_000n });
    assert.deepEqual(h.synSrc, { intervalNs: 100_000_000n, toleranceNs: 900_000_000n });
    assert.deepEqual(h.udpAgg, NO_LIMIT);
    assert.deepEqual(h.udpSrc, { intervalNs: 250_000_000n, toleranceNs: 750_000_000n });
    assert.deepEqual([h.icmpAgg, h.icmpSrc], [NO_LIMIT, NO_LIMIT]);
    assert.equal(h.cookieMode, rl_cookie_mode.RL_COOKIE_OFF);
  });
});
