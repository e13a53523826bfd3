// Names for the contract's enum members (src/kernel/contract.gen.ts, generated from
// bpf/include/sentinel/contract/): a member is named without its prefix, in lower case
// (FW_CNT_RULE_HIT is `rule_hit`, RL_R_SYN_FLOOD is `syn_flood`). These names are what users see
// in metrics, status, events and config, so the C member names decide them and TS copies nothing.
import { sentinel_counter, sentinel_counter_block } from './contract.gen.js';

type Enum = Readonly<Record<string, number>>;

/** The user-facing name of each member of E that starts with P. */
export type MemberName<E extends Enum, P extends string> = {
  [K in keyof E]: K extends `${P}${infer R}` ? Lowercase<R> : never;
}[keyof E];

function entries<E extends Enum, P extends string>(prefix: P, e: E): [MemberName<E, P>, number][] {
  return Object.entries(e).map(([k, v]) => {
    if (!k.startsWith(prefix)) throw new Error(`${k} does not start with ${prefix}: one enum, one prefix`);
    return [k.slice(prefix.length).toLowerCase() as MemberName<E, P>, v];
  });
}

/** name -> value, e.g. { new: 1, syn_sent: 2, ... } for ct_state. */
export function valuesByName<E extends Enum, P extends string>(prefix: P, e: E): Readonly<Record<MemberName<E, P>, number>> {
  return Object.fromEntries(entries(prefix, e)) as Record<MemberName<E, P>, number>;
}

/** value -> name, for decoding codes read from the kernel (event reasons, states). */
export function namesByValue<E extends Enum, P extends string>(prefix: P, e: E): ReadonlyMap<number, MemberName<E, P>> {
  return new Map(entries(prefix, e).map(([n, v]) => [v, n]));
}

/** A run of slots (counter or statistics array): names[i] is slot first + i. Throws unless the
 * members are one dense run, so a reader indexing sums by position can never shift a name. */
export function slotRun<E extends Enum, P extends string>(prefix: P, e: E, from?: number): { first: number; names: readonly MemberName<E, P>[] } {
  const sorted = entries(prefix, e).sort((a, b) => a[1] - b[1]);
  const first = sorted[0]?.[1] ?? 0;
  if (from !== undefined && first !== from) throw new Error(`${prefix}* slots start at ${first}, not at ${from}`);
  sorted.forEach(([n, v], i) => {
    if (v !== first + i) throw new Error(`slot ${n} is ${v}, expected ${first + i}: ${prefix}* slots must be one dense run`);
  });
  return { first, names: sorted.map(([n]) => n) };
}

const common = slotRun('SN_CNT_', sentinel_counter, 0);
export type CommonCounterSlot = MemberName<typeof sentinel_counter, 'SN_CNT_'>;
/** The slots every program's counter block starts with (SN_CNT_*), by slot. */
export const COMMON_COUNTER_SLOTS: readonly CommonCounterSlot[] = common.names;

/** A program's whole counter block (struct sentinel_counters) by slot: the common slots
 * (SN_CNT_*) then the program's own (prefix, from SN_CNT_PROG_0, below SN_CNT_MAX). */
export function programCounterSlots<E extends Enum, P extends string>(prefix: P, own: E): readonly (CommonCounterSlot | MemberName<E, P>)[] {
  const { SN_CNT_PROG_0, SN_CNT_MAX } = sentinel_counter_block;
  if (common.names.length !== SN_CNT_PROG_0) throw new Error(`SN_CNT_* must fill slots 0..${SN_CNT_PROG_0 - 1}`);
  const run = slotRun(prefix, own, SN_CNT_PROG_0);
  if (run.first + run.names.length > SN_CNT_MAX) throw new Error(`${prefix}* slots run past SN_CNT_MAX (${SN_CNT_MAX})`);
  return [...common.names, ...run.names];
}
