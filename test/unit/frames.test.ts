// The frame builder is the ground truth of every kernel test, so it is checked three ways: against
// hand-derived byte values, against tcpdump's own decoder, and against its own strict parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  buildFrame,
  icmpEchoFrame,
  icmpFrame,
  icmpUnreachableFrame,
  ipPacketOf,
  ipv4Options,
  ndAdvertFrame,
  ndSolicitFrame,
  parseFrame,
  tcpFrame,
  tcpOptions,
  truncate,
  udpFrame,
  verifyIpv4Checksum,
  verifyL4Checksum,
} from '../support/frames.js';
import { internetChecksum } from '../support/checksum.js';
import * as malformed from '../support/malformed.js';
import { tcpdumpDecode } from '../support/pcap.js';
import { decodePcap, encodePcap } from '../../src/lab/pcap.js';

const C4 = '198.18.0.10';
const S4 = '198.18.1.1';
const C6 = '2001:db8::10';
const S6 = '2001:db8:0:1::1';

function requireTcpdump(): void {
  const r = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' });
  // A missing decoder must fail loudly: the cross-check is the point of these tests.
  assert.equal(r.status, 0, `tcpdump is required for the frame cross-checks: ${r.error?.message ?? r.stderr}`);
}

test('internet checksum matches the RFC 1071 worked example', () => {
  // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (after the end-around carry).
  assert.equal(internetChecksum(Buffer.from('0001f203f4f5f6f7', 'hex')), ~0xddf2 & 0xffff);
  // An odd trailing byte is padded with zero on the right.
  assert.equal(internetChecksum(Buffer.from([0x01])), ~0x0100 & 0xffff);
});

test('ICMP echo request is byte-exact against a hand-assembled frame', () => {
  const frame = icmpEchoFrame({ src: C4, dst: S4, id: 0x1234, seq: 1 });
  // IPv4 header words: 4500 001c 0001 0000 4001 c612 000a c612 0101
  //   sum = 2124d -> fold 124d + 2 = 124f -> checksum ~124f = edb0
  // ICMP words: 0800 0000 1234 0001 -> sum 1a35 -> checksum e5ca
  const expected = Buffer.from(
    '020000000002' + '020000000001' + '0800' +
      '4500001c00010000' + '4001edb0' + 'c612000a' + 'c6120101' +
      '0800e5ca12340001',
    'hex',
  );
  assert.deepEqual(frame, expected);
  assert.equal(verifyIpv4Checksum(frame), true);
  assert.equal(verifyL4Checksum(frame), true);
});

test('UDP over IPv4 checksum equals the hand-derived pseudo-header sum', () => {
  const frame = udpFrame({ src: C4, dst: S4, sport: 5353, dport: 53, payload: 'abc' });
  const p = parseFrame(frame);
  assert.equal(p.l4?.proto, 'udp');
  // pseudo c612 000a c612 0101 0011 000b + udp 14e9 0035 000b 0000 + 6162 6300 -> 9927
  assert.equal(p.l4.proto === 'udp' ? p.l4.checksum : -1, 0x9927);
  assert.equal(p.l4.proto === 'udp' ? p.l4.length : -1, 11);
});

test('a corrupted byte makes the checksum verifiers fail', () => {
  const frame = tcpFrame({ src: C4, dst: S4, sport: 1000, dport: 80, payload: 'data' });
  const badIp = Buffer.from(frame);
  badIp[14 + 8] = 1; // TTL
  assert.equal(verifyIpv4Checksum(badIp), false);
  const badL4 = Buffer.from(frame);
  badL4[badL4.length - 1] ^= 0xff;
  assert.equal(verifyL4Checksum(badL4), false);
  assert.equal(verifyIpv4Checksum(badL4), true);
  // IPv6 UDP must carry a checksum; 0 is wrong there but allowed in IPv4.
  const v6zero = buildFrame({ ip: { version: 6, src: C6, dst: S6 }, l4: { proto: 'udp', sport: 1, dport: 2, checksum: 0 } });
  assert.equal(verifyL4Checksum(v6zero), false);
  const v4zero = buildFrame({ ip: { src: C4, dst: S4 }, l4: { proto: 'udp', sport: 1, dport: 2, checksum: 0 } });
  assert.equal(verifyL4Checksum(v4zero), true);
});

