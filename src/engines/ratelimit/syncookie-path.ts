// Which SYN cookies xdp-ratelimit answers with, and what this host's TCP lets them promise.
//
// Two paths (bpf/include/sentinel/lib/synproxy.h says how each works in the kernel):
// - agent: the agent's own cookies (SipHash under a random key); tc_syncookie creates the request
//   socket with bpf_sk_assign_tcp_reqsk (Linux 6.9+). The listener needs no stamp and the host
//   no sysctl change, only net.ipv4.tcp_syncookies other than 0 (the kernel takes a socket made
//   this way through its cookie path, which that value switches off).
// - kernel: the kernel's own cookies; the listener takes their ACKs because the agent holds
//   net.ipv4.tcp_syncookies at 2 while cookies are on and XDP hands each listener one SYN a
//   second, so it keeps stamping itself. For kernels without the kfunc.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadNative } from '../../kernel/native.js';
import { rl_cookie_path, sc_allow } from '../../kernel/contract.gen.js';

export const COOKIE_PATHS = ['agent', 'kernel'] as const;
export type CookiePath = (typeof COOKIE_PATHS)[number];
export type CookiePathSetting = 'auto' | CookiePath;

/** rl_gen.cookie_path values (ratelimit.h RL_PATH_*) */
export const RL_PATH: Readonly<Record<CookiePath, number>> = { agent: rl_cookie_path.RL_PATH_REQSK, kernel: rl_cookie_path.RL_PATH_KERNEL };

export const REQSK_KFUNC = 'bpf_sk_assign_tcp_reqsk';

/** True when the running kernel has the kfunc the agent path needs; false when it has not or
 * its BTF cannot be read (the kernel path then works everywhere). */
export function kernelHasReqsk(): boolean {
  try {
    return loadNative().btfHasFunc(REQSK_KFUNC);
  } catch {
    return false;
  }
}

export interface PathChoice {
  path: CookiePath;
  /** one line for status, doctor and the log */
  reason: string;
}

export function chooseCookiePath(setting: CookiePathSetting, hasReqsk: boolean): PathChoice {
  if (setting === 'kernel') return { path: 'kernel', reason: 'ddos.syn_protection.cookies is kernel' };
  if (hasReqsk) return { path: 'agent', reason: `the kernel has ${REQSK_KFUNC}: agent cookies, request sockets created in TC` };
  if (setting === 'agent') throw new Error(`ddos.syn_protection.cookies is agent but this kernel has no ${REQSK_KFUNC} (Linux 6.9+); use auto or kernel`);
  return { path: 'kernel', reason: `the kernel has no ${REQSK_KFUNC} (Linux < 6.9): kernel cookies with net.ipv4.tcp_syncookies=2` };
}


/** What this network namespace's TCP takes, read from its sysctls. */
export interface HostTcp {
  timestamps: boolean;
  sack: boolean;
  windowScaling: boolean;
  /** net.ipv4.tcp_ecn: any value but 0 accepts ECN from a client that asks */
  ecn: boolean;
  /** the window scale the kernel would announce itself (tcp_select_initial_window) */
  rcvWscale: number;
}

/** The kernel's own choice: the smallest scale that lets the largest receive buffer
 * (max of tcp_rmem[2] and rmem_max) be announced, at most 14. */
export function rcvWscaleFor(space: number): number {
  let s = Math.max(0, Math.floor(space));
  let wscale = 0;
  while (s > 65535 && wscale < 14) {
    s = Math.floor(s / 2);
    wscale++;
  }
  return wscale;
}

export function readHostTcp(procSys = '/proc/sys'): HostTcp {
  const read = (rel: string): string => readFileSync(path.join(procSys, rel), 'utf8').trim();
  const num = (rel: string): number => {
    const v = Number.parseInt(read(rel), 10);
    if (!Number.isInteger(v)) throw new Error(`${path.join(procSys, rel)}: not a number`);
    return v;
  };
  const rmem = read('net/ipv4/tcp_rmem').split(/\s+/).map(Number);
  const space = Math.max(rmem[2] ?? 0, num('net/core/rmem_max'));
  return {
    timestamps: num('net/ipv4/tcp_timestamps') !== 0,
    sack: num('net/ipv4/tcp_sack') !== 0,
    windowScaling: num('net/ipv4/tcp_window_scaling') !== 0,
    ecn: num('net/ipv4/tcp_ecn') !== 0,
    rcvWscale: rcvWscaleFor(space),
  };
}

export function allowFlags(h: HostTcp): number {
  const { SC_ALLOW_TS, SC_ALLOW_SACK, SC_ALLOW_WSCALE, SC_ALLOW_ECN } = sc_allow;
  return (h.timestamps ? SC_ALLOW_TS : 0) | (h.sack ? SC_ALLOW_SACK : 0) | (h.windowScaling ? SC_ALLOW_WSCALE : 0) | (h.ecn ? SC_ALLOW_ECN : 0);
}
