import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/catalog.js';
import { type FirewallConfig, type FirewallRuleConfig } from '../../src/engines/firewall/schema.js';
import { compileFirewall, FirewallCompileError, type CompiledFirewall } from '../../src/engines/firewall/compile.js';
import { parseCidr } from '../../src/net/ip.js';
import { fw_limits, fw_match } from '../../src/kernel/contract.gen.js';

const HEAD = 'agent:\n  interfaces: [eth1]\n';

function compile(firewallYaml: string): CompiledFirewall {
  const c = parseConfigText(`${HEAD}firewall:\n${firewallYaml}`, 'config.yaml');
  return compileFirewall(c.firewall, c.resolved.firewall.aliases);
}

describe('firewall compile: order and shape', () => {
  it('sorts by priority, leaves disabled rules out', () => {
    const c = compile(`  rules:
    - { id: c, priority: 30, action: allow }
    - { id: a, priority: 10, action: deny }
    - { id: off, priority: 5, action: deny, enabled: false }
    - { id: b, priority: 20, action: log }
`);
    assert.deepEqual(
      c.rules.map((r) => [r.ruleId, r.priority, r.action, r.family, r.match]),
      [
        ['a', 10, 'drop', 0, 0],
        ['b', 20, 'log', 0, 0],
        ['c', 30, 'pass', 0, 0],
      ],
    );
    assert.equal(c.defaultAction, 'pass');
    assert.equal(c.mode, 'block');
    assert.deepEqual(c.sets, []);
  });

  it('a single CIDR becomes a pre-masked network with its mask', () => {
    const c = compile(`  rules:
    - { id: a, priority: 1, action: deny, src_ip: 198.18.0.77/24, dst_ip: 198.18.1.1 }
    - { id: b, priority: 2, action: deny, src_ip: "2001:db8:66:1::5/48" }
`);
    const [a, b] = c.rules;
    assert.equal(a!.family, 4);
    assert.equal(a!.match, fw_match.FW_M_SRC_NET | fw_match.FW_M_DST_NET);
    assert.equal(a!.srcNet!.addr.toString('hex'), 'c6120000' + '00'.repeat(12));
    assert.equal(a!.srcNet!.mask().toString('hex'), 'ffffff00' + '00'.repeat(12));
    assert.equal(a!.dstNet!.mask().toString('hex'), 'ffffffff' + '00'.repeat(12));
    assert.equal(b!.family, 6);
    assert.equal(b!.match, fw_match.FW_M_SRC_NET);
    assert.equal(`${b!.srcNet}`, '2001:db8:66::/48');
    assert.equal(b!.srcNet!.mask().toString('hex'), 'ff'.repeat(6) + '00'.repeat(10));
  });

  it('a /0 keeps the family but needs no address compare', () => {
    const c = compile(`  rules:
    - { id: all4, priority: 1, action: log, src_ip: 0.0.0.0/0 }
    - { id: all6, priority: 2, action: log, src_ip: "::/0" }
`);
    assert.deepEqual(
      c.rules.map((r) => [r.family, r.match]),
      [
        [4, 0],
        [6, 0],
      ],
    );
  });

  it('a list mixing v4 and v6 becomes two adjacent kernel rules, IPv4 first', () => {
    const c = compile(`  rules:
    - { id: first, priority: 1, action: allow, protocol: tcp, dst_port: 22 }
    - { id: mixed, priority: 5, action: deny, src_ip: ["2001:db8:66::/48", 198.18.0.66] }
    - { id: last, priority: 9, action: allow }
`);
    assert.deepEqual(
      c.rules.map((r) => [r.ruleId, r.family]),
      [
        ['first', 0],
        ['mixed', 4],
        ['mixed', 6],
        ['last', 0],
      ],
    );
    assert.equal(`${c.rules[1]!.srcNet}`, '198.18.0.66/32');
    assert.equal(`${c.rules[2]!.srcNet}`, '2001:db8:66::/48');
    assert.deepEqual(c.sets, []);
  });

  it('a list of more than one CIDR of a family becomes an LPM set (duplicates removed)', () => {
    const c = compile(`  rules:
    - { id: r, priority: 1, action: deny, src_ip: [198.18.0.0/24, 198.18.5.0/24, "2001:db8:66::/48", 198.18.0.9/24] }
`);
    assert.deepEqual(
      c.rules.map((r) => [r.family, r.match, r.srcSet, r.srcNet && `${r.srcNet}`]),
      [
        [4, fw_match.FW_M_SRC_SET, 0, null],
        [6, fw_match.FW_M_SRC_NET, null, '2001:db8:66::/48'],
      ],
    );
    assert.equal(c.sets.length, 1);
    assert.deepEqual(c.sets[0]!.prefixes.map(String), ['198.18.0.0/24', '198.18.5.0/24']);
    assert.deepEqual(c.sets[0]!.source, { kind: 'list', ruleId: 'r', side: 'src' });
    assert.deepEqual(c.lpmEntries, { v4: 2, v6: 0 });
  });

  it('an alias is always a set, one per family, shared by the rules that use it', () => {
    const c = compile(`  aliases:
    bl: { values: [198.18.66.0/24, "2001:db8:66::/48", 198.18.67.0/24] }
    one: { values: [198.18.1.1] }
  rules:
    - { id: in, priority: 1, action: deny, src_alias: bl }
    - { id: out, priority: 2, action: log, dst_alias: bl }
    - { id: srv, priority: 3, action: allow, dst_alias: one, src_alias: bl }
`);
    assert.deepEqual(
      c.rules.map((r) => [r.ruleId, r.family, r.match, r.srcSet, r.dstSet]),
      [
        ['in', 4, fw_match.FW_M_SRC_SET, 0, null],
        ['in', 6, fw_match.FW_M_SRC_SET, 1, null],
        ['out', 4, fw_match.FW_M_DST_SET, null, 0],
        ['out', 6, fw_match.FW_M_DST_SET, null, 1],
        ['srv', 4, fw_match.FW_M_SRC_SET | fw_match.FW_M_DST_SET, 0, 2],
      ],
    );
    assert.deepEqual(
      c.sets.map((s) => [s.index, s.family, s.prefixes.map(String), s.source]),
      [
        [0, 4, ['198.18.66.0/24', '198.18.67.0/24'], { kind: 'alias', alias: 'bl' }],
        [1, 6, ['2001:db8:66::/48'], { kind: 'alias', alias: 'bl' }],
        [2, 4, ['198.18.1.1/32'], { kind: 'alias', alias: 'one' }],
      ],
    );
    // the IPv6 half of `bl` cannot meet an IPv4-only destination: warned, not fatal
    assert.deepEqual(c.warnings.map((w) => w.path), [['rules', 2, 'src_alias']]);
  });

  it('protocol icmp forces IPv4 and icmpv6 forces IPv6', () => {
    const c = compile(`  rules:
    - { id: ping4, priority: 1, action: allow, protocol: icmp, icmp_type: 8 }
    - { id: nd, priority: 2, action: allow, protocol: icmpv6, icmp_type: 135, icmp_code: 0 }
    - { id: p1, priority: 3, action: allow, protocol: 1 }
    - { id: p58, priority: 4, action: allow, protocol: 58 }
`);
    assert.deepEqual(
      c.rules.map((r) => [r.ruleId, r.family, r.proto, r.icmpType, r.icmpCode, r.match]),
      [
        ['ping4', 4, 1, 8, null, fw_match.FW_M_PROTO | fw_match.FW_M_ICMP_TYPE],
        ['nd', 6, 58, 135, 0, fw_match.FW_M_PROTO | fw_match.FW_M_ICMP_TYPE | fw_match.FW_M_ICMP_CODE],
        ['p1', 4, 1, null, null, fw_match.FW_M_PROTO],
        ['p58', 6, 58, null, null, fw_match.FW_M_PROTO],
      ],
    );
  });

  it('sets every criterion bit it needs and carries the values', () => {
    const c = compile(`  rules:
    - { id: r, priority: 7, action: deny, protocol: udp, src_port: "1024-65535", dst_port: { start: 53, end: 53 }, vlan_id: 42, dst_ip: 198.18.1.1 }
    - { id: u, priority: 8, action: deny, vlan_id: 0 }
`);
    const r = c.rules[0]!;
    assert.equal(r.match, fw_match.FW_M_PROTO | fw_match.FW_M_SRC_PORT | fw_match.FW_M_DST_PORT | fw_match.FW_M_VLAN | fw_match.FW_M_DST_NET);
    assert.deepEqual([r.proto, r.srcPort, r.dstPort, r.vlanId], [17, { lo: 1024, hi: 65535 }, { lo: 53, hi: 53 }, 42]);
    assert.deepEqual([c.rules[1]!.match, c.rules[1]!.vlanId, c.rules[1]!.family], [fw_match.FW_M_VLAN, 0, 0]);
  });
});

