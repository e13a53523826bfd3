// Dedup and throttle. Dedup: after an alert is emitted, alerts with the same dedup key are
// suppressed until its window ends. Throttle: at most `max` alerts per throttle key per window.
// Suppressed alerts are counted, never forgotten: the next alert emitted for the key carries
// the count (`suppressed`), and when a window closes with suppressed alerts and nothing after
// them, sweep() returns a summary record for the key (the last suppressed alert, marked
// `summary`, with the count). So: raised = emitted + sum of all `suppressed` fields.
import type { Alert } from './model.js';

export const KEY_FIELDS = ['engine', 'rule_id', 'severity', 'action', 'src_ip', 'dst_ip', 'src_port', 'dst_port', 'proto', 'interface'] as const;
export type KeyField = (typeof KEY_FIELDS)[number];

const PICK: Readonly<Record<KeyField, (a: Alert) => string | number | undefined>> = {
  engine: (a) => a.engine,
  rule_id: (a) => a.ruleId,
  severity: (a) => a.severity,
  action: (a) => a.action,
  // an alert without a flow (about a process) has none of these: they key as "absent"
  src_ip: (a) => a.flow?.srcIp,
  dst_ip: (a) => a.flow?.dstIp,
  src_port: (a) => a.flow?.srcPort ?? a.flow?.icmpType,
  dst_port: (a) => a.flow?.dstPort ?? a.flow?.icmpCode,
  proto: (a) => a.flow?.proto,
  interface: (a) => a.interface,
};

export interface SuppressOptions {
  /** 0 disables dedup */
  dedupWindowMs: number;
  dedupKeys: readonly KeyField[];
  /** 0 disables throttling */
  throttleMax: number;
  throttleWindowMs: number;
  throttleKeys: readonly KeyField[];
  /** keys tracked at most per table; beyond it new keys are not suppressed (counted) */
  maxKeys?: number;
}

export type Verdict = 'emit' | 'dedup' | 'throttle';

interface DedupEntry {
  until: number;
  pending: number;
  last: Alert | null;
}

interface ThrottleEntry {
  until: number;
  count: number;
  pending: number;
  last: Alert | null;
}

function keyOf(fields: readonly KeyField[]): (a: Alert) => string {
  const picks = fields.map((f) => PICK[f]);
  return (a) => {
    let k = '';
    for (const p of picks) k += `${p(a) ?? ''}\u001f`;
    return k;
  };
}

export class Suppressor {
  private readonly dedup = new Map<string, DedupEntry>();
  private readonly throttle = new Map<string, ThrottleEntry>();
  private readonly dedupKey: (a: Alert) => string;
  private readonly throttleKey: (a: Alert) => string;
  private readonly maxKeys: number;
  /** keys that could not be tracked because a table was full */
  untracked = 0;
  /** the alert admit() decided to emit (the pushed one, or a copy carrying `suppressed`) */
  out: Alert | null = null;

  constructor(private readonly o: SuppressOptions) {
    this.dedupKey = keyOf(o.dedupKeys);
    this.throttleKey = keyOf(o.throttleKeys);
    this.maxKeys = o.maxKeys ?? 100_000;
  }

  get enabled(): boolean {
    return this.o.dedupWindowMs > 0 || this.o.throttleMax > 0;
  }

  get trackedKeys(): number {
    return this.dedup.size + this.throttle.size;
  }

  /** Decides one alert at time `now` (ms). On 'emit', `out` holds what to emit. */
  admit(a: Alert, now: number): Verdict {
    let carried = 0;
    if (this.o.dedupWindowMs > 0) {
      const k = this.dedupKey(a);
      const e = this.dedup.get(k);
      if (e && now < e.until) {
        e.pending++;
        e.last = a;
        return 'dedup';
      }
      if (e) {
        carried = e.pending;
        e.until = now + this.o.dedupWindowMs;
        e.pending = 0;
        e.last = null;
      } else if (this.dedup.size < this.maxKeys) {
        this.dedup.set(k, { until: now + this.o.dedupWindowMs, pending: 0, last: null });
      } else {
        this.untracked++;
      }
    }
    if (this.o.throttleMax > 0) {
      const k = this.throttleKey(a);
      let t = this.throttle.get(k);
      if (t && now >= t.until) {
        carried += t.pending;
        t.until = now + this.o.throttleWindowMs;
        t.count = 0;
        t.pending = 0;
        t.last = null;
      }
      if (!t) {
        if (this.throttle.size < this.maxKeys) {
          t = { until: now + this.o.throttleWindowMs, count: 0, pending: 0, last: null };
          this.throttle.set(k, t);
        } else {
          this.untracked++;
        }
      }
      if (t) {
        if (t.count >= this.o.throttleMax) {
          // the dedup count this alert carried now waits with it for the throttle window
          t.pending += 1 + carried;
          t.last = a;
          return 'throttle';
        }
        t.count++;
      }
    }
    this.out = carried > 0 ? { ...a, suppressed: carried + (a.suppressed ?? 0) } : a;
    return 'emit';
  }

  /** Forgets closed windows; returns a summary for each that still held suppressed alerts. */
  sweep(now: number): Alert[] {
    const out: Alert[] = [];
    for (const [k, e] of this.dedup) {
      if (now < e.until) continue;
      if (e.pending > 0 && e.last) out.push(summary(e.last, e.pending));
      this.dedup.delete(k);
    }
    for (const [k, t] of this.throttle) {
      if (now < t.until) continue;
      if (t.pending > 0 && t.last) out.push(summary(t.last, t.pending));
      this.throttle.delete(k);
    }
    return out;
  }

  /** Summaries for everything still pending, windows open or not (at shutdown). */
  drain(): Alert[] {
    return this.sweep(Infinity);
  }
}

function summary(last: Alert, n: number): Alert {
  return { ...last, suppressed: n, summary: true };
}
