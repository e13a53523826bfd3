// Taking over what a previous agent left under its pin root (src/engines/runtime/adoption.ts), without a
// network lab: which pinned maps a new object keeps (same BTF layout and shape: the very map, its
// contents with it) and which it starts fresh (layout or size changed: said in status with the
// reason, a new empty map under the same pin); the manifest as a pinned map; an agent still
// running on the pin root refused; a uprobe taken over make-before-break (its perf link cannot be
// updated) so no call is missed; `detach` removing all. The e2e test fail-static.test.ts covers
// the hooks under traffic.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { detachPinRoot, PinRootState, processStartTicks } from '../../src/engines/runtime/adoption.js';
import { Attachments } from '../../src/engines/runtime/attachments.js';
import { pinObjectMaps } from '../../src/engines/runtime/object.js';
import { ensureBpffsSync, removePinTree } from '../../src/kernel/bpffs.js';
import { loadNative } from '../../src/kernel/native.js';
import { bytesCodec, u32Codec, u64Codec } from '../../src/kernel/map.js';
import { readManifest, writeManifest } from '../../src/kernel/pin-manifest.js';
import { AgentMetrics } from '../../src/metrics/agent-metrics.js';
import { REPO_ROOT } from '../../src/version.js';
import { compileC, haveTool, isRoot, makeVethPair, objectsBuilt, PROBE_TARGET_C as TARGET, requireOrSkip, runInNs, testObj } from './bridge-util.js';

const CT_OBJ = path.join(REPO_ROOT, 'build', 'bpf', 'tc_conntrack.bpf.o');
const quiet = pino({ level: 'silent' });

function mapId(pin: string): number {
  const n = loadNative();
  const fd = n.objGet(pin);
  try {
    return n.mapInfo(fd).id;
  } finally {
    n.closeFd(fd);
  }
}

