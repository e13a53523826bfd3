// One firewall rule as the kernel sees it, and what the kernel parser extracts from a packet: the
// model the compiler (compile.ts) produces and the classifier (classifier.ts) cuts. Apart from
// both so that neither imports the other's module for it (compile.ts builds the classifier).
import type { Cidr, IpFamily } from '../../net/ip.js';
import type { PortRange } from '../../net/port.js';
import type { FwAction } from './schema.js';

export interface CompiledRule {
  /** config rule id; both family halves of one config rule share it (and its hit counter) */
  readonly ruleId: string;
  readonly priority: number;
  /** index of the rule in firewall.rules (for messages) */
  readonly configIndex: number;
  readonly family: 0 | IpFamily;
  /** what the kernel does (alert mode has turned drop into log) */
  readonly action: FwAction;
  /** what the config said */
  readonly configuredAction: FwAction;
  /** FW_M_* bits */
  readonly match: number;
  readonly srcNet: Cidr | null;
  readonly dstNet: Cidr | null;
  /** set indexes into CompiledFirewall.sets */
  readonly srcSet: number | null;
  readonly dstSet: number | null;
  readonly proto: number | null;
  readonly srcPort: PortRange | null;
  readonly dstPort: PortRange | null;
  readonly icmpType: number | null;
  readonly icmpCode: number | null;
  readonly vlanId: number | null;
  /** FW_CT_* bits the rule accepts (FW_M_CT_STATE), null for any state */
  readonly ctStates: number | null;
}

/** What the kernel parser extracts from a packet (struct sn_pkt), as the matcher needs it. */
export interface PacketFacts {
  family: IpFamily;
  /** 16 bytes, network order, IPv4 in bytes 0..3 and the rest zero */
  src: Uint8Array;
  dst: Uint8Array;
  proto: number;
  /** 0 when not TCP/UDP or a later fragment */
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
  /** innermost VLAN id, 0 when untagged */
  vlanId?: number;
  /** number of VLAN tags (0, 1, 2) */
  vlanDepth?: number;
  /** a non-first IP fragment: no L4 header */
  laterFragment?: boolean;
  /** FW_CT_* state the kernel derived (0 = new when omitted) */
  ctState?: number;
}
