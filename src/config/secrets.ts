// Secrets in the config: which fields hold them, the values this process has read, and the one
// redactor every output passes through (the running-config view, the log, the audit trail, error
// messages). A field is secret because its schema is marked with secret(); nothing here knows a
// key name, so a new secret field is covered the moment it is marked, wherever its value travels.
// Masking works on values, not on key names: a header value stays masked after the alert
// pipeline has renamed `webhook_headers` to `headers`, and a key that slips into an error
// message or a log line is cut out of it there too.
import type { z } from 'zod';

/** What a marked field holds. `value`: one credential (a string). `map`: a map whose every
 * value is a credential (HTTP headers). `digest`: a one-way digest of a credential; not a
 * credential itself (the file holding it may be world-readable), but never shown. */
export type SecretKind = 'value' | 'map' | 'digest';

export const MASK = '***';

/** Values shorter than this are masked where they are a whole field, but not cut out of free
 * text: "1" or "yes" would otherwise vanish from every log line. Credentials are longer (API
 * keys: at least 16 characters). */
const MIN_REDACTED_LENGTH = 6;

const marks = new WeakMap<z.ZodType, SecretKind>();

/** Marks a field schema as holding a secret (returns the same schema). */
export function secret<T extends z.ZodType>(schema: T, kind: SecretKind = 'value'): T {
  marks.set(schema, kind);
  return schema;
}

/** One marked field: its key path with `[]` for any list index and `{}` for any map key,
 * e.g. "auth.api_keys[].key", "alerting.routes[].webhook_headers". */
export interface SecretField {
  path: string;
  kind: SecretKind;
}

type Def = { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType; innerType?: z.ZodType; in?: z.ZodType; out?: z.ZodType; valueType?: z.ZodType; options?: z.ZodType[] };

/** Every marked field under `schema`, found by walking its definition (objects, lists, maps,
 * unions and the wrappers around them), so the list cannot miss a field the loader accepts. */
export function secretFields(schema: z.ZodType): SecretField[] {
  const out = new Map<string, SecretKind>();
  const seen = new Set<z.ZodType>();
  const walk = (s: z.ZodType | undefined, at: string): void => {
    if (!s) return;
    const kind = marks.get(s);
    if (kind) {
      out.set(at, kind);
      return;
    }
    if (seen.has(s)) return;
    seen.add(s);
    const def = (s as unknown as { _zod: { def: Def } })._zod.def;
    switch (def.type) {
      case 'object':
        for (const [k, v] of Object.entries(def.shape ?? {})) walk(v, at ? `${at}.${k}` : k);
        break;
      case 'array':
        walk(def.element, `${at}[]`);
        break;
      case 'record':
        walk(def.valueType, `${at}.{}`);
        break;
      case 'union':
        for (const o of def.options ?? []) walk(o, at);
        break;
      case 'pipe':
        walk(def.in, at);
        walk(def.out, at);
        break;
      default:
        walk(def.innerType, at);
    }
    seen.delete(s);
  };
  walk(schema, '');
  return [...out].map(([path, kind]) => ({ path, kind })).sort((a, b) => a.path.localeCompare(b.path));
}

/** The values of `fields` present in raw (not yet validated) config data, each with its concrete
 * path, e.g. "auth.api_keys[0].key". Scalars of any type count (a key written as a number is
 * still the key). */
export function secretsInData(data: unknown, fields: readonly SecretField[]): { path: string; kind: SecretKind; value: string }[] {
  const found: { path: string; kind: SecretKind; value: string }[] = [];
  const scalar = (v: unknown): string | undefined => (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? String(v) : undefined);
  for (const f of fields) {
    const segs = f.path.split('.').flatMap((s) => s.split(/(?=\[\])/));
    const visit = (v: unknown, i: number, at: string): void => {
      if (i === segs.length) {
        if (f.kind === 'map') {
          if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
            for (const [k, x] of Object.entries(v)) {
              const s = scalar(x);
              if (s !== undefined) found.push({ path: `${at}.${k}`, kind: f.kind, value: s });
            }
          }
          return;
        }
        const s = scalar(v);
        if (s !== undefined) found.push({ path: at, kind: f.kind, value: s });
        return;
      }
      const seg = segs[i]!;
      if (seg === '[]') {
        if (Array.isArray(v)) v.forEach((x, n) => visit(x, i + 1, `${at}[${n}]`));
      } else if (seg === '{}') {
        if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) visit(x, i + 1, `${at}.${k}`);
      } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && seg in v) {
        visit((v as Record<string, unknown>)[seg], i + 1, at ? `${at}.${seg}` : seg);
      }
    };
    visit(data, 0, '');
  }
  return found;
}

/**
 * Every secret value this process has read (inline, from a `*_file` or a `*_env`), and the
 * masking built on them. Values are never forgotten: a line written after a reload may still
 * carry an old one.
 */
export class SecretRedactor {
  private readonly exact = new Set<string>();
  /** longest first, so a secret containing another is cut whole; each with its JSON-escaped
   * spelling, the form it takes inside a JSON log line */
  private patterns: string[] = [];

  add(value: string): void {
    if (value === '' || this.exact.has(value)) return;
    this.exact.add(value);
    if (value.length < MIN_REDACTED_LENGTH) return;
    const escaped = JSON.stringify(value).slice(1, -1);
    const next = new Set([...this.patterns, value, escaped]);
    this.patterns = [...next].sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.exact.size;
  }

  /** `text` with every known secret cut out. */
  redact(text: string): string {
    let out = text;
    for (const p of this.patterns) if (out.includes(p)) out = out.split(p).join(MASK);
    return out;
  }

  /** A deep copy of `v` (plain data) with secret strings masked: a string that is a secret
   * becomes "***", and secrets inside longer strings are cut out. */
  mask<T>(v: T): T {
    const walk = (x: unknown): unknown => {
      if (typeof x === 'string') return this.exact.has(x) ? MASK : this.redact(x);
      if (Array.isArray(x)) return x.map(walk);
      if (x !== null && typeof x === 'object') {
        const o: Record<string, unknown> = {};
        for (const [k, y] of Object.entries(x)) o[k] = walk(y);
        return o;
      }
      return x;
    };
    return walk(v) as T;
  }
}

/** The process's redactor: the loader adds to it, every output reads from it. */
export const knownSecrets = new SecretRedactor();
