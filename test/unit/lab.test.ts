// The pure parts of the namespace lab: names, address helpers, the gateway and router addressing
// plans and spec validation. Nothing here touches the kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IFNAME_MAX, ifName, isRunPrefix, newRunPrefix, nsName, vlanIfName, RUN_PREFIX_LEN } from '../../src/lab/names.js';
import { bytesToIpv6, canonicalIp, cidrContains, ipv6ToBytes, parseCidr } from '../../src/lab/inet.js';
import { GATEWAY_PLAN, checkGatewayPlan, gatewayLabSpec } from '../../src/lab/gateway.js';
import { ROUTER_PLAN, checkRouterPlan, routerLabSpec } from '../../src/lab/router.js';
import { validateSpec, type LabSpec, type LinkEnd } from '../../src/lab/netns.js';
import { decodePcap, encodePcap } from '../../src/lab/pcap.js';

test('run prefixes are "esn" + 4 base-36 chars and follow the random source', () => {
  const fixed = (n: number): Buffer => Buffer.from([0, 35, 36, 71].slice(0, n));
  assert.equal(newRunPrefix(fixed), 'esn0z0z');
  for (let i = 0; i < 50; i++) {
    const p = newRunPrefix();
    assert.equal(p.length, RUN_PREFIX_LEN);
    assert.ok(isRunPrefix(p), p);
  }
  assert.equal(isRunPrefix('esnABCD'), false);
  assert.equal(isRunPrefix('esn12345'), false);
});

test('interface names stay within 15 chars or are refused with the limit named', () => {
  const prefix = 'esnzzzz';
  assert.equal(ifName(prefix, 'gwout'), 'esnzzzzgwout');
  assert.equal(ifName(prefix, 'abcdefgh').length, IFNAME_MAX);
  assert.throws(() => ifName(prefix, 'abcdefghi'), /"esnzzzzabcdefghi" is 16 chars; Linux allows 15 \(role "abcdefghi" may have at most 8\)/);
  assert.throws(() => ifName(prefix, 'Bad-Role'), /interface role "Bad-Role"/);
  assert.equal(vlanIfName('esnzzzzgwout', 100), 'esnzzzzgwou.100');
  assert.equal(vlanIfName('esnzzzzgwout', 4094).length, IFNAME_MAX);
  assert.equal(vlanIfName('esnzzzzc', 7), 'esnzzzzc.7');
  assert.throws(() => vlanIfName('x', 4095), /VLAN id 4095 is outside 1\.\.4094/);
  assert.equal(nsName(prefix, 'server'), 'esnzzzz-server');
  assert.throws(() => nsName(prefix, 'Server!'), /lab host name "Server!"/);
});

