// Firewall ring-buffer records (struct fw_event) -> alerts. Decoding reads the batch buffer in
// place at the BTF-generated offsets; one reused record object per decoder keeps the hot path
// free of per-event allocation until an alert is actually built.
import { mitreForPort } from '../../alerts/mitre.js';
import type { Alert, FlowTuple } from '../../alerts/model.js';
import type { BlockDescription } from '../../blocklist/types.js';
import { formatAddress } from '../../net/ip.js';
import { layouts } from '../../kernel/layouts.gen.js';
import { recordView } from '../../kernel/record-view.js';
import { decodeFlow, flowAddressStore, type FlowRecord } from '../event-flow.js';
import { fw_action, fw_reason, sentinel_event_type } from '../../kernel/contract.gen.js';
import { namesByValue } from '../../kernel/contract-names.js';

const E = layouts.fw_event.fields;
const H = layouts.sentinel_event_hdr.fields;
const HDR = E.hdr.offset;
const FW_EVENT_SIZE = layouts.fw_event.size;

/** fw_event.reason as alerts name it: rule, default, malformed */
const FW_REASON = namesByValue('FW_REASON_', fw_reason);
const FAMILY_UNKNOWN = 0;

export interface FirewallEventRecord extends FlowRecord {
  /** 0 when a malformed frame was judged before its IP header could be read */
  family: 0 | 4 | 6;
  vlanDepth: number;
  action: number;
  reason: number;
  icmpType: number;
  icmpCode: number;
}

/** Decodes one record into `out`; returns false (and leaves `out` unspecified) when the record
 * is too short or not a firewall event. */
export function decodeFirewallEvent(buf: Buffer, off: number, len: number, out: FirewallEventRecord): boolean {
  if (len < FW_EVENT_SIZE) return false;
  const v = recordView(buf);
  if (v.getUint16(off + HDR + H.type.offset, true) !== sentinel_event_type.SN_EV_FIREWALL) return false;
  const reason = v.getUint8(off + E.reason.offset);
  let family = v.getUint8(off + E.family.offset);
  // A malformed frame may be dropped before any IP header was read: no family, no addresses.
  if (family === 0 && reason === fw_reason.FW_REASON_MALFORMED) family = FAMILY_UNKNOWN;
  else if (family !== 4 && family !== 6) return false;
  decodeFlow(buf, off, E, family, out);
  out.family = family as 0 | 4 | 6;
  out.vlanDepth = v.getUint8(off + E.vlan_depth.offset);
  out.action = v.getUint8(off + E.action.offset);
  out.reason = reason;
  out.icmpType = v.getUint8(off + E.icmp_type.offset);
  out.icmpCode = v.getUint8(off + E.icmp_code.offset);
  return true;
}

export function emptyFirewallEvent(): FirewallEventRecord {
  return {
    bootNs: 0n, cpu: 0, ruleNum: 0, ifindex: 0, family: 4, proto: 0, src: Buffer.alloc(0), dst: Buffer.alloc(0), addrs: flowAddressStore(),
    srcPort: 0, dstPort: 0, vlanId: 0, vlanDepth: 0, pktLen: 0, action: 0, reason: 0, icmpType: 0, icmpCode: 0, tcpFlags: 0,
  };
}

export interface RuleInfo {
  id: string;
  name: string;
}

export interface AlertContext {
  /** rule number -> rule id and description */
  rule(num: number): RuleInfo | undefined;
  /** block-list entry id (a blocklist drop's rule_num) -> the entry, while it exists */
  blockEntry(id: number): BlockDescription | undefined;
  /** ifindex -> interface name */
  interfaceName(ifindex: number): string | undefined;
  /** CLOCK_BOOTTIME ns -> Unix epoch ns */
  toWallNs(bootNs: bigint): bigint;
}

const PORT_PROTOS = new Set([6, 17, 132]);
const ICMP_PROTOS = new Set([1, 58]);

