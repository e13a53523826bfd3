// The alert stream (Server-Sent Events) with resume. The order of operations is what makes
// resume exact: subscribe to newly stored rows first and hold them, replay everything after the
// client's Last-Event-ID from the store, then release the held rows, skipping any id already
// sent. Ids are the store's row ids, strictly increasing, so "id <= last sent" is the whole
// duplicate test and nothing committed between the replay and going live can fall in a gap.
//
// Memory is bounded twice: rows held during the replay (maxHeldRows) and bytes the socket has
// not taken yet (maxBufferedBytes). Past either bound the stream ends with a `resume` event that
// tells the client where to pick up; it never grows without limit for a slow reader.
import type { ServerResponse } from 'node:http';
import { toEveRecord } from '../alerts/eve.js';
import { SEVERITIES, type Severity } from '../alerts/model.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';
import type { AlertSource, StoredAlertRow } from './types.js';

export interface SseFilter {
  minSeverity?: Severity;
  engine?: string;
}

export interface SseOptions {
  keepaliveMs: number;
  maxBufferedBytes: number;
  maxHeldRows: number;
  /** rows per store read during the replay */
  replayPage: number;
}

export type SseEnd = 'client_closed' | 'too_slow' | 'server_closing' | 'error';

const rank = (s: Severity): number => SEVERITIES.indexOf(s);

function sseFrame(row: StoredAlertRow): string {
  return `id: ${row.id}\nevent: alert\ndata: ${JSON.stringify({ id: row.id, ...toEveRecord(row.alert) })}\n\n`;
}

/** One client's stream. `start()` runs the replay and goes live; `end()` closes it (idempotent). */
export class AlertStream {
  private lastSent: number;
  private held: StoredAlertRow[] | null = [];
  private unsubscribe: (() => void) | null = null;
  private keepalive: NodeJS.Timeout | null = null;
  private ended = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly source: AlertSource,
    private readonly filter: SseFilter,
    /** the client's Last-Event-ID; null = live only, from now */
    resumeFrom: number | null,
    private readonly opts: SseOptions,
    private readonly metrics: ApiMetrics,
    private readonly onEnd: (s: AlertStream) => void,
  ) {
    this.lastSent = resumeFrom ?? -1;
    this.replay = resumeFrom !== null;
  }

  private readonly replay: boolean;

  async start(): Promise<void> {
    this.res.on('close', () => this.end('client_closed'));
    // subscribe before reading the store: a row committed during the replay is held, not missed
    this.unsubscribe = this.source.onStored((rows) => this.onRows(rows));
    // `retry` tells EventSource how soon to reconnect; the comment opens the stream at once
    this.write(`retry: 2000\n: stream open${this.replay ? `, resuming after ${this.lastSent}` : ''}\n\n`);
    this.keepalive = setInterval(() => this.write(': keepalive\n\n'), this.opts.keepaliveMs);
    this.keepalive.unref();
    try {
      if (this.replay) {
        for (;;) {
          const page = this.source.after(this.lastSent, this.opts.replayPage);
          if (page.length === 0) break;
          this.send(page, true);
          if (this.ended) return;
          await this.drained();
          if (this.ended) return;
        }
      }
      const held = this.held ?? [];
      this.held = null;
      this.send(held);
    } catch (err) {
      this.res.destroy(err as Error);
      this.end('error');
    }
  }

  private onRows(rows: StoredAlertRow[]): void {
    if (this.ended) return;
    if (this.held) {
      for (const r of rows) this.held.push(r);
      if (this.held.length > this.opts.maxHeldRows) this.cutOff();
      return;
    }
    this.send(rows);
  }

  /** `paced`: a replay page, written only after the previous one drained, so its size is
   * bounded by the page and not by how far behind the client is; live rows are not paced. */
  private send(rows: readonly StoredAlertRow[], paced = false): void {
    let out = '';
    for (const r of rows) {
      if (r.id <= this.lastSent) continue; // replayed already, or held and replayed
      this.lastSent = r.id;
      if (this.filter.minSeverity && rank(r.alert.severity) < rank(this.filter.minSeverity)) continue;
      if (this.filter.engine && r.alert.engine !== this.filter.engine) continue;
      out += sseFrame(r);
    }
    if (out) this.write(out);
    if (!paced && this.res.writableLength > this.opts.maxBufferedBytes) this.cutOff();
  }

  private write(s: string): void {
    if (!this.ended && !this.res.destroyed) this.res.write(s);
  }

  /** Waits until the socket has taken what was written (replay pacing). */
  private drained(): Promise<void> {
    if (this.res.writableLength === 0 || !this.res.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  /** The client cannot keep up: tell it where to resume and close. The id is the last alert
   * handed to the socket; a client that did not get that far resumes from its own last id. */
  private cutOff(): void {
    this.finish('too_slow', { reason: 'client too slow: reconnect with Last-Event-ID to resume', last_event_id: this.lastSent < 0 ? null : this.lastSent });
  }

  /** Server shutdown: same final event, so clients reconnect to the next instance. */
  close(): void {
    this.finish('server_closing', { reason: 'agent shutting down: reconnect with Last-Event-ID to resume', last_event_id: this.lastSent < 0 ? null : this.lastSent });
  }

  private finish(why: SseEnd, data: Record<string, unknown>): void {
    if (this.ended) return;
    this.write(`event: resume\ndata: ${JSON.stringify(data)}\n\n`);
    this.res.end();
    this.end(why);
  }

  end(why: SseEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.held = null;
    this.unsubscribe?.();
    if (this.keepalive) clearInterval(this.keepalive);
    this.metrics.sseEnded(why);
    this.onEnd(this);
  }
}

/** Last-Event-ID header or ?last_event_id: a non-negative integer, else the problem. */
export function parseLastEventId(header: string | undefined, query: number | undefined): { id: number | null } | { problem: string } {
  if (query !== undefined) return { id: query };
  if (header === undefined || header.trim() === '') return { id: null };
  const v = header.trim();
  if (!/^\d{1,15}$/.test(v)) return { problem: `Last-Event-ID must be a stored alert id (a non-negative integer); got ${JSON.stringify(v.slice(0, 40))}` };
  return { id: Number(v) };
}

/** Why a stream was refused: the server's total bound or the client's own. */
export type StreamLimit = 'total' | 'per_client';

/**
 * Bounds on concurrent streams, in total and per client (an IPv4 address, an IPv6 /64, or the
 * API socket as one client): each stream holds a subscription, a keepalive timer and up to
 * maxBufferedBytes of output, so their number must not be up to the clients.
 */
export class StreamSlots {
  private open = 0;
  private readonly byClient = new Map<string, number>();

  constructor(
    readonly maxTotal: number,
    readonly maxPerClient: number,
  ) {}

  get size(): number {
    return this.open;
  }

  /** A slot for `client`, or which bound refuses it. `release` is idempotent. */
  acquire(client: string): { release(): void } | { refused: StreamLimit } {
    if (this.open >= this.maxTotal) return { refused: 'total' };
    const mine = this.byClient.get(client) ?? 0;
    if (mine >= this.maxPerClient) return { refused: 'per_client' };
    this.open++;
    this.byClient.set(client, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.open--;
        const left = (this.byClient.get(client) ?? 1) - 1;
        if (left > 0) this.byClient.set(client, left);
        else this.byClient.delete(client);
      },
    };
  }
}

