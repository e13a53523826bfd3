// `ebpfsentinel rules list|add|delete`: firewall rules over the API. `add` takes the rule in the
// config file's shape, from a YAML or JSON file (--file) or from flags; the agent validates it
// with the same schema as the file, so its error names the key.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { type CommonFlags, clientOptions, outputFormat, printJson, renderTable, SentinelClient, UsageError } from '../client.js';
import type { RuleView } from './views.js';

export interface RuleAddFlags extends CommonFlags {
  file?: string;
  id?: string;
  priority?: string;
  action?: string;
  protocol?: string;
  srcIp?: string[];
  dstIp?: string[];
  srcPort?: string;
  dstPort?: string;
  description?: string;
}

const cell = (v: unknown): string => (v === undefined || v === null ? '-' : Array.isArray(v) ? v.join(',') : String(v));

function row(r: RuleView): string[] {
  const x = r.rule;
  return [r.id, r.source, cell(x.priority), cell(x.action), cell(x.protocol), cell(x.src_ip ?? x.src_alias), cell(x.dst_ip ?? x.dst_alias), cell(x.dst_port), x.enabled === false ? 'no' : 'yes'];
}
const HEADER = ['id', 'source', 'priority', 'action', 'protocol', 'src', 'dst', 'dst_port', 'enabled'];

export async function rulesListCommand(flags: CommonFlags & { source?: string }): Promise<void> {
  const format = outputFormat(flags);
  if (flags.source !== undefined && flags.source !== 'file' && flags.source !== 'api') throw new UsageError(`--source must be file or api; got "${flags.source}"`);
  const { rules } = await new SentinelClient(clientOptions(flags)).get<{ rules: RuleView[] }>('/api/v1/firewall/rules', { source: flags.source });
  if (format === 'json') return printJson({ rules });
  process.stdout.write(renderTable(HEADER, rules.map(row), new Set([2])));
}

/** The rule body from --file (one rule object; YAML is a superset of JSON) or from flags. */
function ruleFromFlags(flags: RuleAddFlags): Record<string, unknown> {
  const fromFlags = [flags.id, flags.priority, flags.action, flags.protocol, flags.srcIp, flags.dstIp, flags.srcPort, flags.dstPort, flags.description].some((v) => v !== undefined);
  if (flags.file !== undefined) {
    if (fromFlags) throw new UsageError('give the rule either with --file or with flags, not both');
    let text: string;
    try {
      text = readFileSync(flags.file, 'utf8');
    } catch (err) {
      throw new UsageError(`--file: cannot read ${flags.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = YAML.parse(text);
    } catch (err) {
      throw new UsageError(`--file ${flags.file}: not YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new UsageError(`--file ${flags.file}: expected one rule (a mapping with id, priority, action, ...), got ${Array.isArray(doc) ? 'a list' : typeof doc}`);
    }
    return doc as Record<string, unknown>;
  }
  if (!flags.id || !flags.priority || !flags.action) throw new UsageError('a rule needs at least --id, --priority and --action (or --file rule.yaml)');
  const num = (v: string, what: string): number => {
    if (!/^\d+$/.test(v)) throw new UsageError(`${what}: expected a number; got "${v}"`);
    return Number(v);
  };
  const port = (v: string): number | string => (/^\d+$/.test(v) ? Number(v) : v);
  const rule: Record<string, unknown> = { id: flags.id, priority: num(flags.priority, '--priority'), action: flags.action };
  if (flags.protocol !== undefined) rule.protocol = flags.protocol;
  if (flags.srcIp?.length) rule.src_ip = flags.srcIp;
  if (flags.dstIp?.length) rule.dst_ip = flags.dstIp;
  if (flags.srcPort !== undefined) rule.src_port = port(flags.srcPort);
  if (flags.dstPort !== undefined) rule.dst_port = port(flags.dstPort);
  if (flags.description !== undefined) rule.description = flags.description;
  return rule;
}

export async function rulesAddCommand(flags: RuleAddFlags): Promise<void> {
  const format = outputFormat(flags);
  const rule = ruleFromFlags(flags);
  const created = await new SentinelClient(clientOptions(flags)).request<RuleView>('POST', '/api/v1/firewall/rules', rule);
  if (format === 'json') return printJson(created);
  process.stdout.write(renderTable(HEADER, [row(created)], new Set([2])));
}

export async function rulesDeleteCommand(id: string, flags: CommonFlags): Promise<void> {
  const format = outputFormat(flags);
  await new SentinelClient(clientOptions(flags)).request<void>('DELETE', `/api/v1/firewall/rules/${encodeURIComponent(id)}`);
  if (format === 'json') return printJson({ deleted: id });
  process.stdout.write(`deleted rule ${id}\n`);
}
