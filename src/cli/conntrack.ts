// `ebpfsentinel conntrack`: the flows a running agent tracks, over GET /api/v1/conntrack, as a
// table (one line per flow, initiator → responder) or the API's JSON. Filters are checked here
// first so a typo is a usage error (exit 2) rather than a round trip.
import type { Command } from 'commander';
import { canonicalIp, type Flow } from '../engines/conntrack/flows.js';
import { CT_STATE_NAMES } from '../engines/conntrack/states.js';
import { clientFlags, clientOptions, outputFormat, printJson, renderTable, runClient, SentinelClient, UsageError, type CommonFlags } from './client.js';

export interface ConntrackFlags extends CommonFlags {
  state?: string;
  ip?: string;
  port?: string;
  proto?: string;
  family?: string;
  limit?: string;
}

interface ConntrackPage {
  flows: Flow[];
  matched: number;
  total: number;
  limit: number;
}

const PROTOS = ['tcp', 'udp', 'icmp', 'icmpv6'];
const FAMILIES = ['ipv4', 'ipv6'];

function oneOf(flag: string, v: string | undefined, allowed: readonly string[]): string | undefined {
  if (v === undefined) return undefined;
  const w = v.trim().toLowerCase();
  if (!allowed.includes(w)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}; got "${v}"`);
  return w;
}

function intFlag(flag: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < min || n > max) throw new UsageError(`--${flag} must be an integer ${min}-${max}; got "${v}"`);
  return n;
}

/** Query parameters from the flags; throws UsageError naming the bad flag. */
export function conntrackQuery(flags: ConntrackFlags): Record<string, string | number | undefined> {
  let ip: string | undefined;
  if (flags.ip !== undefined) {
    try {
      ip = canonicalIp(flags.ip.trim());
    } catch (err) {
      throw new UsageError(`--ip: ${(err as Error).message}`);
    }
  }
  return {
    state: oneOf('state', flags.state, CT_STATE_NAMES),
    proto: oneOf('proto', flags.proto, PROTOS),
    family: oneOf('family', flags.family, FAMILIES),
    ip,
    port: intFlag('port', flags.port, 0, 65535),
    limit: intFlag('limit', flags.limit, 1, 10000),
  };
}

const ep = (addr: string, port: number, proto: string): string => {
  const a = addr.includes(':') ? `[${addr}]` : addr;
  return proto.startsWith('icmp') ? `${a} id ${port}` : `${a}:${port}`;
};

export function renderFlows(page: ConntrackPage): string {
  const rows = page.flows.map((f) => [
    f.proto,
    f.state,
    ep(f.initiator.addr, f.initiator.port, f.proto),
    ep(f.responder.addr, f.responder.port, f.proto),
    `${f.packets.from_initiator}/${f.packets.from_responder}`,
    `${f.bytes.from_initiator}/${f.bytes.from_responder}`,
    f.age_secs.toFixed(0),
    f.expires_in_secs.toFixed(0),
  ]);
  const table = renderTable(['proto', 'state', 'initiator', 'responder', 'packets i/r', 'bytes i/r', 'age s', 'expires s'], rows, new Set([4, 5, 6, 7]));
  return `${table}${page.flows.length} shown, ${page.matched} matching, ${page.total} tracked\n`;
}

async function conntrackCommand(flags: ConntrackFlags): Promise<void> {
  const format = outputFormat(flags);
  const query = conntrackQuery(flags);
  const page = await new SentinelClient(clientOptions(flags)).get<ConntrackPage>('/api/v1/conntrack', query);
  if (format === 'json') return printJson(page);
  process.stdout.write(renderFlows(page));
}

export function registerConntrackCommand(program: Command): void {
  clientFlags(
    program
      .command('conntrack')
      .description('flows tracked by tc-conntrack, most recently active first')
      .option('--state <state>', `one of ${CT_STATE_NAMES.join(', ')}`)
      .option('--ip <ip>', 'either endpoint')
      .option('--port <port>', 'either endpoint (echo identifier for ICMP)')
      .option('--proto <proto>', 'tcp, udp, icmp, icmpv6')
      .option('--family <family>', 'ipv4 or ipv6')
      .option('--limit <n>', 'at most 10000 (default 1000)'),
  ).action(async (flags: ConntrackFlags) => {
    process.exitCode = await runClient('conntrack', () => conntrackCommand(flags));
  });
}
