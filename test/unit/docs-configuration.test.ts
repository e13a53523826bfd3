// docs/configuration.md stays true to the config schema: every key the agent accepts has a row in
// a key table, every key a table names exists, every top-level section has its own heading, and
// every default a table gives is the default the loader fills in (the documented value, written
// in a file, gives the same config as leaving the key out). The agent keys of docs/api.md's
// exposure table are held to the same rules.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml, stringify } from 'yaml';
import { configFormat, parseConfigText } from '../../src/catalog.js';
import { configJsonSchema } from '../../src/config/json-schema.js';
import { REPO_ROOT } from '../../src/version.js';
import { codeSpans, markdownTables, type MdTable } from '../support/markdown-tables.js';

type JsonSchema = { properties?: Record<string, JsonSchema>; items?: JsonSchema; additionalProperties?: JsonSchema | boolean; anyOf?: JsonSchema[]; oneOf?: JsonSchema[] };

/** Every key path of the JSON Schema ("a.b", "a.list[].c", "a.map.*.c"); `leaf` when the key
 * holds no keys of its own. */
function schemaPaths(node: JsonSchema, prefix = '', out = new Map<string, { leaf: boolean }>()): Map<string, { leaf: boolean }> {
  const children = (n: JsonSchema, p: string): void => {
    for (const [k, v] of Object.entries(n.properties ?? {})) {
      const q = p ? `${p}.${k}` : k;
      const inner = v.properties ?? (v.items as JsonSchema | undefined)?.properties ?? (typeof v.additionalProperties === 'object' ? v.additionalProperties.properties : undefined);
      out.set(q, { leaf: inner === undefined });
      schemaPaths(v, q, out);
    }
  };
  children(node, prefix);
  if (node.items) children(node.items, `${prefix}[]`);
  if (typeof node.additionalProperties === 'object') children(node.additionalProperties, `${prefix}.*`);
  for (const alt of [...(node.anyOf ?? []), ...(node.oneOf ?? [])]) children(alt, prefix);
  return out;
}

const SCHEMA = configJsonSchema(configFormat.schema) as JsonSchema;
const PATHS = schemaPaths(SCHEMA);
const SECTIONS = Object.keys(SCHEMA.properties ?? {});

/** "syn_flood.{enabled, max_pps}" -> syn_flood.enabled, syn_flood.max_pps */
function expand(span: string): string[] {
  const m = /^(.*)\{([^}]*)\}(.*)$/.exec(span);
  if (!m) return [span];
  return m[2]!.split(',').flatMap((x) => expand(`${m[1]}${x.trim()}${m[3]}`));
}

/** The key prefix a table's heading stands for: a section heading names it in backticks (`agent`,
 * `conntrack.timeouts`, `alerting.routes[]`); two headings are words. */
