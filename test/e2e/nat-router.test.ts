// The agent's NAT in the router lab with real traffic: the LAN masqueraded behind the router's WAN
// address (TCP, UDP, ICMP echo; IPv4 and IPv6), a port forward on the WAN address reached from
// outside, a LAN host reaching that forward on the public address (hairpin), a too-big packet's
// ICMP error translated back to the client, 100 MB over TCP through the NAT byte-exact in each
// family, the translations listed by GET /api/v1/nat and counted in metrics. Every rewritten
// packet is captured on the far side of the router and read by tshark with IP, TCP, UDP, ICMP
// and ICMPv6 checksum validation on: zero bad checksums.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildRouterLab, type RouterLab } from '../../src/lab/router.js';
import { run } from '../../src/lab/run.js';
import { writePcap } from '../../src/lab/pcap.js';
import { tcpFrame, udpFrame } from '../support/frames.js';
import { labPrerequisites } from '../support/env.js';
import { agentPrerequisites, eventually, SharedBpffs, startAgent, type RunningAgent } from './agent-support.js';

const skip = agentPrerequisites() ?? labPrerequisites(['ip', 'socat', 'ping', 'tcpdump', 'tshark', 'sha256sum']);

/** Counts of packets tshark decodes and of those with a bad checksum, per protocol. */
async function tsharkChecksums(file: string): Promise<{ packets: number; bad: number; lines: string[] }> {
  const prefs = ['ip.check_checksum:TRUE', 'tcp.check_checksum:TRUE', 'udp.check_checksum:TRUE'].flatMap((p) => ['-o', p]);
  const all = await run(['tshark', '-n', '-r', file, ...prefs, '-T', 'fields', '-e', 'frame.number'], { timeoutMs: 60_000 }, 'tshark');
  const badFilter = "ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0 || icmp.checksum.status == 0 || icmpv6.checksum.status == 0";
  const bad = await run(['tshark', '-n', '-r', file, ...prefs, '-Y', badFilter], { timeoutMs: 60_000 }, 'tshark');
  const lines = bad.stdout.split('\n').filter((l) => l.trim());
  return { packets: all.stdout.split('\n').filter((l) => l.trim()).length, bad: lines.length, lines };
}

