// The real agent (`bin/ebpfsentinel run`) enforcing a policy in the gateway lab, with real
// traffic from real tools in IPv4 and IPv6: allowed traffic reaches the server, denied traffic
// never leaves the gateway, logged traffic passes and is written as EVE alerts whose fields match
// what was sent, the metrics move by at least what was sent, the status API shows the program
// attached natively, and SIGTERM detaches it and removes the pins.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import type { EchoServer } from '../../src/lab/traffic.js';
import { udpFrame } from '../support/frames.js';
import {
  agentPrerequisites,
  communityIdV1,
  defaultPolicyHits,
  eventually,
  fwCounters,
  readEve,
  ruleHits,
  SharedBpffs,
  startAgent,
  waitForEve,
  xdpState,
  type RunningAgent,
} from './agent-support.js';

const skip = agentPrerequisites();

const POLICY = `
agent:
  interfaces: [@IFACE@]
  pin_root: @PIN@
  on_exit: detach
  http_port: @PORT@
  allow_unauthenticated_api: true
  metrics_interval_ms: 200
firewall:
  default_policy: drop
  rules:
    - { id: vlan-42, priority: 3, action: deny, vlan_id: 42 }
    - { id: deny-attacker, priority: 5, action: deny, src_ip: [198.18.0.66, "2001:db8::66"] }
    - { id: nd-ns, priority: 10, action: allow, protocol: icmpv6, icmp_type: 135 }
    - { id: nd-na, priority: 11, action: allow, protocol: icmpv6, icmp_type: 136 }
    - { id: v6-rs, priority: 12, action: allow, protocol: icmpv6, icmp_type: 133 }
    - { id: v6-mld, priority: 13, action: allow, protocol: icmpv6, icmp_type: 143 }
    - { id: ping-v4, priority: 20, action: allow, protocol: icmp, icmp_type: 8, dst_ip: 198.18.1.1 }
    - { id: ping-v6, priority: 21, action: allow, protocol: icmpv6, icmp_type: 128, dst_ip: "2001:db8:0:1::1" }
    - { id: web, priority: 30, action: allow, protocol: tcp, dst_ip: [198.18.1.1, "2001:db8:0:1::1"], dst_port: 80 }
    - { id: telnet, priority: 40, action: deny, protocol: tcp, dst_port: 23 }
    - { id: dns, priority: 50, action: allow, protocol: udp, dst_port: 53, src_port: "1024-65535" }
    - { id: udp-log, priority: 60, action: log, protocol: udp, dst_port: "5000-5001" }
alerting:
  eve: { path: "@EVE@" }
storage:
  path: sentinel.db
`;
const RULES = 12;

