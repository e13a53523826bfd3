// Guessing keys or tokens must be slow. The server's per-client rate limit counts requests, but
// a request refused by authentication may never reach it (hooks run in order and a 401 ends the
// chain), so authentication keeps its own budget of failures per client address: past it, the
// client is answered 429 until the window ends, without its credential even being checked.

import { NetParseError, parseCidr } from '../../net/ip.js';

/** Whom a budget belongs to: an IPv4 address, or an IPv6 /64 (one host usually holds a whole
 * /64 and could otherwise rotate addresses to reset its budget). IPv4-mapped IPv6 counts as IPv4. */
export function clientKey(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4) return v4[1] as string;
  if (!ip.includes(':')) return ip;
  try {
    return parseCidr(`${ip.replace(/%.*$/, '')}/64`).toString();
  } catch (e) {
    if (!(e instanceof NetParseError)) throw e;
    return ip;
  }
}

export interface ThrottleOptions {
  /** failed attempts allowed per client per window */
  maxFailures: number;
  windowMs: number;
  /** clients tracked at most; beyond, expired windows are swept and, failing that, the oldest
   * entry goes (memory stays bounded under a spray from many addresses) */
  maxClients: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = { maxFailures: 30, windowMs: 60_000, maxClients: 10_000 };

interface Window {
  start: number;
  failures: number;
}

export class FailureThrottle {
  private readonly clients = new Map<string, Window>();

  constructor(
    private readonly opts: ThrottleOptions = DEFAULT_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `client` may try again, or 0 when it may try now. */
  blockedFor(client: string): number {
    const w = this.clients.get(client);
    if (!w) return 0;
    const left = w.start + this.opts.windowMs - this.now();
    if (left <= 0) {
      this.clients.delete(client);
      return 0;
    }
    return w.failures >= this.opts.maxFailures ? Math.ceil(left / 1000) : 0;
  }

  failed(client: string): void {
    const t = this.now();
    const w = this.clients.get(client);
    if (w && t - w.start < this.opts.windowMs) {
      w.failures++;
      return;
    }
    if (!w && this.clients.size >= this.opts.maxClients) this.sweep(t);
    this.clients.set(client, { start: t, failures: 1 });
  }

  get tracked(): number {
    return this.clients.size;
  }

  private sweep(t: number): void {
    for (const [k, w] of this.clients) if (t - w.start >= this.opts.windowMs) this.clients.delete(k);
    if (this.clients.size >= this.opts.maxClients) {
      // Map iteration is insertion order: the first key is the oldest window
      const oldest = this.clients.keys().next().value;
      if (oldest !== undefined) this.clients.delete(oldest);
    }
  }
}
