import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, formatIssue, type ConfigIssue } from '../../src/config/index.js';
import { loadConfigFile, parseConfigText, type Config } from '../../src/catalog.js';

const HEAD = 'agent:\n  interfaces: [eth1]\n';

/** Every problem as "file:line:col: path: message". */
function problems(text: string, file = 'config.yaml'): string[] {
  try {
    parseConfigText(text, file);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.ok(e.issues.length > 0);
    // the message lists every issue
    for (const i of e.issues) assert.ok(e.message.includes(formatIssue(i)));
    return e.issues.map(formatIssue);
  }
  assert.fail('the config was accepted');
}

function issuesOf(text: string): readonly ConfigIssue[] {
  try {
    parseConfigText(text, 'config.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  assert.fail('the config was accepted');
}

/** "config.yaml:L:C" where C is the column of `needle` on line L: positions must land on the key. */
function at(text: string, line: number, needle: string): string {
  const col = text.split('\n')[line - 1]!.indexOf(needle);
  assert.ok(col >= 0, `"${needle}" is not on line ${line}`);
  return `config.yaml:${line}:${col + 1}`;
}

function rules(body: string): string {
  return `${HEAD}firewall:\n  rules:\n${body}`;
}

describe('config: defaults', () => {
  it('fills every default from a minimal file', () => {
    const c = parseConfigText(HEAD, '/etc/ebpfsentinel/config.yaml');
    // Sections grow with their engines; the keys every version has keep these defaults.
    const subset = (actual: object, expected: Record<string, unknown>): void =>
      assert.deepEqual(Object.fromEntries(Object.keys(expected).map((k) => [k, (actual as Record<string, unknown>)[k]])), expected);
    subset(c.agent, {
      interfaces: ['eth1'],
      xdp_mode: 'auto',
      // the API on its root-only socket; no TCP unless a port is set
      api_socket: '/run/ebpfsentinel/api.sock',
      api_socket_group: undefined,
      bind_address: undefined,
      http_port: undefined,
      allow_unauthenticated_api: false,
      pin_root: '/sys/fs/bpf/ebpfsentinel',
      log_level: 'info',
      log_format: 'json',
      ring_buffer_size: 1 << 20,
      metrics_interval_ms: 1000,
    });
    subset(c.firewall, { enabled: true, mode: 'block', default_policy: 'pass', rules: [], aliases: {} });
    subset(c.alerting.eve, { enabled: true, path: '/var/log/ebpfsentinel/eve.json' });
    assert.equal(c.storage.path, '/var/lib/ebpfsentinel/sentinel.db');
    // relative paths are relative to the config file, like alias files and the EVE path
    const rel = parseConfigText(`${HEAD}storage:\n  path: state/sentinel.db\nalerting:\n  eve: { path: log/eve.json }\n`, '/etc/ebpfsentinel/config.yaml');
    assert.equal(rel.storage.path, '/etc/ebpfsentinel/state/sentinel.db');
    assert.equal(rel.alerting.eve.path, '/etc/ebpfsentinel/log/eve.json');
    // sha256: of the text parsed, which the file watcher compares (control-reload.test.ts)
    assert.deepEqual(c.source, { file: '/etc/ebpfsentinel/config.yaml', dir: '/etc/ebpfsentinel', sha256: createHash('sha256').update(HEAD).digest('hex') });
    assert.equal(c.resolved.firewall.aliases.size, 0);
    assert.deepEqual(c.warnings, []);
  });

  it('fills rule defaults and normalises values', () => {
    const c = parseConfigText(
      rules(`    - { id: r1, priority: 5, action: ALLOW, protocol: TCP, dst_port: "1024-65535", src_ip: 198.18.0.0/15 }
    - { id: r2, priority: 6, action: block, protocol: 47 }
    - { id: r3, priority: 7, action: Log, protocol: "*", vlan_id: 0, enabled: false }
`),
      'config.yaml',
    );
    const [r1, r2, r3] = c.firewall.rules;
    assert.equal(r1!.action, 'pass');
    assert.equal(r1!.protocol, 6);
    assert.equal(r1!.enabled, true);
    assert.deepEqual(r1!.dst_port, { lo: 1024, hi: 65535 });
    assert.deepEqual(r1!.src_ip?.map(String), ['198.18.0.0/15']);
    assert.equal(r2!.action, 'drop');
    assert.equal(r2!.protocol, 47);
    assert.equal(r3!.action, 'log');
    assert.equal(r3!.protocol, null);
    assert.equal(r3!.vlan_id, 0);
    assert.equal(r3!.enabled, false);
  });

  it('accepts the reference spellings of mode and default_policy', () => {
    for (const [mode, want] of [
      ['alert', 'alert'],
      ['monitor', 'alert'],
      ['observe', 'alert'],
      ['block', 'block'],
      ['Enforce', 'block'],
    ] as const) {
      assert.equal(parseConfigText(`${HEAD}firewall: { mode: ${mode} }\n`, 'c.yaml').firewall.mode, want);
    }
    for (const [p, want] of [
      ['pass', 'pass'],
      ['accept', 'pass'],
      ['allow', 'pass'],
      ['drop', 'drop'],
      ['deny', 'drop'],
      ['block', 'drop'],
    ] as const) {
      assert.equal(parseConfigText(`${HEAD}firewall: { default_policy: ${p} }\n`, 'c.yaml').firewall.default_policy, want);
    }
  });

  it('warns about host bits, showing the normalised network', () => {
    const text = `${HEAD}firewall:
  aliases:
    a: { values: [198.18.0.0/24, "2001:db8::1/32"] }
  rules:
    - { id: r, priority: 1, action: deny, src_ip: 198.18.5.5/16 }
    - id: s
      priority: 2
      action: deny
      dst_ip:
        - 198.18.0.0/24
        - 198.18.1.1/24
`;
    const c = parseConfigText(text, 'config.yaml');
    assert.deepEqual(c.warnings.map(formatIssue), [
      `${at(text, 5, '"2001')}: firewall.aliases.a.values[1]: host bits set: using 2001:db8::/32`,
      `${at(text, 7, 'src_ip')}: firewall.rules[0].src_ip: host bits set: using 198.18.0.0/16`,
      `${at(text, 13, '198.18.1.1')}: firewall.rules[1].dst_ip[1]: host bits set: using 198.18.1.0/24`,
    ]);
    assert.deepEqual(c.firewall.rules[1]!.dst_ip?.map(String), ['198.18.0.0/24', '198.18.1.0/24']);
  });

  it('resolves a relative eve path against the config directory', () => {
    const c = parseConfigText(`${HEAD}alerting:\n  eve: { path: logs/eve.json }\n`, '/srv/sentinel/config.yaml');
    assert.equal(c.alerting.eve.path, '/srv/sentinel/logs/eve.json');
  });

  it('follows YAML anchors and merge-free aliases', () => {
    const c = parseConfigText(
      rules(`    - &base { id: a, priority: 1, action: deny, protocol: tcp, dst_port: 23 }
    - { id: b, priority: 2, action: deny, protocol: tcp, dst_port: 2323 }
`),
      'c.yaml',
    );
    assert.equal(c.firewall.rules.length, 2);
  });

  it('TCP (any address) is allowed with auth or allow_unauthenticated_api; the socket path and group are taken', () => {
    const tcp = (extra: string): Config => parseConfigText(`agent: { interfaces: [eth1], http_port: 8080, ${extra} }\n`, 'c.yaml');
    assert.equal(tcp('bind_address: 0.0.0.0, allow_unauthenticated_api: true').agent.bind_address, '0.0.0.0');
    assert.equal(tcp('bind_address: "::1", allow_unauthenticated_api: true').agent.bind_address, '::1');
    assert.equal(tcp('bind_address: localhost, allow_unauthenticated_api: true').agent.bind_address, 'localhost');
    const s = parseConfigText('agent: { interfaces: [eth1], api_socket: /run/esn/lab1.sock, api_socket_group: ebpfsentinel }\n', 'c.yaml');
    assert.equal(s.agent.api_socket, '/run/esn/lab1.sock');
    assert.equal(s.agent.api_socket_group, 'ebpfsentinel');
    assert.equal(parseConfigText('agent: { interfaces: [eth1], api_socket_group: 998 }\n', 'c.yaml').agent.api_socket_group, 998);
  });
});

describe('config: errors name file, line, column and key', () => {
  it('the example from the spec: a reversed port range', () => {
    const text = rules(`    - id: a
      priority: 1
      action: allow
      protocol: tcp
      dst_port: "80-70"
`);
    assert.deepEqual(problems(text), [
      'config.yaml:9:7: firewall.rules[0].dst_port: expected a port 0-65535, a range "lo-hi" or {start, end}; got "80-70" (start > end)',
    ]);
  });

  it('YAML syntax errors', () => {
    const p = problems('agent:\n  interfaces: [eth1\nfirewall: {}\n');
    assert.ok(p.length >= 1);
    assert.match(p[0]!, /^config\.yaml:\d+:\d+: YAML syntax error: /);
    const q = problems('agent:\n  interfaces: [eth1]\n   bad: indent\n');
    assert.match(q[0]!, /^config\.yaml:3:\d+: YAML syntax error: /);
  });

  it('an unquoted IPv6 address that YAML cannot read gets a hint; quoted and flow forms work', () => {
    const p = problems(rules('    - id: a\n      priority: 1\n      action: deny\n      dst_ip: ::\n'));
    assert.match(p[0]!, /^config\.yaml:8:\d+: YAML syntax error: .* \(quote IPv6 addresses: "::1"\)$/);
    const c = parseConfigText(rules('    - { id: a, priority: 1, action: deny, src_ip: [2001:db8::1, ::1, fe80::/10], dst_ip: "::" }\n'), 'c.yaml');
    assert.deepEqual(c.firewall.rules[0]!.src_ip?.map(String), ['2001:db8::1/128', '::1/128', 'fe80::/10']);
    assert.deepEqual(c.firewall.rules[0]!.dst_ip?.map(String), ['::/128']);
  });

  it('duplicate YAML keys', () => {
    const p = problems('agent:\n  interfaces: [eth1]\n  interfaces: [eth2]\n');
    assert.match(p[0]!, /^config\.yaml:3:3: YAML syntax error: .*unique/i);
  });

  it('an empty file', () => {
    assert.deepEqual(problems('# nothing\n'), ['config.yaml:1:1: the file is empty: at least agent.interfaces is required']);
  });

  it('a missing section points at the parent map', () => {
    assert.deepEqual(problems('firewall: {}\n'), ['config.yaml:1:1: agent: required key is missing']);
  });

  it('a missing rule key points at the rule', () => {
    const p = problems(rules('    - action: deny\n      priority: 3\n'));
    assert.deepEqual(p, ['config.yaml:5:7: firewall.rules[0].id: required key is missing']);
  });

  it('unknown top-level key with a suggestion', () => {
    const p = problems(`${HEAD}firewal:\n  mode: block\n`);
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^config\.yaml:3:1: firewal: unknown key "firewal"; did you mean "firewall"\? \(expected one of: agent, firewall, [a-z, ]*alerting[a-z, ]*\)$/);
  });

  it('unknown nested keys, each at its own line', () => {
    const p = problems(rules(`    - id: a
      priority: 1
      action: deny
      protocol: tcp
      dst_prot: 80
      colour: red
`));
    assert.deepEqual(
      p.map((s) => s.split(' (expected')[0]),
      ['config.yaml:9:7: firewall.rules[0].dst_prot: unknown key "dst_prot"; did you mean "dst_port"?', 'config.yaml:10:7: firewall.rules[0].colour: unknown key "colour"'],
    );
    const q = problems('agent:\n  interfaces: [eth1]\n  log_levle: debug\n');
    assert.match(q[0]!, /^config\.yaml:3:3: agent\.log_levle: unknown key "log_levle"; did you mean "log_level"\?/);
    const r = problems(`${HEAD}alerting:\n  eve:\n    pth: /tmp/x\n`);
    assert.match(r[0]!, /^config\.yaml:5:5: alerting\.eve\.pth: unknown key/);
  });

  it('reference sections we do not implement say so', () => {
    const p = problems(`${HEAD}ids:\n  enabled: true\nqos: {}\naliases: {}\n`);
    assert.deepEqual(p, [
      'config.yaml:3:1: ids: `ids` is not supported by this version',
      'config.yaml:5:1: qos: `qos` is not supported by this version',
      'config.yaml:6:1: aliases: `aliases` is not supported by this version (define ip_set aliases under firewall.aliases)',
    ]);
  });

  it('reference keys inside sections we do not implement say so', () => {
    const text = 'agent:\n  interfaces: [eth1]\n  grpc_port: 50051\nfirewall:\n  anti_lockout: { enabled: true }\n  rules:\n    - { id: a, priority: 1, action: allow, schedule: office }\n';
    const p = problems(text);
    assert.deepEqual(p, [
      'config.yaml:3:3: agent.grpc_port: `grpc_port` is not supported by this version (there is no gRPC server)',
      'config.yaml:5:3: firewall.anti_lockout: `anti_lockout` is not supported by this version (no synthetic rules are added: write an explicit allow rule for your management ports)',
      `${at(text, 7, 'schedule')}: firewall.rules[0].schedule: \`schedule\` is not supported by this version`,
    ]);
  });

  it('a bad CIDR in a list points at the element', () => {
    const p = problems(rules(`    - id: a
      priority: 1
      action: deny
      src_ip:
        - 198.18.0.0/24
        - 198.18.0.300
`));
    assert.deepEqual(p, ['config.yaml:10:11: firewall.rules[0].src_ip[1]: "198.18.0.300" is not a valid IPv4 address: 300 is greater than 255']);
    const qt = rules('    - { id: a, priority: 1, action: deny, dst_ip: "2001:db8::/129" }\n');
    const q = problems(qt);
    assert.deepEqual(q, [`${at(qt, 5, 'dst_ip')}: firewall.rules[0].dst_ip: "2001:db8::/129": prefix length 129 is longer than 128 for IPv6`]);
    const r = problems(rules('    - { id: a, priority: 1, action: deny, dst_ip: [] }\n'));
    assert.match(r[0]!, /firewall\.rules\[0\]\.dst_ip: an empty list matches nothing/);
  });

  it('ports need tcp or udp; icmp fields need icmp; icmp_code needs icmp_type', () => {
    const text = rules(`    - { id: a, priority: 1, action: deny, dst_port: 80 }
    - { id: b, priority: 2, action: deny, protocol: icmp, src_port: 80 }
    - { id: c, priority: 3, action: deny, icmp_type: 8 }
    - { id: d, priority: 4, action: deny, protocol: udp, icmp_type: 8 }
    - { id: e, priority: 5, action: deny, protocol: icmpv6, icmp_code: 0 }
`);
    assert.deepEqual(problems(text), [
      `${at(text, 5, 'dst_port')}: firewall.rules[0].dst_port: dst_port needs protocol tcp or udp (protocol is any)`,
      `${at(text, 6, 'src_port')}: firewall.rules[1].src_port: src_port needs protocol tcp or udp (protocol is icmp)`,
      `${at(text, 7, 'icmp_type')}: firewall.rules[2].icmp_type: icmp_type needs protocol icmp or icmpv6 (protocol is any)`,
      `${at(text, 8, 'icmp_type')}: firewall.rules[3].icmp_type: icmp_type needs protocol icmp or icmpv6 (protocol is udp)`,
      `${at(text, 9, 'icmp_code')}: firewall.rules[4].icmp_code: icmp_code needs icmp_type`,
    ]);
  });

  it('duplicate ids and priorities', () => {
    const text = rules(`    - { id: a, priority: 10, action: allow }
    - { id: b, priority: 10, action: deny }
    - { id: a, priority: 30, action: deny }
`);
    assert.deepEqual(problems(text), [
      `${at(text, 6, 'priority')}: firewall.rules[1].priority: duplicate priority 10 (already used by rules[0] "a"): first-match order would be ambiguous`,
      `${at(text, 7, 'id')}: firewall.rules[2].id: duplicate id "a" (already used by rules[0])`,
    ]);
  });

  it('bad values: action, protocol, priority, id, vlan, icmp bounds', () => {
    const p = problems(rules(`    - { id: "a b", priority: 0, action: allow }
    - { id: ok, priority: 2, action: permit, protocol: gre, vlan_id: 4095 }
    - { id: ok2, priority: 3, action: deny, protocol: icmp, icmp_type: 256 }
    - { id: ok3, priority: 1.5, action: deny, protocol: 300 }
`));
    // the action list grows with the firewall (reject), so that line is matched by pattern
    const action = p.filter((l) => l.includes('.action: '));
    assert.equal(action.length, 1);
    assert.match(action[0]!, /^config\.yaml:6:30: firewall\.rules\[1\]\.action: expected one of allow \| pass \| accept \| deny \| drop \| block \| log( \| [a-z]+)*; got "permit"$/);
    assert.deepEqual(p.filter((l) => !l.includes('.action: ')), [
      'config.yaml:5:9: firewall.rules[0].id: expected an id of 1-128 letters, digits, "-" or "_"; got "a b"',
      'config.yaml:5:20: firewall.rules[0].priority: expected a priority (lower is evaluated first) 1-4294967295; got 0',
      'config.yaml:6:46: firewall.rules[1].protocol: expected tcp | udp | icmp | icmpv6 | any or a protocol number 0-255; got "gre"',
      'config.yaml:6:61: firewall.rules[1].vlan_id: expected a VLAN id (0 = untagged only) 0-4094; got 4095',
      'config.yaml:7:61: firewall.rules[2].icmp_type: expected an integer 0-255; got 256',
      'config.yaml:8:18: firewall.rules[3].priority: expected a priority (lower is evaluated first) 1-4294967295; got 1.5',
      'config.yaml:8:47: firewall.rules[3].protocol: expected tcp | udp | icmp | icmpv6 | any or a protocol number 0-255; got 300',
    ]);
  });

  it('src and dst of different families', () => {
    const p = problems(rules('    - { id: a, priority: 1, action: deny, src_ip: 198.18.0.0/15, dst_ip: "2001:db8::1" }\n'));
    assert.deepEqual(p, ['config.yaml:5:43: firewall.rules[0].src_ip: src_ip has IPv4 entries but dst_ip is IPv6 only: src and dst must be of the same family']);
  });

  it('icmp with IPv6 and icmpv6 with IPv4', () => {
    const p = problems(rules(`    - { id: a, priority: 1, action: deny, protocol: icmp, src_ip: "2001:db8::1" }
    - { id: b, priority: 2, action: deny, protocol: icmpv6, dst_ip: [198.18.0.1] }
`));
    assert.deepEqual(p, [
      'config.yaml:5:59: firewall.rules[0].src_ip: src_ip has IPv6 entries but protocol icmp is IPv4 only (use icmpv6 for IPv6)',
      'config.yaml:6:61: firewall.rules[1].dst_ip: dst_ip has IPv4 entries but protocol icmpv6 is IPv6 only (use icmp for IPv4)',
    ]);
  });

  it('both src_ip and src_alias, and an unknown alias', () => {
    const text = `${HEAD}firewall:
  aliases:
    bl: { values: [198.18.0.0/24] }
  rules:
    - { id: a, priority: 1, action: deny, src_ip: 198.18.0.1, src_alias: bl }
    - { id: b, priority: 2, action: deny, dst_alias: nope }
`;
    assert.deepEqual(problems(text), [
      `${at(text, 7, 'src_alias')}: firewall.rules[0].src_alias: use either src_ip or src_alias, not both`,
      'config.yaml:8:43: firewall.rules[1].dst_alias: unknown alias "nope" (defined: bl)',
    ]);
  });

  it('TCP without auth or allow_unauthenticated_api, and TCP settings without a port, name the key', () => {
    const p = problems('agent:\n  interfaces: [eth1]\n  http_port: 8443\n  bind_address: 198.18.0.1\n');
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^config\.yaml:3:3: agent\.http_port: the API listens on TCP \(198\.18\.0\.1:8443\) only with authentication: .*agent\.allow_unauthenticated_api: true to let every host that reaches it call it as admin/);
    assert.match(problems('agent:\n  interfaces: [eth1]\n  http_port: 8080\n')[0]!, /agent\.http_port: the API listens on TCP \(127\.0\.0\.1:8080\) only with authentication.*every local user/);
    assert.match(problems('agent:\n  interfaces: [eth1]\n  bind_address: "::"\n')[0]!, /^config\.yaml:3:3: agent\.bind_address: applies to the TCP listener, which is off: set agent\.http_port too/);
    assert.match(problems('agent:\n  interfaces: [eth1]\n  api_socket: run/api.sock\n')[0]!, /agent\.api_socket: expected an absolute path for the API socket/);
    assert.match(problems('agent:\n  interfaces: [eth1]\n  api_socket_group: "no such"\n')[0]!, /agent\.api_socket_group: expected a group name or a numeric gid/);
  });

  it('agent values', () => {
    const p = problems(`agent:
  interfaces: [eth1, averyveryverylongname, eth1, "a/b"]
  xdp_mode: offloaded
  bind_address: my-host
  http_port: 70000
  pin_root: relative/dir
  log_level: verbose
  log_format: xml
  ring_buffer_size: 5000
  metrics_interval_ms: 10
  allow_unauthenticated_api: "yes"
`);
    assert.deepEqual(p, [
      'config.yaml:2:22: agent.interfaces[1]: "averyveryverylongname" is longer than 15 bytes (IFNAMSIZ)',
      'config.yaml:2:45: agent.interfaces[2]: interface "eth1" is listed twice',
      'config.yaml:2:51: agent.interfaces[3]: "a/b" contains "/", ":" or white space',
      'config.yaml:3:3: agent.xdp_mode: "offloaded" is not supported by this version (use auto, native or generic)',
      'config.yaml:4:3: agent.bind_address: expected an IPv4 or IPv6 address (or "localhost"); "my-host" is not a valid IPv4 address: an IPv4 address has four dot-separated numbers',
      'config.yaml:5:3: agent.http_port: expected a TCP port (0 = any free port) 0-65535; got 70000',
      'config.yaml:6:3: agent.pin_root: expected an absolute path for the bpffs pin root; got "relative/dir"',
      'config.yaml:7:3: agent.log_level: expected one of error | warn | info | debug | trace; got "verbose"',
      'config.yaml:8:3: agent.log_format: expected one of json | text; got "xml"',
      'config.yaml:9:3: agent.ring_buffer_size: expected a power of two between 4096 and 1073741824 bytes (ring buffers are page-sized powers of two); got 5000',
      'config.yaml:10:3: agent.metrics_interval_ms: expected milliseconds 100-3600000; got 10',
      'config.yaml:11:3: agent.allow_unauthenticated_api: expected true or false; got "yes"',
    ]);
    assert.deepEqual(problems('agent:\n  interfaces: []\n'), ['config.yaml:2:3: agent.interfaces: expected at least one interface: the firewall must attach somewhere']);
    assert.deepEqual(problems('agent:\n  interfaces: eth0\n'), ['config.yaml:2:3: agent.interfaces: expected a non-empty list of interface names; got "eth0"']);
  });

  it('a section of the wrong type', () => {
    assert.deepEqual(problems(`${HEAD}firewall: [1, 2]\n`), ['config.yaml:3:1: firewall: expected a map of keys; got a list of 2']);
    assert.deepEqual(problems(`${HEAD}firewall:\n  rules: { id: a }\n`), ['config.yaml:4:3: firewall.rules: expected a list; got a map']);
  });

  it('alias type and names', () => {
    const text = `${HEAD}firewall:\n  aliases:\n    geo: { type: geoip, country_codes: [XX] }\n`;
    assert.deepEqual(problems(text), [
      `${at(text, 5, 'type')}: firewall.aliases.geo.type: "geoip" is not supported by this version (only ip_set)`,
      `${at(text, 5, 'country_codes')}: firewall.aliases.geo.country_codes: \`country_codes\` is not supported by this version`,
    ]);
    assert.deepEqual(problems(`${HEAD}firewall:\n  aliases:\n    "bad name": { values: [198.18.0.1] }\n`), [
      'config.yaml:5:5: firewall.aliases.bad name: alias name "bad name" must be 1-64 letters, digits, "-" or "_"',
    ]);
  });

  it('an empty alias makes the rule an error', () => {
    const p = problems(`${HEAD}firewall:
  aliases:
    none: { values: [] }
  rules:
    - { id: a, priority: 1, action: deny, src_alias: none }
`);
    assert.deepEqual(p, ['config.yaml:7:43: firewall.rules[0].src_alias: alias "none" is empty: the rule could never match']);
  });

  it('issues carry structured fields', () => {
    const [i] = issuesOf(rules('    - { id: a, priority: 1, action: deny, protocol: tcp, dst_port: "x" }\n'));
    assert.deepEqual({ ...i, message: undefined }, { file: 'config.yaml', path: 'firewall.rules[0].dst_port', line: 5, column: 58, message: undefined });
  });
});

