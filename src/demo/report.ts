// The demo's printed output: one line per traffic step, the per-rule table from the agent's
// metrics, and the alerts from its EVE file. Pure formatting: every number comes in as data.
import type { FirewallRuleConfig } from '../engines/firewall/schema.js';
import type { MetricsSnapshot } from './prom.js';
import type { StepResult } from './scenario.js';

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>, rightAlign: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (rightAlign.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)].map((l) => `  ${l}`).join('\n');
}

/** Where to look: the API (and its Swagger UI, OpenAPI document, metrics) and the files. */
export function whereTable(w: { apiUrl: string; eve: string; agentLog: string; config: string }): string {
  return table(['what', 'where'], [
    ['API', `${w.apiUrl}/api/v1/status`],
    ['Swagger UI', `${w.apiUrl}/docs`],
    ['OpenAPI', `${w.apiUrl}/openapi.json`],
    ['metrics', `${w.apiUrl}/metrics`],
    ['EVE alerts', w.eve],
    ['agent log', w.agentLog],
    ['config', w.config],
  ]);
}

function credit(r: StepResult): string {
  if (r.credited.size === 0) return 'agent counted no rule';
  return [...r.credited.entries()].map(([id, n]) => `${id} +${n}`).join(', ');
}

export function stepRow(r: StepResult): string[] {
  const s = r.step;
  const what = s.kind === 'ping' ? `ping` : `${s.kind.toUpperCase()} ${s.port} (${s.service})`;
  const verdict = r.outcome === s.expect ? r.outcome : `${r.outcome.toUpperCase()} (expected ${s.expect})`;
  const ruleNote = r.ruleOk ? '' : ` [expected ${s.rule}]`;
  return [s.from, `IPv${s.family}`, what, `${r.src} -> ${r.dst}`, r.senderSaw, r.serverSaw ?? '-', verdict, credit(r) + ruleNote];
}


export function ruleTable(rules: readonly FirewallRuleConfig[], defaultPolicy: string, m: MetricsSnapshot): string {
  const rows = rules.map((r) => [
    r.id,
    r.action,
    String(m.value('ebpfsentinel_firewall_rule_hits_total', { rule_id: r.id })),
    String(m.value('ebpfsentinel_firewall_rule_hit_bytes_total', { rule_id: r.id })),
  ]);
  rows.push(['(default policy)', defaultPolicy, String(m.sum('ebpfsentinel_program_reasons_total', { counter: 'default_policy' })), '-']);
  return table(['rule', 'verdict', 'packets', 'bytes'], rows, new Set([2, 3]));
}

export function countersTable(m: MetricsSnapshot): string {
  const rows: string[][] = [];
  for (const s of m.all('ebpfsentinel_packets_seen_total')) {
    const l = { program: s.labels.program ?? '', interface: s.labels.interface ?? '' };
    rows.push([
      l.program,
      l.interface,
      String(s.value),
      String(m.value('ebpfsentinel_packets_passed_total', l)),
      String(m.value('ebpfsentinel_packets_dropped_total', l)),
      String(m.value('ebpfsentinel_packets_non_ip_total', l)),
      String(m.value('ebpfsentinel_packets_malformed_total', l)),
    ]);
  }
  return table(['program', 'interface', 'seen', 'passed', 'dropped', 'non-ip', 'malformed'], rows, new Set([2, 3, 4, 5, 6]));
}

export function eventsLine(m: MetricsSnapshot): string {
  const lost = m.all('ebpfsentinel_events_lost_total').map((s) => `${s.labels.reason}=${s.value}`);
  return (
    `  events: ${m.sum('ebpfsentinel_events_total')} submitted by the kernel, ${m.sum('ebpfsentinel_events_received_total')} read by the agent, ` +
    `${m.sum('ebpfsentinel_alerts_written_total', { sink: 'eve-file' })} alerts written; lost: ${lost.length ? lost.join(' ') : 'none reported'}`
  );
}

interface EveLine {
  timestamp?: string;
  src_ip?: string;
  src_port?: number;
  dest_ip?: string;
  dest_port?: number;
  proto?: string;
  icmp_type?: number;
  icmp_code?: number;
  alert?: { action?: string };
  ebpfsentinel?: { rule_id?: string };
}

function endpoint(ip: string | undefined, port: number | undefined): string {
  const a = ip ?? '?';
  if (port === undefined) return a;
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}

/** One compact line per EVE alert; lines that are not JSON are shown as such, not hidden. */
export function renderAlerts(eveText: string, limit: number): { text: string; count: number } {
  const lines = eveText.split('\n').filter((l) => l.trim() !== '');
  const rows: string[][] = [];
  for (const line of lines.slice(0, limit)) {
    let e: EveLine;
    try {
      e = JSON.parse(line) as EveLine;
    } catch {
      rows.push(['(not JSON)', '', '', line.slice(0, 80), '']);
      continue;
    }
    const time = e.timestamp?.slice(11, 23) ?? '?';
    const proto = e.icmp_type !== undefined ? `${e.proto} type ${e.icmp_type} code ${e.icmp_code ?? 0}` : (e.proto ?? '?');
    rows.push([time, e.alert?.action ?? '?', e.ebpfsentinel?.rule_id ?? '?', `${endpoint(e.src_ip, e.src_port)} -> ${endpoint(e.dest_ip, e.dest_port)}`, proto]);
  }
  let text = rows.length ? table(['time (UTC)', 'action', 'rule', 'src -> dst', 'proto'], rows) : '  (no alerts)';
  if (lines.length > limit) text += `\n  ... and ${lines.length - limit} more in the EVE file`;
  return { text, count: lines.length };
}
