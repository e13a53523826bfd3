// Runs inside a test network namespace (`ip netns exec NS node bridge-nshelper.js JSON`):
// attaching by ifindex only works in the caller's own namespace. It attaches, sends real
// traffic, reads the counters and detaches, then prints what it observed as one JSON line;
// bridge-net.test.ts makes every assertion on that report.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { BpfObject } from '../../src/kernel/object.js';
import { u32Codec, u64Codec } from '../../src/kernel/map.js';
import { ensureBpffsSync, removePinTree } from '../../src/kernel/bpffs.js';
import { loadNative, type XdpMode } from '../../src/kernel/native.js';
import { ifindexOf, type Link } from '../../src/kernel/link.js';

interface Job {
  op: 'xdp' | 'tc' | 'tcx-anchors';
  obj: string;
  ifname: string;
  peer4: string;
  peer6: string;
  mode?: XdpMode;
  pinDir: string;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;

function ping(count: number): { v4: boolean; v6: boolean } {
  const p4 = spawnSync('ping', ['-4', '-c', String(count), '-i', '0.2', '-W', '2', job.peer4], { encoding: 'utf8' });
  const p6 = spawnSync('ping', ['-6', '-c', String(count), '-i', '0.2', '-W', '2', job.peer6], { encoding: 'utf8' });
  return { v4: p4.status === 0, v6: p6.status === 0 };
}

function out(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`;
}

// `ip netns exec` gave us a fresh /sys: this mounts a bpffs for the pins of this run.
ensureBpffsSync(job.pinDir);
const obj = BpfObject.load(job.obj, { pinRoot: job.pinDir });
const report: Record<string, unknown> = {};
const links: Link[] = [];

/** The raw bridge calls of ordered TCX: query, anchors by link id, the revision check. */
function tcxAnchors(): void {
  const n = loadNative();
  const ifindex = ifindexOf(job.ifname);
  const q = () => {
    const r = n.tcxQuery(ifindex, 'ingress');
    return { revision: String(r.revision), progIds: r.progIds, linkIds: r.linkIds };
  };
  const fd = (i: number) => obj.progFd(`stage_${i}`);
  const handles: number[] = [];
  const fail = (f: () => unknown) => {
    try {
      f();
      return 'no error';
    } catch (e) {
      return (e as { code?: string }).code ?? String(e);
    }
  };
  try {
    report.empty = q();
    const a = n.tcAttach(fd(1), ifindex, 'ingress', { via: 'tcx' });
    handles.push(a.link);
    report.a = a;
    report.afterA = q();
    const rev = n.tcxQuery(ifindex, 'ingress').revision;
    report.stale = fail(() => handles.push(n.tcAttach(fd(2), ifindex, 'ingress', { via: 'tcx', expectedRevision: rev + 1n }).link));
    report.afterStale = q();
    const b = n.tcAttach(fd(2), ifindex, 'ingress', { before: a.id, expectedRevision: rev });
    handles.push(b.link);
    report.b = b;
    report.afterB = q();
    const c = n.tcAttach(fd(3), ifindex, 'ingress', { after: b.id });
    handles.push(c.link);
    report.c = c;
    report.afterC = q();
    report.missingAnchor = fail(() => handles.push(n.tcAttach(fd(4), ifindex, 'ingress', { before: 0x7ffffff0 }).link));
    report.qdiscAfterMissing = out('tc', ['qdisc', 'show', 'dev', job.ifname]);
    report.bothAnchors = fail(() => n.tcAttach(fd(4), ifindex, 'ingress', { before: a.id, after: b.id }));
    n.linkDestroy(c.link);
    handles.splice(handles.indexOf(c.link), 1);
    report.afterDestroyC = q();
  } finally {
    for (const h of handles) n.linkDestroy(h);
  }
  report.afterAll = q();
}

/** XDP or TC attached, real pings counted (bridge_net.bpf.o's echo_counts). */
function counted(): void {
  const counts = obj.map('echo_counts', u32Codec, u64Codec);
  const read = (): string[] => Array.from({ length: 8 }, (_, i) => String(counts.lookup(i) ?? -1n));
  report.before = read();
  if (job.op === 'xdp') {
    const link = obj.program('xdp_count').attachXdp(job.ifname, job.mode ?? 'auto');
    links.push(link);
    report.mode = link.mode;
    report.ipLinkAttached = out('ip', ['-d', 'link', 'show', 'dev', job.ifname]);
    report.ping1 = ping(3);
    report.afterPing1 = read();
    link.update(obj.progFd('xdp_count_alt'));
    report.ping2 = ping(2);
    report.afterUpdate = read();
    const pinPath = `${job.pinDir}/xdp_link`;
    link.pin(pinPath);
    report.pinExists = existsSync(pinPath);
    const fd = loadNative().objGet(pinPath);
    report.pinFdValid = fd > 2;
    loadNative().closeFd(fd);
    link.destroy();
    report.pinExistsAfterDestroy = existsSync(pinPath);
    report.ipLinkDetached = out('ip', ['-d', 'link', 'show', 'dev', job.ifname]);
  } else {
    const ing = obj.program('tc_count_ingress').attachTc(job.ifname, 'ingress');
    links.push(ing);
    const egr = obj.program('tc_count_egress').attachTc(job.ifname, 'egress');
    links.push(egr);
    report.kinds = [ing.kind, egr.kind];
    report.qdiscAttached = out('tc', ['qdisc', 'show', 'dev', job.ifname]);
    report.filtersAttached = out('tc', ['filter', 'show', 'dev', job.ifname, 'ingress']) + out('tc', ['filter', 'show', 'dev', job.ifname, 'egress']);
    report.ping1 = ping(3);
    report.afterPing1 = read();
    if (ing.kind === 'tcx') {
      ing.pin(`${job.pinDir}/tcx_ingress`);
      report.pinExists = existsSync(`${job.pinDir}/tcx_ingress`);
    }
    ing.destroy();
    egr.destroy();
    if (ing.kind === 'tcx') report.pinExistsAfterDestroy = existsSync(`${job.pinDir}/tcx_ingress`);
    report.qdiscDetached = out('tc', ['qdisc', 'show', 'dev', job.ifname]);
    report.filtersDetached = out('tc', ['filter', 'show', 'dev', job.ifname, 'ingress']) + out('tc', ['filter', 'show', 'dev', job.ifname, 'egress']);
  }
  report.ping3 = ping(2);
  report.afterDetach = read();
}

try {
  if (job.op === 'tcx-anchors') tcxAnchors();
  else counted();
} catch (e) {
  report.error = e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e);
} finally {
  for (const l of links) {
    try {
      l.destroy();
    } catch {
      // already reported through report.error
    }
  }
  obj.close();
  if (existsSync(job.pinDir)) removePinTree(job.pinDir);
}
process.stdout.write(`${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}\n`);
