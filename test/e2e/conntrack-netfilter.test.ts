// tc-conntrack against the kernel's own netfilter conntrack on the same traffic. The agent runs
// tc-conntrack on both gateway interfaces of the lab; an nft table with a `ct state` rule in the
// gateway namespace makes netfilter track the same forwarded flows. Real tools make the traffic
// (socat TCP and UDP, ping and ping -6) and, for each case, the state the agent reports through
// GET /api/v1/conntrack must equal the netfilter state (`conntrack -L -o extended`) mapped into
// our vocabulary, and the state the case is meant to produce, and the two must agree on
// netfilter's ASSURED bit: TCP syn_sent, syn_recv, established, close_wait after a half-close,
// last_ack, time_wait after an orderly and after a simultaneous close (real sockets held in
// each state by a peer driven step by step and nft rules that drop the one segment that would
// move on), fin_wait (crafted frames: a real stack acknowledges a FIN at once and retransmits an
// unanswered one), UDP unreplied / replied / assured by netfilter's 2-second stream rule, ICMP
// echo answered or not — IPv4 and IPv6.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { Flow } from '../../src/engines/conntrack/flows.js';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/index.js';
import type { LabProcess } from '../../src/lab/process.js';
import { canonicalIp } from '../../src/lab/inet.js';
import { ping, tcpConnect, udpSend, type EchoServer } from '../../src/lab/traffic.js';
import { labPrerequisites } from '../support/env.js';
import { REPO_ROOT } from '../../src/version.js';
import { tcpFrame } from '../support/frames.js';
import { agentPrerequisites, eventually, SharedBpffs, startAgent, type RunningAgent } from './agent-support.js';
import { SocketPeer } from './socket-peer.js';

const skip = agentPrerequisites() ?? labPrerequisites(['conntrack', 'nft', 'ss', 'python3']);

/** One netfilter conntrack entry: the original direction's tuple and how far the flow got. */
export interface NfEntry {
  family: 'ipv4' | 'ipv6';
  proto: string;
  /** TCP state word (ESTABLISHED, TIME_WAIT...); absent for UDP and ICMP */
  tcpState?: string;
  src: string;
  dst: string;
  /** TCP/UDP ports; ICMP echo: the identifier in both */
  sport: number;
  dport: number;
  unreplied: boolean;
  assured: boolean;
}

/** Parses `conntrack -L -o extended` lines (ipv4 2 tcp 6 117 TIME_WAIT src=... [ASSURED] ...). */
export function parseConntrackL(text: string): NfEntry[] {
  const out: NfEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || (f[0] !== 'ipv4' && f[0] !== 'ipv6')) continue;
    const kv = (k: string): string | undefined => f.find((x) => x.startsWith(`${k}=`))?.slice(k.length + 1);
    const proto = f[2]!;
    const word = f[5]!;
    const e: NfEntry = {
      family: f[0],
      proto,
      src: canonicalIp(kv('src') ?? ''),
      dst: canonicalIp(kv('dst') ?? ''),
      sport: Number(kv('sport') ?? kv('id')),
      dport: Number(kv('dport') ?? kv('id')),
      unreplied: f.includes('[UNREPLIED]'),
      assured: f.includes('[ASSURED]'),
    };
    if (/^[A-Z_]+$/.test(word)) e.tcpState = word;
    out.push(e);
  }
  return out;
}

/** netfilter's vocabulary → ours. TCP states map word for word; UDP and ICMP have no state word
 * in netfilter, only whether the other side has answered ([UNREPLIED] absent) and, for UDP,
 * whether the flow became a stream ([ASSURED]). */
export function nfToOurs(e: NfEntry): string {
  if (e.proto === 'tcp') {
    const map: Record<string, string> = {
      SYN_SENT: 'syn_sent',
      SYN_RECV: 'syn_recv',
      ESTABLISHED: 'established',
      FIN_WAIT: 'fin_wait',
      CLOSE_WAIT: 'close_wait',
      LAST_ACK: 'last_ack',
      TIME_WAIT: 'time_wait',
      CLOSE: 'close',
    };
    const s = map[e.tcpState ?? ''];
    if (!s) throw new Error(`netfilter TCP state ${e.tcpState ?? '(none)'} has no counterpart`);
    return s;
  }
  if (e.proto === 'udp') return e.unreplied ? 'udp_unreplied' : e.assured ? 'udp_assured' : 'udp_replied';
  if (e.proto === 'icmp' || e.proto === 'icmpv6') return e.unreplied ? 'icmp_unreplied' : 'icmp_replied';
  throw new Error(`netfilter protocol ${e.proto} is not tracked by tc-conntrack`);
}

