// `ebpfsentinel status`: the agent's state, its programs and where they are attached.
import { type CommonFlags, clientOptions, outputFormat, printJson, renderTable, SentinelClient } from '../client.js';
import type { StatusView } from './views.js';
import { attachmentTarget } from './views.js';

export async function statusCommand(flags: CommonFlags): Promise<void> {
  const format = outputFormat(flags);
  const s = await new SentinelClient(clientOptions(flags)).get<StatusView>('/api/v1/status');
  if (format === 'json') return printJson(s);
  const lost = Object.entries(s.events.lost).filter(([, n]) => n > 0);
  const lines = [
    `agent     ${s.state}, version ${s.version}, up ${s.uptime_seconds} s`,
    `config    ${s.config.path ?? '(none)'}${s.config.loaded_at ? ` (loaded ${s.config.loaded_at})` : ''}`,
    `events    ${s.events.received} received, lost: ${lost.length ? lost.map(([k, n]) => `${k}=${n}`).join(' ') : 'none'}`,
  ];
  if (s.last_reload) {
    const r = s.last_reload;
    lines.push(`reload    ${r.ok ? 'ok' : 'REJECTED'} (${r.trigger} by ${r.actor} at ${r.at}, generation ${r.generation})${r.error ? `: ${r.error}` : ''}`);
  }
  const sc = s.programs.find((p) => p.syn_cookies?.enabled)?.syn_cookies;
  if (sc) {
    const held = sc.sysctl_changes.map((c) => `${c.sysctl}=${c.to} (was ${c.from})`).join(', ');
    lines.push(`synproxy  ${sc.path} cookies: ${sc.reason}; host settings held: ${held || 'none'}; ${sc.request_sockets_created} handshakes completed from cookies in TC`);
  }
  const bl = s.blocklist;
  if (bl) {
    const refused = Object.entries(bl.refused).filter(([, n]) => n > 0);
    lines.push(
      `blocklist ${bl.entries}/${bl.max_entries} entries (${bl.addresses.ipv4} IPv4, ${bl.addresses.ipv6} IPv6 in the kernel), ${bl.enforced ? 'enforced' : `NOT ENFORCED: ${bl.note ?? ''}`}, ${bl.expired} expired, refused: ${refused.length ? refused.map(([k, n]) => `${k}=${n}`).join(' ') : 'none'}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
  const rows = s.programs.map((p) => [
    p.name,
    p.loaded ? 'yes' : 'no',
    p.attachments.map((a) => `${attachmentTarget(a)}/${a.hook}:${a.attached ? a.mode : 'DOWN'}`).join(' ') || '-',
    String(p.counters.seen),
    String(p.counters.passed),
    String(p.counters.dropped),
    String(p.counters.events_lost),
  ]);
  process.stdout.write(renderTable(['program', 'loaded', 'attachments', 'seen', 'passed', 'dropped', 'events_lost'], rows, new Set([3, 4, 5, 6])));
  // Program-wide statistics (xdp-ratelimit: packets passed unmetered, cookies, housekeeping).
  const stats = s.programs.filter((p) => p.stats && Object.keys(p.stats).length);
  if (stats.length) {
    process.stdout.write(`\n${stats.map((p) => `${p.name}: ${Object.entries(p.stats!).map(([k, n]) => `${k}=${n}`).join(' ')}`).join('\n')}\n`);
  }
}
