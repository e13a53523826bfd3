// What every program's status and metrics are made of: the common counter slots of counters.h
// (read per interface from each program's counter map, summed over CPUs) and the fill of the
// maps worth watching. One place, so every engine reports them alike.
import type { MapStatus, ProgramCounters } from '../../status/types.js';
import { mapTypeName } from '../../kernel/bpf-enums.js';
import type { BpfObject } from '../../kernel/object.js';
import { sumU64Slots, type BpfMap } from '../../kernel/map.js';
import type { KernelCounters } from '../../metrics/agent-metrics.js';
import type { KernelLosses } from '../engine.js';
import { COMMON_COUNTER_SLOTS, type CommonCounterSlot } from '../../kernel/contract-names.js';

/** The slots every program has (SN_CNT_* of contract/counters.h), as one interface's per-CPU sums. */
export type CommonCounters = Record<CommonCounterSlot, bigint>;

/** The common slots' names; every other slot of a program is its own. */
export const COMMON_SLOTS: ReadonlySet<string> = new Set<string>(COMMON_COUNTER_SLOTS);

/** One interface's counters: the common slots and the program's own. */
export type InterfaceCounters = CommonCounters & Readonly<Record<string, bigint>>;

/** A per-CPU counter map keyed by ifindex, summed over CPUs: slot i of each value is named
 * slots[i - first]. */
export function readPerInterface<S extends string>(map: BpfMap<number, Buffer>, slots: readonly S[], first = 0): Map<number, Record<S, bigint>> {
  const out = new Map<number, Record<S, bigint>>();
  for (const [ifindex, perCpu] of map.allPerCpu()) {
    const sums = sumU64Slots(perCpu);
    const snap = {} as Record<S, bigint>;
    slots.forEach((name, i) => (snap[name] = sums[first + i] ?? 0n));
    out.set(ifindex, snap);
  }
  return out;
}


/** What a map holds: entries in use, or for a map whose values are arrays themselves (one value
 * per generation: the firewall classifier) the slots in use out of the slots it has. */
export type MapFill = number | { entries: number; capacity: number };

/** Status rows of the object's maps named in `entries` (each gives its fill). */
export function mapStatuses(obj: BpfObject, entries: Readonly<Record<string, () => MapFill>>): MapStatus[] {
  return obj
    .mapInfo()
    .filter((m) => entries[m.name])
    .map((m) => {
      const fill = entries[m.name]!();
      const [used, max] = typeof fill === 'number' ? [fill, m.maxEntries] : [fill.entries, fill.capacity];
      return { name: m.name, type: mapTypeName(m.type), max_entries: max, entries: used };
    });
}

/** One slot summed over every interface. */
function sumSlot<S extends string>(perInterface: Iterable<Readonly<Record<S, bigint>>>, slot: S): number {
  let n = 0n;
  for (const c of perInterface) n += c[slot];
  return Number(n);
}

/** The status block of a program from its per-interface counters. */
export function programCounters(perInterface: Iterable<CommonCounters>): ProgramCounters {
  const all = [...perInterface];
  const s = (slot: keyof CommonCounters): number => sumSlot(all, slot);
  return {
    seen: s('seen'),
    passed: s('passed'),
    dropped: s('dropped'),
    malformed: s('malformed'),
    events: s('events'),
    events_lost: s('events_lost_ring_full') + s('events_lost_backpressure'),
  };
}

export function kernelLosses(perInterface: Iterable<CommonCounters>): KernelLosses {
  const all = [...perInterface];
  return { ring_full: sumSlot(all, 'events_lost_ring_full'), backpressure: sumSlot(all, 'events_lost_backpressure') };
}

/** One interface's counters as the metrics layer takes them; `extra` are the program's own slots. */
export function kernelSnapshot(c: CommonCounters, extra: Record<string, bigint>): KernelCounters {
  return {
    seen: c.seen,
    passed: c.passed,
    dropped: c.dropped,
    malformed: c.malformed,
    nonIp: c.non_ip,
    bytesSeen: c.bytes_seen,
    events: c.events,
    eventsLostFull: c.events_lost_ring_full,
    eventsLostBackpressure: c.events_lost_backpressure,
    extra,
  };
}
