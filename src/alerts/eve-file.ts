// EVE JSON alert file sink. The event path calls write(), which only serializes and queues:
// a slow or broken disk can never stall the ring-buffer consumer. A bounded queue is drained
// by one async writer; when it is full the alert is dropped and counted (queue_full), when
// the file cannot be written the batch is dropped and counted (sink_error). Both show up in
// metrics and, rate-limited, in the log.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AlertSinkObserver, UserspaceLossReason } from '../metrics/agent-metrics.js';
import { toEveLine, type EveOptions } from './eve.js';
import type { Alert } from './model.js';

export interface EveFileWriterOptions extends EveOptions {
  path: string;
  /** alerts waiting to be written before new ones are dropped; default 65536 */
  queueCapacity?: number;
  /** `sink` label in metrics; default "eve-file" */
  sinkName?: string;
  observer?: Pick<AlertSinkObserver, 'alertsWritten' | 'userspaceLoss'>;
  logger?: Logger;
  /** minimum interval between two loss warnings in the log; default 10 s */
  lossLogIntervalMs?: number;
}

export interface EveFileWriterStats {
  queued: number;
  written: number;
  lost: Record<'queue_full' | 'sink_error', number>;
}

interface Pending {
  line: string;
  program: string;
}

const DEFAULT_CAPACITY = 65536;

export class EveFileWriter {
  private queue: Pending[] = [];
  private fh: FileHandle | null = null;
  private pumping = false;
  private reopenRequested = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private written = 0;
  private readonly lost = { queue_full: 0, sink_error: 0 };
  private lastLossLog = -Infinity;
  private lossSinceLog = 0;
  private readonly capacity: number;
  readonly sinkName: string;

  private constructor(
    readonly path: string,
    private readonly opts: EveFileWriterOptions,
  ) {
    this.capacity = opts.queueCapacity ?? DEFAULT_CAPACITY;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) {
      throw new RangeError(`EVE writer: queueCapacity must be an integer >= 1, got ${opts.queueCapacity}`);
    }
    this.sinkName = opts.sinkName ?? 'eve-file';
  }

  /** Creates the parent directories and opens the file for appending. Fails with a message
   * naming the path, so a bad `alerting.eve_file` is caught at start-up, not at the first alert. */
  static async open(opts: EveFileWriterOptions): Promise<EveFileWriter> {
    const w = new EveFileWriter(path.resolve(opts.path), opts);
    try {
      w.fh = await w.openFile();
    } catch (err) {
      throw new Error(`EVE alert file ${w.path}: cannot open for appending: ${(err as Error).message}`, { cause: err });
    }
    return w;
  }

  private async openFile(): Promise<FileHandle> {
    await mkdir(path.dirname(this.path), { recursive: true });
    return open(this.path, 'a', 0o640);
  }

  /** Queues one alert. Never blocks and never throws for I/O; returns false when the alert was
   * dropped (queue full, or the writer is closed). */
  write(alert: Alert): boolean {
    if (this.closed) {
      this.loss(alert.program, 'sink_error', 1, 'writer closed');
      return false;
    }
    if (this.queue.length >= this.capacity) {
      this.loss(alert.program, 'queue_full', 1, `queue of ${this.capacity} alerts is full`);
      return false;
    }
    this.queue.push({ line: toEveLine(alert, this.opts), program: alert.program });
    this.pump();
    return true;
  }

  /** Closes and reopens the file by path: call after logrotate moved it (SIGHUP). */
  async reopen(): Promise<void> {
    if (this.closed) return;
    this.reopenRequested = true;
    this.pump();
    await this.idle();
  }

  /** Resolves when every alert queued so far has been written (or counted as lost). */
  flush(): Promise<void> {
    return this.idle();
  }

  /** Flushes, then closes the file. Later write() calls are dropped and counted. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.idle();
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
  }

  stats(): EveFileWriterStats {
    return { queued: this.queue.length, written: this.written, lost: { ...this.lost } };
  }

  private idle(): Promise<void> {
    if (!this.pumping && this.queue.length === 0 && !this.reopenRequested) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.pumpLoop().finally(() => {
      this.pumping = false;
      // work may have arrived between the loop's last check and here
      if (this.queue.length > 0 || this.reopenRequested) {
        this.pump();
        return;
      }
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    });
  }

  private async pumpLoop(): Promise<void> {
    for (;;) {
      if (this.reopenRequested) {
        this.reopenRequested = false;
        await this.reopenFile();
      }
      if (this.queue.length === 0) return;
      // take everything queued: one write per batch keeps syscalls few under bursts
      const batch = this.queue;
      this.queue = [];
      await this.writeBatch(batch);
    }
  }

  private async reopenFile(): Promise<void> {
    const old = this.fh;
    this.fh = null;
    try {
      await old?.close();
    } catch (err) {
      this.opts.logger?.warn({ err, path: this.path }, 'EVE file: close before reopen failed');
    }
    try {
      this.fh = await this.openFile();
      this.opts.logger?.info({ path: this.path }, 'EVE file reopened');
    } catch (err) {
      // next batch retries the open; until then alerts are counted as sink_error
      this.opts.logger?.error({ err, path: this.path }, 'EVE file: reopen failed');
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    try {
      if (!this.fh) this.fh = await this.openFile();
      await this.fh.appendFile(batch.map((p) => p.line).join(''));
      this.written += batch.length;
      this.opts.observer?.alertsWritten(this.sinkName, batch.length);
    } catch (err) {
      const perProgram = new Map<string, number>();
      for (const p of batch) perProgram.set(p.program, (perProgram.get(p.program) ?? 0) + 1);
      for (const [program, n] of perProgram) this.loss(program, 'sink_error', n, (err as Error).message);
    }
  }

  private loss(program: string, reason: Extract<UserspaceLossReason, 'queue_full' | 'sink_error'>, n: number, why: string): void {
    this.lost[reason] += n;
    this.opts.observer?.userspaceLoss(program, reason, n);
    this.lossSinceLog += n;
    const now = Date.now();
    const interval = this.opts.lossLogIntervalMs ?? 10_000;
    if (now - this.lastLossLog >= interval) {
      this.opts.logger?.warn(
        { path: this.path, reason, dropped: this.lossSinceLog, lost_total: this.lost, detail: why },
        'EVE alerts dropped',
      );
      this.lastLossLog = now;
      this.lossSinceLog = 0;
    }
  }
}
