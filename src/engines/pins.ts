// Map pins: every map an engine loads is pinned by name under <pin root>/maps, so operators
// (bpftool) and a restarted agent can find it. Internal maps (.rodata, .bss) stay private.
// Maps shared between objects (`pinning LIBBPF_PIN_BY_NAME`, e.g. ct_table) are pinned by libbpf
// at load, at the same path: finding our own map there is not a clash.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { BpfError } from '../kernel/errors.js';
import { loadNative } from '../kernel/native.js';
import type { BpfObject } from '../kernel/object.js';

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

export function pinObjectMaps(obj: BpfObject, pinRoot: string): string[] {
  const dir = path.join(pinRoot, 'maps');
  const pinned: string[] = [];
  for (const m of obj.mapInfo()) {
    if (m.name.includes('.')) continue;
    const p = path.join(dir, m.name);
    try {
      obj.pinMap(m.name, p);
    } catch (err) {
      if (err instanceof BpfError && err.code === 'EEXIST' && pinnedIsSame(p, m.fd)) continue;
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