describe('config: alias files', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sentinel-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a list relative to the config file, with comments and blank lines', () => {
    mkdirSync(path.join(dir, 'lists'), { recursive: true });
    writeFileSync(path.join(dir, 'lists', 'block.txt'), '# block list\n198.18.66.0/24\n\n  2001:db8:66::/48   # attacker v6\n198.18.7.7\r\n10.1.2.3/8\n');
    const cfgPath = path.join(dir, 'config.yaml');
    const c = parseConfigText(
      `${HEAD}firewall:
  aliases:
    bl: { type: ip_set, values: [203.0.113.0/24], file: lists/block.txt }
  rules:
    - { id: bl, priority: 1, action: deny, src_alias: bl }
`,
      cfgPath,
    );
    assert.deepEqual(c.resolved.firewall.aliases.get('bl')?.map(String), ['203.0.113.0/24', '198.18.66.0/24', '2001:db8:66::/48', '198.18.7.7/32', '10.0.0.0/8']);
    assert.deepEqual(c.warnings.map(formatIssue), [`${path.join(dir, 'lists', 'block.txt')}:6:1: firewall.aliases.bl.file: host bits set: using 10.0.0.0/8`]);
  });

  it('bad lines are errors naming the list file and line', () => {
    const list = path.join(dir, 'bad.txt');
    writeFileSync(list, '198.18.0.0/24\nnot-an-ip\n\n198.18.1.0/33\n  fe80::1%eth0\n');
    const p = problems(`${HEAD}firewall:\n  aliases:\n    bl: { file: bad.txt }\n`, path.join(dir, 'config.yaml'));
    assert.deepEqual(p, [
      `${list}:2:1: firewall.aliases.bl.file: "not-an-ip" is not a valid IPv4 address: an IPv4 address has four dot-separated numbers`,
      `${list}:4:1: firewall.aliases.bl.file: "198.18.1.0/33": prefix length 33 is longer than 32 for IPv4`,
      `${list}:5:3: firewall.aliases.bl.file: "fe80::1%eth0" is not a valid IPv6 address: zone ids ("%eth0") are not allowed here`,
    ]);
  });

  it('a flood of bad lines is capped', () => {
    writeFileSync(path.join(dir, 'junk.txt'), Array.from({ length: 100 }, (_, i) => `junk${i}`).join('\n'));
    const p = problems(`${HEAD}firewall:\n  aliases:\n    bl: { file: junk.txt }\n`, path.join(dir, 'config.yaml'));
    assert.equal(p.length, 21);
    assert.match(p[20]!, /\.\.\. and 80 more bad lines$/);
  });

  it('a missing list file points at the file key', () => {
    const p = problems(`${HEAD}firewall:\n  aliases:\n    bl:\n      file: nowhere.txt\n`, path.join(dir, 'config.yaml'));
    assert.deepEqual(p, [`${path.join(dir, 'config.yaml')}:6:7: firewall.aliases.bl.file: cannot read alias file ${path.join(dir, 'nowhere.txt')}: ENOENT`]);
  });

  it('an alias file of only comments is empty and a rule using it is refused', () => {
    writeFileSync(path.join(dir, 'empty.txt'), '# nothing yet\n\n');
    const p = problems(`${HEAD}firewall:\n  aliases:\n    e: { file: empty.txt }\n  rules:\n    - { id: a, priority: 1, action: deny, dst_alias: e }\n`, path.join(dir, 'config.yaml'));
    assert.deepEqual(p, [`${path.join(dir, 'config.yaml')}:7:43: firewall.rules[0].dst_alias: alias "e" is empty: the rule could never match`]);
  });

  it('loadConfigFile reads from disk and refuses a missing file', async () => {
    const cfgPath = path.join(dir, 'disk.yaml');
    writeFileSync(cfgPath, `${HEAD}firewall:\n  default_policy: drop\n`);
    const c = await loadConfigFile(cfgPath);
    assert.equal(c.firewall.default_policy, 'drop');
    await assert.rejects(loadConfigFile(path.join(dir, 'missing.yaml')), (e: unknown) => e instanceof ConfigError && /missing\.yaml: cannot read the config file: ENOENT/.test(e.message));
  });

  it('a warning for an alias whose entries a rule cannot use', () => {
    const c = parseConfigText(
      `${HEAD}firewall:
  aliases:
    mixed: { values: [198.18.66.0/24, "2001:db8:66::/48"] }
  rules:
    - { id: a, priority: 1, action: deny, src_alias: mixed, dst_ip: 198.18.1.1 }
`,
      path.join(dir, 'config.yaml'),
    );
    assert.deepEqual(c.warnings.map((w) => `${w.line}:${w.path}: ${w.message}`), [
      '7:firewall.rules[0].src_alias: alias "mixed" has IPv6 entries but dst_ip is IPv4 only: src and dst must be of the same family; those entries are ignored by this rule',
    ]);
  });
});
