// The generated layouts (src/kernel/layouts.gen.ts) against the BTF of every built object: every
// offset the engines encode and decode at is the compiler's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { loadNative, type NativeBtfStruct } from '../../src/kernel/native.js';
import { repoRoot, requireOrSkip } from './bridge-util.js';

const objDir = path.join(repoRoot, 'build', 'bpf');
const objects = (() => {
  try {
    return readdirSync(objDir).filter((f) => f.endsWith('.bpf.o')).map((f) => path.join(objDir, f));
  } catch {
    return [];
  }
})();
const all = layouts as unknown as Record<string, { size: number; fields: Record<string, { offset: number; size: number; type: string }> }>;

test('every generated layout equals the BTF of every built object that carries the struct', (t) => {
  if (!requireOrSkip(t, objects.length > 0, 'built objects in build/bpf (make bpf)')) return;
  const native = loadNative();
  assert.ok(Object.keys(all).length > 0, 'layouts.gen.ts has structs');
  for (const [name, layout] of Object.entries(all)) {
    let found = 0;
    for (const obj of objects) {
      let s: NativeBtfStruct;
      try {
        [s] = native.btfStructs(obj, [name]);
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOENT') continue;
        throw e;
      }
      found++;
      const where = `${name} in ${path.basename(obj)}`;
      assert.equal(s.size, layout.size, `size of ${where}`);
      assert.deepEqual(s.members.map((m) => m.name), Object.keys(layout.fields), `members of ${where}`);
      for (const m of s.members) {
        const f = layout.fields[m.name];
        assert.equal(m.bitSize, 0, `${where}.${m.name} is not a bitfield`);
        assert.equal(f.offset, m.bitOffset / 8, `offset of ${where}.${m.name}`);
        assert.equal(f.size, m.size, `size of ${where}.${m.name}`);
        assert.equal(f.type, m.typeName, `type of ${where}.${m.name}`);
      }
    }
    assert.ok(found > 0, `${name} is in no built object's BTF: layouts.gen.ts is stale`);
  }
});
