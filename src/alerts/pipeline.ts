// The alert pipeline, which carries every record kind: engines push() records from the
// kernel-event path; the pipeline counts them, applies dedup and throttle to alerts, and offers
// what remains to every sink whose route takes it (record kinds, engines, and for alerts a
// minimum severity). Each sink and each in-process subscriber has its own bounded queue and
// worker (queued-sink.ts), so a slow or dead one delays and costs nobody else.
// push() never awaits and never throws: an internal error loses that one record, counted.
import type { Logger } from 'pino';
import type { AlertMetrics } from './metrics.js';
import { severityRank, type Severity } from './model.js';
import { isRecordKind, RECORD_KINDS, type RecordKind, type RecordOf, type SentinelRecord } from './records.js';
import { QueuedSink, type SinkStats } from './queued-sink.js';
import { Suppressor, type SuppressOptions } from './suppress.js';

export interface RouteFilter {
  /** the kinds this sink takes; default every kind. A record of another kind is not offered:
   * it is counted as skipped (reason "kind") in the sink's stats and metrics. */
  kinds?: readonly RecordKind[];
  /** alerts below this severity skip the sink; default low (everything). Other kinds have no
   * severity and are not filtered by it. */
  minSeverity?: Severity;
  /** only these engines' records; default all */
  engines?: readonly string[];
}

interface Route {
  sink: QueuedSink;
  kinds: ReadonlySet<RecordKind>;
  minRank: number;
  engines: ReadonlySet<string> | null;
}

export interface AlertPipelineOptions {
  suppress: SuppressOptions;
  metrics: AlertMetrics;
  logger?: Logger;
  /** wall clock in ms, for the dedup and throttle windows; default Date.now */
  now?: () => number;
  /** how often closed windows are swept for summaries; 0 = never on a timer (call sweep());
   * default: a quarter of the shortest window, within 100 ms .. 5 s */
  sweepIntervalMs?: number;
}

export interface SubscribeOptions extends RouteFilter {
  /** `sink` label in metrics is "subscriber:<name>" */
  name: string;
  /** default 10000 */
  queueSize?: number;
  /** records handed over per call of the worker; default 256 */
  batchMax?: number;
}

export interface PipelineStats {
  /** records of each kind pushed (alerts before dedup and throttle) */
  records: Partial<Record<RecordKind, number>>;
  /** alerts pushed, before dedup and throttle */
  raised: number;
  emitted: number;
  summaries: number;
  suppressed: { dedup: number; throttle: number };
  internal_errors: number;
  /** dedup/throttle keys currently tracked, and keys not tracked because the table was full */
  keys: { tracked: number; untracked: number };
  sinks: SinkStats[];
}

export class AlertPipeline {
  private routes: Route[] = [];
  private suppressor: Suppressor;
  private readonly now: () => number;
  private sweeper: NodeJS.Timeout | null = null;
  private closed = false;
  private raised = 0;
  private readonly pushed: Partial<Record<RecordKind, number>> = {};
  private emitted = 0;
  private summaries = 0;
  private readonly suppressed = { dedup: 0, throttle: 0 };
  private internalErrors = 0;
  private lastErrorLog = -Infinity;

  constructor(private readonly o: AlertPipelineOptions) {
    this.suppressor = new Suppressor(o.suppress);
    this.now = o.now ?? Date.now;
    this.startSweeper(o.suppress);
  }

  /** The metrics every sink of this pipeline reports through (new sinks on reload too). */
  get metrics(): AlertMetrics {
    return this.o.metrics;
  }

