// The state vocabulary of tc-conntrack (enum ct_state of bpf/include/sentinel/contract/conntrack.h)
// and the per-state timeout table the agent writes to the kernel. The numbers are the kernel
// contract; the names are what users see in the API, the CLI, metrics and config.
import { ct_default_timeout, ct_state } from '../../kernel/contract.gen.js';
import { valuesByName } from '../../kernel/contract-names.js';

/** State names (CT_S_* of contract/conntrack.h without CT_S_NONE, which is never stored) and numbers. */
const { none: _none, ...states } = valuesByName('CT_S_', ct_state);
export const CT_STATES = states;

export type CtStateName = keyof typeof CT_STATES;

export const CT_STATE_NAMES: readonly CtStateName[] = Object.keys(CT_STATES) as CtStateName[];

const BY_NUMBER = new Map<number, CtStateName>(Object.entries(CT_STATES).map(([n, v]) => [v, n as CtStateName]));

/** Name of a kernel state number; unknown numbers stay visible as `state_<n>` rather than vanish. */
export function stateName(n: number): string {
  return BY_NUMBER.get(n) ?? `state_${n}`;
}

/** Config key of each state's timeout (conntrack.timeouts.<key>), in seconds. Defaults follow
 * netfilter's (nf_conntrack_tcp_timeout_*, udp_timeout(_stream), icmp_timeout); `tcp_new` is a
 * flow picked up mid-stream that nobody has answered yet. `udp_replied` has no key of its own: as
 * in netfilter, an answered UDP flow keeps udp_timeout (our `udp_unreplied`) until it is a
 * stream (`udp_assured`, udp_timeout_stream). */
export const TIMEOUT_KEYS = {
  tcp_new: 'new',
  tcp_syn_sent: 'syn_sent',
  tcp_syn_recv: 'syn_recv',
  tcp_established: 'established',
  tcp_fin_wait: 'fin_wait',
  tcp_close_wait: 'close_wait',
  tcp_last_ack: 'last_ack',
  tcp_time_wait: 'time_wait',
  tcp_close: 'close',
  udp_unreplied: 'udp_unreplied',
  udp_assured: 'udp_assured',
  icmp_unreplied: 'icmp_unreplied',
  icmp_replied: 'icmp_replied',
} as const satisfies Record<string, CtStateName>;

export type TimeoutKey = keyof typeof TIMEOUT_KEYS;

/** The defaults are the kernel's own built-in timeouts (CT_TO_* of contract/conntrack.h). */
export const DEFAULT_TIMEOUTS: Readonly<Record<TimeoutKey, number>> = valuesByName('CT_TO_', ct_default_timeout);

/** The timeout each state lives by: its own key, except `udp_replied`, which keeps
 * `udp_unreplied`'s (netfilter's udp_timeout until the flow is a stream). */
export const TIMEOUT_OF_STATE: Readonly<Record<CtStateName, TimeoutKey>> = {
  ...(Object.fromEntries(Object.entries(TIMEOUT_KEYS).map(([k, st]) => [st, k])) as Record<Exclude<CtStateName, 'udp_replied'>, TimeoutKey>),
  udp_replied: 'udp_unreplied',
};

/** struct ct_config: one u64 timeout in ns per state number (slot 0 unused). */
export function encodeTimeouts(t: Readonly<Record<TimeoutKey, number>>, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (const [state, key] of Object.entries(TIMEOUT_OF_STATE) as [CtStateName, TimeoutKey][]) {
    const off = CT_STATES[state] * 8;
    if (off + 8 > size) throw new Error(`ct_config is ${size} bytes: no slot for state ${state}`);
    b.writeBigUInt64LE(BigInt(t[key]) * 1_000_000_000n, off);
  }
  return b;
}
