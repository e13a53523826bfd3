// The `scrub` section into tc-scrub's map entries: inheritance (section -> interface -> network),
// the profile bits and bytes at the offsets the kernel's BTF gives, network keys, and the refusals
// (names the agent does not run on, conflicting TOS keys, reference keys not implemented).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/catalog.js';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { scrub_flag as F } from '../../src/kernel/contract.gen.js';
import { compileScrub, encodeNetKey, encodeProfile, ScrubCompileError, type ScrubProfile } from '../../src/engines/scrub/compile.js';
import { scrubSchema } from '../../src/engines/scrub/schema.js';

const IFS = [
  { ifname: 'eth0', ifindex: 2 },
  { ifname: 'eth1', ifindex: 7 },
];
const compile = (cfg: Record<string, unknown>) => compileScrub(scrubSchema.parse({ enabled: true, ...cfg }), IFS);
const load = (yaml: string) => parseConfigText(`agent: { interfaces: [eth0] }\n${yaml}`, '/t/config.yaml');

describe('scrub: config to map entries', () => {
  it('the section is the default profile of every interface; interfaces override key by key', () => {
    const p = compile({ max_mss: 1400, min_ttl: 32, scrub_tcp_flags: true, interfaces: { eth1: { max_mss: 1300, min_ttl: 0, clear_df: true } } });
    const e0 = p.ifaces.get(2)!;
    const e1 = p.ifaces.get(7)!;
    assert.deepEqual(e0, { flags: F.SCRUB_F_MAX_MSS | F.SCRUB_F_MIN_TTL | F.SCRUB_F_FLAGS_REPAIR, maxMss: 1400, minTtl: 32, minHopLimit: 0, tosMask: 0, tosValue: 0 });
    assert.deepEqual(e1, { flags: F.SCRUB_F_MAX_MSS | F.SCRUB_F_CLEAR_DF | F.SCRUB_F_FLAGS_REPAIR, maxMss: 1300, minTtl: 0, minHopLimit: 0, tosMask: 0, tosValue: 0 });
    assert.deepEqual(p.nets4, []);
  });

  it('TOS: dscp and strip_ecn set parts of the byte, normalize_tos all of it; the nearer block decides', () => {
    const p = compile({ dscp: 46, strip_ecn: true, interfaces: { eth1: { normalize_tos: true, tos_value: 0x20 } } });
    assert.deepEqual([p.ifaces.get(2)!.tosMask, p.ifaces.get(2)!.tosValue], [0xff, 46 << 2]);
    assert.deepEqual([p.ifaces.get(7)!.tosMask, p.ifaces.get(7)!.tosValue], [0xff, 0x20]);
    const q = compile({ normalize_tos: true, tos_value: 4, interfaces: { eth1: { strip_ecn: true } } });
    assert.deepEqual([q.ifaces.get(7)!.tosMask, q.ifaces.get(7)!.tosValue], [0x03, 0]);
    assert.equal(compile({ dscp: 'keep' }).ifaces.get(2)!.flags & F.SCRUB_F_TOS, 0);
  });

  it('networks: one entry per network and interface, over that interface profile; the interface is told to look them up', () => {
    const p = compile({ max_mss: 1400, interfaces: { eth1: { min_ttl: 9 } }, networks: [{ cidr: ['198.18.0.0/24', '2001:db8::/48'], max_mss: 1000 }, { cidr: '198.18.9.9', interfaces: ['eth1'], max_mss: 0 }] });
    assert.equal(p.nets4.length, 3);
    assert.equal(p.nets6.length, 2);
    const n = p.nets4.find((e) => e.ifindex === 7 && e.cidr.prefix === 24)!;
    assert.deepEqual(n.profile, { flags: F.SCRUB_F_MAX_MSS | F.SCRUB_F_MIN_TTL, maxMss: 1000, minTtl: 9, minHopLimit: 0, tosMask: 0, tosValue: 0 });
    const off = p.nets4.find((e) => e.cidr.prefix === 32)!;
    assert.equal(off.ifindex, 7);
    assert.equal(off.profile.flags, F.SCRUB_F_MIN_TTL);
    assert.equal(p.ifaces.get(2)!.flags & (F.SCRUB_F_NETS_V4 | F.SCRUB_F_NETS_V6), F.SCRUB_F_NETS_V4 | F.SCRUB_F_NETS_V6);
    assert.equal(compile({ max_mss: 1400 }).ifaces.get(2)!.flags & (F.SCRUB_F_NETS_V4 | F.SCRUB_F_NETS_V6), 0);
  });

  it('encodes struct scrub_profile and the network keys at the BTF offsets', () => {
    const prof: ScrubProfile = { flags: 0x8021, maxMss: 1360, minTtl: 40, minHopLimit: 50, tosMask: 0xfc, tosValue: 0xb8 };
    const b = encodeProfile(prof);
    const L = layouts.scrub_profile;
    assert.equal(b.length, L.size);
    assert.equal(b.readUInt32LE(L.fields.flags.offset), 0x8021);
    assert.equal(b.readUInt16LE(L.fields.max_mss.offset), 1360);
    assert.deepEqual([b[L.fields.min_ttl.offset], b[L.fields.min_hop_limit.offset], b[L.fields.tos_mask.offset], b[L.fields.tos_value.offset]], [40, 50, 0xfc, 0xb8]);
    const p = compile({ networks: [{ cidr: ['198.18.4.0/22', '2001:db8:1::/48'], max_mss: 500 }] });
    const k4 = encodeNetKey(2, p.nets4[0]!.cidr);
    assert.equal(k4.length, layouts.scrub_net_v4.size);
    assert.equal(k4.readUInt32LE(0), 32 + 22);
    assert.equal(k4.readUInt32LE(layouts.scrub_net_v4.fields.ifindex.offset), 2);
    assert.deepEqual([...k4.subarray(layouts.scrub_net_v4.fields.addr.offset)], [198, 18, 4, 0]);
    const k6 = encodeNetKey(7, p.nets6[0]!.cidr);
    assert.equal(k6.readUInt32LE(0), 32 + 48);
    assert.equal(k6.subarray(layouts.scrub_net_v6.fields.addr.offset).toString('hex'), '20010db8000100000000000000000000');
  });

  it('refuses an interface the agent does not run on, naming the key', () => {
    assert.throws(() => compile({ interfaces: { eth9: { max_mss: 1000 } } }), (e: Error) => e instanceof ScrubCompileError && /scrub\.interfaces\.eth9.*agent\.interfaces: eth0, eth1/.test(e.message));
    assert.throws(() => compile({ networks: [{ cidr: '198.18.0.0/24', interfaces: ['wan'] }] }), /scrub\.networks\[0\]\.interfaces: wan/);
  });

  it('config errors name the key: values out of range, conflicting TOS keys, reference keys not implemented', () => {
    const bad: [string, RegExp][] = [
      ['scrub: { max_mss: 40 }', /scrub\.max_mss.*88-65535/],
      ['scrub: { min_ttl: 256 }', /scrub\.min_ttl/],
      ['scrub: { dscp: 64 }', /scrub\.dscp.*0-63/],
      ['scrub: { scrub_tcp_flags: fix }', /off \| repair \| drop/],
      ['scrub: { normalize_tos: true, dscp: 4 }', /normalize_tos sets the whole TOS byte/],
      ['scrub: { tos_value: 4 }', /tos_value is written only with normalize_tos/],
      ['scrub: { strip_tcp_timestamps: true }', /`strip_tcp_timestamps` is not supported by this version/],
      ['scrub: { drop_fragments: true }', /`drop_fragments` is not supported by this version \(drop fragments with a firewall rule/],
      ['scrub: { networks: [{ cidr: 198.18.0.0/33 }] }', /scrub\.networks\.0\.cidr|prefix length 33/],
      ['scrub: { interfaces: { eth0: { max_msss: 1 } } }', /unknown key "max_msss".*max_mss/],
      ['firewall: { scrub: { enabled: true } }', /`scrub` is not supported by this version \(packet normalisation is the top-level scrub section/],
    ];
    for (const [yaml, re] of bad) assert.throws(() => load(yaml), re, yaml);
    assert.equal(load('scrub: { enabled: true, max_mss: 1400 }').scrub.max_mss, 1400);
    assert.equal(load('').scrub.enabled, false);
  });
});
