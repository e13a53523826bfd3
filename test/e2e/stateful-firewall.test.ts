// Issue 3 point 2 on real traffic: a stateful default-deny policy with tc-conntrack and
// xdp-firewall on BOTH gateway interfaces (outside, facing the client, and inside, facing the
// server). Only new TCP/UDP from the client network to the server's service ports is allowed,
// plus everything `established` or `related`, so every reply from the server passes only because
// the firewall sees its flow as established. IPv4 and IPv6:
//   (a) client→server TCP connections and UDP request/response work;
//   (b) a connection the server initiates towards the client is dropped (default policy,
//       counted and alerted);
//   (c) an open connection's packets take the fast path (ct_fastpath grows, rule hits do not);
//   (d) a reload adding a deny rule for the client above the established allow cuts a live
//       session on its next packet; removing it lets new connections through again;
//   (e) an ICMP port unreachable from the server reaches the client as `related`.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import type { LabProcess } from '../../src/lab/process.js';
import { startServer, tcpConnect, udpSend, type EchoServer } from '../../src/lab/traffic.js';
import type { MetricsSnapshot } from '../../src/demo/prom.js';
import { AGENT_PORT, agentPrerequisites, defaultPolicyHits, eventually, readEve, ruleHits, SharedBpffs, startAgent, type RunningAgent } from './agent-support.js';

const skip = agentPrerequisites();

const SVC_TCP = 7000;
const SVC_UDP = 7001;
/** inside the allowed range, nothing listens: the server answers port unreachable */
const CLOSED_UDP = 7005;
/** a listener on the client the server tries to reach */
const CLIENT_PORT = 7100;

const policy = (inside: string, cutClient: boolean): string => `
agent:
  interfaces: [@IFACE@, ${inside}]
  pin_root: @PIN@
  http_port: @PORT@
  allow_unauthenticated_api: true
  metrics_interval_ms: 200
  api_rate_limit: { enabled: false }
conntrack:
  enabled: true
firewall:
  default_policy: drop
  rules:
${cutClient ? '    - { id: cut-client, priority: 5, action: deny, src_ip: [198.18.0.10, "2001:db8::10"] }\n' : ''}    - { id: nd-ns, priority: 6, action: allow, protocol: icmpv6, icmp_type: 135 }
    - { id: nd-na, priority: 7, action: allow, protocol: icmpv6, icmp_type: 136 }
    - { id: v6-rs, priority: 8, action: allow, protocol: icmpv6, icmp_type: 133 }
    - { id: v6-mld, priority: 9, action: allow, protocol: icmpv6, icmp_type: 143 }
    - { id: est, priority: 10, action: allow, state: [established, related] }
    - { id: client-tcp, priority: 20, action: allow, state: new, protocol: tcp, src_ip: [198.18.0.0/24, "2001:db8::/64"], dst_ip: [198.18.1.1, "2001:db8:0:1::1"], dst_port: "7000-7009" }
    - { id: client-udp, priority: 21, action: allow, state: new, protocol: udp, src_ip: [198.18.0.0/24, "2001:db8::/64"], dst_ip: [198.18.1.1, "2001:db8:0:1::1"], dst_port: "7000-7009" }
alerting:
  eve: { path: "@EVE@" }
`;

// A long-lived TCP session: a line every 50 ms, every echoed line counted and printed, until
// killed. The test follows its progress through "echoed N".
const SESSION_PY = `
import select, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.setblocking(False)
print('connected', flush=True)
n = got = 0
while True:
    try:
        s.send(b'tick %d\\n' % n)
    except BlockingIOError:
        pass
    n += 1
    end = time.monotonic() + 0.05
    while True:
        t = end - time.monotonic()
        if t <= 0:
            break
        r, _, _ = select.select([s], [], [], t)
        if r:
            d = s.recv(65536)
            if not d:
                print('closed', flush=True)
                sys.exit(0)
            got += d.count(b'\\n')
            print('echoed %d' % got, flush=True)
`;

function echoed(p: LabProcess): number {
  const m = [...p.stdout.matchAll(/echoed (\d+)/g)].pop();
  return m ? Number(m[1]) : 0;
}

const fw = (m: MetricsSnapshot, ifname: string, counter: string): number =>
  m.value('ebpfsentinel_program_reasons_total', { program: 'xdp-firewall', interface: ifname, counter });

