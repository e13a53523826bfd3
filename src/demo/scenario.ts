// What the demo sends through the lab and how it decides whether each attempt got through.
// Delivery is judged from both ends (the sender's result and what the server's echo service
// recorded), and the rule the agent credited is read from its own counters around each step:
// the demo states expectations, the agent supplies the numbers.
import type { GatewayLab } from '../lab/gateway.js';
import type { EchoServer } from '../lab/traffic.js';
import type { ApiClient } from './api-client.js';
import type { MetricsSnapshot } from './prom.js';

export type Outcome = 'delivered' | 'blocked';
export type Family = 4 | 6;

export interface Step {
  from: 'client' | 'attacker';
  kind: 'ping' | 'tcp' | 'udp';
  family: Family;
  port?: number;
  /** what the traffic is, in a word (web, dns, telnet...) */
  service: string;
  expect: Outcome;
  /** the rule id the policy should credit, or "default-policy" */
  rule: string;
}

/** The demo's traffic against config/demo.yaml, IPv4 and IPv6 for every kind. */
export function demoSteps(): Step[] {
  const both = (s: Omit<Step, 'family'>, rule4 = s.rule, rule6 = s.rule): Step[] => [
    { ...s, family: 4, rule: rule4 },
    { ...s, family: 6, rule: rule6 },
  ];
  return [
    ...both({ from: 'client', kind: 'ping', service: 'ping', expect: 'delivered', rule: '' }, 'ping-server-v4', 'ping-server-v6'),
    ...both({ from: 'client', kind: 'tcp', port: 80, service: 'web', expect: 'delivered', rule: 'web' }),
    ...both({ from: 'client', kind: 'tcp', port: 443, service: 'web-tls', expect: 'delivered', rule: 'web-tls' }),
    ...both({ from: 'client', kind: 'udp', port: 53, service: 'dns', expect: 'delivered', rule: 'dns' }),
    ...both({ from: 'client', kind: 'tcp', port: 22, service: 'ssh', expect: 'delivered', rule: 'ssh-client' }),
    ...both({ from: 'client', kind: 'udp', port: 5000, service: 'udp-test', expect: 'delivered', rule: 'udp-test-log' }),
    ...both({ from: 'client', kind: 'tcp', port: 23, service: 'telnet', expect: 'blocked', rule: 'telnet' }),
    ...both({ from: 'client', kind: 'tcp', port: 25, service: 'smtp', expect: 'blocked', rule: 'default-policy' }),
    ...both({ from: 'attacker', kind: 'ping', service: 'ping', expect: 'blocked', rule: 'blocklist' }),
    ...both({ from: 'attacker', kind: 'tcp', port: 80, service: 'web', expect: 'blocked', rule: 'blocklist' }),
    ...both({ from: 'attacker', kind: 'tcp', port: 22, service: 'ssh', expect: 'blocked', rule: 'blocklist' }),
  ];
}

/** The services the steps need on the server, each in both families. */
export function serverPorts(steps: readonly Step[]): Array<{ proto: 'tcp' | 'udp'; port: number }> {
  const seen = new Map<string, { proto: 'tcp' | 'udp'; port: number }>();
  for (const s of steps) {
    if (s.kind === 'ping' || s.port === undefined) continue;
    seen.set(`${s.kind}/${s.port}`, { proto: s.kind, port: s.port });
  }
  return [...seen.values()].sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
}

export interface StepResult {
  step: Step;
  src: string;
  dst: string;
  /** what the sender saw, in words ("3/3 replies", "connected, echo ok", "timed out") */
  senderSaw: string;
  /** what the server's service recorded from this sender during the step (null for ping) */
  serverSaw: string | null;
  outcome: Outcome | 'partial';
  ok: boolean;
  /** rule hit deltas the agent counted during the step, by rule id ("default-policy" included) */
  credited: Map<string, number>;
  /** the expected rule was credited at least one packet */
  ruleOk: boolean;
}

export class Servers {
  private readonly byKey = new Map<string, EchoServer>();