test('tcpdump decodes IPv4 frames with the fields we set and correct checksums', () => {
  requireTcpdump();
  const frames = [
    tcpFrame({ src: C4, dst: S4, sport: 40000, dport: 80, flags: ['syn'], seq: 1000, ttl: 33, ipId: 77, df: true, options: tcpOptions.mss(1460), ipOptions: ipv4Options.routerAlert(), payload: 'hi' }),
    udpFrame({ src: C4, dst: S4, sport: 40001, dport: 9999, payload: 'abcde', vlans: [{ vid: 100 }] }),
    icmpEchoFrame({ src: C4, dst: S4, id: 7, seq: 9, vlans: [{ vid: 10 }, { vid: 20 }] }),
    icmpUnreachableFrame({ src: '198.18.1.254', dst: C4, code: 3, original: ipPacketOf(udpFrame({ src: C4, dst: S4, sport: 1234, dport: 4321, payload: 'xyz' })) }),
    buildFrame({ ip: { src: C4, dst: S4, mf: true, id: 42 }, l4: { proto: 'tcp', sport: 1, dport: 2, flags: ['fin', 'psh', 'ack', 'urg'], seq: 3, ack: 4, urgent: 5 } }),
  ];
  const out = tcpdumpDecode(frames);
  for (const line of out) {
    assert.doesNotMatch(line, /bad cksum|incorrect|wrong icmp cksum|bad udp cksum/, line);
  }
  assert.match(out[0]!, /ttl 33, id 77, offset 0, flags \[DF\], proto TCP \(6\), length 50, options \(RA\)/);
  assert.match(out[0]!, /198\.18\.0\.10\.40000 > 198\.18\.1\.1\.80: Flags \[S\], cksum 0x[0-9a-f]{4} \(correct\), seq 1000:1002, win 65535, options \[mss 1460\], length 2/);
  assert.match(out[1]!, /vlan 100, p 0, ethertype IPv4/);
  assert.match(out[1]!, /198\.18\.0\.10\.40001 > 198\.18\.1\.1\.9999: \[udp sum ok\] UDP, length 5/);
  assert.match(out[2]!, /802\.1Q-QinQ \(0x88a8\).*vlan 10, p 0, ethertype 802\.1Q \(0x8100\), vlan 20, p 0, ethertype IPv4/);
  assert.match(out[2]!, /ICMP echo request, id 7, seq 9, length 8/);
  assert.match(out[3]!, /198\.18\.1\.254 > 198\.18\.0\.10: ICMP 198\.18\.1\.1 udp port 4321 unreachable/);
  assert.match(out[4]!, /id 42, offset 0, flags \[\+\]/);
  // tcpdump does not verify L4 checksums of fragments; our verifier covers that frame.
  assert.match(out[4]!, /Flags \[FP\.U\], seq 3, ack 4, win 65535, urg 5/);
  assert.equal(verifyL4Checksum(frames[4]!), true);
});

test('tcpdump decodes IPv6 frames, extension chains and ND with correct checksums', () => {
  requireTcpdump();
  const frames = [
    tcpFrame({ src: C6, dst: S6, sport: 1, dport: 443, flags: ['syn', 'ack'], seq: 5, ack: 6, ttl: 7 }),
    udpFrame({ src: C6, dst: S6, sport: 40001, dport: 9999, payload: 'abc', ext: [{ kind: 'hop-by-hop' }, { kind: 'dest-opts' }] }),
    // Routing header with a segment left: the pseudo-header must use the final destination.
    udpFrame({ src: C6, dst: '2001:db8::99', sport: 1, dport: 2, payload: 'r', ext: [{ kind: 'routing', addresses: [S6], segmentsLeft: 1 }] }),
    icmpEchoFrame({ src: C6, dst: S6, id: 3, seq: 4, ext: [{ kind: 'ah', spi: 0x99 }] }),
    ndSolicitFrame({ src: C6, dst: 'ff02::1:ff00:1', target: '2001:db8::1', sourceLinkAddr: '02:00:00:00:00:01' }),
    ndAdvertFrame({ src: '2001:db8::1', dst: C6, target: '2001:db8::1', solicited: true, override: true, targetLinkAddr: '02:00:00:00:00:02' }),
    buildFrame({ ip: { version: 6, src: C6, dst: S6, ext: [{ kind: 'hop-by-hop' }, { kind: 'routing', addresses: ['2001:db8::99'], segmentsLeft: 1 }, { kind: 'fragment', offset: 0, more: true, id: 5 }] }, l4: { proto: 'udp', sport: 1, dport: 2 } }),
    icmpFrame({ src: '2001:db8:0:1::254', dst: C6, type: 1, code: 4 }),
  ];
  const out = tcpdumpDecode(frames);
  for (const line of out) assert.doesNotMatch(line, /incorrect|bad .*cksum/, line);
  assert.match(out[0]!, /hlim 7, next-header TCP \(6\) payload length: 20\) 2001:db8::10\.1 > 2001:db8:0:1::1\.443: Flags \[S\.\], cksum 0x[0-9a-f]{4} \(correct\), seq 5, ack 6/);
  assert.match(out[1]!, /next-header Options \(0\).*HBH \(padn\) DSTOPT \(padn\) 40001 > 9999: \[udp sum ok\] UDP, length 3/);
  assert.match(out[2]!, /RT6 \(len=2, type=0 \[Deprecated\], segleft=1.*\[0\]2001:db8:0:1::1\) 1 > 2: \[udp sum ok\]/);
  assert.match(out[3]!, /AH\(length=4\(24-bytes\),spi=0x00000099,seq=0x1.*\[icmp6 sum ok\] ICMP6, echo request, id 3, seq 4/);
  assert.match(out[4]!, /hlim 255.*\[icmp6 sum ok\] ICMP6, neighbor solicitation, length 32, who has 2001:db8::1.*source link-address option.*02:00:00:00:00:01/);
  assert.match(out[5]!, /\[icmp6 sum ok\] ICMP6, neighbor advertisement, length 32, tgt is 2001:db8::1, Flags \[solicited, override\]/);
  assert.match(out[6]!, /HBH \(padn\) RT6 .* frag \(0x00000005:0\|8\)/);
  assert.match(out[7]!, /\[icmp6 sum ok\] ICMP6, destination unreachable, unreachable port/);
});