const NFT = `
table inet esnct {
  chain track {
    type filter hook forward priority 0; policy accept;
    ct state { new, established, related, invalid } counter accept
  }
}
`;

interface Case {
  name: string;
  family: 4 | 6;
  proto: 'tcp' | 'udp' | 'icmp' | 'icmpv6';
  /** responder port (ICMP: none, matched by addresses) */
  port?: number;
  /** responder address when not the server */
  dst?: string;
  expect: string;
  /** netfilter's ASSURED bit the case must end with (both sides are compared in any case) */
  assured?: boolean;
}

/** The server drops SYNs to this port silently (the client's SYN stays unanswered). */
const BLACKHOLE_PORT = 9300;
const SERVER_NFT = `
table inet esnsrv {
  chain in {
    type filter hook input priority 0; policy accept;
    tcp dport ${BLACKHOLE_PORT} drop
  }
}
`;

describe('tc-conntrack agrees with netfilter conntrack on real traffic (gateway lab)', { skip: skip ?? false }, () => { // CI=true: the prerequisites throw instead of skipping
  let g: GatewayLab;
  let bpffs: SharedBpffs;
  let a: RunningAgent;
  const procs: LabProcess[] = [];
  const servers: EchoServer[] = [];

  before(async () => {
    bpffs = SharedBpffs.mount();
    g = await buildGatewayLab();
    await g.lab.exec('gw', 'nft', ['-f', '-'], { input: NFT });
    await g.lab.exec('server', 'nft', ['-f', '-'], { input: SERVER_NFT });
    const policy = `
agent:
  interfaces: [${g.gw.outside.ifname}, ${g.gw.inside.ifname}]
  pin_root: @PIN@
  http_port: @PORT@
  allow_unauthenticated_api: true
  metrics_interval_ms: 200
firewall:
  enabled: false
conntrack:
  enabled: true
  max_entries: 8192
alerting:
  eve: { path: "@EVE@" }
`;
    a = await startAgent(g, policy, { pinRoot: `${bpffs.dir}/esn-ct`, name: 'conntrack' });
  });

  const peers: SocketPeer[] = [];
  after(async () => {
    for (const p of peers) await p.stop().catch(() => undefined);
    for (const p of procs) await p.stop('SIGTERM', 2000).catch(() => undefined);
    for (const s of servers) await s.stop().catch(() => undefined);
    await a?.stop();
    await g?.destroy();
    bpffs?.unmount();
  });

  const ours = async (): Promise<Flow[]> => {
    const r = await a.api.json<{ flows: Flow[] }>('/api/v1/conntrack?limit=10000');
    return r.flows;
  };
  const theirs = async (): Promise<NfEntry[]> => parseConntrackL((await g.lab.exec('gw', 'conntrack', ['-L', '-o', 'extended'], { allowFail: true })).stdout);

  const clientOf = (fam: 4 | 6): string => (fam === 4 ? g.client.ipv4 : g.client.ipv6);
  const serverOf = (fam: 4 | 6): string => (fam === 4 ? g.server.ipv4 : g.server.ipv6);
  const hostPort = (fam: 4 | 6, addr: string, port: number): string => (fam === 4 ? `${addr}:${port}` : `[${addr}]:${port}`);

  /** The one flow of the case in each table; both must exist and agree with each other and with
   * what the case is meant to produce. */
  async function compare(c: Case): Promise<void> {
    const cli = canonicalIp(clientOf(c.family));
    const srv = canonicalIp(c.dst ?? serverOf(c.family));
    const fam = c.family === 4 ? 'ipv4' : 'ipv6';
    const pick = async (): Promise<{ o: Flow; n: NfEntry } | undefined> => {
      const o = (await ours()).filter(
        (f) => f.family === fam && f.proto === c.proto && f.initiator.addr === cli && f.responder.addr === srv && (c.port === undefined || f.responder.port === c.port),
      );
      const n = (await theirs()).filter((e) => e.family === fam && e.proto === c.proto && e.src === cli && e.dst === srv && (c.port === undefined || e.dport === c.port));
      if (o.length !== 1 || n.length !== 1) return undefined;
      // states settle within a round trip: wait until ours reached the expected one (or time out
      // and assert on what is there)
      return o[0]!.state === c.expect && nfToOurs(n[0]!) === c.expect ? { o: o[0]!, n: n[0]! } : undefined;
    };
    let got: { o: Flow; n: NfEntry } | undefined;
    try {
      got = await eventually(pick, 5000, `${c.name}: one flow in each table in state ${c.expect}`);
    } catch (err) {
      const o = (await ours()).filter((f) => f.family === fam && f.proto === c.proto);
      const n = (await theirs()).filter((e) => e.family === fam && e.proto === c.proto);
      assert.fail(`${(err as Error).message}\n  tc-conntrack: ${JSON.stringify(o)}\n  netfilter: ${JSON.stringify(n)}`);
    }
    assert.equal(got.o.state, nfToOurs(got.n), `${c.name}: tc-conntrack says ${got.o.state}, netfilter says ${got.n.tcpState ?? (got.n.unreplied ? 'UNREPLIED' : 'replied')}`);
    assert.equal(got.o.state, c.expect);
    assert.equal(got.o.assured, got.n.assured, `${c.name}: assured: tc-conntrack ${got.o.assured}, netfilter ${got.n.assured}`);
    if (c.assured !== undefined) assert.equal(got.o.assured, c.assured, `${c.name}: assured`);
    // same flow, same orientation: netfilter's original direction is our initiator
    assert.equal(got.o.initiator.port, got.n.sport, `${c.name}: initiator port`);
    assert.equal(got.o.responder.port, got.n.dport, `${c.name}: responder port`);
  }

  for (const fam of [4, 6] as const) {
    it(`IPv${fam}: TCP connection held open → established`, async () => {
      const port = 9100 + fam;
      const listen = fam === 4 ? `TCP4-LISTEN:${port},reuseaddr` : `TCP6-LISTEN:${port},reuseaddr,ipv6only=1`;
      const srv = g.lab.spawn('server', 'socat', ['-d', '-d', listen, 'EXEC:sleep 30']);
      procs.push(srv);
      await srv.waitFor(/listening on/, 5000);
      const cli = g.lab.spawn('client', 'socat', ['-d', '-d', '-u', 'EXEC:sleep 30', `TCP${fam}:${hostPort(fam, serverOf(fam), port)}`]);
      procs.push(cli);
      await cli.waitFor(/starting data transfer loop/, 5000);
      await compare({ name: `IPv${fam} TCP open`, family: fam, proto: 'tcp', port, expect: 'established' });
      const o = (await ours()).find((f) => f.proto === 'tcp' && f.responder.port === port && f.family === (fam === 4 ? 'ipv4' : 'ipv6'))!;
      assert.ok(o.assured && o.seen_reply);
      assert.ok(o.packets.from_initiator >= 2 && o.packets.from_responder >= 1, JSON.stringify(o.packets));
    });

    it(`IPv${fam}: TCP exchange closed by both sides → time_wait`, async () => {
      const port = 8000 + fam;
      servers.push(await g.lab.startTcpServer('server', port, fam));
      const r = await tcpConnect(g.lab, 'client', serverOf(fam), port, { payload: `hello v${fam}\n` });
      assert.ok(r.connected, r.error);
      assert.equal(r.echoed, `hello v${fam}\n`);
      await compare({ name: `IPv${fam} TCP closed`, family: fam, proto: 'tcp', port, expect: 'time_wait' });
    });

    it(`IPv${fam}: UDP to a closed port → udp_unreplied (the ICMP error is not a reply)`, async () => {
      const port = 7700 + fam;
      await udpSend(g.lab, 'client', serverOf(fam), port, 'anyone?\n', { timeoutMs: 300 });
      await compare({ name: `IPv${fam} UDP unreplied`, family: fam, proto: 'udp', port, expect: 'udp_unreplied' });
    });

    it(`IPv${fam}: UDP answered once → udp_replied, not assured`, async () => {
      const port = 5300 + fam;
      servers.push(await g.lab.startUdpServer('server', port, fam));
      const r = await udpSend(g.lab, 'client', serverOf(fam), port, `ping v${fam}\n`);
      assert.equal(r.reply, `ping v${fam}\n`);
      await compare({ name: `IPv${fam} UDP answered`, family: fam, proto: 'udp', port, expect: 'udp_replied', assured: false });
    });

    it(`IPv${fam}: ping → icmp_replied`, async () => {
      const r = await ping(g.lab, 'client', serverOf(fam), { count: 1 });
      assert.equal(r.received, 1);
      await compare({ name: `IPv${fam} ping`, family: fam, proto: fam === 4 ? 'icmp' : 'icmpv6', expect: 'icmp_replied' });
      // crossing both tracked interfaces, each packet still counts once (egress skips what
      // ingress already tracked)
      const o = (await ours()).find((f) => f.proto === (fam === 4 ? 'icmp' : 'icmpv6') && f.initiator.addr === canonicalIp(clientOf(fam)))!;
      assert.deepEqual(o.packets, { from_initiator: 1, from_responder: 1 });
    });
  }

  for (const fam of [4, 6] as const) {
    it(`IPv${fam}: TCP to a closed port, refused with RST → no flow in either table`, async () => {
      const kernelEnded = async (): Promise<number> => {
        const m = /^ebpfsentinel_conntrack_expired_total\{by="kernel"\} (\d+)/m.exec((await a.api.get('/metrics')).body);
        return Number(m?.[1] ?? 0);
      };
      const before = await kernelEnded();
      const r = await tcpConnect(g.lab, 'client', serverOf(fam), 9200, { timeoutMs: 1000 });
      assert.equal(r.connected, false);
      assert.match(r.error, /refused/i);
      const fam_ = fam === 4 ? 'ipv4' : 'ipv6';
      assert.deepEqual((await ours()).filter((f) => f.family === fam_ && f.responder.port === 9200), []);
      assert.deepEqual((await theirs()).filter((e) => e.family === fam_ && e.dport === 9200), []);
      assert.equal(await kernelEnded(), before + 1, 'the refused flow was tracked, then ended by the reset');
    });

    it(`IPv${fam}: TCP SYN nobody answers → syn_sent`, async () => {
      const r = await tcpConnect(g.lab, 'client', serverOf(fam), BLACKHOLE_PORT, { timeoutMs: 1000 });
      assert.equal(r.connected, false);
      await compare({ name: `IPv${fam} TCP unanswered`, family: fam, proto: 'tcp', port: BLACKHOLE_PORT, expect: 'syn_sent' });
    });

    it(`IPv${fam}: ping to an address nobody holds → icmp_unreplied`, async () => {
      const ghost = fam === 4 ? '198.18.1.77' : '2001:db8:0:1::77';
      const r = await ping(g.lab, 'client', ghost, { count: 1, replyTimeoutMs: 1000 });
      assert.equal(r.received, 0);
      await compare({ name: `IPv${fam} ping unanswered`, family: fam, proto: fam === 4 ? 'icmp' : 'icmpv6', dst: ghost, expect: 'icmp_unreplied' });
    });
  }

  it('metrics show the table; status shows ingress and egress on both interfaces', async () => {
    const text = await a.api.get('/metrics');
    assert.match(text.body, /ebpfsentinel_conntrack_entries \d+/);
    assert.match(text.body, /ebpfsentinel_conntrack_max_entries 8192/);
    assert.match(text.body, /ebpfsentinel_conntrack_flows\{state="established"\} [1-9]/);
    const st = await a.api.json<{ programs: { name: string; attachments: { hook: string; attached: boolean }[] }[] }>('/api/v1/status');
    const ct = st.programs.find((p) => p.name === 'tc-conntrack');
    assert.ok(ct, 'tc-conntrack in status');
    assert.deepEqual(ct.attachments.map((x) => `${x.hook}:${x.attached}`).sort(), ['tc-egress:true', 'tc-egress:true', 'tc-ingress:true', 'tc-ingress:true']);
  });

  it('ebpfsentinel conntrack lists the same flows through the API (json and table)', async () => {
    const cli = (args: string[]) => promisify(execFile)(process.execPath, [path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js'), 'conntrack', '--api', a.forwarder.url, ...args]);
    const j = await cli(['--state', 'udp_replied', '--output', 'json']);
    const page = JSON.parse(j.stdout) as { flows: Flow[] };
    assert.deepEqual(
      page.flows.map((f) => `${f.family} ${f.responder.addr}:${f.responder.port}`).sort(),
      [`ipv4 ${canonicalIp(g.server.ipv4)}:5304`, `ipv6 ${canonicalIp(g.server.ipv6)}:5306`],
    );
    const t = await cli(['--ip', g.server.ipv6, '--proto', 'udp']);
    assert.match(t.stdout, new RegExp(`udp\\s+udp_replied\\s+\\[${canonicalIp(g.client.ipv6)}\\]:\\d+\\s+\\[${canonicalIp(g.server.ipv6)}\\]:5306\\s+1/1`));
    assert.match(t.stdout, /udp\s+udp_unreplied\s+.*:7706/);
    await assert.rejects(cli(['--state', 'bogus']), (e: { code?: number; stderr?: string }) => e.code === 2 && /--state must be one of/.test(e.stderr ?? ''));
  });

  /** An nft table of one host that drops what `rules` name (input and output hooks); resolves to
   * its removal. */
  const dropTable = async (host: string, name: string, rules: { input?: string[]; output?: string[] }): Promise<() => Promise<void>> => {
    const chain = (hook: 'input' | 'output', lines: string[] = []) =>
      `  chain ${hook} {\n    type filter hook ${hook} priority 0; policy accept;\n${lines.map((l) => `    ${l}\n`).join('')}  }\n`;
    await g.lab.exec(host, 'nft', ['-f', '-'], { input: `table inet ${name} {\n${chain('input', rules.input)}${chain('output', rules.output)}}\n` });
    return async () => {
      await g.lab.exec(host, 'nft', ['delete', 'table', 'inet', name]);
    };
  };
  const peer = async (host: string, o: Parameters<typeof SocketPeer.start>[2]): Promise<SocketPeer> => {
    const p = await SocketPeer.start(g.lab, host, o);
    peers.push(p);
    return p;
  };
  /** A connected TCP pair that has exchanged one byte each way (established and assured). */
  const tcpPair = async (fam: 4 | 6, port: number): Promise<{ cli: SocketPeer; srv: SocketPeer }> => {
    const srv = await peer('server', { proto: 'tcp', role: 'listen', family: fam, addr: serverOf(fam), port });
    const cli = await peer('client', { proto: 'tcp', role: 'connect', family: fam, addr: serverOf(fam), port });
    await cli.do('send');
    await srv.do('recv', 'send');
    await cli.do('recv');
    return { cli, srv };
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  for (const fam of [4, 6] as const) {
    it(`IPv${fam}: SYN answered, the SYN-ACK lost before the client → syn_recv, not assured`, async () => {
      const port = 9400 + fam;
      servers.push(await g.lab.startTcpServer('server', port, fam));
      const undrop = await dropTable('client', `esnsr${fam}`, { input: [`tcp sport ${port} tcp flags & (syn | ack) == syn | ack drop`] });
      const r = await tcpConnect(g.lab, 'client', serverOf(fam), port, { timeoutMs: 1000 });
      assert.equal(r.connected, false);
      await compare({ name: `IPv${fam} TCP syn_recv`, family: fam, proto: 'tcp', port, expect: 'syn_recv', assured: false });
      await undrop();
    });

    it(`IPv${fam}: half-close (shutdown) → close_wait; the other side's FIN left unacknowledged → last_ack`, async () => {
      const port = 9410 + fam;
      const { cli, srv } = await tcpPair(fam, port);
      await cli.do('shutdown');
      await compare({ name: `IPv${fam} TCP half-closed`, family: fam, proto: 'tcp', port, expect: 'close_wait', assured: true });
      // the server keeps sending into the half-open connection: still close_wait
      await srv.do('send');
      await cli.do('recv');
      await compare({ name: `IPv${fam} TCP half-closed, data`, family: fam, proto: 'tcp', port, expect: 'close_wait', assured: true });
      // the client's ACK of the server's FIN never leaves the client (the FIN is retransmitted)
      const undrop = await dropTable('client', `esnla${fam}`, { output: [`tcp dport ${port} tcp flags & (fin | syn | rst | ack) == ack drop`] });
      await srv.do('close');
      await compare({ name: `IPv${fam} TCP last_ack`, family: fam, proto: 'tcp', port, expect: 'last_ack', assured: true });
      await undrop();
    });

    it(`IPv${fam}: simultaneous close (FINs crossing: both sockets end in TIME_WAIT) → last_ack, then time_wait`, async () => {
      const port = 9420 + fam;
      const { cli, srv } = await tcpPair(fam, port);
      // each side's FIN is held back from the other until both have sent theirs
      const undropC = await dropTable('client', `esnsc${fam}`, { input: [`tcp sport ${port} tcp flags & fin == fin drop`] });
      const undropS = await dropTable('server', `esnsc${fam}`, { input: [`tcp dport ${port} tcp flags & fin == fin drop`] });
      await Promise.all([cli.do('shutdown'), srv.do('shutdown')]);
      await compare({ name: `IPv${fam} TCP both FINs sent`, family: fam, proto: 'tcp', port, expect: 'last_ack', assured: true });
      await undropC();
      await undropS();
      // the retransmitted FINs now arrive; each side answers from CLOSING and ends in TIME_WAIT
      await compare({ name: `IPv${fam} TCP simultaneous close`, family: fam, proto: 'tcp', port, expect: 'time_wait', assured: true });
      for (const host of ['client', 'server']) {
        await eventually(async () => {
          const out = (await g.lab.exec(host, 'ss', ['-Htan', 'state', 'time-wait'])).stdout;
          return new RegExp(`[:\\]]${port}\\s`).test(out) ? true : undefined;
        }, 5000, `${host} holds a TIME_WAIT socket of port ${port} (a simultaneous close puts both sides there)`);
      }
    });

    it(`IPv${fam}: crafted handshake and one FIN nobody answers → fin_wait`, async () => {
      // A real stack cannot hold fin_wait: it acknowledges a FIN at once and retransmits an
      // unanswered one (netfilter: last_ack). The segments are crafted instead, with coherent
      // sequence numbers, and neither end's kernel sees them.
      const port = 9430 + fam;
      const sport = 40000 + fam;
      const C = clientOf(fam);
      const S = serverOf(fam);
      const undropC = await dropTable('client', `esnfw${fam}`, { input: [`tcp sport ${port} drop`] });
      const undropS = await dropTable('server', `esnfw${fam}`, { input: [`tcp dport ${port} drop`] });
      const c2s = (flags: ('syn' | 'ack' | 'fin')[], seq: number, ack: number) =>
        g.lab.inject('client', g.client.ifname, [tcpFrame({ src: C, dst: S, sport, dport: port, flags, seq, ack, window: 64240, srcMac: g.client.mac, dstMac: g.gw.outside.mac })]);
      const s2c = (flags: ('syn' | 'ack' | 'fin')[], seq: number, ack: number) =>
        g.lab.inject('server', g.server.ifname, [tcpFrame({ src: S, dst: C, sport: port, dport: sport, flags, seq, ack, window: 64240, srcMac: g.server.mac, dstMac: g.gw.inside.mac })]);
      await c2s(['syn'], 1000, 0);
      await s2c(['syn', 'ack'], 9000, 1001);
      await c2s(['ack'], 1001, 9001);
      await compare({ name: `IPv${fam} crafted established`, family: fam, proto: 'tcp', port, expect: 'established', assured: true });
      await c2s(['fin', 'ack'], 1001, 9001);
      await compare({ name: `IPv${fam} TCP fin_wait`, family: fam, proto: 'tcp', port, expect: 'fin_wait', assured: true });
      await undropC();
      await undropS();
    });

    it(`IPv${fam}: UDP becomes assured only by a packet more than 2 s after its first, never by the answer itself`, async () => {
      // talking both ways at once is not a stream yet
      const port = 5400 + fam;
      const srv = await peer('server', { proto: 'udp', role: 'listen', family: fam, addr: serverOf(fam), port });
      const cli = await peer('client', { proto: 'udp', role: 'connect', family: fam, addr: serverOf(fam), port });
      const t0 = Date.now();
      for (let i = 0; i < 2; i++) {
        await cli.do('send');
        await srv.do('recv', 'send');
        await cli.do('recv');
      }
      assert.ok(Date.now() - t0 < 1500, 'both exchanges within the first 2 s');
      await compare({ name: `IPv${fam} UDP two quick exchanges`, family: fam, proto: 'udp', port, expect: 'udp_replied', assured: false });
      await sleep(2500 - (Date.now() - t0));
      await cli.do('send');
      await compare({ name: `IPv${fam} UDP still talking after 2 s`, family: fam, proto: 'udp', port, expect: 'udp_assured', assured: true });

      // an answer that comes late does not assure; the packet after it does
      const late = 5410 + fam;
      const srv2 = await peer('server', { proto: 'udp', role: 'listen', family: fam, addr: serverOf(fam), port: late });
      const cli2 = await peer('client', { proto: 'udp', role: 'connect', family: fam, addr: serverOf(fam), port: late });
      await cli2.do('send');
      await sleep(2500);
      await srv2.do('recv', 'send');
      await cli2.do('recv');
      await compare({ name: `IPv${fam} UDP late answer`, family: fam, proto: 'udp', port: late, expect: 'udp_replied', assured: false });
      await cli2.do('send');
      await compare({ name: `IPv${fam} UDP after the late answer`, family: fam, proto: 'udp', port: late, expect: 'udp_assured', assured: true });
    });
  }
});
