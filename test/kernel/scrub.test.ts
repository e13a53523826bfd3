// tc-scrub through BPF_PROG_TEST_RUN, driven by its kernel face (ScrubKernel) with profiles
// compiled from the `scrub` section as the agent writes them. Every rewrite is checked byte for
// byte against the frame the TS builder makes with the new values (checksums computed from
// scratch by test/support/checksum.ts), and by the independent checksum verifiers. Test-run skbs
// carry full checksums (CHECKSUM_NONE); the CHECKSUM_PARTIAL path is the e2e test's.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { loadNative } from '../../src/kernel/native.js';
import { compileScrub } from '../../src/engines/scrub/compile.js';
import { SCRUB_OBJECT_FILE, ScrubKernel, type ScrubAction, type ScrubCounters } from '../../src/engines/scrub/kernel.js';
import { scrubSchema } from '../../src/engines/scrub/schema.js';
import { buildFrame, parseFrame, tcpOptions, truncate, verifyIpv4Checksum, verifyL4Checksum, type FrameSpec, type Ipv4Spec, type Ipv6Spec, type TcpFlagName, type TcpSpec } from '../support/frames.js';
import { internetChecksum, pseudoHeader } from '../support/checksum.js';
import { IN_CI } from '../support/env.js';
import { REPO_ROOT } from '../support/firewall-harness.js';

const OBJECT = path.join(REPO_ROOT, 'build', 'bpf', SCRUB_OBJECT_FILE);
/** test-run without a ctx runs on the loopback device of the caller's netns */
const LO = { ifname: 'lo', ifindex: 1 };
const TCX_NEXT = 0xffffffff;
const TCX_DROP = 2;

function skipReason(): string | false {
  if (IN_CI) return false;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'kernel tests need root (BPF_PROG_TEST_RUN)';
  if (!existsSync(OBJECT)) return `${OBJECT} is not built (make bpf)`;
  return false;
}

const ADDR = {
  4: { src: '198.18.0.10', dst: '198.18.1.1', other: '198.18.5.5' },
  6: { src: '2001:db8::10', dst: '2001:db8:0:1::1', other: '2001:db8:0:5::5' },
} as const;

interface Pkt {
  ttl?: number;
  tos?: number;
  df?: boolean;
  id?: number;
  mf?: boolean;
  fragOffset?: number;
  src?: string;
  dst?: string;
  tcp?: Omit<TcpSpec, 'proto' | 'sport' | 'dport'> & { sport?: number; dport?: number };
  /** TCP reserved bits (byte 12 low nibble), checksum recomputed */
  reserved?: number;
  payload?: string;
  udp?: boolean;
}

/** One frame of family `fam`; the TCP checksum is right whatever bytes were patched. */
function frame(fam: 4 | 6, p: Pkt = {}): Buffer {
  const a = ADDR[fam];
  const src = p.src ?? a.src;
  const dst = p.dst ?? a.dst;
  const ip: Ipv4Spec | Ipv6Spec =
    fam === 4
      ? { src, dst, ttl: p.ttl ?? 64, tos: p.tos ?? 0, df: p.df ?? false, id: p.id ?? 0x1234, mf: p.mf ?? false, fragOffset: p.fragOffset ?? 0 }
      : { version: 6, src, dst, hopLimit: p.ttl ?? 64, trafficClass: p.tos ?? 0, flowLabel: 0xabcde };
  const spec: FrameSpec = { ip, payload: p.payload ?? '' };
  spec.l4 = p.udp ? { proto: 'udp', sport: 5353, dport: 53 } : { proto: 'tcp', sport: 40000, dport: 443, seq: 100, ack: 0, flags: ['syn'], ...p.tcp };
  const f = buildFrame(spec);
  if (p.reserved !== undefined) {
    const pf = parseFrame(f);
    const l4 = pf.l4Offset!;
    f[l4 + 12] = (f[l4 + 12]! & 0xf0) | p.reserved;
    f.writeUInt16BE(0, l4 + 16);
    const sa = fam === 4 ? f.subarray(pf.l3Offset + 12, pf.l3Offset + 16) : f.subarray(pf.l3Offset + 8, pf.l3Offset + 24);
    const da = fam === 4 ? f.subarray(pf.l3Offset + 16, pf.l3Offset + 20) : f.subarray(pf.l3Offset + 24, pf.l3Offset + 40);
    const seg = f.subarray(l4);
    f.writeUInt16BE(internetChecksum(pseudoHeader(sa, da, 6, seg.length), seg), l4 + 16);
  }
  return f;
}

