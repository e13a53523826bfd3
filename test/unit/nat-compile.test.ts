// The `nat` section → kernel rules (src/engines/nat/compile.ts), without a kernel: what each type
// expands to, the order (priority, then the file's), families, protocols and interfaces, the
// hairpin, stable rule ids, and the errors that name the key at fault.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../../src/catalog.js';
import { compileNat, natRuleId, NatCompileError, HAIRPIN_RULE } from '../../src/engines/nat/compile.js';
import { parseAddress, prefixMask } from '../../src/net/ip.js';

const IFACES = [
  { ifname: 'lan0', ifindex: 3 },
  { ifname: 'wan0', ifindex: 4 },
];

function nat(yaml: string): ReturnType<typeof compileNat> {
  const c = parseConfigText(`agent:\n  interfaces: [lan0, wan0]\nconntrack:\n  enabled: true\nnat:\n  enabled: true\n${yaml}`, 'c.yaml');
  return compileNat(c.nat, IFACES);
}

function configError(yaml: string): string {
  try {
    parseConfigText(`agent:\n  interfaces: [lan0, wan0]\nnat:\n${yaml}`, 'c.yaml');
  } catch (e) {
    return (e as Error).message;
  }
  assert.fail('the config was accepted');
}

const a = (s: string): Buffer => parseAddress(s).addr;

