// Issue 9 point 6: enforcement never depends on the agent process being alive. The real agent
// runs on the gateway lab (xdp-firewall on the client-facing interface, tc-conntrack beside it,
// xdp-ratelimit chained behind the firewall) with a policy that allows UDP 7000 and TCP 7100,
// denies UDP 7001 by a rule and UDP 7002 by the default policy. The client sends numbered
// datagrams to all three ports, IPv4 and IPv6, without pause; a receiver in the server namespace
// (an observer that shares nothing with the agent) records every one that arrives, and nftables
// counters in the server namespace count the denied ports' packets a second way. Two TCP
// connections (IPv4, IPv6) carry an echo exchange throughout.
//
//   (a) the agent is SIGKILLed; traffic goes on for 5 s with no agent; a new agent is started
//       on the same pin root and takes over.
//   (b) that agent is stopped (SIGTERM, agent.on_exit: keep) and an agent is started on
//       program objects built differently (-O3: other instructions, same maps): an upgrade, the
//       programs replaced in place.
//
// Then: no datagram to a denied port arrived (receiver and nft agree), every datagram to the
// allowed port arrived unless the sender loses as many without any agent (measured first), the
// TCP connections never broke and kept exchanging through both, and status says what was taken
// over (links, kept maps, the object change). Finally `ebpfsentinel detach` removes it all.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import type { LabProcess } from '../../src/lab/process.js';
import { AGENT_BIN } from '../../src/demo/agent-process.js';
import type { AgentStatus } from '../../src/status/types.js';
import { REPO_ROOT } from '../../src/version.js';
import { labPrerequisites } from '../support/env.js';
import { agentPrerequisites, eventually, SharedBpffs, startAgent, type RunningAgent } from './agent-support.js';
import { TRAFFIC_AGENT_YAML, collectRounds, latestCounts, rcvbufErrors, RECEIVER_PY, SENDER_PY, staticNeighbours } from './reload-traffic-support.js';

const skip = agentPrerequisites() ?? labPrerequisites(['nft']);

const PORT = { allowed: 7000, denied: 7001, dflt: 7002, tcp: 7100 } as const;
const UDP_PORTS = [PORT.allowed, PORT.denied, PORT.dflt];
const UPGRADE_DIR = path.join(REPO_ROOT, 'build', 'bpf-upgrade');

const POLICY = `
${TRAFFIC_AGENT_YAML}firewall:
  default_policy: drop
  rules:
    - { id: nd-ns, priority: 1, action: allow, protocol: icmpv6, icmp_type: 135 }
    - { id: nd-na, priority: 2, action: allow, protocol: icmpv6, icmp_type: 136 }
    - { id: udp-allowed, priority: 10, action: allow, protocol: udp, dst_port: ${PORT.allowed} }
    - { id: udp-denied, priority: 20, action: deny, protocol: udp, dst_port: ${PORT.denied} }
    - { id: tcp-allowed, priority: 30, action: allow, protocol: tcp, dst_port: ${PORT.tcp} }
conntrack:
  enabled: true
ratelimit:
  enabled: true
  rules:
    - { id: udp-roomy, protocol: udp, dst_port: ${PORT.allowed}, rate: 10000000, burst: 10000000 }
alerting:
  eve: { path: "@EVE@" }
`;

// nftables in the server namespace: what reaches the server on each UDP port, counted by the
// kernel's own netfilter (an observer independent of the receiver and of the agent).
const SERVER_NFT = `
table inet fsobs {
  chain in {
    type filter hook prerouting priority -300; policy accept;
${UDP_PORTS.map((p) => `    udp dport ${p} counter comment "p${p}"`).join('\n')}
  }
}
`;