  static async start(g: GatewayLab, ports: ReadonlyArray<{ proto: 'tcp' | 'udp'; port: number }>): Promise<Servers> {
    const s = new Servers();
    for (const { proto, port } of ports) {
      for (const fam of [4, 6] as const) {
        const srv = proto === 'tcp' ? await g.lab.startTcpServer('server', port, fam) : await g.lab.startUdpServer('server', port, fam);
        s.byKey.set(`${proto}/${port}/${fam}`, srv);
      }
    }
    return s;
  }

  get(proto: 'tcp' | 'udp', port: number, family: Family): EchoServer {
    const srv = this.byKey.get(`${proto}/${port}/${family}`);
    if (!srv) throw new Error(`no ${proto} server on port ${port} (IPv${family})`);
    return srv;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.byKey.values()].map((s) => s.stop()));
  }
}

function ruleDeltas(before: MetricsSnapshot, after: MetricsSnapshot): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of after.all('ebpfsentinel_firewall_rule_hits_total')) {
    const id = s.labels.rule_id ?? '?';
    const d = s.value - before.value('ebpfsentinel_firewall_rule_hits_total', { rule_id: id });
    if (d > 0) out.set(id, d);
  }
  const dp = after.sum('ebpfsentinel_program_reasons_total', { counter: 'default_policy' }) - before.sum('ebpfsentinel_program_reasons_total', { counter: 'default_policy' });
  if (dp > 0) out.set('default-policy', dp);
  return out;
}

let tokenSeq = 0;

export async function runStep(g: GatewayLab, servers: Servers, api: ApiClient, step: Step): Promise<StepResult> {
  const host = g[step.from];
  const src = step.family === 4 ? host.ipv4 : host.ipv6;
  const dst = step.family === 4 ? g.server.ipv4 : g.server.ipv6;
  const before = await api.metrics();
  let senderSaw: string;
  let serverSaw: string | null = null;
  let outcome: Outcome | 'partial';
  if (step.kind === 'ping') {
    const r = await g.lab.ping(step.from, dst, { count: 3, intervalMs: 200, replyTimeoutMs: 1000 });
    senderSaw = `${r.received}/${r.sent} replies`;
    outcome = r.received === r.sent && r.sent > 0 ? 'delivered' : r.received === 0 ? 'blocked' : 'partial';
  } else {
    const srv = servers.get(step.kind, step.port!, step.family);
    const token = `demo-${process.pid}-${++tokenSeq}-${step.service}\n`;
    const fromSrc = (): number => srv.peers().filter((p) => p.addr === src).length;
    const peersBefore = fromSrc();
    let senderGot: boolean;
    if (step.kind === 'tcp') {
      const r = await g.lab.tcpConnect(step.from, dst, step.port!, { payload: token, timeoutMs: step.expect === 'blocked' ? 1000 : 3000 });
      senderGot = r.connected && r.echoed === token;
      senderSaw = r.connected ? (r.echoed === token ? 'connected, echo ok' : 'connected, no echo') : r.error.replace(/^connecting to \S+ \S+: /, '') || 'no connection';
    } else {
      const r = await g.lab.udpSend(step.from, dst, step.port!, token, { timeoutMs: 1000 });
      senderGot = r.reply === token;
      senderSaw = senderGot ? 'reply ok' : r.error ? r.error : 'no reply';
    }
    // The server may log the peer a moment after the client is done.
    let serverGot = srv.received().includes(token);
    for (let i = 0; i < 10 && senderGot && !serverGot; i++) {
      await new Promise((r) => setTimeout(r, 50));
      serverGot = srv.received().includes(token);
    }
    const newPeers = fromSrc() - peersBefore;
    serverSaw = serverGot ? 'got the data' : newPeers > 0 ? 'saw a connection, no data' : 'saw nothing';
    outcome = senderGot && serverGot ? 'delivered' : !senderGot && !serverGot && newPeers === 0 ? 'blocked' : 'partial';
  }
  const credited = ruleDeltas(before, await api.metrics());
  return {
    step,
    src,
    dst,
    senderSaw,
    serverSaw,
    outcome,
    ok: outcome === step.expect,
    credited,
    ruleOk: (credited.get(step.rule) ?? 0) > 0,
  };
}
