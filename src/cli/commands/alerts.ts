// `ebpfsentinel alerts`: stored alerts (filters, newest first) or, with --follow, the live
// stream: it starts after the newest stored alert (or at --since), and resumes by itself with
// Last-Event-ID when the agent cuts the stream or the connection drops.
import { SEVERITIES } from '../../alerts/model.js';
import { type CommonFlags, clientOptions, outputFormat, printJson, renderTable, SentinelClient, UsageError } from '../client.js';
import { followStream } from '../sse-client.js';
import { parseSince } from './since.js';
import type { AlertRecordView } from './views.js';

export interface AlertsFlags extends CommonFlags {
  follow?: boolean;
  severity?: string;
  minSeverity?: string;
  engine?: string;
  ip?: string;
  rule?: string;
  since?: string;
  limit?: string;
  cursor?: string;
}

const HEADER = ['id', 'time', 'severity', 'engine', 'rule', 'action', 'proto', 'source', 'destination'];

const endpoint = (ip: string, port?: number): string => (port === undefined ? ip : ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

function alertRow(a: AlertRecordView): string[] {
  return [
    String(a.id),
    a.timestamp,
    a.ebpfsentinel?.severity ?? '-',
    a.ebpfsentinel?.engine ?? '-',
    a.ebpfsentinel?.rule_id ?? '-',
    a.alert.action,
    a.proto ?? '-',
    // an alert about a process has no packet: its process stands where the source would
    a.src_ip !== undefined ? endpoint(a.src_ip, a.src_port) : a.ebpfsentinel?.process ? `pid ${a.ebpfsentinel.process.pid} (${a.ebpfsentinel.process.comm})` : '-',
    a.dest_ip !== undefined ? endpoint(a.dest_ip, a.dest_port) : '-',
  ];
}

function checkSeverity(flag: string, v: string | undefined): void {
  if (v === undefined) return;
  for (const s of v.split(',')) {
    if (!(SEVERITIES as readonly string[]).includes(s.trim())) throw new UsageError(`${flag}: "${s}" is not a severity (${SEVERITIES.join(', ')})`);
  }
}

export async function alertsCommand(flags: AlertsFlags, signal: AbortSignal): Promise<void> {
  const format = outputFormat(flags);
  checkSeverity('--severity', flags.severity);
  checkSeverity('--min-severity', flags.minSeverity);
  if (flags.minSeverity?.includes(',')) throw new UsageError('--min-severity takes one severity');
  const from = flags.since ? parseSince(flags.since).toISOString() : undefined;
  const client = new SentinelClient(clientOptions(flags));
  const filters = { from, severity: flags.severity, min_severity: flags.minSeverity, engine: flags.engine, ip: flags.ip, rule_id: flags.rule };

  if (!flags.follow) {
    const page = await client.get<{ alerts: AlertRecordView[]; total: number; next?: string }>('/api/v1/alerts', { ...filters, limit: flags.limit, cursor: flags.cursor });
    if (format === 'json') return printJson(page);
    process.stdout.write(renderTable(HEADER, page.alerts.map(alertRow), new Set([0])));
    process.stdout.write(`${page.alerts.length} of ${page.total} alerts${page.next ? ` (next page: --cursor ${page.next})` : ''}\n`);
    return;
  }

  // where to start: after the newest stored alert, or before the oldest one since --since
  let start: number;
  if (from) {
    const first = await client.get<{ alerts: AlertRecordView[]; total: number }>('/api/v1/alerts', { from, limit: 1 });
    if (first.total === 0) start = (await client.get<{ alerts: AlertRecordView[] }>('/api/v1/alerts', { limit: 1 })).alerts[0]?.id ?? 0;
    else start = ((await client.get<{ alerts: AlertRecordView[] }>('/api/v1/alerts', { from, limit: 1, offset: first.total - 1 })).alerts[0]?.id ?? 1) - 1;
  } else {
    start = (await client.get<{ alerts: AlertRecordView[] }>('/api/v1/alerts', { limit: 1 })).alerts[0]?.id ?? 0;
  }
  // the stream filters by min_severity and engine itself; the rest is filtered here
  const path = `/api/v1/alerts/stream?${new URLSearchParams(Object.entries({ min_severity: flags.minSeverity, engine: flags.engine }).filter((e): e is [string, string] => e[1] !== undefined)).toString()}`;
  const wanted = new Set(flags.severity?.split(',').map((s) => s.trim()));
  const fromMs = from ? Date.parse(from) : undefined;
  if (format === 'table') process.stdout.write(renderTable(HEADER, []));
  await followStream(client, {
    path: path.endsWith('?') ? path.slice(0, -1) : path,
    lastEventId: start,
    signal,
    onEvent: (ev) => {
      if (ev.event !== 'alert') return;
      const a = JSON.parse(ev.data) as AlertRecordView;
      if (flags.severity && !wanted.has(a.ebpfsentinel?.severity ?? '')) return;
      if (flags.ip && a.src_ip !== flags.ip && a.dest_ip !== flags.ip) return;
      if (flags.rule && a.ebpfsentinel?.rule_id !== flags.rule) return;
      if (fromMs !== undefined && Date.parse(a.timestamp.replace(/(\d{2})(\d{2})$/, '$1:$2')) < fromMs) return;
      // one line per alert: JSON lines for machines, table rows for people
      process.stdout.write(format === 'json' ? `${JSON.stringify(a)}\n` : `${alertRow(a).join('  ')}\n`);
    },
  });
}