  private startSweeper(s: SuppressOptions): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    const windows = [s.dedupWindowMs, s.throttleMax > 0 ? s.throttleWindowMs : 0].filter((w) => w > 0);
    const interval = this.o.sweepIntervalMs ?? (windows.length ? Math.min(5000, Math.max(100, Math.min(...windows) / 4)) : 0);
    if (interval > 0 && this.suppressor.enabled) {
      this.sweeper = setInterval(() => this.sweep(), interval);
      this.sweeper.unref();
    }
  }

  /**
   * Reload: new dedup/throttle settings and a new set of configured sinks, swapped in at once
   * (subscribers stay). Pending suppression counts are reported first, as summaries, so a
   * reload loses none; the replaced sinks then drain their queues and close. Returns when done.
   */
  async reconfigure(suppress: SuppressOptions, sinks: readonly { sink: QueuedSink; filter: RouteFilter }[], drainMs = 5000): Promise<void> {
    for (const s of this.suppressor.drain()) {
      this.summaries++;
      this.dispatch(s);
    }
    this.suppressor = new Suppressor(suppress);
    this.startSweeper(suppress);
    const old = this.routes.filter((r) => r.sink.kind !== 'subscriber');
    const fresh = sinks.map(({ sink, filter }) => toRoute(sink, filter));
    this.routes = [...fresh, ...this.routes.filter((r) => r.sink.kind === 'subscriber')];
    await Promise.all(old.map((r) => r.sink.close(drainMs)));
  }

  /** Adds a sink behind a route filter. Sinks are added at construction, before alerts flow. */
  addSink(sink: QueuedSink, filter: RouteFilter = {}): void {
    this.routes.push(toRoute(sink, filter));
  }

  /** The event path's one call, for every kind. O(1) amortised, never blocks, never throws. */
  push(record: SentinelRecord): void {
    try {
      // a record no route could ever match would vanish silently: make it a counted error
      if (!isRecordKind(record.kind)) throw new TypeError(`record from ${record.engine} has unknown kind ${JSON.stringify(record.kind)}`);
      this.pushed[record.kind] = (this.pushed[record.kind] ?? 0) + 1;
      this.o.metrics.record(record.engine, record.kind);
      if (record.kind !== 'alert') {
        // dedup, throttle and severity are alert concepts; the other kinds go straight out
        this.dispatch(record);
        return;
      }
      const alert = record;
      this.raised++;
      if (severityRank(alert.severity) < 0) throw new TypeError(`alert from ${alert.engine} has unknown severity ${JSON.stringify(alert.severity)}`);
      this.o.metrics.raised(alert.engine, alert.severity);
      let out = alert;
      if (this.suppressor.enabled) {
        const v = this.suppressor.admit(alert, this.now());
        if (v !== 'emit') {
          this.suppressed[v]++;
          this.o.metrics.suppress(v);
          return;
        }
        out = this.suppressor.out!;
      }
      this.emitted++;
      this.dispatch(out);
    } catch (err) {
      this.internalError(err);
    }
  }

  /**
   * In-process consumer (the store) of the kinds `o.kinds` names (default every kind). `fn` is called from the subscriber's own worker, never from push(); it may
   * throw (counted as a failure, the record is dropped for that subscriber only). Returns the
   * unsubscribe function, which delivers what is already queued first.
   */
  subscribe<K extends RecordKind = RecordKind>(fn: (record: RecordOf<K>) => void, o: SubscribeOptions & { kinds?: readonly K[] }): () => Promise<void> {
    const name = `subscriber:${o.name}`;
    if (this.routes.some((r) => r.sink.name === name)) throw new Error(`alert pipeline: a subscriber named "${o.name}" already exists`);
    const capacity = o.queueSize ?? 10_000;
    const sink = new QueuedSink(
      name,
      'subscriber',
      {
        deliver: async (batch, _signal, reject) => {
          // one consumer's exception costs it that record, not the rest of the batch
          for (const r of batch) {
            try {
              // the route let only the kinds in o.kinds through
              fn(r as RecordOf<K>);
            } catch (err) {
              reject(r, err);
            }
          }
        },
      },
      { capacity, batchMax: o.batchMax ?? 256, metrics: this.o.metrics.sink(name, capacity, routeKinds(o)), ...(this.o.logger ? { logger: this.o.logger } : {}) },
    );
    this.addSink(sink, o);
    return async () => {
      const i = this.routes.findIndex((r) => r.sink === sink);
      if (i >= 0) this.routes.splice(i, 1);
      await sink.close();
    };
  }

  /** Emits summaries for windows that closed with suppressed alerts (the timer calls this). */
  sweep(): void {
    try {
      for (const s of this.suppressor.sweep(this.now())) {
        this.summaries++;
        this.dispatch(s);
      }
    } catch (err) {
      this.internalError(err);
    }
  }

  /** Resolves when every sink has delivered (or counted) what was queued so far. */
  async flush(): Promise<void> {
    await Promise.all(this.routes.map((r) => r.sink.flush()));
  }

  /** Re-opens files by path (logrotate, SIGHUP). */
  async reopen(): Promise<void> {
    await Promise.all(this.routes.map((r) => r.sink.reopen()));
  }

  /** Emits the pending suppression summaries, then closes every sink, giving each up to
   * `drainMs` to deliver its queue (what is left is counted as dropped `closed`). */
  async close(drainMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const s of this.suppressor.drain()) {
      this.summaries++;
      this.dispatch(s);
    }
    await Promise.all(this.routes.map((r) => r.sink.close(drainMs)));
  }

  stats(): PipelineStats {
    return {
      records: { ...this.pushed },
      raised: this.raised,
      emitted: this.emitted,
      summaries: this.summaries,
      suppressed: { ...this.suppressed },
      internal_errors: this.internalErrors,
      keys: { tracked: this.suppressor.trackedKeys, untracked: this.suppressor.untracked },
      sinks: this.routes.map((r) => r.sink.stats()),
    };
  }

  /** Offers the record to every route that takes it; each route that does not says why, counted
   * per kind (a sink never loses a record without a count, even one it was told to skip). */
  private dispatch(rec: SentinelRecord): void {
    const rank = rec.kind === 'alert' ? severityRank(rec.severity) : Infinity;
    for (const r of this.routes) {
      if (!r.kinds.has(rec.kind)) r.sink.skip(rec.kind, 'kind');
      else if (rank < r.minRank) r.sink.skip(rec.kind, 'severity');
      else if (r.engines && !r.engines.has(rec.engine)) r.sink.skip(rec.kind, 'engine');
      else r.sink.offer(rec);
    }
  }

  private internalError(err: unknown): void {
    this.internalErrors++;
    try {
      this.o.metrics.internalError();
      const now = Date.now();
      if (now - this.lastErrorLog >= 10_000) {
        this.lastErrorLog = now;
        this.o.logger?.error({ err, internal_errors: this.internalErrors }, 'alert pipeline: record lost to an internal error');
      }
    } catch {
      // nothing left to report through; the count above survives
    }
  }
}

/** The kinds a route takes: the filter's, or every kind. */
export function routeKinds(filter: RouteFilter): readonly RecordKind[] {
  return filter.kinds?.length ? filter.kinds : RECORD_KINDS;
}

function toRoute(sink: QueuedSink, filter: RouteFilter): Route {
  sink.takes(routeKinds(filter));
  return {
    sink,
    kinds: new Set(routeKinds(filter)),
    minRank: severityRank(filter.minSeverity ?? 'low'),
    engines: filter.engines?.length ? new Set(filter.engines) : null,
  };
}
