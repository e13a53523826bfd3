// The demo's SYN-flood step. SYN cookies protect the host the agent runs on, so this step has
// its own small lab (one switch, a server, a client, an attacker) with a second agent inside the
// SERVER namespace, ddos.syn_protection on for every SYN. The attacker floods spoofed SYNs with
// hping3 for a few seconds while the client opens connections; the step reports the cookie path
// the agent chose for this kernel, the cookies sent from XDP, the cookies the kernel had to send
// itself, the connections served, and the server's half-open sockets (none).
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
 * bridge, checksum and VLAN offloads off so XDP sees the frames as sent. The server's default
 * route points at the attacker, as a real server's points at its gateway: the kernel can answer
 * (spoofed) sources off the segment, so a flood costs it what it would cost a real host. */
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
    routes: [
      { host: 'server', to: 'default', via: NET.attacker.ipv4 },
      { host: 'server', to: 'default', via: NET.attacker.ipv6 },
    ],
  });
}

export interface SynFloodResult {
  connections: number;
  served: number;
  cookiesSent: number;
  /** TcpExtSyncookiesSent of the server's namespace during the flood: the kernel's own cookies */
  kernelCookies: number;
  floodPackets: number;
  floodSecs: number;
  halfOpen: number;
  /** the agent's SYN cookie path (status) and why */
  cookiePath: string;
  syncookiesSysctl: string;
}

async function kernelCookiesSent(lab: Lab): Promise<number> {
  const lines = (await lab.exec('server', 'cat', ['/proc/net/netstat'])).stdout.split('\n');
  const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
  const k = lines[i]?.split(/\s+/).indexOf('SyncookiesSent') ?? -1;
  if (i < 0 || k < 0) throw new Error('no TcpExt SyncookiesSent in /proc/net/netstat');
  return Number(lines[i + 1]!.split(/\s+/)[k]);
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
      `agent:\n  interfaces: [${lab.ifname('ser')}]\n  pin_root: /sys/fs/bpf/ebpfsentinel-demo-${lab.prefix}\n  on_exit: detach\n  api_socket: ${path.join(dir, 'api.sock')}\n` +
        // TCP inside the lab namespace, reached through the host forwarder
        `  http_port: ${AGENT_PORT}\n  allow_unauthenticated_api: true\n` +
        `firewall:\n  enabled: false\nddos:\n  enabled: true\n  syn_protection: { enabled: true, threshold_mode: false }\n` +
        `alerting:\n  eve: { path: "${path.join(dir, 'eve.json')}" }\n` +
        `storage:\n  path: "${path.join(dir, 'sentinel.db')}"\n`,
    );
    agent = AgentProcess.start({ ns: lab.ns('server'), configPath, logFile: path.join(dir, 'agent.log') });
    fwd = await startApiForwarder({ ns: lab.ns('server'), targetPort: AGENT_PORT });
    const api = new ApiClient(fwd.url);
    await api.waitReady(30_000, agent.process);
    const sysctl = (await lab.exec('server', 'sysctl', ['-n', 'net.ipv4.tcp_syncookies'])).stdout.trim();
    const sc = (await api.status()).programs.find((p) => p.name === 'xdp-ratelimit')?.syn_cookies;
    const cookiePath = sc ? `${sc.path} (${sc.reason})` : 'unknown';
    o.say(`  SYN flood       second agent in ${lab.ns('server')} (the protected server), ddos.syn_protection on every SYN; cookie path: ${cookiePath}; net.ipv4.tcp_syncookies=${sysctl} there`);
    const server = await lab.startTcpServer('server', SERVICE_PORT, 4);
    procs.push(server.process);
    const kernel0 = await kernelCookiesSent(lab);

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
      kernelCookies: (await kernelCookiesSent(lab)) - kernel0,
      floodPackets: sent ? Number(sent[1]) : 0,
      floodSecs: secs,
      halfOpen,
      cookiePath,
      syncookiesSysctl: sysctl,
    };
    o.say(
      `  SYN flood       hping3 --flood --rand-source: ${result.floodPackets} spoofed SYNs; ${result.cookiesSent} answered from XDP with SYN cookies, ` +
        `${result.kernelCookies} by the kernel itself; ${served}/${connections} client connections served; half-open sockets on the server: ${halfOpen}`,
    );
    return result;
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    await agent?.stop();
    await fwd?.stop();
    await lab.destroy();
  }
}