test('adoption: maps of the same layout are kept, changed ones start fresh with the reason; a live agent is refused', (t) => {
  if (!requireOrSkip(t, isRoot(), 'root is needed to load programs')) return;
  if (!requireOrSkip(t, existsSync(CT_OBJ), 'build/bpf/tc_conntrack.bpf.o (make build)')) return;
  const pinRoot = `/sys/fs/bpf/sn-adopt-${process.pid}`;
  ensureBpffsSync(path.join(pinRoot, 'maps'));
  const maps = path.join(pinRoot, 'maps');
  try {
    // First agent: everything fresh (no manifest), pinned, recorded.
    const first = PinRootState.open(pinRoot, quiet, 't1');
    const o1 = first.loader('tc-conntrack')(CT_OBJ, { pinRoot: maps, maxEntries: { ct_table: 4096 } });
    pinObjectMaps(o1, maps);
    o1.map('ct_ifaces', u32Codec, bytesCodec(1)).update(7, Buffer.from([1]));
    first.save('kept');
    o1.close();
    assert.equal(first.status('tc-conntrack'), undefined, 'nothing was taken over on a first start');
    const m1 = readManifest(pinRoot)!;
    assert.equal(m1.agent.state, 'kept');
    assert.equal(m1.agent.pid, process.pid);
    assert.ok(m1.maps.ct_table && m1.maps.ct_ifaces, 'every map recorded');
    assert.match(m1.maps.ct_table.shape, /^lru_hash \d+\+\d+ x4096$/);
    const ids = Object.fromEntries(['ct_table', 'ct_ifaces', 'ct_config'].map((n) => [n, mapId(path.join(maps, n))]));

    // Second agent, same object and sizes, but the manifest says ct_ifaces had another layout
    // (as an older agent whose struct differed would have recorded).
    writeManifest(pinRoot, { ...m1, maps: { ...m1.maps, ct_ifaces: { ...m1.maps.ct_ifaces!, layout: 'another-layout' } } });
    const second = PinRootState.open(pinRoot, quiet, 't2');
    const o2 = second.loader('tc-conntrack')(CT_OBJ, { pinRoot: maps, maxEntries: { ct_table: 4096 } });
    pinObjectMaps(o2, maps);
    const st = second.status('tc-conntrack')!;
    assert.equal(st.adopted, true);
    assert.equal(st.object_changed, false, 'the same object file');
    assert.ok(st.maps_kept.includes('ct_table') && st.maps_kept.includes('ct_config'), JSON.stringify(st));
    assert.deepEqual(st.maps_fresh, [{ name: 'ct_ifaces', reason: 'the layout of its key or value changed' }]);
    assert.equal(mapId(path.join(maps, 'ct_table')), ids.ct_table, 'ct_table: the very map (flows kept)');
    assert.equal(mapId(path.join(maps, 'ct_config')), ids.ct_config);
    assert.notEqual(mapId(path.join(maps, 'ct_ifaces')), ids.ct_ifaces, 'ct_ifaces: a new map under the pin');
    assert.equal(o2.map('ct_ifaces', u32Codec, bytesCodec(1)).lookup(7), undefined, 'the fresh map is empty');
    second.save('kept');
    o2.close();

    // Third agent with another table size: the shape changed, the table starts fresh.
    const third = PinRootState.open(pinRoot, quiet, 't3');
    const o3 = third.loader('tc-conntrack')(CT_OBJ, { pinRoot: maps, maxEntries: { ct_table: 8192 } });
    const st3 = third.status('tc-conntrack')!;
    assert.deepEqual(st3.maps_fresh.map((f) => f.name), ['ct_table']);
    assert.match(st3.maps_fresh[0]!.reason, /shape changed from lru_hash \d+\+\d+ x4096 to lru_hash \d+\+\d+ x8192/);
    assert.notEqual(mapId(path.join(maps, 'ct_table')), ids.ct_table);
    o3.close();

    // An agent still running on the pin root (a live process with its start time) is refused.
    const sleeper = spawn('sleep', ['30']);
    try {
      const m = readManifest(pinRoot)!;
      writeManifest(pinRoot, { ...m, agent: { ...m.agent, pid: sleeper.pid!, startTicks: processStartTicks(sleeper.pid!)!, state: 'running' } });
      assert.throws(() => PinRootState.open(pinRoot, quiet, 't4'), new RegExp(`belongs to a running agent \\(pid ${sleeper.pid}\\)`));
      assert.throws(() => detachPinRoot(pinRoot), /is running on/);
      // the same pid with another start time is not that agent (a reused pid)
      writeManifest(pinRoot, { ...m, agent: { ...m.agent, pid: sleeper.pid!, startTicks: '1', state: 'running' } });
      assert.doesNotThrow(() => PinRootState.open(pinRoot, quiet, 't5'));
    } finally {
      sleeper.kill('SIGKILL');
    }
    const d = detachPinRoot(pinRoot);
    assert.ok(d.maps >= 3, 'map pins removed');
    assert.deepEqual(d.problems, []);
    assert.equal(existsSync(path.join(pinRoot, 'manifest')), false, 'manifest removed');
  } finally {
    if (existsSync(pinRoot)) removePinTree(pinRoot);
  }
});


