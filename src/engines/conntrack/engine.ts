// tc-conntrack as an engine: load the object (sharing the pinned ct_table), write the per-state
// timeouts, attach ingress and egress on every configured interface, sweep expired flows on a
// timer, export table metrics and list flows for the API.
import type { FlowLister } from './routes.js';
import type { ProgramStatus } from '../../status/types.js';
import type { AgentView } from '../engine.js';
import { ProgramRuntime } from '../runtime/program.js';
import type { Engine, EngineContext, KernelLosses, PreparedChange, StopMode } from '../engine.js';
import { countByState, evictedCount, expiredIndexes, listFlows, type FlowFilter, type FlowPage } from './flows.js';
import {
  CONNTRACK_OBJECT_FILE,
  CONNTRACK_PROGRAM,
  ConntrackKernel,
  CT_ENTRY_EGRESS,
  CT_ENTRY_INGRESS,
  CT_TABLE,
  zeroCounters,
  type CtCounters,
} from './kernel.js';
import { ConntrackMetrics } from './metrics.js';
import type { ConntrackConfig } from './schema.js';
import { sentinel_program_id } from '../../kernel/contract.gen.js';

/** most flows one API call returns */
const CT_LIST_MAX = 10_000;
/** least interval between two whole-table reads for metrics */
const TABLE_SCAN_NS = 1_000_000_000n;

export interface GcResult {
  scanned: number;
  deleted: number;
  live: number;
}

/** What tc-conntrack reads of the config. */
export interface ConntrackView extends AgentView {
  readonly conntrack: ConntrackConfig;
}

export class ConntrackEngine implements Engine<ConntrackView>, FlowLister {
  readonly program = CONNTRACK_PROGRAM;
  readonly programId = sentinel_program_id.SN_PROG_TC_CONNTRACK;
  private readonly rt: ProgramRuntime<ConntrackKernel>;
  private readonly metrics: ConntrackMetrics;
  private cfg: ConntrackConfig;
  private gcTimer: NodeJS.Timeout | null = null;
  private gcDeleted = 0;
  private gcErrors = 0;
  private evictions = 0;
  /** entries already in the (pinned, shared) table when this engine started */
  private presentAtStart = 0;
  private live = 0;
  private lastScanNs = -TABLE_SCAN_NS;

  constructor(private readonly ctx: EngineContext<ConntrackView>) {
    this.cfg = ctx.config.conntrack;
    this.rt = new ProgramRuntime(ctx, {
      program: CONNTRACK_PROGRAM,
      objectFile: CONNTRACK_OBJECT_FILE,
      kernel: (obj) => ConntrackKernel.over(obj),
      maps: () => ({ [CT_TABLE]: () => this.live }),
    });
    this.metrics = ConntrackMetrics.for(ctx.metrics.registry);
    this.metrics.sourcesRestarted();
  }

  /** Loads the object (reusing the pinned ct_table when xdp-firewall or a previous run made
   * it), writes the timeouts, attaches ingress and egress on every interface, starts the sweep. */
  async start(): Promise<void> {
    const k = this.rt.load();
    k.writeTimeouts(this.cfg.timeouts);
    this.presentAtStart = k.dump().count;
    try {
      this.rt.attachTc([
        { entry: CT_ENTRY_INGRESS, direction: 'ingress' },
        { entry: CT_ENTRY_EGRESS, direction: 'egress' },
      ]);
    } finally {
      k.setInterfaces(this.rt.attached().map((i) => i.ifindex));
      this.ctx.log.info(
        { program: CONNTRACK_PROGRAM, max_entries: k.maxEntries, present_at_start: this.presentAtStart, gc_interval_secs: this.cfg.gc_interval_secs },
        'conntrack table ready',
      );
      this.scheduleGc();
    }
  }

  /** Timeouts and the sweep interval reload live; the table size cannot change under running
   * programs (every object sharing ct_table was sized with it). */
  prepare(next: ConntrackView): PreparedChange {
    const c = next.conntrack;
    if (c.max_entries !== this.cfg.max_entries) {
      throw new Error(
        `conntrack.max_entries: cannot change from ${this.cfg.max_entries} to ${c.max_entries} while the agent runs (the table is shared by every program); restart the agent to resize it`,
      );
    }
    return {
      summary: { program: CONNTRACK_PROGRAM, timeouts: c.timeouts, gc_interval_secs: c.gc_interval_secs },
      commit: async () => {
        const k = this.rt.loadedKernel();
        k.writeTimeouts(c.timeouts);
        const intervalChanged = c.gc_interval_secs !== this.cfg.gc_interval_secs;
        this.cfg = c;
        if (intervalChanged) this.scheduleGc();
        this.ctx.log.info({ program: CONNTRACK_PROGRAM, timeouts: c.timeouts }, 'conntrack timeouts loaded');
      },
    };
  }