describe('firewall compile: modes', () => {
  it('alert mode writes deny rules and a drop default as log, and keeps what was configured', () => {
    const c = compile(`  mode: alert
  default_policy: drop
  rules:
    - { id: d, priority: 1, action: deny }
    - { id: a, priority: 2, action: allow }
    - { id: l, priority: 3, action: log }
`);
    assert.deepEqual(
      c.rules.map((r) => [r.ruleId, r.configuredAction, r.action]),
      [
        ['d', 'drop', 'log'],
        ['a', 'pass', 'pass'],
        ['l', 'log', 'log'],
      ],
    );
    assert.equal(c.defaultAction, 'log');
    assert.equal(c.mode, 'alert');
  });

  it('block mode keeps drop', () => {
    const c = compile(`  default_policy: drop\n  rules:\n    - { id: d, priority: 1, action: deny }\n`);
    assert.equal(c.rules[0]!.action, 'drop');
    assert.equal(c.defaultAction, 'drop');
  });
});

describe('firewall compile: errors', () => {
  /** A section as the schema would produce it, built by hand to call the compiler alone. */
  const fw = (rules: FirewallRuleConfig[]): FirewallConfig => ({ enabled: true, mode: 'block', default_policy: 'pass', rules, aliases: {} });

  it('refuses more than FW_MAX_RULES kernel rules, naming the count', () => {
    // 8193 config rules, each split into IPv4 + IPv6 = 16386 kernel rules
    const lines = Array.from({ length: 8193 }, (_, i) => `    - { id: r${i}, priority: ${i + 1}, action: deny, src_ip: [198.18.${i >> 8}.${i & 255}, "2001:db8::${i.toString(16)}"] }`);
    assert.throws(
      () => compile(`  rules:\n${lines.join('\n')}\n`),
      (e: unknown) => /firewall\.rules: 16386 kernel rules \(config rules split per address family\) exceed the limit of 16384/.test(String((e as Error).message)),
    );
    // exactly at the limit is fine
    const ok = compile(`  rules:\n${lines.slice(0, 8192).join('\n')}\n`);
    assert.equal(ok.rules.length, fw_limits.FW_MAX_RULES);
  });

  it('throws FirewallCompileError with section-relative paths when used without the loader', () => {
    const bad = fw([
      { id: 'x', priority: 1, action: 'drop', enabled: true, protocol: null, src_alias: 'gone' },
      { id: 'y', priority: 2, action: 'drop', enabled: true, protocol: 1, dst_ip: [parseCidr('2001:db8::1')] },
    ]);
    assert.throws(
      () => compileFirewall(bad, new Map()),
      (e: unknown) =>
        e instanceof FirewallCompileError &&
        e.issues.length === 2 &&
        JSON.stringify(e.issues[0]!.path) === '["rules",0,"src_alias"]' &&
        /unknown alias "gone"/.test(e.issues[0]!.message) &&
        JSON.stringify(e.issues[1]!.path) === '["rules",1,"dst_ip"]' &&
        /protocol icmp is IPv4 only/.test(e.issues[1]!.message),
    );
  });

  it('an alias with only the wrong family for the rule is an error', () => {
    assert.throws(
      () =>
        compile(`  aliases:
    v6only: { values: ["2001:db8:66::/48"] }
  rules:
    - { id: p, priority: 1, action: deny, protocol: icmp, src_alias: v6only }
`),
      /firewall\.rules\[0\]\.src_alias: no address family is left for this rule: src_alias is IPv6, protocol icmp is IPv4/,
    );
  });
});
