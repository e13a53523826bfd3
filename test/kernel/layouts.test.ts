// The generated layouts (src/kernel/layouts.gen.ts) against the BTF of every built object, and
// the TS codec against those layouts: each field written at its generated offset reads back,
// lands on exactly its own bytes, and leaves every other byte alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { loadNative, type NativeBtfStruct } from '../../src/kernel/native.js';
import { StructCodec, type FieldValue, type StructLayoutLike } from '../../src/kernel/codec.js';
import { repoRoot, requireOrSkip } from './bridge-util.js';

const objDir = path.join(repoRoot, 'build', 'bpf');
const objects = (() => {
  try {
    return readdirSync(objDir).filter((f) => f.endsWith('.bpf.o')).map((f) => path.join(objDir, f));
  } catch {
    return [];
  }
})();
const all = layouts as unknown as Record<string, StructLayoutLike>;

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

/** A value for a field whose every byte is non-zero and distinct from its neighbours. */
function sample(codec: StructCodec<StructLayoutLike>, name: string, f: { size: number; type: string }, seed: number): FieldValue {
  const blank = Buffer.alloc(codec.size);
  const probe = codec.get(blank, 0, name);
  const byte = (i: number): number => ((seed * 31 + i * 7) % 250) + 1;
  if (typeof probe === 'bigint') {
    let v = 0n;
    for (let i = 0; i < 8; i++) v |= BigInt(byte(i)) << BigInt(8 * i);
    return /__s64|long/.test(f.type) ? BigInt.asIntN(64, v) : v;
  }
  if (typeof probe === 'number') {
    let v = 0;
    for (let i = 0; i < f.size; i++) v += byte(i) * 2 ** (8 * i);
    if (/^(__s|s|int)/.test(f.type) && v >= 2 ** (8 * f.size - 1)) v -= 2 ** (8 * f.size);
    return v;
  }
  if (Array.isArray(probe)) {
    const elem = f.size / probe.length;
    if (elem === 8) {
      return probe.map((_, i) => {
        let v = 0n;
        for (let b = 0; b < 8; b++) v |= BigInt(byte(i * 8 + b)) << BigInt(8 * b);
        return v;
      });
    }
    return probe.map((_, i) => {
      let v = 0;
      for (let b = 0; b < Math.min(elem, 4); b++) v += byte(i * elem + b) * 2 ** (8 * b);
      return v;
    });
  }
  return Buffer.from(Array.from({ length: f.size }, (_, i) => byte(i)));
}

test('the codec round-trips every field at its generated offset and touches nothing else', () => {
  for (const [name, layout] of Object.entries(all)) {
    const codec = new StructCodec(name, layout);
    let seed = 1;
    for (const [field, f] of Object.entries(layout.fields)) {
      const v = sample(codec, field, f, seed++);
      const buf = Buffer.alloc(layout.size + 8, 0);
      codec.set(buf, 4, field, v); // non-zero base: offsets are relative to the struct start
      const back = codec.get(buf, 4, field);
      if (v instanceof Uint8Array) assert.deepEqual(Buffer.from(back as Uint8Array), Buffer.from(v), `${name}.${field}`);
      else assert.deepEqual(back, v, `${name}.${field}`);
      for (let i = 0; i < buf.length; i++) {
        const inside = i >= 4 + f.offset && i < 4 + f.offset + f.size;
        if (!inside) assert.equal(buf[i], 0, `${name}.${field} wrote byte ${i - 4} outside [${f.offset}, ${f.offset + f.size})`);
        else assert.notEqual(buf[i], 0, `${name}.${field} left byte ${i - 4} of its own range unwritten`);
      }
      // little-endian: the lowest byte of a scalar sits at the field offset
      if (typeof v === 'number' && f.size > 1 && !/be/.test(f.type)) {
        assert.equal(buf[4 + f.offset], ((v % 256) + 256) % 256, `${name}.${field} is little-endian`);
      }
    }
    // whole-struct encode/decode
    const values: Record<string, FieldValue> = {};
    seed = 100;
    for (const [field, f] of Object.entries(layout.fields)) values[field] = sample(codec, field, f, seed++);
    const enc = codec.encode(values);
    assert.equal(enc.length, layout.size);
    const dec = codec.decode(enc);
    for (const [field, v] of Object.entries(values)) {
      const d = dec[field];
      if (v instanceof Uint8Array) assert.deepEqual(Buffer.from(d as Uint8Array), Buffer.from(v));
      else assert.deepEqual(d, v, `${name}.${field} via encode/decode`);
    }
  }
});

test('the codec rejects values that do not fit, naming the field', () => {
  const codec = new StructCodec('t', { size: 8, fields: { a: { offset: 0, size: 2, type: '__u16' }, b: { offset: 4, size: 4, type: '__u32' } } });
  assert.throws(() => codec.encode({ a: 70000 }), /t\.a .*out of range/);
  assert.throws(() => codec.encode({ b: -1 }), /t\.b/);
  assert.throws(() => codec.get(Buffer.alloc(8), 0, 'zz' as 'a'), /no field 'zz'/);
  assert.throws(() => codec.get(Buffer.alloc(6), 0, 'b'), /past the end/);
});
