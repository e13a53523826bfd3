// `action: reject` end to end: the real agent on the gateway lab answers a rejected TCP port with
// a RST and a rejected UDP port with an ICMP / ICMPv6 port unreachable, forged in XDP and sent
// back out of the interface the packet came in on. The client's own tools see it (socat reports
// "Connection refused" at once instead of timing out), a capture in the client namespace shows
// the answer field by field with valid checksums, and nothing rejected reaches the server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../src/version.js';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import { readPcap } from '../../src/lab/pcap.js';
import type { EchoServer } from '../../src/lab/traffic.js';
import { ipPacketOf, parseFrame, tcpFrame, verifyIpv4Checksum, verifyL4Checksum, type ParsedFrame } from '../support/frames.js';
import { IN_CI } from '../support/env.js';
import { agentPrerequisites, fwCounters, ruleHits, SharedBpffs, startAgent, type RunningAgent } from './agent-support.js';

const PEER_PASS = path.join(REPO_ROOT, 'build', 'bpf-test', 'reply_peer_pass.bpf.o');
const skip = agentPrerequisites() ?? missingPeerProgram();

function missingPeerProgram(): string | undefined {
  if (existsSync(PEER_PASS)) return undefined;
  const reason = `${PEER_PASS} is not built (make bpf)`;
  if (IN_CI) throw new Error(`CI=true and this test cannot run: ${reason}`);
  return reason;
}

const POLICY = `
agent:
  interfaces: [@IFACE@]
  pin_root: @PIN@
  http_port: @PORT@
  allow_unauthenticated_api: true
  metrics_interval_ms: 200
firewall:
  default_policy: drop
  rules:
    - { id: nd-ns, priority: 1, action: allow, protocol: icmpv6, icmp_type: 135 }
    - { id: nd-na, priority: 2, action: allow, protocol: icmpv6, icmp_type: 136 }
    - { id: v6-rs, priority: 3, action: allow, protocol: icmpv6, icmp_type: 133 }
    - { id: v6-mld, priority: 4, action: allow, protocol: icmpv6, icmp_type: 143 }
    - { id: web, priority: 10, action: allow, protocol: tcp, dst_port: 80 }
    - { id: telnet-reject, priority: 20, action: reject, protocol: tcp, dst_port: 23 }
    - { id: snmp-reject, priority: 21, action: reject, protocol: udp, dst_port: 161 }
alerting:
  eve: { path: "@EVE@" }
`;

