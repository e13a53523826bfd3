// The `ratelimit` and `ddos` config sections through the real loader: defaults, bounds, CIDR
// lists of both families, strict keys, the reference's unsupported keys, the interlocks, and
// where each problem is (file:line:col and the key path).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, type ConfigIssue } from '../../src/config/index.js';
import { parseConfigText } from '../../src/catalog.js';
import { formatAddress, type Cidr } from '../../src/net/ip.js';

const HEAD = 'agent:\n  interfaces: [eth1]\n';
const HEAD_LINES = 2;
const formatCidr = (c: Cidr): string => `${formatAddress(c.family, c.addr)}/${c.prefix}`;

function parse(yaml: string): ReturnType<typeof parseConfigText> {
  return parseConfigText(HEAD + yaml, 'c.yaml');
}

function issues(yaml: string): ConfigIssue[] {
  try {
    parse(yaml);
  } catch (e) {
    if (e instanceof ConfigError) return [...e.issues];
    throw e;
  }
  assert.fail('expected the config to be rejected');
}

/** 1-based line and column of `needle` in the section text (HEAD included in the line count). */
function at(yaml: string, needle: string, nth = 0): { line: number; column: number } {
  const lines = yaml.split('\n');
  let seen = 0;
  for (let i = 0; i < lines.length; i++) {
    let from = 0;
    for (;;) {
      const c = lines[i]!.indexOf(needle, from);
      if (c < 0) break;
      if (seen++ === nth) return { line: HEAD_LINES + i + 1, column: c + 1 };
      from = c + 1;
    }
  }
  throw new Error(`"${needle}" not in the test yaml`);
}

function one(yaml: string, path: string): ConfigIssue {
  const all = issues(yaml);
  const hit = all.filter((i) => i.path === path);
  assert.equal(hit.length, 1, `one problem at ${path}; got ${JSON.stringify(all)}`);
  assert.equal(hit[0]!.file, 'c.yaml');
  return hit[0]!;
}

