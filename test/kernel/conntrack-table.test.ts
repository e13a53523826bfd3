// tc-conntrack's table through BPF_PROG_TEST_RUN: malformed, truncated and non-IP frames pass
// untouched and are counted; non-first fragments are untracked; per-state timeouts come from the
// config map and dead entries are absent to lookups, replaced on touch (counted) and removed by
// the sweep; a packet forwarded between two tracked interfaces counts once; a full table evicts
// (LRU) and the evictions are accounted for. IPv4 and IPv6 throughout.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { evictedCount, expiredIndexes } from '../../src/engines/conntrack/flows.js';
import {
  ipv4BadVersion,
  ipv4IhlBeyondEnd,
  ipv4IhlTooSmall,
  ipv4TotalLengthTooShort,
  ipv6BadVersion,
  ipv6ExtPastEnd,
  ipv6ExtTooLong,
  tripleVlan,
  truncatedL4,
} from '../support/malformed.js';
import { buildEthernet, buildFrame, ETH_P_ARP, icmpFrame, tcpFrame, truncate, udpFrame } from '../support/frames.js';
import { ConntrackHarness, conntrackSkipReason, skbCtx, TCX_NEXT_RET, TEST_RUN_IFINDEX, useConntrack } from './conntrack-harness.js';

const skip = conntrackSkipReason();
const A4 = '198.18.9.1';
const B4 = '198.18.9.2';
const A6 = '2001:db8:9::1';
const B6 = '2001:db8:9::2';

