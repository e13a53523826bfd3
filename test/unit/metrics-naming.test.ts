// Every metric the agent's registry can hold follows the naming conventions and passes
// `promtool check metrics` (Debian's prometheus package): the agent's own metrics, the API's,
// the auth and control-plane counters, and prom-client's process metrics, as one scrape shows
// them. Values are made non-zero first so every family has samples with its labels.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { metricFamilies, namingProblems } from '../support/metric-naming.js';
import { ApiMetrics } from '../../src/metrics/api-metrics.js';
import { AgentMetrics } from '../../src/metrics/agent-metrics.js';
import { FirewallMetrics } from '../../src/engines/firewall/metrics.js';
import { missingTools } from '../../src/lab/run.js';

function promtool(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

async function fullScrape(): Promise<string> {
  const m = new AgentMetrics({ version: '1.2.3' });
  m.setKernelSnapshot('xdp-firewall', 'sn-veth0', {
    seen: 10, passed: 8, dropped: 2, malformed: 1, nonIp: 1, bytesSeen: 1000, events: 3, eventsLostFull: 1, eventsLostBackpressure: 1, extra: { rule_hit: 2 },
  });
  FirewallMetrics.for(m.registry).setRuleHits([{ ruleId: 'r1', packets: 2, bytes: 120 }]);
  m.setMapUsage('xdp-firewall', 'fw_rules', 4, 8192);
  m.setAttached('xdp-firewall', 'sn-veth0', 'xdp', true);
  m.eventsReceived('xdp-firewall', 3);
  m.userspaceLoss('xdp-firewall', 'decode_error', 1);
  m.alertsWritten('eve-file', 3);
  const api = ApiMetrics.for(m.registry);
  api.request('/api/v1/status', 'GET', 200, 0.002);
  api.rateLimited('read');
  api.sseEnded('client_closed');
  return m.render();
}

describe('metric names', () => {
  it('the agent and API metrics follow the conventions (ebpfsentinel_ prefix, _total counters, base units)', async () => {
    const text = await fullScrape();
    assert.deepEqual(namingProblems(text), []);
    const names = metricFamilies(text).map((f) => f.name);
    for (const n of ['ebpfsentinel_api_requests_total', 'ebpfsentinel_api_request_duration_seconds', 'ebpfsentinel_events_lost_total', 'ebpfsentinel_build_info']) {
      assert.ok(names.includes(n), `${n} is exported`);
    }
  });

  it('the checker catches each kind of mistake', () => {
    const bad = [
      '# HELP foo_requests_total x', '# TYPE foo_requests_total counter', 'foo_requests_total 1',
      '# HELP ebpfsentinel_drops x', '# TYPE ebpfsentinel_drops counter', 'ebpfsentinel_drops 1',
      '# HELP ebpfsentinel_queue_total x', '# TYPE ebpfsentinel_queue_total gauge', 'ebpfsentinel_queue_total 1',
      '# HELP ebpfsentinel_latency_ms x', '# TYPE ebpfsentinel_latency_ms gauge', 'ebpfsentinel_latency_ms 1',
      '# HELP ebpfsentinel_x_total x', '# TYPE ebpfsentinel_x_total counter', 'ebpfsentinel_x_total{ruleId="a"} 1',
    ].join('\n');
    assert.deepEqual(namingProblems(bad), [
      'foo_requests_total: does not start with ebpfsentinel_',
      'ebpfsentinel_drops: a counter must end in _total',
      'ebpfsentinel_queue_total: only counters end in _total (this is a gauge)',
      'ebpfsentinel_latency_ms: use base units (seconds, bytes)',
      'ebpfsentinel_x_total: label "ruleId" is not snake_case',
    ]);
  });

  it('promtool check metrics finds nothing in a full scrape, and does find a broken one', async () => {
    // promtool is a test tool of this repo (scripts/install-deps.sh installs it): never skipped
    assert.deepEqual(missingTools(['promtool']), [], 'promtool is missing (Debian package prometheus; make test installs it)');
    const ok = promtool(await fullScrape());
    assert.equal(ok.output, '');
    assert.equal(ok.status, 0);
    const broken = promtool('# HELP ebpfsentinel_drops x\n# TYPE ebpfsentinel_drops counter\nebpfsentinel_drops 1\n');
    assert.match(broken.output, /counter metrics should have "_total" suffix/);
  });
});
