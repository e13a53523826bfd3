// Keeps this host's TCP listeners accepting the SYN cookies xdp-ratelimit answers from XDP, and
// tells XDP which ports are safe to answer (rl_stamped, RL_STAMP_VALID_NS in ratelimit.h).
//
// The kernel takes a cookie ACK only on a listener that itself sent a cookie in the last two
// minutes (tcp_synq_no_recent_overflow in cookie_v4/v6_check); otherwise it answers the ACK with
// a RST. While XDP answers every SYN, no SYN reaches the listener, so no stamp is ever set and
// legitimate clients are reset. This module stamps each listener every STAMP_INTERVAL_MS: it
// hands the stack one SYN per listener on the loopback device (BPF_PROG_TEST_RUN in live-frames
// mode with a program that returns XDP_PASS), from the listener's own address to itself. With
// net.ipv4.tcp_syncookies=2 the kernel answers that SYN with a cookie (the stamp), keeps no
// request socket, and resets its own SYN-ACK, which no socket owns: the application never
// sees a connection.
import { readFileSync } from 'node:fs';
import { loadNative } from '../../kernel/native.js';

/** Far below the kernel's two minutes: a listener that starts after the agent is covered within
 * this long. One loopback SYN per listener per interval costs microseconds. */
export const STAMP_INTERVAL_MS = 2_000;
const BPF_F_TEST_XDP_LIVE_FRAMES = 2;
const LOOPBACK_IFINDEX = 1;
/** source port of the stamping SYNs: its SYN-ACK meets no socket and is reset by the kernel */
const STAMP_SPORT = 9;

export interface Listener {
  family: 4 | 6;
  /** 4 or 16 bytes, network order; all zero = any address */
  addr: Buffer;
  port: number;
}

const TCP_LISTEN = '0A';

/** Listening sockets from /proc/net/tcp or tcp6 text (addresses there are 32-bit words in host
 * (little-endian) order, ports big-endian hex). */
export function parseProcNetTcp(text: string, family: 4 | 6): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== TCP_LISTEN) continue;
    const [hexAddr, hexPort] = f[1]!.split(':') as [string, string];
    const addr = Buffer.alloc(family === 4 ? 4 : 16);
    for (let w = 0; w < addr.length / 4; w++) addr.writeUInt32LE(Number.parseInt(hexAddr.slice(w * 8, w * 8 + 8), 16), w * 4);
    out.push({ family, addr, port: Number.parseInt(hexPort, 16) });
  }
  return out;
}

/** Listeners from /proc/net/tcp and tcp6: the fallback when the kernel has no sock_diag for TCP
 * (CONFIG_INET_TCP_DIAG off). Those files list every TCP socket, so on a host with very many
 * connections this is the expensive way. */
function procListeners(): Listener[] {
  const read = (p: string): string => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return ''; // no IPv6 in this namespace
    }
  };
  return [...parseProcNetTcp(read('/proc/net/tcp'), 4), ...parseProcNetTcp(read('/proc/net/tcp6'), 6)];
}

/** This namespace's TCP listeners, each (family, address, port) once: from NETLINK_SOCK_DIAG,
 * which the kernel filters by state (only listening sockets cross, whatever the connection
 * count), else from /proc. `via` says which answered. */
export function localListenersVia(): { listeners: Listener[]; via: 'sock_diag' | 'proc' } {
  let all: Listener[];
  let via: 'sock_diag' | 'proc' = 'sock_diag';
  try {
    all = loadNative().tcpListeners();
  } catch {
    via = 'proc';
    all = procListeners();
  }
  const seen = new Set<string>();
  const listeners = all.filter((l) => {
    const k = `${l.family}/${l.addr.toString('hex')}/${l.port}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return { listeners, via };
}

export function localListeners(): Listener[] {
  return localListenersVia().listeners;
}

function sum16(b: Buffer, acc = 0): number {
  for (let i = 0; i + 1 < b.length; i += 2) acc += b.readUInt16BE(i);
  if (b.length & 1) acc += b[b.length - 1]! << 8;
  return acc;
}
const fold = (s: number): number => {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
};

/** An Ethernet frame carrying a bare TCP SYN from `addr`:sport to `addr`:dport. */
export function stampSyn(family: 4 | 6, addr: Buffer, dport: number, isn: number): Buffer {
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(STAMP_SPORT, 0);
  tcp.writeUInt16BE(dport, 2);
  tcp.writeUInt32BE(isn >>> 0, 4);
  tcp[12] = 5 << 4;
  tcp[13] = 0x02; // SYN
  tcp.writeUInt16BE(1024, 14);
  const pseudo =
    family === 4
      ? Buffer.concat([addr, addr, Buffer.from([0, 6, 0, 20])])
      : Buffer.concat([addr, addr, Buffer.from([0, 0, 0, 20, 0, 0, 0, 6])]);
  tcp.writeUInt16BE(fold(sum16(tcp, sum16(pseudo))), 16);
  const eth = Buffer.alloc(14); // loopback's address is all zeros: the frame is for this host
  let ip: Buffer;
  if (family === 4) {
    eth.writeUInt16BE(0x0800, 12);
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(40, 2);
    ip[8] = 64;
    ip[9] = 6;
    addr.copy(ip, 12);
    addr.copy(ip, 16);
    ip.writeUInt16BE(fold(sum16(ip)), 10);
  } else {
    eth.writeUInt16BE(0x86dd, 12);
    ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(20, 4);
    ip[6] = 6;
    ip[7] = 64;
    addr.copy(ip, 8);
    addr.copy(ip, 24);
  }
  return Buffer.concat([eth, ip, tcp]);
}

/** The address a stamping SYN uses: the listener's own, or loopback for an any-address one. */
export function stampAddress(l: Listener): Buffer {
  if (l.addr.some((b) => b !== 0)) return l.addr;
  if (l.family === 4) return Buffer.from([127, 0, 0, 1]);
  const a = Buffer.alloc(16);
  a[15] = 1;
  return a;
}

export interface StampResult {
  listeners: number;
  stamped: number;
  /** ports whose every listener was stamped (XDP may answer SYNs to them) */
  ports: number[];
  errors: string[];
  /** where the listeners came from (sock_diag, else the /proc fallback) */
  via: 'sock_diag' | 'proc' | 'given';
}

/** Sends one stamping SYN per local listener through `passProgFd` (an XDP program returning
 * XDP_PASS) on the loopback device. */
export function stampListeners(passProgFd: number, given?: Listener[]): StampResult {
  const native = loadNative();
  const found = given ? { listeners: given, via: 'given' as const } : localListenersVia();
  const listeners = found.listeners;
  const res: StampResult = { listeners: listeners.length, stamped: 0, ports: [], errors: [], via: found.via };
  const failed = new Set<number>();
  for (const l of listeners) {
    const data = stampSyn(l.family, stampAddress(l), l.port, (Date.now() * 7919) >>> 0);
    const ctx = Buffer.alloc(24); // struct xdp_md: data 0, data_end, data_meta 0, ingress_ifindex
    ctx.writeUInt32LE(data.length, 4);
    ctx.writeUInt32LE(LOOPBACK_IFINDEX, 12);
    try {
      native.testRun(passProgFd, { data, ctx, repeat: 1, flags: BPF_F_TEST_XDP_LIVE_FRAMES });
      res.stamped++;
    } catch (err) {
      failed.add(l.port);
      res.errors.push(`port ${l.port} (IPv${l.family}): ${(err as Error).message}`);
    }
  }
  res.ports = [...new Set(listeners.map((l) => l.port))].filter((p) => !failed.has(p));
  return res;
}
