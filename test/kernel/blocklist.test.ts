// The dynamic block list enforced by the real xdp-firewall (BPF_PROG_TEST_RUN): the service writes
// the pinned tries the agent creates from blocklist.bpf.o, the firewall object reuses them by
// name, and frames are judged by the kernel. Source and destination scope, IPv4 and IPv6,
// networks and single addresses, owners, expiry on the service's timer, the bound, per-entry
// counters and sampled events; entries outlive a policy reload, a firewall stop/start (a new
// firewall object on the same pins) and an agent restart (new maps filled from the store).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlocklistKernel } from '../../src/blocklist/kernel.js';
import { BlocklistService } from '../../src/blocklist/service.js';
import { BLOCKLIST_KERNEL_CAPACITY, BlocklistError, type BlockRequest } from '../../src/blocklist/types.js';
import { ensureBpffsSync, removePinTree } from '../../src/kernel/bpffs.js';
import { loadNative } from '../../src/kernel/native.js';
import { parseCidr } from '../../src/net/ip.js';
import { Store } from '../../src/store/index.js';
import { FIREWALL_OBJECT, FirewallHarness, firewallSkipReason, FW_ACT, FW_REASON, XDP_DROP, XDP_PASS } from '../support/firewall-harness.js';
import { udpFrame } from '../support/frames.js';
import { ManualClock } from '../support/manual-clock.js';

const skip = firewallSkipReason();
const OBJECT_DIR = path.dirname(FIREWALL_OBJECT);
const SAMPLE_EVERY = 3;
const MAX_ENTRIES = 12;

const NET = {
  4: { server: '198.18.1.1', net: '198.18.40.0/24', inside: '198.18.40.9', outside: '198.18.41.9', host: '198.18.42.7', dstNet: '198.18.50.0/24', dstNetHost: '198.18.50.8', srcInDstNet: '198.18.50.7' },
  6: { server: '2001:db8:1::1', net: '2001:db8:40::/48', inside: '2001:db8:40::9', outside: '2001:db8:41::9', host: '2001:db8:42::7', dstNet: '2001:db8:50::/64', dstNetHost: '2001:db8:50::8', srcInDstNet: '2001:db8:50::7' },
} as const;

const frame = (src: string, dst: string): Buffer => udpFrame({ src, dst, sport: 40000, dport: 5000 });

const POLICY_PASS = 'default_policy: pass\nrules:\n  - { id: deny-9, priority: 10, action: deny, protocol: udp, dst_port: 9 }\n';
const POLICY_DROP = 'default_policy: drop\nrules:\n  - { id: allow-5000, priority: 10, action: allow, protocol: udp, dst_port: 5000 }\n';

