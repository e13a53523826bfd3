// Wording of validation messages. Every message says what was expected and what was found, so
// a person can fix the file without reading our source.
import type { z } from 'zod';

/** Short, quoted rendering of a user value for messages. */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  let s: string;
  if (typeof v === 'string') s = JSON.stringify(v);
  else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') s = String(v);
  else if (Array.isArray(v)) s = `a list of ${v.length}`;
  else if (typeof v === 'object') s = 'a map';
  else s = typeof v;
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** `; did you mean "x"?` for a near miss (typo), else "". */
export function didYouMean(word: string, candidates: readonly string[]): string {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return best !== null && bestD <= limit ? `; did you mean "${best}"?` : '';
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a map of keys',
  array: 'a list',
  record: 'a map',
};

/** Error map passed to safeParse: replaces zod's generic texts for the issues our schemas raise
 * through built-in checks (types, enums, bounds). Custom issues carry their own message. */
export const configErrorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'invalid_type': {
      if (iss.input === undefined) return 'required key is missing';
      const want = TYPE_WORDS[iss.expected] ?? iss.expected;
      return `expected ${want}; got ${show(iss.input)}`;
    }
    case 'invalid_value':
      return `expected ${iss.values.map((v) => JSON.stringify(v)).join(' | ')}; got ${show(iss.input)}`;
    case 'too_small': {
      if (iss.origin === 'array') return `must have at least ${iss.minimum} entr${iss.minimum === 1 ? 'y' : 'ies'}`;
      if (iss.origin === 'string') return iss.minimum === 1 ? 'must not be empty' : `must be at least ${iss.minimum} characters`;
      return `expected a value ${iss.inclusive ? '>=' : '>'} ${iss.minimum}; got ${show(iss.input)}`;
    }
    case 'too_big': {
      if (iss.origin === 'array') return `must have at most ${iss.maximum} entries`;
      if (iss.origin === 'string') return `must be at most ${iss.maximum} characters`;
      return `expected a value ${iss.inclusive ? '<=' : '<'} ${iss.maximum}; got ${show(iss.input)}`;
    }
    case 'invalid_format':
      if (iss.format === 'regex') return `${show(iss.input)} does not match ${String(iss.pattern)}`;
      return undefined;
    default:
      return undefined;
  }
};
