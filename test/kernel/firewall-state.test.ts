// Stateful firewall through the real program (test-run): conntrack states as rules see them,
// the fast path for established flows, and a policy change cutting live flows on their next
// packet. ct_table entries are written the way tc-conntrack leaves them (live, reply seen).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bytesCodec, type BpfMap } from '../../src/kernel/map.js';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { parseAddress, type IpFamily } from '../../src/net/ip.js';
import { buildFrame, tcpFrame } from '../support/frames.js';
import { expectedDelta, firewallSkipReason, FW_ACT, useFirewall, XDP_DROP, XDP_PASS, type FirewallHarness } from '../support/firewall-harness.js';

const skip = firewallSkipReason();

const HOSTS: Record<IpFamily, { client: string; server: string }> = {
  4: { client: '198.18.5.1', server: '198.18.6.1' },
  6: { client: '2001:db8:5::1', server: '2001:db8:6::1' },
};

/** ct_key of client:sport <-> server:dport, normalised like ct_key_fill. */
function ctKey(family: IpFamily, proto: number, a: string, ap: number, b: string, bp: number): Buffer {
  const K = layouts.ct_key.fields;
  const k = Buffer.alloc(layouts.ct_key.size);
  const x = Buffer.from(parseAddress(a).addr.subarray(0, 16));
  const y = Buffer.from(parseAddress(b).addr.subarray(0, 16));
  const lower = (Buffer.compare(x, y) || ap - bp) <= 0;
  (lower ? x : y).copy(k, K.addr_a.offset);
  (lower ? y : x).copy(k, K.addr_b.offset);
  k.writeUInt16LE(lower ? ap : bp, K.port_a.offset);
  k.writeUInt16LE(lower ? bp : ap, K.port_b.offset);
  k.writeUInt8(family, K.family.offset);
  k.writeUInt8(proto, K.proto.offset);
  return k;
}

function liveEntry(initIsA: boolean, replySeen = true): Buffer {
  const E = layouts.ct_entry.fields;
  const v = Buffer.alloc(layouts.ct_entry.size);
  v.writeBigUInt64LE(0x7fff_ffff_ffff_ffffn, E.expires_ns.offset);
  v.writeUInt8((initIsA ? 0x01 : 0) | (replySeen ? 0x02 | 0x04 : 0), E.flags.offset);
  v.writeUInt8(4, E.state.offset);
  return v;
}

function ctMap(h: FirewallHarness): BpfMap<Buffer, Buffer> {
  return h.kernel.obj.map('ct_table', bytesCodec(layouts.ct_key.size), bytesCodec(layouts.ct_entry.size));
}

