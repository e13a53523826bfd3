// The exported JSON Schema is what editors validate against: it must accept the configs we ship
// and refuse what the loader refuses by shape (unknown keys, wrong types, out-of-range values).
// Checked with a real JSON Schema validator (ajv, draft 2020-12), not by reading our own output.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { configFormat } from '../../src/catalog.js';
import { configJsonSchema } from '../../src/config/json-schema.js';

const repoFile = (p: string): string => fileURLToPath(new URL(`../../../${p}`, import.meta.url));

const ajv = new Ajv2020({ allErrors: true, strict: false });
const validate = ajv.compile(configJsonSchema(configFormat.schema));
const check = (doc: unknown): string[] => (validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`));

describe('config JSON Schema', () => {
  for (const f of ['config/example.yaml', 'config/demo.yaml']) {
    it(`accepts ${f}`, () => {
      assert.deepEqual(check(parse(readFileSync(repoFile(f), 'utf8'))), []);
    });
  }

  it('accepts a minimal file (only agent.interfaces)', () => {
    assert.deepEqual(check({ agent: { interfaces: ['eth0'] } }), []);
  });

  it('rejects unknown keys at the top level and inside sections and rules', () => {
    const base = (): Record<string, unknown> => parse(readFileSync(repoFile('config/example.yaml'), 'utf8')) as Record<string, unknown>;
    const top = { ...base(), firewal: {} };
    assert.ok(check(top).some((e) => e.includes('additionalProperty') && e.includes('firewal')), check(top).join('\n'));
    const inAgent = base();
    (inAgent.agent as Record<string, unknown>).interface = ['eth0'];
    assert.ok(check(inAgent).some((e) => e.startsWith('/agent ') && e.includes('"interface"')), check(inAgent).join('\n'));
    const inRule = base();
    ((inRule.firewall as { rules: Record<string, unknown>[] }).rules[0]!).prioritee = 5;
    assert.ok(check(inRule).some((e) => e.startsWith('/firewall/rules/0 ') && e.includes('prioritee')), check(inRule).join('\n'));
  });

  it('says the accepted shape of hand-parsed values: types, ranges, keywords', () => {
    assert.ok(check({ agent: { interfaces: ['x'], http_port: 70000 } }).some((e) => e.startsWith('/agent/http_port')));
    assert.ok(check({ agent: { interfaces: ['x'], http_port: '80' } }).some((e) => e.startsWith('/agent/http_port')));
    assert.ok(check({ agent: { interfaces: ['x'] }, firewall: { enabled: 'yes' } }).some((e) => e.startsWith('/firewall/enabled')));
    assert.ok(check({ agent: { interfaces: ['x'] }, firewall: { default_policy: 'maybe' } }).some((e) => e.startsWith('/firewall/default_policy')));
    assert.ok(check({ agent: { interfaces: ['x'] }, firewall: { rules: [{ id: 'a', priority: 0, action: 'deny' }] } }).some((e) => e.startsWith('/firewall/rules/0/priority')));
    assert.ok(check({ firewall: {} }).some((e) => e.includes('required') && e.includes('agent')));
  });

  it('every key says its accepted shape (no hand-parsed value left as "anything", beyond the known gaps)', () => {
    // Hand-parsed values (custom() in zod-helpers) need their input shape as custom()'s second
    // argument. These still lack it; their section owners remove them as they add it. A new key
    // without a shape fails here.
    const KNOWN_GAPS = new Set([
      'agent.interfaces', 'agent.bind_address', 'agent.tls.cert', 'agent.tls.key', 'agent.pin_root', 'agent.ring_buffer_size',
      'firewall.rules[].protocol', 'firewall.rules[].src_alias',
      'firewall.rules[].dst_alias', 'firewall.rules[].state',
      'firewall.aliases{}.values', 'firewall.aliases{}.file',
      'auth.api_keys[].name', 'auth.api_keys[].key', 'auth.jwt.public_key_path', 'auth.jwt.jwks_url', 'storage.path',
    ]);
    const shapeless: string[] = [];
    const walk = (node: Record<string, unknown>, at: string): void => {
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [k, v] of Object.entries(props ?? {})) {
        const p = at ? `${at}.${k}` : k;
        const shapeKeys = Object.keys(v).filter((x) => !['default', 'description', 'title'].includes(x));
        if (shapeKeys.length === 0) shapeless.push(p);
        walk(v, p);
        if (v.items && typeof v.items === 'object') walk(v.items as Record<string, unknown>, `${p}[]`);
        if (v.additionalProperties && typeof v.additionalProperties === 'object') walk(v.additionalProperties as Record<string, unknown>, `${p}{}`);
      }
    };
    walk(configJsonSchema(configFormat.schema), '');
    assert.deepEqual(shapeless.filter((p) => !KNOWN_GAPS.has(p)), []);
  });

  it('`config schema` prints it and `--output` writes the same document', () => {
    const cli = repoFile('dist/src/cli/main.js');
    const printed = JSON.parse(execFileSync(process.execPath, [cli, 'config', 'schema'], { encoding: 'utf8' })) as unknown;
    assert.deepEqual(printed, JSON.parse(JSON.stringify(configJsonSchema(configFormat.schema))));
    const dir = mkdtempSync(path.join(tmpdir(), 'esn-schema-'));
    try {
      const out = path.join(dir, 'schema.json');
      execFileSync(process.execPath, [cli, 'config', 'schema', '--output', out], { stdio: 'pipe' });
      assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), printed);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
