// Port ranges in the forms the public reference accepts (so users can bring their files):
// 443, "443", "1024-65535" and {start, end}. Bounds are inclusive, like the kernel's check.

export interface PortRange {
  readonly lo: number;
  readonly hi: number;
}

const PORT_FORMS = 'a port 0-65535, a range "lo-hi" or {start, end}';

const PORT_TEXT = /^\s*([0-9]+)\s*$/;
const RANGE_TEXT = /^\s*([0-9]+)\s*-\s*([0-9]+)\s*$/;

function checkPort(n: number): string | null {
  if (!Number.isInteger(n)) return `${n} is not an integer`;
  if (n < 0 || n > 65535) return `${n} is outside 0-65535`;
  return null;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Parses a port or range; returns the range or a message naming the accepted forms and the
 * reason, e.g. `expected a port ...; got "80-70" (start > end)`. */
export function parsePortRange(v: unknown): PortRange | string {
  const fail = (why: string): string => `expected ${PORT_FORMS}; got ${show(v)} (${why})`;
  let lo: number;
  let hi: number;
  if (typeof v === 'number') {
    lo = hi = v;
  } else if (typeof v === 'string') {
    const single = PORT_TEXT.exec(v);
    const range = single ? null : RANGE_TEXT.exec(v);
    if (single) {
      lo = hi = Number(single[1]);
    } else if (range) {
      lo = Number(range[1]);
      hi = Number(range[2]);
    } else {
      return fail('not a number or "lo-hi"');
    }
  } else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const extra = Object.keys(o).filter((k) => k !== 'start' && k !== 'end');
    if (extra.length) return fail(`unknown key ${extra.map((k) => `"${k}"`).join(', ')}`);
    if (typeof o.start !== 'number' || typeof o.end !== 'number') return fail('start and end must both be numbers');
    lo = o.start;
    hi = o.end;
  } else {
    return fail(`a ${v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v} is not a port`);
  }
  const e = checkPort(lo) ?? checkPort(hi);
  if (e) return fail(e);
  if (lo > hi) return fail('start > end');
  return { lo, hi };
}

export function formatPortRange(r: PortRange): string {
  return r.lo === r.hi ? String(r.lo) : `${r.lo}-${r.hi}`;
}
