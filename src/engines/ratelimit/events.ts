// xdp-ratelimit ring-buffer records (struct rl_event) -> alerts. Decoded in place at the
// BTF-generated offsets into one reused record, like the firewall's decoder.
import { mitreTechnique } from '../../alerts/mitre.js';
import type { Alert, FlowTuple } from '../../alerts/model.js';
import { layouts } from '../../kernel/layouts.gen.js';
import { recordView } from '../../kernel/record-view.js';
import { formatAddress } from '../../net/ip.js';
import { decodeFlow, flowAddressStore, type FlowRecord } from '../event-flow.js';
import { RATELIMIT_PROGRAM } from './kernel.js';
import { rl_action, rl_reason, sentinel_event_type } from '../../kernel/contract.gen.js';
import { namesByValue, type MemberName } from '../../kernel/contract-names.js';

const E = layouts.rl_event.fields;
const H = layouts.sentinel_event_hdr.fields;
const HDR = E.hdr.offset;
const RL_EVENT_SIZE = layouts.rl_event.size;

/** rl_event.reason (RL_R_* of contract/ratelimit.h) as alerts name it */
const RL_REASON = namesByValue('RL_R_', rl_reason);
export type RlReason = MemberName<typeof rl_reason, 'RL_R_'>;

export interface RatelimitEventRecord extends FlowRecord {
  family: 4 | 6;
  reason: number;
  /** 0 drop, 1 pass (monitor rule) */
  action: number;
  aggregate: boolean;
  /** drops of the bucket so far; the event stands for the drops since the previous one */
  drops: bigint;
}

export function emptyRatelimitEvent(): RatelimitEventRecord {
  return {
    bootNs: 0n, cpu: 0, ruleNum: 0, ifindex: 0, family: 4, proto: 0, src: Buffer.alloc(0), dst: Buffer.alloc(0), addrs: flowAddressStore(),
    srcPort: 0, dstPort: 0, vlanId: 0, pktLen: 0, reason: 0, action: 0, tcpFlags: 0, aggregate: false, drops: 0n,
  };
}

export function decodeRatelimitEvent(buf: Buffer, off: number, len: number, out: RatelimitEventRecord): boolean {
  if (len < RL_EVENT_SIZE) return false;
  const v = recordView(buf);
  if (v.getUint16(off + HDR + H.type.offset, true) !== sentinel_event_type.SN_EV_RATELIMIT) return false;
  const family = v.getUint8(off + E.family.offset);
  if (family !== 4 && family !== 6) return false;
  const reason = v.getUint8(off + E.reason.offset);
  if (!RL_REASON.has(reason)) return false;
  decodeFlow(buf, off, E, family, out);
  out.family = family;
  out.reason = reason;
  out.action = v.getUint8(off + E.action.offset);
  out.aggregate = v.getUint8(off + E.aggregate.offset) !== 0;
  out.drops = v.getBigUint64(off + E.drops.offset, true);
  return true;
}

export interface RatelimitAlertContext {
  ruleId(num: number): string | undefined;
  interfaceName(ifindex: number): string | undefined;
  toWallNs(bootNs: bigint): bigint;
}

/** What a flood guard's drop stands for: Network Denial of Service, Direct Network Flood. */
const DIRECT_FLOOD = Object.freeze(mitreTechnique('T1498.001'));

const CATEGORY: Record<RlReason, string> = {
  rule: 'Rate limit exceeded',
  default: 'Rate limit exceeded',
  syn_flood: 'Denial of service: SYN flood',
  udp_flood: 'Denial of service: UDP flood',
  icmp_flood: 'Denial of service: ICMP flood',
  syncookie_invalid: 'Denial of service: forged SYN cookie',
};

export function ratelimitAlert(ev: RatelimitEventRecord, ctx: RatelimitAlertContext): Alert {
  const reason = RL_REASON.get(ev.reason);
  if (!reason) throw new Error(`rl_event reason ${ev.reason} is not in enum rl_reason`); // decode refuses those
  const flood = reason !== 'rule' && reason !== 'default';
  const ruleId = reason === 'rule' ? (ctx.ruleId(ev.ruleNum) ?? `rule#${ev.ruleNum}`) : reason === 'default' ? 'default-rate' : `ddos-${reason.replace('_', '-')}`;
  const passed = ev.action === rl_action.RL_ACT_PASS;
  const flow: FlowTuple = { srcIp: formatAddress(ev.family, ev.src), dstIp: formatAddress(ev.family, ev.dst), proto: ev.proto };
  if (ev.proto === 6 || ev.proto === 17) {
    flow.srcPort = ev.srcPort;
    flow.dstPort = ev.dstPort;
  }
  const alert: Alert = {
    kind: 'alert',
    timestampNs: ctx.toWallNs(ev.bootNs),
    severity: flood ? 'high' : 'medium',
    engine: 'ratelimit',
    program: RATELIMIT_PROGRAM,
    ruleId,
    ruleName: `ebpfsentinel ratelimit ${passed ? 'over limit (monitor)' : 'drop'}: ${ruleId}${ev.aggregate ? ' (all sources)' : ''}; ${ev.drops} over-limit packets so far`,
    signatureId: ev.ruleNum,
    action: passed ? 'allowed' : 'blocked',
    reason,
    category: CATEGORY[reason],
    flow,
    packetLength: ev.pktLen,
  };
  if (flood) alert.mitre = DIRECT_FLOOD;
  const ifname = ctx.interfaceName(ev.ifindex);
  if (ifname) alert.interface = ifname;
  if (ev.vlanId) alert.vlan = [ev.vlanId];
  return alert;
}
