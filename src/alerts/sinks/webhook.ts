// Webhook: a batch POSTed as one JSON document of EVE records, so a receiver that already
// understands Suricata's eve.json reads them unchanged. Alerts stay where receivers have always
// found them (`alerts`); a route that also takes other kinds gets those under `records`, each
// with its own event_type.
import { toEveRecord, type EveAlertRecord, type EveOptions, type EveRecord } from '../eve.js';
import type { SentinelRecord } from '../records.js';
import { renderEach, type RejectOne, type SinkTransport } from '../queued-sink.js';
import { postJson, type HttpPostOptions } from './http.js';

export interface WebhookBody {
  source: 'ebpfsentinel';
  /** every record in the body */
  count: number;
  alerts: EveAlertRecord[];
  /** dns, flow, anomaly and dlp records, in the order they came; absent when there are none */
  records?: Exclude<EveRecord, EveAlertRecord>[];
}

export class WebhookTransport implements SinkTransport {
  constructor(
    private readonly http: HttpPostOptions,
    private readonly eve: EveOptions = {},
  ) {}

  deliver(batch: readonly SentinelRecord[], signal: AbortSignal, reject: RejectOne): Promise<void> {
    const rendered = renderEach(batch, (r) => toEveRecord(r, this.eve), reject);
    if (rendered.length === 0) return Promise.resolve();
    const alerts: EveAlertRecord[] = [];
    const records: Exclude<EveRecord, EveAlertRecord>[] = [];
    for (const e of rendered) {
      if (e.event_type === 'alert') alerts.push(e);
      else records.push(e);
    }
    const body: WebhookBody = { source: 'ebpfsentinel', count: rendered.length, alerts, ...(records.length > 0 ? { records } : {}) };
    return postJson(this.http, JSON.stringify(body), signal);
  }
}
