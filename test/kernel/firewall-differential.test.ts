// Differential test: 5,000 random rule sets (1-60 rules: IPv4 and IPv6 CIDRs of random lengths,
// port ranges, protocols, VLAN, ICMP type/code, conntrack states, every action), each compiled,
// written to the kernel and probed with random packets biased to rule edges through
// BPF_PROG_TEST_RUN; then rule sets of 2,000-5,000 rules (largePolicy: real-shaped, mostly
// disjoint networks, then dense random rules). The kernel's verdict and
// deciding rule must equal the plain linear first-match reference (matchPacket) for every
// packet; the rule is read back from the event (drop/log/reject) or from the rule's hit counter
// (pass), the default from its counter.
//
// Conntrack state is made real, not assumed: TCP packets carry random flags (invalid ones make
// the kernel say `invalid`), some flows get a live entry with a reply seen in ct_table
// (`established`, except for a pure SYN, which is `new` whatever the table holds), and ICMP
// errors quote a real packet: `related` when the quoted flow has a live entry, `new` when it has
// none, `invalid` when the error quotes nothing the kernel can read. Seeded: FW_DIFF_SEED
// reproduces a run; FW_DIFF_SETS / FW_DIFF_PACKETS scale it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FirewallCompileError, matchPacket, type CompiledFirewall, type PacketFacts } from '../../src/engines/firewall/compile.js';
import { compileFirewall } from '../../src/engines/firewall/compile.js';
import { buildClassifier } from '../../src/engines/firewall/classifier.js';
import { firewallSchema } from '../../src/engines/firewall/schema.js';
import { bytesCodec } from '../../src/kernel/map.js';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { buildFrame, ipPacketOf, type TcpFlagName } from '../support/frames.js';
import { firewallSkipReason, FW_ACT, useFirewall, XDP_DROP, XDP_PASS } from '../support/firewall-harness.js';
import { factsText, frameSpecOfFacts, largePolicy, prng, Rand, randomFacts, randomPolicy } from '../support/firewall-random.js';
import { fw_limits } from '../../src/kernel/contract.gen.js';

