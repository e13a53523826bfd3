// sn_reply_reject (bpf/include/sentinel/lib/reply.h), run on every packet by the test program
// reply_test.bpf.c through BPF_PROG_TEST_RUN. Each answer is compared byte for byte with the
// frame the TS frame builder makes for the same answer (its own RFC 1071 checksums, so the C
// checksums are checked by an independent implementation), and the never-answer cases and the
// per-source rate limit are checked through the verdict, the untouched frame and the counters.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { BpfObject } from '../../src/kernel/object.js';
import { bytesCodec, sumU64Slots, u32Codec, u64Codec, type BpfMap } from '../../src/kernel/map.js';
import { loadNative } from '../../src/kernel/native.js';
import {
  buildFrame,
  DEFAULT_DST_MAC,
  DEFAULT_SRC_MAC,
  icmpEchoFrame,
  icmpFrame,
  ipPacketOf,
  parseFrame,
  tcpFrame,
  tcpOptions,
  udpFrame,
  verifyIpv4Checksum,
  verifyL4Checksum,
  type FlowOpts,
  type Ipv6Ext,
  type TcpFlagName,
  type VlanTag,
} from '../support/frames.js';
import { IN_CI } from '../support/env.js';
import { REPO_ROOT } from '../support/firewall-harness.js';
import { sentinel_counter, sentinel_counter_block } from '../../src/kernel/contract.gen.js';

const OBJECT = path.join(REPO_ROOT, 'build', 'bpf-test', 'reply_test.bpf.o');
const XDP_DROP = 1;
const XDP_TX = 3;
/** reply_test.bpf.c's SN_REPLY_CNT_BASE is SN_CNT_PROG_0; lib/reply.h's four slots follow in order */
const P0 = sentinel_counter_block.SN_CNT_PROG_0;
const SLOT = { seen: sentinel_counter.SN_CNT_SEEN, sent: P0, suppressed: P0 + 1, ratelimited: P0 + 2, failed: P0 + 3 } as const;
type Slot = keyof typeof SLOT;
/** test-run without ctx runs on loopback */
const IFINDEX = 1;

function skipReason(): string | false {
  if (IN_CI) return false;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'kernel tests need root (BPF_PROG_TEST_RUN)';
  if (!existsSync(OBJECT)) return `${OBJECT} is not built (make bpf)`;
  try {
    loadNative();
  } catch (e) {
    return `native addon not built (make native): ${(e as Error).message}`;
  }
  return false;
}

const HOSTS = {
  4: { client: '198.18.0.10', server: '198.18.1.1' },
  6: { client: '2001:db8::10', server: '2001:db8:0:1::1' },
} as const;

/** The answer's Ethernet/IP framing: the offending flow turned around. */
function replyFlow(o: FlowOpts, ipId: number, df: boolean): FlowOpts {
  const r: FlowOpts = { src: o.dst, dst: o.src, srcMac: o.dstMac ?? DEFAULT_DST_MAC, dstMac: o.srcMac ?? DEFAULT_SRC_MAC, ttl: 64, ipId, df };
  if (o.vlans) r.vlans = o.vlans;
  return r;
}

/** IPv4 ID of a reply (random, so the expectation takes it from the answer); 0 for IPv6. */
function ipIdOf(frame: Buffer): number {
  const ip = parseFrame(frame).ip;
  return ip?.version === 4 ? ip.id : 0;
}

function expectedRst(o: FlowOpts & { sport: number; dport: number }, out: Buffer, seq: number, ack: number, flags: TcpFlagName[]): Buffer {
  return tcpFrame({ ...replyFlow(o, ipIdOf(out), true), sport: o.dport, dport: o.sport, seq, ack, flags, window: 0 });
}

function expectedUnreachable(o: FlowOpts, input: Buffer, out: Buffer, code: number): Buffer {
  const v6 = o.src.includes(':');
  const quote = ipPacketOf(input).subarray(0, v6 ? 1280 - 48 : 576 - 28);
  return icmpFrame({ ...replyFlow(o, ipIdOf(out), false), type: v6 ? 1 : 3, code, rest: Buffer.alloc(4), payload: Buffer.from(quote) });
}

