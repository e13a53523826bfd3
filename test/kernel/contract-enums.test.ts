// The kernel contract's constants (src/kernel/contract.gen.ts) against their two sources: the
// contract headers as written, and the BTF of the objects built from them. Fails when a header
// enum was changed and the objects or the generated module were not rebuilt, when an enum is not
// exported to BTF, or when a contract header hides a constant in a #define the agent cannot see.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { contractEnums } from '../../src/kernel/contract.gen.js';
import { loadNative } from '../../src/kernel/native.js';
import { repoRoot, requireOrSkip } from './bridge-util.js';

const objDir = path.join(repoRoot, 'build', 'bpf');
const contractDir = path.join(repoRoot, 'bpf', 'include', 'sentinel', 'contract');
const objects = (() => {
  try {
    return readdirSync(objDir).filter((f) => f.endsWith('.bpf.o')).sort().map((f) => path.join(objDir, f));
  } catch {
    return [];
  }
})();
const generated = contractEnums as unknown as Record<string, Record<string, number>>;

/** enum name -> member names in declaration order, and numeric #defines, per contract header. */
function readHeaders(): { enums: Map<string, { file: string; members: string[] }>; defines: string[] } {
  const enums = new Map<string, { file: string; members: string[] }>();
  const defines: string[] = [];
  for (const file of readdirSync(contractDir).filter((f) => f.endsWith('.h')).sort()) {
    const src = readFileSync(path.join(contractDir, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    for (const m of src.matchAll(/^\s*#\s*define\s+(\w+)\s+\(?\s*-?(?:0x[0-9a-fA-F]+|\d+)/gm)) defines.push(`${file}: ${m[1]}`);
    for (const m of src.matchAll(/\benum\s+(\w+)\s*\{([^}]*)\}/g)) {
      const members = m[2]!.split(',').map((s) => s.trim().split(/[\s=]/)[0]!).filter((s) => s.length > 0);
      enums.set(m[1]!, { file, members });
    }
  }
  return { enums, defines };
}

test('the contract headers hold no numeric #define: every constant is an enum member, visible in BTF', () => {
  const { enums, defines } = readHeaders();
  assert.ok(enums.size >= 20, `contract headers declare enums (${enums.size})`);
  assert.deepEqual(defines, []);
});

test('every enum of the contract headers is in the generated module, member for member and in order', () => {
  const { enums } = readHeaders();
  assert.deepEqual(Object.keys(generated).sort(), [...enums.keys()].sort(), 'contract.gen.ts has exactly the headers\' enums: rebuild (make build)');
  for (const [name, { file, members }] of enums) {
    assert.deepEqual(Object.keys(generated[name]!), members, `enum ${name} (contract/${file}) in contract.gen.ts: rebuild (make build)`);
  }
});

test('every generated value equals the BTF of every built object that carries the enum', (t) => {
  if (!requireOrSkip(t, objects.length > 0, 'built objects in build/bpf (make bpf)')) return;
  const native = loadNative();
  const seen = new Map<string, number>();
  for (const obj of objects) {
    for (const e of native.btfEnums(obj)) {
      const gen = generated[e.name];
      if (!gen) continue; // a UAPI enum (bpf_map_type...), not part of the contract
      seen.set(e.name, (seen.get(e.name) ?? 0) + 1);
      const btf = Object.fromEntries(e.values.map((v) => [v.name, v.value]));
      assert.deepEqual(btf, { ...gen }, `enum ${e.name} in ${path.basename(obj)} vs contract.gen.ts: stale build`);
    }
  }
  for (const name of Object.keys(generated)) assert.ok((seen.get(name) ?? 0) > 0, `enum ${name} is in no built object's BTF`);
});

test('the generators, run again on the built objects, write exactly the modules the agent was compiled from', (t) => {
  if (!requireOrSkip(t, objects.length > 0, 'built objects in build/bpf (make bpf)')) return;
  for (const [script, out] of [
    ['gen-enums.mjs', 'contract.gen.ts'],
    ['gen-layouts.mjs', 'layouts.gen.ts'],
  ] as const) {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', script), ...objects.map((o) => path.relative(repoRoot, o))], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `${script}: ${r.stderr}`);
    assert.equal(r.stdout, readFileSync(path.join(repoRoot, 'src', 'kernel', out), 'utf8'), `src/kernel/${out} is stale against build/bpf: make build`);
  }
});
