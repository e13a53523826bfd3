// One sink = one bounded queue + one async worker. offer() is the only thing the event path
// touches: O(1), never awaits, never throws. The worker takes batches, hands them to the
// transport (file, HTTP, syslog...), retries with exponential backoff and jitter, and consults
// a circuit breaker; whatever it gives up on is counted by reason and record kind, so nothing is
// lost silently.
import type { Logger } from 'pino';
import { CircuitBreaker, type BreakerPolicy } from './circuit-breaker.js';
import type { CircuitState, SinkMetrics } from './metrics.js';
import type { RecordKind, SentinelRecord } from './records.js';

/** A failed attempt. `reason` becomes the `reason` label; non-retryable errors (a 4xx, a
 * payload the destination refuses) drop the batch at once as `rejected`. */
export class DeliveryError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly retryable = true,
    /** records of the batch the destination does have (a write that failed part-way): counted
     * as delivered, never sent again */
    readonly delivered: readonly SentinelRecord[] = [],
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

/** Told about one record a transport could not render (it is left out of the batch, counted as
 * dropped `rejected`); the rest of the batch goes on. */
export type RejectOne = (record: SentinelRecord, err: unknown) => void;

/** Renders each record, leaving out (and reporting) the ones that cannot be rendered. */
export function renderEach<T>(batch: readonly SentinelRecord[], render: (r: SentinelRecord) => T, reject: RejectOne): T[] {
  const out: T[] = [];
  for (const a of batch) {
    try {
      out.push(render(a));
    } catch (err) {
      reject(a, err);
    }
  }
  return out;
}

/** Where a batch goes. deliver() resolves when the destination has the whole batch. */
export interface SinkTransport {
  deliver(batch: readonly SentinelRecord[], signal: AbortSignal, reject: RejectOne): Promise<void>;
  /** after logrotate / SIGHUP */
  reopen?(): Promise<void>;
  close?(): Promise<void>;
}

export interface RetryPolicy {
  /** attempts after the first; 0 = no retry */
  maxRetries: number;
  initialMs: number;
  maxMs: number;
}

export interface QueuedSinkOptions {
  capacity: number;
  batchMax: number;
  retry?: RetryPolicy;
  breaker?: BreakerPolicy;
  metrics: SinkMetrics;
  logger?: Logger;
  /** minimum interval between two drop warnings in the log; default 10 s */
  lossLogIntervalMs?: number;
}

/** Why a route did not offer a record to its sink: the sink does not take its kind, the alert
 * is below the route's minimum severity, or its engine is not one the route names. */
export type SkipReason = 'kind' | 'severity' | 'engine';

/** What one record kind did in one sink. */
export interface KindStats {
  delivered: number;
  dropped: Record<string, number>;
  /** not offered to this sink, by reason: not lost, the route's filter left it out */
  skipped: Partial<Record<SkipReason, number>>;
}

export interface SinkStats {
  name: string;
  kind: string;
  queued: number;
  capacity: number;
  /** every kind */
  delivered: number;
  failures: Record<string, number>;
  /** every kind, by reason */
  dropped: Record<string, number>;
  /** the kinds this sink's route takes */
  kinds: RecordKind[];
  /** the same per record kind, for the kinds this sink has seen or was told to skip */
  records: Partial<Record<RecordKind, KindStats>>;
  circuit: CircuitState;
}

type KindTally = Map<RecordKind, number>;

/** Records per kind in `batch`, leaving out those in `except`. */
function tally(batch: readonly SentinelRecord[], except?: WeakSet<SentinelRecord>): KindTally {
  const t: KindTally = new Map();
  for (const r of batch) if (!except?.has(r)) t.set(r.kind, (t.get(r.kind) ?? 0) + 1);
  return t;
}

