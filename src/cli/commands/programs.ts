// `ebpfsentinel programs [enable|disable NAME]`: list programs, or switch one at runtime.
import { type CommonFlags, clientOptions, outputFormat, printJson, renderTable, SentinelClient, UsageError } from '../client.js';
import type { ProgramView } from './views.js';
import { attachmentTarget } from './views.js';

function row(p: ProgramView): string[] {
  const s = p.status;
  return [
    p.name,
    p.enabled ? 'enabled' : 'disabled',
    p.override ? `api (${p.override})` : 'config',
    s ? s.attachments.map((a) => `${attachmentTarget(a)}/${a.hook}:${a.attached ? a.mode : 'DOWN'}`).join(' ') || '-' : '-',
    s ? String(s.counters.seen) : '-',
    s ? String(s.counters.dropped) : '-',
  ];
}

const HEADER = ['program', 'state', 'set by', 'attachments', 'seen', 'dropped'];

export async function programsCommand(action: string | undefined, name: string | undefined, flags: CommonFlags): Promise<void> {
  const format = outputFormat(flags);
  const client = new SentinelClient(clientOptions(flags));
  if (action === undefined) {
    const { programs } = await client.get<{ programs: ProgramView[] }>('/api/v1/programs');
    if (format === 'json') return printJson({ programs });
    process.stdout.write(renderTable(HEADER, programs.map(row), new Set([4, 5])));
    return;
  }
  if (action !== 'enable' && action !== 'disable') throw new UsageError(`expected "enable NAME" or "disable NAME"; got "${action}"`);
  if (!name) throw new UsageError(`programs ${action}: which program? (e.g. programs ${action} xdp-firewall)`);
  const p = await client.request<ProgramView>('POST', `/api/v1/programs/${encodeURIComponent(name)}/${action}`);
  if (format === 'json') return printJson(p);
  process.stdout.write(renderTable(HEADER, [row(p)], new Set([4, 5])));
}
