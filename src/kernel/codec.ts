// Struct encoder/decoder driven by a layout generated from BTF (layouts.gen.ts), so engines
// never hard-code an offset: if a C header changes, the generated layout and this codec follow.
// Integers are little-endian (host order on every target we run on); __be* types are big-endian.

export interface FieldLayoutLike {
  readonly offset: number;
  readonly size: number;
  readonly type: string;
}
export interface StructLayoutLike {
  readonly size: number;
  readonly fields: { readonly [name: string]: FieldLayoutLike };
}

/** number for <= 32-bit scalars, bigint for 64-bit, number[] for 16/32-bit integer arrays
 * (e.g. __u32[4]), bigint[] for 64-bit ones (__u64[16]), Buffer for byte arrays and nested
 * structs. */
export type FieldValue = number | bigint | number[] | bigint[] | Uint8Array;

type Kind =
  | { k: 'int'; bytes: 1 | 2 | 4; signed: boolean; be: boolean }
  | { k: 'u64'; signed: boolean; be: boolean }
  | { k: 'array'; elemBytes: 1 | 2 | 4 | 8; count: number; signed: boolean }
  | { k: 'bytes' };

interface Field {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly kind: Kind;
}

// Integer type names as BTF renders them: kernel typedefs (__u32, __be16, __s64), stdint names
// and plain C names. Anything else (pointers, floats) is not part of a shared struct.
const KERNEL_INT = /^(?:__)?(u|s|be|le)(8|16|32|64)$/;
const STDINT = /^(u?)int(8|16|32|64)_t$/;
const C_INT = /^(signed |unsigned )?(char|short|int|long|long int|long long|long long int|short int)$/;

function scalarInfo(type: string, size: number): { signed: boolean; be: boolean } | null {
  if (![1, 2, 4, 8].includes(size)) return null;
  let m = KERNEL_INT.exec(type);
  if (m) return { signed: m[1] === 's', be: m[1] === 'be' };
  m = STDINT.exec(type);
  if (m) return { signed: m[1] !== 'u', be: false };
  m = C_INT.exec(type);
  if (m) return { signed: m[1] !== 'unsigned ', be: false };
  if (type === '_Bool' || type === 'bool') return { signed: false, be: false };
  return null;
}

function classify(name: string, f: FieldLayoutLike): Kind {
  const arr = /^(.*?)\[(\d+)\]$/.exec(f.type);
  if (arr && !arr[1].includes('[')) {
    const count = Number(arr[2]);
    const elemBytes = count > 0 ? f.size / count : 0;
    const info = scalarInfo(arr[1], elemBytes);
    if (info && elemBytes === 1) return { k: 'bytes' };
    if (info && (elemBytes === 2 || elemBytes === 4 || elemBytes === 8) && !info.be) {
      return { k: 'array', elemBytes, count, signed: info.signed };
    }
    return { k: 'bytes' };
  }
  const info = scalarInfo(f.type, f.size);
  if (info) {
    if (f.size === 8) return { k: 'u64', signed: info.signed, be: info.be };
    return { k: 'int', bytes: f.size as 1 | 2 | 4, signed: info.signed, be: info.be };
  }
  if (f.type.startsWith('struct ') || f.type.startsWith('union ') || f.type.includes('[')) return { k: 'bytes' };
  if (f.type.startsWith('enum ') && (f.size === 1 || f.size === 2 || f.size === 4)) {
    return { k: 'int', bytes: f.size, signed: false, be: false };
  }
  throw new TypeError(`codec: field ${name} has a type the codec cannot handle: ${f.type} (${f.size} bytes)`);
}

export class StructCodec<L extends StructLayoutLike> {
  readonly size: number;
  private readonly byName = new Map<string, Field>();

  constructor(readonly structName: string, readonly layout: L) {
    this.size = layout.size;
    for (const [name, f] of Object.entries(layout.fields)) {
      if (f.offset + f.size > layout.size) {
        throw new RangeError(`codec: ${structName}.${name} ends at ${f.offset + f.size}, beyond the struct size ${layout.size}`);
      }
      this.byName.set(name, { name, offset: f.offset, size: f.size, kind: classify(name, f) });
    }
  }

  get fieldNames(): Array<keyof L['fields'] & string> {
    return [...this.byName.keys()] as Array<keyof L['fields'] & string>;
  }

  private field(name: string): Field {
    const f = this.byName.get(name);
    if (!f) throw new TypeError(`codec: struct ${this.structName} has no field '${name}'`);
    return f;
  }

  /** Byte offset of a field, for hot paths that read with a DataView directly. */
  offsetOf(name: keyof L['fields'] & string): number {
    return this.field(name).offset;
  }

  /** Reads one field of the struct starting at `base`. Byte arrays are views, not copies. */
  get(buf: Buffer, base: number, name: keyof L['fields'] & string): FieldValue {
    const f = this.field(name);
    const o = base + f.offset;
    if (o + f.size > buf.length) {
      throw new RangeError(`codec: ${this.structName}.${name} at ${o}+${f.size} is past the end of a ${buf.length}-byte buffer`);
    }
    const k = f.kind;
    switch (k.k) {
      case 'int':
        if (k.bytes === 1) return k.signed ? buf.readInt8(o) : buf.readUInt8(o);
        if (k.bytes === 2) {
          if (k.be) return k.signed ? buf.readInt16BE(o) : buf.readUInt16BE(o);
          return k.signed ? buf.readInt16LE(o) : buf.readUInt16LE(o);
        }
        if (k.be) return k.signed ? buf.readInt32BE(o) : buf.readUInt32BE(o);
        return k.signed ? buf.readInt32LE(o) : buf.readUInt32LE(o);
      case 'u64':
        if (k.be) return k.signed ? buf.readBigInt64BE(o) : buf.readBigUInt64BE(o);
        return k.signed ? buf.readBigInt64LE(o) : buf.readBigUInt64LE(o);
      case 'array': {
        if (k.elemBytes === 8) {
          const big: bigint[] = new Array<bigint>(k.count);
          for (let i = 0; i < k.count; i++) big[i] = k.signed ? buf.readBigInt64LE(o + i * 8) : buf.readBigUInt64LE(o + i * 8);
          return big;
        }
        const out: number[] = new Array<number>(k.count);
        for (let i = 0; i < k.count; i++) {
          const p = o + i * k.elemBytes;
          if (k.elemBytes === 2) out[i] = k.signed ? buf.readInt16LE(p) : buf.readUInt16LE(p);
          else out[i] = k.signed ? buf.readInt32LE(p) : buf.readUInt32LE(p);
        }
        return out;
      }
      case 'bytes':
        return buf.subarray(o, o + f.size);
    }
  }

