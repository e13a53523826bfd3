// Typed maps: keys and values go through small codecs so callers never build Buffers by hand.
// Per-CPU maps hand back one Buffer per possible CPU (the kernel's 8-byte stride respected).
import { loadNative } from './native.js';
import { nativeCall } from './errors.js';
import { BpfMapType } from './bpf-enums.js';

export interface Codec<T> {
  /** encoded size in bytes */
  readonly size: number;
  encode(v: T): Buffer;
  decode(b: Buffer): T;
}

export const u32Codec: Codec<number> = {
  size: 4,
  encode(v) {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE((v >>> 0) === v ? v : badU32(v), 0);
    return b;
  },
  decode: (b) => b.readUInt32LE(0),
};

function badU32(v: number): never {
  throw new TypeError(`expected an unsigned 32-bit integer, got ${v}`);
}

export const u64Codec: Codec<bigint> = {
  size: 8,
  encode(v) {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64LE(v, 0);
    return b;
  },
  decode: (b) => b.readBigUInt64LE(0),
};

/** Raw bytes of a fixed size (structs encoded elsewhere, e.g. by StructCodec). */
export function bytesCodec(size: number): Codec<Buffer> {
  return {
    size,
    encode(v) {
      if (v.length !== size) throw new TypeError(`expected ${size} bytes, got ${v.length}`);
      return v;
    },
    decode: (b) => b,
  };
}

export const UpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;

export interface MapInfo {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  name: string;
  id: number;
}

const PERCPU_TYPES = new Set<number>([BpfMapType.PERCPU_HASH, BpfMapType.PERCPU_ARRAY, BpfMapType.LRU_PERCPU_HASH]);

export class BpfMap<K, V> {
  readonly info: MapInfo;
  readonly perCpu: boolean;
  /** bytes per CPU slot in per-CPU values (value size rounded up to 8) */
  readonly cpuStride: number;
  private closed = false;

  constructor(
    readonly fd: number,
    private readonly keyCodec: Codec<K>,
    private readonly valueCodec: Codec<V>,
    /** close the fd on close() (true for maps opened from a pin) */
    private readonly ownsFd = false,
  ) {
    this.info = nativeCall(() => loadNative().mapInfo(fd), `map fd ${fd}`);
    this.perCpu = PERCPU_TYPES.has(this.info.type);
    this.cpuStride = (this.info.valueSize + 7) & ~7;
    if (keyCodec.size !== this.info.keySize) {
      throw new TypeError(`map '${this.info.name}': key codec is ${keyCodec.size} bytes, map keys are ${this.info.keySize}`);
    }
    if (valueCodec.size !== this.info.valueSize) {
      throw new TypeError(`map '${this.info.name}': value codec is ${valueCodec.size} bytes, map values are ${this.info.valueSize}`);
    }
  }

  /** Opens a pinned map; the returned map owns its fd. */
  static fromPin<K, V>(path: string, keyCodec: Codec<K>, valueCodec: Codec<V>): BpfMap<K, V> {
    const fd = nativeCall(() => loadNative().objGet(path), `opening pinned map ${path}`);
    try {
      return new BpfMap(fd, keyCodec, valueCodec, true);
    } catch (e) {
      loadNative().closeFd(fd);
      throw e;
    }
  }

  get name(): string {
    return this.info.name;
  }

  lookup(key: K): V | undefined {
    this.assertSingle('lookup');
    const b = nativeCall(() => loadNative().mapLookup(this.fd, this.keyCodec.encode(key)), this.ctx('lookup'));
    return b === null ? undefined : this.valueCodec.decode(b);
  }

  update(key: K, value: V, flags: number = UpdateFlags.ANY): void {
    this.assertSingle('update');
    const k = this.keyCodec.encode(key);
    const v = this.valueCodec.encode(value);
    nativeCall(() => loadNative().mapUpdate(this.fd, k, v, flags), this.ctx('update'));
  }

  /** false when the key was not there */
  delete(key: K): boolean {
    return nativeCall(() => loadNative().mapDelete(this.fd, this.keyCodec.encode(key)), this.ctx('delete'));
  }

  *keys(): Generator<K> {
    const n = loadNative();
    let cur: Buffer | null = null;
    for (;;) {
      const prev: Buffer | null = cur;
      cur = nativeCall(() => n.mapNextKey(this.fd, prev), this.ctx('iterate'));
      if (cur === null) return;
      yield this.keyCodec.decode(cur);
    }
  }

