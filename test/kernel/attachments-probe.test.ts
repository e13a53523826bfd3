// The engines' shared attachment bookkeeping (src/engines/runtime/attachments.ts) with a probe target:
// a uprobe and a uretprobe on a function of a binary compiled here, each pinned under the pin
// root by program, hook, file, symbol (and pid), reported in status and in
// ebpfsentinel_probe_attached, counting real calls; removed again with its pins and reported 0.
// A pid-limited probe sees only that process. The program runtime attaches probes through it:
// pinned, reported, counted, named when they fail, and removed with the program's map pins.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { BlocklistKernel } from '../../src/blocklist/kernel.js';
import { MemoryBlocklistRepo } from '../../src/blocklist/memory-repo.js';
import { BlocklistService } from '../../src/blocklist/service.js';
import { Attachments, probePinName } from '../../src/engines/runtime/attachments.js';
import { parseConfigText } from '../../src/catalog.js';
import { ProgramRuntime } from '../../src/engines/runtime/program.js';
import { sharedMapSizes } from '../../src/engines/runtime/shared-maps.js';
import { BootClock } from '../../src/kernel/boot-clock.js';
import { ensureBpffsSync, removePinTree } from '../../src/kernel/bpffs.js';
import { u32Codec, u64Codec } from '../../src/kernel/map.js';
import { BpfObject } from '../../src/kernel/object.js';
import { AgentMetrics } from '../../src/metrics/agent-metrics.js';
import { REPO_ROOT } from '../../src/version.js';
import { compileC, haveTool, isRoot, objectsBuilt, PROBE_TARGET_C as TARGET, requireOrSkip, testObj } from './bridge-util.js';


test('attachments: uprobe and uretprobe targets are pinned, reported and removed like interfaces', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'root is needed to attach uprobes')) return;
  if (!requireOrSkip(t, haveTool('gcc'), 'gcc')) return;
  if (!requireOrSkip(t, objectsBuilt('bridge_uprobe'), 'build/bpf-test/bridge_uprobe.bpf.o (make bpf)')) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'snattach-'));
  const pinRoot = `/sys/fs/bpf/sn-attach-probe-${process.pid}`;
  ensureBpffsSync(path.join(pinRoot, 'links'));
  const obj = BpfObject.load(testObj('bridge_uprobe'));
  const metrics = new AgentMetrics({ version: 't', defaultMetrics: false });
  const att = new Attachments('uprobe-test', pinRoot, pino({ level: 'silent' }), metrics);
  try {
    const bin = path.join(dir, 'target.bin');
    writeFileSync(path.join(dir, 'target.c'), TARGET);
    compileC(path.join(dir, 'target.c'), bin);
    const counts = obj.map('probe_counts', u32Codec, u64Codec);
    const read = (): bigint[] => [0, 1, 2, 3].map((k) => counts.lookup(k) ?? -1n);
    const probe = { binary: bin, symbol: 'sentinel_probe_target' };

    assert.equal(att.addProbe(probe, 'uprobe', obj.program('up_enter')), null);
    assert.equal(att.addProbe(probe, 'uretprobe', obj.program('up_exit')), null);
    assert.equal(att.addProbe({ binary: bin, symbol: 'no_such_symbol' }, 'uprobe', obj.program('up_enter'))?.length !== 0, true, 'a missing symbol is an error, recorded');

    const st = att.status();
    assert.deepEqual(
      st.map((a) => [a.binary, a.symbol, a.hook, a.mode, a.attached, a.interface]),
      [
        [bin, 'sentinel_probe_target', 'uprobe', 'uprobe', true, undefined],
        [bin, 'sentinel_probe_target', 'uretprobe', 'uprobe', true, undefined],
        [bin, 'no_such_symbol', 'uprobe', 'none', false, undefined],
      ],
    );
    assert.ok(st[2]!.error, 'the failure says why');
    assert.deepEqual(att.attached(), [], 'probe targets are not interfaces');
    const pins = readdirSync(path.join(pinRoot, 'links')).sort();
    assert.deepEqual(pins, [probePinName('uprobe-test', 'uprobe', probe), probePinName('uprobe-test', 'uretprobe', probe)].sort());
    assert.match(pins[0]!, /^uprobe-test@uprobe@target:bin-[0-9a-f]{12}@sentinel_probe_target$/);

    const text = await metrics.registry.metrics();
    assert.match(text, new RegExp(`ebpfsentinel_probe_attached\\{program="uprobe-test",binary="${bin.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}",symbol="sentinel_probe_target",pid="",hook="uretprobe"\\} 1`));
    assert.match(text, /ebpfsentinel_probe_attached\{program="uprobe-test",binary="[^"]+",symbol="no_such_symbol",pid="",hook="uprobe"\} 0/);

    assert.equal(execFileSync(bin, ['10'], { encoding: 'utf8' }).trim(), '120');
    assert.deepEqual(read(), [10n, 55n, 10n, 120n], 'both ends of every call seen');

    assert.deepEqual(await att.removeAll(), []);
    assert.deepEqual(readdirSync(path.join(pinRoot, 'links')), [], 'pins removed');
    assert.match(await metrics.registry.metrics(), /symbol="sentinel_probe_target",pid="",hook="uprobe"\} 0/);
    execFileSync(bin, ['5']);
    assert.deepEqual(read(), [10n, 55n, 10n, 120n], 'detached: nothing more counted');

    // limited to one pid: another process calling the same function is not seen
    const child = (await import('node:child_process')).spawn(bin, ['3', 'wait'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const out = new Promise<string>((resolve) => {
      let s = '';
      child.stdout.on('data', (d: Buffer) => (s += d.toString()));
      child.on('exit', () => resolve(s.trim()));
    });
    assert.equal(att.addProbe({ ...probe, pid: child.pid! }, 'uprobe', obj.program('up_enter')), null);
    assert.equal(spawnSync(bin, ['4']).status, 0, 'another process');
    child.stdin.end('go');
    assert.equal(await out, '15');
    assert.deepEqual(read(), [13n, 61n, 10n, 120n], 'only the pid the probe names: 3 calls, 1+2+3');
    assert.equal(att.status()[0]!.pid, child.pid);
    assert.deepEqual(await att.removeAll(), []);
  } finally {
    await att.removeAll();
    obj.close();
    rmSync(dir, { recursive: true, force: true });
    if (existsSync(pinRoot)) rmSync(pinRoot, { recursive: true, force: true });
  }
});

