// README.md stays true: its two set-up commands exist as make targets, and the policy it shows
// loads through the real config loader.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfigFile } from '../../src/catalog.js';
import { REPO_ROOT } from '../../src/version.js';

const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');

test('README: the first commands are make demo and make test, both real targets', () => {
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const commands = firstBlock.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  assert.deepEqual(commands, ['make demo', 'make test']);
  const makefile = readFileSync(path.join(REPO_ROOT, 'Makefile'), 'utf8');
  assert.match(makefile, /^demo:/m);
  assert.match(makefile, /^test:/m);
});

test('README: the minimal policy it shows is valid', async () => {
  const yaml = /A minimal policy:\n\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(yaml, 'README has a minimal policy block');
  const dir = mkdtempSync(path.join(tmpdir(), 'sn-readme-'));
  try {
    writeFileSync(path.join(dir, 'policy.yaml'), yaml);
    writeFileSync(path.join(dir, 'blocklist.txt'), '198.18.99.0/24\n2001:db8:99::/48\n');
    const cfg = await loadConfigFile(path.join(dir, 'policy.yaml'));
    assert.equal(cfg.firewall.default_policy, 'drop');
    assert.ok(cfg.firewall.rules.length >= 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