describe('agent e2e: policy enforced on real traffic (gateway lab)', { skip: skip ?? false }, () => { // process.env.CI: agentPrerequisites() throws instead of skipping
  let g: GatewayLab;
  let bpffs: SharedBpffs;
  let a: RunningAgent;
  let iface: string;
  const servers: EchoServer[] = [];
  const server = (proto: 'tcp' | 'udp', port: number, fam: 4 | 6): EchoServer => {
    const s = servers.find((x) => x.proto === proto && x.port === port && x.family === fam);
    assert.ok(s, `server ${proto}/${port} v${fam}`);
    return s;
  };

  before(async () => {
    bpffs = SharedBpffs.mount();
    g = await buildGatewayLab();
    iface = g.gw.outside.ifname;
    a = await startAgent(g, POLICY, { pinRoot: `${bpffs.dir}/esn-agent`, name: 'agent' });
    for (const fam of [4, 6] as const) {
      servers.push(await g.lab.startTcpServer('server', 80, fam));
      servers.push(await g.lab.startTcpServer('server', 23, fam));
      servers.push(await g.lab.startTcpServer('server', 8081, fam));
      servers.push(await g.lab.startUdpServer('server', 53, fam));
      servers.push(await g.lab.startUdpServer('server', 5000, fam));
    }
  });

  after(async () => {
    if (a) await a.stop();
    await g?.destroy();
    bpffs?.unmount();
  });

  test('health, readiness and status: xdp-firewall attached in native mode, maps with fill levels', async () => {
    assert.equal((await a.api.get('/healthz')).status, 200);
    assert.equal((await a.api.get('/readyz')).status, 200);
    const st = await a.api.status();
    assert.equal(st.state, 'running');
    const fw = st.programs.find((p) => p.name === 'xdp-firewall');
    assert.ok(fw, 'xdp-firewall in status');
    assert.equal(fw.loaded, true);
    assert.deepEqual(
      fw.attachments.map((x) => ({ interface: x.interface, hook: x.hook, mode: x.mode, attached: x.attached })),
      [{ interface: iface, hook: 'xdp', mode: 'native', attached: true }],
    );
    const rules = fw.maps.find((m) => m.name === 'fw_rules');
    assert.ok(rules, 'fw_rules map reported');
    // Rules naming both families may compile to one entry per family.
    assert.ok(rules.entries >= RULES && rules.entries <= 2 * RULES, `fw_rules entries ${rules.entries}`);
    for (const m of fw.maps) {
      assert.ok(m.max_entries > 0 && m.entries >= 0 && m.entries <= m.max_entries, `${m.name}: ${m.entries}/${m.max_entries}`);
      if (m.fill_ratio !== undefined) assert.ok(Math.abs(m.fill_ratio - m.entries / m.max_entries) < 0.001, `${m.name} fill ratio`);
    }
    assert.ok(fw.maps.some((m) => m.type === 'lpm_trie'), 'LPM tries reported');
    const hitsMap = fw.maps.find((m) => m.name === 'fw_rule_hits');
    assert.equal(hitsMap?.entries, RULES, 'one hit counter slot in use per configured rule');
    const m = await a.api.metrics();
    assert.equal(m.get('ebpfsentinel_program_attached', { program: 'xdp-firewall', interface: iface, hook: 'xdp' }), 1);
    const x = await xdpState(g, 'gw', iface);
    assert.equal(x.flag, 'xdp', `ip link shows native xdp on ${iface}`);
    assert.match(x.progLine ?? '', /prog\/xdp id \d+ name xdp_firewall/);
    // Pins on the bpffs the test mounted: one link per interface, the maps by name.
    const pins = bpffs.list(a.pinRoot);
    assert.ok(pins.some((p) => p.startsWith('links/') && p.includes(iface)), `link pin in ${pins.join(' ')}`);
    assert.ok(pins.includes('maps/fw_rules'), `fw_rules pinned: ${pins.join(' ')}`);
  });

  test('ping IPv4 and IPv6 from the client is delivered and credited to its rules', async () => {
    const before = await a.api.metrics();
    const cap = await g.lab.capture('gw', g.gw.inside.ifname, 'icmp[icmptype] == 8 or icmp6[icmp6type] == 128');
    const p4 = await g.lab.ping('client', g.server.ipv4, { count: 5, intervalMs: 100 });
    const p6 = await g.lab.ping('client', g.server.ipv6, { count: 5, intervalMs: 100 });
    const seenInside = await cap.stop();
    assert.deepEqual(p4, { sent: 5, received: 5 });
    assert.deepEqual(p6, { sent: 5, received: 5 });
    assert.equal(seenInside.droppedByKernel, 0);
    assert.equal(seenInside.count, 10, 'all 10 echo requests forwarded towards the server');
    const after = await a.api.metrics();
    assert.ok(ruleHits(after, 'ping-v4') - ruleHits(before, 'ping-v4') >= 5, 'ping-v4 hits');
    assert.ok(ruleHits(after, 'ping-v6') - ruleHits(before, 'ping-v6') >= 5, 'ping-v6 hits');
    const c0 = fwCounters(before, iface);
    const c1 = fwCounters(after, iface);
    assert.ok(c1.seen - c0.seen >= 10, `seen +${c1.seen - c0.seen}`);
    assert.ok(c1.passed - c0.passed >= 10, `passed +${c1.passed - c0.passed}`);
    // allow rules do not alert
    assert.equal(readEve(a.evePath).filter((r) => r.ebpfsentinel.rule_id.startsWith('ping-')).length, 0);
  });

  test('TCP: port 80 allowed (v4, v6), port 23 denied (v4, v6) and alerted with the right 5-tuple', async () => {
    for (const fam of [4, 6] as const) {
      const dst = fam === 4 ? g.server.ipv4 : g.server.ipv6;
      const src = fam === 4 ? g.client.ipv4 : g.client.ipv6;
      const r = await g.lab.tcpConnect('client', dst, 80, { payload: `web-v${fam}\n` });
      assert.equal(r.connected, true, `TCP 80 v${fam}: ${r.error}`);
      assert.equal(r.echoed, `web-v${fam}\n`);
      assert.ok(server('tcp', 80, fam).peers().some((p) => p.addr === src), `server saw ${src} on 80`);
    }
    const before = await a.api.metrics();
    const insideCap = await g.lab.capture('gw', g.gw.inside.ifname, 'tcp port 23');
    const clientCap = await g.lab.capture('client', g.client.ifname, 'tcp dst port 23');
    for (const fam of [4, 6] as const) {
      const dst = fam === 4 ? g.server.ipv4 : g.server.ipv6;
      const r = await g.lab.tcpConnect('client', dst, 23, { payload: 'telnet\n', timeoutMs: 1500 });
      assert.equal(r.connected, false, `TCP 23 v${fam} must not connect`);
      assert.equal(server('tcp', 23, fam).peers().length, 0, 'telnet server saw nobody');
    }
    const inside = await insideCap.stop();
    const sent = await clientCap.stop();
    assert.equal(inside.count, 0, 'nothing to port 23 left the gateway towards the server');
    assert.ok(sent.count >= 2, `client sent ${sent.count} SYNs to port 23`);
    const after = await a.api.metrics();
    const hits = ruleHits(after, 'telnet') - ruleHits(before, 'telnet');
    assert.ok(hits >= sent.count, `telnet rule hits +${hits} >= ${sent.count} SYNs sent`);
    assert.ok(fwCounters(after, iface).dropped - fwCounters(before, iface).dropped >= sent.count, 'dropped counter moved');
    assert.ok(ruleHits(after, 'web') >= 2 * 3, 'web rule counted the allowed handshakes');

    // One alert per dropped packet, each naming what was sent.
    const parsedSent = sent.records.map((rec) => {
      const fam = rec.data.readUInt16BE(12) === 0x0800 ? 4 : 6;
      const l4 = fam === 4 ? 14 + (rec.data[14]! & 0x0f) * 4 : 14 + 40;
      return { fam, sport: rec.data.readUInt16BE(l4) };
    });
    const alerts = await waitForEve(a.evePath, (r) => r.ebpfsentinel.rule_id === 'telnet', parsedSent.length);
    for (const fam of [4, 6] as const) {
      const src = fam === 4 ? g.client.ipv4 : g.client.ipv6;
      const dst = fam === 4 ? g.server.ipv4 : g.server.ipv6;
      const mine = alerts.filter((r) => r.src_ip === src);
      const ports = parsedSent.filter((p) => p.fam === fam).map((p) => p.sport);
      assert.equal(mine.length, ports.length, `one telnet alert per v${fam} SYN`);
      for (const r of mine) {
        assert.equal(r.event_type, 'alert');
        assert.equal(r.dest_ip, dst);
        assert.equal(r.proto, 'TCP');
        assert.equal(r.dest_port, 23);
        assert.ok(ports.includes(r.src_port!), `src_port ${r.src_port} was a port the client used (${ports.join(',')})`);
        assert.equal(r.alert.action, 'blocked');
        assert.equal(r.ebpfsentinel.reason, 'rule');
        assert.equal(r.in_iface, iface);
        assert.equal(r.community_id, communityIdV1(src, dst, 6, r.src_port!, 23));
      }
    }
  });

  test('UDP: dns allowed without alert, udp-log passes and writes one EVE line per datagram (v4, v6)', async () => {
    const before = await a.api.metrics();
    for (const fam of [4, 6] as const) {
      const dst = fam === 4 ? g.server.ipv4 : g.server.ipv6;
      const src = fam === 4 ? g.client.ipv4 : g.client.ipv6;
      const dns = await g.lab.udpSend('client', dst, 53, `dns-v${fam}\n`);
      assert.equal(dns.reply, `dns-v${fam}\n`, `dns v${fam} answered`);
      const log = await g.lab.udpSend('client', dst, 5000, `log-v${fam}\n`);
      assert.equal(log.reply, `log-v${fam}\n`, `udp 5000 v${fam} answered (log passes)`);
      assert.match(server('udp', 5000, fam).received(), new RegExp(`log-v${fam}`));
      const peer = server('udp', 5000, fam).peers().find((p) => p.addr === src);
      assert.ok(peer, `server 5000 saw ${src}`);
      const [rec] = await waitForEve(a.evePath, (r) => r.ebpfsentinel.rule_id === 'udp-log' && r.src_ip === src, 1);
      assert.ok(rec);
      assert.equal(rec.dest_ip, dst);
      assert.equal(rec.proto, 'UDP');
      assert.equal(rec.src_port, peer.port);
      assert.equal(rec.dest_port, 5000);
      assert.equal(rec.alert.action, 'allowed');
      assert.equal(rec.community_id, communityIdV1(src, dst, 17, peer.port, 5000));
    }
    const after = await a.api.metrics();
    assert.ok(ruleHits(after, 'udp-log') - ruleHits(before, 'udp-log') >= 2);
    assert.ok(ruleHits(after, 'dns') - ruleHits(before, 'dns') >= 2);
    assert.equal(readEve(a.evePath).filter((r) => r.ebpfsentinel.rule_id === 'dns').length, 0, 'allowed dns is not alerted');
  });

  test('the attacker is dropped by its source rule (ping and TCP, v4 and v6)', async () => {
    // The deny rule drops the attacker's neighbour solicitations as well; a static entry lets its
    // IPv6 packets reach the firewall as what they are.
    await g.lab.ip('attacker', 'neigh', 'replace', g.attacker.gateway6, 'lladdr', g.gw.outside.mac, 'dev', g.attacker.ifname, 'nud', 'permanent');
    const before = await a.api.metrics();
    const inside = await g.lab.capture('gw', g.gw.inside.ifname, `host ${g.attacker.ipv4} or host ${g.attacker.ipv6}`);
    const p4 = await g.lab.ping('attacker', g.server.ipv4, { count: 3, intervalMs: 100 });
    const p6 = await g.lab.ping('attacker', g.server.ipv6, { count: 3, intervalMs: 100 });
    const t4 = await g.lab.tcpConnect('attacker', g.server.ipv4, 80, { timeoutMs: 1000 });
    const t6 = await g.lab.tcpConnect('attacker', g.server.ipv6, 80, { timeoutMs: 1000 });
    const cap = await inside.stop();
    assert.equal(p4.received, 0);
    assert.equal(p6.received, 0);
    assert.equal(t4.connected, false);
    assert.equal(t6.connected, false);
    assert.equal(cap.count, 0, 'nothing from the attacker crossed the gateway');
    const after = await a.api.metrics();
    assert.ok(ruleHits(after, 'deny-attacker') - ruleHits(before, 'deny-attacker') >= 3 + 3 + 2, 'deny-attacker hits');
    const echo4 = await waitForEve(a.evePath, (r) => r.src_ip === g.attacker.ipv4 && r.proto === 'ICMP', 3);
    for (const r of echo4) {
      assert.equal(r.icmp_type, 8);
      assert.equal(r.icmp_code, 0);
      assert.equal(r.ebpfsentinel.rule_id, 'deny-attacker');
      assert.equal(r.community_id, communityIdV1(g.attacker.ipv4, g.server.ipv4, 1, 8, 0));
    }
    const echo6 = await waitForEve(a.evePath, (r) => r.src_ip === g.attacker.ipv6 && r.proto === 'IPv6-ICMP' && r.icmp_type === 128, 3);
    for (const r of echo6) {
      assert.equal(r.dest_ip, g.server.ipv6);
      assert.equal(r.community_id, communityIdV1(g.attacker.ipv6, g.server.ipv6, 58, 128, 0));
    }
  });

  test('traffic no rule matches falls to the default policy: dropped, counted, alerted', async () => {
    const before = await a.api.metrics();
    for (const fam of [4, 6] as const) {
      const dst = fam === 4 ? g.server.ipv4 : g.server.ipv6;
      const r = await g.lab.tcpConnect('client', dst, 8081, { timeoutMs: 1000 });
      assert.equal(r.connected, false, `TCP 8081 v${fam} must not connect`);
      assert.equal(server('tcp', 8081, fam).peers().length, 0);
    }
    const after = await a.api.metrics();
    assert.ok(defaultPolicyHits(after, iface) - defaultPolicyHits(before, iface) >= 2, 'default_policy counter moved');
    const recs = [
      ...(await waitForEve(a.evePath, (r) => r.dest_port === 8081 && r.src_ip === g.client.ipv4, 1)),
      ...(await waitForEve(a.evePath, (r) => r.dest_port === 8081 && r.src_ip === g.client.ipv6, 1)),
    ];
    for (const r of recs) {
      assert.equal(r.ebpfsentinel.rule_id, 'default-policy');
      assert.equal(r.ebpfsentinel.reason, 'default');
      assert.equal(r.alert.action, 'blocked');
    }
    for (const r of recs) assert.equal(r.dest_ip, r.src_ip.includes(':') ? g.server.ipv6 : g.server.ipv4);
  });

  test('802.1Q-tagged frames (injected: this kernel has no 8021q module): vlan_id rule drops VLAN 42, other VLANs go on to later rules; alerts carry the tag', async () => {
    const before = await a.api.metrics();
    const frames = [];
    const sport: Record<4 | 6, number> = { 4: 40042, 6: 40043 };
    for (const fam of [4, 6] as const) {
      const src = fam === 4 ? g.client.ipv4 : g.client.ipv6;
      const dst = fam === 4 ? g.server.ipv4 : g.server.ipv6;
      frames.push(udpFrame({ src, dst, sport: sport[fam], dport: 5000, vlans: [{ vid: 42 }], srcMac: g.client.mac, dstMac: g.gw.outside.mac, payload: 'tagged-42' }));
      frames.push(udpFrame({ src, dst, sport: sport[fam] + 100, dport: 5000, vlans: [{ vid: 43 }], srcMac: g.client.mac, dstMac: g.gw.outside.mac, payload: 'tagged-43' }));
    }
    assert.equal(await g.lab.inject('client', g.client.ifname, frames), 4);
    const v42 = await waitForEve(a.evePath, (r) => r.ebpfsentinel.rule_id === 'vlan-42', 2);
    for (const r of v42) {
      assert.deepEqual(r.vlan, [42]);
      assert.equal(r.alert.action, 'blocked');
      assert.equal(r.dest_port, 5000);
      assert.ok([sport[4], sport[6]].includes(r.src_port!));
    }
    assert.deepEqual(new Set(v42.map((r) => r.src_ip)), new Set([g.client.ipv4, g.client.ipv6]));
    // VLAN 43 is not denied: the frame reaches the udp-log rule (log = pass + alert).
    const v43 = await waitForEve(a.evePath, (r) => r.ebpfsentinel.rule_id === 'udp-log' && r.vlan?.[0] === 43, 2);
    assert.deepEqual(new Set(v43.map((r) => r.src_port)), new Set([sport[4] + 100, sport[6] + 100]));
    for (const r of v43) assert.equal(r.alert.action, 'allowed');
    const after = await a.api.metrics();
    assert.equal(ruleHits(after, 'vlan-42') - ruleHits(before, 'vlan-42'), 2);
    assert.ok(ruleHits(after, 'udp-log') - ruleHits(before, 'udp-log') >= 2);
  });

  test('counters are consistent: nothing lost, every event written, seen >= passed + dropped', async () => {
    const m = await a.api.metrics();
    const c = fwCounters(m, iface);
    assert.ok(c.seen >= c.passed + c.dropped, `seen ${c.seen} >= passed ${c.passed} + dropped ${c.dropped}`);
    for (const s of m.all('ebpfsentinel_events_lost_total')) assert.equal(s.value, 0, `events lost (${s.labels.reason})`);
    const submitted = m.sum('ebpfsentinel_events_total', { program: 'xdp-firewall' });
    assert.ok(submitted > 0);
    // A stray packet may be in flight between two reads: settle on a moment where the kernel's
    // count, the agent's reads, the alerts written and the file's lines all agree.
    await eventually(
      async () => {
        const m2 = await a.api.metrics();
        const total = m2.sum('ebpfsentinel_events_total', { program: 'xdp-firewall' });
        const received = m2.sum('ebpfsentinel_events_received_total', { program: 'xdp-firewall' });
        const written = m2.value('ebpfsentinel_alerts_written_total', { sink: 'eve-file' });
        const lines = readEve(a.evePath).length;
        return total >= submitted && received === total && written === received && lines === written;
      },
      5000,
      'events submitted = read = alerts written = EVE lines',
    );
    for (const r of readEve(a.evePath)) {
      assert.equal(r.event_type, 'alert');
      assert.match(r.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+0000$/);
      assert.match(r.community_id, /^1:[A-Za-z0-9+/]{27}=$/);
    }
  });

  test('SIGTERM: exit 0, XDP gone from the interface, pins removed', async () => {
    assert.ok(bpffs.list(a.pinRoot).length > 0, 'pins exist before the stop');
    const exit = await a.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `agent exit; log:\n${a.agent.output.slice(-2000)}`);
    const x = await xdpState(g, 'gw', iface);
    assert.equal(x.flag, null, 'no xdp flag on the interface');
    assert.equal(x.progLine, null, 'no prog/xdp on the interface');
    assert.equal(existsSync(a.pinRoot), false, `pin root removed (left: ${bpffs.list(a.pinRoot).join(' ')})`);
    // With the firewall gone, what it dropped now gets through.
    const r = await g.lab.tcpConnect('client', g.server.ipv4, 23, { payload: 'after\n' });
    assert.equal(r.connected, true, 'telnet connects once the agent is gone');
  });
});
