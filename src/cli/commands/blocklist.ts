// `ebpfsentinel blocklist ls|add|rm`: the dynamic block list over /api/v1/blocklist. What the CLI
// adds is held in the caller's name (api:<principal>); adding an address again renews its reason
// and ttl. rm removes the API's holds, or one owner's with --owner (an engine's, for instance).
import type { BlockOwnerView, BlockView } from '../../blocklist/types.js';
import { clientOptions, outputFormat, printJson, renderTable, SentinelClient, UsageError, type CommonFlags } from '../client.js';
import { parseDurationSecs } from './since.js';

export interface BlocklistListFlags extends CommonFlags {
  owner?: string;
  direction?: string;
  family?: string;
  match?: string;
  limit?: string;
  offset?: string;
}

export interface BlocklistAddFlags extends CommonFlags {
  reason?: string;
  ttl?: string;
  direction?: string;
}

export interface BlocklistRemoveFlags extends CommonFlags {
  direction?: string;
  owner?: string;
}

interface ListPage {
  entries: BlockView[];
  total: number;
  enforced: boolean;
  note?: string;
}

const DIRECTIONS = ['src', 'dst'];

function direction(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const d = v.trim().toLowerCase();
  if (!DIRECTIONS.includes(d)) throw new UsageError(`--direction must be src or dst; got "${v}"`);
  return d;
}

function intFlag(flag: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) throw new UsageError(`--${flag} must be an integer ${min}-${max}; got "${v}"`);
  return Number(v);
}

/** The list's query from the flags; throws UsageError naming the bad flag. */
export function blocklistQuery(flags: BlocklistListFlags): Record<string, string | number | undefined> {
  let family: number | undefined;
  if (flags.family !== undefined) {
    const f = flags.family.trim().toLowerCase().replace(/^ipv/, '');
    if (f !== '4' && f !== '6') throw new UsageError(`--family must be 4, 6, ipv4 or ipv6; got "${flags.family}"`);
    family = Number(f);
  }
  return { owner: flags.owner, direction: direction(flags.direction), family, match: flags.match, limit: intFlag('limit', flags.limit, 1, 1000), offset: intFlag('offset', flags.offset, 0, 1e9) };
}

const owners = (os: readonly BlockOwnerView[]): string => os.map((o) => `${o.owner} (${o.reason})`).join('; ');

export function renderEntries(entries: readonly BlockView[]): string {
  const rows = entries.map((e) => [String(e.id), e.cidr, e.direction, String(e.hits), e.expires_at ?? 'never', owners(e.owners)]);
  return renderTable(['id', 'cidr', 'dir', 'hits', 'expires', 'owners (reason)'], rows, new Set([0, 3]));
}

function enforcementLine(r: { enforced: boolean; note?: string }): string {
  return r.enforced ? '' : `not enforced now: ${r.note ?? 'xdp-firewall is not running'}\n`;
}

export async function blocklistListCommand(flags: BlocklistListFlags): Promise<void> {
  const format = outputFormat(flags);
  const page = await new SentinelClient(clientOptions(flags)).get<ListPage>('/api/v1/blocklist', blocklistQuery(flags));
  if (format === 'json') return printJson(page);
  process.stdout.write(`${renderEntries(page.entries)}${page.entries.length} shown of ${page.total}\n${enforcementLine(page)}`);
}

/** The add request from the arguments; throws UsageError naming what is missing or wrong. */
export function blocklistAddBody(cidr: string, flags: BlocklistAddFlags): Record<string, unknown> {
  if (!flags.reason?.trim()) throw new UsageError('--reason is required: say why the address is blocked (it is shown in alerts and the list)');
  const body: Record<string, unknown> = { cidr, reason: flags.reason.trim() };
  const d = direction(flags.direction);
  if (d) body.direction = d;
  if (flags.ttl !== undefined) body.ttl_secs = parseDurationSecs('ttl', flags.ttl);
  return body;
}

export async function blocklistAddCommand(cidr: string, flags: BlocklistAddFlags): Promise<void> {
  const format = outputFormat(flags);
  const out = await new SentinelClient(clientOptions(flags)).request<{ entry: BlockView; created: boolean; enforced: boolean; note?: string }>('POST', '/api/v1/blocklist', blocklistAddBody(cidr, flags));
  if (format === 'json') return printJson(out);
  process.stdout.write(`${out.created ? 'added' : 'renewed'} ${out.entry.direction} ${out.entry.cidr} (id ${out.entry.id})\n${renderEntries([out.entry])}${enforcementLine(out)}`);
}

export async function blocklistRemoveCommand(cidr: string, flags: BlocklistRemoveFlags): Promise<void> {
  const format = outputFormat(flags);
  const query = new URLSearchParams({ cidr });
  const d = direction(flags.direction);
  if (d) query.set('direction', d);
  if (flags.owner !== undefined) query.set('owner', flags.owner);
  const out = await new SentinelClient(clientOptions(flags)).request<{ removed: BlockOwnerView[]; remaining: BlockView | null }>('DELETE', `/api/v1/blocklist?${query.toString()}`);
  if (format === 'json') return printJson(out);
  const who = out.removed.map((o) => o.owner).join(', ');
  process.stdout.write(out.remaining ? `removed ${who}'s hold; ${out.remaining.cidr} stays blocked, held by ${out.remaining.owners.map((o) => o.owner).join(', ')}\n` : `removed ${who}'s hold; ${cidr} is no longer blocked\n`);
}