describe('stateful firewall e2e: default deny, established/related only, both gateway interfaces', { skip: skip ?? false }, () => { // process.env.CI: agentPrerequisites() throws instead of skipping
  let g: GatewayLab;
  let bpffs: SharedBpffs;
  let a: RunningAgent;
  const servers: EchoServer[] = [];
  const procs: LabProcess[] = [];
  const srv = (fam: 4 | 6): string => (fam === 4 ? g.server.ipv4 : g.server.ipv6);
  const cli = (fam: 4 | 6): string => (fam === 4 ? g.client.ipv4 : g.client.ipv6);

  const reload = async (cutClient: boolean): Promise<void> => {
    const text = policy(g.gw.inside.ifname, cutClient).replaceAll('@IFACE@', g.gw.outside.ifname).replaceAll('@PIN@', a.pinRoot).replaceAll('@EVE@', a.evePath).replaceAll('@PORT@', String(AGENT_PORT));
    writeFileSync(a.configPath, `${text}storage:\n  path: ${a.dir}/sentinel.db\n`);
    const res = await fetch(`${a.api.baseUrl}/api/v1/config/reload`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
    const body = (await res.json()) as { ok?: boolean };
    assert.equal(res.status, 200, `reload: ${JSON.stringify(body)}`);
    assert.equal(body.ok, true);
  };

  before(async () => {
    bpffs = SharedBpffs.mount();
    g = await buildGatewayLab();
    a = await startAgent(g, policy(g.gw.inside.ifname, false), { pinRoot: `${bpffs.dir}/esn-stateful`, name: 'stateful' });
    for (const fam of [4, 6] as const) {
      servers.push(await startServer(g.lab, 'server', 'tcp', SVC_TCP, fam));
      servers.push(await startServer(g.lab, 'server', 'udp', SVC_UDP, fam));
      servers.push(await startServer(g.lab, 'client', 'tcp', CLIENT_PORT, fam));
    }
  });

  after(async () => {
    for (const p of procs) await p.stop();
    for (const s of servers) await s.stop();
    if (a) await a.stop();
    await g?.destroy();
    bpffs?.unmount();
  });

  it('status: xdp-firewall and tc-conntrack run on both gateway interfaces', async () => {
    const st = await a.api.status();
    for (const name of ['xdp-firewall', 'tc-conntrack']) {
      assert.ok(st.programs.some((p) => p.name === name && p.loaded), `${name} loaded: ${JSON.stringify(st.programs)}`);
    }
    const m = await a.api.metrics();
    for (const ifname of [g.gw.outside.ifname, g.gw.inside.ifname]) {
      assert.ok(m.value('ebpfsentinel_packets_seen_total', { program: 'xdp-firewall', interface: ifname }) >= 0, `xdp-firewall counts ${ifname}`);
    }
  });

  for (const fam of [4, 6] as const) {
    it(`IPv${fam}: (a) client→server TCP and UDP work, replies passing as established`, async () => {
      const m0 = await a.api.metrics();
      // Both tried before either is judged, so a failure names every protocol that broke.
      const tcp = await tcpConnect(g.lab, 'client', srv(fam), SVC_TCP, { payload: `hello tcp v${fam}\n`, timeoutMs: 3000 });
      const udp = await udpSend(g.lab, 'client', srv(fam), SVC_UDP, `hello udp v${fam}\n`, { timeoutMs: 1500 });
      assert.deepEqual(
        { tcpConnected: tcp.connected, tcpEchoed: tcp.echoed, udpReply: udp.reply },
        { tcpConnected: true, tcpEchoed: `hello tcp v${fam}\n`, udpReply: `hello udp v${fam}\n` },
        `TCP and UDP replies from the server pass the inside interface as established (tcp: ${tcp.error || 'ok'}; udp: ${udp.error || 'no error'})`,
      );
      // The replies entered the inside interface: nothing but `est` allows the server's packets.
      const m1 = await eventually(async () => {
        const m = await a.api.metrics();
        return ruleHits(m, 'est') > ruleHits(m0, 'est') ? m : undefined;
      }, 5000, 'the established rule counted the replies');
      assert.ok(ruleHits(m1, 'client-tcp') > ruleHits(m0, 'client-tcp'), 'the TCP SYN was allowed as new by client-tcp');
      assert.ok(ruleHits(m1, 'client-udp') > ruleHits(m0, 'client-udp'), 'the UDP request was allowed as new by client-udp');
    });

    it(`IPv${fam}: (b) a connection the server initiates towards the client is dropped by the default policy`, async () => {
      const m0 = await a.api.metrics();
      const clientTcp = servers.find((s) => s.proto === 'tcp' && s.port === CLIENT_PORT && s.family === fam)!;
      const peersBefore = clientTcp.peers().length;
      const r = await tcpConnect(g.lab, 'server', cli(fam), CLIENT_PORT, { payload: 'from server\n', timeoutMs: 1500 });
      assert.equal(r.connected, false, 'the server could not connect to the client');
      assert.equal(clientTcp.peers().length, peersBefore, 'the client listener accepted nothing');
      await eventually(async () => defaultPolicyHits(await a.api.metrics(), g.gw.inside.ifname) > defaultPolicyHits(m0, g.gw.inside.ifname), 5000, 'default_policy counted on the inside interface');
      await eventually(
        () => readEve(a.evePath).some((e) => e.src_ip === srv(fam) && e.dest_ip === cli(fam) && e.dest_port === CLIENT_PORT && e.ebpfsentinel.reason === 'default'),
        5000,
        `a default-policy alert for ${srv(fam)} → ${cli(fam)}:${CLIENT_PORT}`,
      );
    });

    it(`IPv${fam}: (c) an open connection takes the fast path: ct_fastpath grows, rule hits do not`, async () => {
      const sess = g.lab.spawn('client', 'python3', ['-c', SESSION_PY, srv(fam), String(SVC_TCP)]);
      procs.push(sess);
      await sess.waitFor(/connected/, 5000);
      await eventually(() => echoed(sess) >= 5, 10_000, 'the session echoes lines');
      // Past the first established packets (each direction is evaluated once per policy).
      await new Promise((r) => setTimeout(r, 500));
      const m0 = await a.api.metrics();
      const e0 = echoed(sess);
      const m1 = await eventually(async () => {
        const m = await a.api.metrics();
        return echoed(sess) >= e0 + 40 && fw(m, g.gw.inside.ifname, 'ct_fastpath') >= fw(m0, g.gw.inside.ifname, 'ct_fastpath') + 40 ? m : undefined;
      }, 15_000, '40 more lines echoed and counted on the fast path');
      const fastOut = fw(m1, g.gw.outside.ifname, 'ct_fastpath') - fw(m0, g.gw.outside.ifname, 'ct_fastpath');
      const fastIn = fw(m1, g.gw.inside.ifname, 'ct_fastpath') - fw(m0, g.gw.inside.ifname, 'ct_fastpath');
      assert.ok(fastOut >= 40, `client→server packets on the fast path: ${fastOut}`);
      assert.ok(fastIn >= 40, `server→client packets on the fast path: ${fastIn}`);
      const hits = ['est', 'client-tcp'].map((id) => ruleHits(m1, id) - ruleHits(m0, id));
      assert.ok(hits.every((h) => h <= 2), `rule hits did not grow per packet: est +${hits[0]}, client-tcp +${hits[1]} while ${fastOut + fastIn} packets took the fast path`);
      assert.ok(sess.running, 'the session is still open');
    });

    it(`IPv${fam}: (d) a reload denying the client cuts the live session; removing it lets new connections through`, async () => {
      const sess = procs[procs.length - 1]!;
      assert.ok(sess.running && echoed(sess) > 0, 'the session of (c) is live');
      const m0 = await a.api.metrics();
      await reload(true);
      const cutAt = echoed(sess);
      await new Promise((r) => setTimeout(r, 1500));
      assert.ok(echoed(sess) <= cutAt + 1, `no line echoed after the reload (echoed ${cutAt} → ${echoed(sess)})`);
      await eventually(async () => ruleHits(await a.api.metrics(), 'cut-client') > ruleHits(m0, 'cut-client'), 5000, 'cut-client counted the session packets');
      const blocked = await tcpConnect(g.lab, 'client', srv(fam), SVC_TCP, { timeoutMs: 1000 });
      assert.equal(blocked.connected, false, 'a new connection is refused while the deny rule is loaded');
      await sess.stop();
      await reload(false);
      const tcp = await tcpConnect(g.lab, 'client', srv(fam), SVC_TCP, { payload: `again v${fam}\n`, timeoutMs: 3000 });
      assert.ok(tcp.connected, `TCP connects again after the deny rule is removed: ${tcp.error}`);
      assert.equal(tcp.echoed, `again v${fam}\n`);
      const udp = await udpSend(g.lab, 'client', srv(fam), SVC_UDP, `again udp v${fam}\n`, { timeoutMs: 1500 });
      assert.equal(udp.reply, `again udp v${fam}\n`, `UDP works again: ${udp.error}`);
    });

    it(`IPv${fam}: (e) an ICMP port unreachable from the server reaches the client as related`, async () => {
      const m0 = await a.api.metrics();
      const r = await udpSend(g.lab, 'client', srv(fam), CLOSED_UDP, 'anyone?\n', { timeoutMs: 1500 });
      assert.match(r.error, /Connection refused/, `the client learnt the port is closed (ICMP${fam === 6 ? 'v6' : ''} unreachable passed): ${JSON.stringify(r)}`);
      const m1 = await eventually(async () => {
        const m = await a.api.metrics();
        return ruleHits(m, 'est') > ruleHits(m0, 'est') ? m : undefined;
      }, 5000, 'the established/related rule passed the ICMP error');
      assert.equal(defaultPolicyHits(m1, g.gw.inside.ifname), defaultPolicyHits(m0, g.gw.inside.ifname), 'nothing from the server met the default policy');
    });
  }
});
