// net.ipv4.tcp_syncookies of the agent's own network namespace (the setting is per namespace and
// covers IPv6 too). What each cookie path needs from it (syncookie-path.ts):
//   agent path:  anything but 0 (the host's own value is kept whenever it already is);
//   kernel path: 2, so listeners answer the refresh SYNs with cookies and take cookie ACKs.
// The agent changes it only when it must, says so in the log and status, and puts back the value
// it found when cookies go off or the agent stops.
import { readFileSync, writeFileSync } from 'node:fs';

const SYNCOOKIES_PATH = '/proc/sys/net/ipv4/tcp_syncookies';
const SYNCOOKIES_SYSCTL = 'net.ipv4.tcp_syncookies';

export type SyncookiesNeed = 'nonzero' | 'always';

function readSyncookies(path = SYNCOOKIES_PATH): number {
  const v = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
  if (!Number.isInteger(v)) throw new Error(`${path}: unexpected content`);
  return v;
}

function writeSyncookies(value: number, path = SYNCOOKIES_PATH): void {
  writeFileSync(path, `${value}\n`);
}

/** A change the agent made and holds. */
export interface SysctlChange {
  sysctl: string;
  from: number;
  to: number;
}

export class SyncookiesGuard {
  /** the value found before the agent first changed it; null while unchanged */
  private saved: number | null = null;
  private current: number | null = null;

  constructor(private readonly path = SYNCOOKIES_PATH) {}

  /** The change held now, for status; null when the host's own value stands. */
  get change(): SysctlChange | null {
    return this.saved === null || this.current === null ? null : { sysctl: SYNCOOKIES_SYSCTL, from: this.saved, to: this.current };
  }

  /** Makes the value meet `need`, starting from the host's own value; returns the change made
   * by this call (null when none was needed). */
  hold(need: SyncookiesNeed): SysctlChange | null {
    const now = readSyncookies(this.path);
    const own = this.saved ?? now;
    const target = need === 'always' ? 2 : own !== 0 ? own : 1;
    if (now === target) return null;
    writeSyncookies(target, this.path);
    if (target === own) {
      this.saved = null;
      this.current = null;
    } else {
      this.saved = own;
      this.current = target;
    }
    return { sysctl: SYNCOOKIES_SYSCTL, from: now, to: target };
  }

  /** Puts back the host's own value; returns it (null when nothing was changed). */
  restore(): number | null {
    const prev = this.saved;
    if (prev === null) return null;
    writeSyncookies(prev, this.path);
    this.saved = null;
    this.current = null;
    return prev;
  }
}
