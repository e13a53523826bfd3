import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { blockListText, generateBlockList, hitHost, RESERVED, xorshift32 } from '../../bench/blocklist.js';
import { BLOCKLIST_RULE, firewallCases, HIT_RULE, MANY_RULES, policyYaml, type PolicyName } from '../../bench/policy.js';
import { parseCidrList } from '../../src/config/aliases.js';
import { parseConfigText } from '../../src/catalog.js';
import { compileFirewall, matchPacket } from '../../src/engines/firewall/compile.js';
import { cidrKey, parseAddress } from '../../src/net/ip.js';

describe('bench block list', () => {
  it('xorshift32 is deterministic and not stuck', () => {
    const a = xorshift32(7);
    const b = xorshift32(7);
    const xs = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(xs, Array.from({ length: 1000 }, () => b()));
    assert.equal(new Set(xs).size, 1000);
    assert.ok(xs.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff));
    assert.notEqual(xorshift32(0)(), 0, 'a zero seed does not give the all-zero sequence');
  });

  for (const family of [4, 6] as const) {
    it(`IPv${family}: the same list for the same seed; distinct, in range, a real mix, clear of the bench hosts`, () => {
      const n = 20_000;
      const l = generateBlockList(family, n, 99);
      assert.deepEqual(generateBlockList(family, n, 99).entries.map(cidrKey), l.entries.map(cidrKey));
      assert.notDeepEqual(generateBlockList(family, 50, 100).entries.map(cidrKey), l.entries.slice(0, 50).map(cidrKey));
      assert.equal(l.entries.length, n);
      assert.equal(new Set(l.entries.map(cidrKey)).size, n);
      const [lo, hi] = family === 4 ? [16, 32] : [32, 128];
      const byPrefix = new Map<number, number>();
      for (const c of l.entries) {
        assert.equal(c.family, family);
        assert.ok(c.prefix >= lo && c.prefix <= hi, `prefix ${c.prefix}`);
        byPrefix.set(c.prefix, (byPrefix.get(c.prefix) ?? 0) + 1);
        for (const r of RESERVED) {
          assert.ok(!r.contains(c.family, c.addr) && !c.contains(r.family, r.addr), `${c} overlaps ${r}`);
        }
      }
      const hosts = (byPrefix.get(hi) ?? 0) / n;
      assert.ok(hosts > 0.2 && hosts < 0.6, `hosts are ${(hosts * 100).toFixed(0)} %`);
      assert.ok(byPrefix.size > (family === 4 ? 15 : 60), `${byPrefix.size} distinct prefix lengths`);
      assert.ok(byPrefix.has(lo), `some /${lo}`);
    });
  }

  it('the alias file text goes through the product’s list parser unchanged', () => {
    const lists = [generateBlockList(4, 3000, 5), generateBlockList(6, 3000, 5)];
    const parsed = parseCidrList(blockListText(lists));
    assert.deepEqual(parsed.issues, []);
    assert.deepEqual(parsed.hostBitLines, [], 'entries are written with host bits clear');
    assert.deepEqual(parsed.cidrs.map(cidrKey), [...lists[0]!.entries, ...lists[1]!.entries].map(cidrKey));
  });

  it('the hit host is a listed host entry', () => {
    for (const family of [4, 6] as const) {
      const l = generateBlockList(family, 5000, 3);
      const h = hitHost(l);
      assert.equal(h.entry.prefix, family === 4 ? 32 : 128);
      assert.equal(cidrKey(l.entries[h.index]!), cidrKey(h.entry));
      assert.ok(h.entry.contains(family, parseAddress(h.address).addr));
      assert.ok(h.index >= 2500);
    }
  });

  it('refuses a list without a size', () => {
    assert.throws(() => generateBlockList(4, 0, 1), /count 0/);
  });
});

describe('bench policies decide each case as the case says', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sentinel-bench-policy-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const size = 4000;
  const lists = { 4: generateBlockList(4, size, 11), 6: generateBlockList(6, size, 11) } as const;
  const listFile = path.join(dir, 'blocklist.txt');
  writeFileSync(listFile, blockListText([lists[4], lists[6]]));

  const compiled = new Map(
    (['base', 'many-rules', 'blocklist-deny', 'blocklist-allow'] as PolicyName[]).map((name) => {
      const cfg = parseConfigText(policyYaml(name, listFile), path.join(dir, `${name}.yaml`));
      assert.deepEqual(cfg.warnings, [], `${name} loads without warnings`);
      return [name, compileFirewall(cfg.firewall, cfg.resolved.firewall.aliases)] as const;
    }),
  );

  it('the base policy has ten rules; the block-list ones put the list first', () => {
    assert.deepEqual(new Set(compiled.get('base')!.rules.map((r) => r.ruleId)).size, 10);
    for (const p of ['blocklist-deny', 'blocklist-allow'] as const) {
      const c = compiled.get(p)!;
      assert.equal(c.rules[0]!.ruleId, BLOCKLIST_RULE);
      assert.deepEqual(c.lpmEntries, { v4: size, v6: size });
      assert.equal(c.defaultAction, 'pass');
    }
    const base = [...new Set(compiled.get('base')!.rules.map((r) => r.ruleId))];
    assert.equal(base.indexOf(HIT_RULE), 4, 'the hit rule is the fifth');
    const many = [...new Set(compiled.get('many-rules')!.rules.map((r) => r.ruleId))];
    assert.equal(many.length, MANY_RULES);
    assert.deepEqual(many.slice(0, 10), base, 'the many-rules policy starts with the base policy');
  });

  for (const family of [4, 6] as const) {
    it(`IPv${family}: the reference matcher agrees with every case`, () => {
      const cases = firewallCases(family, hitHost(lists[family]).address, size);
      assert.deepEqual(
        cases.map((c) => c.kind),
        ['rule_miss', 'rule_hit', 'rule_miss_many', 'lpm_hit_deny', 'lpm_hit_allow', 'lpm_miss'],
      );
      for (const c of cases) {
        assert.equal(parseAddress(c.src).family, family, c.id);
        const m = matchPacket(compiled.get(c.policy)!, {
          family,
          src: parseAddress(c.src).addr,
          dst: parseAddress(c.dst).addr,
          proto: 6,
          srcPort: c.sport,
          dstPort: c.dport,
        });
        assert.deepEqual(m, { action: c.expectAction, ruleId: c.expectRule }, c.id);
      }
    });
  }
});
