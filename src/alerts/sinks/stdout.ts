// EVE JSON lines to a stream (stdout), honouring its back-pressure: the worker waits for the
// stream to take the batch, the event path never does.
import type { Writable } from 'node:stream';
import type { EveRenderer } from '../eve-line.js';
import type { SentinelRecord } from '../records.js';
import { DeliveryError, renderEach, type RejectOne, type SinkTransport } from '../queued-sink.js';

export class StreamTransport implements SinkTransport {
  constructor(
    private readonly out: Writable,
    private readonly eve: EveRenderer,
  ) {}

  deliver(batch: readonly SentinelRecord[], _signal: AbortSignal, reject: RejectOne): Promise<void> {
    const text = renderEach(batch, (a) => this.eve.line(a), reject).join('');
    if (!text) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.out.write(text, (err) => (err ? reject(new DeliveryError('write_error', err.message)) : resolve()));
    });
  }
}
