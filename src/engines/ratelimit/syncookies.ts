// net.ipv4.tcp_syncookies of the agent's own network namespace. SYN cookies answered from XDP
// are only accepted by a listener when the kernel takes cookie ACKs unconditionally (value 2);
// the setting is per namespace and covers IPv6 too. The previous value is restored on stop.
import { readFileSync, writeFileSync } from 'node:fs';

export const SYNCOOKIES_PATH = '/proc/sys/net/ipv4/tcp_syncookies';
export const SYNCOOKIES_ALWAYS = 2;

export function readSyncookies(path = SYNCOOKIES_PATH): number {
  const v = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
  if (!Number.isInteger(v)) throw new Error(`${path}: unexpected content`);
  return v;
}

export function writeSyncookies(value: number, path = SYNCOOKIES_PATH): void {
  writeFileSync(path, `${value}\n`);
}

/** Holds the sysctl at 2 while SYN protection is on; remembers what it found. */
export class SyncookiesGuard {
  private saved: number | null = null;

  constructor(private readonly path = SYNCOOKIES_PATH) {}

  get active(): boolean {
    return this.saved !== null;
  }

  /** Returns the value found, for the log. */
  enable(): number {
    const cur = readSyncookies(this.path);
    if (this.saved === null) this.saved = cur;
    if (cur !== SYNCOOKIES_ALWAYS) writeSyncookies(SYNCOOKIES_ALWAYS, this.path);
    return cur;
  }

  /** Restores the value found by enable(); returns it (null when nothing was changed). */
  restore(): number | null {
    const prev = this.saved;
    if (prev === null) return null;
    writeSyncookies(prev, this.path);
    this.saved = null;
    return prev;
  }
}
