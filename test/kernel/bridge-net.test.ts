// Real attachment on a veth pair between two namespaces created here, with real ping traffic
// (IPv4 and IPv6) counted by the attached programs: XDP native and generic (with link update,
// pin, and a clean detach), TCX ingress/egress, and the clsact fallback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { haveTool, isRoot, makeVethPair, objectsBuilt, repoRoot, requireOrSkip, runInNs, testObj, uniqueName, type VethPair } from './bridge-util.js';

const helper = path.join(repoRoot, 'dist', 'test', 'kernel', 'bridge-nshelper.js');

interface Report {
  error?: string;
  mode?: string;
  kinds?: string[];
  before: string[];
  afterPing1: string[];
  afterUpdate?: string[];
  afterDetach: string[];
  ping1: { v4: boolean; v6: boolean };
  ping2?: { v4: boolean; v6: boolean };
  ping3: { v4: boolean; v6: boolean };
  ipLinkAttached?: string;
  ipLinkDetached?: string;
  pinExists?: boolean;
  pinFdValid?: boolean;
  pinExistsAfterDestroy?: boolean;
  qdiscAttached?: string;
  qdiscDetached?: string;
  filtersAttached?: string;
  filtersDetached?: string;
}

function runHelper(pair: VethPair, job: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Report {
  const r = runInNs(pair.nsB, process.execPath, [helper, JSON.stringify({ obj: testObj('bridge_net'), ifname: pair.ifB, peer4: pair.a4, peer6: pair.a6, pinDir: `/sys/fs/bpf/${uniqueName('snt')}`, ...job })], env);
  assert.equal(r.status, 0, `helper failed: ${r.stderr}`);
  const rep = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Report;
  assert.equal(rep.error, undefined, `helper error: ${rep.error}`);
  return rep;
}

const n = (s: string): number => Number(s);

function prereqs(t: import('node:test').TestContext): boolean {
  return (
    requireOrSkip(t, isRoot(), 'root is needed to create namespaces and attach programs') &&
    requireOrSkip(t, haveTool('ip') && haveTool('ping') && haveTool('tc'), 'iproute2 (ip, tc) and ping') &&
    requireOrSkip(t, objectsBuilt('bridge_net'), 'build/bpf-test/bridge_net.bpf.o (make bpf)')
  );
}

for (const mode of ['native', 'generic'] as const) {
  test(`XDP ${mode}: attach on veth, count real IPv4/IPv6 echo replies, update, pin, detach cleanly`, (t) => {
    if (!prereqs(t)) return;
    const pair = makeVethPair();
    try {
      const r = runHelper(pair, { op: 'xdp', mode });
      assert.equal(r.mode, mode);
      // iproute2 shows native XDP as "xdp" and generic as "xdpgeneric", each with the prog id
      const shown = mode === 'native' ? /\bxdp\b(?!generic)/ : /\bxdpgeneric\b/;
      assert.match(r.ipLinkAttached ?? '', shown, r.ipLinkAttached);
      assert.match(r.ipLinkAttached ?? '', /prog\/xdp id \d+/);
      assert.deepEqual(r.ping1, { v4: true, v6: true });
      assert.deepEqual(r.before.slice(0, 8).map(n), [0, 0, 0, 0, 0, 0, 0, 0]);
      // XDP sees the 3 echo replies of each family coming back on ifB
      assert.equal(n(r.afterPing1[0]), 3, 'IPv4 echo replies at XDP');
      assert.equal(n(r.afterPing1[1]), 3, 'IPv6 echo replies at XDP');
      // after linkUpdate the replacement program counts into slots 2/3 and 6, the old one stops
      assert.ok(r.afterUpdate);
      assert.deepEqual(r.ping2, { v4: true, v6: true });
      assert.equal(n(r.afterUpdate[0]), 3, 'old program no longer runs after update');
      assert.equal(n(r.afterUpdate[1]), 3);
      assert.equal(n(r.afterUpdate[2]), 2, 'replacement program saw IPv4 replies');
      assert.equal(n(r.afterUpdate[3]), 2, 'replacement program saw IPv6 replies');
      assert.ok(n(r.afterUpdate[6]) >= 4, 'replacement program ran on every packet');
      assert.equal(r.pinExists, true);
      assert.equal(r.pinFdValid, true);
      assert.equal(r.pinExistsAfterDestroy, false, 'destroy removes the pin it made');
      assert.doesNotMatch(r.ipLinkDetached ?? 'x', /\bxdp/, 'nothing left attached');
      assert.deepEqual(r.ping3, { v4: true, v6: true });
      assert.deepEqual(r.afterDetach, r.afterUpdate, 'no program runs after destroy');
    } finally {
      pair.destroy();
    }
  });
}

for (const forced of [false, true]) {
  const label = forced ? 'clsact fallback (SENTINEL_FORCE_CLSACT=1)' : 'TCX';
  test(`TC ${label}: ingress and egress count real IPv4/IPv6 echo traffic, detach leaves nothing`, (t) => {
    if (!prereqs(t)) return;
    const pair = makeVethPair();
    try {
      const env = { ...process.env, SENTINEL_FORCE_CLSACT: forced ? '1' : '0' };
      const r = runHelper(pair, { op: 'tc' }, env);
      const kind = forced ? 'clsact' : 'tcx';
      assert.deepEqual(r.kinds, [kind, kind]);
      assert.deepEqual(r.ping1, { v4: true, v6: true });
      // ifB sends 3 requests per family (egress) and receives 3 replies (ingress)
      assert.deepEqual(r.afterPing1.slice(0, 4).map(n), [3, 3, 3, 3]);
      if (forced) {
        assert.match(r.qdiscAttached ?? '', /qdisc clsact/);
        // the kernel keeps 15 characters of a program name
        assert.match(r.filtersAttached ?? '', /bpf .*name tc_count_ingres\b/);
        assert.match(r.filtersAttached ?? '', /bpf .*name tc_count_egress\b/);
        assert.doesNotMatch(r.qdiscDetached ?? '', /clsact/, 'the qdisc we created is removed with our last filter');
      } else {
        assert.doesNotMatch(r.qdiscAttached ?? '', /clsact/, 'TCX needs no qdisc');
        assert.equal(r.pinExists, true);
        assert.equal(r.pinExistsAfterDestroy, false);
      }
      assert.doesNotMatch(r.filtersDetached ?? '', /bpf/);
      assert.deepEqual(r.ping3, { v4: true, v6: true });
      assert.deepEqual(r.afterDetach, r.afterPing1, 'nothing counted after detach');
    } finally {
      pair.destroy();
    }
  });
}

interface HookReport {
  revision: string;
  progIds: number[];
  linkIds: number[];
}

interface AnchorReport {
  error?: string;
  empty: HookReport;
  a: { id: number; kind: string; priority: number };
  b: { id: number };
  c: { id: number };
  afterA: HookReport;
  stale: string;
  afterStale: HookReport;
  afterB: HookReport;
  afterC: HookReport;
  missingAnchor: string;
  qdiscAfterMissing: string;
  bothAnchors: string;
  afterDestroyC: HookReport;
  afterAll: HookReport;
}

test('TCX anchors: query in kernel order with revisions, insert before/after a link by id, ESTALE on a stale revision, no clsact fallback on a bad anchor', (t) => {
  if (!(prereqs(t) && requireOrSkip(t, objectsBuilt('tc_stages'), 'build/bpf-test/tc_stages.bpf.o (make bpf)'))) return;
  const pair = makeVethPair();
  try {
    const r = runHelper(pair, { op: 'tcx-anchors', obj: testObj('tc_stages') }) as unknown as AnchorReport;
    // a hook nothing was attached to: no programs (revision 0 or 1 by kernel version)
    assert.deepEqual({ progIds: r.empty.progIds, linkIds: r.empty.linkIds }, { progIds: [], linkIds: [] });
    const { a, b, c } = r;
    assert.equal(a.kind, 'tcx');
    assert.ok(a.id > 0 && b.id > 0 && c.id > 0 && new Set([a.id, b.id, c.id]).size === 3, 'each link reports its own kernel id');
    assert.equal(a.priority, 0);
    assert.deepEqual(r.afterA.linkIds, [a.id]);
    assert.ok(BigInt(r.afterA.revision) > 0n);
    assert.equal(r.stale, 'ESTALE', 'a revision the hook is not at is refused');
    assert.deepEqual(r.afterStale, r.afterA, 'and nothing changed');
    assert.deepEqual(r.afterB.linkIds, [b.id, a.id], 'before a');
    assert.equal(BigInt(r.afterB.revision), BigInt(r.afterA.revision) + 1n, 'each change bumps the revision');
    assert.deepEqual(r.afterC.linkIds, [b.id, c.id, a.id], 'after b');
    assert.equal(new Set(r.afterC.progIds).size, 3, 'one program id per link, in the same order');
    assert.equal(r.missingAnchor, 'ENOENT', 'an anchor that does not exist is an error');
    assert.doesNotMatch(r.qdiscAfterMissing, /clsact/, 'not a reason to fall back to clsact');
    assert.equal(r.bothAnchors, 'ERR_INVALID_ARG', 'before and after together are refused');
    assert.deepEqual(r.afterDestroyC.linkIds, [b.id, a.id]);
    assert.deepEqual(r.afterAll.linkIds, [], 'the hook is empty again');
  } finally {
    pair.destroy();
  }
});
