// Conntrack's own Prometheus series, registered on the agent's registry: table fill level,
// flows by state, flows created, evictions, expiries (kernel on touch and agent sweep), invalid
// packets, table-full failures and the sweep itself. Kernel values arrive as absolute totals;
// the counters here only ever grow (a reset of the source adds from zero again).
import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../../metrics/agent-metrics.js';
import { perRegistry } from '../../metrics/per-registry.js';
import { CT_STATE_NAMES } from './states.js';

/** Feeds a prom-client Counter from absolute readings. */
class AbsoluteCounter<L extends string> {
  private readonly last = new Map<string, number>();
  constructor(private readonly c: Counter<L>) {}

  set(value: number, labels: Partial<Record<L, string>> = {}): void {
    const key = JSON.stringify(labels);
    const prev = this.last.get(key) ?? 0;
    const delta = value >= prev ? value - prev : value; // source reset: count from zero again
    this.last.set(key, value);
    if (delta > 0) this.c.inc(labels, delta);
  }

  /** The source starts again from zero: its next reading counts whole. */
  restart(): void {
    this.last.clear();
  }
}

export interface ConntrackTotals {
  newFlows: number;
  invalid: number;
  tableFull: number;
  expiredKernel: number;
  related: number;
  untracked: number;
}

export class ConntrackMetrics {
  private readonly entries: Gauge;
  private readonly maxEntries: Gauge;
  private readonly fill: Gauge;
  private readonly byState: Gauge<'state'>;
  private readonly newFlows: AbsoluteCounter<never>;
  private readonly invalid: AbsoluteCounter<never>;
  private readonly tableFull: AbsoluteCounter<never>;
  private readonly related: AbsoluteCounter<never>;
  private readonly untracked: AbsoluteCounter<never>;
  private readonly expired: AbsoluteCounter<'by'>;
  private readonly evictions: AbsoluteCounter<never>;
  private readonly gcRuns: Counter<'result'>;
  private readonly gcSeconds: Gauge;

  /** One per registry: a conntrack engine stopped and started again by reloads keeps counting
   * into the same series (prom-client refuses a second registration of a name). */
  static readonly for = perRegistry((registry) => new ConntrackMetrics(registry));

  private constructor(registry: Registry) {
    const p = `${METRIC_PREFIX}conntrack_`;
    const registers = [registry];
    this.entries = new Gauge({ name: `${p}entries`, help: 'Live flows in the conntrack table (expired entries excluded).', registers });
    this.maxEntries = new Gauge({ name: `${p}max_entries`, help: 'Size of the conntrack table (conntrack.max_entries).', registers });
    this.fill = new Gauge({ name: `${p}fill_ratio`, help: 'Live flows / table size (0..1); at 1 the LRU evicts the least recently used flows.', registers });
    this.byState = new Gauge({ name: `${p}flows`, help: 'Live flows by state.', labelNames: ['state'], registers });
    const counter = (name: string, help: string, labelNames: string[] = []) => new Counter({ name: `${p}${name}`, help, labelNames, registers });
    this.newFlows = new AbsoluteCounter(counter('new_flows_total', 'Flows created by tc-conntrack.') as Counter<never>);
    this.invalid = new AbsoluteCounter(counter('invalid_total', 'Packets that fit no valid state transition (not counted in any flow).') as Counter<never>);
    this.tableFull = new AbsoluteCounter(counter('update_failures_total', 'Flows that could not be created (table update failed: full, or a creation race).') as Counter<never>);
    this.related = new AbsoluteCounter(counter('related_total', 'ICMP/ICMPv6 errors quoting a tracked flow.') as Counter<never>);
    this.untracked = new AbsoluteCounter(counter('untracked_total', 'IP packets of a protocol or ICMP type that is not tracked.') as Counter<never>);
    this.expired = new AbsoluteCounter(
      counter('expired_total', 'Entries ended: by="kernel" (dead on touch, a closed flow replaced by a new SYN, a reset before any reply), by="gc" (dead entries removed by the agent sweep).', ['by']) as Counter<'by'>,
    );
    this.evictions = new AbsoluteCounter(
      counter('evictions_total', 'Live flows pushed out by the LRU when the table was full (flows created minus flows removed minus flows present).') as Counter<never>,
    );
    this.gcRuns = new Counter({ name: `${p}gc_runs_total`, help: 'Agent sweeps of the conntrack table, by result (ok, error).', labelNames: ['result'], registers });
    this.gcSeconds = new Gauge({ name: `${p}gc_last_duration_seconds`, help: 'Duration of the last sweep.', registers });
  }

  setTable(live: number, max: number, byState: ReadonlyMap<string, number>): void {
    this.entries.set(live);
    this.maxEntries.set(max);
    this.fill.set(max > 0 ? live / max : 0);
    for (const s of CT_STATE_NAMES) this.byState.set({ state: s }, byState.get(s) ?? 0);
  }

  setTotals(t: ConntrackTotals, gcDeleted: number, evictions: number): void {
    this.newFlows.set(t.newFlows);
    this.invalid.set(t.invalid);
    this.tableFull.set(t.tableFull);
    this.related.set(t.related);
    this.untracked.set(t.untracked);
    this.expired.set(t.expiredKernel, { by: 'kernel' });
    this.expired.set(gcDeleted, { by: 'gc' });
    this.evictions.set(evictions);
  }

  /** A new engine's program, sweep and eviction totals start from zero. */
  sourcesRestarted(): void {
    for (const c of [this.newFlows, this.invalid, this.tableFull, this.related, this.untracked, this.expired, this.evictions]) c.restart();
  }

  gcDone(ok: boolean, seconds: number): void {
    this.gcRuns.inc({ result: ok ? 'ok' : 'error' });
    this.gcSeconds.set(seconds);
  }
}
