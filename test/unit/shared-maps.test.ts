// The shared-map table is the only source of a shared map's size: every map the kernel side pins
// by name (LIBBPF_PIN_BY_NAME: the first object creates it, the others reuse the pin) is in it,
// nothing else is, and its sizes come from the config.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/catalog.js';
import { SHARED_MAPS, sharedMapSizes } from '../../src/engines/runtime/shared-maps.js';
import { REPO_ROOT } from '../../src/version.js';

/** Names of the maps declared with `pinning LIBBPF_PIN_BY_NAME` in the kernel sources. */
function pinnedByName(): string[] {
  const headers = path.join(REPO_ROOT, 'bpf', 'include', 'sentinel');
  const dirs = [path.join(headers, 'lib'), path.join(headers, 'contract'), path.join(REPO_ROOT, 'bpf', 'programs')];
  const names: string[] = [];
  for (const dir of dirs) {
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.h') || n.endsWith('.c'))) {
      const src = readFileSync(path.join(dir, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      for (const m of src.matchAll(/struct\s*\{([^{}]*)\}\s*([A-Za-z_]\w*)\s+SEC\("\.maps"\)/g)) {
        if (/__uint\(\s*pinning\s*,\s*LIBBPF_PIN_BY_NAME\s*\)/.test(m[1]!)) names.push(m[2]!);
      }
    }
  }
  return names.sort();
}

describe('shared-map table', () => {
  it('lists exactly the maps the kernel side pins by name', () => {
    const pinned = pinnedByName();
    assert.ok(pinned.includes('ct_table'), 'the scan finds ct_table (lib/ct.h)');
    assert.deepEqual(Object.keys(SHARED_MAPS).sort(), pinned);
  });

  it('sizes each from the config key it names', () => {
    const c = parseConfigText('agent:\n  interfaces: [lo]\nconntrack:\n  max_entries: 4096\n', 'c.yaml');
    assert.deepEqual(sharedMapSizes(c), { ct_table: 4096, bl_v4: 1 << 20, bl_v6: 1 << 20, bl_config: 1, nat_flows: 65536, nat_policy: 2, nat_active: 1, nat_ifaddr: 256, nat_scratch: 1 });
    assert.equal(SHARED_MAPS.ct_table!.sizedBy, 'conntrack.max_entries');
    const d = parseConfigText('agent:\n  interfaces: [lo]\n', 'c.yaml');
    assert.equal(sharedMapSizes(d).ct_table, d.conntrack.max_entries, 'the default size when the section is absent');
  });
});