const WORD_HEADINGS: Record<string, string> = { Rules: 'firewall.rules[]', Aliases: 'firewall.aliases.*', 'Exposure, TLS, limits': 'agent' };
function prefixOf(t: MdTable): string | undefined {
  const code = /^`([^`]+)`$/.exec(t.heading)?.[1];
  return code ?? WORD_HEADINGS[t.heading];
}

interface DocRow {
  file: string;
  line: number;
  keys: string[];
  /** the documented default of each key, a YAML literal, or undefined (none given) */
  defaults: (string | undefined)[];
}

/** Rows of every key table ("| key | ... | default | ...") in `file`. */
function keyRows(file: string): DocRow[] {
  const text = readFileSync(path.join(REPO_ROOT, 'docs', file), 'utf8');
  const out: DocRow[] = [];
  for (const t of markdownTables(text)) {
    if (!/^key\b/.test(t.header[0] ?? '')) continue;
    const prefix = prefixOf(t);
    assert.ok(prefix, `${file}:${t.line}: a key table under heading "${t.heading}", which names no section`);
    const dcol = t.header.indexOf('default');
    t.rows.forEach((r, i) => {
      const keys = codeSpans(r[0] ?? '').flatMap(expand).map((k) => `${prefix}.${k}`);
      if (!keys.length) return;
      // "`false`, `0`, `0`" or "`500` / `30000`": one default per key; else one for all
      const cell = dcol >= 0 ? (r[dcol] ?? '') : '';
      const parts = keys.length > 1 ? cell.split(/,\s+|\s+\/\s+/) : [cell];
      const defaults = keys.map((_, k) => codeSpans(parts.length === keys.length ? parts[k]! : cell)[0]);
      out.push({ file, line: t.line + 2 + i, keys, defaults });
    });
  }
  return out;
}

const ROWS = [...keyRows('configuration.md'), ...keyRows('api.md')];

/** The value at a dotted path of a plain object (no arrays or maps on the way), or undefined. */
function valueAt(o: unknown, p: string): unknown {
  return p.split('.').reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);
}

function withValue(base: Record<string, unknown>, p: string, v: unknown): Record<string, unknown> {
  const copy = structuredClone(base);
  const keys = p.split('.');
  let o = copy;
  for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  o[keys.at(-1)!] = v;
  return copy;
}

const MINIMAL = { agent: { interfaces: ['eth0'] } };
const load = (doc: Record<string, unknown>) => parseConfigText(stringify(doc), '/docs-check/config.yaml');

describe('docs/configuration.md against the config schema', () => {
  it('every key the schema accepts has a row in a key table', () => {
    const documented = new Set(ROWS.flatMap((r) => r.keys));
    const missing = [...PATHS].filter(([p, { leaf }]) => leaf && !documented.has(p)).map(([p]) => p);
    assert.deepEqual(missing, [], 'keys of the schema with no row in docs/configuration.md');
  });

  it('every key a table names exists', () => {
    const unknown = ROWS.flatMap((r) => r.keys.filter((k) => !PATHS.has(k)).map((k) => `${r.file}:${r.line}: ${k}`));
    assert.deepEqual(unknown, []);
  });

  it('every top-level section has its own heading', () => {
    const text = readFileSync(path.join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8');
    for (const s of SECTIONS) assert.match(text, new RegExp(`^## \`${s}\`$`, 'm'), `a "## \`${s}\`" section`);
  });

  it('every default given is the one the loader fills in, and every default the loader fills in is given', () => {
    const defaults = load(MINIMAL) as unknown as Record<string, unknown>;
    const problems: string[] = [];
    for (const r of ROWS) {
      r.keys.forEach((k, i) => {
        if (k.includes('[]') || k.includes('*') || !PATHS.get(k)?.leaf || valueAt(MINIMAL, k) !== undefined) return; // per-entry, a group of keys, or required
        const actual = valueAt(defaults, k);
        const doc = r.defaults[i];
        if (actual === undefined) return; // optional: absent unless set
        if (doc === undefined) {
          problems.push(`${r.file}:${r.line}: ${k} defaults to ${JSON.stringify(actual)}, the doc gives no default`);
          return;
        }
        let written: unknown;
        try {
          written = valueAt(load(withValue(MINIMAL, k, parseYaml(doc))) as unknown, k);
        } catch (e) {
          problems.push(`${r.file}:${r.line}: ${k}: the documented default \`${doc}\` does not load: ${(e as Error).message}`);
          return;
        }
        if (JSON.stringify(written) !== JSON.stringify(actual)) problems.push(`${r.file}:${r.line}: ${k}: doc says \`${doc}\` (${JSON.stringify(written)}), the loader fills in ${JSON.stringify(actual)}`);
      });
    }
    assert.deepEqual(problems, []);
  });

  it('every section it lists as not supported is refused as such', () => {
    const text = readFileSync(path.join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8');
    const para = /## Sections not supported by this version\n\n([\s\S]*?)\n\n/.exec(text)?.[1] ?? '';
    // Pointers in parentheses ("see `storage`") name where to go instead, not refused sections.
    const names = codeSpans(para.split(': each is refused')[0]!.replace(/\([^)]*\)/g, ''));
    assert.ok(names.length >= 10, para);
    for (const n of names) {
      assert.throws(() => load({ ...MINIMAL, [n]: {} }), (e: Error) => e.message.includes(`\`${n}\` is not supported by this version`), n);
    }
  });

  it('the checks can fail: a key table row naming no real key is found', () => {
    const t = markdownTables('## `agent`\n\n| key | type | default | |\n|---|---|---|---|\n| `colour` | string | `red` | |\n')[0]!;
    assert.equal(prefixOf(t), 'agent');
    assert.equal(PATHS.has(`agent.${codeSpans(t.rows[0]![0]!)[0]}`), false);
    assert.deepEqual(expand('syn_flood.{enabled, max_pps}'), ['syn_flood.enabled', 'syn_flood.max_pps']);
  });
});
