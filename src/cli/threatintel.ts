// `ebpfsentinel threatintel feeds|refresh`: the threat-intel feeds of a running agent over
// /api/v1/threatintel, as a table (one line per feed: state, indicators, what was skipped, last
// error) or the API's JSON.
import type { Command } from 'commander';
import type { FeedStatus } from '../engines/threatintel/feeds.js';
import { clientFlags, clientOptions, outputFormat, printJson, renderTable, runClient, SentinelClient, type CommonFlags } from './client.js';

export interface ThreatintelFlags extends CommonFlags {
  feed?: string;
}

export function renderFeeds(feeds: readonly FeedStatus[]): string {
  const skipped = (f: FeedStatus): number => Object.values(f.skipped).reduce((n, s) => n + s.count, 0);
  const rows = feeds.map((f) => [
    f.id,
    f.state,
    f.action,
    f.format,
    String(f.indicators),
    Object.entries(f.by_type).map(([t, n]) => `${t} ${n}`).join(', ') || '-',
    String(skipped(f) + f.truncated),
    `${f.fetches}/${f.errors}`,
    f.last_error ?? '',
  ]);
  return renderTable(['feed', 'state', 'action', 'format', 'indicators', 'by type', 'skipped', 'fetches/errors', 'last error'], rows, new Set([4, 6]));
}

async function feedsCommand(flags: ThreatintelFlags): Promise<void> {
  const format = outputFormat(flags);
  const r = await new SentinelClient(clientOptions(flags)).get<{ feeds: FeedStatus[] }>('/api/v1/threatintel/feeds');
  if (format === 'json') return printJson(r);
  process.stdout.write(renderFeeds(r.feeds));
}

async function refreshCommand(flags: ThreatintelFlags): Promise<void> {
  const format = outputFormat(flags);
  const path = `/api/v1/threatintel/feeds/refresh${flags.feed ? `?feed=${encodeURIComponent(flags.feed)}` : ''}`;
  const r = await new SentinelClient(clientOptions(flags)).request<{ changed: boolean; applied: boolean; error?: string; feeds: FeedStatus[] }>('POST', path);
  if (format === 'json') return printJson(r);
  const what = !r.changed ? 'no feed changed' : r.applied ? 'changed; the new indicators are active' : `changed, but not applied: ${r.error ?? 'refused'}`;
  process.stdout.write(`${what}\n${renderFeeds(r.feeds)}`);
}

export function registerThreatintelCommand(program: Command): void {
  const ti = program.command('threatintel').description('threat-intelligence feeds of tc-threatintel');
  clientFlags(ti.command('feeds').description('each feed: state, indicators by type, skipped entries, errors')).action(async (flags: ThreatintelFlags) => {
    process.exitCode = await runClient('threatintel feeds', () => feedsCommand(flags));
  });
  clientFlags(ti.command('refresh').description('fetch the feeds now (one with --feed); a change becomes the active indicator set').option('--feed <id>', 'only this feed')).action(async (flags: ThreatintelFlags) => {
    process.exitCode = await runClient('threatintel refresh', () => refreshCommand(flags));
  });
}
