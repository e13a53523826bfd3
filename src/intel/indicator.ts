// What a threat-intelligence feed yields, whatever its format: one indicator per value, typed.
// Addresses and networks are enforced by tc-threatintel; domain names are what DNS blocking takes
// (`domainIndicators`); URLs and file hashes are kept and shown but enforced by no program, and
// every feed's status says how many of each it holds so none is lost silently.
import { Cidr, tryParseCidr } from '../net/ip.js';
import { domainToASCII } from 'node:url';

export type IndicatorValue =
  /** an address (/32, /128) or a network */
  | { readonly type: 'ip'; readonly cidr: Cidr }
  /** lower-case ASCII (IDNA) name without a trailing dot */
  | { readonly type: 'domain'; readonly name: string }
  | { readonly type: 'url'; readonly url: string }
  /** algorithm lower-case as the feed named it (md5, sha-256, ...), value lower-case hex */
  | { readonly type: 'hash'; readonly algorithm: string; readonly hash: string };

export type IndicatorType = IndicatorValue['type'];

export interface KillChainPhase {
  readonly kill_chain_name: string;
  readonly phase_name: string;
}

export interface Indicator {
  readonly value: IndicatorValue;
  /** the feed's own id of the indicator (a STIX id), or `<feed>:<line>` */
  readonly id: string;
  /** 0..100 */
  readonly confidence: number;
  /** STIX `name` */
  readonly name?: string;
  /** STIX `kill_chain_phases` */
  readonly killChain?: readonly KillChainPhase[];
  /** a category the feed gave (CSV/JSON `category_field`, STIX `indicator_types`) */
  readonly category?: string;
  /** ms since the epoch; the indicator stops applying then (STIX `valid_until`) */
  readonly validUntil?: number;
}

/** What a feed held that did not become an indicator, by reason: counted, with a few examples. */
export class SkipLog {
  readonly reasons = new Map<string, { count: number; examples: string[] }>();
  private static readonly EXAMPLES = 5;

  add(reason: string, example: string): void {
    let r = this.reasons.get(reason);
    if (!r) this.reasons.set(reason, (r = { count: 0, examples: [] }));
    r.count++;
    if (r.examples.length < SkipLog.EXAMPLES) r.examples.push(example.length > 200 ? `${example.slice(0, 200)}…` : example);
  }

  get total(): number {
    let n = 0;
    for (const r of this.reasons.values()) n += r.count;
    return n;
  }

  toJSON(): Record<string, { count: number; examples: string[] }> {
    return Object.fromEntries(this.reasons);
  }
}

/** What one parse of a feed's bytes gave. */
export interface FeedContent {
  readonly indicators: Indicator[];
  readonly skipped: SkipLog;
}

/** The feed's content is broken as a whole (not JSON, a required column missing, an invalid
 * STIX object): the message names where (line, object id) and what is wrong. */
export class FeedFormatError extends Error {
  override name = 'FeedFormatError';
}

/** A JSON feed's document; FeedFormatError when it is not JSON. */
export function parseJsonFeed(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new FeedFormatError(`not valid JSON: ${(e as Error).message}`);
  }
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** A domain name as DNS blocking matches it, or the reason it is not one. Accepts IDN (turned into
 * its ASCII form), one trailing dot, any case; refuses spaces, empty labels, labels over 63
 * bytes, names over 253 bytes, and addresses (an address is not a name). */
export function normaliseDomain(text: string): string | { error: string } {
  let t = text.trim();
  if (t !== text || t === '') return { error: `"${text}" is not a domain name (blank or surrounding spaces)` };
  if (t.endsWith('.')) t = t.slice(0, -1);
  if (/[\s/:@]/.test(t)) return { error: `"${text}" is not a domain name (it contains a space, "/", ":" or "@")` };
  const ascii = /^[\x21-\x7e]*$/.test(t) ? t.toLowerCase() : domainToASCII(t);
  if (!ascii) return { error: `"${text}" is not a domain name (not a valid internationalised name)` };
  if (ascii.length > 253) return { error: `"${text}" is not a domain name (longer than 253 bytes)` };
  const labels = ascii.split('.');
  for (const l of labels) if (!LABEL.test(l)) return { error: `"${text}" is not a domain name (label "${l}" is empty, too long, or has characters other than letters, digits, "-" and "_")` };
  if (labels.length === 4 && labels.every((l) => /^[0-9]+$/.test(l))) return { error: `"${text}" is an IPv4 address, not a domain name` };
  return ascii;
}

/** An http(s)/ftp URL with a host, normalised by the WHATWG parser, or the reason it is not one. */
export function normaliseUrl(text: string): string | { error: string } {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return { error: `"${text}" is not a URL` };
  }
  if (!u.hostname) return { error: `"${text}" is not a URL with a host` };
  return u.href;
}

/** An address or network for the kernel, or the reason it is not one. */
export function parseIpIndicator(text: string, family?: 4 | 6): Cidr | { error: string } {
  const c = tryParseCidr(text);
  if (typeof c === 'string') return { error: c };
  if (family && c.family !== family) return { error: `"${text}" is an IPv${c.family} value where IPv${family} was declared` };
  return c;
}

/** The domain indicators among `indicators`, as DNS blocking consumes them. */
export function domainIndicators(indicators: Iterable<Indicator>): { name: string; indicator: Indicator }[] {
  const out: { name: string; indicator: Indicator }[] = [];
  for (const i of indicators) if (i.value.type === 'domain') out.push({ name: i.value.name, indicator: i });
  return out;
}

/** The text of an indicator's value, as alerts and status show it. */
export function indicatorText(v: IndicatorValue): string {
  switch (v.type) {
    case 'ip':
      return v.cidr.prefix === (v.cidr.family === 4 ? 32 : 128) ? v.cidr.toString().replace(/\/\d+$/, '') : v.cidr.toString();
    case 'domain':
      return v.name;
    case 'url':
      return v.url;
    case 'hash':
      return `${v.algorithm}:${v.hash}`;
  }
}
