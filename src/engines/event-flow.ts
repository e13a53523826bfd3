// The part every packet event shares (event.h header, then the flow: addresses, ports, VLAN,
// length, rule): decoded in place at each struct's own BTF offsets, so the firewall's and the
// rate limiter's decoders differ only in their own fields.
import { layouts } from '../kernel/layouts.gen.js';

const H = layouts.sentinel_event_hdr.fields;

type Field = { readonly offset: number };
type FlowFieldName = 'hdr' | 'rule_num' | 'ifindex' | 'proto' | 'src_addr' | 'dst_addr' | 'src_port' | 'dst_port' | 'vlan_id' | 'pkt_len' | 'tcp_flags';
export type FlowLayout = Readonly<Record<FlowFieldName, Field>>;

export interface FlowRecord {
  bootNs: bigint;
  cpu: number;
  ruleNum: number;
  ifindex: number;
  proto: number;
  /** 4 or 16 bytes by family (empty when the family is unknown); views into the batch buffer */
  src: Buffer;
  dst: Buffer;
  srcPort: number;
  dstPort: number;
  vlanId: number;
  pktLen: number;
  tcpFlags: number;
}

/** Fills the shared fields of `out` from the record at `off`; `family` decides the address length. */
export function decodeFlow(buf: Buffer, off: number, f: FlowLayout, family: number, out: FlowRecord): void {
  const hdr = off + f.hdr.offset;
  out.bootNs = buf.readBigUInt64LE(hdr + H.ts_ns.offset);
  out.cpu = buf.readUInt16LE(hdr + H.cpu.offset);
  out.ruleNum = buf.readUInt32LE(off + f.rule_num.offset);
  out.ifindex = buf.readUInt32LE(off + f.ifindex.offset);
  out.proto = buf.readUInt8(off + f.proto.offset);
  const alen = family === 6 ? 16 : family === 4 ? 4 : 0;
  out.src = buf.subarray(off + f.src_addr.offset, off + f.src_addr.offset + alen);
  out.dst = buf.subarray(off + f.dst_addr.offset, off + f.dst_addr.offset + alen);
  out.srcPort = buf.readUInt16LE(off + f.src_port.offset);
  out.dstPort = buf.readUInt16LE(off + f.dst_port.offset);
  out.vlanId = buf.readUInt16LE(off + f.vlan_id.offset);
  out.pktLen = buf.readUInt16LE(off + f.pkt_len.offset);
  out.tcpFlags = buf.readUInt8(off + f.tcp_flags.offset);
}
