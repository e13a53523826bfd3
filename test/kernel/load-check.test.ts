// The build's load check: a program the verifier refuses fails it (exit 1) with the verifier
// log on stderr; the shipped objects pass it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { compileRejectedProgram, haveTool, isRoot, repoRoot, requireOrSkip } from './bridge-util.js';

const script = path.join(repoRoot, 'dist', 'scripts', 'load-check.js');

test('load check: a rejected program fails the check with the verifier log shown', (t) => {
  if (!requireOrSkip(t, isRoot() && haveTool('clang'), 'root and clang')) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'snlc-'));
  try {
    const bad = compileRejectedProgram(dir);
    const r = spawnSync(process.execPath, [script, bad], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /load-check: FAIL bad\.bpf\.o/);
    assert.match(r.stderr, /--- verifier log \(bad\.bpf\.o\) ---/);
    assert.match(r.stderr, /invalid access to packet/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('load check: every shipped object passes', (t) => {
  if (!requireOrSkip(t, isRoot(), 'root')) return;
  const dir = path.join(repoRoot, 'build', 'bpf');
  const objects = readdirSync(dir).filter((f) => f.endsWith('.bpf.o')).map((f) => path.join(dir, f));
  assert.ok(objects.length >= 1, 'no built objects');
  const r = spawnSync(process.execPath, [script, ...objects], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /load-check: ok xdp_firewall\.bpf\.o xdp_firewall/);
});