test('adoption: a uprobe left by a previous agent is replaced make-before-break (perf links have no update)', (t) => {
  if (!requireOrSkip(t, isRoot(), 'root is needed to attach uprobes')) return;
  if (!requireOrSkip(t, haveTool('gcc'), 'gcc')) return;
  if (!requireOrSkip(t, objectsBuilt('bridge_uprobe'), 'build/bpf-test/bridge_uprobe.bpf.o (make bpf)')) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'snadopt-'));
  const pinRoot = `/sys/fs/bpf/sn-adopt-probe-${process.pid}`;
  ensureBpffsSync(path.join(pinRoot, 'links'));
  const metrics = new AgentMetrics({ version: 't', defaultMetrics: false });
  try {
    const bin = path.join(dir, 'target.bin');
    writeFileSync(path.join(dir, 'target.c'), TARGET);
    compileC(path.join(dir, 'target.c'), bin);
    const probe = { binary: bin, symbol: 'sentinel_probe_target' };

    const first = PinRootState.open(pinRoot, quiet, 't1');
    const o1 = first.loader('uprobe-test')(testObj('bridge_uprobe'), {});
    const a1 = new Attachments('uprobe-test', pinRoot, quiet, metrics, first);
    assert.equal(a1.addProbe(probe, 'uprobe', o1.program('up_enter')), null);
    const counts1 = o1.map('probe_counts', u32Codec, u64Codec);
    execFileSync(bin, ['3']);
    assert.equal(counts1.lookup(0), 3n, 'the first agent counts calls');
    // exit with keep: the probe goes on from its pin
    assert.deepEqual(a1.releaseAll(), []);
    first.save('kept');
    execFileSync(bin, ['2']);
    assert.equal(counts1.lookup(0), 5n, 'no agent: the pinned probe still runs');

    const second = PinRootState.open(pinRoot, quiet, 't2');
    const o2 = second.loader('uprobe-test')(testObj('bridge_uprobe'), {});
    const a2 = new Attachments('uprobe-test', pinRoot, quiet, metrics, second);
    assert.equal(a2.addProbe(probe, 'uprobe', o2.program('up_enter')), null);
    const st = a2.status()[0]!;
    assert.equal(st.adopted, true, 'taken over');
    assert.equal(st.prog_id, loadNative().progId(o2.program('up_enter').fd));
    const counts2 = o2.map('probe_counts', u32Codec, u64Codec);
    execFileSync(bin, ['4']);
    assert.equal(counts1.lookup(0), 5n, 'the old probe is gone');
    assert.equal(counts2.lookup(0), 4n, 'the new one counts every call');
    assert.equal(readdirSync(path.join(pinRoot, 'links')).length, 1, 'one pin, the new link');
    second.save('kept');
    o1.close();
    assert.deepEqual(a2.releaseAll(), []);
    const d = detachPinRoot(pinRoot);
    assert.equal(d.links.length, 1);
    execFileSync(bin, ['4']);
    assert.equal(counts2.lookup(0), 4n, 'detached: nothing more counted');
    o2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (existsSync(pinRoot)) removePinTree(pinRoot);
  }
});

test('adoption: a clsact filter (no kernel link, no pin) is taken over by handle and priority and its program replaced in place', (t) => {
  if (!requireOrSkip(t, isRoot(), 'root is needed for namespaces')) return;
  if (!requireOrSkip(t, haveTool('tc'), 'tc')) return;
  if (!requireOrSkip(t, existsSync(CT_OBJ), 'build/bpf/tc_conntrack.bpf.o (make build)')) return;
  const pair = makeVethPair();
  try {
    const helper = path.join(REPO_ROOT, 'dist', 'test', 'kernel', 'adoption-clsact-nshelper.js');
    const r = runInNs(pair.nsB, process.execPath, [helper, pair.ifB, CT_OBJ], { ...process.env, SENTINEL_FORCE_CLSACT: '1' });
    assert.equal(r.status, 0, r.stderr);
    type Hook = { pref: number; handle: string; progId: number }[];
    const o = JSON.parse(r.stdout) as { first: { prog: number; status: { mode: string; rank: number; adopted?: boolean }[]; hook: Hook }; afterExit: Hook; second: { prog: number; status: { mode: string; adopted?: boolean; prog_id?: number }[]; hook: Hook }; detach: { filters: string[] }; afterDetach: Hook };
    assert.equal(o.first.status[0]!.mode, 'clsact');
    assert.equal(o.first.status[0]!.adopted, undefined);
    assert.deepEqual(o.first.hook.map((f) => [f.pref, f.progId]), [[20010, o.first.prog]], 'tc shows our filter at priority 20000 + rank');
    assert.deepEqual(o.afterExit, o.first.hook, 'the filter stays after its agent let go');
    assert.notEqual(o.second.prog, o.first.prog);
    assert.equal(o.second.status[0]!.adopted, true);
    assert.equal(o.second.status[0]!.prog_id, o.second.prog);
    assert.deepEqual(o.second.hook, [{ ...o.first.hook[0]!, progId: o.second.prog }], 'the same filter (handle, priority), the new program');
    assert.equal(o.detach.filters.length, 1, 'detach removed the filter the manifest names');
    assert.deepEqual(o.afterDetach, []);
  } finally {
    pair.destroy();
  }
});
