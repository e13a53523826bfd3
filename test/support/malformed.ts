// Frames that are wrong in exactly one documented way, for the fail-open/fail-closed paths of
// every program. Each takes the flow to damage so a test can aim it at a rule.
import { buildFrame, tcpFrame, truncate, type FlowOpts, type Ipv6Ext } from './frames.js';
import { parseFrame } from './frame-parse.js';

const V4: FlowOpts = { src: '198.18.0.66', dst: '198.18.1.1' };
const V6: FlowOpts = { src: '2001:db8::66', dst: '2001:db8:0:1::1' };
const PORTS = { sport: 40000, dport: 80 };

/** IPv4 with IHL below 5 (here 4). */
export function ipv4IhlTooSmall(flow: FlowOpts = V4): Buffer {
  return buildFrame({ ip: { src: flow.src, dst: flow.dst, ihl: 4 }, l4: { proto: 'tcp', ...PORTS, flags: ['syn'] } });
}

/** IPv4 whose IHL (15 = 60 bytes) claims more header than the frame holds. */
export function ipv4IhlBeyondEnd(flow: FlowOpts = V4): Buffer {
  // 20-byte header + 8 bytes of data: IHL 15 needs 60, only 28 follow the Ethernet header.
  return buildFrame({ ip: { src: flow.src, dst: flow.dst, ihl: 15, protocol: 6 }, payload: Buffer.alloc(8) });
}

/** IPv4 whose total length is shorter than its own header. */
export function ipv4TotalLengthTooShort(flow: FlowOpts = V4): Buffer {
  return buildFrame({ ip: { src: flow.src, dst: flow.dst, totalLength: 12 }, l4: { proto: 'tcp', ...PORTS, flags: ['syn'] } });
}

/** IPv4 EtherType carrying a version field other than 4 (default 5). */
export function ipv4BadVersion(flow: FlowOpts = V4, version = 5): Buffer {
  return buildFrame({ ip: { src: flow.src, dst: flow.dst, versionField: version }, l4: { proto: 'tcp', ...PORTS, flags: ['syn'] } });
}

/** IPv6 EtherType carrying a version field other than 6 (default 4). */
export function ipv6BadVersion(flow: FlowOpts = V6, version = 4): Buffer {
  return buildFrame({ ip: { version: 6, src: flow.src, dst: flow.dst, versionField: version }, l4: { proto: 'tcp', ...PORTS, flags: ['syn'] } });
}

/** A frame cut inside its L4 header, keeping `keep` bytes of it (default 4: ports only). */
export function truncatedL4(frame: Buffer, keep = 4): Buffer {
  const p = parseFrame(frame);
  if (p.l4Offset === undefined) throw new Error('truncatedL4: the frame has no L4 header to cut');
  return truncate(frame, p.l4Offset + keep);
}

/** Three VLAN tags (802.1ad, 802.1Q, 802.1Q): one more than the parser accepts. */
export function tripleVlan(flow: FlowOpts = V4): Buffer {
  return tcpFrame({ ...flow, ...PORTS, vlans: [{ vid: 10, tpid: 0x88a8 }, { vid: 20 }, { vid: 30 }] });
}

/** An IPv6 hop-by-hop header whose length (Hdr Ext Len 20 = 168 bytes) runs past the end. */
export function ipv6ExtPastEnd(flow: FlowOpts = V6): Buffer {
  return buildFrame({ ip: { version: 6, src: flow.src, dst: flow.dst, ext: [{ kind: 'hop-by-hop', hdrExtLen: 20 }] }, l4: { proto: 'tcp', ...PORTS, flags: ['syn'] } });
}

/** An IPv6 chain of `count` destination-options headers (default 9: one past the kernel's 8). */
export function ipv6ExtTooLong(flow: FlowOpts = V6, count = 9): Buffer {
  const ext: Ipv6Ext[] = Array.from({ length: count }, () => ({ kind: 'dest-opts' as const }));
  return tcpFrame({ ...flow, ...PORTS, ext });
}
