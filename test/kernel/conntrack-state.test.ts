// tc-conntrack's state machine through BPF_PROG_TEST_RUN: TCP from SYN to TIME_WAIT with both
// directions on one entry, RST, reuse of a closed tuple, invalid transitions counted and not
// applied, closes in every order netfilter knows (simultaneous, retransmitted FINs), syn_recv,
// the assured rules (TCP and UDP's 2-second stream rule), UDP unreplied → replied → assured, ICMP/ICMPv6 echo keyed by identifier, ICMP errors related to
// their flow, VLAN-tagged frames — each for IPv4 and IPv6, across the ingress and egress entries.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { icmpEchoFrame, icmpUnreachableFrame, ipPacketOf, tcpFrame, udpFrame, type TcpFlagName } from '../support/frames.js';
import { conntrackSkipReason, TCX_NEXT_RET, useConntrack, type Dir } from './conntrack-harness.js';

const skip = conntrackSkipReason();

// The client is the numerically higher address in one family and the lower in the other, so
// both orientations of the normalised key (initiator = endpoint a, and = endpoint b) are covered.
const FAMILIES = [
  { name: 'IPv4', client: '198.18.7.200', server: '198.18.7.10' },
  { name: 'IPv6', client: '2001:db8:7::10', server: '2001:db8:7::200' },
] as const;