describe('nat compile', () => {
  it('a masquerade without addresses covers both families, on its interface at egress, with its port range', () => {
    const c = nat('  snat_rules:\n    - { id: out, type: masquerade, interface: wan0, port_range: "20000-29999" }\n');
    assert.equal(c.rules.length, 2);
    assert.deepEqual(c.rules.map((r) => r.family), [4, 6]);
    for (const r of c.rules) {
      assert.equal(r.kind, 'masquerade');
      assert.equal(r.hook, 'egress');
      assert.equal(r.ifindex, 4);
      assert.deepEqual(r.toPorts, [20000, 29999]);
      assert.equal(r.proto, 0);
      assert.equal(r.ruleId, natRuleId('out'));
    }
    assert.deepEqual(c.masquerade, ['wan0']);
    assert.equal(c.ruleNames.get(natRuleId('out')), 'out');
  });

  it('a port forward with protocol any covers TCP and UDP; its port range shifts to int_port', () => {
    const c = nat('  dnat_rules:\n    - { id: web, type: port_forward, match_dst: 198.18.3.1, ext_port: "8080-8081", internal_addr: 198.18.2.20, int_port: 80 }\n');
    assert.deepEqual(c.rules.map((r) => r.proto), [6, 17]);
    for (const r of c.rules) {
      assert.equal(r.kind, 'dnat');
      assert.equal(r.hook, 'ingress');
      assert.equal(r.family, 4);
      assert.equal(r.ifindex, 0, 'every interface: hairpinned LAN packets need it on the LAN too');
      assert.deepEqual(r.dports, [8080, 8081]);
      assert.deepEqual(r.toPorts, [80, 81]);
      assert.deepEqual(r.toAddr, a('198.18.2.20'));
      assert.deepEqual(r.dst, a('198.18.3.1'));
      assert.deepEqual(r.dstMask, prefixMask(32));
    }
  });

  it('SNAT to a pool, per interface; one_to_one is a SNAT and a DNAT keeping ports', () => {
    const c = nat(
      '  snat_rules:\n' +
        '    - { id: pool, type: snat, translated_addr: "2001:db8:0:5::10-2001:db8:0:5::13", match_src: "2001:db8:0:2::/64", interfaces: [wan0, lan0] }\n' +
        '    - { id: host, type: one_to_one, external_addr: 198.18.5.7, internal_addr: 198.18.2.7 }\n',
    );
    const pool = c.rules.filter((r) => r.ruleId === natRuleId('pool'));
    assert.deepEqual(pool.map((r) => r.ifindex), [4, 3]);
    for (const r of pool) {
      assert.equal(r.poolSize, 4);
      assert.deepEqual(r.toAddr, a('2001:db8:0:5::10'));
      assert.equal(r.family, 6);
    }
    const host = c.rules.filter((r) => r.ruleId === natRuleId('host'));
    assert.deepEqual(host.map((r) => [r.kind, r.hook]), [['snat', 'egress'], ['dnat', 'ingress']]);
    assert.deepEqual(host[0]!.src, a('198.18.2.7'));
    assert.deepEqual(host[0]!.toPorts, [1, 65535]);
    assert.deepEqual(host[1]!.dst, a('198.18.5.7'));
    assert.deepEqual(host[1]!.toAddr, a('198.18.2.7'));
  });

  it('order: priority, then the file, across both lists; the hairpin first, matching only DNATed LAN-to-LAN packets', () => {
    const c = nat(
      '  snat_rules:\n    - { id: late, type: masquerade, interface: wan0, priority: 200, match_src: 198.18.2.0/24 }\n    - { id: early, type: masquerade, interface: wan0, priority: 10, match_src: 198.18.2.0/24 }\n' +
        '  dnat_rules:\n    - { id: mid, type: dnat, translated_addr: 198.18.2.20, match_dst: 198.18.3.1 }\n' +
        '  hairpin: { enabled: true, internal_subnet: 198.18.2.0/24, hairpin_snat_ip: 198.18.2.1 }\n',
    );
    assert.deepEqual(
      c.rules.map((r) => c.ruleNames.get(r.ruleId)),
      [HAIRPIN_RULE, 'early', 'mid', 'late'],
    );
    const h = c.rules[0]!;
    assert.equal(h.hairpinOnly, true);
    assert.equal(h.kind, 'snat');
    assert.deepEqual(h.src, a('198.18.2.0'));
    assert.deepEqual(h.dst, a('198.18.2.0'));
    assert.deepEqual(h.srcMask, prefixMask(24));
    assert.deepEqual(h.toAddr, a('198.18.2.1'));
  });

  it('a disabled rule is not compiled; rule ids are stable numbers', () => {
    const c = nat('  snat_rules:\n    - { id: off, type: masquerade, interface: wan0, enabled: false }\n');
    assert.equal(c.rules.length, 0);
    assert.equal(natRuleId('lan-out'), natRuleId('lan-out'));
    assert.notEqual(natRuleId('lan-out'), natRuleId('lan-in'));
  });

  it('mistakes are refused naming the key', () => {
    const err = (y: string): string => {
      try {
        nat(y);
      } catch (e) {
        assert.ok(e instanceof NatCompileError, String(e));
        return e.message;
      }
      assert.fail('compiled');
    };
    assert.match(err('  snat_rules:\n    - { id: x, type: port_forward, ext_port: 80, internal_addr: 198.18.2.20 }\n'), /nat\.snat_rules\[0\]\.type: port_forward belongs in dnat_rules/);
    assert.match(err('  snat_rules:\n    - { id: x, type: masquerade }\n'), /nat\.snat_rules\[0\]: type masquerade needs interface/);
    assert.match(err('  snat_rules:\n    - { id: x, type: masquerade, interface: eth9 }\n'), /nat\.snat_rules\[0\]\.interface: interface "eth9" is not one the agent is attached to/);
    assert.match(err('  snat_rules:\n    - { id: x, type: snat, translated_addr: 198.18.5.1, match_src: "2001:db8::/64" }\n'), /mixes IPv4 and IPv6/);
    assert.match(err('  snat_rules:\n    - { id: x, type: snat, translated_addr: 198.18.5.1, ext_port: 80 }\n'), /nat\.snat_rules\[0\]\.ext_port: does not apply to type snat/);
    assert.match(err('  dnat_rules:\n    - { id: x, type: dnat, translated_addr: 198.18.2.2, match_protocol: icmp, match_dst_port: 80 }\n'), /ports apply to tcp and udp only/);
    assert.match(err('  snat_rules:\n    - { id: x, type: masquerade, interface: wan0 }\n  dnat_rules:\n    - { id: x, type: dnat, translated_addr: 198.18.2.2 }\n'), /nat\.dnat_rules\[0\]\.id: "x" is used by another NAT rule/);
    assert.match(err('  hairpin: { enabled: true, internal_subnet: 198.18.2.0/24 }\n'), /nat\.hairpin\.hairpin_snat_ip/);
    const many = Array.from({ length: 33 }, (_, i) => `    - { id: r${i}, type: masquerade, interface: wan0 }\n`).join('');
    assert.match(err(`  snat_rules:\n${many}`), /expand to 66 kernel rules.*at most 64/);
  });

  it('the schema refuses what the reference has and we do not, by name', () => {
    assert.match(configError('  nptv6_rules: []\n'), /nptv6_rules.*not supported by this version/);
    assert.match(configError('  snat_rules:\n    - { id: x, type: redirect }\n'), /redirect.*not supported/);
    assert.match(configError('  snat_rules:\n    - { id: x, type: masquerade, interface: wan0, match_src_alias: lan }\n'), /match_src_alias.*not supported/);
    assert.match(configError('  snat_rules:\n    - { id: x, type: snat, translated_addr: "198.18.5.9-198.18.5.1" }\n'), /ends before it starts/);
    assert.match(configError('  snat_rules:\n    - { id: x, type: masquerade, interface: wan0, bogus: 1 }\n'), /unknown key "bogus"/);
  });
});
