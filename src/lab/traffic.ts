// Real traffic between lab hosts with real tools: ping, socat (TCP/UDP clients and echo servers
// that report what they received), tcpdump captures counted from their pcap.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { canonicalIp, familyOf, type Family } from './inet.js';
import { readPcap, type PcapRecord } from './pcap.js';
import type { LabProcess } from './process.js';
import type { RunOptions, RunResult } from './run.js';

/** What the traffic tools need of a lab (netns.ts's Lab, which calls them): run a command in a
 * host, start one, and a scratch folder. Declared here so the two modules do not import each other. */
export interface LabHosts {
  readonly tmpDir: string;
  exec(host: string, cmd: string, args?: readonly string[], opts?: RunOptions): Promise<RunResult>;
  spawn(host: string, cmd: string, args?: readonly string[], opts?: { env?: Record<string, string>; cwd?: string; stdin?: boolean }): LabProcess;
}

export interface PingOptions {
  count?: number;
  intervalMs?: number;
  /** how long to wait for the last reply (ping -W); the run as a whole is bounded accordingly */
  replyTimeoutMs?: number;
}

export interface PingResult {
  sent: number;
  received: number;
}

export async function ping(lab: LabHosts, host: string, addr: string, opts: PingOptions = {}): Promise<PingResult> {
  const count = opts.count ?? 3;
  const intervalMs = Math.max(opts.intervalMs ?? 200, 2);
  const waitS = Math.max(1, Math.ceil((opts.replyTimeoutMs ?? 1000) / 1000));
  const fam = familyOf(addr);
  // No -w: with a deadline ping keeps sending past -c when replies are missing.
  const r = await lab.exec(host, 'ping', [`-${fam}`, '-n', '-c', String(count), '-i', String(intervalMs / 1000), '-W', String(waitS), addr], {
    allowFail: true,
    timeoutMs: count * intervalMs + waitS * 1000 + 5000,
  });
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(r.stdout);
  // ping exits 1 when replies are missing: that is a result, not an error. Anything else is.
  if (!m || (r.code !== 0 && r.code !== 1)) {
    throw new Error(`ping ${addr} from ${host} failed (exit ${r.code ?? r.signal}): ${(r.stderr || r.stdout).trim()}`);
  }
  return { sent: Number(m[1]), received: Number(m[2]) };
}

// Sends each frame as-is through an AF_PACKET socket bound to the device: the frames the
// builder makes (VLAN tags, malformed headers) go on the wire exactly, which no socket tool does.
export const INJECT_PY = `
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
n = 0
for line in sys.stdin:
    line = line.strip()
    if line:
        s.send(bytes.fromhex(line))
        n += 1
print(n)
`;

/** Injects raw Ethernet frames on a device in a host; returns how many the kernel accepted. */
export async function inject(lab: LabHosts, host: string, iface: string, frames: readonly Buffer[]): Promise<number> {
  for (const [i, f] of frames.entries()) if (f.length < 14) throw new Error(`inject: frame ${i} is ${f.length} bytes, shorter than an Ethernet header`);
  const r = await lab.exec(host, 'python3', ['-c', INJECT_PY, iface], { input: frames.map((f) => f.toString('hex')).join('\n') + '\n', timeoutMs: 10_000 });
  const sent = Number(r.stdout.trim());
  if (sent !== frames.length) throw new Error(`inject on ${host}/${iface}: sent ${sent} of ${frames.length} frames: ${r.stderr}`);
  return sent;
}

