// Durations on the command line: --since ("90s", "15m", "2h", "7d" ago, or an ISO 8601 time) and
// --ttl ("90s", "15m", "2h", "7d", or plain seconds).
import { UsageError } from '../client.js';

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Whole seconds from "3600", "90s", "15m", "2h", "7d". */
export function parseDurationSecs(flag: string, v: string): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(v.trim());
  if (!m || Number(m[1]) === 0) throw new UsageError(`--${flag}: expected a duration like 3600, 90s, 15m, 2h, 7d; got "${v}"`);
  return (Number(m[1]) * UNIT_MS[m[2] || 's']!) / 1000;
}

export function parseSince(v: string, now: Date = new Date()): Date {
  const m = /^(\d{1,9})([smhd])$/.exec(v.trim());
  if (m) return new Date(now.getTime() - Number(m[1]) * UNIT_MS[m[2]!]!);
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
    const d = new Date(v);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new UsageError(`--since: expected a duration like 90s, 15m, 2h, 7d or an ISO 8601 time; got "${v}"`);
}