  /** Writes one field; a value that does not fit is an error naming the field. */
  set(buf: Buffer, base: number, name: keyof L['fields'] & string, value: FieldValue): void {
    const f = this.field(name);
    const o = base + f.offset;
    if (o + f.size > buf.length) {
      throw new RangeError(`codec: ${this.structName}.${name} at ${o}+${f.size} is past the end of a ${buf.length}-byte buffer`);
    }
    const k = f.kind;
    const bad = (why: string): never => {
      throw new TypeError(`codec: ${this.structName}.${name} (${this.layout.fields[name].type}): ${why}`);
    };
    switch (k.k) {
      case 'int': {
        if (typeof value !== 'number' || !Number.isInteger(value)) return bad(`expected an integer, got ${String(value)}`);
        const bits = k.bytes * 8;
        const min = k.signed ? -(2 ** (bits - 1)) : 0;
        const max = k.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
        if (value < min || value > max) return bad(`${value} is out of range ${min}..${max}`);
        if (k.bytes === 1) k.signed ? buf.writeInt8(value, o) : buf.writeUInt8(value, o);
        else if (k.bytes === 2) {
          if (k.be) k.signed ? buf.writeInt16BE(value, o) : buf.writeUInt16BE(value, o);
          else k.signed ? buf.writeInt16LE(value, o) : buf.writeUInt16LE(value, o);
        } else if (k.be) k.signed ? buf.writeInt32BE(value, o) : buf.writeUInt32BE(value, o);
        else k.signed ? buf.writeInt32LE(value, o) : buf.writeUInt32LE(value, o);
        return;
      }
      case 'u64': {
        const v = typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value;
        if (typeof v !== 'bigint') return bad(`expected a bigint, got ${String(value)}`);
        const min = k.signed ? -(1n << 63n) : 0n;
        const max = k.signed ? (1n << 63n) - 1n : (1n << 64n) - 1n;
        if (v < min || v > max) return bad(`${v} is out of range`);
        if (k.be) k.signed ? buf.writeBigInt64BE(v, o) : buf.writeBigUInt64BE(v, o);
        else k.signed ? buf.writeBigInt64LE(v, o) : buf.writeBigUInt64LE(v, o);
        return;
      }
      case 'array': {
        if (!Array.isArray(value)) return bad('expected an array of integers');
        if (value.length > k.count) return bad(`${value.length} elements do not fit in ${k.count}`);
        buf.fill(0, o, o + f.size);
        for (let i = 0; i < value.length; i++) {
          const v: number | bigint = value[i];
          const p = o + i * k.elemBytes;
          if (k.elemBytes === 8) {
            const b = typeof v === 'bigint' ? v : Number.isSafeInteger(v) ? BigInt(v) : bad(`element ${i} is not an integer`);
            k.signed ? buf.writeBigInt64LE(b, p) : buf.writeBigUInt64LE(b, p);
            continue;
          }
          if (typeof v !== 'number' || !Number.isInteger(v)) return bad(`element ${i} is not an integer`);
          if (k.elemBytes === 2) k.signed ? buf.writeInt16LE(v, p) : buf.writeUInt16LE(v, p);
          else k.signed ? buf.writeInt32LE(v, p) : buf.writeUInt32LE(v, p);
        }
        return;
      }
      case 'bytes': {
        if (!(value instanceof Uint8Array)) return bad('expected bytes (Buffer/Uint8Array)');
        if (value.length > f.size) return bad(`${value.length} bytes do not fit in ${f.size}`);
        buf.fill(0, o, o + f.size);
        buf.set(value, o);
        return;
      }
    }
  }

  /** A zeroed struct with the given fields set (unset fields and padding stay zero). */
  encode(values: Partial<Record<keyof L['fields'] & string, FieldValue>>): Buffer {
    const buf = Buffer.alloc(this.size);
    this.encodeInto(buf, 0, values);
    return buf;
  }

  encodeInto(buf: Buffer, base: number, values: Partial<Record<keyof L['fields'] & string, FieldValue>>): void {
    for (const [name, v] of Object.entries(values) as Array<[keyof L['fields'] & string, FieldValue | undefined]>) {
      if (v !== undefined) this.set(buf, base, name, v);
    }
  }

  /** Every field as an object (allocates: not for per-event hot paths). */
  decode(buf: Buffer, base = 0): Record<keyof L['fields'] & string, FieldValue> {
    if (base + this.size > buf.length) {
      throw new RangeError(`codec: ${this.structName} needs ${this.size} bytes at ${base}, buffer has ${buf.length}`);
    }
    const out = {} as Record<string, FieldValue>;
    for (const name of this.byName.keys()) out[name] = this.get(buf, base, name as keyof L['fields'] & string);
    return out as Record<keyof L['fields'] & string, FieldValue>;
  }
}
