// Loading a program's object under the agent's pin root, and its map pins. Sizes are settled
// before load: every ring buffer gets agent.ring_buffer_size, every shared map the size of the
// shared-map table (shared-maps.ts), checked against a pin it will reuse. Every map is then
// pinned by name under <pin root>/maps, so operators (bpftool) and a restarted agent can find it;
// internal maps (.rodata, .bss) stay private. Maps shared between objects are pinned by libbpf
// at load, at the same path: finding our own map there is not a clash.
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { BpfMapType } from '../../kernel/bpf-enums.js';
import { BpfError } from '../../kernel/errors.js';
import { loadNative } from '../../kernel/native.js';
import { BpfObject, type OpenOptions } from '../../kernel/object.js';
import { checkPinnedShared, SHARED_MAPS } from './shared-maps.js';

export interface ObjectLoadOptions {
  /** the object file */
  file: string;
  /** <pin root>/maps: where shared maps are pinned by libbpf and reused from */
  mapPinDir: string;
  /** size of every shared map (EngineContext.sharedMapSizes) */
  sharedMapSizes: Readonly<Record<string, number>>;
  /** size in bytes of every ring buffer of the object (power of two) */
  ringSize?: number;
  /** maps taken from another loaded object, by fd (they keep that object's size) */
  reuseMaps?: Readonly<Record<string, number>>;
  /** how the object is loaded (the agent's keeps the maps a previous agent pinned, adoption.ts);
   * default: open and load */
  loader?: (file: string, opts: OpenOptions) => BpfObject;
  /** pins a previous agent left, which the loader judges itself (kept, or started fresh when
   * their size changed) instead of refusing them */
  inherited?: (mapName: string) => boolean;
}

/** The max_entries overrides `opts` gives the object's maps; shared maps are checked against
 * the pins they will reuse. */
function objectSizes(opts: ObjectLoadOptions): Record<string, number> {
  const peek = BpfObject.open(opts.file);
  let maps;
  try {
    maps = peek.mapInfo();
  } finally {
    peek.close();
  }
  const sizes: Record<string, number> = {};
  for (const m of maps) {
    if (opts.reuseMaps?.[m.name] !== undefined) continue;
    if (m.type === BpfMapType.RINGBUF && opts.ringSize) sizes[m.name] = opts.ringSize;
    if (SHARED_MAPS[m.name]) {
      const size = opts.sharedMapSizes[m.name];
      if (size === undefined) throw new Error(`${path.basename(opts.file)} shares map ${m.name} but no size was given for it (src/engines/runtime/shared-maps.ts)`);
      if (!opts.inherited?.(m.name)) checkPinnedShared(path.join(opts.mapPinDir, m.name), { ...m, maxEntries: size });
      sizes[m.name] = size;
    }
  }
  return sizes;
}

/** Opens and loads the object with the sizes of `objectSizes`; a verifier rejection throws
 * with the log attached. */
export function loadObject(opts: ObjectLoadOptions): BpfObject {
  const load = opts.loader ?? ((f: string, o: OpenOptions) => BpfObject.load(f, o));
  return load(opts.file, { pinRoot: opts.mapPinDir, maxEntries: objectSizes(opts), ...(opts.reuseMaps ? { reuseMaps: { ...opts.reuseMaps } } : {}) });
}

/** Whether the pin at `p` is the map behind `fd`. */
function pinnedIsSame(p: string, fd: number): boolean {
  let pinFd = -1;
  try {
    const native = loadNative();
    pinFd = native.objGet(p);
    return native.mapInfo(pinFd).id === native.mapInfo(fd).id;
  } catch {
    return false;
  } finally {
    if (pinFd >= 0) loadNative().closeFd(pinFd);
  }
}

/** Pins every map of `obj` by name under `mapPinDir`; returns the pins this program owns (a
 * shared map libbpf pinned, or one reused from another object, is not among them; a map kept
 * from a previous agent, already pinned there, is: the adoption's loader removed the pins of
 * those it did not keep). */
export function pinObjectMaps(obj: BpfObject, mapPinDir: string, reused: Readonly<Record<string, number>> = {}): string[] {
  const dir = mapPinDir;
  const pinned: string[] = [];
  for (const m of obj.mapInfo()) {
    if (m.name.includes('.')) continue;
    const p = path.join(dir, m.name);
    try {
      obj.pinMap(m.name, p);
    } catch (err) {
      if (err instanceof BpfError && err.code === 'EEXIST' && pinnedIsSame(p, m.fd)) {
        if (!SHARED_MAPS[m.name] && reused[m.name] === undefined) pinned.push(p); // kept from a previous agent: ours now
        continue;
      }
      for (const q of pinned) rmSync(q, { force: true }); // all or none
      throw err;
    }
    pinned.push(p);
  }
  return pinned;
}

/** Removes an engine's own pins when it stops, so a runtime restart (disable, then enable) can
 * pin again. Shared maps pinned by libbpf (never in an engine's list) stay for the others.
 * Returns what could not be removed, for the engine's stop report. */
export async function removePins(paths: readonly string[]): Promise<string[]> {
  const errors: string[] = [];
  for (const p of paths) await rm(p, { force: true }).catch((err: Error) => errors.push(`unpin ${p}: ${err.message}`));
  return errors;
}
