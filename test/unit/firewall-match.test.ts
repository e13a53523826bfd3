import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/catalog.js';
import { compileFirewall, matchPacket, type CompiledFirewall, type PacketFacts } from '../../src/engines/firewall/compile.js';
import { parseAddress } from '../../src/net/ip.js';

function compile(firewallYaml: string): CompiledFirewall {
  const c = parseConfigText(`agent:\n  interfaces: [eth1]\nfirewall:\n${firewallYaml}`, 'config.yaml');
  return compileFirewall(c.firewall, c.resolved.firewall.aliases);
}

type P = Omit<PacketFacts, 'src' | 'dst' | 'family'> & { src: string; dst: string };
function pkt(p: P): PacketFacts {
  const s = parseAddress(p.src);
  const d = parseAddress(p.dst);
  assert.equal(s.family, d.family);
  return { ...p, family: s.family, src: s.addr, dst: d.addr };
}

const verdict = (c: CompiledFirewall, p: P): string => {
  const r = matchPacket(c, pkt(p));
  return `${r.action}:${r.ruleId ?? 'default'}`;
};

const TCP = 6;
const UDP = 17;
const ICMP = 1;
const ICMPV6 = 58;

describe('firewall reference matcher', () => {
  const policy = compile(`  default_policy: drop
  aliases:
    attackers: { values: [198.18.0.66/32, 203.0.113.0/24, "2001:db8:66::/48", "2001:db8:77::1"] }
  rules:
    - { id: block-attackers, priority: 10, action: deny, src_alias: attackers }
    - { id: ssh-client, priority: 20, action: allow, protocol: tcp, dst_port: 22, src_ip: [198.18.0.10, "2001:db8:10::10"] }
    - { id: web, priority: 30, action: allow, protocol: tcp, dst_port: "80-443", dst_ip: [198.18.1.1, "2001:db8:1::1"] }
    - { id: dns, priority: 40, action: allow, protocol: udp, dst_port: 53, src_port: "1024-65535" }
    - { id: ping, priority: 50, action: log, protocol: icmp, icmp_type: 8, icmp_code: 0 }
    - { id: nd, priority: 60, action: allow, protocol: icmpv6, icmp_type: 135 }
    - { id: vlan7, priority: 70, action: allow, vlan_id: 7 }
    - { id: untagged-udp, priority: 80, action: log, protocol: udp, vlan_id: 0 }
`);

  it('IPv4: a set member is dropped before any allow rule', () => {
    assert.equal(verdict(policy, { src: '198.18.0.66', dst: '198.18.1.1', proto: TCP, srcPort: 40000, dstPort: 80 }), 'drop:block-attackers');
    assert.equal(verdict(policy, { src: '203.0.113.200', dst: '198.18.1.1', proto: TCP, srcPort: 40000, dstPort: 80 }), 'drop:block-attackers');
    assert.equal(verdict(policy, { src: '203.0.114.1', dst: '198.18.1.1', proto: TCP, srcPort: 40000, dstPort: 80 }), 'pass:web');
  });

  it('IPv6: set members by prefix, host entries exact', () => {
    assert.equal(verdict(policy, { src: '2001:db8:66:ffff::1', dst: '2001:db8:1::1', proto: TCP, dstPort: 443 }), 'drop:block-attackers');
    assert.equal(verdict(policy, { src: '2001:db8:77::1', dst: '2001:db8:1::1', proto: TCP, dstPort: 443 }), 'drop:block-attackers');
    assert.equal(verdict(policy, { src: '2001:db8:77::2', dst: '2001:db8:1::1', proto: TCP, dstPort: 443 }), 'pass:web');
    assert.equal(verdict(policy, { src: '2001:db8:67::1', dst: '2001:db8:1::1', proto: TCP, dstPort: 443 }), 'pass:web');
  });

  it('port ranges are inclusive at both ends', () => {
    for (const [port, want] of [
      [79, 'drop:default'],
      [80, 'pass:web'],
      [443, 'pass:web'],
      [444, 'drop:default'],
    ] as const) {
      assert.equal(verdict(policy, { src: '198.18.0.20', dst: '198.18.1.1', proto: TCP, srcPort: 5555, dstPort: port }), want, `port ${port}`);
      assert.equal(verdict(policy, { src: '2001:db8:20::1', dst: '2001:db8:1::1', proto: TCP, srcPort: 5555, dstPort: port }), want, `v6 port ${port}`);
    }
    assert.equal(verdict(policy, { src: '198.18.0.20', dst: '198.18.9.9', proto: UDP, srcPort: 1024, dstPort: 53 }), 'pass:dns');
    assert.equal(verdict(policy, { src: '198.18.0.20', dst: '198.18.9.9', proto: UDP, srcPort: 1023, dstPort: 53 }), 'log:untagged-udp');
  });

  it('a host list matches only its own family member', () => {
    assert.equal(verdict(policy, { src: '198.18.0.10', dst: '198.18.1.1', proto: TCP, dstPort: 22 }), 'pass:ssh-client');
    assert.equal(verdict(policy, { src: '2001:db8:10::10', dst: '2001:db8:1::1', proto: TCP, dstPort: 22 }), 'pass:ssh-client');
    assert.equal(verdict(policy, { src: '198.18.0.11', dst: '198.18.1.1', proto: TCP, dstPort: 22 }), 'drop:default');
    // protocol must match too
    assert.equal(verdict(policy, { src: '198.18.0.10', dst: '198.18.1.1', proto: UDP, dstPort: 22 }), 'log:untagged-udp');
  });

  it('ICMP type and code, per family', () => {
    assert.equal(verdict(policy, { src: '198.18.0.20', dst: '198.18.1.1', proto: ICMP, icmpType: 8, icmpCode: 0 }), 'log:ping');
    assert.equal(verdict(policy, { src: '198.18.0.20', dst: '198.18.1.1', proto: ICMP, icmpType: 8, icmpCode: 1 }), 'drop:default');
    assert.equal(verdict(policy, { src: '198.18.0.20', dst: '198.18.1.1', proto: ICMP, icmpType: 0, icmpCode: 0 }), 'drop:default');
    assert.equal(verdict(policy, { src: 'fe80::1', dst: 'ff02::1:ff00:1', proto: ICMPV6, icmpType: 135, icmpCode: 0 }), 'pass:nd');
    // echo request over IPv6 is not the IPv4 ping rule
    assert.equal(verdict(policy, { src: '2001:db8:20::1', dst: '2001:db8:1::1', proto: ICMPV6, icmpType: 128, icmpCode: 0 }), 'drop:default');
  });

  it('VLAN: an id matches that tag; 0 matches untagged only', () => {
    assert.equal(verdict(policy, { src: '198.18.0.20', dst: '198.18.9.9', proto: 47, vlanId: 7, vlanDepth: 1 }), 'pass:vlan7');
    assert.equal(verdict(policy, { src: '198.18.0.20', dst: '198.18.9.9', proto: 47, vlanId: 8, vlanDepth: 1 }), 'drop:default');
    assert.equal(verdict(policy, { src: '198.18.0.20', dst: '198.18.9.9', proto: UDP, srcPort: 9, dstPort: 9 }), 'log:untagged-udp');
    assert.equal(verdict(policy, { src: '198.18.0.20', dst: '198.18.9.9', proto: UDP, srcPort: 9, dstPort: 9, vlanId: 9, vlanDepth: 1 }), 'drop:default');
    // a priority tag (VID 0) is a tag: not "untagged"
    assert.equal(verdict(policy, { src: '2001:db8:20::1', dst: '2001:db8:9::9', proto: UDP, srcPort: 9, dstPort: 9, vlanId: 0, vlanDepth: 1 }), 'drop:default');
    assert.equal(verdict(policy, { src: '2001:db8:20::1', dst: '2001:db8:9::9', proto: UDP, srcPort: 9, dstPort: 9 }), 'log:untagged-udp');
  });

  it('a later fragment has no ports: port and ICMP rules do not match it, address rules do', () => {
    assert.equal(verdict(policy, { src: '198.18.0.20', dst: '198.18.1.1', proto: TCP, dstPort: 80, laterFragment: true }), 'drop:default');
    assert.equal(verdict(policy, { src: '198.18.0.20', dst: '198.18.1.1', proto: ICMP, icmpType: 8, laterFragment: true }), 'drop:default');
    assert.equal(verdict(policy, { src: '198.18.0.66', dst: '198.18.1.1', proto: TCP, laterFragment: true }), 'drop:block-attackers');
    assert.equal(verdict(policy, { src: '198.18.0.20', dst: '198.18.1.1', proto: UDP, laterFragment: true }), 'log:untagged-udp');
  });

  it('first match wins by priority, not by position in the file', () => {
    const c = compile(`  rules:
    - { id: late-allow, priority: 20, action: allow, protocol: tcp }
    - { id: early-deny, priority: 10, action: deny, protocol: tcp, dst_port: 23 }
`);
    assert.equal(verdict(c, { src: '198.18.0.1', dst: '198.18.0.2', proto: TCP, dstPort: 23 }), 'drop:early-deny');
    assert.equal(verdict(c, { src: '2001:db8::1', dst: '2001:db8::2', proto: TCP, dstPort: 24 }), 'pass:late-allow');
    assert.equal(verdict(c, { src: '2001:db8::1', dst: '2001:db8::2', proto: UDP, dstPort: 23 }), 'pass:default');
  });

  it('a family-less rule matches both families; a family rule only its own', () => {
    const c = compile(`  default_policy: drop
  rules:
    - { id: v4net, priority: 1, action: log, dst_ip: 0.0.0.0/0 }
    - { id: any, priority: 2, action: allow, protocol: tcp }
`);
    assert.equal(verdict(c, { src: '198.18.0.1', dst: '198.18.0.2', proto: TCP }), 'log:v4net');
    assert.equal(verdict(c, { src: '2001:db8::1', dst: '2001:db8::2', proto: TCP }), 'pass:any');
    // an IPv4 net never matches an IPv6 packet whose first bytes look alike
    const d = compile(`  rules:\n    - { id: n, priority: 1, action: deny, src_ip: 32.1.13.184/32 }\n`);
    assert.equal(verdict(d, { src: '2001:db8::', dst: '2001:db8::1', proto: TCP }), 'pass:default');
    assert.equal(verdict(d, { src: '32.1.13.184', dst: '198.18.0.1', proto: TCP }), 'drop:n');
  });

  it('alert mode reports log where block mode drops', () => {
    const c = compile(`  mode: alert\n  default_policy: drop\n  rules:\n    - { id: d, priority: 1, action: deny, protocol: tcp }\n`);
    assert.equal(verdict(c, { src: '198.18.0.1', dst: '198.18.0.2', proto: TCP }), 'log:d');
    assert.equal(verdict(c, { src: '2001:db8::1', dst: '2001:db8::2', proto: UDP }), 'log:default');
  });

  it('sets with mixed prefix lengths find the covering prefix', () => {
    const c = compile(`  rules:
    - { id: s, priority: 1, action: deny, src_ip: [10.0.0.0/8, 10.1.2.3, 192.0.2.128/25, "2001:db8::/32", "2001:db8:ffff::1"] }
`);
    for (const [a, want] of [
      ['10.200.1.1', 'drop:s'],
      ['10.1.2.3', 'drop:s'],
      ['11.0.0.0', 'pass:default'],
      ['192.0.2.128', 'drop:s'],
      ['192.0.2.127', 'pass:default'],
      ['2001:db8:1234::9', 'drop:s'],
      ['2001:db9::', 'pass:default'],
    ] as const) {
      const dst = a.includes(':') ? '2001:db8::1' : '198.18.0.1';
      assert.equal(verdict(c, { src: a, dst, proto: TCP }), want, a);
    }
  });
});