describe('tc-conntrack table', { skip }, () => {
  const ct = useConntrack('table');

  it('malformed and truncated frames pass, count as malformed and create nothing (IPv4, IPv6)', () => {
    const h = ct.get();
    const syn4 = tcpFrame({ src: A4, dst: B4, sport: 1000, dport: 80 });
    const syn6 = tcpFrame({ src: A6, dst: B6, sport: 1000, dport: 80 });
    const frames: [string, Buffer][] = [
      ['IPv4 IHL 4', ipv4IhlTooSmall({ src: A4, dst: B4 })],
      ['IPv4 IHL past the end', ipv4IhlBeyondEnd({ src: A4, dst: B4 })],
      ['IPv4 total length below the header', ipv4TotalLengthTooShort({ src: A4, dst: B4 })],
      ['IPv4 EtherType, version 5', ipv4BadVersion({ src: A4, dst: B4 })],
      ['IPv6 EtherType, version 4', ipv6BadVersion({ src: A6, dst: B6 })],
      ['IPv4 TCP cut after the ports', truncatedL4(syn4)],
      ['IPv6 TCP cut after the ports', truncatedL4(syn6)],
      ['IPv4 UDP cut at 7 bytes', truncatedL4(udpFrame({ src: A4, dst: B4, sport: 1, dport: 53 }), 7)],
      ['IPv6 ICMPv6 cut at 3 bytes', truncatedL4(icmpFrame({ src: A6, dst: B6, type: 128 }), 3)],
      ['three VLAN tags', tripleVlan({ src: A4, dst: B4 })],
      ['three VLAN tags, IPv6', tripleVlan({ src: A6, dst: B6 })],
      ['IPv6 hop-by-hop past the end', ipv6ExtPastEnd({ src: A6, dst: B6 })],
      ['IPv6 chain of 9 extension headers', ipv6ExtTooLong({ src: A6, dst: B6 })],
      // (frames cut inside the Ethernet or fixed IP header cannot be test-run on TC: the kernel
      // refuses them before the program, as the stack never hands such an skb to TC)
      ['IPv4 cut inside the options', truncate(tcpFrame({ src: A4, dst: B4, sport: 1000, dport: 80, ipOptions: Buffer.alloc(8, 1) }), 14 + 24)],
    ];
    const entries = h.rawEntries();
    for (const [name, f] of frames) {
      for (const dir of ['ingress', 'egress'] as const) {
        const r = h.runDelta(f, dir);
        assert.equal(r.ret, TCX_NEXT_RET, `${name} (${dir}) continues down the chain`);
        assert.deepEqual(r.delta, { malformed: 1 }, `${name} (${dir})`);
      }
    }
    assert.equal(h.rawEntries(), entries, 'no flow created by a malformed frame');
  });

  it('non-IP frames pass and count as non_ip', () => {
    const h = ct.get();
    const arp = Buffer.concat([buildEthernet({}, ETH_P_ARP), Buffer.alloc(28)]);
    const r = h.runDelta(arp);
    assert.equal(r.ret, TCX_NEXT_RET);
    assert.deepEqual(r.delta, { non_ip: 1 });
  });

  it('a non-first fragment has no ports: untracked (IPv4, IPv6)', () => {
    const h = ct.get();
    const frag4 = buildFrame({ ip: { src: A4, dst: B4, fragOffset: 8 }, l4: { proto: 'raw', number: 17, bytes: Buffer.alloc(16) } });
    const frag6 = buildFrame({
      ip: { version: 6, src: A6, dst: B6, ext: [{ kind: 'fragment', offset: 8, more: false, id: 7 }] },
      l4: { proto: 'raw', number: 17, bytes: Buffer.alloc(16) },
    });
    assert.deepEqual(h.runDelta(frag4).delta, { untracked: 1 });
    assert.deepEqual(h.runDelta(frag6).delta, { untracked: 1 });
  });

  it('other protocols and ICMP types are untracked (IPv4, IPv6)', () => {
    const h = ct.get();
    const gre = buildFrame({ ip: { src: A4, dst: B4 }, l4: { proto: 'raw', number: 47, bytes: Buffer.alloc(8) } });
    assert.deepEqual(h.runDelta(gre).delta, { untracked: 1 });
    assert.deepEqual(h.runDelta(icmpFrame({ src: A4, dst: B4, type: 13 })).delta, { untracked: 1 }, 'ICMP timestamp');
    assert.deepEqual(h.runDelta(icmpFrame({ src: A6, dst: B6, type: 135 })).delta, { untracked: 1 }, 'neighbour solicitation');
  });

  it('timeouts come from the config map; a dead entry is absent, replaced on touch and swept (IPv4, IPv6)', async () => {
    const h = ct.get();
    h.setTimeouts({ udp_unreplied: 1, udp_assured: 1 });
    try {
      for (const [a, b] of [[A4, B4], [A6, B6]] as const) {
        h.run(udpFrame({ src: a, dst: b, sport: 7000, dport: 7 }), 'egress');
        h.run(udpFrame({ src: a, dst: b, sport: 7001, dport: 7 }), 'egress');
        const f = h.flow(a, 7000)!;
        assert.ok(f.expires_in_secs <= 1 && f.expires_in_secs > 0.5, `1 s timeout written by the agent applies, got ${f.expires_in_secs}`);
      }
      await sleep(1200);
      for (const a of [A4, A6]) assert.equal(h.flow(a, 7000), undefined, 'a dead entry is not listed');
      // touching a dead entry starts a new flow in its place and counts the expiry
      const r = h.runDelta(udpFrame({ src: B4, dst: A4, sport: 7, dport: 7000 }), 'ingress');
      assert.deepEqual(r.delta, { expired: 1, new_flows: 1 });
      const reborn = h.flow(B4, 7)!;
      assert.deepEqual([reborn.state, reborn.initiator.addr], ['udp_unreplied', B4], 'the new flow belongs to whoever sent first now');
      // the sweep deletes what is still dead when re-read (7001 of both families, 7000 of IPv6)
      const now = h.clock.bootNowNs();
      const d = h.kernel.dump();
      const dead = expiredIndexes(d.values, d.count, now);
      assert.equal(dead.length, 3);
      assert.equal(h.kernel.deleteExpired(d, dead, now), 3);
      assert.equal(h.kernel.dump().count, d.count - 3);
      assert.ok(h.flow(B4, 7), 'the live flow survives the sweep');
    } finally {
      h.setTimeouts({});
    }
    // back to defaults: a new flow gets 30 s again
    h.run(udpFrame({ src: A6, dst: B6, sport: 7002, dport: 7 }), 'egress');
    assert.ok(h.flow(A6, 7002)!.expires_in_secs > 25);
  });

  it('a forwarded packet is tracked at ingress only: egress skips it when its ingress interface is tracked', () => {
    const h = ct.get();
    const FWD_IF = 4242;
    h.kernel.setInterfaces([FWD_IF]);
    try {
      for (const [a, b] of [[A4, B4], [A6, B6]] as const) {
        const syn = tcpFrame({ src: a, dst: b, sport: 8000, dport: 80 });
        assert.deepEqual(h.runDelta(syn, 'ingress', skbCtx(FWD_IF)).delta, { new_flows: 1 });
        assert.deepEqual(h.runDelta(syn, 'egress', skbCtx(FWD_IF)).delta, { skipped_forwarded: 1 });
        assert.equal(h.flow(a, 8000)!.packets.from_initiator, 1, 'counted once');
        // from an interface we are not attached to, egress tracks it
        assert.deepEqual(h.runDelta(tcpFrame({ src: a, dst: b, sport: 8001, dport: 80 }), 'egress', skbCtx(7)).delta, { new_flows: 1 });
      }
    } finally {
      h.kernel.setInterfaces([]);
    }
  });

  it('counters are kept per interface the packet was seen on', () => {
    const h = ct.get();
    const c = h.kernel.readCounters();
    assert.ok(c.get(TEST_RUN_IFINDEX)!.seen > 0n);
    assert.deepEqual([...c.keys()], [TEST_RUN_IFINDEX]);
  });
});

describe('tc-conntrack full table', { skip }, () => {
  it('the LRU evicts when full; created = present + evicted (IPv4 and IPv6 flows)', () => {
    const h = ConntrackHarness.open('full', 1024);
    try {
      const N = 1600;
      for (let i = 0; i < N; i++) {
        const v6 = i % 2 === 1;
        h.run(udpFrame({ src: v6 ? '2001:db8:a::1' : '198.18.10.1', dst: v6 ? '2001:db8:a::2' : '198.18.10.2', sport: 10000 + i, dport: 53 }), 'egress');
      }
      const c = h.counters();
      const present = h.rawEntries();
      assert.equal(c.new_flows, BigInt(N), 'every flow was created');
      assert.equal(c.table_full, 0n, 'the LRU makes room instead of failing');
      assert.ok(present <= 1024, `table holds at most its size, has ${present}`);
      const evicted = evictedCount(Number(c.new_flows), 0, Number(c.expired), 0, present);
      assert.equal(evicted, N - present);
      assert.ok(evicted >= N - 1024);
      // the most recent flow is always there
      assert.ok(h.flow('2001:db8:a::1', 10000 + N - 1));
    } finally {
      h.close();
    }
  });
});
