import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CLASSIFIER } from '../../src/engines/firewall/classifier.js';
import { FW } from '../../src/engines/firewall/compile.js';

// dist/test/unit/ -> repository root
const root = new URL('../../../', import.meta.url);

function defines(file: string): Map<string, number> {
  const text = readFileSync(new URL(file, root), 'utf8');
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^#define\s+(\w+)\s+(0x[0-9a-fA-F]+|\d+)\b/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

describe('firewall constants agree with the C headers', () => {
  const fw = defines('bpf/include/sentinel/contract/firewall.h');
  const common = defines('bpf/include/sentinel/contract/ids.h');

  it('every FW_* constant the compiler uses has the header value', () => {
    for (const [k, v] of Object.entries(FW)) {
      const name = k.startsWith('AF_') ? `SN_${k}` : `FW_${k}`;
      const header = name.startsWith('SN_') ? common.get(name) : fw.get(name);
      assert.equal(header, v, `${name}: header ${header}, compiler ${v}`);
    }
  });

  it('the classifier sizes are the header ones', () => {
    const pairs: [string, number][] = [
      ['FW_TREE_NODES', CLASSIFIER.TREE_NODES],
      ['FW_LEAF_SLOTS', CLASSIFIER.LEAF_SLOTS],
      ['FW_MAX_DEPTH', CLASSIFIER.MAX_DEPTH],
      ['FW_MAX_TREES', CLASSIFIER.MAX_TREES],
      ['FW_WIDE_SLOTS', CLASSIFIER.WIDE_SLOTS],
      ['FW_WIDE_TABLES', CLASSIFIER.WIDE_TABLES],
      ['FW_LEAF_INLINE', CLASSIFIER.LEAF_INLINE],
    ];
    for (const [name, v] of pairs) assert.equal(fw.get(name), v, `${name}: header ${fw.get(name)}, classifier ${v}`);
  });

  it('every match bit and action of the header is known to the compiler', () => {
    const names = [...fw.keys()].filter((n) => n.startsWith('FW_M_') || n.startsWith('FW_ACT_'));
    assert.ok(names.length >= 13);
    for (const n of names) assert.ok(n.slice(3) in FW, `${n} is not handled by compile.ts`);
  });
});
