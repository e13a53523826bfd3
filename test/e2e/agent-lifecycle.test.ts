// Two real agents at once, each in its own gateway lab, with pin roots side by side on one bpffs:
// they must not collide (pins, API ports, counters), one runs XDP in generic mode, the other
// native, and stopping one leaves the other enforcing. Lab B runs a default-drop policy with no
// rules at all, so everything it sees is dropped and counted as default policy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import {
  agentPrerequisites,
  defaultPolicyHits,
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

const POLICY_A = `
agent:
  interfaces: [@IFACE@]
  pin_root: @PIN@
  on_exit: detach
  http_port: @PORT@
  allow_unauthenticated_api: true
  xdp_mode: native
firewall:
  default_policy: drop
  rules:
    - { id: nd, priority: 10, action: allow, protocol: icmpv6, icmp_type: 135 }
    - { id: nd-na, priority: 11, action: allow, protocol: icmpv6, icmp_type: 136 }
    - { id: ping-v4, priority: 20, action: allow, protocol: icmp, icmp_type: 8 }
    - { id: ping-v6, priority: 21, action: allow, protocol: icmpv6, icmp_type: 128 }
    - { id: udp-log, priority: 30, action: log, protocol: udp, dst_port: 5000 }
alerting:
  eve: { path: "@EVE@" }
storage:
  path: sentinel.db
`;

const POLICY_B = `
agent:
  interfaces: [@IFACE@]
  pin_root: @PIN@
  on_exit: detach
  http_port: @PORT@
  allow_unauthenticated_api: true
  xdp_mode: generic
firewall:
  default_policy: drop
alerting:
  eve: { path: "@EVE@" }
storage:
  path: sentinel.db
`;