/** FIFO with O(1) push and shift; the backing array is compacted once its dead head is large. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(x: T): void {
    this.items.push(x);
  }

  take(max: number): T[] {
    const end = Math.min(this.items.length, this.head + max);
    const out = this.items.slice(this.head, end) as T[];
    for (let i = this.head; i < end; i++) this.items[i] = undefined;
    this.head = end;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  clear(): T[] {
    return this.take(this.length);
  }
}

function bump(r: Record<string, number>, k: string, n: number): void {
  r[k] = (r[k] ?? 0) + n;
}

export class QueuedSink {
  private readonly queue = new Fifo<SentinelRecord>();
  private readonly breaker: CircuitBreaker | null;
  private readonly abort = new AbortController();
  /** records of the batch in flight the transport refused; a retry re-renders and must not
   * count them twice */
  private readonly refused = new WeakSet<SentinelRecord>();
  private readonly rejectOne: RejectOne = (r, err) => {
    if (this.refused.has(r)) return;
    this.refused.add(r);
    this.drop('rejected', new Map([[r.kind, 1]]), `${r.kind} record refused: ${(err as Error)?.message ?? String(err)}`);
  };
  private running = false;
  private closing = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private delivered = 0;
  private readonly failures: Record<string, number> = {};
  private readonly dropped: Record<string, number> = {};
  private readonly byKind: Partial<Record<RecordKind, KindStats>> = {};
  private kinds: RecordKind[] = [];
  private lastLossLog = -Infinity;
  private lossSinceLog = 0;

  constructor(
    readonly name: string,
    readonly kind: string,
    private readonly transport: SinkTransport,
    private readonly opts: QueuedSinkOptions,
  ) {
    if (!Number.isInteger(opts.capacity) || opts.capacity < 1) throw new RangeError(`sink ${name}: queue capacity must be an integer >= 1, got ${opts.capacity}`);
    if (!Number.isInteger(opts.batchMax) || opts.batchMax < 1) throw new RangeError(`sink ${name}: batch size must be an integer >= 1, got ${opts.batchMax}`);
    this.breaker = opts.breaker
      ? new CircuitBreaker(opts.breaker, (state, n) => {
          opts.metrics.circuit(state);
          const fields = { sink: name, state, consecutive_failures: n };
          if (state === 'open') opts.logger?.warn(fields, 'alert sink circuit opened');
          else opts.logger?.info(fields, `alert sink circuit ${state === 'closed' ? 'closed' : 'half-open'}`);
        })
      : null;
  }

  /** The kinds its route takes (for stats; the route does the filtering). */
  takes(kinds: readonly RecordKind[]): void {
    this.kinds = [...kinds];
  }

  /** The route left a record out of this sink: counted, never queued. */
  skip(kind: RecordKind, reason: SkipReason): void {
    const k = this.kindStats(kind);
    k.skipped[reason] = (k.skipped[reason] ?? 0) + 1;
    this.opts.metrics.skipped(kind, reason);
  }

  /** Queues one record for this sink; false when it was dropped (queue full or sink closed). */
  offer(record: SentinelRecord): boolean {
    if (this.closing) {
      this.dropOne('closed', record.kind, 'sink is closed');
      return false;
    }
    if (this.queue.length >= this.opts.capacity) {
      this.dropOne('queue_full', record.kind, `queue of ${this.opts.capacity} records is full`);
      return false;
    }
    this.queue.push(record);
    this.opts.metrics.queueLength(this.queue.length);
    if (!this.running) this.start();
    return true;
  }

  /** Resolves when everything queued so far was delivered or counted as dropped. */
  flush(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async reopen(): Promise<void> {
    await this.transport.reopen?.();
  }

  /** Stops taking records, gives the worker up to `drainMs` to deliver what is queued, then
   * aborts it; what is left is dropped as `closed` (counted), and the transport is closed. */
  async close(drainMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, drainMs);
    });
    await Promise.race([this.flush(), deadline]);
    clearTimeout(timer);
    this.abort.abort(new DeliveryError('closed', 'sink closed'));
    await this.flush();
    const rest = this.queue.clear();
    if (rest.length) this.drop('closed', tally(rest), 'sink closed with records queued');
    this.opts.metrics.queueLength(0);
    this.closed = true;
    try {
      await this.transport.close?.();
    } catch (err) {
      this.opts.logger?.warn({ err, sink: this.name }, 'alert sink close failed');
    }
  }

  stats(): SinkStats {
    return {
      name: this.name,
      kind: this.kind,
      queued: this.queue.length,
      capacity: this.opts.capacity,
      delivered: this.delivered,
      failures: { ...this.failures },
      dropped: { ...this.dropped },
      kinds: [...this.kinds],
      records: Object.fromEntries(Object.entries(this.byKind).map(([k, s]) => [k, { delivered: s.delivered, dropped: { ...s.dropped }, skipped: { ...s.skipped } }])),
      circuit: this.breaker?.current ?? 'closed',
    };
  }

  private start(): void {
    this.running = true;
    // deferred: the caller (the event path) never runs a transport, and records pushed in the
    // same tick (one ring-buffer batch) leave together in one batch
    setImmediate(() => this.run());
  }

  private run(): void {
    void this.work().then(
      () => this.stopped(),
      (err: unknown) => {
        // the loop catches transport errors itself; this is a bug, so say it loudly
        this.opts.logger?.error({ err, sink: this.name }, 'alert sink worker crashed');
        const rest = this.queue.clear();
        if (rest.length) this.drop('internal_error', tally(rest), String(err));
        this.stopped();
      },
    );
  }

  private stopped(): void {
    this.running = false;
    if (this.queue.length > 0 && !this.abort.signal.aborted) {
      this.running = true;
      this.run();
      return;
    }
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  private async work(): Promise<void> {
    while (this.queue.length > 0) {
      if (this.abort.signal.aborted) return;
      const batch = this.queue.take(this.opts.batchMax);
      this.opts.metrics.queueLength(this.queue.length);
      await this.send(batch);
    }
  }

  private async send(batch: SentinelRecord[]): Promise<void> {
    const retry = this.opts.retry;
    // what is still this batch's to deliver or lose: records the transport refused are counted already
    const left = (): KindTally => tally(batch, this.refused);
    const deliveredOf = (t: KindTally): void => {
      for (const [kind, n] of t) {
        this.delivered += n;
        this.kindStats(kind).delivered += n;
        this.opts.metrics.delivered(kind, n);
      }
    };
    for (let attempt = 0; ; attempt++) {
      if (this.breaker) {
        const wait = this.breaker.waitMs();
        if (wait > 0) {
          await this.sleep(wait);
          attempt--; // waiting out the breaker is not an attempt
          if (this.abort.signal.aborted) return this.drop('closed', left(), 'sink closed while its circuit was open');
          continue;
        }
      }
      if (this.abort.signal.aborted) return this.drop('closed', left(), 'sink closed before delivery');
      try {
        await this.transport.deliver(batch, this.abort.signal, this.rejectOne);
        this.breaker?.success();
        deliveredOf(left());
        return;
      } catch (err) {
        const e = err instanceof DeliveryError ? err : new DeliveryError('error', (err as Error)?.message ?? String(err));
        if (e.delivered.length > 0) {
          // part of the batch made it: counted once, and not sent again
          const done = new Set(e.delivered);
          deliveredOf(tally(e.delivered, this.refused));
          batch = batch.filter((r) => !done.has(r));
        }
        if (this.abort.signal.aborted) return this.drop('closed', left(), e.message);
        bump(this.failures, e.reason, 1);
        this.opts.metrics.failed(e.reason);
        // a refusal (4xx) is an answer: the endpoint is up, so it does not trip the breaker
        if (!e.retryable) {
          this.breaker?.success();
          return this.drop('rejected', left(), e.message);
        }
        this.breaker?.failure();
        if (!retry || attempt >= retry.maxRetries) return this.drop(retry && retry.maxRetries > 0 ? 'retries_exhausted' : 'write_error', left(), e.message);
        await this.sleep(backoffMs(retry, attempt + 1));
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.abort.signal;
      if (signal.aborted) return resolve();
      const done = (): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private kindStats(kind: RecordKind): KindStats {
    return (this.byKind[kind] ??= { delivered: 0, dropped: {}, skipped: {} });
  }

  private dropOne(reason: string, kind: RecordKind, why: string): void {
    this.drop(reason, new Map([[kind, 1]]), why);
  }

  private drop(reason: string, counts: KindTally, why: string): void {
    let n = 0;
    for (const [kind, k] of counts) {
      n += k;
      bump(this.kindStats(kind).dropped, reason, k);
      this.opts.metrics.dropped(reason, kind, k);
    }
    if (n === 0) return;
    bump(this.dropped, reason, n);
    this.lossSinceLog += n;
    const now = Date.now();
    if (now - this.lastLossLog >= (this.opts.lossLogIntervalMs ?? 10_000)) {
      this.opts.logger?.warn({ sink: this.name, reason, kinds: Object.fromEntries(counts), dropped: this.lossSinceLog, dropped_total: this.dropped, detail: why }, 'records dropped by sink');
      this.lastLossLog = now;
      this.lossSinceLog = 0;
    }
  }
}

/** Exponential backoff with "equal jitter": half the step is fixed, half random, so retries
 * of many agents against one collector spread out instead of arriving in waves. */
function backoffMs(p: RetryPolicy, retryNumber: number): number {
  const step = Math.min(p.maxMs, p.initialMs * 2 ** (retryNumber - 1));
  return step / 2 + Math.random() * (step / 2);
}
