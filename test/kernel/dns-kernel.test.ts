// tc-dns's kernel side through BPF_PROG_TEST_RUN: a DNS message over UDP or TCP port 53, IPv4
// and IPv6, reaches the ring whole (the bytes after the UDP header, or after the TCP length
// prefix), with its flow and flags; a message longer than the copy bound, or than the packet, is
// flagged and counted as truncated; other traffic makes no record; nothing changes a verdict.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { dns_counter, dns_event_flag, dns_limits, sentinel_program_id } from '../../src/kernel/contract.gen.js';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { BpfObject } from '../../src/kernel/object.js';
import { RingReader } from '../../src/kernel/ring.js';
import { readPerInterface } from '../../src/engines/runtime/counters.js';
import { programCounterSlots } from '../../src/kernel/contract-names.js';
import { bytesCodec, u32Codec, type Codec } from '../../src/kernel/map.js';
import { tcpFrame, udpFrame } from '../support/frames.js';
import { conntrackSkipReason, CT_OBJECT, TCX_NEXT_RET } from './conntrack-harness.js';

const skip = conntrackSkipReason();
const F = layouts.dns_event.fields;

interface Seen {
  program: number;
  srcPort: number;
  dstPort: number;
  family: number;
  flags: number;
  msgLen: number;
  capLen: number;
  msg: Buffer;
}

describe('tc-dns in the kernel', { skip }, () => {
  const obj = BpfObject.load(path.join(path.dirname(CT_OBJECT), 'tc_dns.bpf.o'));
  const prog = obj.program('tc_dns');
  const seen: Seen[] = [];
  const ring = new RingReader([obj.mapFd('dns_events')], (b, off) => {
    seen.push({
      program: b[off + layouts.sentinel_event_hdr.fields.program.offset]!,
      srcPort: b.readUInt16LE(off + F.src_port.offset),
      dstPort: b.readUInt16LE(off + F.dst_port.offset),
      family: b[off + F.family.offset]!,
      flags: b[off + F.flags.offset]!,
      msgLen: b.readUInt16LE(off + F.msg_len.offset),
      capLen: b.readUInt16LE(off + F.cap_len.offset),
      msg: Buffer.from(b.subarray(off + F.msg.offset, off + F.msg.offset + b.readUInt16LE(off + F.cap_len.offset))),
    });
  });
  after(() => {
    ring.close();
    obj.close();
  });
  const run = (frame: Buffer): Seen[] => {
    seen.length = 0;
    const r = prog.testRun({ data: frame });
    assert.equal(r.retval, TCX_NEXT_RET);
    ring.consume();
    return [...seen];
  };
  const query = Buffer.concat([Buffer.from([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7]), Buffer.from('example'), Buffer.from([3]), Buffer.from('com'), Buffer.from([0, 0, 1, 0, 1])]);

  for (const [fam, c, s] of [
    [4, '198.18.0.10', '198.18.1.1'],
    [6, '2001:db8::10', '2001:db8:0:1::1'],
  ] as const) {
    it(`IPv${fam}: UDP and TCP messages reach the ring whole; other traffic does not`, () => {
      const q = run(udpFrame({ src: c, dst: s, sport: 40000, dport: 53, payload: query }));
      assert.equal(q.length, 1);
      assert.deepEqual([q[0]!.program, q[0]!.family, q[0]!.srcPort, q[0]!.dstPort, q[0]!.flags, q[0]!.msgLen], [sentinel_program_id.SN_PROG_TC_DNS, fam, 40000, 53, 0, query.length]);
      assert.ok(q[0]!.msg.equals(query));
      const a = run(udpFrame({ src: s, dst: c, sport: 53, dport: 40000, payload: query }));
      assert.equal(a[0]!.flags, dns_event_flag.DNS_EV_F_FROM_SERVER);
      const prefixed = Buffer.concat([Buffer.from([0, query.length]), query]);
      const t = run(tcpFrame({ src: c, dst: s, sport: 40001, dport: 53, flags: ['psh', 'ack'], payload: prefixed }));
      assert.equal(t[0]!.flags, dns_event_flag.DNS_EV_F_TCP);
      assert.ok(t[0]!.msg.equals(query));
      assert.deepEqual(run(tcpFrame({ src: c, dst: s, sport: 40001, dport: 53, flags: ['syn'] })), []);
      assert.deepEqual(run(udpFrame({ src: c, dst: s, sport: 40000, dport: 5353, payload: query })), []);
    });
  }

  it('a message longer than the bound or than the packet is cut, flagged and counted', () => {
    const big = Buffer.alloc(dns_limits.DNS_MSG_MAX + 300, 0x41);
    const r = run(udpFrame({ src: '198.18.0.10', dst: '198.18.1.1', sport: 40000, dport: 53, payload: big }));
    assert.deepEqual([r[0]!.msgLen, r[0]!.capLen, r[0]!.flags], [big.length, dns_limits.DNS_MSG_MAX, dns_event_flag.DNS_EV_F_TRUNCATED]);
    // a TCP length prefix promising more than the segment holds
    const short = Buffer.concat([Buffer.from([0x02, 0x00]), query]);
    const t = run(tcpFrame({ src: '2001:db8::10', dst: '2001:db8:0:1::1', sport: 40001, dport: 53, flags: ['psh', 'ack'], payload: short }));
    assert.deepEqual([t[0]!.msgLen, t[0]!.capLen, t[0]!.flags], [512, query.length, dns_event_flag.DNS_EV_F_TCP | dns_event_flag.DNS_EV_F_TRUNCATED]);
    const counters = readPerInterface(obj.map('dns_counters', u32Codec, bytesCodec(layouts.sentinel_counters.size) as Codec<Buffer>), programCounterSlots('DNS_CNT_', dns_counter));
    let truncated = 0n;
    for (const v of counters.values()) truncated += (v as Record<string, bigint>).truncated ?? 0n;
    assert.ok(truncated >= 2n, `truncated counted: ${truncated}`);
  });
});
