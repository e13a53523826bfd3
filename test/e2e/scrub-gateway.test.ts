// tc-scrub on real forwarded traffic: the agent runs in the gateway namespace with scrub on both
// of its interfaces (client -> gw -> server and back), IPv4 and IPv6. Everything is captured on
// the far side and judged by tshark, with IP, TCP, UDP and ICMP checksum validation on: zero bad
// checksums, the MSS clamped on the wire in SYN and SYN-ACK, TTL / hop limit raised, DF cleared,
// IP IDs random, DSCP rewritten, impossible TCP flags repaired or dropped, and a TCP connection
// through it carrying data intact.
//
// Twice: with checksum offload off everywhere (every packet arrives at the gateway with full
// checksums, which scrub updates incrementally), and with the senders' offload on and the
// gateway's off: the client's and server's packets reach scrub as CHECKSUM_PARTIAL (the TCP
// field holds only the pseudo-header sum, which a capture at the gateway's ingress shows as a
// bad checksum: the test checks that it does, so the path is really taken), and the gateway's
// kernel computes the checksum over the rewritten bytes when it forwards them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import type { Capture, CaptureResult } from '../../src/lab/traffic.js';
import { buildFrame, type TcpFlagName } from '../support/frames.js';
import { labPrerequisites } from '../support/env.js';
import { tsharkChecksums, tsharkFields, type ChecksumTally } from '../support/tshark.js';
import { agentPrerequisites, SharedBpffs, startAgent, type RunningAgent } from './agent-support.js';

const skip = agentPrerequisites() ?? labPrerequisites(['tshark', 'socat', 'tcpdump']);

const MSS = 1200;
const MIN_TTL = 100;
const DSCP = 10;

const policy = (inside: string): string => `
agent:
  interfaces: [@IFACE@, ${inside}]
  pin_root: @PIN@
  http_port: @PORT@
  allow_unauthenticated_api: true
  metrics_interval_ms: 200
firewall:
  enabled: false
scrub:
  enabled: true
  max_mss: ${MSS}
  min_ttl: ${MIN_TTL}
  min_hop_limit: ${MIN_TTL}
  clear_df: true
  random_ip_id: true
  dscp: ${DSCP}
  scrub_tcp_flags: repair
`;

interface Round {
  server: ChecksumTally;
  client: ChecksumTally;
  gwIngress: ChecksumTally;
  files: { server: string; client: string };
}

