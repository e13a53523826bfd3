// Frames of every link type replay takes, made Ethernet frames: tshark decodes the capture as
// written (Linux cooked v1/v2, BSD loopback in both byte orders, OpenBSD loop, raw IP of each
// spelling) and the converted Ethernet capture, and both decodes must name the same addresses,
// ports and protocol for every frame. What cannot be converted is refused by reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cookedOutgoing, linkTypeSupported, LINKTYPE, toEthernet, unsupportedLinkType, UNUSABLE } from '../../src/capture/link.js';
import { encodePcap } from '../../src/lab/pcap.js';
import { tcpFrame, udpFrame } from '../support/frames.js';

const FIELDS = ['ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'ip.proto', 'ipv6.nxt', 'udp.srcport', 'udp.dstport', 'tcp.srcport', 'tcp.dstport', 'tcp.flags'];

function tshark(file: string): string[] {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', ...FIELDS.flatMap((f) => ['-e', f])], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`tshark could not run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`tshark exited ${r.status}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.trim());
}

const ether = [
  udpFrame({ src: '198.18.0.10', dst: '198.18.1.1', sport: 40000, dport: 53, payload: 'abc' }),
  tcpFrame({ src: '2001:db8::10', dst: '2001:db8:0:1::1', sport: 40001, dport: 443, flags: ['syn', 'ack'] }),
  udpFrame({ src: '2001:db8::66', dst: '2001:db8:0:1::1', sport: 5353, dport: 53, payload: Buffer.alloc(100, 1) }),
  tcpFrame({ src: '198.18.0.66', dst: '198.18.1.1', sport: 1, dport: 22, flags: ['rst'] }),
];
const ipOf = (f: Buffer): Buffer => f.subarray(14);
const v6 = (f: Buffer): boolean => f.readUInt16BE(12) === 0x86dd;
const MAC = Buffer.from('020000000099', 'hex');

function sll(f: Buffer, pkttype: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(pkttype, 0);
  h.writeUInt16BE(1, 2); // ARPHRD_ETHER
  h.writeUInt16BE(6, 4);
  MAC.copy(h, 6);
  h.writeUInt16BE(f.readUInt16BE(12), 14);
  return Buffer.concat([h, ipOf(f)]);
}

function sll2(f: Buffer, pkttype: number): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(f.readUInt16BE(12), 0);
  h.writeUInt32BE(3, 4); // ifindex
  h.writeUInt16BE(1, 8);
  h[10] = pkttype;
  h[11] = 6;
  MAC.copy(h, 12);
  return Buffer.concat([h, ipOf(f)]);
}

function loopback(f: Buffer, be: boolean, v6family: number): Buffer {
  const h = Buffer.alloc(4);
  const fam = v6(f) ? v6family : 2;
  if (be) h.writeUInt32BE(fam, 0);
  else h.writeUInt32LE(fam, 0);
  return Buffer.concat([h, ipOf(f)]);
}

const CASES: { name: string; linktype: number; frames: Buffer[] }[] = [
  { name: 'Linux cooked (SLL)', linktype: LINKTYPE.LINUX_SLL, frames: ether.map((f, i) => sll(f, i === 1 ? 4 : 0)) },
  { name: 'Linux cooked v2 (SLL2)', linktype: LINKTYPE.LINUX_SLL2, frames: ether.map((f, i) => sll2(f, i === 1 ? 4 : 0)) },
  { name: 'NULL, little-endian host, macOS AF_INET6 30', linktype: LINKTYPE.NULL, frames: ether.map((f) => loopback(f, false, 30)) },
  { name: 'NULL, big-endian host, FreeBSD AF_INET6', linktype: LINKTYPE.NULL, frames: ether.map((f) => loopback(f, true, 28)) },
  { name: 'LOOP (OpenBSD), AF_INET6 24', linktype: LINKTYPE.LOOP, frames: ether.map((f) => loopback(f, true, 24)) },
  { name: 'raw IP (101)', linktype: LINKTYPE.RAW, frames: ether.map(ipOf) },
  { name: 'raw IP (12)', linktype: LINKTYPE.RAW_12, frames: ether.map(ipOf) },
  { name: 'raw IPv4 (228)', linktype: LINKTYPE.IPV4, frames: ether.filter((f) => !v6(f)).map(ipOf) },
  { name: 'raw IPv6 (229)', linktype: LINKTYPE.IPV6, frames: ether.filter(v6).map(ipOf) },
];

