// The part every packet event shares (event.h header, then the flow: addresses, ports, VLAN,
// length, rule): decoded in place at each struct's own BTF offsets, so the firewall's and the
// rate limiter's decoders differ only in their own fields.
import { layouts } from '../kernel/layouts.gen.js';
import { recordView } from '../kernel/record-view.js';

const H = layouts.sentinel_event_hdr.fields;

type Field = { readonly offset: number };
type FlowFieldName = 'hdr' | 'rule_num' | 'ifindex' | 'proto' | 'src_addr' | 'dst_addr' | 'src_port' | 'dst_port' | 'vlan_id' | 'pkt_len' | 'tcp_flags';
export type FlowLayout = Readonly<Record<FlowFieldName, Field>>;

/** Address buffers a record object owns and reuses for every record it is decoded from. */
export interface FlowAddressStore {
  readonly src4: Buffer;
  readonly src16: Buffer;
  readonly dst4: Buffer;
  readonly dst16: Buffer;
}

const NO_ADDRESS = Buffer.alloc(0);

/** The address buffers of a new record object. */
export function flowAddressStore(): FlowAddressStore {
  const src16 = Buffer.alloc(16);
  const dst16 = Buffer.alloc(16);
  return { src4: src16.subarray(0, 4), src16, dst4: dst16.subarray(0, 4), dst16 };
}

export interface FlowRecord {
  bootNs: bigint;
  cpu: number;
  ruleNum: number;
  ifindex: number;
  proto: number;
  /** 4 or 16 bytes by family (empty when the family is unknown): copies in `addrs`, rewritten by
   * the next decode into the same record (copy them to keep them) */
  src: Buffer;
  dst: Buffer;
  addrs: FlowAddressStore;
  srcPort: number;
  dstPort: number;
  vlanId: number;
  pktLen: number;
  tcpFlags: number;
}

/** Fills the shared fields of `out` from the record at `off`; `family` decides the address length. */
export function decodeFlow(buf: Buffer, off: number, f: FlowLayout, family: number, out: FlowRecord): void {
  const v = recordView(buf);
  const hdr = off + f.hdr.offset;
  out.bootNs = v.getBigUint64(hdr + H.ts_ns.offset, true);
  out.cpu = v.getUint16(hdr + H.cpu.offset, true);
  out.ruleNum = v.getUint32(off + f.rule_num.offset, true);
  out.ifindex = v.getUint32(off + f.ifindex.offset, true);
  out.proto = v.getUint8(off + f.proto.offset);
  // copied into buffers the record owns: a view per address would be two allocations a record
  const a = out.addrs;
  if (family === 4) {
    copy(buf, off + f.src_addr.offset, a.src4, 4);
    copy(buf, off + f.dst_addr.offset, a.dst4, 4);
    out.src = a.src4;
    out.dst = a.dst4;
  } else if (family === 6) {
    copy(buf, off + f.src_addr.offset, a.src16, 16);
    copy(buf, off + f.dst_addr.offset, a.dst16, 16);
    out.src = a.src16;
    out.dst = a.dst16;
  } else {
    out.src = NO_ADDRESS;
    out.dst = NO_ADDRESS;
  }
  out.srcPort = v.getUint16(off + f.src_port.offset, true);
  out.dstPort = v.getUint16(off + f.dst_port.offset, true);
  out.vlanId = v.getUint16(off + f.vlan_id.offset, true);
  out.pktLen = v.getUint16(off + f.pkt_len.offset, true);
  out.tcpFlags = v.getUint8(off + f.tcp_flags.offset);
}

function copy(from: Buffer, at: number, to: Buffer, n: number): void {
  for (let i = 0; i < n; i++) to[i] = from[at + i]!;
}
