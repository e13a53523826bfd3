// The store's non-blocking writer, shared by alerts and the other record kinds: enqueue() only
// appends to a bounded queue (overflow is dropped and counted); a batch is written in one
// transaction (the caller's `write`) at most flushIntervalMs after its first item or as soon as
// batchSize wait, and a backlog is written one batch per event-loop turn so ring polling and the
// API keep running between batches.
import type { StoreLog } from './types.js';

export interface BatchWriterOptions<T = unknown> {
  batchSize: number;
  flushIntervalMs: number;
  maxQueue: number;
  log?: StoreLog;
  /** what is written, for the log: "alert", "record" */
  what: string;
  /** told about each batch that failed to commit (after it was counted), for finer counts */
  onFailed?: (batch: readonly T[]) => void;
}

export interface WriterCounters {
  /** committed */
  stored: number;
  /** reached the writer but their batch failed to commit */
  failed: number;
  /** refused by enqueue() because the queue was full */
  dropped: number;
}

export class BatchWriter<T, R> {
  private queue: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  readonly counters: WriterCounters = { stored: 0, failed: 0, dropped: 0 };

  /** `write` commits one batch in one transaction and returns its rows; it throws (nothing
   * stored) when any item cannot be written. */
  constructor(
    private readonly write: (batch: readonly T[]) => R[],
    private readonly opts: BatchWriterOptions<T>,
  ) {}

  /** Writes a batch now, counting what it stored. */
  writeBatch(batch: readonly T[]): R[] {
    if (batch.length === 0) return [];
    const rows = this.write(batch);
    this.counters.stored += rows.length;
    return rows;
  }

  /** For the kernel-event path: never blocks and never throws. The item is written within
   * flushIntervalMs or as soon as batchSize are queued; when maxQueue are already waiting it is
   * dropped and counted. */
  enqueue(item: T): boolean {
    if (this.queue.length >= this.opts.maxQueue) {
      this.counters.dropped++;
      return false;
    }
    this.queue.push(item);
    if (this.queue.length >= this.opts.batchSize) this.soon();
    else if (!this.timer && !this.immediate) this.timer = setTimeout(() => this.drainStep(), this.opts.flushIntervalMs);
    return true;
  }

  /** Writes everything queued now, in batchSize transactions (shutdown, tests). Returns the
   * rows committed. */
  flush(): R[] {
    this.cancel();
    const out: R[] = [];
    while (this.queue.length > 0) out.push(...this.writeOne());
    return out;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Next macrotask: a backlog is written one batch per turn of the event loop. */
  private soon(): void {
    if (this.immediate) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.immediate = setImmediate(() => this.drainStep());
  }

  private drainStep(): void {
    this.timer = undefined;
    this.immediate = undefined;
    this.writeOne();
    if (this.queue.length >= this.opts.batchSize) this.soon();
    else if (this.queue.length > 0) this.timer = setTimeout(() => this.drainStep(), this.opts.flushIntervalMs);
  }

  private writeOne(): R[] {
    const batch = this.queue.splice(0, this.opts.batchSize);
    if (batch.length === 0) return [];
    try {
      return this.writeBatch(batch);
    } catch (err) {
      this.counters.failed += batch.length;
      this.opts.onFailed?.(batch);
      this.opts.log?.error({ err, [`${this.opts.what}s`]: batch.length }, `store: ${this.opts.what} batch not written; ${this.opts.what}s lost`);
      return [];
    }
  }

  private cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }
}