function socatAddr(proto: 'TCP' | 'UDP', addr: string, port: number): string {
  const fam = familyOf(addr);
  return `${proto}${fam}:${fam === 6 ? `[${addr}]` : addr}:${port}`;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${port} is outside 1..65535`);
}

export interface TcpConnectOptions {
  payload?: string;
  /** connect timeout and inactivity timeout */
  timeoutMs?: number;
}

export interface TcpConnectResult {
  connected: boolean;
  /** what the peer sent back before closing */
  echoed: string;
  /** socat's error line when not connected (refused, timed out...) */
  error: string;
}

/** Connects with socat, sends the payload, half-closes and collects the reply. */
export async function tcpConnect(lab: LabHosts, host: string, addr: string, port: number, opts: TcpConnectOptions = {}): Promise<TcpConnectResult> {
  checkPort(port);
  const secs = (opts.timeoutMs ?? 3000) / 1000;
  const r = await lab.exec(host, 'socat', ['-d', '-d', '-t', String(Math.min(secs, 1)), '-T', String(secs), '-', `${socatAddr('TCP', addr, port)},connect-timeout=${secs}`], {
    input: opts.payload ?? '',
    allowFail: true,
    timeoutMs: secs * 1000 * 3 + 3000,
  });
  const connected = /starting data transfer loop/.test(r.stderr);
  const errLine = r.stderr.split('\n').filter((l) => / E /.test(l)).pop() ?? '';
  return { connected, echoed: r.stdout, error: connected ? '' : errLine.replace(/^.*? E /, '') || `socat exited ${r.code}` };
}

export interface UdpSendOptions {
  /** how long to wait for a reply after sending */
  timeoutMs?: number;
}

export interface UdpSendResult {
  sent: boolean;
  /** reply datagram content ("" when none came) */
  reply: string;
  error: string;
}

export async function udpSend(lab: LabHosts, host: string, addr: string, port: number, payload: string, opts: UdpSendOptions = {}): Promise<UdpSendResult> {
  checkPort(port);
  const secs = (opts.timeoutMs ?? 1000) / 1000;
  const r = await lab.exec(host, 'socat', ['-d', '-d', '-t', String(secs), '-T', String(secs), '-', socatAddr('UDP', addr, port)], {
    input: payload,
    allowFail: true,
    timeoutMs: secs * 1000 * 3 + 3000,
  });
  const errLine = r.stderr.split('\n').filter((l) => / E /.test(l)).pop() ?? '';
  // An ICMP port-unreachable surfaces as "Connection refused" on the connected UDP socket.
  return { sent: /starting data transfer loop/.test(r.stderr), reply: r.stdout, error: errLine.replace(/^.*? E /, '') };
}

export interface Peer {
  addr: string;
  port: number;
}

export interface EchoServer {
  proto: 'tcp' | 'udp';
  port: number;
  family: Family;
  process: LabProcess;
  /** TCP: accepted connections; UDP: datagrams received (each from its peer) */
  peers(): Peer[];
  /** every byte received, in arrival order */
  received(): string;
  stop(): Promise<void>;
}

const PEER_RE = {
  tcp: /accepting connection from AF=\d+ (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)/g,
  udp: /receiving packet from AF=\d+ (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)/g,
};

/**
 * A socat echo server: each TCP connection or UDP datagram is answered with what it carried and
 * appended to a file, so a test can assert both delivery and content. Listens on the wildcard
 * address of one family only (ipv6only), so a v4 and a v6 server can share a port.
 */
export async function startServer(lab: LabHosts, host: string, proto: 'tcp' | 'udp', port: number, family: Family): Promise<EchoServer> {
  checkPort(port);
  const dataFile = path.join(lab.tmpDir, `${host}-${proto}${family}-${port}.data`);
  const listen = proto === 'tcp' ? `TCP${family}-LISTEN:${port},fork,reuseaddr` : `UDP${family}-RECVFROM:${port},fork,reuseaddr`;
  const v6only = family === 6 ? ',ipv6only=1' : '';
  // -T bounds each forked child (an idle UDP "session" or a stuck TCP peer), not the listener.
  const proc = lab.spawn(host, 'socat', ['-d', '-d', '-T', '3', `${listen}${v6only}`, `EXEC:tee -a ${dataFile}`]);
  await proc.waitFor(proto === 'tcp' ? /listening on/ : /receiving on/, 5000);
  return {
    proto,
    port,
    family,
    process: proc,
    peers: () => [...proc.stderr.matchAll(PEER_RE[proto])].map((m) => ({ addr: canonicalIp(m[1]!), port: Number(m[2]) })),
    received: () => (existsSync(dataFile) ? readFileSync(dataFile, 'utf8') : ''),
    stop: async () => {
      await proc.stop('SIGTERM', 2000);
    },
  };
}

export interface CaptureResult {
  count: number;
  /** what tcpdump reports the kernel dropped (buffer overrun): a capture is only exact when 0 */
  droppedByKernel: number;
  records: PcapRecord[];
  file: string;
}

export interface Capture {
  file: string;
  process: LabProcess;
  /** Stops tcpdump (letting it flush) and returns what it captured. */
  stop(): Promise<CaptureResult>;
}

let captureSeq = 0;

export async function capture(lab: LabHosts, host: string, iface: string, filter = ''): Promise<Capture> {
  const file = path.join(lab.tmpDir, `${host}-${iface}-${++captureSeq}.pcap`);
  // --immediate-mode: deliver each packet at once (TPACKET_V3 otherwise holds a block up to 1 s
  // and SIGINT discards it); -U: write it out at once; -Z root: the file lives in a
  // root-owned temp dir and tcpdump would otherwise drop to its own user before opening it.
  const args = ['-i', iface, '-w', file, '-U', '--immediate-mode', '-n', '-Z', 'root', '-s', '262144'];
  if (filter.trim() !== '') args.push(filter);
  const proc = lab.spawn(host, 'tcpdump', args);
  await proc.waitFor(/listening on/, 5000);
  return {
    file,
    process: proc,
    stop: async () => {
      // Packets sent just before stop may still be crossing the veth.
      await new Promise((r) => setTimeout(r, 200));
      await proc.stop('SIGINT', 3000);
      const pcap = readPcap(file);
      const dropped = /(\d+) packets? dropped by kernel/.exec(proc.stderr);
      return { count: pcap.records.length, droppedByKernel: dropped ? Number(dropped[1]) : 0, records: pcap.records, file };
    },
  };
}
