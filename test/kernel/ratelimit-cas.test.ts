// Issue 14 point 7: xdp-ratelimit counts every packet it lets through after a meter's
// compare-and-swap retries ran out, and the agent exports that count. Racing CPUs cannot be made
// to lose a CAS on demand, so the same source is also built with no CAS attempts at all
// (RL_CAS_TRIES=0, build/bpf-test/xdp_ratelimit_cas0.bpf.o): there every meter update "loses",
// on every path — per-source and aggregate flood guards (SYN, UDP, ICMP), rules, the default
// limit — and each packet must be counted exactly once however many of its meters lost. The
// real build, run on one CPU, never loses one and drops what is over its limits.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { RatelimitMetrics } from '../../src/engines/ratelimit/metrics.js';
import { REPO_ROOT } from '../support/firewall-harness.js';
import { icmpEchoFrame, ndSolicitFrame, tcpFrame, udpFrame } from '../support/frames.js';
import { RatelimitHarness, ratelimitSkipReason, XDP_PASS, type Policy } from './ratelimit-harness.js';

const skip = ratelimitSkipReason();
const CAS0_OBJECT = path.join(REPO_ROOT, 'build', 'bpf-test', 'xdp_ratelimit_cas0.bpf.o');

const SRC = { 4: '198.18.0.10', 6: '2001:db8::10' } as const;
const DST = { 4: '198.18.1.1', 6: '2001:db8:1::1' } as const;

/** Every meter on: all three flood guards with both meters, a rule on UDP 7000, a default limit.
 * Each limit admits one packet a second, so on the real build a repeat of 10 drops 9. */
const EVERY_METER: Policy = {
  ratelimit: {
    default_rate: 1,
    default_burst: 1,
    rules: [{ id: 'udp-7000', protocol: 'udp', dst_port: 7000, rate: 1, burst: 1 }],
  },
  ddos: {
    enabled: true,
    syn_flood: { enabled: true, max_pps: 1, per_source_pps: 1 },
    udp_protection: { enabled: true, max_pps: 1, per_source_pps: 1 },
    icmp_protection: { enabled: true, max_pps: 1, per_source_pps: 1 },
  },
};

/** Frames and the meters each passes through under EVERY_METER. */
function frames(fam: 4 | 6): { what: string; frame: Buffer; meters: string }[] {
  const f = { src: SRC[fam], dst: DST[fam] };
  return [
    { what: 'UDP to 7000', frame: udpFrame({ ...f, sport: 1000, dport: 7000 }), meters: 'UDP guard (source, aggregate), rule' },
    { what: 'UDP to 53', frame: udpFrame({ ...f, sport: 1000, dport: 53 }), meters: 'UDP guard (source, aggregate), default' },
    { what: 'TCP SYN', frame: tcpFrame({ ...f, sport: 40000, dport: 80, flags: ['syn'] }), meters: 'SYN guard (source, aggregate), default' },
    { what: 'TCP ACK', frame: tcpFrame({ ...f, sport: 40000, dport: 80, flags: ['ack'] }), meters: 'default' },
    { what: 'ICMP echo', frame: icmpEchoFrame(f), meters: 'ICMP guard (source, aggregate), default' },
  ];
}

describe('xdp-ratelimit: packets let through after the CAS retries ran out are counted and exported', { skip }, () => {
  const harnesses: RatelimitHarness[] = [];
  const open = (obj?: string): RatelimitHarness => {
    const h = obj ? new RatelimitHarness(obj) : new RatelimitHarness();
    harnesses.push(h);
    return h;
  };
  after(() => harnesses.forEach((h) => h.close()));

  it('every path: each packet counted once, however many of its meters lost (IPv4, IPv6)', async () => {
    const h = open(CAS0_OBJECT);
    h.install(EVERY_METER);
    let total = 0;
    for (const fam of [4, 6] as const) {
      for (const { what, frame, meters } of frames(fam)) {
        const before = h.stats().cas_exhausted;
        const r = h.run(frame, 10);
        assert.equal(r.retval, XDP_PASS, `IPv${fam} ${what}: passed`);
        assert.equal(r.delta.passed, 10, `IPv${fam} ${what}: all 10 passed, unmetered (${meters})`);
        assert.equal(h.stats().cas_exhausted - before, 10n, `IPv${fam} ${what}: counted once each (${meters})`);
        total += 10;
      }
    }
    // The SYN-cookie threshold meter too: a SYN whose threshold update lost is judged under the
    // threshold (the stack answers it), and counted once if it passes the flood guard after it.
    h.install({ ddos: { ...EVERY_METER.ddos, syn_protection: { enabled: true, threshold_mode: true, threshold_pps: 1 } } });
    for (const fam of [4, 6] as const) {
      const before = h.stats();
      const r = h.run(tcpFrame({ src: SRC[fam], dst: DST[fam], sport: 40000, dport: 80, flags: ['syn'] }), 10);
      assert.equal(r.delta.passed, 10, `IPv${fam} SYN: all 10 passed to the stack, unmetered (threshold, SYN guard)`);
      const after = h.stats();
      assert.equal(after.syn_under_threshold - before.syn_under_threshold, 10n);
      assert.equal(after.cas_exhausted - before.cas_exhausted, 10n, `IPv${fam} SYN: counted once each`);
      total += 10;
    }

    // Neighbour discovery is exempt from the ICMP guard and, with no default limit, meets no
    // meter: nothing lost, nothing counted.
    h.reload({ ddos: EVERY_METER.ddos });
    const before = h.stats().cas_exhausted;
    const nd = ndSolicitFrame({ src: SRC[6], dst: 'ff02::1:ff00:1', target: DST[6] });
    assert.equal(h.run(nd, 10).delta.passed, 10);
    assert.equal(h.stats().cas_exhausted, before, 'a packet that met no meter is not counted');

    // What the agent exports: the counter on /metrics (one series per stat).
    const registry = new Registry();
    const metrics = RatelimitMetrics.for(registry);
    metrics.observe(h.stats());
    const text = await registry.metrics();
    assert.match(text, new RegExp(`^ebpfsentinel_ratelimit_stats_total\\{stat="cas_exhausted"\\} ${total}$`, 'm'), text);
  });

  it('the real build on one CPU loses no CAS and drops what is over its limits', () => {
    const h = open();
    h.install(EVERY_METER);
    for (const fam of [4, 6] as const) {
      for (const { what, frame } of frames(fam)) {
        h.kernel.clearBuckets(); // the frames share guard and default buckets: each starts full
        const r = h.run(frame, 10);
        assert.equal(r.delta.passed, 1, `IPv${fam} ${what}: one packet per second admitted`);
        assert.equal(r.delta.dropped, 9, `IPv${fam} ${what}: the rest dropped`);
      }
    }
    assert.equal(h.stats().cas_exhausted, 0n);
  });
});