async function nftCounts(g: GatewayLab): Promise<Map<number, number>> {
  const out = (await g.lab.exec('server', 'nft', ['-j', 'list', 'table', 'inet', 'fsobs'])).stdout;
  const m = new Map<number, number>();
  const doc = JSON.parse(out) as { nftables: { rule?: { comment?: string; expr: { counter?: { packets: number } }[] } }[] };
  for (const o of doc.nftables) {
    const r = o.rule;
    if (!r?.comment) continue;
    const c = r.expr.find((e) => e.counter)?.counter;
    m.set(Number(r.comment.slice(1)), c?.packets ?? 0);
  }
  return m;
}

// A TCP echo server (both families) and a client that keeps one connection per family
// exchanging numbered lines; it prints its progress and, on SIGTERM, "tcp <n4> <n6>". Any error
// (reset, timeout of 10 s, a wrong echo) is printed and ends it with a non-zero status.
const ECHO_SERVER_PY = `
import socket, threading, sys
port = int(sys.argv[1])
def serve(c):
    with c:
        while True:
            d = c.recv(4096)
            if not d: return
            c.sendall(d)
def listen(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port)); s.listen(8)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
threading.Thread(target=listen, args=(socket.AF_INET, '0.0.0.0'), daemon=True).start()
threading.Thread(target=listen, args=(socket.AF_INET6, '::'), daemon=True).start()
print('listening', flush=True)
threading.Event().wait()
`;

const ECHO_CLIENT_PY = `
import signal, socket, sys, time
dst4, dst6, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
conns = []
for fam, dst in ((socket.AF_INET, dst4), (socket.AF_INET6, dst6)):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((dst, port))
    conns.append([s, 0, b''])
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
print('connected', flush=True)
try:
    while not stop:
        for c in conns:
            line = ('%d\\n' % c[1]).encode()
            c[0].sendall(line)
            while b'\\n' not in c[2]:
                d = c[0].recv(4096)
                if not d: raise Exception('connection closed by peer')
                c[2] += d
            got, c[2] = c[2].split(b'\\n', 1)
            if int(got) != c[1]: raise Exception('echo %s for %d' % (got, c[1]))
            c[1] += 1
        print('echoes %d %d' % (conns[0][1], conns[1][1]), flush=True)
        time.sleep(0.02)
except Exception as e:
    print('tcp error %s' % e, flush=True)
    sys.exit(3)
print('tcp %d %d' % (conns[0][1], conns[1][1]), flush=True)
`;

