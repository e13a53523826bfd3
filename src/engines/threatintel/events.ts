// tc-threatintel ring-buffer records (struct ti_event) into alerts. Decoded in place into one
// reused record; the alert names the indicator through the generation's ref table, so a late
// event of a generation already replaced still names the indicator it matched (the engine keeps
// the previous generation's table until the next refresh).
import type { Alert, FlowTuple, IndicatorMatch } from '../../alerts/model.js';
import { layouts } from '../../kernel/layouts.gen.js';
import { recordView } from '../../kernel/record-view.js';
import { formatAddress } from '../../net/ip.js';
import { indicatorText } from '../../intel/indicator.js';
import { decodeFlow, flowAddressStore, type FlowRecord } from '../event-flow.js';
import { sentinel_event_type, ti_action, ti_match, ti_side } from '../../kernel/contract.gen.js';
import type { CompiledIntel } from './compile.js';
import { THREATINTEL_PROGRAM } from './kernel.js';

const E = layouts.ti_event.fields;
const H = layouts.sentinel_event_hdr.fields;
export const TI_EVENT_SIZE = layouts.ti_event.size;

export interface ThreatIntelEventRecord extends FlowRecord {
  family: 4 | 6;
  genId: number;
  action: number;
  feed: number;
  confidence: number;
  side: number;
  match: number;
}

export function emptyThreatIntelEvent(): ThreatIntelEventRecord {
  return {
    bootNs: 0n, cpu: 0, ruleNum: 0, ifindex: 0, family: 4, proto: 0, src: Buffer.alloc(0), dst: Buffer.alloc(0), addrs: flowAddressStore(),
    srcPort: 0, dstPort: 0, vlanId: 0, pktLen: 0, tcpFlags: 0, genId: 0, action: 0, feed: 0, confidence: 0, side: 0, match: 0,
  };
}

const ACTIONS = new Set<number>([ti_action.TI_ACT_ALERT, ti_action.TI_ACT_QUARANTINE, ti_action.TI_ACT_DROP]);

export function decodeThreatIntelEvent(buf: Buffer, off: number, len: number, out: ThreatIntelEventRecord): boolean {
  if (len < TI_EVENT_SIZE) return false;
  const v = recordView(buf);
  if (v.getUint16(off + E.hdr.offset + H.type.offset, true) !== sentinel_event_type.SN_EV_THREATINTEL) return false;
  const family = v.getUint8(off + E.family.offset);
  if (family !== 4 && family !== 6) return false;
  const action = v.getUint8(off + E.action.offset);
  const side = v.getUint8(off + E.side.offset);
  const match = v.getUint8(off + E.match.offset);
  if (!ACTIONS.has(action) || (side !== ti_side.TI_SIDE_SRC && side !== ti_side.TI_SIDE_DST) || (match !== ti_match.TI_MATCH_EXACT && match !== ti_match.TI_MATCH_CIDR)) return false;
  decodeFlow(buf, off, E, family, out);
  out.family = family;
  out.genId = v.getUint32(off + E.gen_id.offset, true);
  out.action = action;
  out.feed = v.getUint8(off + E.feed.offset);
  out.confidence = v.getUint8(off + E.confidence.offset);
  out.side = side;
  out.match = match;
  return true;
}

export interface ThreatIntelAlertContext {
  /** the compiled generation an event's gen_id names, if still known */
  generation(genId: number): CompiledIntel | undefined;
  interfaceName(ifindex: number): string | undefined;
  toWallNs(bootNs: bigint): bigint;
}

const ACTION_WORD: Readonly<Record<number, string>> = { [ti_action.TI_ACT_ALERT]: 'alert', [ti_action.TI_ACT_QUARANTINE]: 'quarantine', [ti_action.TI_ACT_DROP]: 'drop' };

/** The alert of a match; undefined when its generation is no longer known (counted by the caller). */
export function threatIntelAlert(ev: ThreatIntelEventRecord, ctx: ThreatIntelAlertContext): Alert | undefined {
  const gen = ctx.generation(ev.genId);
  const ref = gen?.refs[ev.ruleNum];
  if (!gen || !ref) return undefined;
  const ind = ref.indicator;
  const feed = gen.feeds[ref.feed] ?? `feed#${ref.feed}`;
  const flow: FlowTuple = { srcIp: formatAddress(ev.family, ev.src), dstIp: formatAddress(ev.family, ev.dst), proto: ev.proto };
  if (ev.proto === 6 || ev.proto === 17) {
    flow.srcPort = ev.srcPort;
    flow.dstPort = ev.dstPort;
  }
  const value = indicatorText(ind.value);
  const indicator: IndicatorMatch = { id: ind.id, value, feed, confidence: ev.confidence, side: ev.side === ti_side.TI_SIDE_SRC ? 'src' : 'dst', match: ev.match === ti_match.TI_MATCH_CIDR ? 'cidr' : 'exact' };
  if (ind.name !== undefined) indicator.name = ind.name;
  if (ind.killChain) indicator.killChainPhases = ind.killChain.map((k) => ({ killChainName: k.kill_chain_name, phaseName: k.phase_name }));
  if (ind.category !== undefined) indicator.category = ind.category;
  const word = ACTION_WORD[ev.action] ?? 'alert';
  const alert: Alert = {
    kind: 'alert',
    timestampNs: ctx.toWallNs(ev.bootNs),
    severity: ev.action === ti_action.TI_ACT_ALERT ? 'high' : 'critical',
    engine: 'threatintel',
    program: THREATINTEL_PROGRAM,
    ruleId: `threatintel:${feed}`,
    ruleName: `ebpfsentinel threat intel ${word}: ${indicator.side === 'src' ? 'source' : 'destination'} ${value} in feed ${feed}${ind.name ? ` (${ind.name})` : ''}`,
    signatureId: ev.ruleNum,
    action: ev.action === ti_action.TI_ACT_ALERT ? 'allowed' : 'blocked',
    reason: word,
    category: 'Known malicious address (threat intelligence)',
    flow,
    packetLength: ev.pktLen,
    indicator,
  };
  const ifname = ctx.interfaceName(ev.ifindex);
  if (ifname) alert.interface = ifname;
  if (ev.vlanId) alert.vlan = [ev.vlanId];
  return alert;
}