describe('tc-scrub on the gateway: forwarded traffic rewritten, checked by tshark', { skip }, () => {
  let bpffs: SharedBpffs;
  let g: GatewayLab;
  let a: RunningAgent;
  const rounds = new Map<string, Round>();

  before(async () => {
    bpffs = SharedBpffs.mount();
    g = await buildGatewayLab();
    a = await startAgent(g, policy(g.gw.inside.ifname), { pinRoot: `${bpffs.dir}/esn-scrub`, name: 'scrub' });
  });

  after(async () => {
    await a?.stop();
    await g?.destroy();
    bpffs?.unmount();
  });

  /** Traffic of every kind through the gateway, both families, captured on the far sides. */
  async function round(name: string, port: number): Promise<Round> {
    const caps: Capture[] = [];
    // only what the gateway forwarded (a sender's own frames, captured before a checksum it
    // offloads is filled in, would show the partial sum)
    caps.push(await g.lab.capture('server', g.server.ifname, `ether src ${g.gw.inside.mac}`));
    caps.push(await g.lab.capture('client', g.client.ifname, `ether src ${g.gw.outside.mac}`));
    caps.push(await g.lab.capture('gw', g.gw.outside.ifname, 'tcp'));
    const files: CaptureResult[] = [];
    try {
      for (const fam of [4, 6] as const) {
        const srvAddr = fam === 4 ? g.server.ipv4 : g.server.ipv6;
        const tcp = await g.lab.startTcpServer('server', port, fam);
        const udp = await g.lab.startUdpServer('server', port, fam);
        try {
          // a connection carrying 64 KiB both ways, byte-exact (the captures keep up with it)
          const payload = randomBytes(48 * 1024).toString('base64');
          const r = await g.lab.tcpConnect('client', srvAddr, port, { payload, timeoutMs: 15_000 });
          assert.ok(r.connected, `IPv${fam} ${name}: connected (${r.error})`);
          assert.equal(r.echoed.length, payload.length, `IPv${fam} ${name}: whole echo came back`);
          assert.ok(r.echoed === payload, `IPv${fam} ${name}: echo byte-exact`);
          const u = await g.lab.udpSend('client', srvAddr, port, `udp-${name}-${fam}`, { timeoutMs: 2000 });
          assert.equal(u.reply, `udp-${name}-${fam}`, `IPv${fam} ${name}: UDP echo`);
          const p = await g.lab.ping('client', srvAddr, { count: 3 });
          assert.equal(p.received, 3, `IPv${fam} ${name}: ping`);
          // crafted segments with impossible flags, to a closed port: SYN+FIN is repaired into a
          // SYN (the server answers it with a RST), xmas is dropped, reserved bits are cleared
          const craft = (sport: number, flags: TcpFlagName[]): Buffer =>
            buildFrame({
              eth: { src: g.client.mac, dst: g.gw.outside.mac },
              ip: fam === 4 ? { src: g.client.ipv4, dst: g.server.ipv4, ttl: 64 } : { version: 6, src: g.client.ipv6, dst: g.server.ipv6, hopLimit: 64 },
              l4: { proto: 'tcp', sport, dport: port + 1, seq: 1000, flags },
            });
          const synFin = craft(41001, ['syn', 'fin']);
          // reserved bits 0b111 set in byte 12 (data offset 5); the checksum follows the word
          const reserved = craft(41002, ['ack']);
          const tcpOff = reserved.length - 20;
          let sum = (~reserved.readUInt16BE(tcpOff + 16) & 0xffff) + 0x0e00;
          sum = (sum & 0xffff) + (sum >>> 16);
          reserved[tcpOff + 12] = 0x5e;
          reserved.writeUInt16BE(~sum & 0xffff, tcpOff + 16);
          await g.lab.inject('client', g.client.ifname, [synFin, craft(41003, ['fin', 'psh', 'urg']), reserved]);
        } finally {
          await tcp.stop();
          await udp.stop();
        }
      }
    } finally {
      await new Promise((r) => setTimeout(r, 300));
      for (const c of caps) files.push(await c.stop());
    }
    const [srv, cli, gw] = files;
    const result: Round = {
      server: await tsharkChecksums(srv!.file),
      client: await tsharkChecksums(cli!.file),
      gwIngress: await tsharkChecksums(gw!.file),
      files: { server: srv!.file, client: cli!.file },
    };
    rounds.set(name, result);
    return result;
  }

  async function checkRound(name: string, r: Round): Promise<void> {
    for (const [side, t] of [['server', r.server], ['client', r.client]] as const) {
      assert.deepEqual(t.badFrames, [], `${name}: ${side} capture: frames with a bad checksum (tshark)`);
      assert.deepEqual(t.bad, { ip: 0, tcp: 0, udp: 0, icmp: 0, icmpv6: 0 }, `${name}: ${side}: no bad checksum`);
      for (const p of ['ip', 'tcp', 'udp', 'icmp', 'icmpv6'] as const) assert.ok(t.good[p] > 0, `${name}: ${side}: ${p} checksums validated (${JSON.stringify(t.good)})`);
    }
    const f = r.files;
    // MSS on the wire: every SYN at the server, every SYN-ACK at the client
    const syns = await tsharkFields(f.server, ['tcp.options.mss_val'], `tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.srcport != 41001`);
    assert.ok(syns.length >= 2, `${name}: SYNs seen (${syns.length})`);
    for (const [mss] of syns) assert.equal(Number(mss), MSS, `${name}: SYN MSS clamped`);
    const synAcks = await tsharkFields(f.client, ['tcp.options.mss_val'], 'tcp.flags.syn == 1 && tcp.flags.ack == 1');
    assert.ok(synAcks.length >= 2, `${name}: SYN-ACKs seen`);
    for (const [mss] of synAcks) assert.equal(Number(mss), MSS, `${name}: SYN-ACK MSS clamped`);
    // IP header rewrites of everything the client sent (one hop after scrub: TTL - 1)
    const v4 = await tsharkFields(f.server, ['ip.ttl', 'ip.flags.df', 'ip.dsfield.dscp', 'ip.id', 'frame.number', 'frame.protocols', 'tcp.flags', 'ip.len'], `ip.src == ${g.client.ipv4}`);
    assert.ok(v4.length > 20, `${name}: IPv4 packets at the server (${v4.length})`);
    for (const [ttl, df, dscp, , ...rest] of v4) assert.deepEqual([Number(ttl), Number(df), Number(dscp)], [MIN_TTL - 1, 0, DSCP], `${name}: IPv4 TTL, DF, DSCP of ${rest.join(' ')}`);
    const ids = new Set(v4.map((x) => x[3]));
    assert.ok(ids.size >= v4.length * 0.9, `${name}: IPv4 IDs random: ${ids.size} different of ${v4.length}`);
    const v6 = await tsharkFields(f.server, ['ipv6.hlim', 'ipv6.tclass.dscp'], `ipv6.src == ${g.client.ipv6}`);
    assert.ok(v6.length > 20, `${name}: IPv6 packets at the server`);
    for (const [hl, dscp] of v6) assert.deepEqual([Number(hl), Number(dscp)], [MIN_TTL - 1, DSCP], `${name}: IPv6 hop limit, DSCP`);
    // the server's replies, scrubbed at the gateway's inside interface
    const back = await tsharkFields(f.client, ['ip.ttl', 'ip.dsfield.dscp'], `ip.src == ${g.server.ipv4}`);
    assert.ok(back.length > 20);
    for (const [ttl, dscp] of back) assert.deepEqual([Number(ttl), Number(dscp)], [MIN_TTL - 1, DSCP], `${name}: replies scrubbed too`);
    // crafted flags: SYN+FIN arrives as a plain SYN, xmas never arrives, reserved bits cleared
    const crafted = await tsharkFields(f.server, ['tcp.srcport', 'tcp.flags', 'tcp.flags.res'], 'tcp.srcport >= 41001 && tcp.srcport <= 41003');
    const bySport = new Map(crafted.map((x) => [Number(x[0]), x]));
    assert.equal(crafted.length, 4, `${name}: one SYN+FIN and one reserved-bits segment per family (${JSON.stringify(crafted)})`);
    assert.equal(Number(bySport.get(41001)?.[1]), 0x0002, `${name}: SYN+FIN repaired into SYN`);
    assert.equal(Number(bySport.get(41002)?.[2]), 0, `${name}: reserved bits cleared`);
    assert.ok(!bySport.has(41003), `${name}: xmas dropped`);
  }

  const report = (t: { diagnostic(m: string): void }, name: string, r: Round): void => {
    for (const [side, x] of [['server', r.server], ['client', r.client], ['gateway ingress (before scrub)', r.gwIngress]] as const) {
      t.diagnostic(`${name}: ${side}: ${x.frames} frames, tshark good ${JSON.stringify(x.good)} bad ${JSON.stringify(x.bad)}`);
    }
  };

  it('checksum offload off: full checksums updated in place', async (t) => {
    const r = await round('full', 7100);
    report(t, 'full', r);
    await checkRound('full', r);
    assert.equal(r.gwIngress.bad.tcp, 0, 'what arrives at the gateway has full checksums');
  });

  it("senders' checksum offload on (CHECKSUM_PARTIAL through scrub), the gateway's off", async (t) => {
    for (const [host, dev] of [['client', g.client.ifname], ['sw', g.lab.ifname('swgw')], ['server', g.server.ifname]] as const) {
      await g.lab.setOffloads(host, dev, { checksum: true });
    }
    const r = await round('partial', 7200);
    report(t, 'partial', r);
    assert.ok(r.gwIngress.bad.tcp > 20, `segments reached the gateway with a partial checksum (${r.gwIngress.bad.tcp} of ${r.gwIngress.frames}): the CHECKSUM_PARTIAL path was taken`);
    await checkRound('partial', r);
  });

  it('every action counted per interface, and in status', async () => {
    const st = await a.api.json<{ programs: { name: string; stats?: Record<string, number>; attachments: { interface: string; hook: string; attached: boolean; rank?: number }[] }[] }>('/api/v1/status');
    const p = st.programs.find((x) => x.name === 'tc-scrub');
    assert.ok(p, 'tc-scrub in status');
    assert.deepEqual(p.attachments.map((x) => [x.interface, x.hook, x.attached, x.rank]).sort(), [[g.gw.outside.ifname, 'tc-ingress', true, 20], [g.gw.inside.ifname, 'tc-ingress', true, 20]].sort());
    const s = p.stats!;
    // two rounds x two families: 2 SYN + 2 SYN-ACK clamped each (+ the repaired SYN+FIN's none)
    assert.ok(s.mss_clamped! >= 8, `mss_clamped ${s.mss_clamped}`);
    assert.equal(s.syn_fin, 4);
    assert.equal(s.xmas, 4);
    assert.equal(s.reserved_bits, 4);
    assert.equal(s.flags_dropped, 4);
    assert.equal(s.flags_repaired, 8);
    for (const k of ['ttl_raised', 'hop_limit_raised', 'df_cleared', 'ip_id_randomized', 'tos_rewritten']) assert.ok(s[k]! > 40, `${k} ${s[k]}`);
    const m = (await a.api.get('/metrics')).body;
    const line = (iface: string, action: string): number => Number(new RegExp(`^ebpfsentinel_scrub_actions_total\\{interface="${iface}",action="${action}"\\} (\\d+)`, 'm').exec(m)?.[1] ?? -1);
    assert.equal(line(g.gw.outside.ifname, 'xmas'), 4, 'xmas counted on the outside interface');
    assert.equal(line(g.gw.inside.ifname, 'xmas'), 0, 'and not on the inside one');
    assert.ok(line(g.gw.inside.ifname, 'mss_clamped') >= 4, 'SYN-ACKs clamped on the inside interface');
    assert.ok(line(g.gw.outside.ifname, 'mss_clamped') >= 4, 'SYNs clamped on the outside interface');
    assert.equal(rounds.size, 2);
  });
});
