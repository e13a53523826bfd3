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
import { configJsonSchema } from '../../src/config/json-schema.js';

const repoFile = (p: string): string => fileURLToPath(new URL(`../../../${p}`, import.meta.url));

const ajv = new Ajv2020({ allErrors: true, strict: false });
const validate = ajv.compile(configJsonSchema());
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

  it('`config schema` prints it and `--output` writes the same document', () => {
    const cli = repoFile('dist/src/cli/main.js');
    const printed = JSON.parse(execFileSync(process.execPath, [cli, 'config', 'schema'], { encoding: 'utf8' })) as unknown;
    assert.deepEqual(printed, JSON.parse(JSON.stringify(configJsonSchema())));
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
