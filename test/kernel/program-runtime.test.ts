// The program runtime every engine runs its programs on, with the real objects: xdp-firewall
// and tc-conntrack loaded through it share one ct_table sized by conntrack.max_entries (from
// the shared-map table) and every ring buffer has agent.ring_buffer_size; a pinned shared map of
// another size is refused naming the key; counters reach metrics (with a program's own slots
// under their exported names) and the status block; an attach failure is named and reported;
// stop removes the runtime's own pins, leaves the shared map to the others, never throws, and
// the program can be loaded again. No interface is attached: packets come from test runs.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { BlocklistKernel } from '../../src/blocklist/kernel.js';
import { MemoryBlocklistRepo } from '../../src/blocklist/memory-repo.js';
import { BlocklistService } from '../../src/blocklist/service.js';
import { parseConfigText, type Config } from '../../src/catalog.js';
import { CONNTRACK_OBJECT_FILE, ConntrackKernel, CT_ENTRY_EGRESS } from '../../src/engines/conntrack/kernel.js';
import type { EngineContext } from '../../src/engines/engine.js';
import { FIREWALL_ENTRY, FIREWALL_OBJECT_FILE, FirewallKernel } from '../../src/engines/firewall/kernel.js';
import { RATELIMIT_ENTRY, RATELIMIT_OBJECT_FILE, RatelimitKernel } from '../../src/engines/ratelimit/kernel.js';
import { ProgramRuntime } from '../../src/engines/runtime/program.js';
import { sharedMapSizes } from '../../src/engines/runtime/shared-maps.js';
import { BootClock } from '../../src/kernel/boot-clock.js';
import { ensureBpffsSync, removePinTree } from '../../src/kernel/bpffs.js';
import { loadNative } from '../../src/kernel/native.js';
import { AgentMetrics } from '../../src/metrics/agent-metrics.js';
import { udpFrame } from '../support/frames.js';
import { conntrackSkipReason, CT_OBJECT, TEST_RUN_IFINDEX } from './conntrack-harness.js';

const skip = conntrackSkipReason();
const RING = 1 << 16;
const LO = { ifname: 'lo', ifindex: TEST_RUN_IFINDEX };

const config = (maxEntries: number): Config =>
  parseConfigText(`agent:\n  interfaces: [lo]\n  ring_buffer_size: ${RING}\nconntrack:\n  enabled: true\n  max_entries: ${maxEntries}\n`, 'c.yaml');