test('program runtime: a probe attached through it is pinned, reported and counts calls; a missing symbol is named; stop leaves no pin', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'root is needed to attach uprobes')) return;
  if (!requireOrSkip(t, haveTool('gcc'), 'gcc')) return;
  if (!requireOrSkip(t, objectsBuilt('bridge_uprobe'), 'build/bpf-test/bridge_uprobe.bpf.o (make bpf)')) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'snrtprobe-'));
  const pinRoot = `/sys/fs/bpf/sn-rt-probe-${process.pid}`;
  ensureBpffsSync(path.join(pinRoot, 'links'));
  const config = parseConfigText('agent:\n  interfaces: [lo]\n', 'c.yaml');
  const metrics = new AgentMetrics({ version: 't', defaultMetrics: false });
  // the context every engine gets; its maps pinned apart, so the runtime's own pins can be counted
  const blPins = `${pinRoot}-bl/maps`;
  ensureBpffsSync(blPins);
  const blocklist = new BlocklistService({ target: BlocklistKernel.create(path.join(REPO_ROOT, 'build', 'bpf'), blPins), repo: new MemoryBlocklistRepo(), maxEntries: 16, sampleEvery: 1 });
  const rt = new ProgramRuntime(
    {
      config,
      sharedMapSizes: sharedMapSizes(config),
      log: pino({ level: 'silent' }),
      metrics,
      pinRoot,
      objectDir: path.dirname(testObj('bridge_uprobe')),
      clock: new BootClock(),
      interfaces: [],
      emit: () => undefined,
      requestRefresh: async () => ({ ok: false, error: 'no control plane in this test' }),
      blocklist: blocklist.forOwner('uprobe-test'),
    },
    { program: 'uprobe-test', objectFile: path.basename(testObj('bridge_uprobe')), kernel: (obj) => ({ obj, close: () => obj.close() }) },
  );
  try {
    const bin = path.join(dir, 'target.bin');
    writeFileSync(path.join(dir, 'target.c'), TARGET);
    compileC(path.join(dir, 'target.c'), bin);
    const k = rt.load();
    const probe = { binary: bin, symbol: 'sentinel_probe_target' };
    rt.attachProbe('up_enter', probe, 'uprobe');
    rt.attachProbe('up_exit', probe, 'uretprobe');
    assert.throws(() => rt.attachProbe('up_enter', { binary: bin, symbol: 'no_such_symbol' }, 'uprobe'), new RegExp(`^Error: uprobe-test: cannot attach uprobe to ${bin.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:no_such_symbol: `));
    assert.deepEqual(
      rt.status().attachments.map((a) => [a.symbol, a.hook, a.attached]),
      [['sentinel_probe_target', 'uprobe', true], ['sentinel_probe_target', 'uretprobe', true], ['no_such_symbol', 'uprobe', false]],
    );
    assert.deepEqual(readdirSync(path.join(pinRoot, 'links')).sort(), [probePinName('uprobe-test', 'uprobe', probe), probePinName('uprobe-test', 'uretprobe', probe)].sort());
    assert.ok(readdirSync(path.join(pinRoot, 'maps')).includes('probe_counts'), 'its maps are pinned like any program’s');
    execFileSync(bin, ['4']);
    const counts = k.obj.map('probe_counts', u32Codec, u64Codec);
    assert.deepEqual([0, 2].map((i) => counts.lookup(i)), [4n, 4n], 'four calls seen at entry and at return');
    assert.deepEqual(await rt.stop(), []);
    assert.deepEqual(readdirSync(path.join(pinRoot, 'links')), [], 'link pins removed');
    assert.deepEqual(readdirSync(path.join(pinRoot, 'maps')), [], 'map pins removed');
    assert.match(await metrics.registry.metrics(), /symbol="sentinel_probe_target",pid="",hook="uretprobe"\} 0/);
  } finally {
    await rt.stop();
    blocklist.close();
    removePinTree(path.dirname(blPins));
    rmSync(dir, { recursive: true, force: true });
    if (existsSync(pinRoot)) removePinTree(pinRoot);
  }
});
