// The block list's command-line flags (checked before anything is sent: a typo is exit 2 naming
// the flag), its table, and its config section (defaults, bounds, reload semantics).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/catalog.js';
import { UsageError } from '../../src/cli/client.js';
import { blocklistAddBody, blocklistQuery, renderEntries } from '../../src/cli/commands/blocklist.js';
import { parseDurationSecs } from '../../src/cli/commands/since.js';
import { blocklistSection } from '../../src/blocklist/section.js';
import { BLOCKLIST_KERNEL_CAPACITY } from '../../src/blocklist/types.js';

const usage = (re: RegExp) => (e: unknown) => e instanceof UsageError && re.test(e.message);

describe('ebpfsentinel blocklist: flags', () => {
  it('ls: filters become the query, checked', () => {
    assert.deepEqual(blocklistQuery({ family: 'IPv6', direction: 'DST', owner: 'tc-threatintel', match: '198.18.0.0/16', limit: '10', offset: '20' }), {
      owner: 'tc-threatintel',
      direction: 'dst',
      family: 6,
      match: '198.18.0.0/16',
      limit: 10,
      offset: 20,
    });
    assert.throws(() => blocklistQuery({ family: '5' }), usage(/--family must be 4, 6, ipv4 or ipv6; got "5"/));
    assert.throws(() => blocklistQuery({ direction: 'both' }), usage(/--direction must be src or dst/));
    assert.throws(() => blocklistQuery({ limit: '0' }), usage(/--limit must be an integer 1-1000/));
  });

  it('add: --reason required, --ttl as seconds or with a unit', () => {
    assert.deepEqual(blocklistAddBody('2001:db8::66', { reason: ' scan ', ttl: '2h', direction: 'src' }), { cidr: '2001:db8::66', reason: 'scan', direction: 'src', ttl_secs: 7200 });
    assert.deepEqual(blocklistAddBody('198.18.0.66', { reason: 'scan' }), { cidr: '198.18.0.66', reason: 'scan' });
    assert.throws(() => blocklistAddBody('198.18.0.66', {}), usage(/--reason is required/));
    assert.throws(() => blocklistAddBody('198.18.0.66', { reason: 'x', ttl: '1w' }), usage(/--ttl: expected a duration like 3600, 90s/));
    assert.deepEqual(['3600', '90s', '15m', '2h', '7d'].map((v) => parseDurationSecs('ttl', v)), [3600, 90, 900, 7200, 604800]);
    assert.throws(() => parseDurationSecs('ttl', '0'), usage(/--ttl/));
  });

  it('ls: one line per entry with its hits, expiry and every owner with the reason', () => {
    const text = renderEntries([
      {
        cidr: '198.18.0.0/24',
        family: 4,
        direction: 'src',
        id: 7,
        hits: 1234,
        expires_at: null,
        owners: [
          { owner: 'tc-threatintel', reason: 'feed', created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00.000Z', expires_at: null },
          { owner: 'api:ops', reason: 'scan', created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00.000Z', expires_at: '2026-01-02T00:00:00.000Z' },
        ],
      },
    ]);
    const [header, , row] = text.split('\n');
    assert.match(header!, /^id\s+cidr\s+dir\s+hits\s+expires\s+owners \(reason\)$/);
    assert.match(row!, /^ 7\s+198\.18\.0\.0\/24\s+src\s+1234\s+never\s+tc-threatintel \(feed\); api:ops \(scan\)$/);
  });
});

describe('blocklist config section', () => {
  const load = (section: string) => parseConfigText(`agent:\n  interfaces: [eth0]\n${section}`, '/t/c.yaml');

  it('defaults, bounds and live reload', () => {
    assert.deepEqual(load('').blocklist, { max_entries: 65_536, event_sample_every: 100 });
    assert.equal(blocklistSection.reload, 'live');
    assert.equal(load(`blocklist: { max_entries: ${BLOCKLIST_KERNEL_CAPACITY} }`).blocklist.max_entries, BLOCKLIST_KERNEL_CAPACITY);
    assert.throws(() => load(`blocklist: { max_entries: ${BLOCKLIST_KERNEL_CAPACITY + 1} }`), /blocklist\.max_entries/);
    assert.throws(() => load('blocklist: { event_sample_every: 0 }'), /blocklist\.event_sample_every/);
    assert.throws(() => load('blocklist: { entries: [198.18.0.1] }'), /blocklist.*entries/);
  });
});