  private scheduleGc(): void {
    if (this.gcTimer) clearInterval(this.gcTimer);
    this.gcTimer = setInterval(() => this.gc(), this.cfg.gc_interval_secs * 1000);
    this.gcTimer.unref();
  }

  /** One sweep: every dead entry still dead when re-read is deleted; counted and logged. */
  gc(): GcResult {
    const k = this.rt.kernel;
    if (!k) return { scanned: 0, deleted: 0, live: 0 };
    const t0 = process.hrtime.bigint();
    try {
      this.rt.readCounters();
      const now = this.ctx.clock.bootNowNs();
      const d = k.dump();
      const dead = expiredIndexes(d.values, d.count, now);
      const deleted = k.deleteExpired(d, dead, now);
      this.gcDeleted += deleted;
      this.tableScanned(d.values, d.count, d.count - deleted, now);
      this.metrics.gcDone(true, Number(process.hrtime.bigint() - t0) / 1e9);
      if (deleted) this.ctx.log.debug({ program: CONNTRACK_PROGRAM, scanned: d.count, deleted }, 'conntrack sweep');
      return { scanned: d.count, deleted, live: this.live };
    } catch (err) {
      this.gcErrors++;
      this.metrics.gcDone(false, Number(process.hrtime.bigint() - t0) / 1e9);
      this.ctx.log.error({ program: CONNTRACK_PROGRAM, err: (err as Error).message }, 'conntrack sweep failed');
      return { scanned: 0, deleted: 0, live: this.live };
    }
  }

  listFlows(filter: FlowFilter, limit: number): FlowPage | null {
    const k = this.rt.kernel;
    if (!k) return null;
    const d = k.dump();
    return listFlows(d.keys, d.values, d.count, this.ctx.clock.bootNowNs(), filter, Math.min(limit, CT_LIST_MAX));
  }

  ringFds(): number[] {
    return [];
  }

  onRecord(): boolean {
    return false; // tc-conntrack emits no records
  }

  private totals(): CtCounters {
    const t = zeroCounters();
    for (const c of this.rt.counters.values()) for (const s of Object.keys(t) as (keyof CtCounters)[]) t[s] += c[s];
    return t;
  }

  /** Counters (the runtime), the table's figures (a whole-table read costs a copy of every
   * entry: at most once per TABLE_SCAN_NS however often metrics are refreshed; the sweep scans
   * too), conntrack's own series. */
  refresh(): void {
    const k = this.rt.kernel;
    if (!k) return;
    this.rt.readCounters();
    const now = this.ctx.clock.bootNowNs();
    if (now - this.lastScanNs >= TABLE_SCAN_NS) {
      const d = k.dump();
      this.tableScanned(d.values, d.count, d.count, now);
    }
    const t = this.totals();
    this.metrics.setTotals(
      {
        newFlows: Number(t.new_flows),
        invalid: Number(t.invalid),
        tableFull: Number(t.table_full),
        expiredKernel: Number(t.expired),
        related: Number(t.related),
        untracked: Number(t.untracked),
      },
      this.gcDeleted,
      this.evictions,
    );
    this.rt.exportMetrics();
  }

  /** Table figures from one dump: live flows by state, and evictions against the counters read
   * just before the dump (so created is never ahead of what the dump shows: no false evictions).
   * `present` is what stays in the table after the caller's deletions. */
  private tableScanned(values: Buffer, count: number, present: number, now: bigint): void {
    const k = this.rt.kernel;
    if (!k) return;
    const byState = countByState(values, count, now);
    let live = 0;
    for (const n of byState.values()) live += n;
    this.live = live;
    const t = this.totals();
    // Counters and the dump are not one snapshot: never let the derived total go backwards.
    this.evictions = Math.max(this.evictions, evictedCount(Number(t.new_flows), this.presentAtStart, Number(t.expired), this.gcDeleted, present));
    this.metrics.setTable(live, k.maxEntries, byState);
    this.lastScanNs = now;
  }

  /** Sweep and eviction figures for status and tests. */
  tableStats(): { live: number; max_entries: number; evictions: number; gc_deleted: number; gc_errors: number } {
    return { live: this.live, max_entries: this.rt.kernel?.maxEntries ?? 0, evictions: this.evictions, gc_deleted: this.gcDeleted, gc_errors: this.gcErrors };
  }

  status(): ProgramStatus {
    return this.rt.status();
  }

  losses(): KernelLosses {
    return this.rt.losses();
  }

  async stop(how: StopMode = 'detach'): Promise<string[]> {
    if (this.gcTimer) clearInterval(this.gcTimer);
    this.gcTimer = null;
    return this.rt.stop(how);
  }
}