test('addresses in every tool spelling compare equal after canonicalIp', () => {
  // socat prints IPv6 fully expanded, in brackets.
  assert.equal(canonicalIp('[2001:0db8:0000:0001:0000:0000:0000:0001]'), '2001:db8:0:1::1');
  assert.equal(canonicalIp('2001:DB8::10'), '2001:db8::10');
  assert.equal(canonicalIp('198.18.0.10'), '198.18.0.10');
  // RFC 5952: the longest zero run is compressed, the first on a tie, never a single group.
  assert.equal(bytesToIpv6(ipv6ToBytes('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
  assert.equal(bytesToIpv6(ipv6ToBytes('2001:db8:0:1:1:1:1:1')), '2001:db8:0:1:1:1:1:1');
  assert.equal(bytesToIpv6(ipv6ToBytes('::')), '::');
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad.
  assert.equal(bytesToIpv6(ipv6ToBytes('::ffff:198.18.0.1')), '::ffff:198.18.0.1');
  assert.throws(() => canonicalIp('2001:db8::g'), /not an IPv4 or IPv6 address/);
  assert.equal(cidrContains('198.18.0.0/24', '198.18.0.255'), true);
  assert.equal(cidrContains('198.18.0.0/24', '198.18.1.0'), false);
  assert.equal(cidrContains('2001:db8::/64', '2001:db8::ffff'), true);
  assert.equal(cidrContains('2001:db8::/64', '2001:db8:0:1::1'), false);
  assert.equal(cidrContains('198.18.0.0/15', '2001:db8::1'), false);
  assert.throws(() => parseCidr('198.18.0.0/33'), /bad prefix length \(0\.\.32\)/);
  assert.throws(() => parseCidr('198.18.0.0'), /has no \/prefix/);
});

/** What every lab plan must hold: one v4 and one v6 address per addressed end, inside the test
 * ranges, unique addresses and MACs (locally administered); returns the link ends. */
function checkAddressing(spec: LabSpec): LinkEnd[] {
  const ends: LinkEnd[] = spec.links.flatMap((l) => [l.a, l.b]);
  const addressed = ends.filter((e) => (e.addrs ?? []).length > 0);
  // Every addressed end has exactly one v4 and one v6 address, inside the test ranges.
  for (const e of addressed) {
    const fams = (e.addrs ?? []).map((c) => parseCidr(c));
    assert.deepEqual(fams.map((f) => f.family).sort(), [4, 6], e.ifname);
    for (const f of fams) assert.ok(f.family === 4 ? cidrContains('198.18.0.0/15', f.addr) : cidrContains('2001:db8::/32', f.addr), `${f.addr} outside the test ranges`);
  }
  const all = addressed.flatMap((e) => (e.addrs ?? []).map((c) => parseCidr(c).addr));
  assert.equal(new Set(all).size, all.length, 'addresses are unique');
  const macs = ends.flatMap((e) => (e.mac ? [e.mac] : []));
  assert.equal(new Set(macs).size, macs.length, 'MACs are unique');
  for (const m of macs) assert.equal(parseInt(m.slice(0, 2), 16) & 0x03, 0x02, `${m} is locally administered unicast`);
  return ends;
}

test('the gateway plan is consistent: segments, gateways, families, uniqueness', () => {
  checkGatewayPlan();
  const spec = gatewayLabSpec();
  validateSpec(spec);
  const ends = checkAddressing(spec);
  // Each host's default gateway is an address of gw on the host's own segment.
  const gwAddrs = ends.filter((e) => e.host === 'gw').flatMap((e) => (e.addrs ?? []).map((c) => parseCidr(c)));
  for (const r of spec.routes ?? []) {
    const own = ends.filter((e) => e.host === r.host).flatMap((e) => e.addrs ?? []);
    const onLink = own.some((c) => {
      const p = parseCidr(c);
      return cidrContains(`${p.addr}/${p.prefix}`, r.via);
    });
    assert.ok(onLink, `${r.host}: gateway ${r.via} is not on its segment`);
    assert.ok(gwAddrs.some((g) => g.addr === canonicalIp(r.via)), `${r.host}: ${r.via} is not a gw address`);
  }
  assert.equal(spec.hosts.find((h) => h.name === 'gw')?.forwarding, true);
  // The XDP attach point is a plain veth of gw, not a bridge.
  const gwout = ends.find((e) => e.host === 'gw' && e.ifname === GATEWAY_PLAN.gwOutside.role);
  assert.ok(gwout && gwout.bridge === undefined);
  // Names fit with the longest possible prefix.
  for (const e of ends) assert.ok(ifName('esnzzzz', e.ifname).length <= IFNAME_MAX);
  // Client and attacker share the outside segment; the server is on the inside one.
  assert.ok(cidrContains(GATEWAY_PLAN.outside4, GATEWAY_PLAN.client.ipv4) && cidrContains(GATEWAY_PLAN.outside4, GATEWAY_PLAN.attacker.ipv4));
  assert.ok(cidrContains(GATEWAY_PLAN.inside6, GATEWAY_PLAN.server.ipv6) && !cidrContains(GATEWAY_PLAN.outside6, GATEWAY_PLAN.server.ipv6));
});

test('the router plan is consistent: LAN apart from WAN, hosts route via their own segment, nothing routes to the LAN', () => {
  checkRouterPlan();
  const spec = routerLabSpec();
  validateSpec(spec);
  const ends = checkAddressing(spec);
  for (const e of ends) assert.ok(ifName('esnzzzz', e.ifname).length <= IFNAME_MAX, e.ifname);
  // Every route's next hop is on a segment of the host that holds the route.
  for (const r of spec.routes ?? []) {
    const own = ends.filter((e) => e.host === r.host).flatMap((e) => e.addrs ?? []);
    assert.ok(
      own.some((c) => {
        const p = parseCidr(c);
        return cidrContains(`${p.addr}/${p.prefix}`, r.via);
      }),
      `${r.host}: next hop ${r.via} is not on its segment`,
    );
  }
  // The LAN is the router's alone: no route anywhere leads to it and no host outside it has an
  // address in it, so a reply to an untranslated LAN address has nowhere to go.
  const S = ROUTER_PLAN.segments;
  for (const r of spec.routes ?? []) if (r.to !== 'default') assert.ok(!cidrContains(r.to, ROUTER_PLAN.client.ipv4) && !cidrContains(r.to, ROUTER_PLAN.client.ipv6), `${r.host} routes ${r.to} to the LAN`);
  const lanHosts = new Set(ends.filter((e) => (e.addrs ?? []).some((c) => cidrContains(S.lan4, parseCidr(c).addr))).map((e) => e.host));
  assert.deepEqual([...lanHosts].sort(), ['client', 'lansrv', 'router']);
  // Only the router and upstream forward; the router sends no redirects (hairpin would teach bypassing).
  assert.deepEqual(spec.hosts.filter((h) => h.forwarding).map((h) => h.name).sort(), ['isp', 'router']);
  assert.equal(spec.hosts.find((h) => h.name === 'router')?.sysctls?.['net.ipv4.conf.all.send_redirects'], '0');
  // The agent's attach points are plain veths of the router, one on each side.
  const rt = ends.filter((e) => e.host === 'router');
  assert.deepEqual(rt.map((e) => e.ifname).sort(), [ROUTER_PLAN.routerLan.role, ROUTER_PLAN.routerWan.role].sort());
  assert.ok(rt.every((e) => e.bridge === undefined));
  // The far link is the narrow one (IPv6 minimum MTU), so a full-size packet draws a too-big error upstream.
  const far = spec.links.find((l) => l.b.host === 'server');
  assert.equal(far?.mtu, 1280);
  // Upstream sends the pool to the router's WAN address.
  assert.ok((spec.routes ?? []).some((r) => r.host === 'isp' && r.to === S.pool4 && r.via === ROUTER_PLAN.routerWan.ipv4));
  assert.ok((spec.routes ?? []).some((r) => r.host === 'isp' && r.to === S.pool6 && r.via === ROUTER_PLAN.routerWan.ipv6));
});

test('lab specs with mistakes are refused naming the mistake', () => {
  const base = (): LabSpec => ({ name: 't', hosts: [{ name: 'a' }, { name: 'b' }], links: [{ a: { host: 'a', ifname: 'x' }, b: { host: 'b', ifname: 'y' } }] });
  validateSpec(base());
  const unknownHost = base();
  unknownHost.links[0]!.b.host = 'c';
  assert.throws(() => validateSpec(unknownHost), /link 0 \(y\) names unknown host "c"/);
  const dupIf = base();
  dupIf.links[0]!.b.ifname = 'x';
  assert.throws(() => validateSpec(dupIf), /interface "x" declared twice/);
  const badCidr = base();
  badCidr.links[0]!.a.addrs = ['198.18.0.1/40'];
  assert.throws(() => validateSpec(badCidr), /CIDR "198\.18\.0\.1\/40" has a bad prefix length/);
  const noBridge = base();
  noBridge.links[0]!.a.bridge = 'br';
  assert.throws(() => validateSpec(noBridge), /joins unknown bridge "br" on a/);
  const dupHost = base();
  dupHost.hosts.push({ name: 'a' });
  assert.throws(() => validateSpec(dupHost), /host "a" is declared twice/);
  const longRole = base();
  longRole.links[0]!.a.ifname = 'waytoolongname';
  assert.throws(() => validateSpec(longRole), /Linux allows 15/);
  const badRoute = base();
  badRoute.routes = [{ host: 'a', to: 'default', via: 'gateway' }];
  assert.throws(() => validateSpec(badRoute), /not an IPv4 or IPv6 address: "gateway"/);
});

test('pcap decoding stops at a partial trailing record instead of inventing a packet', () => {
  const whole = encodePcap([Buffer.alloc(60, 1), Buffer.alloc(60, 2)]);
  const cut = whole.subarray(0, whole.length - 10);
  const f = decodePcap(cut);
  assert.equal(f.records.length, 1);
  assert.equal(f.records[0]!.data[0], 1);
  assert.equal(decodePcap(whole).records.length, 2);
});