test('parseFrame round-trips what the builder wrote', () => {
  const f = tcpFrame({ src: C6, dst: S6, sport: 40000, dport: 22, flags: ['syn'], seq: 0xfffffff0, ack: 0, window: 1024, options: tcpOptions.timestamps(1, 2), vlans: [{ vid: 300, pcp: 5, dei: true }, { vid: 4095 }], ext: [{ kind: 'hop-by-hop', options: Buffer.from([5, 2, 0, 0]) }, { kind: 'fragment', offset: 0, more: true, id: 0xdeadbeef }] });
  const p = parseFrame(f);
  assert.deepEqual(p.vlans, [
    { tpid: 0x88a8, vid: 300, pcp: 5, dei: true },
    { tpid: 0x8100, vid: 4095, pcp: 0, dei: false },
  ]);
  assert.equal(p.eth.type, 0x86dd);
  assert.equal(p.l3Offset, 22);
  assert.ok(p.ip?.version === 6);
  assert.equal(p.ip.src, C6);
  assert.equal(p.ip.dst, S6);
  assert.deepEqual(p.ip.ext.map((e) => [e.name, e.length]), [['hop-by-hop', 8], ['fragment', 8]]);
  assert.deepEqual(p.ip.ext[1]!.fragment, { offset: 0, more: true, id: 0xdeadbeef });
  assert.equal(p.ip.protocol, 6);
  assert.ok(p.l4?.proto === 'tcp');
  assert.equal(p.l4.seq, 0xfffffff0);
  assert.deepEqual(p.l4.flags, ['syn']);
  assert.equal(p.l4.dataOffset, 8); // 20 + 10 bytes of timestamps padded to 12
  assert.equal(p.l4.window, 1024);
  assert.equal(verifyL4Checksum(f), true);

  const v4 = buildFrame({ ip: { src: C4, dst: S4, options: ipv4Options.recordRoute(2), ttl: 1, tos: 0xb8, id: 9, fragOffset: 0 }, l4: { proto: 'udp', sport: 7, dport: 8 }, payload: 'x' });
  const q = parseFrame(v4);
  assert.ok(q.ip?.version === 4);
  assert.equal(q.ip.ihl, 8);
  assert.equal(q.ip.options.length, 12);
  assert.equal(q.ip.tos, 0xb8);
  assert.equal(q.ip.totalLength, 32 + 8 + 1);
  assert.equal(verifyIpv4Checksum(v4), true);
  assert.equal(verifyL4Checksum(v4), true);
  assert.equal(q.payload.toString(), 'x');
});

test('non-first fragments carry no L4 header', () => {
  const v4 = buildFrame({ ip: { src: C4, dst: S4, fragOffset: 1480, id: 3 }, l4: { proto: 'raw', number: 6, bytes: Buffer.from('middle of a segment') } });
  const p = parseFrame(v4);
  assert.ok(p.ip?.version === 4);
  assert.equal(p.ip.fragOffset, 1480);
  assert.equal(p.l4, undefined);
  assert.equal(p.payload.toString(), 'middle of a segment');
  const v6 = buildFrame({ ip: { version: 6, src: C6, dst: S6, ext: [{ kind: 'fragment', offset: 8, id: 1 }] }, l4: { proto: 'raw', number: 17, bytes: Buffer.alloc(8) } });
  const q = parseFrame(v6);
  assert.equal(q.l4, undefined);
  assert.throws(() => verifyL4Checksum(v6), /no decodable L4 header/);
});

