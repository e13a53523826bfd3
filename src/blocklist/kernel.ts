// The block list's kernel face: its pinned maps (bl_v4, bl_v6, bl_config; lib/blocklist.h, contract/blocklist.h) and the
// key and value encodings. The agent creates the maps by loading blocklist.bpf.o (maps only) with
// its pin directory; xdp-firewall's object reuses them by name. Tests and the bench open the same
// maps through a loaded xdp_firewall object instead (over()).
import path from 'node:path';
import { ensureBpffsSync } from '../kernel/bpffs.js';
import { BpfError } from '../kernel/errors.js';
import { bl_limits, bl_scope } from '../kernel/contract.gen.js';
import { layouts } from '../kernel/layouts.gen.js';
import { BpfMap, bytesCodec, u32Codec } from '../kernel/map.js';
import { BpfObject, type OpenOptions } from '../kernel/object.js';
import type { Cidr, IpFamily } from '../net/ip.js';
import type { BlockScope } from './types.js';

const BLOCKLIST_OBJECT_FILE = 'blocklist.bpf.o';

const SCOPE_CODE: Record<BlockScope, number> = { src: bl_scope.BL_SCOPE_SRC, dst: bl_scope.BL_SCOPE_DST };
const SCOPE_BITS = bl_limits.BL_SCOPE_BITS;

const K4 = layouts.bl_v4_key;
const K6 = layouts.bl_v6_key;
const V = layouts.bl_value;
const C = layouts.bl_config;

/** The kernel's settings (bl_config): entries held per scope and family, which gate each trie
 * lookup (none held: the lookup is skipped), and the event sampling. */
export interface BlocklistSettings {
  srcEntries: { 4: number; 6: number };
  dstEntries: { 4: number; 6: number };
  sampleEvery: number;
}

/** What the service needs of the kernel; BlocklistKernel is the real one. */
export interface BlocklistTarget {
  /** entries each family's trie holds at most */
  readonly capacity: number;
  /** inserts (or overwrites) one entry; throws BlocklistKernelFull when the trie is full */
  insert(cidr: Cidr, scope: BlockScope, id: number): void;
  /** false when the entry was not there */
  remove(cidr: Cidr, scope: BlockScope): boolean;
  /** packets the entry dropped; undefined when it is absent */
  packets(cidr: Cidr, scope: BlockScope): bigint | undefined;
  configure(c: BlocklistSettings): void;
  /** every entry in the kernel (for adoption checks and tests) */
  entries(): { family: IpFamily; prefix: number; addr: Buffer; scope: BlockScope; id: number; packets: bigint }[];
  close(): void;
}

/** The kernel's trie is full (ENOSPC): never expected below the service's own bound. */
export class BlocklistKernelFull extends Error {
  override name = 'BlocklistKernelFull';
}

function encodeKey(cidr: Cidr, scope: BlockScope): Buffer {
  const L = cidr.family === 4 ? K4 : K6;
  const k = Buffer.alloc(L.size);
  k.writeUInt32LE(SCOPE_BITS + cidr.prefix, L.fields.prefixlen.offset);
  k.writeUInt32BE(SCOPE_CODE[scope], L.fields.scope.offset);
  cidr.addr.copy(k, L.fields.addr.offset, 0, L.fields.addr.size);
  return k;
}

function decodeKey(family: IpFamily, k: Buffer): { prefix: number; addr: Buffer; scope: BlockScope } {
  const L = family === 4 ? K4 : K6;
  const addr = Buffer.alloc(16);
  k.copy(addr, 0, L.fields.addr.offset, L.fields.addr.offset + L.fields.addr.size);
  const code = k.readUInt32BE(L.fields.scope.offset);
  return { prefix: k.readUInt32LE(L.fields.prefixlen.offset) - SCOPE_BITS, addr, scope: code === SCOPE_CODE.dst ? 'dst' : 'src' };
}

function encodeValue(id: number): Buffer {
  const v = Buffer.alloc(V.size);
  v.writeUInt32LE(id, V.fields.id.offset);
  return v;
}

