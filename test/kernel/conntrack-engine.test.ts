// The conntrack engine on a real kernel object (no interfaces attached: packets come from
// BPF_PROG_TEST_RUN on the engine's own program): a reload's timeouts reach the kernel only at
// commit, a table-size change is refused whole, the sweep removes dead flows and counts them,
// metrics and status reflect the table, and listing goes through the same path as the API.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlocklistKernel } from '../../src/blocklist/kernel.js';
import { MemoryBlocklistRepo } from '../../src/blocklist/memory-repo.js';
import { BlocklistService } from '../../src/blocklist/service.js';
import { parseConfigText, type Config } from '../../src/catalog.js';
import { ConntrackEngine } from '../../src/engines/conntrack/engine.js';
import { sharedMapSizes } from '../../src/engines/runtime/shared-maps.js';
import { CT_ENTRY_EGRESS, CT_ENTRY_INGRESS } from '../../src/engines/conntrack/kernel.js';
import { BootClock } from '../../src/kernel/boot-clock.js';
import { ensureBpffsSync, removePinTree } from '../../src/kernel/bpffs.js';
import { BpfObject } from '../../src/kernel/object.js';
import { loadNative } from '../../src/kernel/native.js';
import { createLogger } from '../../src/log.js';
import { AgentMetrics } from '../../src/metrics/agent-metrics.js';
import { udpFrame } from '../support/frames.js';
import { conntrackSkipReason, CT_OBJECT } from './conntrack-harness.js';

const skip = conntrackSkipReason();

const config = (extra: string): Config => parseConfigText(`agent:\n  interfaces: [lo]\nconntrack:\n  enabled: true\n  max_entries: 2048\n${extra}`, 'c.yaml');

describe('conntrack engine', { skip }, () => {
  const pinRoot = `/sys/fs/bpf/sn-ct-engine-${process.pid}`;
  const metrics = new AgentMetrics({ version: 't', defaultMetrics: false });
  let engine: ConntrackEngine;
  let blocklist: BlocklistService;
  let obj: BpfObject;
  const fds: number[] = [];

  before(async () => {
    ensureBpffsSync(path.join(pinRoot, 'maps'));
    ensureBpffsSync(path.join(pinRoot, 'links'));
    // the context every engine gets; conntrack itself adds nothing to the list
    blocklist = new BlocklistService({ target: BlocklistKernel.create(path.dirname(CT_OBJECT), path.join(pinRoot, 'maps')), repo: new MemoryBlocklistRepo(), maxEntries: 16, sampleEvery: 1 });
    const first = config('  timeouts: { udp_unreplied: 1 }\n');
    engine = new ConntrackEngine({
      config: first,
      sharedMapSizes: sharedMapSizes(first),
      log: createLogger({ level: 'silent' }),
      metrics,
      pinRoot,
      objectDir: path.dirname(CT_OBJECT),
      clock: new BootClock(),
      interfaces: [],
      emit: () => undefined,
      requestRefresh: async () => ({ ok: false, error: 'no control plane in this test' }),
      blocklist: blocklist.forOwner('tc-conntrack'),
    });
    await engine.start();
    // a second handle on the same object file, on the engine's pinned maps (the table by name,
    // config and counters by fd): its programs run exactly what the engine's would
    const n = loadNative();
    for (const m of ['ct_config', 'ct_counters']) fds.push(n.objGet(path.join(pinRoot, 'maps', m)));
    obj = BpfObject.load(CT_OBJECT, { pinRoot: path.join(pinRoot, 'maps'), maxEntries: { ct_table: 2048 }, reuseMaps: { ct_config: fds[0]!, ct_counters: fds[1]! } });
  });

  after(async () => {
    obj?.close();
    for (const fd of fds) loadNative().closeFd(fd);
    const errors = await engine?.stop();
    blocklist?.close();
    assert.deepEqual(errors ?? [], []);
    removePinTree(pinRoot);
  });

  const send = (src: string, dst: string, sport: number): void => {
    obj.program(CT_ENTRY_EGRESS).testRun({ data: udpFrame({ src, dst, sport, dport: 53 }) });
  };

  it('pins its maps under <pin root>/maps, the table shared by name', () => {
    const names = obj.mapInfo().map((m) => m.name);
    assert.ok(names.includes('ct_table'));
    assert.equal(engine.listFlows({}, 10)!.total, 0);
    assert.ok(obj.program(CT_ENTRY_INGRESS));
  });

  it('the configured timeout applies; the sweep removes dead flows and counts them (IPv4, IPv6)', async () => {
    send('198.18.20.1', '198.18.20.2', 1111);
    send('2001:db8:20::1', '2001:db8:20::2', 1111);
    const page = engine.listFlows({}, 10)!;
    assert.equal(page.total, 2);
    for (const f of page.flows) assert.ok(f.expires_in_secs <= 1, `udp_unreplied: 1 from the config, got ${f.expires_in_secs}`);
    await sleep(1200);
    assert.equal(engine.listFlows({}, 10)!.total, 0, 'dead flows are not listed');
    const r = engine.gc();
    assert.deepEqual(r, { scanned: 2, deleted: 2, live: 0 });
    engine.refresh();
    const text = await metrics.registry.metrics();
    assert.match(text, /ebpfsentinel_conntrack_expired_total\{by="gc"\} 2/);
    assert.match(text, /ebpfsentinel_conntrack_new_flows_total 2/);
    assert.match(text, /ebpfsentinel_conntrack_gc_runs_total\{result="ok"\} 1/);
  });

  it('reload: timeouts change at commit, not at prepare', async () => {
    const next = config('  timeouts: { udp_unreplied: 300 }\n');
    const change = engine.prepare(next);
    send('198.18.20.1', '198.18.20.2', 2222);
    assert.ok(engine.listFlows({ port: 2222 }, 10)!.flows[0]!.expires_in_secs <= 1, 'prepare wrote nothing');
    await change.commit();
    send('198.18.20.1', '198.18.20.2', 3333);
    const f = engine.listFlows({ port: 3333 }, 10)!.flows[0]!;
    assert.ok(f.expires_in_secs > 290, `committed timeout applies, got ${f.expires_in_secs}`);
    assert.deepEqual(change.summary.timeouts, next.conntrack.timeouts);
  });

  it('reload: a new table size is refused whole, naming the key', () => {
    const bigger = parseConfigText('agent:\n  interfaces: [lo]\nconntrack:\n  enabled: true\n  max_entries: 4096\n', 'c.yaml');
    assert.throws(() => engine.prepare(bigger), /conntrack\.max_entries: cannot change from 2048 to 4096/);
    send('198.18.20.1', '198.18.20.2', 4444);
    assert.ok(engine.listFlows({ port: 4444 }, 10)!.flows[0]!.expires_in_secs > 290, 'the running timeouts are untouched');
  });

  it('metrics and status show the table', async () => {
    engine.gc(); // a sweep scans the table (refresh scans at most once a second)
    engine.refresh();
    const text = await metrics.registry.metrics();
    assert.match(text, /ebpfsentinel_conntrack_max_entries 2048/);
    assert.match(text, /ebpfsentinel_conntrack_flows\{state="udp_unreplied"\} [1-9]/);
    const st = engine.status();
    assert.equal(st.name, 'tc-conntrack');
    assert.equal(st.loaded, true);
    assert.deepEqual(st.maps.map((m) => [m.name, m.max_entries]), [['ct_table', 2048]]);
    assert.ok(st.maps[0]!.entries >= 1);
    assert.equal(engine.tableStats().gc_deleted, 2);
  });
});
