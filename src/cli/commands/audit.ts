// `ebpfsentinel audit`: who changed what (admin role).
import { type CommonFlags, clientOptions, outputFormat, printJson, renderTable, SentinelClient } from '../client.js';
import { parseSince } from './since.js';
import type { AuditView } from './views.js';

export interface AuditFlags extends CommonFlags {
  actor?: string;
  action?: string;
  target?: string;
  since?: string;
  limit?: string;
  offset?: string;
}

export async function auditCommand(flags: AuditFlags): Promise<void> {
  const format = outputFormat(flags);
  const from = flags.since ? parseSince(flags.since).toISOString() : undefined;
  const r = await new SentinelClient(clientOptions(flags)).get<{ entries: AuditView[]; total: number }>('/api/v1/audit', {
    actor: flags.actor,
    action: flags.action,
    target: flags.target,
    from,
    limit: flags.limit,
    offset: flags.offset,
  });
  if (format === 'json') return printJson(r);
  const rows = r.entries.map((e) => [e.at, e.actor, e.action, e.target, e.outcome, e.detail ?? '']);
  process.stdout.write(renderTable(['time', 'actor', 'action', 'target', 'outcome', 'detail'], rows));
  process.stdout.write(`${r.entries.length} of ${r.total} entries\n`);
}