function assertSameFrame(actual: Buffer, expected: Buffer, what: string): void {
  assert.ok(verifyIpv4OrV6(actual), `${what}: IP header checksum`);
  assert.ok(verifyL4Checksum(actual), `${what}: L4 checksum`);
  assert.equal(actual.toString('hex'), expected.toString('hex'), `${what}: byte-exact answer`);
}

function verifyIpv4OrV6(frame: Buffer): boolean {
  return parseFrame(frame).ip?.version === 6 ? true : verifyIpv4Checksum(frame);
}

describe('reject answers forged from XDP (reply.h, test-run)', { skip: skipReason() }, () => {
  let obj: BpfObject;
  let progFd: number;
  let counters: BpfMap<number, Buffer>;
  let interval: BpfMap<number, bigint>;

  before(() => {
    obj = BpfObject.load(OBJECT);
    progFd = obj.progFd('xdp_reply_test');
    counters = obj.map('reply_counters', u32Codec, bytesCodec(128));
    const bss = obj.mapInfo().find((m) => m.name.endsWith('.bss'));
    assert.ok(bss, 'reply_test.bpf.o has a .bss map holding reply_test_interval_ns');
    interval = obj.map(bss.name, u32Codec, u64Codec);
    // Exactness tests send many answers from one source: 1 ns per token keeps the limit out of
    // their way; the rate-limit tests set their own interval.
    interval.update(0, 1n);
  });
  after(() => obj?.close());

  function snapshot(): Record<Slot, bigint> {
    const per = counters.lookupPerCpu(IFINDEX);
    const sums = per ? sumU64Slots(per, 16) : new Array<bigint>(16).fill(0n);
    return Object.fromEntries(Object.entries(SLOT).map(([k, i]) => [k, sums[i]!])) as Record<Slot, bigint>;
  }

  function run(frame: Buffer): { verdict: number; out: Buffer; delta: Partial<Record<Slot, number>> } {
    const c0 = snapshot();
    const r = loadNative().testRun(progFd, { data: frame });
    const c1 = snapshot();
    const delta: Partial<Record<Slot, number>> = {};
    for (const k of Object.keys(SLOT) as Slot[]) {
      const d = Number(c1[k] - c0[k]);
      if (d !== 0 && k !== 'seen') delta[k] = d;
    }
    return { verdict: r.retval, out: r.dataOut, delta };
  }

  function answered(frame: Buffer): Buffer {
    const r = run(frame);
    assert.equal(r.verdict, XDP_TX, 'answered with XDP_TX');
    assert.deepEqual(r.delta, { sent: 1 });
    return r.out;
  }

  function refused(frame: Buffer, what: string): void {
    const r = run(frame);
    assert.equal(r.verdict, XDP_DROP, `${what}: dropped, not answered`);
    assert.deepEqual(r.delta, { suppressed: 1 }, `${what}: counted as suppressed`);
    assert.equal(r.out.toString('hex'), frame.toString('hex'), `${what}: frame left untouched`);
  }

  for (const family of [4, 6] as const) {
    const { client, server } = HOSTS[family];
    const flow = (extra: Partial<FlowOpts> = {}): FlowOpts => ({ src: client, dst: server, ...extra });

    describe(`IPv${family}`, () => {
      it('TCP SYN (with options) → RST|ACK, seq 0, ack = SYN seq + 1', () => {
        const o = { ...flow(), sport: 40000, dport: 23 };
        const input = tcpFrame({ ...o, seq: 1000, flags: ['syn'], options: Buffer.concat([tcpOptions.mss(1460), tcpOptions.sackPermitted(), tcpOptions.timestamps(7, 0)]) });
        const out = answered(input);
        assertSameFrame(out, expectedRst(o, out, 0, 1001, ['rst', 'ack']), 'RST to SYN');
      });

      it('TCP ACK with data → RST with seq = its ack and no ACK', () => {
        const o = { ...flow(), sport: 40001, dport: 80 };
        const input = tcpFrame({ ...o, seq: 5000, ack: 0xfffffff0, flags: ['psh', 'ack'], payload: Buffer.alloc(100, 0x61) });
        const out = answered(input);
        assertSameFrame(out, expectedRst(o, out, 0xfffffff0, 0, ['rst']), 'RST to ACK+data');
      });

      it('TCP SYN+FIN with data and no ACK → ack counts payload, SYN and FIN (mod 2^32)', () => {
        const o = { ...flow(), sport: 40002, dport: 80 };
        const input = tcpFrame({ ...o, seq: 0xffffffff, flags: ['syn', 'fin'], payload: 'seven!!' });
        const out = answered(input);
        assertSameFrame(out, expectedRst(o, out, 0, 8, ['rst', 'ack']), 'RST to SYN+FIN+7 bytes');
      });

      it('UDP → port unreachable quoting the whole (odd-length) packet', () => {
        const o = flow();
        const input = udpFrame({ ...o, sport: 50000, dport: 53, payload: 'hello' });
        const out = answered(input);
        assertSameFrame(out, expectedUnreachable(o, input, out, family === 4 ? 3 : 4), 'UDP unreachable');
      });

      it(`a large UDP packet is quoted up to the ${family === 4 ? 576 : 1280}-byte limit`, () => {
        const o = flow();
        const input = udpFrame({ ...o, sport: 50001, dport: 9999, payload: Buffer.alloc(1400, 0x5a) });
        const out = answered(input);
        const p = parseFrame(out);
        assert.equal(p.ip?.version === 4 ? p.ip.totalLength : 40 + (p.ip?.payloadLength ?? 0), family === 4 ? 576 : 1280);
        assertSameFrame(out, expectedUnreachable(o, input, out, family === 4 ? 3 : 4), 'truncated quote');
      });

      it('ICMP echo → administratively prohibited', () => {
        const o = flow();
        const input = icmpEchoFrame({ ...o, id: 7, seq: 3, payload: 'ping-data' });
        const out = answered(input);
        assertSameFrame(out, expectedUnreachable(o, input, out, family === 4 ? 13 : 1), 'echo prohibited');
      });

      it('another protocol (GRE) → administratively prohibited', () => {
        const o = flow();
        const ip = family === 4 ? { src: client, dst: server, ttl: 64, id: 1 } : { version: 6 as const, src: client, dst: server, hopLimit: 64 };
        const input = buildFrame({ ip, l4: { proto: 'raw', number: 47, bytes: Buffer.from('0000880b', 'hex') }, payload: 'gre-body' });
        const out = answered(input);
        assertSameFrame(out, expectedUnreachable(o, input, out, family === 4 ? 13 : 1), 'GRE prohibited');
      });

      const tagSets: Array<[string, VlanTag[]]> = [
        ['802.1Q', [{ vid: 42, pcp: 5 }]],
        ['QinQ', [{ vid: 100 }, { vid: 42, dei: true }]],
      ];
      for (const [name, vlans] of tagSets) {
        it(`${name}-tagged TCP and UDP answers keep the tags`, () => {
          const o = { ...flow({ vlans }), sport: 40003, dport: 22 };
          const syn = tcpFrame({ ...o, seq: 77, flags: ['syn'] });
          const rst = answered(syn);
          assertSameFrame(rst, expectedRst(o, rst, 0, 78, ['rst', 'ack']), `${name} RST`);
          const udp = udpFrame({ ...flow({ vlans }), sport: 50002, dport: 161, payload: 'x'.repeat(64) });
          const unreach = answered(udp);
          assertSameFrame(unreach, expectedUnreachable(flow({ vlans }), udp, unreach, family === 4 ? 3 : 4), `${name} unreachable`);
          assert.deepEqual(parseFrame(unreach).vlans.map((v) => v.vid), vlans.map((v) => v.vid));
        });
      }

      it(family === 4 ? 'IPv4 options: the RST has none, the ICMP quote keeps them' : 'IPv6 extension headers: the RST has none, the ICMPv6 quote keeps them', () => {
        const ext: Ipv6Ext[] = [{ kind: 'hop-by-hop', options: Buffer.from([1, 2, 0, 0]) }, { kind: 'dest-opts' }];
        const o = { ...flow(family === 4 ? { ipOptions: Buffer.from([0x94, 4, 0, 0, 1, 1, 1, 1]) } : { ext }), sport: 40004, dport: 25 };
        const syn = tcpFrame({ ...o, seq: 9, flags: ['syn'] });
        const rst = answered(syn);
        assertSameFrame(rst, expectedRst({ src: o.src, dst: o.dst, sport: o.sport, dport: o.dport }, rst, 0, 10, ['rst', 'ack']), 'RST without options');
        const udp = udpFrame({ ...o, sport: 50003, dport: 69, payload: 'tftp' });
        const unreach = answered(udp);
        assertSameFrame(unreach, expectedUnreachable(flow(), udp, unreach, family === 4 ? 3 : 4), 'quote with options');
      });

      it('Ethernet padding after the IP packet is not quoted', () => {
        const o = flow();
        const bare = udpFrame({ ...o, sport: 50004, dport: 7, payload: 'ab' });
        const padded = Buffer.concat([bare, Buffer.alloc(Math.max(60 - bare.length, 0) + 6, 0xee)]);
        const out = answered(padded);
        assertSameFrame(out, expectedUnreachable(o, bare, out, family === 4 ? 3 : 4), 'padding excluded');
      });

      it('a first fragment is answered', () => {
        const o = flow();
        const ip = family === 4 ? { src: client, dst: server, ttl: 64, id: 99, mf: true } : { version: 6 as const, src: client, dst: server, hopLimit: 64, ext: [{ kind: 'fragment' as const, offset: 0, more: true, id: 5 }] };
        const input = buildFrame({ ip, l4: { proto: 'udp', sport: 50005, dport: 123 }, payload: Buffer.alloc(48, 1) });
        const out = answered(input);
        assertSameFrame(out, expectedUnreachable(o, input, out, family === 4 ? 3 : 4), 'first fragment');
      });

      it('every answer carries a fresh IP identification (IPv4) / is well-formed (IPv6)', () => {
        const ids = new Set<number>();
        for (let i = 0; i < 16; i++) {
          const out = answered(tcpFrame({ ...flow(), sport: 41000 + i, dport: 23, seq: i, flags: ['syn'] }));
          ids.add(ipIdOf(out));
          assert.equal(parseFrame(out).ip?.version, family);
        }
        if (family === 4) assert.ok(ids.size > 1, `16 answers used ${ids.size} distinct IDs`);
      });

      describe('never answered', () => {
        const errTypes = family === 4 ? [3, 4, 5, 11, 12] : [1, 2, 3, 4, 127];
        it(`ICMP${family === 6 ? 'v6' : ''} errors (types ${errTypes.join(', ')})`, () => {
          for (const type of errTypes) refused(icmpFrame({ ...flow(), type, code: 0, payload: Buffer.alloc(28) }), `ICMP type ${type}`);
        });

        it('TCP RST and RST|ACK', () => {
          refused(tcpFrame({ ...flow(), sport: 40010, dport: 80, seq: 1, flags: ['rst'] }), 'RST');
          refused(tcpFrame({ ...flow(), sport: 40010, dport: 80, seq: 1, ack: 2, flags: ['rst', 'ack'] }), 'RST|ACK');
        });

        it('non-first fragments', () => {
          const ip = family === 4 ? { src: client, dst: server, ttl: 64, id: 99, fragOffset: 8 } : { version: 6 as const, src: client, dst: server, hopLimit: 64, ext: [{ kind: 'fragment' as const, offset: 8, more: false, id: 5 }] };
          refused(buildFrame({ ip, l4: { proto: 'raw', number: 17, bytes: Buffer.alloc(32, 2) } }), 'later fragment');
        });

        it('link-layer broadcast or multicast destination, group source MAC', () => {
          const macs = ['ff:ff:ff:ff:ff:ff', family === 4 ? '01:00:5e:00:00:fb' : '33:33:00:00:00:01'];
          for (const dstMac of macs) refused(udpFrame({ ...flow({ dstMac }), sport: 5353, dport: 5353 }), `to ${dstMac}`);
          refused(udpFrame({ ...flow({ srcMac: '03:00:00:00:00:01' }), sport: 1, dport: 2 }), 'from a group MAC');
        });

        const badSrc = family === 4 ? ['0.0.0.0', '127.0.0.1', '224.0.0.5', '240.0.0.1', '255.255.255.255'] : ['::', '::1', 'ff02::1'];
        const badDst = family === 4 ? ['224.0.0.251', '239.1.2.3', '255.255.255.255'] : ['ff02::1', 'ff05::2'];
        it(`sources that are not one host (${badSrc.join(', ')})`, () => {
          for (const src of badSrc) refused(tcpFrame({ src, dst: server, sport: 1, dport: 2, flags: ['syn'] }), `from ${src}`);
        });
        it(`multicast/broadcast destinations (${badDst.join(', ')})`, () => {
          for (const dst of badDst) refused(udpFrame({ src: client, dst, sport: 1, dport: 2 }), `to ${dst}`);
        });
      });

      it('a TCP header claiming more bytes than the packet holds cannot be answered: dropped, counted as failed', () => {
        const input = buildFrame({
          ip: family === 4 ? { src: client, dst: server, ttl: 64, id: 1 } : { version: 6 as const, src: client, dst: server, hopLimit: 64 },
          l4: { proto: 'tcp', sport: 40020, dport: 23, flags: ['syn'], dataOffset: 15 },
        });
        const r = run(input);
        assert.equal(r.verdict, XDP_DROP);
        assert.deepEqual(r.delta, { failed: 1 });
      });

      describe('rate limit per source', () => {
        const limited = family === 4 ? '198.18.0.77' : '2001:db8::77';
        const other = family === 4 ? '198.18.0.78' : '2001:db8::78';
        const syn = (src: string, sport: number): Buffer => tcpFrame({ src, dst: server, sport, dport: 23, flags: ['syn'] });

        after(() => interval.update(0, 1n));

        it('burst of 20, then refused and counted; other sources unaffected; one token back after one interval', async () => {
          interval.update(0, 1_000_000_000n); // one answer per second
          const verdicts: number[] = [];
          const c0 = snapshot();
          for (let i = 0; i < 25; i++) verdicts.push(run(syn(limited, 42000 + i)).verdict);
          const c1 = snapshot();
          assert.deepEqual(verdicts, [...new Array<number>(20).fill(XDP_TX), ...new Array<number>(5).fill(XDP_DROP)]);
          assert.equal(c1.sent - c0.sent, 20n);
          assert.equal(c1.ratelimited - c0.ratelimited, 5n);
          assert.equal(c1.suppressed - c0.suppressed, 0n);

          const r = run(syn(other, 43000));
          assert.equal(r.verdict, XDP_TX, 'a different source still gets its answer');

          await sleep(1100); // at least one interval: exactly one token has come back
          assert.equal(run(syn(limited, 44000)).verdict, XDP_TX, 'one answer after an interval');
          const again = run(syn(limited, 44001));
          assert.equal(again.verdict, XDP_DROP, 'and only one');
          assert.deepEqual(again.delta, { ratelimited: 1 });
        });

        it('default rate (20/s): a drained source has its whole burst back after a second', async () => {
          interval.update(0, 0n); // 0 selects the product default
          const src = family === 4 ? '198.18.0.79' : '2001:db8::79';
          for (let i = 0; i < 20; i++) assert.equal(run(syn(src, 45000 + i)).verdict, XDP_TX, `burst answer ${i + 1}`);
          await sleep(1050);
          for (let i = 0; i < 20; i++) assert.equal(run(syn(src, 46000 + i)).verdict, XDP_TX, `refilled answer ${i + 1}`);
        });
      });
    });
  }
});
