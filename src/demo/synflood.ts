// The demo's SYN-flood step. SYN cookies protect the host the agent runs on, so this step has
// its own small lab (one switch, a server, a client, an attacker) with a second agent inside the
// SERVER namespace, ddos.syn_protection on. The attacker floods spoofed SYNs with hping3 for a
// few seconds while the client opens connections; the step reports the cookies sent, the
// connections served, and the server's half-open sockets (none).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '../lab/index.js';
import type { LabProcess } from '../lab/process.js';
import { AgentProcess } from './agent-process.js';
import { ApiClient } from './api-client.js';
import { startApiForwarder, type ApiForwarder } from './forwarder.js';

const HOLDER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'xdp-pass-holder.js');
const AGENT_PORT = 8080;
const SERVICE_PORT = 8000;

/** One L2 segment (a bridge in the "sw" namespace): spoofed SYN-ACKs go back, by MAC, to the
 * attacker, whose stack drops them; no router in the lab has to carry them. */
export const SYNFLOOD_NET = {
  server: { ipv4: '198.18.2.1', ipv6: '2001:db8:2::1', mac: '02:53:4e:02:00:01' },
  client: { ipv4: '198.18.2.10', ipv6: '2001:db8:2::10', mac: '02:53:4e:02:00:10' },
  attacker: { ipv4: '198.18.2.66', ipv6: '2001:db8:2::66', mac: '02:53:4e:02:00:66' },
} as const;
const NET = SYNFLOOD_NET;

/** The SYN-flood lab (the demo's step and the e2e test): server, client and attacker on one
 * bridge, checksum and VLAN offloads off so XDP sees the frames as sent. */
export function createSynFloodLab(name: string): Promise<Lab> {
  return Lab.create({
    name,
    hosts: [{ name: 'sw' }, { name: 'server' }, { name: 'client' }, { name: 'attacker' }],
    bridges: [{ host: 'sw', name: 'br' }],
    links: (['server', 'client', 'attacker'] as const).map((h) => ({
      a: { host: h, ifname: h.slice(0, 3), addrs: [`${NET[h].ipv4}/24`, `${NET[h].ipv6}/64`], mac: NET[h].mac },
      b: { host: 'sw', ifname: `p${h.slice(0, 3)}`, bridge: 'br' },
    })),
    offloads: { checksum: false, vlan: false },
  });
}

export interface SynFloodResult {
  connections: number;
  served: number;
  cookiesSent: number;
  floodPackets: number;
  floodSecs: number;
  halfOpen: number;
  syncookiesSysctl: string;
}

export interface SynFloodOptions {
  runDir: string;
  say: (line: string) => void;
  /** seconds of flood; default 5 */
  floodSecs?: number;
  connections?: number;
}

export async function runSynFloodStep(o: SynFloodOptions): Promise<SynFloodResult> {
  const floodSecs = o.floodSecs ?? 5;
  const connections = o.connections ?? 50;
  const dir = path.join(o.runDir, 'synflood');
  mkdirSync(dir, { recursive: true });
  const lab = await createSynFloodLab('demo-synflood');
  let agent: AgentProcess | null = null;
  let fwd: ApiForwarder | null = null;
  const procs: LabProcess[] = [];
  try {
    const holder = lab.spawn('sw', process.execPath, [HOLDER, lab.ifname('pser')]);
    procs.push(holder);
    await holder.waitFor(/attached/, 15_000);
    const configPath = path.join(dir, 'agent.yaml');
    writeFileSync(
      configPath,
      `agent:\n  interfaces: [${lab.ifname('ser')}]\n  pin_root: /sys/fs/bpf/ebpfsentinel-demo-${lab.prefix}\n  http_port: ${AGENT_PORT}\n` +
        `firewall:\n  enabled: false\nddos:\n  enabled: true\n  syn_protection: { enabled: true, threshold_mode: true, threshold_pps: 500 }\n` +
        `alerting:\n  eve: { path: "${path.join(dir, 'eve.json')}" }\n` +
        `storage:\n  path: "${path.join(dir, 'sentinel.db')}"\n`,
    );
    agent = AgentProcess.start({ ns: lab.ns('server'), configPath, logFile: path.join(dir, 'agent.log') });
    fwd = await startApiForwarder({ ns: lab.ns('server'), targetPort: AGENT_PORT });
    const api = new ApiClient(fwd.url);
    await api.waitReady(30_000, agent.process);
    const sysctl = (await lab.exec('server', 'sysctl', ['-n', 'net.ipv4.tcp_syncookies'])).stdout.trim();
    o.say(`  SYN flood       second agent in ${lab.ns('server')} (the protected server), ddos.syn_protection above 500 SYN/s; net.ipv4.tcp_syncookies=${sysctl} there`);
    const server = await lab.startTcpServer('server', SERVICE_PORT, 4);
    procs.push(server.process);
    // XDP answers SYNs only for ports whose listeners the agent has stamped (every 2 s; until
    // then the kernel's own cookies answer): wait for the first stamping round that sees it.
    const stamps = async (): Promise<number> => (await api.metrics()).value('ebpfsentinel_ratelimit_listener_stamps_total', { outcome: 'sent' });
    const stamped0 = await stamps();
    for (const until = Date.now() + 10_000; (await stamps()) <= stamped0; ) {
      if (Date.now() > until) throw new Error('the agent did not stamp the demo server\'s listener within 10 s');
      await new Promise((r) => setTimeout(r, 200));
    }

    const cookies = async (): Promise<number> =>
      (await api.metrics()).value('ebpfsentinel_program_reasons_total', { program: 'xdp-ratelimit', interface: lab.ifname('ser'), counter: 'syncookie_sent' });
    const before = await cookies();
    const flood = lab.spawn('attacker', 'timeout', ['-s', 'INT', String(floodSecs), 'hping3', '-S', '--flood', '--rand-source', '-p', String(SERVICE_PORT), NET.server.ipv4]);
    procs.push(flood);
    const t0 = Date.now();
    let served = 0;
    let halfOpen = 0;
    for (let i = 0; i < connections; i++) {
      const r = await lab.tcpConnect('client', NET.server.ipv4, SERVICE_PORT, { payload: `hello ${i}\n`, timeoutMs: 10_000 });
      if (r.connected && r.echoed === `hello ${i}\n`) served++;
      if (i % 10 === 0) {
        const ss = await lab.exec('server', 'ss', ['-H', '-tn', 'state', 'syn-recv']);
        halfOpen = Math.max(halfOpen, ss.stdout.split('\n').filter((l) => l.trim()).length);
      }
    }
    await flood.stop('SIGINT', 3000).catch(() => undefined);
    const secs = Math.max(floodSecs, (Date.now() - t0) / 1000);
    const sent = /(\d+) packets transmitted/.exec(flood.stdout + flood.stderr);
    const result: SynFloodResult = {
      connections,
      served,
      cookiesSent: (await cookies()) - before,
      floodPackets: sent ? Number(sent[1]) : 0,
      floodSecs: secs,
      halfOpen,
      syncookiesSysctl: sysctl,
    };
    o.say(
      `  SYN flood       hping3 --flood --rand-source: ${result.floodPackets} spoofed SYNs; ${result.cookiesSent} answered from XDP with SYN cookies; ` +
        `${served}/${connections} client connections served; half-open sockets on the server: ${halfOpen}`,
    );
    return result;
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    await agent?.stop();
    await fwd?.stop();
    await lab.destroy();
  }
}