describe('xdp-firewall: conntrack state and fast path (test-run)', { skip }, () => {
  const fw = useFirewall();

  for (const family of [4, 6] as const) {
    const { client, server } = HOSTS[family];
    const v = `IPv${family}`;

    it(`${v}: established flows pass by the state rule once, then take the fast path until the policy changes`, () => {
      const h = fw();
      const ct = ctMap(h);
      const rules = [
        { id: 'est', priority: 1, action: 'allow', state: ['established', 'related'] },
        { id: 'no-web', priority: 2, action: 'deny', protocol: 'tcp', dst_port: 8080 },
      ];
      h.install({ default_policy: 'pass', rules });
      const key = ctKey(family, 6, client, 40000, server, 8080);
      const clientIsA = Buffer.compare(Buffer.from(parseAddress(client).addr), Buffer.from(parseAddress(server).addr)) < 0;
      ct.update(key, liveEntry(clientIsA));
      try {
        const pkt = tcpFrame({ src: client, dst: server, sport: 40000, dport: 8080, flags: ['ack'] });
        const first = h.judge(pkt);
        assert.equal(first.verdict, XDP_PASS);
        assert.deepEqual(first.delta, expectedDelta({ bytes: pkt.length, verdict: 'pass', by: 'rule' }), 'first packet: full evaluation, rule est');
        const again = h.judge(pkt);
        assert.equal(again.verdict, XDP_PASS);
        assert.deepEqual(again.delta, { seen: 1, bytes_seen: pkt.length, passed: 1, ct_fastpath: 1, tailcall_miss: 1 }, 'second packet: fast path (no rule evaluated), still handed down the chain');
        // The other direction has not been passed yet: full evaluation once.
        const reply = tcpFrame({ src: server, dst: client, sport: 8080, dport: 40000, flags: ['ack'] });
        assert.deepEqual(h.judge(reply).delta, expectedDelta({ bytes: reply.length, verdict: 'pass', by: 'rule' }));

        // A reload adding a deny in front cuts the live flow on its next packet.
        h.install({ default_policy: 'pass', rules: [{ id: 'cut', priority: 1, action: 'deny', protocol: 'tcp', dst_ip: server }, ...rules.map((r) => ({ ...r, priority: r.priority + 1 }))] });
        const cut = h.judge(pkt);
        assert.equal(cut.verdict, XDP_DROP, 'the new deny rule applies to the established flow');
        assert.deepEqual(cut.events.map((e) => [e.ruleNum, e.action]), [[h.ruleNum('cut'), FW_ACT.drop]]);
        assert.equal(cut.delta.ct_fastpath, undefined);
      } finally {
        ct.delete(key);
      }
    });

    it(`${v}: a flow without a reply is new; invalid TCP flags are invalid`, () => {
      const h = fw();
      const ct = ctMap(h);
      h.install({
        default_policy: 'pass',
        rules: [
          { id: 'bad', priority: 1, action: 'deny', state: 'invalid' },
          { id: 'fresh', priority: 2, action: 'log', state: ['new'] },
        ],
      });
      const key = ctKey(family, 6, client, 40001, server, 443);
      ct.update(key, liveEntry(true, false));
      try {
        const syn = tcpFrame({ src: client, dst: server, sport: 40001, dport: 443, flags: ['syn'] });
        const j = h.judge(syn);
        assert.equal(j.verdict, XDP_PASS);
        assert.deepEqual(j.events.map((e) => e.ruleNum), [h.ruleNum('fresh')], 'unanswered flow is new');
        // The responder's first answer is established already (netfilter's view): conntrack
        // only records the reply after XDP has judged it.
        const synAck = tcpFrame({ src: server, dst: client, sport: 443, dport: 40001, flags: ['syn', 'ack'] });
        const a = h.judge(synAck);
        assert.equal(a.verdict, XDP_PASS);
        assert.deepEqual(a.events, [], 'the first reply is established, not new (no log event)');
        for (const flags of [['syn', 'fin'], ['syn', 'rst'], [], ['fin'], ['urg']] as const) {
          const f = tcpFrame({ src: client, dst: server, sport: 40001, dport: 443, flags: [...flags] });
          const k = h.judge(f);
          assert.equal(k.verdict, XDP_DROP, `flags [${flags.join(',')}] are invalid`);
          assert.deepEqual(k.events.map((e) => e.ruleNum), [h.ruleNum('bad')]);
        }
      } finally {
        ct.delete(key);
      }
    });

    it(`${v}: a pure SYN is new even on a live, answered flow already passed under this policy (no fast path)`, () => {
      const h = fw();
      const ct = ctMap(h);
      h.install({
        default_policy: 'pass',
        rules: [
          { id: 'est', priority: 1, action: 'allow', state: ['established'] },
          { id: 'fresh', priority: 2, action: 'log', state: ['new'] },
        ],
      });
      const key = ctKey(family, 6, client, 40002, server, 443);
      const clientIsA = Buffer.compare(Buffer.from(parseAddress(client).addr), Buffer.from(parseAddress(server).addr)) < 0;
      ct.update(key, liveEntry(clientIsA));
      try {
        const ack = tcpFrame({ src: client, dst: server, sport: 40002, dport: 443, flags: ['ack'] });
        assert.deepEqual(h.judge(ack).events, [], 'the ACK is established (rule est, no log)');
        assert.equal(h.judge(ack).delta.ct_fastpath, 1, 'and its direction now takes the fast path');
        const syn = tcpFrame({ src: client, dst: server, sport: 40002, dport: 443, flags: ['syn'] });
        const j = h.judge(syn);
        assert.equal(j.verdict, XDP_PASS);
        assert.equal(j.delta.ct_fastpath, undefined, 'a SYN never takes the fast path');
        assert.deepEqual(j.events.map((e) => e.ruleNum), [h.ruleNum('fresh')], 'a pure SYN is new');
        // SYN with ACK (a responder's answer) is not a pure SYN: still established.
        const synAck = tcpFrame({ src: server, dst: client, sport: 443, dport: 40002, flags: ['syn', 'ack'] });
        assert.deepEqual(h.judge(synAck).events, [], 'SYN-ACK of the live flow is established');
      } finally {
        ct.delete(key);
      }
    });

    it(`${v}: an ICMP error quoting a tracked flow is related; one quoting nothing readable is invalid`, () => {
      const h = fw();
      const ct = ctMap(h);
      h.install({
        default_policy: 'drop',
        rules: [
          { id: 'rel', priority: 1, action: 'allow', state: 'related' },
          { id: 'inv', priority: 2, action: 'log', state: 'invalid' },
        ],
      });
      const key = ctKey(family, 17, client, 5353, server, 53);
      ct.update(key, liveEntry(true));
      try {
        // The server's router says the client's datagram could not be delivered.
        const quoted = buildFrame({ ip: family === 4 ? { src: client, dst: server } : { version: 6, src: client, dst: server }, l4: { proto: 'udp', sport: 5353, dport: 53 } }).subarray(14);
        const err = buildFrame({
          ip: family === 4 ? { src: server, dst: client } : { version: 6, src: server, dst: client },
          l4: family === 4 ? { proto: 'icmp', type: 3, code: 3 } : { proto: 'icmpv6', type: 1, code: 4 },
          payload: quoted,
        });
        const j = h.judge(err);
        assert.equal(j.verdict, XDP_PASS, 'related error passes by rule rel');
        assert.deepEqual(j.delta, expectedDelta({ bytes: err.length, verdict: 'pass', by: 'rule' }));
        const bare = buildFrame({
          ip: family === 4 ? { src: server, dst: client } : { version: 6, src: server, dst: client },
          l4: family === 4 ? { proto: 'icmp', type: 3, code: 3 } : { proto: 'icmpv6', type: 1, code: 4 },
        });
        const k = h.judge(bare);
        assert.equal(k.verdict, XDP_PASS);
        assert.deepEqual(k.events.map((e) => e.ruleNum), [h.ruleNum('inv')], 'an error quoting nothing is invalid');
        ct.delete(key);
        const gone = h.judge(err);
        assert.equal(gone.verdict, XDP_DROP, 'with the flow gone the error is new: default drop');
      } finally {
        ct.delete(key);
      }
    });
  }
});