const skip = firewallSkipReason();
const SEED = process.env.FW_DIFF_SEED ? Number(process.env.FW_DIFF_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
const SETS = Number(process.env.FW_DIFF_SETS ?? 5000);
const PACKETS = Number(process.env.FW_DIFF_PACKETS ?? 6);
const XDP_TX = 3;
/** FW_LEAF_INLINE: candidates a leaf checks without bpf_loop */
const LEAF_INLINE = fw_limits.FW_LEAF_INLINE;

const CT = { new: 0, established: 1, related: 2, invalid: 3 } as const;
const TCP_FLAG_SETS: { flags: TcpFlagName[]; invalid: boolean }[] = [
  { flags: ['syn'], invalid: false },
  { flags: ['ack'], invalid: false },
  { flags: ['psh', 'ack'], invalid: false },
  { flags: ['fin', 'ack'], invalid: false },
  { flags: ['rst'], invalid: false },
  { flags: ['syn', 'fin'], invalid: true },
  { flags: ['syn', 'rst'], invalid: true },
  { flags: [], invalid: true },
  { flags: ['fin'], invalid: true },
  { flags: ['psh'], invalid: true },
];

function isIcmpError(f: PacketFacts): boolean {
  if (f.laterFragment) return false;
  if (f.family === 4 && f.proto === 1) return [3, 11, 12].includes(f.icmpType ?? 0);
  if (f.family === 6 && f.proto === 58) return (f.icmpType ?? 0) >= 1 && (f.icmpType ?? 0) <= 4;
  return false;
}

interface Probe {
  frame: Buffer;
  facts: PacketFacts;
  /** a ct_table entry to install before the packet (established or related), as key/value */
  ct: { key: Buffer; value: Buffer } | null;
  text: string;
}

/** The ct_key of a TCP/UDP packet (normalised as ct_key_fill does: lower endpoint is a). */
function ctKeyOf(f: PacketFacts): Buffer {
  const K = layouts.ct_key.fields;
  const k = Buffer.alloc(layouts.ct_key.size);
  const src = Buffer.from(f.src.subarray(0, 16));
  const dst = Buffer.from(f.dst.subarray(0, 16));
  const sp = f.srcPort ?? 0;
  const dp = f.dstPort ?? 0;
  const c = Buffer.compare(src, dst) || sp - dp;
  const [a, pa, b, pb] = c <= 0 ? [src, sp, dst, dp] : [dst, dp, src, sp];
  a.copy(k, K.addr_a.offset);
  b.copy(k, K.addr_b.offset);
  k.writeUInt16LE(pa, K.port_a.offset);
  k.writeUInt16LE(pb, K.port_b.offset);
  k.writeUInt8(f.family, K.family.offset);
  k.writeUInt8(f.proto, K.proto.offset);
  return k;
}

function ctEstablished(): Buffer {
  const E = layouts.ct_entry.fields;
  const v = Buffer.alloc(layouts.ct_entry.size);
  v.writeBigUInt64LE(0x7fff_ffff_ffff_ffffn, E.expires_ns.offset); // live for the whole run
  v.writeUInt8(0x01 | 0x02 | 0x04, E.flags.offset); // initiator is a, reply seen, assured
  v.writeUInt8(4, E.state.offset);
  return v;
}

/** A random address of the family in the 2001:db8::/32 or 198.18.0.0/15 test ranges. */
function otherAddr(r: Rand, family: 4 | 6): Uint8Array {
  const a = new Uint8Array(16);
  if (family === 4) a.set([198, 19, r.int(0, 255), r.int(1, 254)]);
  else a.set([0x20, 0x01, 0x0d, 0xb8, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, r.int(0, 255), r.int(1, 254)]);
  return a;
}

function probe(r: Rand, section: Record<string, unknown>): Probe {
  const f = randomFacts(r, section);
  let state: number = CT.new;
  let ct: Probe['ct'] = null;
  let pureSyn = false;
  let flags: TcpFlagName[] = ['ack'];
  let quote: Buffer | null = null;
  if (f.proto === 6 && !f.laterFragment) {
    const fl = r.pick(TCP_FLAG_SETS);
    flags = fl.flags;
    if (fl.invalid) state = CT.invalid;
    pureSyn = fl.flags.length === 1 && fl.flags[0] === 'syn';
  }
  if ((f.proto === 1 || f.proto === 58) && isIcmpError(f)) {
    if (r.chance(0.75)) {
      // The error quotes a packet the receiver sent (from its address, f.dst): related when
      // that flow is live in the table, new when it is not.
      const q: PacketFacts = { family: f.family, src: f.dst, dst: otherAddr(r, f.family), proto: r.pick([6, 17]), srcPort: r.int(1024, 65535), dstPort: r.pick([53, 80, 443]) };
      const qspec = frameSpecOfFacts(r, q, ['syn']);
      quote = ipPacketOf(buildFrame(qspec));
      if (r.chance(0.6)) {
        state = CT.related;
        ct = { key: ctKeyOf(q), value: ctEstablished() };
      }
    } else state = CT.invalid; // an error quoting no packet: the kernel cannot relate it to a flow
  }
  if (state === CT.new && !quote && (f.proto === 6 || f.proto === 17) && !f.laterFragment && r.chance(0.35)) {
    // A pure SYN is `new` whatever the table holds (it opens a connection attempt): the
    // entry is written anyway, so the kernel is seen to ignore it.
    state = pureSyn ? CT.new : CT.established;
    ct = { key: ctKeyOf(f), value: ctEstablished() };
  }
  f.ctState = state;
  const spec = frameSpecOfFacts(r, f, flags);
  if (quote) spec.payload = quote;
  return { frame: buildFrame(spec), facts: f, ct, text: `${factsText(f)} ct ${state}${quote ? ' quoting a packet' : ''}` };
}

type Outcomes = Record<'pass' | 'drop' | 'log' | 'reject' | 'byRule' | 'byDefault' | 'v4' | 'v6' | 'established' | 'related' | 'invalid', number>;

/** Runs `sets` random rule sets through the kernel and the reference matcher; `shape` may
 * rebuild the compiled policy's classifier (the reference decides from the rules alone). */
function runSets(
  h: ReturnType<ReturnType<typeof useFirewall>>,
  seed: number,
  sets: number,
  shape: (c: CompiledFirewall) => CompiledFirewall,
  size: { rules: [number, number]; packets: number; large?: boolean } = { rules: [1, 60], packets: PACKETS },
): { outcomes: Outcomes; redrawn: number } {
  const ctMap = h.kernel.obj.map('ct_table', bytesCodec(layouts.ct_key.size), bytesCodec(layouts.ct_entry.size));
  const r = new Rand(prng(seed));
  const outcomes: Outcomes = { pass: 0, drop: 0, log: 0, reject: 0, byRule: 0, byDefault: 0, v4: 0, v6: 0, established: 0, related: 0, invalid: 0 };
  let redrawn = 0;
  for (let s = 0; s < sets; s++) {
    let section: Record<string, unknown>;
    let compiled: CompiledFirewall;
    for (;;) {
      const n = r.int(size.rules[0], size.rules[1]);
      section = size.large ? largePolicy(r, n, 30) : randomPolicy(r, n, { reject: true });
      try {
        compiled = shape(compileFirewall(firewallSchema.parse(section), new Map()));
        break;
      } catch (e) {
        if (!(e instanceof FirewallCompileError)) throw e;
        redrawn++;
      }
    }
    const applied = h.kernel.writer.apply(compiled);
    h.drainEvents();
    for (let p = 0; p < size.packets; p++) {
      const pk = probe(r, section);
      const want = matchPacket(compiled, pk.facts);
      const where = (): string => `FW_DIFF_SEED=${seed} set ${s} packet ${p}: ${pk.text}\nwant ${want.action} by ${want.ruleId ?? 'default'}\npolicy ${JSON.stringify(section)}`;
      const num = want.ruleId ? applied.ruleNums.get(want.ruleId)! : 0;
      const hit0 = want.ruleId && want.action === 'pass' ? h.kernel.readRuleHits([num])[0]!.packets : 0n;
      const c0 = h.counters();
      if (pk.ct) ctMap.update(pk.ct.key, pk.ct.value);
      const verdict = h.verdict(pk.frame);
      if (pk.ct) ctMap.delete(pk.ct.key);
      const c1 = h.counters();
      const events = h.drainEvents();
      const ok = want.action === 'drop' ? [XDP_DROP] : want.action === 'reject' ? [XDP_TX, XDP_DROP] : [XDP_PASS];
      assert.ok(ok.includes(verdict), `verdict ${verdict}, want one of ${ok.join('/')}; ${where()}`);
      if (want.action === 'pass') {
        assert.deepEqual(events, [], `no event for a pass; ${where()}`);
        if (want.ruleId) {
          const hit1 = h.kernel.readRuleHits([num])[0]!.packets;
          assert.equal(hit1 - hit0, 1n, `rule ${want.ruleId} must decide (hit counter); ${where()}`);
          assert.equal(c1.rule_hit - c0.rule_hit, 1n, `one rule hit; ${where()}`);
        } else assert.equal(c1.default_policy - c0.default_policy, 1n, `the default must decide; ${where()}`);
      } else {
        assert.deepEqual(
          events.map((e) => [e.ruleNum, e.action]),
          [[num, FW_ACT[want.action]]],
          `event names the deciding rule and action; ${where()}`,
        );
      }
      assert.equal(c1.tree_broken - c0.tree_broken, 0n, `classifier walk ended off a leaf; ${where()}`);
      outcomes[want.action]++;
      if (want.ruleId) outcomes.byRule++;
      else outcomes.byDefault++;
      outcomes[pk.facts.family === 4 ? 'v4' : 'v6']++;
      if (pk.facts.ctState === CT.established) outcomes.established++;
      if (pk.facts.ctState === CT.related) outcomes.related++;
      if (pk.facts.ctState === CT.invalid) outcomes.invalid++;
    }
  }
  return { outcomes, redrawn };
}

describe('xdp-firewall differential: kernel vs linear reference matcher (test-run)', { skip }, () => {
  const fw = useFirewall();

  it(`${SETS} random rule sets x ${PACKETS} edge-biased packets agree, IPv4 and IPv6 (seed ${SEED})`, (t) => {
    t.diagnostic(`FW_DIFF_SEED=${SEED} reproduces this run`);
    const t0 = performance.now();
    const { outcomes, redrawn } = runSets(fw(), SEED, SETS, (c) => c);
    const n = SETS * PACKETS;
    t.diagnostic(`${n} packets in ${SETS} sets (${redrawn} redrawn) in ${Math.round(performance.now() - t0)} ms; ${JSON.stringify(outcomes)}`);
    // The comparison says little unless every kind of outcome happened often.
    for (const k of ['pass', 'drop', 'log', 'reject', 'byRule', 'byDefault', 'v4', 'v6', 'established', 'invalid'] as const) {
      assert.ok(outcomes[k] > n / 50, `outcome ${k} occurred only ${outcomes[k]} times in ${n}`);
    }
    assert.ok(outcomes.related > n / 400, `related occurred only ${outcomes.related} times in ${n}`);
  });

  it(`rule sets of 2,000-5,000 rules agree too (seed ${SEED})`, (t) => {
    // largePolicy: mostly disjoint networks, then 30 dense random rules (the compiler takes
    // seconds for a few thousand rules of heavily overlapping networks)
    const sets = Number(process.env.FW_DIFF_BIG_SETS ?? 6);
    const packets = 400;
    const t0 = performance.now();
    const { outcomes, redrawn } = runSets(fw(), SEED ^ 0x2b1, sets, (c) => c, { rules: [2000, 5000], packets, large: true });
    const n = sets * packets;
    t.diagnostic(`${n} packets in ${sets} sets of 2,000-5,000 rules (${redrawn} redrawn) in ${Math.round(performance.now() - t0)} ms; ${JSON.stringify(outcomes)}`);
    for (const k of ['pass', 'drop', 'log', 'byRule', 'v4', 'v6', 'established', 'invalid'] as const) {
      assert.ok(outcomes[k] > n / 50, `outcome ${k} occurred only ${outcomes[k]} times in ${n}`);
    }
    assert.ok(outcomes.related > n / 400, `related occurred only ${outcomes.related} times in ${n}`);
  });

  it(`long leaves (the node-budget fallback: candidates past the inline ones go through bpf_loop) agree too (seed ${SEED})`, (t) => {
    // Classifiers of no inner nodes at all: each tree is one leaf of all its rules.
    let long = 0;
    const sets = 400;
    const { outcomes } = runSets(fw(), SEED ^ 0x1f, sets, (c) => {
      const classifier = buildClassifier(c.rules, { maxDepth: 0 });
      if (classifier.stats.maxLeaf > LEAF_INLINE) long++;
      return { ...c, classifier };
    });
    t.diagnostic(`${sets} sets, ${long} with a leaf longer than ${LEAF_INLINE}; ${JSON.stringify(outcomes)}`);
    assert.ok(long > sets / 2, `only ${long} of ${sets} sets had a long leaf`);
    assert.ok(outcomes.byRule > (sets * PACKETS) / 5, `only ${outcomes.byRule} packets decided by a rule`);
  });
});
