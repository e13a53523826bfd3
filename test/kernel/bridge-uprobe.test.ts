// uprobe and uretprobe by symbol name on a small C binary compiled here: the probes count the
// calls and sum the argument and the return value, so both ends of the call are proven seen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BpfObject } from '../../src/kernel/object.js';
import { u32Codec, u64Codec } from '../../src/kernel/map.js';
import { BpfError } from '../../src/kernel/errors.js';
import { compileC, haveTool, isRoot, objectsBuilt, requireOrSkip, testObj } from './bridge-util.js';

const TARGET = `
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) int sentinel_probe_target(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 2 + 1;
}
int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0;
	long s = 0;
	for (int i = 1; i <= n; i++)
		s += sentinel_probe_target(i);
	printf("%ld\\n", s);
	return 0;
}
`;

test('uprobe + uretprobe by symbol count every call, argument and return value', (t) => {
  if (!requireOrSkip(t, isRoot(), 'root is needed to attach uprobes')) return;
  if (!requireOrSkip(t, haveTool('gcc'), 'gcc')) return;
  if (!requireOrSkip(t, objectsBuilt('bridge_uprobe'), 'build/bpf-test/bridge_uprobe.bpf.o (make bpf)')) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'snuprobe-'));
  const obj = BpfObject.load(testObj('bridge_uprobe'));
  try {
    const src = path.join(dir, 'target.c');
    const bin = path.join(dir, 'target');
    writeFileSync(src, TARGET);
    compileC(src, bin);
    const counts = obj.map('probe_counts', u32Codec, u64Codec);
    const read = (): bigint[] => [0, 1, 2, 3].map((k) => counts.lookup(k) ?? -1n);

    const enter = obj.program('up_enter').attachUprobe(bin, 'sentinel_probe_target');
    const exit = obj.program('up_exit').attachUprobe(bin, 'sentinel_probe_target', { retprobe: true, pid: -1 });
    assert.equal(enter.kind, 'uprobe');
    assert.equal(exit.kind, 'uretprobe');

    const n = 10;
    const out = execFileSync(bin, [String(n)], { encoding: 'utf8' }).trim();
    assert.equal(out, '120');
    // calls, sum of x (1..10 = 55), returns, sum of 2x+1 (= 120)
    assert.deepEqual(read(), [10n, 55n, 10n, 120n]);

    enter.destroy();
    exit.destroy();
    execFileSync(bin, ['5']);
    assert.deepEqual(read(), [10n, 55n, 10n, 120n], 'nothing counted after destroy');

    assert.throws(
      () => obj.program('up_enter').attachUprobe(bin, 'no_such_function_here'),
      (e: unknown) => e instanceof BpfError && e.code === 'ENOENT' && /no_such_function_here/.test(e.message),
    );
  } finally {
    obj.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