function echoes(p: LabProcess): [number, number] {
  const all = [...p.stdout.matchAll(/echoes (\d+) (\d+)/g)];
  const m = all.at(-1);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

async function status(a: RunningAgent): Promise<AgentStatus> {
  const r = await a.api.get('/api/v1/status');
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as AgentStatus;
}

/** What the XDP hook of the gateway's client-facing interface runs (ip -j link). */
async function xdpProgId(g: GatewayLab): Promise<number | undefined> {
  const out = (await g.lab.exec('gw', 'ip', ['-j', '-d', 'link', 'show', 'dev', g.gw.outside.ifname])).stdout;
  const l = (JSON.parse(out) as { xdp?: { prog?: { id: number } } }[])[0];
  return l?.xdp?.prog?.id;
}

describe('fail-static: enforcement outlives the agent (gateway lab, real agent, IPv4 and IPv6)', { skip: skip ?? false }, () => { // process.env.CI: agentPrerequisites() throws instead of skipping
  let g: GatewayLab;
  let bpffs: SharedBpffs;
  let a: RunningAgent | null = null;
  const procs: LabProcess[] = [];
  let pinRoot: string;

  before(async () => {
    for (const f of ['xdp_firewall', 'tc_conntrack', 'xdp_ratelimit']) assert.ok(existsSync(path.join(UPGRADE_DIR, `${f}.bpf.o`)), `${UPGRADE_DIR}/${f}.bpf.o is built (make build)`);
    bpffs = SharedBpffs.mount();
    pinRoot = `${bpffs.dir}/esn-failstatic`;
    g = await buildGatewayLab();
    await g.lab.exec('server', 'nft', ['-f', '-'], { input: SERVER_NFT });
    await staticNeighbours(g);
  });

  after(async () => {
    for (const p of procs) await p.stop('SIGKILL', 2000).catch(() => undefined);
    if (a) await a.stop().catch(() => undefined);
    await g?.destroy();
    bpffs?.unmount();
  });

  test('SIGKILL, 5 s without an agent, restart; then an upgrade: no denied packet passes, no allowed one is lost, TCP carries on', { timeout: 300_000 }, async (t) => {
    // Baseline: what the sender and receiver lose with no agent at all (nothing attached).
    const rb0 = await rcvbufErrors(g, 'server');
    const baseOut = path.join(g.lab.tmpDir, 'baseline.json');
    const brx = g.lab.spawn('server', 'python3', ['-c', RECEIVER_PY, baseOut, UDP_PORTS.join(','), '1', '0.0002']);
    procs.push(brx);
    await brx.waitFor(/receiving/, 5000);
    const btx = g.lab.spawn('client', 'python3', ['-c', SENDER_PY, g.server.ipv4, g.server.ipv6, UDP_PORTS.join(','), '1', '0.0002']);
    procs.push(btx);
    await btx.waitFor(/sending/, 5000);
    await new Promise((r) => setTimeout(r, 3000));
    const base = await collectRounds(g, btx, brx, baseOut, rb0);
    const baselineLoss = Math.max(...[4, 6].map((f) => base.rounds - new Set(base.got[`${f}/${PORT.allowed}`]).size));

    const echo = g.lab.spawn('server', 'python3', ['-c', ECHO_SERVER_PY, String(PORT.tcp)]);
    procs.push(echo);
    await echo.waitFor(/listening/, 5000);

    const nft0 = await nftCounts(g); // the baseline's datagrams (no firewall) are not the run's
    a = await startAgent(g, POLICY, { pinRoot, name: 'fs1' });
    const firstProg = await xdpProgId(g);
    assert.ok(firstProg, 'the first agent attached XDP');

    const rb1 = await rcvbufErrors(g, 'server');
    const jsonOut = path.join(g.lab.tmpDir, 'received.json');
    const rx = g.lab.spawn('server', 'python3', ['-c', RECEIVER_PY, jsonOut, UDP_PORTS.join(','), '1', '0.0002']);
    procs.push(rx);
    await rx.waitFor(/receiving/, 5000);
    const tx = g.lab.spawn('client', 'python3', ['-c', SENDER_PY, g.server.ipv4, g.server.ipv6, UDP_PORTS.join(','), '1', '0.0002']);
    procs.push(tx);
    await tx.waitFor(/sending/, 5000);
    const tcp = g.lab.spawn('client', 'python3', ['-c', ECHO_CLIENT_PY, g.server.ipv4, g.server.ipv6, String(PORT.tcp)]);
    procs.push(tcp);
    await tcp.waitFor(/connected/, 10_000);
    const flowing = async (what: string): Promise<void> => {
      const c0 = latestCounts(rx);
      const e0 = echoes(tcp);
      await eventually(() => {
        const c = latestCounts(rx);
        const e = echoes(tcp);
        return [4, 6].every((f) => (c.get(`${f}/${PORT.allowed}`) ?? 0) > (c0.get(`${f}/${PORT.allowed}`) ?? 0) + 50) && e[0] > e0[0] + 10 && e[1] > e0[1] + 10;
      }, 15_000, `${what}: allowed datagrams and TCP echoes flowing in IPv4 and IPv6 (tcp client: ${tcp.stdout.slice(-200)})`);
    };
    await flowing('first agent');

    // (a) SIGKILL: nothing of the agent runs; its pinned links and maps go on.
    process.kill(a.agent.pid, 'SIGKILL');
    await a.agent.process.exited;
    await a.forwarder.stop();
    a = null;
    assert.equal(await xdpProgId(g), firstProg, 'the XDP program stays attached after SIGKILL');
    await flowing('no agent');
    await new Promise((r) => setTimeout(r, 5000));
    a = await startAgent(g, POLICY, { pinRoot, name: 'fs2' });
    const secondProg = await xdpProgId(g);
    assert.ok(secondProg && secondProg !== firstProg, `the second agent replaced the program in place (${firstProg} -> ${secondProg})`);
    const s2 = await status(a);
    const fw2 = s2.programs.find((p) => p.name === 'xdp-firewall')!;
    assert.equal(fw2.attachments[0]?.adopted, true, 'status: the XDP attachment was taken over');
    assert.equal(fw2.attachments[0]?.prog_id, secondProg, 'status: the prog id the hook runs');
    assert.equal(fw2.adoption?.object_changed, false, 'same object after SIGKILL');
    for (const m of ['fw_active', 'fw_gen', 'fw_rules', 'fw_lpm_v4', 'fw_lpm_v6']) assert.ok(fw2.adoption?.maps_kept.includes(m), `policy map ${m} kept (${JSON.stringify(fw2.adoption)})`);
    const ct2 = s2.programs.find((p) => p.name === 'tc-conntrack')!;
    assert.ok(ct2.adoption?.maps_kept.includes('ct_config'), `conntrack maps kept: ${JSON.stringify(ct2.adoption)}`);
    assert.ok(fw2.adoption?.maps_kept.includes('ct_table') || ct2.adoption?.maps_kept.includes('ct_table'), 'the conntrack table (flows) kept');
    assert.ok(s2.programs.find((p) => p.name === 'xdp-ratelimit')!.adoption?.maps_kept.includes('rl_buckets'), 'rate-limit buckets kept');
    assert.equal(ct2.attachments.filter((x) => x.adopted).length, 2, 'conntrack ingress and egress taken over');
    const m2 = await a.api.metrics();
    assert.equal(m2.value('ebpfsentinel_adopted_attachments', { program: 'xdp-firewall' }), 1, 'metrics: the XDP attachment taken over');
    assert.equal(m2.value('ebpfsentinel_adopted_attachments', { program: 'tc-conntrack' }), 2);
    assert.equal(m2.value('ebpfsentinel_adopted_maps', { program: 'xdp-firewall', outcome: 'kept' }), fw2.adoption!.maps_kept.length);
    assert.equal(m2.value('ebpfsentinel_adopted_maps', { program: 'xdp-firewall', outcome: 'fresh' }), 0);
    await flowing('second agent');

    // (b) upgrade: SIGTERM (on_exit keep leaves the programs enforcing), start on other objects.
    const r2 = await a.stop();
    assert.equal(r2.code, 0, 'SIGTERM: clean exit');
    a = null;
    assert.equal(await xdpProgId(g), secondProg, 'on_exit keep: the program stays attached after SIGTERM');
    await flowing('between the second and third agent');
    a = await startAgent(g, POLICY, { pinRoot, name: 'fs3', extraArgs: ['--object-dir', UPGRADE_DIR] });
    const thirdProg = await xdpProgId(g);
    assert.ok(thirdProg && thirdProg !== secondProg, `the upgrade replaced the program in place (${secondProg} -> ${thirdProg})`);
    const s3 = await status(a);
    for (const p of ['xdp-firewall', 'tc-conntrack', 'xdp-ratelimit']) {
      const ps = s3.programs.find((x) => x.name === p)!;
      assert.equal(ps.adoption?.object_changed, true, `${p}: status says the object changed`);
      assert.deepEqual(ps.adoption?.maps_fresh, [], `${p}: same layouts, nothing started fresh`);
    }
    await flowing('upgraded agent');

    await tcp.stop('SIGTERM', 15_000);
    assert.match(tcp.stdout, /^tcp \d+ \d+$/m, `the TCP connections carried on through both restarts: ${tcp.stdout.slice(-300)}`);
    const { rounds, got } = await collectRounds(g, tx, rx, jsonOut, rb1);
    const nftNow = await nftCounts(g);
    const nft = new Map([...nftNow].map(([p, n]) => [p, n - (nft0.get(p) ?? 0)]));

    const lost: number[] = [];
    for (const f of [4, 6] as const) {
      const allowed = new Set(got[`${f}/${PORT.allowed}`]);
      let missing = 0;
      for (let r = 0; r < rounds; r++) if (!allowed.has(r)) missing++;
      lost.push(missing);
      assert.ok(missing <= baselineLoss, `IPv${f}: ${missing} of ${rounds} allowed datagrams lost (the sender alone loses ${baselineLoss})`);
      assert.deepEqual(got[`${f}/${PORT.denied}`], [], `IPv${f}: datagrams denied by a rule arrived`);
      assert.deepEqual(got[`${f}/${PORT.dflt}`], [], `IPv${f}: datagrams denied by the default policy arrived`);
    }
    assert.equal(nft.get(PORT.denied), 0, 'nftables in the server namespace saw no datagram to the rule-denied port');
    assert.equal(nft.get(PORT.dflt), 0, 'nftables in the server namespace saw no datagram to the default-denied port');
    assert.ok((nft.get(PORT.allowed) ?? 0) >= 2 * rounds - lost[0]! - lost[1]!, 'nftables counted the allowed datagrams');
    const [n4, n6] = (/^tcp (\d+) (\d+)$/m.exec(tcp.stdout) ?? []).slice(1).map(Number);
    t.diagnostic(
      `baseline (no agent, 3 s): ${base.rounds} rounds, allowed lost ${baselineLoss}; run: ${rounds} rounds = ${rounds * 6} datagrams, allowed lost IPv4 ${lost[0]} / IPv6 ${lost[1]}, ` +
        `denied arrived 0 (receiver) / ${nft.get(PORT.denied)}+${nft.get(PORT.dflt)} (nft), allowed counted by nft ${nft.get(PORT.allowed)}; TCP echoes IPv4 ${n4} / IPv6 ${n6}; XDP prog ${firstProg} -> ${secondProg} -> ${thirdProg}`,
    );

    // detach: refused while the agent runs, then removes everything once it is gone.
    const detach = (): { status: number; out: string } => {
      try {
        return { status: 0, out: execFileSync('ip', ['netns', 'exec', g.gw.ns, process.execPath, AGENT_BIN, 'detach', '--pin-root', pinRoot, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
      } catch (e) {
        const err = e as { status: number; stdout: string; stderr: string };
        return { status: err.status, out: err.stdout + err.stderr };
      }
    };
    const refused = detach();
    assert.equal(refused.status, 1, `detach refused while the agent runs: ${refused.out}`);
    assert.match(refused.out, /is running on/);
    const a3cfg = a.configPath;
    const r3 = await a.stop();
    assert.equal(r3.code, 0);
    a = null;
    const kept = await xdpProgId(g);
    assert.ok(kept, 'kept after SIGTERM');
    // doctor reports what is left and which program each hook runs
    let docOut: string;
    try {
      docOut = execFileSync('ip', ['netns', 'exec', g.gw.ns, process.execPath, AGENT_BIN, 'doctor', '--config', a3cfg, '--json'], { encoding: 'utf8' });
    } catch (e) {
      docOut = (e as { stdout: string }).stdout; // a failed check elsewhere exits 1; the report is still whole
    }
    const doc = JSON.parse(docOut) as { checks: { name: string; detail: string }[] };
    const left = doc.checks.find((c) => c.name === 'pinned programs');
    assert.ok(left, 'doctor has a pinned-programs line');
    assert.match(left.detail, /exited leaving its programs enforcing/);
    assert.match(left.detail, new RegExp(`xdp-firewall: xdp@${g.gw.outside.ifname} prog ${kept}`));
    const done = detach();
    assert.equal(done.status, 0, done.out);
    const d = JSON.parse(done.out) as { links: string[]; maps: number };
    assert.equal(d.links.length, 3, `three links detached (XDP, conntrack ingress and egress): ${done.out}`);
    assert.ok(d.maps > 10, 'map pins removed');
    assert.equal(await xdpProgId(g), undefined, 'nothing attached at XDP any more');
    assert.equal(existsSync(pinRoot), false, 'pin root removed');
  });
});