describe('ratelimit config', () => {
  it('is off by default, with no rules, no default limit and the documented housekeeping', () => {
    const c = parse('');
    assert.deepEqual(c.ratelimit, { enabled: false, default_rate: 0, rules: [], event_sample_every: 100, bucket_idle_timeout_secs: 60, housekeeping_interval_secs: 10 });
  });

  it('fills rule defaults: every source, any protocol, drop, per source, enabled; burst left to the compiler', () => {
    const r = parse('ratelimit:\n  enabled: true\n  default_rate: 500\n  default_burst: 50\n  rules:\n    - { id: dns, rate: 1000 }\n').ratelimit;
    assert.equal(r.enabled, true);
    assert.equal(r.default_rate, 500);
    assert.equal(r.default_burst, 50);
    assert.deepEqual(r.rules, [{ id: 'dns', enabled: true, protocol: 'any', rate: 1000, action: 'drop', per: 'source' }]);
  });

  it('takes a CIDR, an address or a list of both families, host bits cleared', () => {
    const yaml =
      'ratelimit:\n  rules:\n' +
      '    - { id: one, rate: 1, src_ip: "10.1.2.3/8" }\n' +
      '    - { id: host, rate: 1, src_ip: "2001:db8::7" }\n' +
      '    - { id: mixed, rate: 1, src_ip: [198.18.0.0/15, "2001:db8:1::/48", 198.51.100.9] }\n';
    const rules = parse(yaml).ratelimit.rules;
    const cidrs = rules.map((r) => r.src_ip!.map((c) => `${formatCidr(c)} v${c.family}`));
    assert.deepEqual(cidrs, [['10.0.0.0/8 v4'], ['2001:db8::7/128 v6'], ['198.18.0.0/15 v4', '2001:db8:1::/48 v6', '198.51.100.9/32 v4']]);
  });

  it('maps keyword synonyms: protocol "*", action deny/allow/log, per src/rule', () => {
    const yaml =
      'ratelimit:\n  rules:\n' +
      '    - { id: a, rate: 1, protocol: "*", action: deny, per: src }\n' +
      '    - { id: b, rate: 1, protocol: udp, dst_port: "5000-5100", action: allow, per: rule }\n' +
      '    - { id: c, rate: 1, protocol: tcp, dst_port: 443, action: log }\n';
    const [a, b, c] = parse(yaml).ratelimit.rules;
    assert.deepEqual([a!.protocol, a!.action, a!.per], ['any', 'drop', 'source']);
    assert.deepEqual([b!.protocol, b!.action, b!.per, b!.dst_port], ['udp', 'pass', 'rule', { lo: 5000, hi: 5100 }]);
    assert.deepEqual([c!.action, c!.dst_port], ['pass', { lo: 443, hi: 443 }]);
  });

  it('bounds rates, bursts, sampling and timers, naming the key and where it is', () => {
    const yaml =
      'ratelimit:\n' +
      '  default_rate: -1\n' +
      '  event_sample_every: 0\n' +
      '  bucket_idle_timeout_secs: 86401\n' +
      '  housekeeping_interval_secs: 1.5\n' +
      '  rules:\n' +
      '    - { id: a, rate: 0 }\n' +
      '    - { id: b, rate: 100000001 }\n' +
      '    - { id: c, rate: 10, burst: 0 }\n';
    const all = issues(yaml);
    const by = new Map(all.map((i) => [i.path, i]));
    assert.equal(all.length, 7, JSON.stringify(all));
    assert.equal(by.get('ratelimit.default_rate')!.message, 'expected a rate in packets per second (0 = no default limit) 0-100000000; got -1');
    assert.deepEqual({ line: by.get('ratelimit.default_rate')!.line, column: by.get('ratelimit.default_rate')!.column }, at(yaml, 'default_rate'));
    assert.match(by.get('ratelimit.event_sample_every')!.message, /1-1000000; got 0$/);
    assert.match(by.get('ratelimit.bucket_idle_timeout_secs')!.message, /1-86400; got 86401$/);
    assert.match(by.get('ratelimit.housekeeping_interval_secs')!.message, /1-3600; got 1\.5$/);
    assert.equal(by.get('ratelimit.rules[0].rate')!.message, 'expected a rate in packets per second 1-100000000; got 0');
    assert.deepEqual({ line: by.get('ratelimit.rules[0].rate')!.line, column: by.get('ratelimit.rules[0].rate')!.column }, at(yaml, 'rate: 0'));
    assert.match(by.get('ratelimit.rules[1].rate')!.message, /got 100000001$/);
    assert.match(by.get('ratelimit.rules[2].burst')!.message, /expected a burst in packets 1-100000000; got 0$/);
    // the limits themselves are accepted
    assert.equal(parse('ratelimit:\n  rules:\n    - { id: a, rate: 100000000, burst: 1 }\n').ratelimit.rules[0]!.rate, 100_000_000);
  });

  it('refuses bad CIDRs one by one, in both families, with the list index in the path', () => {
    const yaml = 'ratelimit:\n  rules:\n    - { id: a, rate: 1, src_ip: ["10.0.0.1/33", "2001:db8::/129", 5, nope] }\n';
    const all = issues(yaml);
    assert.deepEqual(
      all.map((i) => [i.path, i.line, i.column]),
      [
        ['ratelimit.rules[0].src_ip[0]', at(yaml, '"10.0.0.1/33"').line, at(yaml, '"10.0.0.1/33"').column],
        ['ratelimit.rules[0].src_ip[1]', at(yaml, '"2001:db8::/129"').line, at(yaml, '"2001:db8::/129"').column],
        ['ratelimit.rules[0].src_ip[2]', at(yaml, '5,').line, at(yaml, '5,').column],
        ['ratelimit.rules[0].src_ip[3]', at(yaml, 'nope').line, at(yaml, 'nope').column],
      ],
    );
    assert.match(all[0]!.message, /prefix length 33 is longer than 32 for IPv4/);
    assert.match(all[1]!.message, /prefix length 129 is longer than 128 for IPv6/);
    assert.equal(all[2]!.message, 'expected an IPv4/IPv6 address or CIDR; got 5');
    assert.match(all[3]!.message, /"nope" is not a valid IPv4 address/);
    assert.match(one('ratelimit:\n  rules:\n    - { id: a, rate: 1, src_ip: [] }\n', 'ratelimit.rules[0].src_ip').message, /an empty list matches nothing; omit the key/);
  });

  it('refuses unknown keys with the expected ones, and the reference keys it does not support with why', () => {
    const yaml = 'ratelimit:\n  algoritm: x\n  country_tiers: {}\n  rules:\n    - { id: a, rate: 1, algorithm: token, burts: 4 }\n';
    const all = issues(yaml);
    const by = new Map(all.map((i) => [i.path, i.message]));
    assert.match(by.get('ratelimit.algoritm')!, /^unknown key "algoritm" \(expected one of: enabled, default_rate, default_burst, rules,/);
    assert.equal(by.get('ratelimit.country_tiers'), '`country_tiers` is not supported by this version');
    assert.equal(by.get('ratelimit.rules[0].algorithm'), '`algorithm` is not supported by this version (only GCRA (an exact token bucket) is implemented)');
    assert.match(by.get('ratelimit.rules[0].burts')!, /^unknown key "burts"/);
    const burts = all.find((i) => i.path === 'ratelimit.rules[0].burts')!;
    assert.deepEqual({ line: burts.line, column: burts.column }, at(yaml, 'burts'));
  });

  it('interlocks: dst_port needs tcp or udp; ids and priorities are unique', () => {
    const portYaml = 'ratelimit:\n  rules:\n    - { id: a, rate: 5, protocol: icmp, dst_port: 80 }\n';
    const p = one(portYaml, 'ratelimit.rules[0].dst_port');
    assert.equal(p.message, 'dst_port needs protocol tcp or udp (protocol is icmp)');
    assert.equal(p.line, 5);
    const any = one('ratelimit:\n  rules:\n    - { id: a, rate: 5, dst_port: 80 }\n', 'ratelimit.rules[0].dst_port');
    assert.match(any.message, /protocol is any/);

    const dupYaml = 'ratelimit:\n  rules:\n    - { id: a, rate: 1, priority: 5 }\n    - { id: b, rate: 1, priority: 5 }\n    - { id: a, rate: 1 }\n';
    assert.equal(one(dupYaml, 'ratelimit.rules[2].id').message, 'duplicate id "a" (already used by rules[0])');
    assert.equal(one(dupYaml, 'ratelimit.rules[1].priority').message, 'duplicate priority 5 (already used by rules[0]): first-match order would be ambiguous');
    assert.equal(one(dupYaml, 'ratelimit.rules[1].priority').line, 6);
    assert.match(one('ratelimit:\n  rules:\n    - { id: "bad id", rate: 1 }\n', 'ratelimit.rules[0].id').message, /expected an id of 1-128 letters/);
  });

  it('counts kernel slots: one per CIDR, two for a rule without src_ip, at most 1024', () => {
    const rules = (n: number, src: string): string => Array.from({ length: n }, (_, i) => `    - { id: r${i}, rate: 1${src} }\n`).join('');
    assert.equal(parse(`ratelimit:\n  rules:\n${rules(512, '')}`).ratelimit.rules.length, 512, '512 rules x 2 families = 1024 slots fit');
    assert.equal(one(`ratelimit:\n  rules:\n${rules(513, '')}`, 'ratelimit.rules').message, 'rules need 1026 kernel slots (one per CIDR, two for a rule without src_ip); the limit is 1024');
    assert.equal(parse(`ratelimit:\n  rules:\n${rules(1024, ', src_ip: 10.0.0.1')}`).ratelimit.rules.length, 1024);
    assert.match(one(`ratelimit:\n  rules:\n${rules(1025, ', src_ip: "2001:db8::1"')}`, 'ratelimit.rules').message, /rules need 1025 kernel slots/);
  });
});

describe('ddos config', () => {
  it('is off by default; syn_protection defaults to threshold mode at 10,000 SYN/s', () => {
    assert.deepEqual(parse('').ddos, {
      enabled: false,
      syn_protection: { enabled: false, threshold_mode: true, threshold_pps: 10_000, cookies: 'auto' },
      syn_flood: { enabled: false, max_pps: 0, per_source_pps: 0 },
      udp_protection: { enabled: false, max_pps: 0, per_source_pps: 0 },
      icmp_protection: { enabled: false, max_pps: 0, per_source_pps: 0 },
    });
  });

  it('takes syn_protection always-on and the guards with their limits', () => {
    const d = parse('ddos:\n  enabled: true\n  syn_protection: { enabled: true, threshold_mode: false }\n  udp_protection: { enabled: true, per_source_pps: 200 }\n').ddos;
    assert.deepEqual(d.syn_protection, { enabled: true, threshold_mode: false, threshold_pps: 10_000, cookies: 'auto' });
    assert.deepEqual(d.udp_protection, { enabled: true, max_pps: 0, per_source_pps: 200 });
  });

  it('takes the cookie path auto, agent or kernel, and names anything else', () => {
    assert.equal(parse('ddos:\n  enabled: true\n  syn_protection: { enabled: true, cookies: kernel }\n').ddos.syn_protection.cookies, 'kernel');
    assert.equal(parse('ddos:\n  enabled: true\n  syn_protection: { enabled: true, cookies: Agent }\n').ddos.syn_protection.cookies, 'agent');
    assert.match(one('ddos:\n  enabled: true\n  syn_protection: { enabled: true, cookies: proxy }\n', 'ddos.syn_protection.cookies').message, /expected one of auto \| agent \| kernel; got "proxy"/);
  });

  it('interlocks: enabled needs a protection; a guard needs a limit', () => {
    const yaml = 'ddos:\n  enabled: true\n';
    const i = one(yaml, 'ddos.enabled');
    assert.equal(i.message, 'ddos.enabled is true but no protection is enabled (syn_protection, syn_flood, udp_protection, icmp_protection)');
    assert.deepEqual({ line: i.line, column: i.column }, at(yaml, 'enabled'));
    const g = one('ddos:\n  enabled: true\n  icmp_protection: { enabled: true }\n', 'ddos.icmp_protection');
    assert.equal(g.message, 'icmp_protection is enabled but sets neither max_pps nor per_source_pps');
    assert.equal(g.line, 5);
    // the interlocks apply only when ddos is on: a prepared but disabled section is accepted
    assert.equal(parse('ddos:\n  enabled: false\n  syn_flood: { enabled: true }\n').ddos.syn_flood.enabled, true);
  });

  it('bounds thresholds, refuses unknown and unsupported keys with a suggestion', () => {
    const yaml = 'ddos:\n  enabled: true\n  syn_protection: { enabled: true, threshold_pps: 0, thresold_mode: false }\n  policies: []\n';
    const all = issues(yaml);
    const by = new Map(all.map((i) => [i.path, i]));
    assert.equal(by.get('ddos.syn_protection.threshold_pps')!.message, 'expected a SYN rate in packets per second 1-100000000; got 0');
    assert.match(by.get('ddos.syn_protection.thresold_mode')!.message, /unknown key "thresold_mode"; did you mean "threshold_mode"\?/);
    assert.equal(by.get('ddos.policies')!.message, '`policies` is not supported by this version');
    assert.deepEqual({ line: by.get('ddos.policies')!.line, column: by.get('ddos.policies')!.column }, at(yaml, 'policies'));
    assert.match(one('ddos:\n  syn_flood: { max_pps: 100000001 }\n', 'ddos.syn_flood.max_pps').message, /0-100000000; got 100000001/);
    assert.match(one('ddos:\n  syn_protection: { threshold_mode: "yes" }\n', 'ddos.syn_protection.threshold_mode').message, /expected true or false; got "yes"/);
  });
});
