// Webhook: a batch of alerts POSTed as one JSON document whose `alerts` are EVE records, so a
// receiver that already understands Suricata's eve.json reads them unchanged.
import { toEveRecord, type EveOptions } from '../eve.js';
import type { Alert } from '../model.js';
import { renderEach, type RejectOne, type SinkTransport } from '../queued-sink.js';
import { postJson, type HttpPostOptions } from './http.js';

export interface WebhookBody {
  source: 'ebpfsentinel';
  count: number;
  alerts: ReturnType<typeof toEveRecord>[];
}

export class WebhookTransport implements SinkTransport {
  constructor(
    private readonly http: HttpPostOptions,
    private readonly eve: EveOptions = {},
  ) {}

  deliver(batch: readonly Alert[], signal: AbortSignal, reject: RejectOne): Promise<void> {
    const alerts = renderEach(batch, (a) => toEveRecord(a, this.eve), reject);
    if (alerts.length === 0) return Promise.resolve();
    const body: WebhookBody = { source: 'ebpfsentinel', count: alerts.length, alerts };
    return postJson(this.http, JSON.stringify(body), signal);
  }
}