describe('agent e2e: two agents, two labs, one bpffs', { skip: skip ?? false }, () => { // process.env.CI: agentPrerequisites() throws instead of skipping
  let bpffs: SharedBpffs;
  let ga: GatewayLab;
  let gb: GatewayLab;
  let a: RunningAgent;
  let b: RunningAgent;

  before(async () => {
    bpffs = SharedBpffs.mount();
    [ga, gb] = await Promise.all([buildGatewayLab(), buildGatewayLab()]);
    // Both started at once; settled, so that one failing still leaves the other to clean up.
    const [ra, rb] = await Promise.allSettled([
      startAgent(ga, POLICY_A, { pinRoot: `${bpffs.dir}/instance-a`, name: 'a' }),
      startAgent(gb, POLICY_B, { pinRoot: `${bpffs.dir}/instance-b`, name: 'b' }),
    ]);
    if (ra.status === 'fulfilled') a = ra.value;
    if (rb.status === 'fulfilled') b = rb.value;
    if (ra.status === 'rejected') throw ra.reason;
    if (rb.status === 'rejected') throw rb.reason;
  });

  after(async () => {
    for (const x of [a, b]) if (x) await x.stop();
    await Promise.all([ga?.destroy(), gb?.destroy()]);
    bpffs?.unmount();
  });

  test('both run at once: separate pins, separate APIs, native and generic modes as configured', async () => {
    assert.notEqual(ga.gw.outside.ifname, gb.gw.outside.ifname);
    assert.notEqual(a.forwarder.port, b.forwarder.port);
    const sa = await a.api.status();
    const sb = await b.api.status();
    assert.equal(sa.programs[0]?.attachments[0]?.interface, ga.gw.outside.ifname);
    assert.equal(sa.programs[0]?.attachments[0]?.mode, 'native');
    assert.equal(sb.programs[0]?.attachments[0]?.interface, gb.gw.outside.ifname);
    assert.equal(sb.programs[0]?.attachments[0]?.mode, 'generic');
    assert.equal((await xdpState(ga, 'gw', ga.gw.outside.ifname)).flag, 'xdp');
    assert.equal((await xdpState(gb, 'gw', gb.gw.outside.ifname)).flag, 'xdpgeneric');
    const pa = bpffs.list(a.pinRoot);
    const pb = bpffs.list(b.pinRoot);
    assert.ok(pa.includes('maps/fw_rules') && pb.includes('maps/fw_rules'), `${pa.join(' ')} | ${pb.join(' ')}`);
    assert.ok(pa.some((p) => p.startsWith('links/') && p.includes(ga.gw.outside.ifname)));
    assert.ok(pb.some((p) => p.startsWith('links/') && p.includes(gb.gw.outside.ifname)));
    // Each status names its own config.
    assert.equal(sa.config.path, a.configPath);
    assert.equal(sb.config.path, b.configPath);
  });

  test('default drop with no rules: every packet dropped, counted as default policy, alerted (v4, v6)', async () => {
    const before = await b.api.metrics();
    const ifb = gb.gw.outside.ifname;
    const srv4 = await gb.lab.startTcpServer('server', 80, 4);
    const srv6 = await gb.lab.startTcpServer('server', 80, 6);
    const u4 = await gb.lab.startUdpServer('server', 5000, 4);
    const p4 = await gb.lab.ping('client', gb.server.ipv4, { count: 3, intervalMs: 100 });
    const t4 = await gb.lab.tcpConnect('client', gb.server.ipv4, 80, { timeoutMs: 1000 });
    const t6 = await gb.lab.tcpConnect('client', gb.server.ipv6, 80, { timeoutMs: 1000 });
    const d4 = await gb.lab.udpSend('client', gb.server.ipv4, 5000, 'x\n');
    assert.equal(p4.received, 0);
    assert.equal(t4.connected, false);
    assert.equal(t6.connected, false);
    assert.equal(d4.reply, '');
    assert.deepEqual([srv4.peers().length, srv6.peers().length, u4.peers().length], [0, 0, 0], 'the servers saw nothing');
    const after = await b.api.metrics();
    // v6 stalls in neighbour discovery (NS are IP packets and dropped too): at least the v4 echo
    // requests, the v4 SYN, the v4 datagram and one v6 NS.
    const dp = defaultPolicyHits(after, ifb) - defaultPolicyHits(before, ifb);
    const dropped = fwCounters(after, ifb).dropped - fwCounters(before, ifb).dropped;
    assert.ok(dp >= 3 + 1 + 1 + 1, `default_policy +${dp}`);
    assert.equal(dropped, dp, 'with no rules every drop is a default-policy drop');
    assert.equal(after.all('ebpfsentinel_firewall_rule_hits_total').length, 0, 'no rules, no rule hit series');
    const recs = await waitForEve(b.evePath, (r) => r.src_ip === gb.client.ipv4, 5);
    for (const r of recs) {
      assert.equal(r.ebpfsentinel.rule_id, 'default-policy');
      assert.equal(r.alert.action, 'blocked');
    }
    assert.ok(recs.some((r) => r.proto === 'ICMP' && r.icmp_type === 8));
    assert.ok(recs.some((r) => r.proto === 'TCP' && r.dest_port === 80));
    assert.ok(recs.some((r) => r.proto === 'UDP' && r.dest_port === 5000));
    assert.ok(readEve(b.evePath).some((r) => r.src_ip.includes(':') && r.proto === 'IPv6-ICMP'), 'IPv6 (neighbour discovery) dropped and alerted too');

    // Meanwhile lab A passes what its policy allows and B's counters are not A's.
    const beforeA = await a.api.metrics();
    assert.deepEqual(await ga.lab.ping('client', ga.server.ipv4, { count: 3, intervalMs: 100 }), { sent: 3, received: 3 });
    assert.deepEqual(await ga.lab.ping('client', ga.server.ipv6, { count: 3, intervalMs: 100 }), { sent: 3, received: 3 });
    const afterA = await a.api.metrics();
    assert.ok(ruleHits(afterA, 'ping-v4') - ruleHits(beforeA, 'ping-v4') >= 3);
    assert.ok(ruleHits(afterA, 'ping-v6') - ruleHits(beforeA, 'ping-v6') >= 3);
    assert.equal(afterA.all('ebpfsentinel_packets_seen_total').length, 1, 'agent A reports only its own interface');
    assert.equal(afterA.all('ebpfsentinel_packets_seen_total')[0]?.labels.interface, ga.gw.outside.ifname);
  });

  test('stopping B (SIGTERM) detaches and unpins B only; A keeps enforcing; then A stops cleanly', async () => {
    const exitB = await b.stop();
    assert.deepEqual(exitB, { code: 0, signal: null }, b.agent.output.slice(-2000));
    assert.deepEqual(await xdpState(gb, 'gw', gb.gw.outside.ifname), { flag: null, progLine: null });
    assert.equal(existsSync(b.pinRoot), false, 'B pin root removed');
    assert.ok(bpffs.list(a.pinRoot).includes('maps/fw_rules'), 'A pins untouched');
    assert.equal((await xdpState(ga, 'gw', ga.gw.outside.ifname)).flag, 'xdp');
    // B's lab is open now; A's still enforces (UDP 5001 is not allowed there).
    assert.deepEqual(await gb.lab.ping('client', gb.server.ipv4, { count: 2, intervalMs: 100 }), { sent: 2, received: 2 });
    const s = await ga.lab.startUdpServer('server', 5001, 4);
    const r = await ga.lab.udpSend('client', ga.server.ipv4, 5001, 'still-enforced\n');
    assert.equal(r.reply, '');
    assert.equal(s.peers().length, 0);
    assert.equal((await a.api.get('/readyz')).status, 200);

    const exitA = await a.stop();
    assert.deepEqual(exitA, { code: 0, signal: null }, a.agent.output.slice(-2000));
    assert.deepEqual(await xdpState(ga, 'gw', ga.gw.outside.ifname), { flag: null, progLine: null });
    assert.equal(existsSync(a.pinRoot), false, 'A pin root removed');
    // maps.debug / progs.debug are the kernel's own files in every bpffs instance.
    assert.deepEqual(bpffs.list(bpffs.dir).filter((p) => !p.endsWith('.debug')), [], 'the shared bpffs is empty again');
  });
});
