// The STIX loader against material written by the OASIS CTI TC (shared/testdata/stix, whose
// README says what to assert): the example bundles load with exactly the values their patterns
// write, indicators the kernel cannot enforce are skipped whole and counted, the validator's
// broken inputs are refused naming the object and the fault, the pattern validator's valid and
// invalid patterns are told apart, and addresses the reference library calls equivalent load alike.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { FeedFormatError, indicatorText, type Indicator } from '../../src/intel/indicator.js';
import { parseStix } from '../../src/intel/stix.js';
import { parseStixPattern, StixPatternError } from '../../src/intel/stix-pattern.js';
import { REPO_ROOT } from '../../src/version.js';

const STIX = path.resolve(REPO_ROOT, '..', 'shared', 'testdata', 'stix');
const read = (p: string): string => readFileSync(path.join(STIX, p), 'utf8');
const NOW = Date.parse('2026-01-01T00:00:00Z');
const opts = { defaultConfidence: 100, now: NOW };

interface IndexIndicator {
  id: string;
  pattern_type: string;
  pattern: string;
  object_types: string[];
  boolean_ops: string[];
  observation_ops: string[];
  qualifiers: string[];
  valid_until: string | null;
}
const index = JSON.parse(read('index.json')) as { files: { file: string; indicators?: IndexIndicator[] }[] };

const SUPPORTED = new Set(['ipv4-addr', 'ipv6-addr', 'domain-name', 'url', 'file']);

/** What the README says a supported pattern yields, read off the pattern text by a regex that
 * shares nothing with the loader: each `type:path = 'value'` term, as written. */
