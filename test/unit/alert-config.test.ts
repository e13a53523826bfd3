// The `alerting` section: every key, its defaults, and errors that name the file, line and key.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, formatIssue } from '../../src/config/index.js';
import { parseConfigText } from '../../src/catalog.js';
import { parseHostPort } from '../../src/alerts/section.js';

const HEAD = 'agent:\n  interfaces: [eth1]\n';

function load(yaml: string) {
  return parseConfigText(`${HEAD}alerting:\n${yaml}`, '/etc/ebpfsentinel/config.yaml');
}

function problems(yaml: string): string[] {
  try {
    load(yaml);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map(formatIssue);
    throw e;
  }
  return [];
}

describe('alerting config', () => {
  it('defaults: EVE file with rotation, no dedup, no throttle, no routes', () => {
    const a = load('  {}\n').alerting;
    assert.equal(a.dedup_window_secs, 0);
    assert.equal(a.throttle_max, 0);
    assert.equal(a.throttle_window_secs, 300);
    assert.deepEqual(a.dedup_keys, ['engine', 'rule_id', 'src_ip', 'dst_ip', 'dst_port', 'proto']);
    assert.deepEqual(a.throttle_keys, ['engine', 'rule_id']);
    assert.deepEqual(
      { ...a.eve },
      { enabled: true, path: '/var/log/ebpfsentinel/eve.json', max_size: 100 * 1024 * 1024, keep: 5, min_severity: 'low', record_kinds: ['alert', 'dns', 'flow', 'anomaly', 'dlp'], queue_size: 65536 },
    );
    assert.equal(a.stdout.enabled, false);
    assert.deepEqual(a.routes, []);
    assert.equal(a.community_id_seed, 0);
  });

  it('reads the reference shape: dedup/throttle and routes with their destinations', () => {
    const a = load(`  dedup_window_secs: 120
  dedup_keys: [rule_id, src_ip]
  throttle_window_secs: 60
  throttle_max: 10
  eve: { path: logs/eve.json, max_size: 10MiB, keep: 2, min_severity: Medium }
  stdout: { enabled: true, event_types: [ids] }
  routes:
    - { name: soc-webhook, destination: webhook, min_severity: high, webhook_url: "https://soc.example.com/hooks/ebpf", webhook_headers: { Authorization: "Bearer x" }, max_retries: 3, breaker_cooldown_secs: 10 }
    - { name: siem, destination: syslog, syslog_address: "[2001:db8::514]:6514", syslog_transport: tcp, syslog_facility: local3 }
    - { name: siem4, destination: syslog, syslog_address: "198.18.0.5:514" }
    - { name: otel, destination: otlp, otlp_endpoint: "http://collector:4318", event_types: [firewall, ids], timeout_ms: 2000 }
`).alerting;
    assert.equal(a.dedup_window_secs, 120);
    assert.deepEqual(a.dedup_keys, ['rule_id', 'src_ip']);
    assert.equal(a.eve.path, '/etc/ebpfsentinel/logs/eve.json', 'relative to the config file');
    assert.equal(a.eve.max_size, 10 * 1024 * 1024);
    assert.equal(a.eve.min_severity, 'medium');
    assert.deepEqual(a.stdout.event_types, ['ids']);
    const [hook, siem, siem4, otel] = a.routes;
    assert.equal(hook?.destination, 'webhook');
    if (hook?.destination === 'webhook') {
      assert.equal(hook.url, 'https://soc.example.com/hooks/ebpf');
      assert.deepEqual(hook.headers, { Authorization: 'Bearer x' });
      assert.equal(hook.minSeverity, 'high');
      assert.deepEqual(hook.delivery, { timeoutMs: 5000, maxRetries: 3, retryInitialMs: 500, retryMaxMs: 30000, breakerFailures: 5, breakerCooldownMs: 10000, batchMax: 500 });
    }
    assert.ok(siem?.destination === 'syslog' && siem.host === '2001:db8::514' && siem.port === 6514 && siem.transport === 'tcp' && siem.facility === 'local3');
    assert.ok(siem4?.destination === 'syslog' && siem4.host === '198.18.0.5' && siem4.port === 514 && siem4.transport === 'udp' && siem4.facility === 'local0');
    assert.ok(otel?.destination === 'otlp' && otel.url === 'http://collector:4318' && otel.delivery.timeoutMs === 2000);
    assert.deepEqual(otel?.eventTypes, ['firewall', 'ids']);
  });

  it('names the file, line and key of each mistake', () => {
    const p = problems(`  dedup_window_secs: -1
  dedup_keys: [rule_id, rule]
  eve: { max_size: 10 parsecs, keep: 2 }
  routes:
    - { name: a, destination: webhook }
    - { name: x, destination: syslog, syslog_address: "2001:db8::1:514" }
    - { name: b, destination: email }
    - { name: c, destination: otlp, otlp_endpoint: "ftp://x", otlp_protocol: grpc }
    - { name: d, destination: webhook, webhook_url: "https://u:p@x", webhook_headers: { Content-Type: text/plain, "Bad Header": x } }
    - { name: e, destination: stdout, min_severity: urgent }
`);
    const expect = [
      /^\/etc\/ebpfsentinel\/config\.yaml:4:3: alerting\.dedup_window_secs: expected seconds 0-86400; got -1$/,
      /^\/etc\/ebpfsentinel\/config\.yaml:5:25: alerting\.dedup_keys\[1\]: expected one of engine \| rule_id .*; got "rule"$/,
      /config\.yaml:6:\d+: alerting\.eve\.max_size: expected a size in bytes .*; got "10 parsecs"/,
      /config\.yaml:8:\d+: alerting\.routes\[0\]\.webhook_url: destination webhook needs webhook_url/,
      /config\.yaml:9:\d+: alerting\.routes\[1\]\.syslog_address: expected host:port or \[IPv6\]:port/,
      /config\.yaml:10:\d+: alerting\.routes\[2\]\.destination: "email" is not supported by this version/,
      /config\.yaml:11:\d+: alerting\.routes\[3\]\.otlp_endpoint: expected an http:\/\/ or https:\/\/ URL; got "ftp:\/\/x"/,
      /config\.yaml:11:\d+: alerting\.routes\[3\]\.otlp_protocol: "grpc" is not supported by this version: use http/,
      /config\.yaml:12:\d+: alerting\.routes\[4\]\.webhook_url: credentials in the URL would be logged/,
      /alerting\.routes\[4\]\.webhook_headers\.Content-Type: Content-Type is set by the sink/,
      /alerting\.routes\[4\]\.webhook_headers\.Bad Header: "Bad Header" is not a valid HTTP header name/,
      /config\.yaml:13:\d+: alerting\.routes\[5\]\.min_severity: expected one of low \| medium \| high \| critical; got "urgent"/,
    ];
    for (const re of expect) assert.ok(p.some((l) => re.test(l)), `no problem matching ${re}\n${p.join('\n')}`);
    assert.equal(p.length, expect.length, p.join('\n'));
  });

  it('checks routes as a whole once each key is valid: keys of other destinations, duplicate and reserved names', () => {
    const p = problems(`  routes:
    - { name: a, destination: webhook, webhook_url: "http://198.18.0.9/h" }
    - { name: a, destination: syslog, syslog_address: "198.18.0.9:514", webhook_url: "http://x", retry_initial_ms: 900, retry_max_ms: 100 }
    - { name: eve-file, destination: stdout }
    - { name: s, destination: stdout, timeout_ms: 5 }
`);
    const expect = [
      /config\.yaml:6:\d+: alerting\.routes\[1\]\.webhook_url: "webhook_url" does not apply to destination syslog/,
      /alerting\.routes\[1\]\.retry_max_ms: must be >= retry_initial_ms \(900\)/,
      /alerting\.routes\[1\]\.name: route name "a" is already used by routes\[0\]/,
      /config\.yaml:7:\d+: alerting\.routes\[2\]\.name: route name "eve-file" is reserved for alerting\.eve/,
      /alerting\.routes\[3\]\.timeout_ms: "timeout_ms" does not apply to destination stdout/,
    ];
    for (const re of expect) assert.ok(p.some((l) => re.test(l)), `no problem matching ${re}\n${p.join('\n')}`);
  });

  it('refuses unknown and unsupported keys plainly', () => {
    const p = problems('  smtp: { host: x }\n  enabled: true\n  eve: { rotate: true }\n  dedup_windows_secs: 5\n');
    assert.ok(p.some((l) => /alerting\.smtp: `smtp` is not supported by this version/.test(l)), p.join('\n'));
    assert.ok(p.some((l) => /alerting\.enabled: .*alerting\.eve\.enabled/.test(l)), p.join('\n'));
    assert.ok(p.some((l) => /alerting\.eve\.rotate: unknown key "rotate"/.test(l)), p.join('\n'));
    assert.ok(p.some((l) => /alerting\.dedup_windows_secs: unknown key "dedup_windows_secs"; did you mean "dedup_window_secs"/.test(l)), p.join('\n'));
  });

  it('parses host:port for IPv4, IPv6 and names', () => {
    assert.deepEqual(parseHostPort('198.18.0.1:514'), { host: '198.18.0.1', port: 514 });
    assert.deepEqual(parseHostPort('[2001:db8::1]:6514'), { host: '2001:db8::1', port: 6514 });
    assert.deepEqual(parseHostPort('syslog.example:601'), { host: 'syslog.example', port: 601 });
    assert.match(String(parseHostPort('2001:db8::1')), /expected host:port/);
    assert.match(String(parseHostPort('x:0')), /port must be 1-65535/);
    assert.match(String(parseHostPort('[x]:1')), /not an IPv6 address/);
  });
});
