// xdp-ratelimit meters under BPF_PROG_TEST_RUN: GCRA arithmetic (burst admitted, the rest
// dropped, TAT advanced by exactly one interval per admitted packet), first-match rule
// selection by priority with CIDRs of both families, protocol and port ranges, per-source vs
// per-rule buckets, the default limit, flood guards, VLAN-tagged and malformed frames, sampled
// events, and housekeeping by bpf_timer.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { icmpEchoFrame, ndSolicitFrame, tcpFrame, truncate, udpFrame } from '../support/frames.js';
import { RatelimitHarness, ratelimitSkipReason, XDP_DROP, XDP_PASS } from './ratelimit-harness.js';
import { rl_reason } from '../../src/kernel/contract.gen.js';

const skip = ratelimitSkipReason();

const SRC = { 4: '198.18.0.10', 6: '2001:db8::10' } as const;
const SRC2 = { 4: '198.18.0.11', 6: '2001:db8::11' } as const;
const OUT = { 4: '198.19.9.9', 6: '2001:db8:9::9' } as const;
const DST = { 4: '198.18.1.1', 6: '2001:db8:1::1' } as const;

describe('xdp-ratelimit meters (test-run)', { skip }, () => {
  let h: RatelimitHarness;
  before(() => {
    h = new RatelimitHarness();
  });
  after(() => h?.close());

  for (const fam of [4, 6] as const) {
    it(`IPv${fam}: a fresh bucket admits exactly burst packets, then drops; TAT = burst intervals ahead`, () => {
      h.install({ ratelimit: { default_rate: 1000, default_burst: 7 } });
      const f = udpFrame({ src: SRC[fam], dst: DST[fam], sport: 1000, dport: 53 });
      const t0 = process.hrtime.bigint();
      const r = h.run(f, 50);
      const elapsed = process.hrtime.bigint() - t0;
      assert.equal(r.delta.passed, 7);
      assert.equal(r.delta.dropped, 43);
      assert.equal(r.delta.drop_default, 43);
      assert.equal(r.retval, XDP_DROP);
      const [b] = h.kernel.readBuckets();
      assert.ok(b, 'one bucket');
      assert.equal(b.family, fam);
      assert.equal(b.drops, 43n);
      // 7 admitted packets at 1 ms each: TAT = first arrival + 7 ms; last_ns is within the run.
      const ahead = b.tatNs - b.lastNs;
      assert.ok(ahead <= 7_000_000n && ahead >= 7_000_000n - elapsed, `TAT ${ahead} ns ahead of the last packet`);
    });

    it(`IPv${fam}: a drained bucket refills at the configured rate`, async () => {
      h.install({ ratelimit: { default_rate: 1, default_burst: 1 } }); // one packet per second
      const f = udpFrame({ src: SRC[fam], dst: DST[fam], sport: 1000, dport: 53 });
      assert.equal(h.run(f, 5).delta.passed, 1);
      await sleep(1100); // one interval has passed
      assert.equal(h.run(f, 5).delta.passed, 1);
      assert.equal(h.run(f, 5).delta.passed ?? 0, 0, 'no token until the next interval');
    });

    it(`IPv${fam}: first matching rule by priority, then the default; per-source and per-rule buckets`, () => {
      h.install({
        ratelimit: {
          default_rate: 1,
          default_burst: 5,
          rules: [
            { id: 'wide', priority: 20, src_ip: ['198.18.0.0/16', '2001:db8::/48'], rate: 1, burst: 3 },
            { id: 'web', priority: 10, src_ip: ['198.18.0.0/24', '2001:db8::/64'], protocol: 'tcp', dst_port: '80-90', rate: 1, burst: 2 },
            { id: 'shared', priority: 5, src_ip: ['198.18.0.11/32', '2001:db8::11/128'], protocol: 'udp', rate: 1, burst: 4, per: 'rule' },
          ],
        },
      });
      const web = tcpFrame({ src: SRC[fam], dst: DST[fam], sport: 4000, dport: 85 });
      assert.equal(h.run(web, 20).delta.passed, 2, 'web rule (priority 10) wins over wide');
      assert.equal(h.run(tcpFrame({ src: SRC[fam], dst: DST[fam], sport: 4000, dport: 91 }), 20).delta.passed, 3, 'port outside the range: wide');
      assert.equal(h.run(tcpFrame({ src: SRC2[fam], dst: DST[fam], sport: 4000, dport: 80 }), 20).delta.passed, 2, 'another source gets its own web bucket');
      const r = h.run(udpFrame({ src: OUT[fam], dst: DST[fam], sport: 1, dport: 2 }), 20);
      assert.equal(r.delta.passed, 5, 'outside every CIDR: default');
      assert.equal(r.delta.drop_default, 15);
      // per: rule — the bucket is shared, whatever the port
      const s1 = h.run(udpFrame({ src: SRC2[fam], dst: DST[fam], sport: 1, dport: 2 }), 3);
      const s2 = h.run(udpFrame({ src: SRC2[fam], dst: DST[fam], sport: 7, dport: 9 }), 3);
      assert.equal((s1.delta.passed ?? 0) + (s2.delta.passed ?? 0), 4);
      assert.equal(s2.delta.drop_rule, 2);
    });

    it(`IPv${fam}: VLAN-tagged frames are metered like untagged ones; malformed frames pass and are counted`, () => {
      h.install({ ratelimit: { rules: [{ id: 'r', src_ip: fam === 4 ? '198.18.0.0/24' : '2001:db8::/64', rate: 1, burst: 2 }] } });
      const tagged = udpFrame({ src: SRC[fam], dst: DST[fam], sport: 1, dport: 2, vlans: [{ vid: 100 }, { vid: 42 }] });
      assert.equal(h.run(tagged, 10).delta.passed, 2);
      const bad = truncate(udpFrame({ src: SRC[fam], dst: DST[fam], sport: 1, dport: 2 }), 14 + (fam === 4 ? 10 : 20));
      const r = h.run(bad, 10);
      assert.equal(r.retval, XDP_PASS);
      assert.equal(r.delta.malformed, 10);
      assert.equal(r.delta.passed, 10);
    });

    it(`IPv${fam}: action pass only counts (monitor); sampled events, 1 per N drops of a bucket`, () => {
      h.install({ ratelimit: { event_sample_every: 5, rules: [{ id: 'mon', src_ip: SRC[fam], rate: 1, burst: 1, action: 'pass' }, { id: 'cut', src_ip: SRC2[fam], rate: 1, burst: 1 }] } });
      const st0 = h.stats().over_limit_passed;
      const m = h.run(udpFrame({ src: SRC[fam], dst: DST[fam], sport: 1, dport: 2 }), 11);
      assert.equal(m.delta.passed, 11);
      assert.equal(h.stats().over_limit_passed - st0, 10n);
      const c = h.run(udpFrame({ src: SRC2[fam], dst: DST[fam], sport: 1, dport: 2 }), 11);
      assert.equal(c.delta.drop_rule, 10);
      const ev = h.drainEvents();
      // 10 over-limit packets per bucket, 1 in 5 reported: drops #1 and #6 of each
      assert.deepEqual(ev.map((e) => [h.kernel.numbers.idOf(e.ruleNum), e.action, Number(e.drops)]), [['mon', 1, 1], ['mon', 1, 6], ['cut', 0, 1], ['cut', 0, 6]]);
      assert.ok(ev.every((e) => e.family === fam && e.reason === rl_reason.RL_R_RULE));
    });

    it(`IPv${fam}: UDP and ICMP flood guards (aggregate and per source); neighbour discovery is exempt`, () => {
      h.install({
        ratelimit: { enabled: false },
        ddos: { enabled: true, udp_protection: { enabled: true, max_pps: 6, per_source_pps: 4 }, icmp_protection: { enabled: true, per_source_pps: 3 } },
      });
      const a = h.run(udpFrame({ src: SRC[fam], dst: DST[fam], sport: 1, dport: 2 }), 10);
      assert.equal(a.delta.passed, 4, 'per-source limit');
      assert.equal(a.delta.drop_udp_flood, 6);
      const b = h.run(udpFrame({ src: SRC2[fam], dst: DST[fam], sport: 1, dport: 2 }), 10);
      assert.equal(b.delta.passed, 2, 'aggregate limit: 6 for everyone');
      const i = h.run(icmpEchoFrame({ src: SRC[fam], dst: DST[fam] }), 10);
      assert.equal(i.delta.passed, 3);
      assert.equal(i.delta.drop_icmp_flood, 7);
      if (fam === 6) {
        const nd = h.run(ndSolicitFrame({ src: SRC[6], dst: 'ff02::1:ff00:1', target: '2001:db8:1::1' }), 10);
        assert.equal(nd.delta.passed, 10);
      }
      const ev = h.drainEvents();
      assert.ok(ev.some((e) => e.reason === rl_reason.RL_R_UDP_FLOOD && e.aggregate) && ev.some((e) => e.reason === rl_reason.RL_R_UDP_FLOOD && !e.aggregate) && ev.some((e) => e.reason === rl_reason.RL_R_ICMP_FLOOD));
    });
  }

  it('a reload keeps each rule its buckets wherever it moves; a new rule never meets a removed rule\'s buckets', () => {
    const rule = (id: string, priority: number, burst: number): Record<string, unknown> => ({ id, priority, src_ip: ['198.18.0.0/16', '2001:db8::/32'], protocol: 'udp', dst_port: String(1000 + priority), rate: 1, burst });
    h.install({ ratelimit: { default_rate: 1000, rules: [rule('a', 1, 3), rule('b', 2, 3)] } });
    // b's burst is spent, a has no bucket yet: were buckets keyed by position, b moving to a's
    // position would find a fresh one there, and c in b's old position b's spent one.
    for (const fam of [4, 6] as const) {
      assert.equal(h.run(udpFrame({ src: SRC[fam], dst: DST[fam], sport: 1, dport: 1002 }), 3).delta.passed, 3, `IPv${fam}: b's burst spent`);
    }
    // b moves in front of a (priority and position change), a is replaced by c in a's old position.
    h.reload({ ratelimit: { default_rate: 1000, rules: [{ ...rule('b', 2, 3), priority: 1 }, { ...rule('c', 2, 3), dst_port: '1001' }] } });
    for (const fam of [4, 6] as const) {
      const b = h.run(udpFrame({ src: SRC[fam], dst: DST[fam], sport: 1, dport: 1002 }), 2);
      assert.equal(b.delta.passed ?? 0, 0, `IPv${fam}: b moved and kept its spent bucket (no fresh burst)`);
      assert.equal(b.delta.drop_rule, 2);
      const c = h.run(udpFrame({ src: SRC[fam], dst: DST[fam], sport: 1, dport: 1001 }), 3);
      assert.equal(c.delta.passed, 3, `IPv${fam}: c starts with its own full burst, not a's spent one`);
    }
  });

  it('housekeeping: a bpf_timer deletes buckets idle longer than the configured age, and counts them', async () => {
    h.install({ ratelimit: { default_rate: 10, rules: [] } });
    for (const s of ['198.18.5.1', '198.18.5.2', '2001:db8:5::1']) h.run(udpFrame({ src: s, dst: s.includes(':') ? DST[6] : DST[4], sport: 1, dport: 2 }));
    assert.equal(h.kernel.bucketCount(), 3);
    const expired0 = h.stats().buckets_expired;
    // Ages in whole seconds are the config's unit; the writer takes nanoseconds.
    h.kernel.writeHousekeeping(50_000_000n, 20_000_000n);
    h.run(udpFrame({ src: '198.18.5.1', dst: DST[4], sport: 1, dport: 2 })); // arms the timer
    const deadline = Date.now() + 3000;
    while (h.kernel.bucketCount() > 0 && Date.now() < deadline) await sleep(20);
    assert.equal(h.kernel.bucketCount(), 0, 'every idle bucket removed');
    assert.equal(h.stats().buckets_expired - expired0, 3n);
    assert.ok(h.stats().housekeeping_runs > 0n);
  });
});