export function firewallAlert(ev: FirewallEventRecord, ctx: AlertContext): Alert {
  const reason = FW_REASON.get(ev.reason) ?? 'unknown';
  if (reason === 'blocklist') return blocklistAlert(ev, ctx);
  const rule = ev.ruleNum ? ctx.rule(ev.ruleNum) : undefined;
  const ruleId = rule?.id ?? (reason === 'malformed' ? 'malformed-packet' : reason === 'default' ? 'default-policy' : `rule#${ev.ruleNum}`);
  const rejected = ev.action === fw_action.FW_ACT_REJECT;
  const dropped = ev.action === fw_action.FW_ACT_DROP || rejected;
  const verdict = rejected ? 'reject' : dropped ? 'deny' : 'log';
  const ruleName =
    reason === 'rule'
      ? `ebpfsentinel firewall ${verdict}: ${rule?.name ?? ruleId}`
      : reason === 'default'
        ? `ebpfsentinel firewall default policy ${rejected ? 'reject' : dropped ? 'drop' : 'log'}`
        : `ebpfsentinel firewall malformed packet ${dropped ? 'dropped' : 'logged'}`;
  const flow = flowOf(ev);
  const alert: Alert = {
    kind: 'alert',
    timestampNs: ctx.toWallNs(ev.bootNs),
    severity: dropped ? 'medium' : 'low',
    engine: 'firewall',
    program: 'xdp-firewall',
    ruleId,
    ruleName,
    signatureId: ev.ruleNum,
    action: dropped ? 'blocked' : 'allowed',
    reason,
    category: reason === 'malformed' ? 'Malformed packet' : 'Firewall policy',
    flow,
    packetLength: ev.pktLen,
  };
  // a refused or logged connection to a remote-service port is an attempt at that service
  const mitre = reason === 'malformed' ? undefined : mitreForPort(flow.proto, flow.dstPort);
  if (mitre) alert.mitre = mitre;
  return withInterface(alert, ev, ctx);
}

/** A drop by the dynamic block list: the rule is the entry (its network, direction and owners'
 * reasons); an entry removed before its event was read is named by its id. */
function blocklistAlert(ev: FirewallEventRecord, ctx: AlertContext): Alert {
  const entry = ctx.blockEntry(ev.ruleNum);
  const why = entry ? entry.owners.map((o) => `${o.owner}: ${o.reason}`).join('; ') : `entry #${ev.ruleNum}, since removed`;
  const alert: Alert = {
    kind: 'alert',
    timestampNs: ctx.toWallNs(ev.bootNs),
    severity: 'medium',
    engine: 'firewall',
    program: 'xdp-firewall',
    ruleId: entry ? `blocklist:${entry.cidr}` : `blocklist#${ev.ruleNum}`,
    ruleName: entry ? `ebpfsentinel block list ${entry.direction} ${entry.cidr}: ${why}` : `ebpfsentinel block list: ${why}`,
    signatureId: ev.ruleNum,
    action: 'blocked',
    reason: 'blocklist',
    category: 'Block list',
    flow: flowOf(ev),
    packetLength: ev.pktLen,
  };
  return withInterface(alert, ev, ctx);
}

function flowOf(ev: FirewallEventRecord): FlowTuple {
  const flow: FlowTuple = {
    // Unknown addresses are reported as the unspecified address rather than invented.
    srcIp: ev.family === 0 ? '0.0.0.0' : formatAddress(ev.family, ev.src),
    dstIp: ev.family === 0 ? '0.0.0.0' : formatAddress(ev.family, ev.dst),
    proto: ev.proto,
  };
  if (PORT_PROTOS.has(ev.proto)) {
    flow.srcPort = ev.srcPort;
    flow.dstPort = ev.dstPort;
  } else if (ICMP_PROTOS.has(ev.proto)) {
    flow.icmpType = ev.icmpType;
    flow.icmpCode = ev.icmpCode;
  }
  return flow;
}

function withInterface(alert: Alert, ev: FirewallEventRecord, ctx: AlertContext): Alert {
  const ifname = ctx.interfaceName(ev.ifindex);
  if (ifname) alert.interface = ifname;
  if (ev.vlanDepth > 0) alert.vlan = [ev.vlanId];
  return alert;
}
