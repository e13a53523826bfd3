// Alerts and the other records are stored whole as JSON so the model can grow without a
// migration. JSON has no bigint, so bigints (timestampNs, a flow's start and end, a cgroup id)
// travel as {"$bigint":"…"}, a shape no record field has, and come back as bigints.
import type { Alert } from '../alerts/model.js';
import { isRecordKind, type StoredRecordKind, type NonAlertRecord } from '../alerts/records.js';
import { SEVERITIES, type Severity } from '../alerts/model.js';
import { formatAddress, NetParseError, parseAddress } from '../net/ip.js';

const BIGINT_TAG = '$bigint';

export function encodeJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? { [BIGINT_TAG]: v.toString() } : v));
}

export function decodeJson(text: string): unknown {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      const tagged = (v as Record<string, unknown>)[BIGINT_TAG];
      if (keys.length === 1 && typeof tagged === 'string') return BigInt(tagged);
    }
    return v;
  });
}

export const encodeAlert = (a: Alert): string => encodeJson(a);
/** Rows written before records had kinds carry none: every row of the alerts table is an alert. */
export const decodeAlert = (text: string): Alert => ({ ...(decodeJson(text) as Omit<Alert, 'kind'>), kind: 'alert' });

export const encodeRecord = (r: NonAlertRecord): string => encodeJson(r);
/** A row of the records table; its `kind` column is the truth (checked against the body). */
export function decodeRecord(kind: StoredRecordKind, text: string): NonAlertRecord {
  const r = decodeJson(text) as NonAlertRecord;
  if (!isRecordKind(r.kind) || r.kind !== kind) throw new Error(`stored ${kind} record has kind ${JSON.stringify(r.kind)} in its body`);
  return r;
}

/** low=0 … critical=3, so "at least high" is a range comparison on an indexed column. */
export function severityRank(s: Severity): number {
  const r = SEVERITIES.indexOf(s);
  if (r < 0) throw new Error(`unknown severity ${JSON.stringify(s)} (expected one of ${SEVERITIES.join(', ')})`);
  return r;
}

/** One spelling per address (RFC 5952 for IPv6) so "2001:DB8:0::1" finds "2001:db8::1". An
 * alert's text that is not an address is stored as is (it then matches only itself). */
export function canonicalIp(text: string): string {
  try {
    const a = parseAddress(text);
    return formatAddress(a.family, a.addr);
  } catch (e) {
    if (!(e instanceof NetParseError)) throw e;
    return text;
  }
}

/** The same for a query's filter, where a non-address is the caller's mistake. */
export function parseIpFilter(text: string): string | NetParseError {
  try {
    const a = parseAddress(text.trim());
    return formatAddress(a.family, a.addr);
  } catch (e) {
    if (!(e instanceof NetParseError)) throw e;
    return e;
  }
}

export const msToNs = (d: Date): bigint => BigInt(d.getTime()) * 1_000_000n;