describe('tc-conntrack state machine', { skip }, () => {
  const ct = useConntrack('state');

  for (const fam of FAMILIES) {
    const { client: C, server: S } = fam;
    // client → server leaves through egress, server → client arrives at ingress (a host's view)
    const c2s = (sport: number, flags: TcpFlagName[], dir: Dir = 'egress') => ct.get().runDelta(tcpFrame({ src: C, dst: S, sport, dport: 443, flags }), dir);
    const s2c = (dport: number, flags: TcpFlagName[], dir: Dir = 'ingress') => ct.get().runDelta(tcpFrame({ src: S, dst: C, sport: 443, dport, flags }), dir);
    const state = (sport: number) => ct.get().flow(C, sport)?.state;
    const FAM = fam.name === 'IPv4' ? 4 : 6;

    it(`${fam.name}: TCP handshake, data and an orderly close walk every state on one entry`, () => {
      const p = 41000;
      const r = c2s(p, ['syn']);
      assert.equal(r.ret, TCX_NEXT_RET, 'conntrack never ends the TC chain');
      assert.deepEqual(r.delta, { new_flows: 1 });
      let f = ct.get().flow(C, p);
      assert.ok(f, 'the SYN created a flow with the client as initiator');
      assert.deepEqual([f.state, f.initiator, f.responder], ['syn_sent', { addr: C, port: p }, { addr: S, port: 443 }]);
      assert.equal(f.seen_reply, false);

      assert.deepEqual(s2c(p, ['syn', 'ack']).delta, {});
      f = ct.get().flow(C, p)!;
      assert.deepEqual([f.state, f.seen_reply, f.assured], ['syn_recv', true, false]);
      c2s(p, ['ack']);
      f = ct.get().flow(C, p)!;
      assert.deepEqual([f.state, f.assured], ['established', true]);
      c2s(p, ['psh', 'ack']);
      s2c(p, ['psh', 'ack']);
      s2c(p, ['ack']);
      f = ct.get().flow(C, p)!;
      assert.deepEqual(f.packets, { from_initiator: 3, from_responder: 3 });
      assert.ok(f.bytes.from_initiator >= 3 * 54 && f.bytes.from_responder >= 3 * 54, JSON.stringify(f.bytes));

      c2s(p, ['fin', 'ack']);
      assert.equal(state(p), 'fin_wait');
      s2c(p, ['ack']);
      assert.equal(state(p), 'close_wait');
      s2c(p, ['fin', 'ack']);
      assert.equal(state(p), 'last_ack');
      c2s(p, ['ack']);
      const tw = ct.get().flow(C, p)!;
      assert.equal(tw.state, 'time_wait');
      assert.ok(tw.expires_in_secs > 110 && tw.expires_in_secs <= 120, `time_wait lasts its default 120 s, got ${tw.expires_in_secs}`);
      assert.equal(ct.get().flows({ ip: C, port: p }).length, 1, 'both directions hit one entry');
    });

    it(`${fam.name}: the server closing first, FIN+ACK answered by FIN+ACK`, () => {
      const p = 41001;
      c2s(p, ['syn']);
      s2c(p, ['syn', 'ack']);
      c2s(p, ['ack']);
      s2c(p, ['fin', 'ack']);
      assert.equal(state(p), 'fin_wait');
      c2s(p, ['fin', 'ack']); // the client's FIN carries the ACK of the server's FIN
      assert.equal(state(p), 'last_ack');
      s2c(p, ['fin', 'ack']); // the server's FIN retransmitted: still waiting for the last ACK
      assert.equal(state(p), 'last_ack');
      s2c(p, ['ack']);
      assert.equal(state(p), 'time_wait');
      c2s(p, ['ack']); // a retransmitted last ACK changes nothing
      assert.equal(state(p), 'time_wait');
    });

    it(`${fam.name}: simultaneous close (FINs crossing) ends in time_wait through last_ack`, () => {
      const p = 41003;
      c2s(p, ['syn']);
      s2c(p, ['syn', 'ack']);
      c2s(p, ['ack']);
      c2s(p, ['fin', 'ack']);
      assert.equal(state(p), 'fin_wait');
      s2c(p, ['fin', 'ack']); // sent before the client's FIN arrived: acknowledges only data
      assert.equal(state(p), 'last_ack');
      c2s(p, ['ack']);
      assert.equal(state(p), 'time_wait');
      s2c(p, ['ack']);
      const f = ct.get().flow(C, p)!;
      assert.deepEqual([f.state, f.assured, f.packets], ['time_wait', true, { from_initiator: 4, from_responder: 3 }]);
    });

    it(`${fam.name}: after a FIN, any ACK means close_wait and any second FIN last_ack (netfilter ignores who sends them)`, () => {
      const open = (p: number) => {
        c2s(p, ['syn']);
        s2c(p, ['syn', 'ack']);
        c2s(p, ['ack']);
        c2s(p, ['fin', 'ack']);
        assert.equal(state(p), 'fin_wait');
      };
      open(41004);
      c2s(41004, ['ack']); // the closer's own ACK (of data the server sent meanwhile)
      assert.equal(state(41004), 'close_wait');
      open(41005);
      c2s(41005, ['fin', 'ack']); // the first FIN retransmitted
      assert.equal(state(41005), 'last_ack');
      open(41006);
      s2c(41006, ['psh', 'ack']); // data from the side that has not closed, acking the FIN
      assert.equal(state(41006), 'close_wait');
      s2c(41006, ['psh', 'ack']);
      assert.equal(state(41006), 'close_wait', 'the half-open side keeps sending');
      c2s(41006, ['ack']);
      assert.equal(state(41006), 'close_wait');
    });

    it(`${fam.name}: syn_recv holds through retransmitted SYNs and SYN-ACKs; the responder's ACK keeps it, its FIN closes`, () => {
      const p = 41007;
      c2s(p, ['syn']);
      s2c(p, ['syn', 'ack']);
      assert.deepEqual(c2s(p, ['syn']).delta, {}, 'the SYN retransmitted (its SYN-ACK was lost)');
      assert.deepEqual(s2c(p, ['syn', 'ack']).delta, {}, 'the SYN-ACK retransmitted');
      assert.deepEqual(s2c(p, ['ack']).delta, {});
      let f = ct.get().flow(C, p)!;
      assert.deepEqual([f.state, f.assured, f.packets], ['syn_recv', false, { from_initiator: 2, from_responder: 3 }]);
      assert.ok(f.expires_in_secs > 55 && f.expires_in_secs <= 60, `syn_recv lasts 60 s, got ${f.expires_in_secs}`);
      assert.deepEqual(c2s(p, ['syn', 'ack']).delta, { invalid: 1 }, 'a SYN-ACK from the initiator');
      s2c(p, ['fin', 'ack']);
      f = ct.get().flow(C, p)!;
      assert.deepEqual([f.state, f.assured], ['fin_wait', false], 'closed before it was established: never assured');
    });

    it(`${fam.name}: a mid-stream pickup is assured by its third packet, as in netfilter`, () => {
      const p = 41008;
      c2s(p, ['psh', 'ack']);
      s2c(p, ['ack']);
      let f = ct.get().flow(C, p)!;
      assert.deepEqual([f.state, f.seen_reply, f.assured], ['established', true, false]);
      c2s(p, ['psh', 'ack']);
      f = ct.get().flow(C, p)!;
      assert.deepEqual([f.state, f.assured], ['established', true]);
      c2s(41009, ['psh', 'ack']);
      c2s(41009, ['fin', 'ack']);
      assert.equal(state(41009), 'fin_wait', 'a FIN of a picked-up flow starts the close');
    });

    it(`${fam.name}: a FIN, SYN-ACK, RST or flagless segment creates no flow; only a SYN or an ACK does`, () => {
      for (const [port, flags] of [[41010, ['fin', 'ack']], [41011, ['fin']], [41012, ['psh']], [41013, ['syn', 'ack']]] as const) {
        assert.deepEqual(c2s(port, [...flags]).delta, { invalid: 1 }, flags.join(','));
        assert.equal(ct.get().flow(C, port), undefined, flags.join(','));
      }
    });

    it(`${fam.name}: RST closes; a new SYN on a closed tuple starts a fresh flow`, () => {
      const p = 41002;
      c2s(p, ['syn']);
      s2c(p, ['syn', 'ack']);
      c2s(p, ['ack']);
      s2c(p, ['rst']);
      assert.equal(state(p), 'close');
      const before = ct.get().flow(C, p)!;
      assert.ok(before.expires_in_secs <= 10);
      const r = c2s(p, ['syn']);
      assert.deepEqual(r.delta, { new_flows: 1 });
      const f = ct.get().flow(C, p)!;
      assert.deepEqual([f.state, f.packets.from_initiator, f.packets.from_responder, f.seen_reply], ['syn_sent', 1, 0, false]);
    });

    it(`${fam.name}: a reset before any reply removes the flow (refused or aborted), as netfilter does`, () => {
      c2s(42100, ['syn']);
      assert.deepEqual(s2c(42100, ['rst', 'ack']).delta, { expired: 1 }, 'refused by the server');
      assert.equal(ct.get().flow(C, 42100), undefined);
      c2s(42101, ['syn']);
      assert.deepEqual(c2s(42101, ['rst']).delta, { expired: 1 }, 'aborted by the client');
      assert.equal(ct.get().flow(C, 42101), undefined);
      c2s(42102, ['psh', 'ack']);
      assert.deepEqual(c2s(42102, ['rst']).delta, { expired: 1 }, 'a mid-stream pickup nobody answered');
      assert.equal(ct.get().flow(C, 42102), undefined);
    });

    it(`${fam.name}: packets that fit no transition are counted invalid and change nothing`, () => {
      const h = ct.get();
      // no entry: SYN-ACK, RST, and an echo reply create nothing
      assert.deepEqual(s2c(42000, ['syn', 'ack']).delta, { invalid: 1 });
      assert.deepEqual(s2c(42001, ['rst']).delta, { invalid: 1 });
      assert.equal(h.flows({ ip: C, port: 42000 }).length + h.flows({ ip: C, port: 42001 }).length, 0);

      const p = 42002;
      c2s(p, ['syn']);
      assert.deepEqual(c2s(p, ['ack']).delta, { invalid: 1 }, 'ACK from the initiator before the SYN-ACK');
      assert.deepEqual(s2c(p, ['ack']).delta, { invalid: 1 }, 'bare ACK from the responder in syn_sent');
      let f = h.flow(C, p)!;
      assert.deepEqual([f.state, f.packets.from_initiator, f.packets.from_responder], ['syn_sent', 1, 0]);
      s2c(p, ['syn', 'ack']);
      c2s(p, ['ack']);
      assert.deepEqual(c2s(p, ['syn']).delta, { invalid: 1 }, 'SYN inside an established flow');
      f = h.flow(C, p)!;
      assert.equal(f.state, 'established');
    });

    it(`${fam.name}: a flow picked up mid-stream is new until the other side answers`, () => {
      const p = 42003;
      assert.deepEqual(c2s(p, ['psh', 'ack']).delta, { new_flows: 1 });
      assert.equal(state(p), 'new');
      s2c(p, ['ack']);
      const f = ct.get().flow(C, p)!;
      assert.deepEqual([f.state, f.seen_reply], ['established', true]);
    });

    it(`${fam.name}: UDP is unreplied, replied once answered, assured only by a packet more than 2 s after its first (netfilter's stream rule)`, () => {
      const h = ct.get();
      const q = udpFrame({ src: C, dst: S, sport: 5353, dport: 53 });
      const a = udpFrame({ src: S, dst: C, sport: 53, dport: 5353 });
      assert.deepEqual(h.runDelta(q, 'egress').delta, { new_flows: 1 });
      h.run(q, 'egress');
      let f = h.flow(C, 5353)!;
      assert.deepEqual([f.proto, f.state, f.packets.from_initiator, f.packets.from_responder], ['udp', 'udp_unreplied', 2, 0]);
      assert.ok(f.expires_in_secs <= 30 && f.expires_in_secs > 25);
      h.run(a, 'ingress');
      f = h.flow(C, 5353)!;
      assert.deepEqual([f.state, f.seen_reply, f.assured, f.packets.from_responder], ['udp_replied', true, false, 1]);
      assert.ok(f.expires_in_secs <= 30 && f.expires_in_secs > 25, `replied UDP keeps udp_timeout (30 s), got ${f.expires_in_secs}`);
      h.run(q, 'egress');
      h.run(a, 'ingress');
      f = h.flow(C, 5353)!;
      assert.deepEqual([f.state, f.assured], ['udp_replied', false], 'talking both ways within 2 s is not a stream yet');
      h.ageFlow(FAM, 5353, 53, 2.5);
      h.run(q, 'egress');
      f = h.flow(C, 5353)!;
      assert.deepEqual([f.state, f.assured], ['udp_assured', true]);
      assert.ok(f.expires_in_secs > 115, `assured UDP lives 120 s, got ${f.expires_in_secs}`);

      // the answer itself never assures, however late it comes
      const q2 = udpFrame({ src: C, dst: S, sport: 5354, dport: 53 });
      h.run(q2, 'egress');
      h.ageFlow(FAM, 5354, 53, 2.5);
      h.run(udpFrame({ src: S, dst: C, sport: 53, dport: 5354 }), 'ingress');
      f = h.flow(C, 5354)!;
      assert.deepEqual([f.state, f.assured], ['udp_replied', false], 'a late answer');
      h.run(udpFrame({ src: S, dst: C, sport: 53, dport: 5354 }), 'ingress');
      assert.deepEqual([h.flow(C, 5354)!.state, h.flow(C, 5354)!.assured], ['udp_assured', true], 'the packet after it, from either side');

      // an unanswered flow is never assured, however long it lasts
      const q3 = udpFrame({ src: C, dst: S, sport: 5355, dport: 53 });
      h.run(q3, 'egress');
      h.ageFlow(FAM, 5355, 53, 10);
      h.run(q3, 'egress');
      assert.deepEqual([h.flow(C, 5355)!.state, h.flow(C, 5355)!.assured], ['udp_unreplied', false]);
    });

    it(`${fam.name}: ICMP echo is keyed by identifier; a reply without a request creates nothing`, () => {
      const h = ct.get();
      const proto = fam.name === 'IPv4' ? 'icmp' : 'icmpv6';
      assert.deepEqual(h.runDelta(icmpEchoFrame({ src: S, dst: C, id: 0x0bad, reply: true }), 'ingress').delta, { invalid: 1 });
      assert.deepEqual(h.runDelta(icmpEchoFrame({ src: C, dst: S, id: 0x4242, seq: 1 }), 'egress').delta, { new_flows: 1 });
      h.run(icmpEchoFrame({ src: C, dst: S, id: 0x4343, seq: 1 }), 'egress');
      let f = h.flow(C, 0x4242)!;
      assert.deepEqual([f.proto, f.state, f.responder], [proto, 'icmp_unreplied', { addr: S, port: 0x4242 }]);
      h.run(icmpEchoFrame({ src: S, dst: C, id: 0x4242, seq: 1, reply: true }), 'ingress');
      f = h.flow(C, 0x4242)!;
      assert.deepEqual([f.state, f.packets.from_responder, f.seen_reply, f.assured], ['icmp_replied', 1, true, false], 'ICMP is never assured (netfilter)');
      assert.equal(h.flow(C, 0x4343)!.state, 'icmp_unreplied', 'another identifier is another flow');
      // a request from the responder's side is not part of the initiator's flow
      assert.deepEqual(h.runDelta(icmpEchoFrame({ src: S, dst: C, id: 0x4242, seq: 2 }), 'ingress').delta, { invalid: 1 });
    });

    it(`${fam.name}: an ICMP error quoting a tracked flow is related, others untracked`, () => {
      const h = ct.get();
      const router = fam.name === 'IPv4' ? '198.18.7.1' : '2001:db8:7::1';
      const sent = udpFrame({ src: C, dst: S, sport: 6000, dport: 9 });
      h.run(sent, 'egress');
      const err = icmpUnreachableFrame({ src: router, dst: C, code: 3, original: ipPacketOf(sent) });
      assert.deepEqual(h.runDelta(err, 'ingress').delta, { related: 1 });
      assert.equal(h.flow(C, 6000)!.state, 'udp_unreplied', 'an error is not a reply');
      const other = icmpUnreachableFrame({ src: router, dst: C, code: 3, original: ipPacketOf(udpFrame({ src: C, dst: S, sport: 6001, dport: 9 })) });
      assert.deepEqual(h.runDelta(other, 'ingress').delta, { untracked: 1 });
    });

    it(`${fam.name}: VLAN-tagged frames (802.1Q and QinQ) join the untagged flow`, () => {
      const h = ct.get();
      const p = 43000;
      h.run(tcpFrame({ src: C, dst: S, sport: p, dport: 443, flags: ['syn'], vlans: [{ vid: 42 }] }), 'egress');
      h.run(tcpFrame({ src: S, dst: C, sport: 443, dport: p, flags: ['syn', 'ack'], vlans: [{ vid: 100 }, { vid: 42 }] }), 'ingress');
      h.run(tcpFrame({ src: C, dst: S, sport: p, dport: 443, flags: ['ack'] }), 'egress');
      assert.equal(state(p), 'established');
    });

    it(`${fam.name}: both entry points update one entry whatever hook saw which direction`, () => {
      const p = 44000;
      c2s(p, ['syn'], 'ingress');
      s2c(p, ['syn', 'ack'], 'egress');
      c2s(p, ['ack'], 'ingress');
      const f = ct.get().flow(C, p)!;
      assert.deepEqual([f.state, f.packets.from_initiator, f.packets.from_responder], ['established', 2, 1]);
    });
  }
});
