// Map pins: every map an engine loads is pinned by name under <pin root>/maps, so operators
// (bpftool) and a restarted agent can find it. Internal maps (.rodata, .bss) stay private.
import path from 'node:path';
import type { BpfObject } from '../kernel/object.js';

export function pinObjectMaps(obj: BpfObject, pinRoot: string): string[] {
  const dir = path.join(pinRoot, 'maps');
  const pinned: string[] = [];
  for (const m of obj.mapInfo()) {
    if (m.name.includes('.')) continue;
    const p = path.join(dir, m.name);
    obj.pinMap(m.name, p);
    pinned.push(p);
  }
  return pinned;
}
