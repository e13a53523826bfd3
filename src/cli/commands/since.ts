// --since: "90s", "15m", "2h", "7d" ago, or an ISO 8601 time.
import { UsageError } from '../client.js';

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseSince(v: string, now: Date = new Date()): Date {
  const m = /^(\d{1,9})([smhd])$/.exec(v.trim());
  if (m) return new Date(now.getTime() - Number(m[1]) * UNIT_MS[m[2]!]!);
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
    const d = new Date(v);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new UsageError(`--since: expected a duration like 90s, 15m, 2h, 7d or an ISO 8601 time; got "${v}"`);
}
