// `ebpfsentinel nat`: the translations a running agent's NAT holds, over GET /api/v1/nat, as a
// table (one line per translated flow: what its first packet carried → what it became, and the
// rule) or the API's JSON.
import type { Command } from 'commander';
import { clientFlags, clientOptions, outputFormat, printJson, renderTable, runClient, SentinelClient, UsageError, type CommonFlags } from './client.js';

export interface NatFlags extends CommonFlags {
  limit?: string;
}

interface Tuple {
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

interface NatPage {
  translations: Array<{ rule: string; kind: string; family: string; proto: string; original: Tuple; translated: Tuple; hook: string; interface: string | null; age_secs: number }>;
  total: number;
  limit: number;
}

export function natQuery(flags: NatFlags): Record<string, number | undefined> {
  if (flags.limit === undefined) return {};
  const n = Number(flags.limit);
  if (!/^\d+$/.test(flags.limit.trim()) || n < 1 || n > 10000) throw new UsageError(`--limit must be an integer 1-10000; got "${flags.limit}"`);
  return { limit: n };
}

const ep = (addr: string, port: number, proto: string): string => {
  const a = addr.includes(':') ? `[${addr}]` : addr;
  return proto.startsWith('icmp') ? `${a} id ${port}` : `${a}:${port}`;
};

export function renderTranslations(page: NatPage): string {
  const rows = page.translations.map((t) => [
    t.rule,
    t.kind,
    t.proto,
    `${ep(t.original.src, t.original.sport, t.proto)} → ${ep(t.original.dst, t.original.dport, t.proto)}`,
    `${ep(t.translated.src, t.translated.sport, t.proto)} → ${ep(t.translated.dst, t.translated.dport, t.proto)}`,
    t.interface ?? '*',
    t.age_secs.toFixed(0),
  ]);
  const table = renderTable(['rule', 'kind', 'proto', 'original', 'translated', 'iface', 'age s'], rows, new Set([6]));
  return `${table}${page.translations.length} shown, ${page.total} translated flows\n`;
}

async function natCommand(flags: NatFlags): Promise<void> {
  const format = outputFormat(flags);
  const page = await new SentinelClient(clientOptions(flags)).get<NatPage>('/api/v1/nat', natQuery(flags));
  if (format === 'json') return printJson(page);
  process.stdout.write(renderTranslations(page));
}

export function registerNatCommand(program: Command): void {
  clientFlags(program.command('nat').description('translations held by the NAT (tc-nat-ingress, tc-nat-egress)').option('--limit <n>', 'at most 10000 (default 1000)')).action(async (flags: NatFlags) => {
    process.exitCode = await runClient('nat', () => natCommand(flags));
  });
}