describe('block list in xdp-firewall (test-run)', { skip }, () => {
  const base = `/sys/fs/bpf/sn-bl-test-${process.pid}`;
  let pinDir = path.join(base, 'run1', 'maps');
  let dir: string;
  let store: Store;
  let clock: ManualClock;
  let service: BlocklistService;
  let h: FirewallHarness;
  const logged: string[] = [];

  const newService = (maxEntries = MAX_ENTRIES): BlocklistService =>
    new BlocklistService({
      target: BlocklistKernel.create(OBJECT_DIR, pinDir),
      repo: store.blocklist,
      audit: store.audit,
      clock,
      maxEntries,
      sampleEvery: SAMPLE_EVERY,
      log: { info: () => undefined, warn: (_o, m) => logged.push(m), error: (_o, m) => logged.push(m) },
    });

  const verdict = (src: string, dst: string): number => h.verdict(frame(src, dst));
  const add = (owner: string, req: BlockRequest) => service.add(owner, req);
  /** what the firewall object's tries hold */
  const kernelEntries = (): ReturnType<BlocklistKernel['entries']> => {
    const k = BlocklistKernel.over(h.kernel.obj);
    try {
      return k.entries();
    } finally {
      k.close();
    }
  };

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sn-bl-'));
    ensureBpffsSync(pinDir);
    store = Store.open({ path: path.join(dir, 'sentinel.db'), pruneIntervalMs: 0 });
    clock = new ManualClock(Date.now());
    // as the agent does: the list first (its maps pinned, filled), then the firewall reusing them
    service = newService();
    service.start();
    h = new FirewallHarness({ mapPinDir: pinDir });
    h.install(POLICY_PASS);
  });

  after(() => {
    h?.close();
    service?.close();
    store?.close();
    removePinTree(base);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the kernel tries hold what the header says, and the firewall object shares them by pin', () => {
    const k = BlocklistKernel.over(h.kernel.obj);
    try {
      assert.equal(k.capacity, BLOCKLIST_KERNEL_CAPACITY);
    } finally {
      k.close();
    }
    const native = loadNative();
    for (const name of ['bl_v4', 'bl_v6', 'bl_config']) {
      const fd = native.objGet(path.join(pinDir, name));
      try {
        assert.equal(native.mapInfo(fd).id, native.mapInfo(h.kernel.obj.mapFd(name)).id, `${name}: the firewall uses the pinned map`);
      } finally {
        native.closeFd(fd);
      }
    }
  });

  for (const fam of [4, 6] as const) {
    const n = NET[fam];

    it(`IPv${fam}: each scope's trie is looked up only while the service holds entries of that scope and family`, () => {
      // An entry written behind the service's back shows whether the kernel looks the trie up:
      // with no entry of its scope held, it must not (an empty list costs no lookup).
      const cases = [
        { scope: 'src' as const, raw: n.net, gate: `${n.outside}/${fam === 4 ? 32 : 128}`, hit: () => verdict(n.inside, n.server) },
        { scope: 'dst' as const, raw: `${n.host}/${fam === 4 ? 32 : 128}`, gate: n.dstNet, hit: () => verdict(n.server, n.host) },
      ];
      const k = BlocklistKernel.over(h.kernel.obj);
      try {
        for (const c of cases) {
          k.insert(parseCidr(c.raw), c.scope, 0x7fffff00);
          try {
            assert.equal(c.hit(), XDP_PASS, `${c.scope}: no ${c.scope} entry held, the trie is not looked up`);
            add('api:gate', { cidr: c.gate, direction: c.scope, reason: 'opens the lookup' });
            assert.equal(c.hit(), XDP_DROP, `${c.scope}: with one held, the trie is looked up and the entry found`);
            assert.equal(service.remove('api:gate', c.gate, c.scope), true);
            assert.equal(c.hit(), XDP_PASS, `${c.scope}: the last one out closes the lookup again`);
          } finally {
            k.remove(parseCidr(c.raw), c.scope);
          }
        }
      } finally {
        k.close();
      }
    });

    it(`IPv${fam}: a source network is dropped before the rules, counted per entry, events sampled`, () => {
      assert.equal(verdict(n.inside, n.server), XDP_PASS, 'passes before it is listed');
      const out = add('tc-threatintel', { cidr: n.net, reason: 'feed: known scanner' });
      assert.equal(out.created, true);
      assert.equal(out.entry.cidr, n.net);
      assert.equal(out.entry.family, fam);

      const first = h.judge(frame(n.inside, n.server));
      assert.equal(first.verdict, XDP_DROP);
      assert.equal(first.delta.blocklist, 1);
      assert.equal(first.delta.dropped, 1);
      assert.equal(first.delta.rule_hit, undefined, 'no rule was consulted');
      assert.equal(first.delta.default_policy, undefined);
      assert.equal(first.events.length, 1, 'the first drop of an entry is an event');
      const ev = first.events[0]!;
      assert.equal(ev.reason, FW_REASON.blocklist);
      assert.equal(ev.action, FW_ACT.drop);
      assert.equal(ev.ruleNum, out.entry.id, 'the event names the entry by its id');
      assert.equal(ev.src, n.inside);
      assert.deepEqual(service.describe(ev.ruleNum), { cidr: n.net, direction: 'src', owners: [{ owner: 'tc-threatintel', reason: 'feed: known scanner' }] });

      // drops 2 and 3 are counted without events; drop 4 (1 + SAMPLE_EVERY) is an event again
      for (let i = 2; i <= 4; i++) {
        const j = h.judge(frame(n.inside, n.server));
        assert.equal(j.verdict, XDP_DROP);
        assert.equal(j.delta.blocklist, 1);
        assert.equal(j.events.length, i === 1 + SAMPLE_EVERY ? 1 : 0, `drop ${i}`);
      }
      const listed = service.list({ family: fam, owner: 'tc-threatintel' });
      assert.equal(listed.total, 1);
      assert.equal(listed.entries[0]!.hits, 4, 'the entry counted every packet it dropped');

      assert.equal(verdict(n.outside, n.server), XDP_PASS, 'outside the network');
      assert.equal(verdict(n.server, n.inside), XDP_PASS, 'a source entry does not block packets to the network');
    });

    it(`IPv${fam}: destination entries block packets to them, not from them, beside source entries`, () => {
      assert.equal(verdict(n.server, n.host), XDP_PASS);
      const host = add('api:alice', { cidr: n.host, direction: 'dst', reason: 'exfil target' });
      assert.equal(host.entry.cidr, `${n.host}/${fam === 4 ? 32 : 128}`);
      assert.equal(verdict(n.server, n.host), XDP_DROP, 'to the address');
      assert.equal(verdict(n.host, n.server), XDP_PASS, 'from the address');

      add('api:alice', { cidr: n.dstNet, direction: 'dst', reason: 'sinkhole' });
      add('api:alice', { cidr: `${n.srcInDstNet}/${fam === 4 ? 32 : 128}`, reason: 'one host of it also sends' });
      assert.equal(verdict(n.server, n.dstNetHost), XDP_DROP, 'to the network');
      assert.equal(verdict(n.dstNetHost, n.server), XDP_PASS, 'a destination network entry is not a source entry');
      assert.equal(verdict(n.srcInDstNet, n.server), XDP_DROP, 'the source entry inside it');

      const e = h.judge(frame(n.server, n.host));
      assert.equal(e.verdict, XDP_DROP);
      assert.equal(e.delta.blocklist, 1);
      assert.equal(service.list({ direction: 'dst', match: n.host }).entries[0]!.hits, 2);

      for (const c of [n.host, n.dstNet]) assert.ok(service.apiRemove('alice', { cidr: c, direction: 'dst' }).removed.length === 1);
      service.remove('api:alice', `${n.srcInDstNet}/${fam === 4 ? 32 : 128}`);
      assert.equal(verdict(n.server, n.host), XDP_PASS, 'removed');
      assert.equal(verdict(n.server, n.dstNetHost), XDP_PASS);
      assert.equal(verdict(n.srcInDstNet, n.server), XDP_PASS);
    });

    it(`IPv${fam}: an address held by two owners stays blocked until the last lets go`, () => {
      add('api:bob', { cidr: n.net, reason: 'seen in our logs' });
      const both = service.list({ match: n.inside }).entries[0]!;
      assert.deepEqual(both.owners.map((o) => o.owner), ['tc-threatintel', 'api:bob']);
      assert.equal(service.remove('tc-threatintel', n.net), true);
      assert.equal(verdict(n.inside, n.server), XDP_DROP, "bob's hold keeps it");
      const gone = service.apiRemove('bob', { cidr: n.net });
      assert.equal(gone.remaining, null);
      assert.equal(verdict(n.inside, n.server), XDP_PASS);
      assert.equal(kernelEntries().filter((x) => x.family === fam).length, 0, 'the kernel entry went with the last hold');
      assert.equal(service.remove('tc-threatintel', n.net), false, 'removing what one does not hold is not an error, and changes nothing');
    });

    it(`IPv${fam}: an entry expires on the service's timer, counted, and the store forgets it`, () => {
      const before = service.status().expired;
      add('api:carol', { cidr: n.host, reason: 'for half a minute', ttlSecs: 30 });
      add('tc-threatintel', { cidr: n.outside, reason: 'no expiry' });
      assert.equal(verdict(n.host, n.server), XDP_DROP);
      clock.advance(29_000);
      assert.equal(verdict(n.host, n.server), XDP_DROP, 'not yet');
      clock.advance(1_001);
      assert.equal(verdict(n.host, n.server), XDP_PASS, 'expired');
      assert.equal(verdict(n.outside, n.server), XDP_DROP, 'the entry without ttl stays');
      assert.equal(service.status().expired, before + 1);
      assert.equal(service.counters().expiredBy.get('api:carol'), fam === 4 ? 1 : 2);
      assert.ok(!store.blocklist.load().some((r) => r.owner === 'api:carol'), 'the store row is gone');
      const audit = store.audit.query({ action: 'blocklist.expire', limit: 10 });
      assert.ok(audit.entries.some((a) => a.target === `${n.host}/${fam === 4 ? 32 : 128} src`), JSON.stringify(audit.entries));
      service.remove('tc-threatintel', n.outside);
    });

    it(`IPv${fam}: adding again renews the reason and expiry of the same entry`, () => {
      const a = add('api:dave', { cidr: n.net, reason: 'first look', ttlSecs: 60 });
      clock.advance(50_000);
      const b = add('api:dave', { cidr: n.net, reason: 'confirmed', ttlSecs: 60 });
      assert.equal(b.created, false);
      assert.equal(b.entry.id, a.entry.id, 'the same kernel entry');
      assert.equal(b.entry.owners.length, 1);
      assert.equal(b.entry.owners[0]!.reason, 'confirmed');
      assert.equal(b.entry.owners[0]!.created_at, a.entry.owners[0]!.created_at);
      assert.equal(Date.parse(b.entry.expires_at!), clock.now() + 60_000);
      clock.advance(20_000); // past the first expiry, within the renewed one
      assert.equal(verdict(n.inside, n.server), XDP_DROP, 'the renewal moved the expiry');
      const stored = store.blocklist.load().filter((r) => r.owner === 'api:dave');
      assert.deepEqual(stored.map((r) => [r.reason, r.expiresMs]), [['confirmed', clock.now() + 40_000]]);
      clock.advance(40_000);
      assert.equal(verdict(n.inside, n.server), XDP_PASS);
    });
  }

  it('bad requests name what is wrong, are counted, and change nothing', () => {
    const entries = service.status().entries;
    const refused = service.status().refused.invalid ?? 0;
    const cases: [BlockRequest, RegExp][] = [
      [{ cidr: '198.18.40.9/24', reason: 'x' }, /host bits.*did you mean 198\.18\.40\.0\/24/],
      [{ cidr: '::/0', reason: 'x' }, /every IPv6 address/],
      [{ cidr: 'not-an-ip', reason: 'x' }, /^cidr:/],
      [{ cidr: '198.18.40.0/24', reason: '  ' }, /reason/],
      [{ cidr: '198.18.40.0/24', reason: 'x', ttlSecs: 0 }, /ttl/],
      [{ cidr: '198.18.40.0/24', reason: 'x', direction: 'both' as 'src' }, /direction/],
    ];
    for (const [req, msg] of cases) {
      assert.throws(() => service.add('api:eve', req), (e: unknown) => e instanceof BlocklistError && e.code === 'invalid' && msg.test(e.message), JSON.stringify(req));
    }
    assert.throws(() => service.add('Not An Owner', { cidr: '198.18.40.0/24', reason: 'x' }), /owner/);
    assert.equal(service.status().entries, entries);
    assert.equal(service.status().refused.invalid, refused + cases.length + 1);
  });

  it('the bound refuses new entries with a clear error (counted); renewals still pass', () => {
    const st = service.status();
    const room = st.max_entries - st.entries;
    const held: string[] = [];
    for (let i = 0; i < room; i++) {
      const c = `198.18.60.${i}/32`;
      add('api:filler', { cidr: c, reason: 'fill' });
      held.push(c);
    }
    assert.throws(
      () => add('api:filler', { cidr: '2001:db8:60::1', reason: 'one too many' }),
      (e: unknown) => e instanceof BlocklistError && e.code === 'full' && /blocklist\.max_entries 12/.test(e.message),
    );
    assert.equal(service.status().refused.full, 1);
    assert.equal(verdict('2001:db8:60::1', '2001:db8:1::1'), XDP_PASS, 'nothing half-added');
    assert.equal(add('api:filler', { cidr: held[0]!, reason: 'renewed while full' }).created, false);
    for (const c of held) service.remove('api:filler', c);
  });

  it('entries outlive a policy reload and a firewall stop/start', () => {
    add('api:ops', { cidr: '198.18.40.0/24', reason: 'kept' });
    add('api:ops', { cidr: '2001:db8:42::7', direction: 'dst', reason: 'kept' });
    h.install(POLICY_DROP);
    assert.equal(verdict('198.18.40.9', '198.18.1.1'), XDP_DROP, 'IPv4 source entry after the reload');
    assert.equal(verdict('2001:db8:1::1', '2001:db8:42::7'), XDP_DROP, 'IPv6 destination entry after the reload');
    assert.equal(verdict('198.18.41.9', '198.18.1.1'), XDP_PASS, 'the new policy allows the rest');

    // stop: the firewall object goes; start: a new one on the same pins
    h.close();
    h = new FirewallHarness({ mapPinDir: pinDir });
    h.install(POLICY_PASS);
    assert.equal(verdict('198.18.40.9', '198.18.1.1'), XDP_DROP);
    assert.equal(verdict('2001:db8:1::1', '2001:db8:42::7'), XDP_DROP);
    assert.equal(verdict('2001:db8:42::7', '2001:db8:1::1'), XDP_PASS);
  });

  it('an agent restart puts the stored entries back into new maps; those that expired meanwhile are counted, not restored', () => {
    add('api:ops', { cidr: '2001:db8:40::/48', reason: 'kept across restarts', ttlSecs: 3600 });
    add('api:ops', { cidr: '198.18.43.1', reason: 'short', ttlSecs: 10 });
    const before = service.list().entries.map((e) => `${e.direction} ${e.cidr}`).sort();
    // the agent stops: its maps and pins go
    h.close();
    service.close();
    removePinTree(path.dirname(pinDir));
    clock.advance(11_000);

    pinDir = path.join(base, 'run2', 'maps');
    ensureBpffsSync(pinDir);
    service = newService();
    assert.deepEqual(service.start(), { restored: before.length - 1, expired: 1 });
    h = new FirewallHarness({ mapPinDir: pinDir });
    h.install(POLICY_PASS);
    assert.deepEqual(service.list().entries.map((e) => `${e.direction} ${e.cidr}`).sort(), before.filter((e) => e !== 'src 198.18.43.1/32'));
    assert.equal(verdict('198.18.40.9', '198.18.1.1'), XDP_DROP);
    assert.equal(verdict('2001:db8:40::9', '2001:db8:1::1'), XDP_DROP);
    assert.equal(verdict('2001:db8:1::1', '2001:db8:42::7'), XDP_DROP);
    assert.equal(verdict('198.18.43.1', '198.18.1.1'), XDP_PASS, 'expired while the agent was down');
    assert.equal(service.status().expired, 1);
    clock.advance(3600_000);
    assert.equal(verdict('2001:db8:40::9', '2001:db8:1::1'), XDP_PASS, 'the restored entry kept its expiry');
    assert.deepEqual(logged, []);
  });
});
