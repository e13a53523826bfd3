// One JSON POST with a deadline, failures classified for retry and metrics: 5xx, 408 and 429
// are worth retrying; any other 4xx means the receiver refuses the payload and retrying the
// same bytes cannot help.
import { DeliveryError } from '../queued-sink.js';

export interface HttpPostOptions {
  url: string;
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
}

export async function postJson(o: HttpPostOptions, body: string, signal: AbortSignal): Promise<void> {
  const timeout = AbortSignal.timeout(o.timeoutMs);
  let res: Response;
  try {
    res = await fetch(o.url, {
      method: 'POST',
      headers: { ...o.headers, 'content-type': 'application/json' },
      body,
      signal: AbortSignal.any([signal, timeout]),
    });
  } catch (err) {
    if (timeout.aborted) throw new DeliveryError('timeout', `POST ${o.url}: no response within ${o.timeoutMs} ms`);
    if (signal.aborted) throw new DeliveryError('closed', `POST ${o.url}: sink closed`);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new DeliveryError('connection', `POST ${o.url}: ${cause?.code ?? ''} ${cause?.message ?? (err as Error).message}`.trim());
  }
  // the body is drained so the connection can be reused
  let text = '';
  try {
    text = await res.text();
  } catch {
    if (timeout.aborted) throw new DeliveryError('timeout', `POST ${o.url}: response body not complete within ${o.timeoutMs} ms`);
  }
  if (res.ok) return;
  const detail = `POST ${o.url}: HTTP ${res.status}${text ? ` ${text.slice(0, 200)}` : ''}`;
  if (res.status >= 500) throw new DeliveryError('http_5xx', detail);
  if (res.status === 408 || res.status === 429) throw new DeliveryError('http_4xx', detail);
  throw new DeliveryError('http_4xx', detail, false);
}