  /** Iterates key by key (two syscalls per entry); all() is cheaper for whole-map reads. */
  *entries(): Generator<[K, V]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v !== undefined) yield [k, v]; // deleted while iterating
    }
  }

  /** Every entry via batch lookup (falls back to iteration for map types without it). */
  all(): Array<[K, V]> {
    this.assertSingle('all');
    const r = nativeCall(() => loadNative().mapLookupAll(this.fd), this.ctx('lookupAll'));
    const out: Array<[K, V]> = [];
    const ks = this.info.keySize;
    const vs = this.info.valueSize;
    for (let i = 0; i < r.count; i++) {
      out.push([
        this.keyCodec.decode(r.keys.subarray(i * ks, (i + 1) * ks)),
        this.valueCodec.decode(r.values.subarray(i * vs, (i + 1) * vs)),
      ]);
    }
    return out;
  }

  /** Writes many entries in one syscall; returns how many the kernel wrote. */
  updateBatch(entries: ReadonlyArray<readonly [K, V]>, flags: number = UpdateFlags.ANY): number {
    this.assertSingle('updateBatch');
    if (entries.length === 0) return 0;
    const keys = Buffer.concat(entries.map(([k]) => this.keyCodec.encode(k)));
    const values = Buffer.concat(entries.map(([, v]) => this.valueCodec.encode(v)));
    return nativeCall(() => loadNative().mapUpdateBatch(this.fd, keys, values, entries.length, flags), this.ctx('updateBatch'));
  }

  // --- per-CPU ------------------------------------------------------------------------------

  /** One Buffer (valueSize bytes, a view) per possible CPU; undefined when the key is absent. */
  lookupPerCpu(key: K): Buffer[] | undefined {
    this.assertPerCpu('lookupPerCpu');
    const b = nativeCall(() => loadNative().mapLookup(this.fd, this.keyCodec.encode(key)), this.ctx('lookup'));
    return b === null ? undefined : this.splitCpus(b);
  }

  /** Writes one value per possible CPU (each valueSize bytes). */
  updatePerCpu(key: K, perCpu: readonly V[], flags: number = UpdateFlags.ANY): void {
    this.assertPerCpu('updatePerCpu');
    const ncpu = loadNative().numPossibleCpus();
    if (perCpu.length !== ncpu) throw new TypeError(`map '${this.name}': ${perCpu.length} per-CPU values given, ${ncpu} possible CPUs`);
    const buf = Buffer.alloc(ncpu * this.cpuStride);
    perCpu.forEach((v, i) => this.valueCodec.encode(v).copy(buf, i * this.cpuStride));
    nativeCall(() => loadNative().mapUpdate(this.fd, this.keyCodec.encode(key), buf, flags), this.ctx('update'));
  }

  /** Every entry with its per-CPU values. */
  allPerCpu(): Array<[K, Buffer[]]> {
    this.assertPerCpu('allPerCpu');
    const r = nativeCall(() => loadNative().mapLookupAll(this.fd), this.ctx('lookupAll'));
    const ks = this.info.keySize;
    const vs = r.count > 0 ? r.values.length / r.count : 0;
    const out: Array<[K, Buffer[]]> = [];
    for (let i = 0; i < r.count; i++) {
      out.push([this.keyCodec.decode(r.keys.subarray(i * ks, (i + 1) * ks)), this.splitCpus(r.values.subarray(i * vs, (i + 1) * vs))]);
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsFd) loadNative().closeFd(this.fd);
  }

  private splitCpus(b: Buffer): Buffer[] {
    const out: Buffer[] = [];
    for (let off = 0; off + this.info.valueSize <= b.length; off += this.cpuStride) {
      out.push(b.subarray(off, off + this.info.valueSize));
    }
    return out;
  }

  private assertSingle(op: string): void {
    if (this.perCpu) throw new TypeError(`map '${this.name}' is per-CPU: use ${op === 'lookup' ? 'lookupPerCpu' : op === 'all' ? 'allPerCpu' : 'updatePerCpu'}`);
  }

  private assertPerCpu(op: string): void {
    if (!this.perCpu) throw new TypeError(`map '${this.name}' is not per-CPU: ${op} does not apply`);
  }

  private ctx(op: string): string {
    return `map '${this.name}' ${op}`;
  }
}

/** Sums u64 slots across CPUs: value i of the result is the sum of slot i on every CPU. */
export function sumU64Slots(perCpu: readonly Buffer[], slots?: number): bigint[] {
  const n = slots ?? (perCpu.length > 0 ? Math.floor(perCpu[0].length / 8) : 0);
  const out = new Array<bigint>(n).fill(0n);
  for (const b of perCpu) {
    if (b.length < n * 8) throw new RangeError(`per-CPU value of ${b.length} bytes has fewer than ${n} u64 slots`);
    for (let i = 0; i < n; i++) out[i] += b.readBigUInt64LE(i * 8);
  }
  return out;
}
