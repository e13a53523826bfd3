// Plain, CSV and JSON feeds: values read by their declared or apparent type, column and field
// mappings, and malformed input either skipped line by line with the reason or, when the feed is
// broken as a whole, refused with a message naming the fault.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FeedFormatError, indicatorText, normaliseDomain } from '../../src/intel/indicator.js';
import { csvRecords, parseCsv, parseJson, parsePlain } from '../../src/intel/formats.js';

const base = { valueType: 'auto' as const, defaultConfidence: 80, feedId: 'f' };
const texts = (r: { indicators: { value: Parameters<typeof indicatorText>[0] }[] }): string[] => r.indicators.map((i) => indicatorText(i.value));

describe('plain lists', () => {
  it('one value per line, comments and trailing commentary ignored, each type by its form', () => {
    const r = parsePlain('# header\n198.18.0.1\n  2001:db8::7 ; SBL123\n198.19.0.0/16\nBad.Example.\nhttps://evil.example/x?y=1\n\n', { ...base, commentPrefix: '#' });
    assert.deepEqual(texts(r), ['198.18.0.1', '2001:db8::7', '198.19.0.0/16', 'bad.example', 'https://evil.example/x?y=1']);
    assert.deepEqual(r.indicators.map((i) => i.value.type), ['ip', 'ip', 'ip', 'domain', 'url']);
    assert.equal(r.indicators[1]!.id, 'f:3');
    assert.equal(r.indicators[0]!.confidence, 80);
    assert.equal(r.skipped.total, 0);
  });

  it('bad lines are skipped with their line number and reason', () => {
    const r = parsePlain('198.18.0.1\n999.1.1.1\n2001:db8::/129\nex ample\n-bad-.example\n', { ...base, commentPrefix: ';' });
    assert.deepEqual(texts(r), ['198.18.0.1', 'ex']);
    const bad = r.skipped.toJSON()['invalid value']!;
    assert.equal(bad.count, 3);
    assert.match(bad.examples[0]!, /^line 2: "999.1.1.1" is not a valid IPv4 address/);
    assert.match(bad.examples[1]!, /^line 3: .*prefix length 129 is longer than 128/);
    assert.match(bad.examples[2]!, /^line 5: "-bad-.example" is not a domain name/);
  });

  it('a declared type is enforced: a name in an address list is refused', () => {
    const r = parsePlain('198.18.0.1\nexample.org\n', { ...base, valueType: 'ip', commentPrefix: '#' });
    assert.deepEqual(texts(r), ['198.18.0.1']);
    assert.equal(r.skipped.total, 1);
  });
});

describe('CSV', () => {
  it('RFC 4180 quoting: separators, doubled quotes and line breaks inside quotes', () => {
    assert.deepEqual(csvRecords('a,"b,c","d""e"\r\n"multi\nline",x\n', ','), [
      { fields: ['a', 'b,c', 'd"e'], line: 1 },
      { fields: ['multi\nline', 'x'], line: 2 },
    ]);
    assert.throws(() => csvRecords('a,"open\n', ','), /CSV line 1: a quoted field is not closed/);
  });

  it('columns by header name, confidence and category mapped, bad rows skipped with line numbers', () => {
    const csv = 'first_seen;dst_ip;score;family\n2024-01-01;198.18.0.9;90;c2\n2024-01-01;2001:db8::9;;botnet\n2024-01-01;198.18.0.10;abc;x\n2024-01-01\n';
    const r = parseCsv(csv, { ...base, separator: ';', skipHeader: true, valueField: 'dst_ip', confidenceField: 'score', categoryField: 'family' });
    assert.deepEqual(texts(r), ['198.18.0.9', '2001:db8::9']);
    assert.deepEqual(r.indicators.map((i) => [i.confidence, i.category]), [[90, 'c2'], [80, 'botnet']]);
    assert.deepEqual(r.skipped.toJSON(), {
      'invalid confidence': { count: 1, examples: ['line 4: confidence "abc" is not a number 0-100'] },
      'missing value column': { count: 1, examples: ['line 5: 1 fields, value is column 1'] },
    });
  });

  it('a column name that is not in the header refuses the feed, listing the columns', () => {
    assert.throws(() => parseCsv('ip,score\n198.18.0.1,5\n', { ...base, separator: ',', skipHeader: true, valueField: 'addr' }), (e) => e instanceof FeedFormatError && e.message === 'value_field "addr" is not a column of the header (columns: ip, score)');
    assert.throws(() => parseCsv('198.18.0.1\n', { ...base, separator: ',', skipHeader: false, valueField: 'ip' }), /names a column, but the feed has no header line/);
  });

  it('columns by number without a header', () => {
    const r = parseCsv('x,198.18.0.1\ny,198.18.0.2\n', { ...base, separator: ',', skipHeader: false, valueField: '1', idField: '0' });
    assert.deepEqual(r.indicators.map((i) => [i.id, indicatorText(i.value)]), [['x', '198.18.0.1'], ['y', '198.18.0.2']]);
  });
});

describe('JSON', () => {
  it('items at a path, fields at dotted paths', () => {
    const doc = { data: { iocs: [{ ioc: { value: '198.18.0.1' }, conf: 55, tags: ['c2'], uuid: 'u1' }, { ioc: { value: 'c2.example' }, conf: '70', tags: ['x'] }, { ioc: {} }, { ioc: { value: 17 } }] } };
    const r = parseJson(JSON.stringify(doc), { ...base, itemsPath: 'data.iocs', valueField: 'ioc.value', confidenceField: 'conf', categoryField: 'tags.0', idField: 'uuid' });
    assert.deepEqual(r.indicators.map((i) => [indicatorText(i.value), i.confidence, i.category, i.id]), [
      ['198.18.0.1', 55, 'c2', 'u1'],
      ['c2.example', 70, 'x', 'f:1'],
    ]);
    assert.deepEqual(r.skipped.toJSON()['missing value']?.examples, ['item 2: value_field "ioc.value" is absent', 'item 3: value_field "ioc.value" is a number, not a string']);
  });

  it('not JSON, or no list where items_path points, refuses the feed', () => {
    assert.throws(() => parseJson('{"a":', { ...base, itemsPath: '', valueField: '' }), /^FeedFormatError: not valid JSON: /);
    assert.throws(() => parseJson('{"a":{}}', { ...base, itemsPath: 'a', valueField: 'ip' }), /items_path "a" is not a list in the document/);
    assert.throws(() => parseJson('{"a":{}}', { ...base, itemsPath: '', valueField: 'ip' }), /the document is not a list/);
  });
});

describe('domain names', () => {
  it('IDN to ASCII, case and trailing dot folded, addresses and junk refused', () => {
    assert.equal(normaliseDomain('Bücher.Example.'), 'xn--bcher-kva.example');
    assert.equal(normaliseDomain('_dmarc.Example.org'), '_dmarc.example.org');
    assert.deepEqual(normaliseDomain('198.18.0.1'), { error: '"198.18.0.1" is an IPv4 address, not a domain name' });
    assert.match((normaliseDomain('a..b') as { error: string }).error, /label "" is empty/);
    assert.match((normaliseDomain(`${'a'.repeat(64)}.example`) as { error: string }).error, /too long/);
  });
});
