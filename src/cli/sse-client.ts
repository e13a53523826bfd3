// Reading a text/event-stream (the agent's alert stream) with resume: every event's id is
// remembered, and when the server ends the stream with `event: resume` (client too slow, agent
// shutting down) or the connection drops, the next connection asks for what came after it with
// Last-Event-ID, so nothing is missed and nothing is shown twice.
import type { IncomingMessage } from 'node:http';
import { apiErrorOf, ConnectError, type SentinelClient } from './client.js';

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Incremental parser: feed chunks, get complete events (comments and `retry:` skipped). */
export class SseParser {
  private buf = '';
  private id: string | undefined;
  private event = '';
  private data: string[] = [];

  push(chunk: string): SseEvent[] {
    this.buf += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl < 0) break;
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      if (line === '') {
        if (this.data.length || this.event) {
          const ev: SseEvent = { event: this.event || 'message', data: this.data.join('\n') };
          if (this.id !== undefined) ev.id = this.id;
          out.push(ev);
        }
        this.event = '';
        this.data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') this.id = value;
      else if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
    }
    return out;
  }
}

export interface FollowOptions {
  path: string;
  /** replay after this id, then live (the newest stored id = live from now) */
  lastEventId: number;
  onEvent: (ev: SseEvent) => void;
  signal: AbortSignal;
  /** reconnect attempts after a dropped connection before giving up (ConnectError) */
  maxRetries?: number;
}

/** Follows the stream until the signal aborts. Throws ApiResponseError on an HTTP error answer,
 * ConnectError when the agent cannot be reached (at first, or after maxRetries reconnects). */
export async function followStream(client: SentinelClient, opts: FollowOptions): Promise<void> {
  let last = opts.lastEventId;
  let failures = 0;
  const maxRetries = opts.maxRetries ?? 5;
  while (!opts.signal.aborted) {
    let res: IncomingMessage;
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      headers['last-event-id'] = String(last);
      res = await client.open('GET', opts.path, { headers, timeoutMs: 0 });
    } catch (err) {
      if (!(err instanceof ConnectError) || ++failures > maxRetries) throw err;
      await sleep(Math.min(5000, 250 * 2 ** failures), opts.signal);
      continue;
    }
    if ((res.statusCode ?? 0) !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      throw apiErrorOf({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
    }
    failures = 0;
    const parser = new SseParser();
    const abort = (): void => {
      res.destroy();
    };
    opts.signal.addEventListener('abort', abort, { once: true });
    try {
      res.setEncoding('utf8');
      for await (const chunk of res) {
        for (const ev of parser.push(chunk as string)) {
          if (ev.event === 'resume') continue; // the loop reconnects from `last`
          if (ev.id !== undefined && /^\d+$/.test(ev.id)) last = Number(ev.id);
          opts.onEvent(ev);
        }
      }
    } catch (err) {
      if (opts.signal.aborted) return;
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
    } finally {
      opts.signal.removeEventListener('abort', abort);
    }
    // the stream ended (a resume event, or dropped): loop and resume after `last`
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
