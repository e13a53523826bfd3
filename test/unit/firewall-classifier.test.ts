// The classifier (classifier.ts) against the linear first-match oracle (matchPacket): random
// policies and edge-biased packets must get the same rule and action through the DAG walk as
// through the plain scan. Pure TS; FW_CLS_SEED reproduces a run.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildClassifier, classifierCandidates, ClassifierFitError, DEFAULT_LEAF_TARGET, packetKey } from '../../src/engines/firewall/classifier.js';
import { classifyPacket, compileFirewall, matchPacket, type CompiledFirewall } from '../../src/engines/firewall/compile.js';
import { firewallSchema } from '../../src/engines/firewall/schema.js';
import { prng, Rand, randomFacts, randomPolicy } from '../support/firewall-random.js';
import { fw_leaf_entry, fw_limits, fw_ref } from '../../src/kernel/contract.gen.js';

const SEED = process.env.FW_CLS_SEED ? Number(process.env.FW_CLS_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;

function compile(section: Record<string, unknown>): CompiledFirewall {
  return compileFirewall(firewallSchema.parse(section), new Map());
}

describe('firewall classifier', () => {
  it(`agrees with the linear oracle on random policies (seed ${SEED})`, (t) => {
    t.diagnostic(`FW_CLS_SEED=${SEED} reproduces this run`);
    const r = new Rand(prng(SEED));
    let packets = 0;
    let byRule = 0;
    let wideRoots = 0;
    let filters = 0;
    for (let s = 0; s < 600; s++) {
      const section = randomPolicy(r, r.int(1, 80), { reject: true });
      const c = compile(section);
      wideRoots += c.classifier.stats.wideRoots;
      for (const e of c.classifier.leafSlots) if (e >>> fw_leaf_entry.FW_LEAF_MASKLEN_SHIFT) filters++;
      for (let p = 0; p < 60; p++) {
        const f = randomFacts(r, section);
        const want = matchPacket(c, f);
        const got = classifyPacket(c, f);
        assert.deepEqual(got, want, `seed ${SEED} set ${s} packet ${p}: ${JSON.stringify({ ...f, src: [...f.src], dst: [...f.dst] })}\npolicy ${JSON.stringify(section)}`);
        packets++;
        if (want.ruleId) byRule++;
      }
    }
    // The edge bias must make rules decide often, or the comparison says little; and the walks
    // must go through wide roots and leaf filters, or they are not what was compared.
    assert.ok(byRule > packets * 0.3, `${byRule} of ${packets} packets were decided by a rule`);
    assert.ok(wideRoots > 50, `${wideRoots} wide roots over 600 policies`);
    assert.ok(filters > 1000, `${filters} filtered leaf entries over 600 policies`);
  });

  it('keeps leaves small and the walk shallow for many disjoint rules', () => {
    const rules = Array.from({ length: 2000 }, (_, i) => ({
      id: `svc${i}`,
      priority: i + 1,
      action: i % 2 ? 'allow' : 'deny',
      protocol: i % 3 ? 'tcp' : 'udp',
      dst_ip: i % 5 ? `198.18.${(i >> 8) & 1}.${i & 255}` : `2001:db8::${i.toString(16)}`,
      dst_port: String(1000 + (i % 700)),
    }));
    const c = compile({ rules });
    assert.ok(c.classifier.stats.maxLeaf <= 8, `largest leaf ${c.classifier.stats.maxLeaf}`);
    assert.ok(c.classifier.stats.maxDepth <= fw_limits.FW_MAX_DEPTH);
    // every rule is reachable: its own packet finds it
    for (const [i, rl] of rules.entries()) {
      const v6 = rl.dst_ip.includes(':');
      const dst = new Uint8Array(16);
      if (v6) {
        dst.set([0x20, 0x01, 0x0d, 0xb8]);
        dst[14] = i >> 8;
        dst[15] = i & 255;
      } else dst.set([198, 18, (i >> 8) & 1, i & 255]);
      const f = { family: v6 ? (6 as const) : (4 as const), src: new Uint8Array(16), dst, proto: rl.protocol === 'tcp' ? 6 : 17, srcPort: 40000, dstPort: 1000 + (i % 700) };
      assert.equal(classifyPacket(c, f).ruleId, rl.id);
    }
  });

  it('gives each packet family trees of its own: they hold its rules and family-less ones only', () => {
    const rules = Array.from({ length: 400 }, (_, i) => ({
      id: `r${i}`,
      priority: i + 1,
      action: i % 2 ? 'allow' : 'deny',
      protocol: i % 3 ? 'tcp' : 'udp',
      ...(i % 7 === 0 ? {} : { dst_ip: i % 2 ? `198.18.${i & 255}.0/24` : `2001:db8:${i.toString(16)}::/64` }),
      dst_port: String(1000 + i),
    }));
    const c = compile({ rules });
    const cls = c.classifier;
    const slotsUnder = (root: number): Set<number> => {
      const out = new Set<number>();
      const seen = new Set<number>();
      const visit = (ref: number): void => {
        if (seen.has(ref)) return;
        seen.add(ref);
        if (ref & fw_ref.FW_REF_LEAF) {
          const start = ref & fw_ref.FW_REF_SLOT_MASK;
          const n = (ref >>> fw_ref.FW_REF_COUNT_SHIFT) & fw_ref.FW_REF_COUNT_MASK;
          for (const e of cls.leafSlots.subarray(start, start + n)) out.add(e & fw_leaf_entry.FW_LEAF_SLOT_MASK);
          return;
        }
        if (ref & fw_ref.FW_REF_WIDE) {
          const table = cls.wide.get(ref & fw_ref.FW_REF_TABLE_MASK);
          assert.ok(table, `wide root ${ref.toString(16)} without its table`);
          for (const child of new Set(table)) visit(child);
          return;
        }
        const node = ref & fw_ref.FW_REF_NODE_MASK;
        for (const child of cls.nodes.subarray(node * 256, node * 256 + 256)) visit(child);
      };
      visit(root);
      return out;
    };
    for (const fam of [4, 6] as const) {
      assert.ok(cls.roots[fam].length >= 1 && cls.roots[fam].length <= fw_limits.FW_MAX_TREES, `IPv${fam}: ${cls.roots[fam].length} trees`);
      const reach = new Set<number>();
      for (const root of cls.roots[fam]) for (const s of slotsUnder(root)) reach.add(s);
      for (const s of reach) {
        const r = c.rules[s]!;
        assert.ok(r.family === 0 || r.family === fam, `IPv${fam} trees reach rule ${r.ruleId} of family ${r.family}`);
      }
      // and every rule of the family (or of none) is reachable from them
      c.rules.forEach((r, s) => {
        if (r.family === 0 || r.family === fam) assert.ok(reach.has(s), `rule ${r.ruleId} is missing from the IPv${fam} trees`);
      });
    }
  });

  it('skips leaf candidates by their filter byte without reading the rule, and only those that cannot match', () => {
    const c = compile({
      rules: [
        { id: 'imaps-from-ephemeral', priority: 1, action: 'allow', protocol: 'tcp', src_port: '40000-40100', dst_port: '993' },
        { id: 'web', priority: 2, action: 'allow', protocol: 'tcp', dst_port: '80' },
      ],
    });
    // One tree, one leaf holds both rules (a leaf target of 8 leaves nothing to cut).
    const cls = buildClassifier(c.rules, { leafTarget: 8 });
    assert.equal(cls.stats.leaves, 1);
    const src = (a: string): Uint8Array => Uint8Array.from([...a.split('.').map(Number), ...new Array<number>(12).fill(0)]);
    const facts = (sport: number, port: number) => ({ family: 4 as const, src: src('198.19.0.7'), dst: src('198.18.0.10'), proto: 6, srcPort: sport, dstPort: port });
    const key = (sport: number, port: number): Uint8Array => packetKey(facts(sport, port));
    // Each rule's filter is its destination port's low byte, the most telling byte it needs.
    assert.deepEqual(classifierCandidates(cls, key(40000, 443)), []);
    assert.deepEqual(classifierCandidates(cls, key(40000, 80)), [1]);
    assert.deepEqual(classifierCandidates(cls, key(40000, 993)), [0]);
    // A filter is only a necessary condition: a packet passing it still gets the full check.
    assert.deepEqual(classifierCandidates(cls, key(50000, 993)), [0]);
    assert.equal(classifyPacket({ ...c, classifier: cls }, facts(50000, 993)).ruleId, null);
    assert.equal(classifyPacket({ ...c, classifier: cls }, facts(40050, 993)).ruleId, 'imaps-from-ephemeral');
    // A port range within one high byte filters on that byte; 0x0150 (336) is outside 256..300's 0x01.
    const r = compile({ rules: [{ id: 'range', priority: 1, action: 'allow', protocol: 'udp', dst_port: '256-300' }] });
    const rc = buildClassifier(r.rules, { leafTarget: 8 });
    const udp = (port: number): Uint8Array => packetKey({ family: 4, src: src('198.19.0.7'), dst: src('198.18.0.10'), proto: 17, srcPort: 40000, dstPort: port });
    assert.deepEqual(classifierCandidates(rc, udp(0x0250)), []);
    assert.deepEqual(classifierCandidates(rc, udp(0x0150)), [0]);
  });

  it('flattens a root and its children into a wide table that leads where the two cuts lead', () => {
    const rules = Array.from({ length: 600 }, (_, i) => ({
      id: `r${i}`,
      priority: i + 1,
      action: i % 2 ? 'allow' : 'deny',
      protocol: 'tcp',
      dst_ip: `198.${18 + (i % 2)}.${(i * 7) & 255}.${i & 255}/32`,
      dst_port: String(1000 + (i % 50)),
    }));
    // leaves of one rule: the root's children are inner nodes, whatever the default leaf size
    const c0 = compile({ rules });
    const c = { ...c0, classifier: buildClassifier(c0.rules, { leafTarget: 1 }) };
    assert.ok(c.classifier.stats.wideRoots >= 1, 'a root over inner nodes becomes wide');
    const root = c.classifier.roots[4][0]!;
    assert.equal(root & (fw_ref.FW_REF_WIDE | fw_ref.FW_REF_LEAF), fw_ref.FW_REF_WIDE);
    for (let i = 0; i < rules.length; i += 7) {
      const rl = rules[i]!;
      const [a, b, x, y] = rl.dst_ip.split('/')[0]!.split('.').map(Number);
      const f = { family: 4 as const, src: new Uint8Array(16), dst: Uint8Array.from([a!, b!, x!, y!, ...new Array<number>(12).fill(0)]), proto: 6, srcPort: 40000, dstPort: Number(rl.dst_port) };
      assert.deepEqual(classifyPacket(c, f), matchPacket(c, f));
    }
  });

  it('drops rules shadowed by an earlier rule covering the region', () => {
    const c = compile({ rules: [{ id: 'all-tcp', priority: 1, action: 'deny', protocol: 'tcp' }, ...Array.from({ length: 50 }, (_, i) => ({ id: `t${i}`, priority: i + 2, action: 'allow', protocol: 'tcp', dst_port: String(i + 1) }))] });
    const key = packetKey({ family: 4, src: new Uint8Array(16), dst: new Uint8Array(16), proto: 6, srcPort: 1, dstPort: 5 });
    assert.equal(key.length, 48);
    assert.ok(c.classifier.leafSlots.length < 10, `${c.classifier.leafSlots.length} leaf slots: the shadowed rules must be gone`);
  });

  it('degrades to bigger leaves under a small node budget, then refuses with a clear error', () => {
    const rules = compile({
      rules: Array.from({ length: 300 }, (_, i) => ({ id: `x${i}`, priority: i + 1, action: 'deny', protocol: 'tcp', dst_port: String(i + 1), src_ip: `198.18.${i & 1}.${i & 255}/31` })),
    }).rules;
    const roomy = buildClassifier(rules);
    assert.equal(roomy.stats.leafTarget, DEFAULT_LEAF_TARGET, 'with room, the default leaf size');
    const small = buildClassifier(rules, { nodes: 4 });
    assert.ok(small.stats.nodes <= 4 && small.stats.leafTarget > DEFAULT_LEAF_TARGET, JSON.stringify(small.stats));
    assert.throws(() => buildClassifier(rules, { nodes: 1, leafSlots: 10 }), (e: unknown) => e instanceof ClassifierFitError && /do not fit the kernel classifier/.test(e.message));
  });
});
