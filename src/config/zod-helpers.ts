// Building blocks every section schema uses, so all sections behave alike: unknown keys are
// errors (with a near-miss suggestion), keys the public reference has but we do not implement
// yet say so plainly, and enum-like values are matched case-insensitively with aliases.
import { z } from 'zod';
import { didYouMean, show } from './messages.js';

/** Marker that lets the loader split one "unrecognized keys" issue into one issue per key, each
 * positioned at its own key in the YAML. */
export const UNKNOWN_KEYS_TAG = '\u0000unknown-keys\u0000';

function unknownKeyMessage(key: string, known: readonly string[], unsupported: Readonly<Record<string, string>>): string {
  const hint = unsupported[key];
  if (hint !== undefined) return `\`${key}\` is not supported by this version${hint ? ` (${hint})` : ''}`;
  return `unknown key "${key}"${didYouMean(key, known)} (expected one of: ${known.join(', ')})`;
}

/**
 * A strict object: an unknown key is an error. `unsupported` lists keys the public reference
 * accepts and we do not implement yet (value: an optional hint), so users who bring reference
 * files get "not supported by this version" rather than "unknown".
 */
export function strictObject<S extends z.core.$ZodLooseShape>(shape: S, unsupported: Readonly<Record<string, string>> = {}) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code !== 'unrecognized_keys') return undefined;
      const perKey: Record<string, string> = {};
      for (const k of iss.keys) perKey[k] = unknownKeyMessage(k, known, unsupported);
      return UNKNOWN_KEYS_TAG + JSON.stringify(perKey);
    },
  });
}

export type Fail = (message: string, path?: (string | number)[]) => void;

/** JSON Schema (draft 2020-12) fragment describing what a hand-parsed value accepts. */
export type JsonSchemaFragment = Readonly<Record<string, unknown>>;

/** The accepted shape of each hand-parsed value, for the exported JSON Schema: a transform says
 * nothing about its input by itself. Weak so schemas built at runtime are not kept alive. */
export const inputJsonSchemas = new WeakMap<z.ZodType, JsonSchemaFragment>();

/** A value parsed by hand: `parse` reports problems through `fail` (optionally at a sub-path,
 * e.g. one element of a list) and returns the typed result. A missing value is reported as a
 * missing key; wrap in .optional() or .default() for keys that may be absent. `json` describes
 * the accepted input for the exported JSON Schema (without it editors accept anything there). */
export function custom<T>(parse: (v: unknown, fail: Fail) => T, json?: JsonSchemaFragment) {
  const schema = z.unknown().transform((v, ctx): T => {
    if (v === undefined) {
      ctx.addIssue({ code: 'custom', message: 'required key is missing' });
      return z.NEVER;
    }
    let failed = false;
    const out = parse(v, (message, path) => {
      failed = true;
      ctx.addIssue({ code: 'custom', message, path: path ?? [] });
    });
    return failed ? z.NEVER : out;
  });
  if (json) inputJsonSchemas.set(schema, json);
  return schema;
}

/** Case-insensitive keyword with aliases, e.g. {allow: 'pass', deny: 'drop'}. `refused` maps
 * words we recognise but do not accept to the reason. */
export function keyword<const T extends string>(
  table: Readonly<Record<string, T>>,
  refused: Readonly<Record<string, string>> = {},
) {
  const words = Object.keys(table);
  // Matched case-insensitively; the schema lists the canonical lower-case spellings.
  return custom((v, fail): T => {
    const w = typeof v === 'string' ? v.trim().toLowerCase() : '';
    const hit = table[w];
    if (hit !== undefined) return hit;
    const why = refused[w];
    if (why !== undefined) fail(`${show(v)} ${why}`);
    else fail(`expected one of ${words.join(' | ')}; got ${show(v)}${w ? didYouMean(w, words) : ''}`);
    return words[0] as T;
  }, { type: 'string', enum: words });
}

/** Integer within [min, max], with the bounds in the message. */
export function intIn(min: number, max: number, what = 'an integer') {
  return custom((v, fail): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(`expected ${what} ${min}-${max}; got ${show(v)}`);
    return v as number;
  }, { type: 'integer', minimum: min, maximum: max });
}

export const bool = () =>
  custom((v, fail): boolean => {
    if (typeof v !== 'boolean') fail(`expected true or false; got ${show(v)}`);
    return v as boolean;
  }, { type: 'boolean' });