export class BlocklistKernel implements BlocklistTarget {
  readonly capacity: number;
  private readonly v4: BpfMap<Buffer, Buffer>;
  private readonly v6: BpfMap<Buffer, Buffer>;
  private readonly config: BpfMap<number, Buffer>;

  private constructor(
    get: <K, W>(name: string, k: { size: number; encode(v: K): Buffer; decode(b: Buffer): K }, v: { size: number; encode(v: W): Buffer; decode(b: Buffer): W }) => BpfMap<K, W>,
    private readonly owned: BpfObject | null,
  ) {
    this.v4 = get('bl_v4', bytesCodec(K4.size), bytesCodec(V.size));
    this.v6 = get('bl_v6', bytesCodec(K6.size), bytesCodec(V.size));
    this.config = get('bl_config', u32Codec, bytesCodec(C.size));
    this.capacity = Math.min(this.v4.info.maxEntries, this.v6.info.maxEntries);
  }

  /** Creates the maps and pins them by name in `pinDir` (<pin_root>/maps), or reuses the ones
   * pinned there: objects loaded later with the same pin directory share them. */
  static create(objectDir: string, pinDir: string, loader: (file: string, opts: OpenOptions) => BpfObject = (f, o) => BpfObject.load(f, o)): BlocklistKernel {
    ensureBpffsSync(pinDir);
    // the agent's loader keeps the lists a previous agent pinned when their layout is the same
    const obj = loader(path.join(objectDir, BLOCKLIST_OBJECT_FILE), { pinRoot: pinDir });
    try {
      return new BlocklistKernel((n, k, v) => obj.map(n, k, v), obj);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /** The list's maps inside an object that includes lib/blocklist.h (xdp_firewall), for tests and
   * the bench; the object stays the caller's. */
  static over(obj: BpfObject): BlocklistKernel {
    return new BlocklistKernel((n, k, v) => obj.map(n, k, v), null);
  }

  private trie(family: IpFamily): BpfMap<Buffer, Buffer> {
    return family === 4 ? this.v4 : this.v6;
  }

  insert(cidr: Cidr, scope: BlockScope, id: number): void {
    try {
      this.trie(cidr.family).update(encodeKey(cidr, scope), encodeValue(id));
    } catch (e) {
      if (e instanceof BpfError && (e.code === 'ENOSPC' || e.code === 'E2BIG')) {
        throw new BlocklistKernelFull(`the kernel's IPv${cidr.family} block-list trie is full (${this.capacity} entries)`, { cause: e });
      }
      throw e;
    }
  }

  remove(cidr: Cidr, scope: BlockScope): boolean {
    return this.trie(cidr.family).delete(encodeKey(cidr, scope));
  }

  packets(cidr: Cidr, scope: BlockScope): bigint | undefined {
    const v = this.trie(cidr.family).lookup(encodeKey(cidr, scope));
    return v === undefined ? undefined : v.readBigUInt64LE(V.fields.packets.offset);
  }

  configure(c: BlocklistSettings): void {
    const v = Buffer.alloc(C.size);
    v.writeUInt32LE(c.dstEntries[4], C.fields.dst_entries.offset);
    v.writeUInt32LE(c.dstEntries[6], C.fields.dst_entries.offset + 4);
    v.writeUInt16LE(c.srcEntries[4] > 0 ? 1 : 0, C.fields.src_any.offset);
    v.writeUInt16LE(c.srcEntries[6] > 0 ? 1 : 0, C.fields.src_any.offset + 2);
    v.writeUInt32LE(c.sampleEvery, C.fields.sample_every.offset);
    this.config.update(0, v);
  }

  entries(): { family: IpFamily; prefix: number; addr: Buffer; scope: BlockScope; id: number; packets: bigint }[] {
    const out: ReturnType<BlocklistKernel['entries']> = [];
    for (const family of [4, 6] as const) {
      for (const [k, v] of this.trie(family).entries()) {
        out.push({ family, ...decodeKey(family, k), id: v.readUInt32LE(V.fields.id.offset), packets: v.readBigUInt64LE(V.fields.packets.offset) });
      }
    }
    return out;
  }

  close(): void {
    for (const m of [this.v4, this.v6, this.config]) m.close();
    this.owned?.close();
  }
}