describe('e2e: NAT in the router lab', { skip: skip ?? false }, () => {
  let r: RouterLab;
  let bpffs: SharedBpffs;
  let a: RunningAgent;
  const caps: string[] = [];

  before(async () => {
    r = await buildRouterLab();
    bpffs = SharedBpffs.mount();
    const lan = r.router.lan.ifname;
    const wan = r.router.wan.ifname;
    const policy = `
agent:
  interfaces: [${lan}, ${wan}]
  pin_root: @PIN@
  http_port: @PORT@
  allow_unauthenticated_api: true
  metrics_interval_ms: 200
firewall:
  enabled: false
conntrack:
  enabled: true
  max_entries: 8192
nat:
  enabled: true
  address_poll_secs: 1
  snat_rules:
    - { id: lan-out4, type: masquerade, interface: ${wan}, match_src: ${r.segments.lan4} }
    - { id: lan-out6, type: masquerade, interface: ${wan}, match_src: "${r.segments.lan6}" }
  dnat_rules:
    - { id: web-in4, type: port_forward, match_dst: ${r.router.wan.ipv4}, ext_port: 8080, internal_addr: ${r.lansrv.ipv4}, int_port: 80, match_protocol: tcp }
    - { id: web-in6, type: port_forward, match_dst: "${r.router.wan.ipv6}", ext_port: 8080, internal_addr: "${r.lansrv.ipv6}", int_port: 80, match_protocol: tcp }
  hairpin: { enabled: true, internal_subnet: ${r.segments.lan4}, hairpin_snat_ip: ${r.router.lan.ipv4} }
alerting:
  eve: { path: "@EVE@" }
`;
    a = await startAgent({ gw: { ns: r.router.ns, outside: { ifname: wan } } }, policy, { pinRoot: `${bpffs.dir}/esn-nat`, name: 'nat' });
  });

  after(async () => {
    await a?.stop();
    await r?.destroy();
    bpffs?.unmount();
  });

  it('the oracle: tshark with checksum validation on flags a frame whose checksum is wrong, and only it', async () => {
    const good = tcpFrame({ src: r.client.ipv4, dst: r.server.ipv4, sport: 40000, dport: 443 });
    const bad = Buffer.from(tcpFrame({ src: r.client.ipv6, dst: r.server.ipv6, sport: 40000, dport: 443 }));
    bad[14 + 40 + 16]! ^= 0x55; // the TCP checksum of the IPv6 frame
    const badUdp = Buffer.from(udpFrame({ src: r.client.ipv4, dst: r.server.ipv4, sport: 5353, dport: 53, payload: 'q' }));
    badUdp[14 + 20 + 6]! ^= 0x0f;
    const file = path.join(r.lab.tmpDir, 'oracle.pcap');
    writePcap(file, [good, bad, badUdp]);
    const t = await tsharkChecksums(file);
    assert.equal(t.packets, 3);
    assert.equal(t.bad, 2, t.lines.join('\n'));
  });

  /** Captures what leaves the router on each side while `fn` runs; every frame is checked by tshark. */
  async function checked<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const wan = await r.lab.capture('isp', r.isp.wan.ifname);
    const lan = await r.lab.capture('lansrv', r.lansrv.ifname);
    const cli = await r.lab.capture('client', r.client.ifname);
    let out: T;
    try {
      out = await fn();
    } finally {
      for (const c of [wan, lan, cli]) {
        const res = await c.stop();
        caps.push(res.file);
        const t = await tsharkChecksums(res.file);
        assert.equal(t.bad, 0, `${what}: tshark finds bad checksums in ${res.file}:\n${t.lines.join('\n')}`);
      }
    }
    return out;
  }

  for (const fam of [4, 6] as const) {
    const pick = <T>(v4: T, v6: T): T => (fam === 4 ? v4 : v6);

    it(`IPv${fam}: the LAN is masqueraded behind the WAN address (TCP, UDP, echo); the source port is kept`, async () => {
      const srvAddr = pick(r.server.ipv4, r.server.ipv6);
      const wanAddr = pick(r.router.wan.ipv4, r.router.wan.ipv6);
      const tcp = await r.lab.startTcpServer('server', 7000 + fam, fam);
      const udp = await r.lab.startUdpServer('server', 7100 + fam, fam);
      try {
        await checked(`masquerade v${fam}`, async () => {
          const port = 41000 + fam;
          const c = await r.lab.exec('client', 'socat', ['-t', '1', '-T', '3', '-', `TCP${fam}:${fam === 6 ? `[${srvAddr}]` : srvAddr}:${7000 + fam},sourceport=${port}`], { input: `tcp-v${fam}`, allowFail: true, timeoutMs: 10_000 });
          assert.equal(c.stdout, `tcp-v${fam}`, c.stderr);
          assert.deepEqual(tcp.peers(), [{ addr: wanAddr, port }], 'the server sees the WAN address and the client port');
          const u = await r.lab.udpSend('client', srvAddr, 7100 + fam, `udp-v${fam}`);
          assert.equal(u.reply, `udp-v${fam}`, u.error);
          assert.equal(udp.peers()[0]?.addr, wanAddr);
          assert.deepEqual(await r.lab.ping('client', srvAddr, { count: 3, intervalMs: 100 }), { sent: 3, received: 3 });
        });
      } finally {
        await tcp.stop();
        await udp.stop();
      }
    });

    it(`IPv${fam}: a port forward on the WAN address reaches lansrv from outside, which sees the remote host`, async () => {
      const srv = await r.lab.startTcpServer('lansrv', 80, fam);
      try {
        await checked(`forward v${fam}`, async () => {
          const f = await r.lab.tcpConnect('remote', pick(r.router.wan.ipv4, r.router.wan.ipv6), 8080, { payload: `fwd-v${fam}` });
          assert.equal(f.echoed, `fwd-v${fam}`, f.error);
          assert.deepEqual(srv.peers().map((p) => p.addr), [pick(r.remote.ipv4, r.remote.ipv6)]);
        });
        // Another port of the WAN address is not forwarded.
        const no = await r.lab.tcpConnect('remote', pick(r.router.wan.ipv4, r.router.wan.ipv6), 8081, { timeoutMs: 1500 });
        assert.equal(no.connected, false);
      } finally {
        await srv.stop();
      }
    });

    it(`IPv${fam}: a packet too big for the far link draws an ICMP error that reaches the client translated`, async () => {
      await checked(`too big v${fam}`, async () => {
        const p = await r.lab.exec('client', 'ping', [`-${fam}`, '-n', '-c', '1', '-W', '2', '-M', 'do', '-s', '1300', pick(r.server.ipv4, r.server.ipv6)], { allowFail: true });
        const want = fam === 4 ? /Frag needed and DF set \(mtu = 1280\)/ : /Packet too big: mtu=1280/;
        assert.match(p.stdout, want, p.stdout + p.stderr);
      });
    });

    it(`IPv${fam}: 100 MB over TCP through the NAT arrive byte-exact`, async () => {
      const dir = r.lab.tmpDir;
      const src = path.join(dir, `big${fam}.bin`);
      const dst = path.join(dir, `big${fam}.out`);
      await run(['sh', '-c', `head -c ${100 * 1024 * 1024} /dev/urandom > '${src}'`], { timeoutMs: 60_000 }, 'make payload');
      const port = 7200 + fam;
      const sink = r.lab.spawn('server', 'socat', ['-u', `TCP${fam}-LISTEN:${port},reuseaddr${fam === 6 ? ',ipv6only=1' : ''}`, `OPEN:${dst},creat,trunc`]);
      await new Promise((res) => setTimeout(res, 300));
      const srvAddr = pick(r.server.ipv4, r.server.ipv6);
      await r.lab.exec('client', 'socat', ['-u', `OPEN:${src}`, `TCP${fam}:${fam === 6 ? `[${srvAddr}]` : srvAddr}:${port}`], { timeoutMs: 120_000 });
      await eventually(() => !sink.running, 20_000, 'the receiver to finish');
      const h = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
      assert.equal(h(dst), h(src));
    });
  }

  it('IPv4 hairpin: a LAN host reaches the forward on the public address and lansrv sees the router', async () => {
    const srv = await r.lab.startTcpServer('lansrv', 80, 4);
    try {
      await checked('hairpin', async () => {
        const f = await r.lab.tcpConnect('client', r.router.wan.ipv4, 8080, { payload: 'hairpin' });
        assert.equal(f.echoed, 'hairpin', f.error);
        assert.deepEqual(srv.peers().map((p) => p.addr), [r.router.lan.ipv4]);
      });
    } finally {
      await srv.stop();
    }
  });

  it('GET /api/v1/nat lists live translations by rule; metrics count them and the table', async () => {
    const srv = await r.lab.startTcpServer('server', 7300, 4);
    try {
      // A connection held open while we look.
      const held = r.lab.spawn('client', 'socat', ['-T', '20', 'EXEC:sleep 15', `TCP4:${r.server.ipv4}:7300,sourceport=42424`]);
      const t = await eventually(async () => {
        const res = await fetch(`${a.api.baseUrl}/api/v1/nat`);
        const body = (await res.json()) as { translations: Array<{ rule: string; kind: string; original: { src: string; sport: number }; translated: { src: string; sport: number } }> };
        return body.translations.find((x) => x.original.src === r.client.ipv4 && x.original.sport === 42424);
      }, 10_000, 'the held connection in /api/v1/nat');
      assert.equal(t.rule, 'lan-out4');
      assert.equal(t.kind, 'masquerade');
      assert.deepEqual(t.translated.src, r.router.wan.ipv4);
      assert.equal(t.translated.sport, 42424);
      const m = await a.api.metrics();
      assert.ok(m.sum('ebpfsentinel_nat_translations', { rule: 'lan-out4' }) >= 1);
      assert.ok(m.sum('ebpfsentinel_nat_table_entries') >= 2);
      assert.equal(m.sum('ebpfsentinel_nat_refused_total'), 0);
      await held.stop('SIGTERM', 2000);
    } finally {
      await srv.stop();
    }
  });
});