test('malformed helpers are malformed in exactly the documented way', () => {
  assert.throws(() => parseFrame(malformed.ipv4IhlTooSmall()), /IHL 4 is below the minimum 5/);
  assert.throws(() => parseFrame(malformed.ipv4IhlBeyondEnd()), /IPv4 header of IHL 15 needs bytes up to 74, frame has 42/);
  assert.throws(() => parseFrame(malformed.ipv4TotalLengthTooShort()), /total length 12 is shorter than its header \(20\)/);
  assert.throws(() => parseFrame(malformed.ipv4BadVersion()), /version field is 5/);
  assert.throws(() => parseFrame(malformed.ipv6BadVersion()), /version field is 4/);
  assert.throws(() => parseFrame(malformed.tripleVlan()), /more than two VLAN tags/);
  assert.throws(() => parseFrame(malformed.ipv6ExtPastEnd()), /hop-by-hop header of 168 bytes at 54 runs past the end/);
  assert.throws(() => parseFrame(malformed.ipv6ExtTooLong()), /longer than 8 headers/);
  // Eight headers are still inside the kernel's budget.
  assert.equal(parseFrame(malformed.ipv6ExtTooLong(undefined, 8)).l4?.proto, 'tcp');
  const tcp = tcpFrame({ src: C4, dst: S4, sport: 1, dport: 2 });
  const cut = malformed.truncatedL4(tcp);
  assert.equal(cut.length, 14 + 20 + 4);
  assert.throws(() => parseFrame(cut), /needs bytes up to 54, frame has 38/);
  // Everything but the damage is still well-formed: the same frame without it parses.
  assert.equal(parseFrame(tcpFrame({ src: C4, dst: S4, sport: 1, dport: 2, vlans: [{ vid: 10 }, { vid: 20 }] })).vlans.length, 2);
});

test('truncate cuts and copies, and refuses impossible lengths', () => {
  const f = udpFrame({ src: C4, dst: S4, sport: 1, dport: 2 });
  const t = truncate(f, 20);
  assert.equal(t.length, 20);
  t[0] = 0xaa;
  assert.notEqual(f[0], 0xaa);
  assert.throws(() => truncate(f, f.length + 1), /cannot truncate a 42-byte frame to 43 bytes/);
  assert.throws(() => parseFrame(truncate(f, 13)), /Ethernet header needs bytes up to 14, frame has 13/);
});

test('bad builder input gets an error naming the field', () => {
  assert.throws(() => tcpFrame({ src: C4, dst: S6, sport: 1, dport: 2 }), /different families/);
  assert.throws(() => tcpFrame({ src: C4, dst: S4, sport: 70000, dport: 2 }), /TCP sport must be an integer 0\.\.65535, got 70000/);
  assert.throws(() => udpFrame({ src: C4, dst: S4, sport: 1, dport: 2, vlans: [{ vid: 4096 }] }), /VLAN id must be an integer 0\.\.4095/);
  assert.throws(() => buildFrame({ ip: { src: C4, dst: S4, options: Buffer.alloc(3) } }), /IPv4 options must be a multiple of 4/);
  assert.throws(() => buildFrame({ ip: { src: C4, dst: S4, fragOffset: 3 } }), /fragment offset 3 is not a multiple of 8/);
  assert.throws(() => tcpFrame({ src: '198.18.0.300', dst: S4, sport: 1, dport: 2 }), /not an IPv4 or IPv6 address: "198\.18\.0\.300"/);
});

test('pcap encode/decode round-trips frames and timestamps', () => {
  const frames = [udpFrame({ src: C4, dst: S4, sport: 1, dport: 2 }), icmpEchoFrame({ src: C6, dst: S6 })];
  const file = decodePcap(encodePcap(frames, { startUs: 5_000_000n }));
  assert.equal(file.linktype, 1);
  assert.deepEqual(file.records.map((r) => r.data), frames);
  assert.deepEqual(file.records.map((r) => r.tsUs), [5_000_000n, 5_001_000n]);
  assert.throws(() => decodePcap(Buffer.alloc(24)), /not a pcap or pcapng file/);
});