describe('program runtime', { skip }, () => {
  const pinRoot = `/sys/fs/bpf/sn-runtime-${process.pid}`;
  const mapDir = path.join(pinRoot, 'maps');
  const metrics = new AgentMetrics({ version: 't', defaultMetrics: false });
  // the context every engine gets (created first, as the agent does: its maps are pinned by name
  // where xdp-firewall's object finds them); the runtime itself adds nothing to the list
  ensureBpffsSync(mapDir);
  const blocklist = skip ? null : new BlocklistService({ target: BlocklistKernel.create(path.dirname(CT_OBJECT), mapDir), repo: new MemoryBlocklistRepo(), maxEntries: 16, sampleEvery: 1 });
  const ctxFor = (c: Config, interfaces = [] as EngineContext['interfaces']): EngineContext<Config> => ({
    config: c,
    sharedMapSizes: sharedMapSizes(c),
    log: pino({ level: 'silent' }),
    metrics,
    pinRoot,
    objectDir: path.dirname(CT_OBJECT),
    clock: new BootClock(),
    interfaces,
    emit: () => undefined,
    requestRefresh: async () => ({ ok: false, error: 'no control plane in this test' }),
    blocklist: blocklist!.forOwner('test'),
  });
  const ctx = ctxFor(config(2048));
  const fw = new ProgramRuntime(ctx, {
    program: 'xdp-firewall',
    objectFile: FIREWALL_OBJECT_FILE,
    kernel: (obj) => FirewallKernel.over(obj),
    metricNames: { tree_broken: 'classifier_broken' },
    interfaces: () => [LO],
  });
  const ct = new ProgramRuntime(ctx, {
    program: 'tc-conntrack',
    objectFile: CONNTRACK_OBJECT_FILE,
    kernel: (obj) => ConntrackKernel.over(obj),
    maps: (k) => ({ ct_table: () => k.dump().count }),
    interfaces: () => [LO],
  });
  const mapId = (fd: number): number => loadNative().mapInfo(fd).id;
  const pins = (): string[] => readdirSync(mapDir).sort();

  before(() => ensureBpffsSync(mapDir));
  after(async () => {
    for (const rt of [fw, ct]) assert.deepEqual(await rt.stop(), []);
    blocklist?.close();
    removePinTree(pinRoot);
  });

  it('loads with shared-map sizes from one table: one ct_table of conntrack.max_entries, rings of agent.ring_buffer_size', () => {
    assert.equal(sharedMapSizes(config(2048)).ct_table, 2048);
    const f = fw.load();
    const c = ct.load();
    const fwMaps = f.obj.mapInfo();
    const fwTable = fwMaps.find((m) => m.name === 'ct_table')!;
    assert.equal(fwTable.maxEntries, 2048);
    assert.equal(c.maxEntries, 2048);
    assert.equal(mapId(fwTable.fd), mapId(c.table.fd), 'the second object reuses the first one’s table');
    assert.equal(fwMaps.find((m) => m.name === 'fw_events')!.maxEntries, RING);
    assert.deepEqual(fw.ringFds(), [f.obj.mapFd('fw_events')]);
    assert.deepEqual(ct.ringFds(), [], 'tc-conntrack has no ring');
    for (const m of ['ct_table', 'ct_config', 'ct_counters', 'fw_rules', 'fw_events', 'fw_chain']) assert.ok(pins().includes(m), `${m} pinned under <pin root>/maps`);
    assert.ok(!pins().some((p) => p.includes('.')), 'internal maps (.rodata, .bss) stay private');
  });

  it('a pinned shared map of another size is refused, naming the key to set back; nothing stays loaded', () => {
    const before = pins();
    const other = new ProgramRuntime(ctxFor(config(4096)), { program: 'tc-conntrack', objectFile: CONNTRACK_OBJECT_FILE, kernel: (obj) => ConntrackKernel.over(obj) });
    assert.throws(() => other.load(), /holds 2048 entries .* but conntrack\.max_entries is 4096 .*set conntrack\.max_entries back to 2048/);
    assert.equal(other.kernel, null);
    assert.deepEqual(pins(), before);
  });

  it('counters reach metrics per interface (own slots under their exported names) and the status block (IPv4, IPv6)', async () => {
    const prog = ct.kernel!.obj.program(CT_ENTRY_EGRESS);
    prog.testRun({ data: udpFrame({ src: '198.18.30.1', dst: '198.18.30.2', sport: 4000, dport: 53 }) });
    prog.testRun({ data: udpFrame({ src: '2001:db8:30::1', dst: '2001:db8:30::2', sport: 4000, dport: 53 }) });
    fw.kernel!.obj.program(FIREWALL_ENTRY).testRun({ data: udpFrame({ src: '198.18.30.1', dst: '198.18.30.2', sport: 4001, dport: 53 }) });
    ct.refresh();
    fw.refresh();
    const text = await metrics.registry.metrics();
    assert.match(text, /ebpfsentinel_program_reasons_total\{program="tc-conntrack",interface="lo",counter="new_flows"\} 2/);
    assert.match(text, /ebpfsentinel_packets_seen_total\{program="tc-conntrack",interface="lo"\} 2/);
    assert.match(text, /ebpfsentinel_packets_seen_total\{program="xdp-firewall",interface="lo"\} 1/);
    assert.match(text, /counter="classifier_broken"/);
    assert.doesNotMatch(text, /counter="tree_broken"/);
    assert.doesNotMatch(text, /counter="seen"/, 'common slots are not program reasons');
    assert.match(text, /ebpfsentinel_map_entries\{program="tc-conntrack",map="ct_table"\} 2/);
    const st = ct.status();
    assert.equal(st.name, 'tc-conntrack');
    assert.equal(st.loaded, true);
    assert.equal(st.counters.seen, 2);
    assert.deepEqual(st.maps, [{ name: 'ct_table', type: 'lru_hash', max_entries: 2048, entries: 2 }]);
    assert.deepEqual(ct.losses(), { ring_full: 0, backpressure: 0 });
  });

  it('a second copy over the same pins is refused at pinning and leaves no pin of its own behind', async () => {
    const before = pins();
    const again = new ProgramRuntime(ctx, { program: 'tc-conntrack', objectFile: CONNTRACK_OBJECT_FILE, kernel: (obj) => ConntrackKernel.over(obj) });
    assert.throws(() => again.load(), /pinning map/);
    assert.equal(again.kernel, null);
    assert.deepEqual(pins(), before);
    assert.deepEqual(await again.stop(), []);
  });

  it('an attach failure names the interface and shows in status and metrics; stop leaves nothing', async () => {
    const ghost = { ifname: 'sn-ghost0', ifindex: 0x7ffffff0 };
    const root = `${pinRoot}-ghost`;
    ensureBpffsSync(path.join(root, 'maps'));
    const rt = new ProgramRuntime({ ...ctxFor(config(2048), [ghost]), pinRoot: root }, { program: 'xdp-ratelimit', objectFile: RATELIMIT_OBJECT_FILE, kernel: (obj) => RatelimitKernel.over(obj) });
    try {
      rt.load();
      assert.throws(() => rt.attachXdp(RATELIMIT_ENTRY), /^Error: xdp-ratelimit: cannot attach to sn-ghost0: /);
      const [a] = rt.status().attachments;
      assert.equal(a!.interface, 'sn-ghost0');
      assert.equal(a!.attached, false);
      assert.ok(a!.error);
      assert.match(await metrics.registry.metrics(), /ebpfsentinel_program_attached\{program="xdp-ratelimit",interface="sn-ghost0",hook="xdp"\} 0/);
      assert.deepEqual(await rt.stop(), []);
      assert.deepEqual(readdirSync(path.join(root, 'maps')), [], 'its map pins are gone');
    } finally {
      await rt.stop();
      removePinTree(root);
    }
  });

  it('stop unpins its own maps and leaves the shared table to the others; never throws, twice; loads again', async () => {
    assert.deepEqual(await fw.stop(), []);
    assert.equal(fw.kernel, null);
    assert.equal(fw.status().loaded, false);
    assert.ok(!pins().some((p) => p.startsWith('fw_')), 'the firewall’s pins are gone');
    assert.ok(pins().includes('ct_table'), 'the shared table stays for tc-conntrack');
    assert.equal(ct.kernel!.dump().count, 2, 'tc-conntrack’s flows are untouched');
    assert.deepEqual(await fw.stop(), [], 'a second stop is a no-op');
    const again = fw.load();
    assert.equal(mapId(again.obj.mapFd('ct_table')), mapId(ct.kernel!.table.fd), 'reloaded, it reuses the same table');
    assert.ok(pins().includes('fw_rules'));
  });
});