describe('firewall reject: RST and ICMP unreachable from XDP (gateway lab, real agent)', { skip: skip ?? false }, () => { // process.env.CI: agentPrerequisites() throws instead of skipping
  let g: GatewayLab;
  let bpffs: SharedBpffs;
  let a: RunningAgent;
  let iface: string;
  const servers: EchoServer[] = [];

  before(async () => {
    bpffs = SharedBpffs.mount();
    g = await buildGatewayLab();
    iface = g.gw.outside.ifname;
    // veth pushes an XDP_TX frame into its peer's XDP ring and wakes the peer only when the peer
    // has an XDP program of its own (see reply_peer_pass.bpf.c); a NIC needs nothing of this.
    await g.lab.ip('sw', 'link', 'set', 'dev', g.lab.ifname('swgw'), 'xdpdrv', 'obj', PEER_PASS, 'sec', 'xdp');
    a = await startAgent(g, POLICY, { pinRoot: `${bpffs.dir}/esn-reject`, name: 'reject' });
    for (const fam of [4, 6] as const) {
      servers.push(await g.lab.startTcpServer('server', 80, fam));
      servers.push(await g.lab.startTcpServer('server', 23, fam));
      servers.push(await g.lab.startUdpServer('server', 161, fam));
    }
  });

  after(async () => {
    if (a) await a.stop();
    await g?.destroy();
    bpffs?.unmount();
  });

  /** veth's own XDP_TX statistics of the gateway's outside interface, summed over queues. */
  async function xdpTx(): Promise<{ sent: number; errors: number }> {
    const out = (await g.lab.exec('gw', 'ethtool', ['-S', iface])).stdout;
    const sum = (re: RegExp): number => [...out.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
    return { sent: sum(/rx_queue_\d+_xdp_tx:\s+(\d+)/g), errors: sum(/rx_queue_\d+_xdp_tx_errors:\s+(\d+)/g) };
  }

  /** The reject outcome counters of the gateway's outside interface, from /metrics. */
  async function rejectCounters(): Promise<Record<'sent' | 'suppressed' | 'ratelimited' | 'failed', number>> {
    const m = await a.api.metrics();
    const v = (counter: string): number => m.value('ebpfsentinel_program_reasons_total', { program: 'xdp-firewall', interface: iface, counter });
    return { sent: v('reject_sent'), suppressed: v('reject_suppressed'), ratelimited: v('reject_ratelimited'), failed: v('reject_failed') };
  }
  const delta = <T extends Record<string, number>>(a1: T, a0: T): T => Object.fromEntries(Object.keys(a1).map((k) => [k, a1[k]! - a0[k]!])) as T;

  const addrs = (fam: 4 | 6): { client: string; server: string } =>
    fam === 4 ? { client: g.client.ipv4, server: g.server.ipv4 } : { client: g.client.ipv6, server: g.server.ipv6 };

  /** Frames of the capture that went from `src` to `dst`. */
  function framesBetween(records: ReadonlyArray<{ data: Buffer }>, src: string, dst: string): ParsedFrame[] {
    return records.map((r) => parseFrame(r.data)).filter((p) => p.ip?.src === src && p.ip?.dst === dst);
  }

  test('TCP to a rejected port: the client gets a RST at once ("Connection refused"), IPv4 and IPv6', async () => {
    // The allowed port works, so a refusal below is the firewall's answer, not a broken path.
    for (const fam of [4, 6] as const) {
      const ok = await g.lab.tcpConnect('client', addrs(fam).server, 80, { payload: 'hi\n' });
      assert.equal(ok.connected, true, `TCP 80 v${fam}: ${ok.error}`);
    }
    const before = await a.api.metrics();
    const rc0 = await rejectCounters();
    const tx0 = await xdpTx();
    const cap = await g.lab.capture('client', g.client.ifname, 'tcp port 23');
    const inside = await g.lab.capture('gw', g.gw.inside.ifname, 'tcp port 23');
    for (const fam of [4, 6] as const) {
      // A long connect timeout: only an answer can end the attempt early with "refused".
      const r = await g.lab.tcpConnect('client', addrs(fam).server, 23, { payload: 'telnet\n', timeoutMs: 10_000 });
      assert.equal(r.connected, false, `TCP 23 v${fam} must not connect`);
      assert.match(r.error, /Connection refused/, `TCP 23 v${fam}: socat says ${r.error}`);
    }
    const seen = await cap.stop();
    const leaked = await inside.stop();
    assert.equal(leaked.count, 0, 'no rejected SYN was forwarded towards the server');
    for (const s of servers.filter((x) => x.proto === 'tcp' && x.port === 23)) assert.equal(s.peers().length, 0, `telnet v${s.family} server saw nobody`);

    for (const fam of [4, 6] as const) {
      const { client, server } = addrs(fam);
      const syns = framesBetween(seen.records, client, server).filter((p) => p.l4?.proto === 'tcp' && p.l4.flags.includes('syn'));
      const rsts = framesBetween(seen.records, server, client).filter((p) => p.l4?.proto === 'tcp');
      assert.equal(syns.length, 1, `v${fam}: one SYN, no retransmission (it was answered)`);
      assert.equal(rsts.length, 1, `v${fam}: one answer`);
      const syn = syns[0]!;
      const rst = rsts[0]!;
      assert.ok(syn.l4?.proto === 'tcp' && rst.l4?.proto === 'tcp');
      assert.deepEqual(rst.l4.flags.sort(), ['ack', 'rst'], `v${fam}: RST|ACK to a SYN`);
      assert.equal(rst.l4.seq, 0);
      assert.equal(rst.l4.ack, (syn.l4.seq + 1) >>> 0, 'acknowledges the SYN');
      assert.equal(rst.l4.sport, 23);
      assert.equal(rst.l4.dport, syn.l4.sport);
      assert.equal(rst.eth.src, g.gw.outside.mac, 'sent by the gateway interface the SYN came in on');
      assert.equal(rst.eth.dst, g.client.mac);
      const raw = seen.records.find((x) => parseFrame(x.data).ip?.src === server)!.data;
      assert.ok(verifyL4Checksum(raw), `v${fam}: RST checksum valid`);
      if (rst.ip?.version === 4) {
        assert.equal(rst.ip.ttl, 64);
        assert.ok(verifyIpv4Checksum(raw), 'IPv4 header checksum valid');
      } else {
        assert.equal(rst.ip?.hopLimit, 64);
      }
    }

    const tx1 = await xdpTx();
    assert.equal(tx1.errors - tx0.errors, 0, 'no answer failed in the driver');
    assert.equal(tx1.sent - tx0.sent, 2, 'the two answers left by XDP_TX');
    assert.deepEqual(delta(await rejectCounters(), rc0), { sent: 2, suppressed: 0, ratelimited: 0, failed: 0 }, 'reject counters in /metrics');
    const after = await a.api.metrics();
    assert.ok(ruleHits(after, 'telnet-reject') - ruleHits(before, 'telnet-reject') >= 2, 'reject rule credited');
    assert.ok(fwCounters(after, iface).dropped - fwCounters(before, iface).dropped >= 2, 'the rejected SYNs count as dropped');
  });

  test('UDP to a rejected port: ICMP / ICMPv6 port unreachable quoting the datagram; socat sees "Connection refused"', async () => {
    const rc0 = await rejectCounters();
    const cap = await g.lab.capture('client', g.client.ifname, 'udp port 161 or icmp or icmp6');
    const inside = await g.lab.capture('gw', g.gw.inside.ifname, 'udp port 161');
    for (const fam of [4, 6] as const) {
      const r = await g.lab.udpSend('client', addrs(fam).server, 161, `snmp-v${fam}\n`, { timeoutMs: 3000 });
      assert.equal(r.reply, '', `v${fam}: no reply from the server`);
      assert.match(r.error, /Connection refused/, `v${fam}: the unreachable reached the client socket (socat: ${r.error || 'no error'})`);
    }
    const seen = await cap.stop();
    const leaked = await inside.stop();
    assert.equal(leaked.count, 0, 'no rejected datagram was forwarded towards the server');
    for (const s of servers.filter((x) => x.proto === 'udp')) assert.equal(s.received(), '', `snmp v${s.family} server got nothing`);
    assert.deepEqual(delta(await rejectCounters(), rc0), { sent: 2, suppressed: 0, ratelimited: 0, failed: 0 }, 'reject counters in /metrics');

    for (const fam of [4, 6] as const) {
      const { client, server } = addrs(fam);
      const sentRec = seen.records.find((x) => {
        const p = parseFrame(x.data);
        return p.ip?.src === client && p.l4?.proto === 'udp' && p.l4.dport === 161;
      });
      assert.ok(sentRec, `v${fam}: the client's datagram is in the capture`);
      const answers = seen.records.filter((x) => {
        const p = parseFrame(x.data);
        return p.ip?.src === server && p.ip.dst === client && (p.l4?.proto === 'icmp' || (p.l4?.proto === 'icmpv6' && p.l4.type === 1));
      });
      assert.equal(answers.length, 1, `v${fam}: one unreachable`);
      const ans = parseFrame(answers[0]!.data);
      const l4 = ans.l4!;
      assert.ok(l4.proto === 'icmp' || l4.proto === 'icmpv6');
      assert.deepEqual([l4.type, l4.code], fam === 4 ? [3, 3] : [1, 4], `v${fam}: port unreachable`);
      assert.ok(verifyL4Checksum(answers[0]!.data), `v${fam}: ICMP checksum valid`);
      if (fam === 4) assert.ok(verifyIpv4Checksum(answers[0]!.data), 'IPv4 header checksum valid');
      assert.equal(ans.eth.src, g.gw.outside.mac);
      // The quote is the offending datagram itself, IP header first.
      assert.equal(ans.payload.toString('hex'), ipPacketOf(sentRec.data).toString('hex'), `v${fam}: the whole datagram is quoted`);
    }
  });

  test('answers are rate-limited per source: 60 quick SYNs get their first 20 answered, then 20/s; the rest are counted (IPv4, IPv6)', async () => {
    // A fresh source (the attacker host) starts with a full budget. The SYNs go out back to back
    // from one AF_PACKET socket; how many answers may follow the burst depends only on how long
    // the burst took on the wire, which the capture tells.
    const BURST = 20;
    const INTERVAL_US = 50_000n; // 20 per second
    const rc0 = await rejectCounters();
    // A capture with a short snaplen and a large buffer: the burst is 240 frames in a few ms.
    const pcapFile = path.join(g.lab.tmpDir, 'reject-burst.pcap');
    const dump = g.lab.spawn('attacker', 'tcpdump', ['-i', g.attacker.ifname, '-w', pcapFile, '-U', '--immediate-mode', '-n', '-Z', 'root', '-s', '256', '-B', '16384', 'tcp port 23']);
    await dump.waitFor(/listening on/, 5000);
    const sent: Record<4 | 6, number[]> = { 4: [], 6: [] };
    for (const fam of [4, 6] as const) {
      const src = fam === 4 ? g.attacker.ipv4 : g.attacker.ipv6;
      const frames = Array.from({ length: 60 }, (_, i) => {
        sent[fam].push(20000 + i);
        return tcpFrame({ src, dst: addrs(fam).server, srcMac: g.attacker.mac, dstMac: g.gw.outside.mac, sport: 20000 + i, dport: 23, seq: 1000 + i, flags: ['syn'] });
      });
      await g.lab.inject('attacker', g.attacker.ifname, frames);
    }
    await new Promise((r) => setTimeout(r, 300)); // the last answers cross the switch
    await dump.stop('SIGINT', 3000);
    assert.match(dump.stderr, /^0 packets dropped by kernel$/m, `the capture is complete: ${dump.stderr}`);
    const seen = readPcap(pcapFile);
    const rc = delta(await rejectCounters(), rc0);
    assert.equal(rc.sent + rc.ratelimited, 120, `every SYN was answered or counted as rate-limited: ${JSON.stringify(rc)}`);
    assert.deepEqual([rc.suppressed, rc.failed], [0, 0]);
    let answeredTotal = 0;
    for (const fam of [4, 6] as const) {
      const src = fam === 4 ? g.attacker.ipv4 : g.attacker.ipv6;
      const server = addrs(fam).server;
      const syns = seen.records.filter((r) => {
        const p = parseFrame(r.data);
        return p.ip?.src === src && p.l4?.proto === 'tcp' && p.l4.flags.includes('syn');
      });
      assert.equal(syns.length, 60, `v${fam}: all 60 SYNs on the wire`);
      const answered = new Set(
        seen.records
          .map((r) => parseFrame(r.data))
          .filter((p) => p.ip?.src === server && p.ip.dst === src && p.l4?.proto === 'tcp' && p.l4.flags.includes('rst'))
          .map((p) => (p.l4?.proto === 'tcp' ? p.l4.dport : -1)),
      );
      const spanUs = syns[syns.length - 1]!.tsUs - syns[0]!.tsUs;
      const allowed = BURST + Number(spanUs / INTERVAL_US) + 1;
      for (const port of sent[fam].slice(0, BURST)) assert.ok(answered.has(port), `v${fam}: SYN from port ${port} (within the burst) answered`);
      assert.ok(answered.size <= allowed, `v${fam}: ${answered.size} answers to 60 SYNs sent over ${spanUs} µs; at most ${allowed} allowed`);
      assert.ok(answered.size < 60, `v${fam}: the rate limit held some answers back`);
      answeredTotal += answered.size;
    }
    assert.equal(rc.sent, answeredTotal, 'answers counted = answers seen by the attacker');
  });
});