describe('tc-scrub (test-run)', { skip: skipReason() }, () => {
  let k: ScrubKernel;
  before(() => {
    k = ScrubKernel.load(OBJECT);
  });
  after(() => k?.close());

  function policy(cfg: Record<string, unknown>): void {
    k.writePolicy(compileScrub(scrubSchema.parse({ enabled: true, ...cfg }), [LO]));
  }
  function clear(): void {
    k.writePolicy({ ifaces: new Map(), nets4: [], nets6: [] });
  }
  beforeEach(() => clear());

  function run(input: Buffer): { ret: number; out: Buffer } {
    const r = loadNative().testRun(k.entryFd, { data: input });
    return { ret: r.retval >>> 0, out: r.dataOut };
  }
  function counters(): ScrubCounters {
    const c = k.readCounters().get(LO.ifindex);
    assert.ok(c, 'counters for lo');
    return c;
  }
  function actions(): Record<ScrubAction, bigint> {
    const a = k.readActions().get(LO.ifindex);
    assert.ok(a, 'action counters for lo');
    return a;
  }
  /** Runs `input`, expects it passed as `expected` (byte-exact) with every checksum right, and
   * the given actions counted once each. */
  function expectRewrite(input: Buffer, expected: Buffer, acts: ScrubAction[], what: string): Buffer {
    const before = actions0();
    const { ret, out } = run(input);
    assert.equal(ret, TCX_NEXT, `${what}: passed`);
    const p = parseFrame(out);
    if (p.ip?.version === 4) assert.ok(verifyIpv4Checksum(out), `${what}: IPv4 header checksum`);
    if (p.l4) assert.ok(verifyL4Checksum(out), `${what}: L4 checksum`);
    assert.equal(out.toString('hex'), expected.toString('hex'), `${what}: byte-exact`);
    const after = actions();
    for (const a of Object.keys(after) as ScrubAction[]) {
      assert.equal(after[a] - (before[a] ?? 0n), acts.includes(a) ? 1n : 0n, `${what}: action ${a}`);
    }
    return out;
  }
  function actions0(): Partial<Record<ScrubAction, bigint>> {
    return k.readActions().get(LO.ifindex) ?? {};
  }
  function expectDrop(input: Buffer, acts: ScrubAction[], what: string): void {
    const before = actions0();
    const dropped = k.readCounters().get(LO.ifindex)?.dropped ?? 0n;
    assert.equal(run(input).ret, TCX_DROP, `${what}: dropped`);
    assert.equal(counters().dropped - dropped, 1n, `${what}: counted dropped`);
    const after = actions();
    for (const a of acts) assert.equal(after[a] - (before[a] ?? 0n), 1n, `${what}: action ${a}`);
  }

  it('an interface without a profile is not touched, and counted', () => {
    const f = frame(4, { ttl: 1, tcp: { options: tcpOptions.mss(9000) } });
    const before = k.readCounters().get(LO.ifindex)?.unconfigured ?? 0n;
    const { ret, out } = run(f);
    assert.equal(ret, TCX_NEXT);
    assert.deepEqual(out, f);
    assert.equal(counters().unconfigured - before, 1n);
  });

  for (const fam of [4, 6] as const) {
    describe(`IPv${fam}`, () => {
      const mssIn = (options: Buffer, flags: TcpFlagName[] = ['syn']): Buffer => frame(fam, { tcp: { flags, options } });

      it('MSS clamped in SYN and SYN-ACK, in place, whatever the option order (odd offsets included)', () => {
        policy({ max_mss: 1200 });
        const orders: [string, (m: number) => Buffer][] = [
          ['MSS alone', (m) => tcpOptions.mss(m)],
          ['NOP then MSS (value at an odd offset)', (m) => Buffer.concat([tcpOptions.nop(), tcpOptions.mss(m)])],
          ['Linux order: MSS, SACK-permitted, timestamps, NOP, window scale', (m) => Buffer.concat([tcpOptions.mss(m), tcpOptions.sackPermitted(), tcpOptions.timestamps(7, 0), tcpOptions.nop(), tcpOptions.windowScale(7)])],
          ['window scale, timestamps, then MSS (odd offset)', (m) => Buffer.concat([tcpOptions.windowScale(7), tcpOptions.timestamps(1, 2), tcpOptions.mss(m)])],
          ['MSS last after 3 NOPs and SACK-permitted', (m) => Buffer.concat([tcpOptions.nop(), tcpOptions.nop(), tcpOptions.nop(), tcpOptions.sackPermitted(), tcpOptions.mss(m)])],
        ];
        for (const [what, opts] of orders) {
          for (const flags of [['syn'], ['syn', 'ack']] as TcpFlagName[][]) {
            expectRewrite(mssIn(opts(1460), flags), mssIn(opts(1200), flags), ['mss_clamped'], `${what} ${flags.join('+')}`);
          }
        }
      });

      it('two MSS options: both clamped (receivers differ in which they take)', () => {
        policy({ max_mss: 1000 });
        const two = (a: number, b: number): Buffer => Buffer.concat([tcpOptions.mss(a), tcpOptions.nop(), tcpOptions.mss(b)]);
        const before = actions0().mss_clamped ?? 0n;
        const { out } = run(mssIn(two(1460, 9000)));
        assert.equal(out.toString('hex'), mssIn(two(1000, 1000)).toString('hex'));
        assert.ok(verifyL4Checksum(out));
        assert.equal(actions().mss_clamped - before, 2n);
      });

      it('MSS at or below the maximum, or not in a SYN, is left alone', () => {
        policy({ max_mss: 1200 });
        expectRewrite(mssIn(tcpOptions.mss(1200)), mssIn(tcpOptions.mss(1200)), [], 'MSS equal');
        expectRewrite(mssIn(tcpOptions.mss(536)), mssIn(tcpOptions.mss(536)), [], 'MSS below');
        expectRewrite(mssIn(tcpOptions.mss(1460), ['ack']), mssIn(tcpOptions.mss(1460), ['ack']), [], 'ACK');
        expectRewrite(mssIn(tcpOptions.timestamps(1, 2)), mssIn(tcpOptions.timestamps(1, 2)), [], 'no MSS option');
      });

      it('ill-formed or truncated options: nothing read past the header or the packet, counted', () => {
        policy({ max_mss: 1200 });
        const bad: [string, Buffer][] = [
          ['option length 0', Buffer.from([3, 0, 7, 0])],
          ['option running past the header', Buffer.from([8, 12, 0, 0])],
          ['MSS of length 3', Buffer.from([2, 3, 0x05, 0xb4])],
          ['lone kind byte at the end of the header', Buffer.from([1, 1, 1, 30])],
        ];
        for (const [what, opts] of bad) {
          const before = counters().options_malformed;
          const f = mssIn(opts);
          expectRewrite(f, f, [], what);
          assert.equal(counters().options_malformed - before, 1n, `${what}: counted`);
        }
        // MSS before the ill-formed option still clamped (the walk stops at the bad one)
        const opts = (m: number): Buffer => Buffer.concat([tcpOptions.mss(m), Buffer.from([3, 0, 0, 0])]);
        expectRewrite(mssIn(opts(1460)), mssIn(opts(1200)), ['mss_clamped'], 'MSS then a bad option');
        // data offset says 60 bytes, the packet ends after 24: the copy fails, nothing is read
        const full = mssIn(tcpOptions.mss(1460));
        const l4 = parseFrame(full).l4Offset!;
        const short = Buffer.from(full);
        short[l4 + 12] = (15 << 4) | (short[l4 + 12]! & 0x0f);
        const before = counters().options_malformed;
        const { ret, out } = run(short);
        assert.equal(ret, TCX_NEXT);
        assert.deepEqual(out, short);
        assert.equal(counters().options_malformed - before, 1n, 'truncated header counted');
        // a frame cut inside the TCP header is malformed for the parser: passed untouched
        const cut = truncate(full, l4 + 10);
        const m = counters().malformed;
        assert.deepEqual(run(cut).out, cut);
        assert.equal(counters().malformed - m, 1n);
      });

      const ttlKey = fam === 4 ? 'min_ttl' : 'min_hop_limit';
      const ttlAct: ScrubAction = fam === 4 ? 'ttl_raised' : 'hop_limit_raised';
      it(`${ttlKey}: raised when below, never lowered`, () => {
        policy({ [ttlKey]: 64 });
        expectRewrite(frame(fam, { ttl: 3, tcp: { flags: ['ack'] }, payload: 'x' }), frame(fam, { ttl: 64, tcp: { flags: ['ack'] }, payload: 'x' }), [ttlAct], 'raised');
        expectRewrite(frame(fam, { ttl: 200, udp: true, payload: 'abc' }), frame(fam, { ttl: 200, udp: true, payload: 'abc' }), [], 'higher kept');
        expectRewrite(frame(fam, { ttl: 1, udp: true, payload: 'odd' }), frame(fam, { ttl: 64, udp: true, payload: 'odd' }), [ttlAct], 'UDP raised');
      });

      it('DSCP and ECN rewrite (TOS / traffic class), and normalize_tos', () => {
        policy({ dscp: 46, strip_ecn: true });
        expectRewrite(frame(fam, { tos: 0x03, udp: true }), frame(fam, { tos: 46 << 2, udp: true }), ['tos_rewritten'], 'DSCP+ECN');
        expectRewrite(frame(fam, { tos: 46 << 2, udp: true }), frame(fam, { tos: 46 << 2, udp: true }), [], 'already right');
        policy({ strip_ecn: true });
        expectRewrite(frame(fam, { tos: (10 << 2) | 2, tcp: { flags: ['ack'] } }), frame(fam, { tos: 10 << 2, tcp: { flags: ['ack'] } }), ['tos_rewritten'], 'ECN only');
        policy({ normalize_tos: true, tos_value: 0x10 });
        expectRewrite(frame(fam, { tos: 0xff, udp: true }), frame(fam, { tos: 0x10, udp: true }), ['tos_rewritten'], 'normalize_tos');
      });

      describe('TCP flags', () => {
        const cases: [string, TcpFlagName[], ScrubAction][] = [
          ['SYN+RST', ['syn', 'rst'], 'syn_rst'],
          ['FIN without ACK', ['fin'], 'fin_no_ack'],
          ['null', [], 'null_flags'],
          ['xmas (FIN+PSH+URG)', ['fin', 'psh', 'urg'], 'xmas'],
        ];
        it('drop mode: every impossible combination and reserved bits dropped, each counted', () => {
          policy({ scrub_tcp_flags: 'drop' });
          for (const [what, flags, act] of cases) expectDrop(frame(fam, { tcp: { flags } }), [act, 'flags_dropped'], what);
          expectDrop(frame(fam, { tcp: { flags: ['syn', 'fin'] } }), ['syn_fin', 'flags_dropped'], 'SYN+FIN');
          expectDrop(frame(fam, { tcp: { flags: ['ack'] }, reserved: 0x0e }), ['reserved_bits', 'flags_dropped'], 'reserved bits');
        });
        it('repair mode: SYN+FIN loses its FIN, reserved bits are cleared (AE kept); the rest is dropped', () => {
          policy({ scrub_tcp_flags: 'repair' });
          for (const [what, flags, act] of cases) expectDrop(frame(fam, { tcp: { flags } }), [act, 'flags_dropped'], what);
          expectRewrite(frame(fam, { tcp: { flags: ['syn', 'fin'] }, payload: 'y' }), frame(fam, { tcp: { flags: ['syn'] }, payload: 'y' }), ['syn_fin', 'flags_repaired'], 'SYN+FIN');
          expectRewrite(frame(fam, { tcp: { flags: ['psh', 'ack'] }, reserved: 0x0f, payload: 'data' }), frame(fam, { tcp: { flags: ['psh', 'ack'] }, reserved: 0x01, payload: 'data' }), ['reserved_bits', 'flags_repaired'], 'reserved');
          // legitimate combinations pass untouched
          for (const flags of [['syn'], ['syn', 'ack'], ['ack'], ['fin', 'ack'], ['rst'], ['rst', 'ack'], ['psh', 'ack', 'urg'], ['syn', 'ece', 'cwr']] as TcpFlagName[][]) {
            const f = frame(fam, { tcp: { flags } });
            expectRewrite(f, f, [], flags.join('+'));
          }
        });
        it('repair, then clamp: a SYN+FIN with a large MSS leaves as a clamped SYN', () => {
          policy({ scrub_tcp_flags: 'repair', max_mss: 1300 });
          const o = (m: number): Buffer => Buffer.concat([tcpOptions.nop(), tcpOptions.mss(m)]);
          expectRewrite(frame(fam, { tcp: { flags: ['syn', 'fin'], options: o(1460) } }), frame(fam, { tcp: { flags: ['syn'], options: o(1300) } }), ['syn_fin', 'flags_repaired', 'mss_clamped'], 'both');
        });
      });

      it('network profiles: the source network, then the destination network, then the interface', () => {
        policy({ max_mss: 1400, networks: [{ cidr: fam === 4 ? '198.18.0.0/24' : '2001:db8::/64', max_mss: 1000 }, { cidr: fam === 4 ? '198.18.5.0/24' : '2001:db8:0:5::/64', max_mss: 0 }] });
        const syn = (src: string, dst: string, m: number): Buffer => frame(fam, { src, dst, tcp: { options: tcpOptions.mss(m) } });
        const a = ADDR[fam];
        expectRewrite(syn(a.src, a.dst, 1460), syn(a.src, a.dst, 1000), ['mss_clamped'], 'source network');
        expectRewrite(syn(a.dst, a.src, 1460), syn(a.dst, a.src, 1000), ['mss_clamped'], 'destination network');
        expectRewrite(syn(a.dst, a.other, 1460), syn(a.dst, a.other, 1460), [], 'network turning the clamp off');
        expectRewrite(syn(a.dst, a.dst, 1460), syn(a.dst, a.dst, 1400), ['mss_clamped'], 'interface profile');
      });
    });
  }

  describe('IPv4 only', () => {
    it('DF cleared', () => {
      policy({ clear_df: true });
      expectRewrite(frame(4, { df: true, tcp: { flags: ['ack'] }, payload: 'z' }), frame(4, { df: false, tcp: { flags: ['ack'] }, payload: 'z' }), ['df_cleared'], 'DF');
      expectRewrite(frame(4, { df: false, udp: true }), frame(4, { df: false, udp: true }), [], 'no DF');
    });

    it('random IP ID: changes (checksum right), never on fragments', () => {
      policy({ random_ip_id: true });
      const ids = new Set<number>();
      for (let i = 0; i < 16; i++) {
        const input = frame(4, { udp: true, payload: 'id' });
        const { ret, out } = run(input);
        assert.equal(ret, TCX_NEXT);
        assert.ok(verifyIpv4Checksum(out));
        assert.ok(verifyL4Checksum(out));
        const p = parseFrame(out);
        assert.ok(p.ip?.version === 4);
        ids.add(p.ip.id);
        // everything but the identification and the header checksum as sent
        const a = Buffer.from(out);
        const b = Buffer.from(input);
        for (const x of [a, b]) x.fill(0, 14 + 4, 14 + 6).fill(0, 14 + 10, 14 + 12);
        assert.deepEqual(a, b);
      }
      assert.ok(ids.size >= 12, `16 packets got ${ids.size} different identifications`);
      const frag = buildFrame({ ip: { src: ADDR[4].src, dst: ADDR[4].dst, id: 77, mf: true }, l4: { proto: 'udp', sport: 1, dport: 2 }, payload: Buffer.alloc(16) });
      expectRewrite(frag, frag, [], 'first fragment');
      const later = buildFrame({ ip: { src: ADDR[4].src, dst: ADDR[4].dst, id: 77, fragOffset: 24 }, l4: { proto: 'raw', number: 17, bytes: Buffer.alloc(16) } });
      expectRewrite(later, later, [], 'later fragment');
    });

    it('every IPv4 action at once: one packet, every checksum right', () => {
      policy({ min_ttl: 100, clear_df: true, dscp: 10, strip_ecn: true, max_mss: 1100, scrub_tcp_flags: 'repair' });
      const o = (m: number): Buffer => Buffer.concat([tcpOptions.windowScale(2), tcpOptions.mss(m)]);
      expectRewrite(
        frame(4, { ttl: 5, df: true, tos: 3, tcp: { flags: ['syn', 'fin'], options: o(8960) }, reserved: 0x02 }),
        frame(4, { ttl: 100, df: false, tos: 10 << 2, tcp: { flags: ['syn'], options: o(1100) }, reserved: 0 }),
        ['ttl_raised', 'df_cleared', 'tos_rewritten', 'mss_clamped', 'syn_fin', 'reserved_bits', 'flags_repaired'],
        'all',
      );
      assert.ok(counters().rewritten >= 1n);
    });
  });

  it('a reload replaces profiles: stale interface and network entries are removed', () => {
    policy({ max_mss: 1000, networks: [{ cidr: ['198.18.0.0/24', '2001:db8::/64'], max_mss: 900 }] });
    assert.deepEqual(k.entries(), { ifaces: 1, nets4: 1, nets6: 1 });
    policy({ min_ttl: 10 });
    assert.deepEqual(k.entries(), { ifaces: 1, nets4: 0, nets6: 0 });
    const f = frame(4, { tcp: { options: tcpOptions.mss(1460) } });
    expectRewrite(f, f, [], 'MSS no longer clamped');
  });
});
