// Value parsers more than one section uses: rule ids, address lists, port ranges. Each declares
// the input shape it accepts so the generated JSON Schema tells editors what to write.
import { Cidr, tryParseCidr } from '../net/ip.js';
import { parsePortRange, type PortRange } from '../net/port.js';
import { show } from './messages.js';
import { custom, type Fail } from './zod-helpers.js';

const ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

/** A rule id: what alerts, metrics, the API and the audit trail call the rule. */
export const ruleId = custom(
  (v, fail): string => {
    if (typeof v !== 'string' || !ID_RE.test(v)) fail(`expected an id of 1-128 letters, digits, "-" or "_"; got ${show(v)}`);
    return v as string;
  },
  { type: 'string', pattern: ID_RE.source },
);

/** Parses one address/CIDR text, reporting at `at` (a sub-path) on failure. */
export function cidrOf(v: unknown, fail: Fail, at: (string | number)[]): Cidr | null {
  if (typeof v !== 'string') {
    fail(`expected an IPv4/IPv6 address or CIDR; got ${show(v)}`, at);
    return null;
  }
  const c = tryParseCidr(v.trim());
  if (typeof c === 'string') {
    fail(c, at);
    return null;
  }
  return c;
}

/** One address/CIDR or a list of them, IPv4 and IPv6; always a list after parsing. `emptyHint`
 * says what to do instead of writing an empty list (which would match nothing). */
export function cidrList(emptyHint: string) {
  return custom(
    (v, fail): Cidr[] => {
      if (Array.isArray(v)) {
        if (v.length === 0) fail(`an empty list matches nothing; ${emptyHint}`);
        const out: Cidr[] = [];
        v.forEach((x, i) => {
          const c = cidrOf(x, fail, [i]);
          if (c) out.push(c);
        });
        return out;
      }
      const c = cidrOf(v, fail, []);
      return c ? [c] : [];
    },
    { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }] },
  );
}

/** A port, "lo-hi" range or {lo, hi} (net/port.ts). */
export const portRange = custom(
  (v, fail): PortRange => {
    const r = parsePortRange(v);
    if (typeof r === 'string') {
      fail(r);
      return { lo: 0, hi: 0 };
    }
    return r;
  },
  { anyOf: [{ type: 'integer', minimum: 0, maximum: 65535 }, { type: 'string' }, { type: 'object' }] },
);