test('every link type replay takes becomes the Ethernet frame tshark decodes the same way', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'esn-link-'));
  try {
    for (const c of CASES) {
      assert.ok(linkTypeSupported(c.linktype), c.name);
      const orig = path.join(dir, 'orig.pcap');
      const conv = path.join(dir, 'conv.pcap');
      writeFileSync(orig, encodePcap(c.frames, { linktype: c.linktype }));
      const converted = c.frames.map((f) => {
        const out = Buffer.alloc(f.length + 14);
        const n = toEthernet(c.linktype, f, out, 0);
        assert.ok(n >= 14, `${c.name}: ${n < 0 ? UNUSABLE[-1 - n] : n}`);
        return out.subarray(0, n);
      });
      writeFileSync(conv, encodePcap(converted));
      const a = tshark(orig);
      const b = tshark(conv);
      assert.equal(a.length, c.frames.length, c.name);
      assert.deepEqual(b, a, c.name);
      // every frame carries addresses: the decode is not empty
      for (const line of a) assert.match(line, /198\.18\.|2001:db8:/, c.name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cooked captures keep the capturing host\'s address as the source MAC and say which frames went out', () => {
  const f = ether[0]!;
  for (const [lt, data] of [[LINKTYPE.LINUX_SLL, sll(f, 4)], [LINKTYPE.LINUX_SLL2, sll2(f, 4)]] as const) {
    const out = Buffer.alloc(data.length + 14);
    const n = toEthernet(lt, data, out, 0);
    assert.equal(out.subarray(6, 12).toString('hex'), MAC.toString('hex'));
    assert.equal(out.readUInt16BE(12), 0x0800);
    assert.ok(out.subarray(14, n).equals(ipOf(f)));
    assert.equal(cookedOutgoing(lt, data), true);
  }
  assert.equal(cookedOutgoing(LINKTYPE.LINUX_SLL, sll(f, 0)), false);
  assert.equal(cookedOutgoing(LINKTYPE.LINUX_SLL2, sll2(f, 0)), false);
  assert.equal(cookedOutgoing(LINKTYPE.ETHERNET, f), false);
});

test('what cannot become an Ethernet frame is refused with its reason', () => {
  const out = Buffer.alloc(2048);
  const reason = (lt: number, data: Buffer): string => {
    const n = toEthernet(lt, data, out, 0);
    return n < 0 ? UNUSABLE[-1 - n]! : `ok ${n}`;
  };
  assert.equal(reason(LINKTYPE.LINUX_SLL, Buffer.alloc(10)), 'shorter than its link-layer header');
  assert.equal(reason(LINKTYPE.LINUX_SLL2, Buffer.alloc(19)), 'shorter than its link-layer header');
  assert.equal(reason(LINKTYPE.NULL, Buffer.alloc(3)), 'shorter than its link-layer header');
  assert.equal(reason(LINKTYPE.NULL, Buffer.from([7, 0, 0, 0, 0x45])), 'loopback family is neither IPv4 nor IPv6');
  assert.equal(reason(LINKTYPE.RAW, Buffer.from([0x55, 0, 0, 0])), 'raw IP packet of neither version 4 nor 6');
  assert.equal(reason(LINKTYPE.RAW, Buffer.alloc(0)), 'shorter than its link-layer header');
  // an 802.2 frame in a cooked capture (protocol 0x0004) has no EtherType
  const llc = sll(ether[0]!, 0);
  llc.writeUInt16BE(0x0004, 14);
  assert.equal(reason(LINKTYPE.LINUX_SLL, llc), 'cooked capture of a protocol that is not an EtherType');
  assert.equal(reason(105, Buffer.alloc(40)), 'link type not supported');
  assert.equal(linkTypeSupported(105), false);
  assert.match(unsupportedLinkType(105), /^IEEE 802\.11 \(LINKTYPE 105\) is not a link type replay takes; it takes .*Ethernet.*SLL2/);
  assert.match(unsupportedLinkType(4242), /^link type 4242 \(LINKTYPE 4242\)/);
});