function writtenValues(p: string): { type: string; value: string }[] {
  return [...p.matchAll(/([a-z0-9-]+):(value|hashes\.(?:'[^']+'|[A-Za-z0-9-]+))\s*=\s*'([^']*)'/g)].map((m) => ({ type: m[1]!, value: m[3]! }));
}

/** Our value's text in the pattern's spelling: addresses as written (host bits were clear in
 * every bundle), names lower-cased, hashes lower-cased. */
function ours(i: Indicator): { type: string; value: string } {
  const v = i.value;
  if (v.type === 'ip') return { type: v.cidr.family === 4 ? 'ipv4-addr' : 'ipv6-addr', value: indicatorText(v) };
  if (v.type === 'domain') return { type: 'domain-name', value: v.name };
  if (v.type === 'url') return { type: 'url', value: v.url };
  return { type: 'file', value: v.hash };
}

describe('STIX bundles of the OASIS examples', () => {
  for (const f of index.files.filter((x) => x.file.startsWith('bundles/'))) {
    it(`${path.basename(f.file)}: supported indicators yield the values written in their patterns, the rest are skipped and counted`, () => {
      const got = parseStix(read(f.file), opts);
      const byId = new Map<string, Indicator[]>();
      for (const i of got.indicators) byId.set(i.id, [...(byId.get(i.id) ?? []), i]);
      let skippedWhole = 0;
      let badValues = 0;
      for (const ind of f.indicators ?? []) {
        const simple = ind.pattern_type === 'stix' && ind.boolean_ops.every((b) => b === 'OR') && ind.observation_ops.length === 0 && ind.qualifiers.length === 0 && ind.object_types.every((t) => SUPPORTED.has(t)) && !/\bIN\b|ISSUBSET|MATCHES|LIKE|file:(?!hashes)/.test(ind.pattern);
        const loaded = (byId.get(ind.id) ?? []).map(ours);
        if (!simple) {
          assert.deepEqual(loaded, [], `${ind.id} (${ind.pattern}) is not enforceable and loads nothing`);
          skippedWhole++;
          continue;
        }
        const want = writtenValues(ind.pattern).map((w) => ({ type: w.type.startsWith('file') ? 'file' : w.type, value: w.type === 'file' || w.type === 'domain-name' ? w.value.toLowerCase() : w.value }));
        const valid = want.filter((w) => !(w.type === 'domain-name' && /\s/.test(w.value)));
        badValues += want.length - valid.length;
        const norm = (xs: { type: string; value: string }[]): string[] => xs.map((x) => `${x.type}=${x.type === 'url' ? new URL(x.value).href : x.value}`).sort();
        assert.deepEqual(norm(loaded), norm(valid), `${ind.id}: ${ind.pattern}`);
      }
      const reasons = got.skipped.toJSON();
      const wholeCount = Object.entries(reasons).filter(([r]) => r !== 'invalid value').reduce((n, [, v]) => n + v.count, 0);
      assert.equal(wholeCount, skippedWhole, `skipped indicators are counted: ${JSON.stringify(reasons)}`);
      assert.equal(reasons['invalid value']?.count ?? 0, badValues);
    });
  }

  it('counts: apt1 4 networks, 3 names, 3 hashes; poisonivy reports the name with a space', () => {
    const apt1 = parseStix(read('bundles/apt1.json'), opts);
    const count = (xs: Indicator[], t: string): number => xs.filter((i) => i.value.type === t).length;
    assert.equal(count(apt1.indicators, 'ip'), 4);
    assert.deepEqual(apt1.indicators.filter((i) => i.value.type === 'ip').map((i) => indicatorText(i.value)), ['223.166.0.0/15', '58.246.0.0/15', '112.64.0.0/15', '139.226.0.0/15']);
    assert.equal(count(apt1.indicators, 'domain'), 3);
    assert.equal(count(apt1.indicators, 'hash'), 3);
    assert.equal(apt1.skipped.total, 2, 'the two x509 AND patterns');
    const ivy = parseStix(read('bundles/poisonivy.json'), opts);
    const bad = ivy.skipped.toJSON()['invalid value'];
    assert.equal(bad?.count, 1);
    assert.match(bad!.examples[0]!, /^indicator--[0-9a-f-]+: "domain autuo\.xicp\.net" is not a domain name/);
    assert.ok(ivy.indicators.some((i) => indicatorText(i.value) === '60.10.1.115'), 'the other value of that OR still loads');
  });

  it('STIX metadata rides along: name, kill chain phases, indicator type, confidence', () => {
    const b = JSON.parse(read('bundles/indicator-for-c2-ip-address.json')) as { objects: Record<string, unknown>[] };
    const ind = b.objects.find((o) => o.type === 'indicator')!;
    Object.assign(ind, { kill_chain_phases: [{ kill_chain_name: 'mandiant-attack-lifecycle-model', phase_name: 'establish-foothold' }], confidence: 73 });
    const [i] = parseStix(JSON.stringify(b), opts).indicators;
    assert.equal(i!.id, ind.id);
    assert.equal(i!.name, ind.name);
    assert.equal(i!.confidence, 73);
    assert.deepEqual(i!.killChain, [{ kill_chain_name: 'mandiant-attack-lifecycle-model', phase_name: 'establish-foothold' }]);
  });
});

describe('STIX validity', () => {
  it('the validator\'s broken inputs are refused naming the object and the fault', () => {
    assert.throws(() => parseStix(read('invalid/invalid_braces.json'), opts), (e) => e instanceof FeedFormatError && /not valid JSON/.test(e.message));
    assert.throws(() => parseStix(read('invalid/invalid_comma.json'), opts), (e) => e instanceof FeedFormatError && /not valid JSON/.test(e.message));
    assert.throws(() => parseStix(read('invalid/invalid_identity.json'), opts), (e) => e instanceof FeedFormatError && e.message === 'identity--8c6af861-7b20-41ef-9b59-6344fd872a8f: has no "modified" (required)');
    assert.throws(() => parseStix(read('invalid/invalid_timestamp.json'), opts), (e) => e instanceof FeedFormatError && /^identity--8c6af861-7b20-41ef-9b59-6344fd872a8f: "modified" \(2015-08-08T15:50:10.983Z\) is earlier than "created"/.test(e.message));
  });

  it('a broken object inside a bundle refuses the bundle, naming it', () => {
    const b = JSON.parse(read('bundles/poisonivy.json')) as { objects: Record<string, unknown>[] };
    const victim = b.objects.find((o) => o.type === 'indicator')!;
    delete victim.valid_from;
    assert.throws(() => parseStix(JSON.stringify(b), opts), new RegExp(`^FeedFormatError: ${String(victim.id)}: indicator has no "valid_from"$`));
  });

  const cases = JSON.parse(read('cases/validator-cases.json')) as {
    addresses: Record<'ipv4_valid' | 'ipv4_invalid' | 'ipv6_valid' | 'ipv6_invalid', string[]>;
    indicators: { case: string; valid: boolean; object: Record<string, unknown> }[];
  };
  const oneIndicator = (type: string, value: string): string =>
    JSON.stringify({ type: 'indicator', spec_version: '2.1', id: 'indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f', created: '2016-04-06T20:03:48.000Z', modified: '2016-04-06T20:03:48.000Z', pattern_type: 'stix', pattern: `[${type}:value = '${value}']`, valid_from: '2016-04-06T20:03:48Z' });

  it('addresses the validator accepts load; those it rejects do not', () => {
    for (const fam of ['ipv4', 'ipv6'] as const) {
      for (const v of cases.addresses[`${fam}_valid`]) assert.equal(parseStix(oneIndicator(`${fam}-addr`, v), opts).indicators.length, 1, v);
      for (const v of cases.addresses[`${fam}_invalid`]) {
        const r = parseStix(oneIndicator(`${fam}-addr`, v), opts);
        assert.equal(r.indicators.length, 0, v);
        assert.equal(r.skipped.toJSON()['invalid value']?.count, 1, `${v} is reported`);
      }
    }
  });

  it('indicators the validator refuses are refused or, for a pattern type outside the vocabulary, skipped with that reason', () => {
    for (const c of cases.indicators) {
      const text = JSON.stringify(c.object);
      if (c.valid) {
        assert.doesNotThrow(() => parseStix(text, opts), c.case);
        continue;
      }
      if (c.object.pattern_type === 'zeek') {
        const r = parseStix(text, opts);
        assert.equal(r.indicators.length, 0);
        assert.deepEqual(Object.keys(r.skipped.toJSON()), ['pattern_type zeek is not in the STIX vocabulary']);
        continue;
      }
      assert.throws(() => parseStix(text, opts), (e) => e instanceof FeedFormatError && e.message.startsWith('indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f: '), c.case);
    }
  });

  it('revoked, expired and not-yet-valid indicators are skipped and counted', () => {
    const base = JSON.parse(oneIndicator('ipv4-addr', '198.18.0.1')) as Record<string, unknown>;
    const variants = [
      { ...base, id: 'indicator--00000000-0000-4000-8000-000000000001', revoked: true },
      { ...base, id: 'indicator--00000000-0000-4000-8000-000000000002', valid_until: '2020-01-01T00:00:00Z' },
      { ...base, id: 'indicator--00000000-0000-4000-8000-000000000003', valid_from: '2030-01-01T00:00:00Z' },
      { ...base, id: 'indicator--00000000-0000-4000-8000-000000000004', valid_until: '2030-01-01T00:00:00Z' },
    ];
    const r = parseStix(JSON.stringify({ type: 'bundle', id: 'bundle--00000000-0000-4000-8000-000000000000', objects: variants }), opts);
    assert.deepEqual(r.indicators.map((i) => i.id), ['indicator--00000000-0000-4000-8000-000000000004']);
    assert.equal(r.indicators[0]!.validUntil, Date.parse('2030-01-01T00:00:00Z'));
    assert.deepEqual(Object.fromEntries(Object.entries(r.skipped.toJSON()).map(([k, v]) => [k, v.count])), {
      revoked: 1,
      'expired (valid_until has passed)': 1,
      'not yet valid (valid_from is in the future)': 1,
    });
  });

  it('the latest version of an indicator is the one loaded', () => {
    const a = JSON.parse(oneIndicator('ipv4-addr', '198.18.0.1')) as Record<string, unknown>;
    const b = { ...a, modified: '2017-01-01T00:00:00Z', pattern: "[ipv6-addr:value = '2001:db8::1']" };
    const r = parseStix(JSON.stringify([b, a]), opts);
    assert.deepEqual(r.indicators.map((i) => indicatorText(i.value)), ['2001:db8::1']);
  });

  it('OR and AND: OR at either level is a union, AND is skipped whole, IN and ISSUBSET give values', () => {
    const load = (pattern: string): string[] => {
      const o = JSON.parse(oneIndicator('ipv4-addr', '198.18.0.1')) as Record<string, unknown>;
      o.pattern = pattern;
      const r = parseStix(JSON.stringify(o), opts);
      return r.indicators.length ? r.indicators.map((i) => indicatorText(i.value)) : Object.keys(r.skipped.toJSON());
    };
    assert.deepEqual(load("[ipv4-addr:value = '198.18.0.1' OR ipv6-addr:value = '2001:db8::1'] OR [domain-name:value = 'Bad.Example.']"), ['198.18.0.1', '2001:db8::1', 'bad.example']);
    assert.deepEqual(load("[ipv4-addr:value = '198.18.0.1' AND ipv4-addr:value = '198.18.0.2']"), ['AND inside an observation (several properties of one object, not enforceable per packet)']);
    assert.deepEqual(load("[ipv4-addr:value = '198.18.0.1'] AND [ipv4-addr:value = '198.18.0.2']"), ['observation AND (needs several observations, not enforceable per packet)']);
    assert.deepEqual(load("[ipv4-addr:value = '198.18.0.1'] OR [file:name = 'x']"), ['terms over file:name (only ipv4-addr, ipv6-addr, domain-name, url values and file hashes are indicators)']);
    assert.deepEqual(load("[ipv4-addr:value IN ('198.18.0.1', '198.18.0.2')]"), ['198.18.0.1', '198.18.0.2']);
    assert.deepEqual(load("[ipv6-addr:value ISSUBSET '2001:db8:dead:beef::/64']"), ['2001:db8:dead:beef::/64']);
    assert.deepEqual(load("[ipv4-addr:value = '198.18.0.1'] WITHIN 5 SECONDS"), ['qualifier WITHIN (not enforceable per packet)']);
    assert.deepEqual(load("[ipv4-addr:value != '198.18.0.1']"), ['!= on ipv4-addr:value']);
  });
});

describe('STIX patterns of the reference pattern validator', () => {
  const p = JSON.parse(read('cases/pattern-validator-cases.json')) as Record<'valid_spec_examples' | 'valid' | 'valid_timestamps', string[]> & Record<'invalid' | 'invalid_timestamps', { pattern: string; error_prefix: string }[]>;
  it('every valid pattern parses', () => {
    for (const s of [...p.valid_spec_examples, ...p.valid, ...p.valid_timestamps]) assert.doesNotThrow(() => parseStixPattern(s), s);
  });
  it('every invalid pattern is refused; where the validator names a column, so do we', () => {
    for (const c of [...p.invalid, ...p.invalid_timestamps]) {
      assert.throws(() => parseStixPattern(c.pattern), StixPatternError, c.pattern);
      const at = /^FAIL: Error found at line 1:(\d+)\./.exec(c.error_prefix);
      if (!at) continue;
      try {
        parseStixPattern(c.pattern);
      } catch (e) {
        // the validator points at the token it could not take; we point at the same token or,
        // for a literal it could not lex, at the literal it is part of
        const col = (e as StixPatternError).column;
        assert.ok(Math.abs(col - Number(at[1])) <= 1 || c.pattern.lastIndexOf("'", Number(at[1])) <= col, `${c.pattern}: we say column ${col}, the validator ${at[1]}`);
      }
    }
  });
});

describe('addresses the reference library calls equivalent', () => {
  const eq = JSON.parse(read('cases/address-equivalence-cases.json')) as Record<string, [string, string][]>;
  const load = (pattern: string): string => {
    const o = { type: 'indicator', spec_version: '2.1', id: 'indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f', created: '2016-04-06T20:03:48.000Z', modified: '2016-04-06T20:03:48.000Z', pattern_type: 'stix', pattern, valid_from: '2016-04-06T20:03:48Z' };
    const r = parseStix(JSON.stringify(o), opts);
    return r.indicators.length ? indicatorText(r.indicators[0]!.value) : `refused: ${pattern}`;
  };
  for (const [k, pairs] of Object.entries(eq)) {
    if (!Array.isArray(pairs)) continue;
    it(k, () => {
      for (const [a, b] of pairs) {
        if (k.endsWith('_not_equivalent')) assert.notEqual(load(a), load(b), `${a} vs ${b}`);
        else if (a !== b) assert.equal(load(a), load(b), `${a} vs ${b}`);
        // a pair of one value with itself is there for values that are invalid (foo, /-5; /99
        // for IPv4, a valid length for IPv6)
        else if (/foo|\/-5|ipv4-addr.*\/99/.test(a)) assert.match(load(a), /^refused: /, `${a} is not a valid value`);
        else assert.doesNotMatch(load(a), /^refused: /, `${a} is a valid value`);
      }
    });
  }
});
