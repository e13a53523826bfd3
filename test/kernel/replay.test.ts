// `ebpfsentinel replay` through the real programs: a capture test-run through xdp-firewall and
// tc-conntrack as a config runs them, records written as EVE with the capture's timestamps and
// valid against Suricata's schema. IPv4 and IPv6: a deny rule raises the same blocked alert the
// live agent raises; conntrack state carries from frame to frame (a reply passes a default-deny
// policy only because the replay ran the handshake's first packet before it); frames the
// capture marks outbound meet TC egress only; cooked and raw-IP captures replay like Ethernet
// ones; and tcpdump's malformed captures replay to the end with every frame accounted for.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfigText, type Config } from '../../src/catalog.js';
import { encodePcap } from '../../src/lab/pcap.js';
import { createLogger } from '../../src/log.js';
import { replayCapture, type ReplaySummary } from '../../src/replay/session.js';
import { suricataEveValidator } from '../support/eve-schema.js';
import { tcpFrame, udpFrame } from '../support/frames.js';
import { PCAP_MALFORMED } from '../support/testdata.js';
import { conntrackSkipReason, CT_OBJECT } from './conntrack-harness.js';

const skip = conntrackSkipReason();
const OBJECT_DIR = path.dirname(CT_OBJECT);

const POLICY = `
agent:
  interfaces: [lo]
firewall:
  mode: block
  default_policy: drop
  rules:
    - { id: no-dns, priority: 10, action: deny, protocol: udp, dst_port: 53, description: no DNS to anyone }
    - { id: web, priority: 20, action: allow, protocol: tcp, dst_port: 80 }
    - { id: replies, priority: 30, action: allow, state: [established] }
conntrack:
  enabled: true
`;

const C4 = '198.18.0.10';
const S4 = '198.18.1.1';
const C6 = '2001:db8::10';
const S6 = '2001:db8:0:1::1';

interface Eve {
  timestamp: string;
  event_type: string;
  src_ip: string;
  dest_ip: string;
  src_port?: number;
  dest_port?: number;
  alert?: { action: string; signature: string };
  ebpfsentinel?: { rule_id?: string; program?: string };
}

describe('replay through the real programs', { skip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'esn-replay-'));
  const config: Config = parseConfigText(POLICY, path.join(dir, 'c.yaml'));
  const log = createLogger({ level: 'silent' });
  const validate = suricataEveValidator();
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function replay(name: string, bytes: Buffer, extra: { interfaceName?: string } = {}): Promise<{ s: ReplaySummary; eve: Eve[] }> {
    const cap = path.join(dir, name);
    writeFileSync(cap, bytes);
    const out = path.join(dir, `${name}.eve.json`);
    const s = await replayCapture({ capture: cap, config, objectDir: OBJECT_DIR, eve: out, log, batchSize: 4, ...extra });
    const eve = readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => l)
      .map((l) => JSON.parse(l) as Eve);
    for (const r of eve) assert.deepEqual(validate(r), [], JSON.stringify(r));
    assert.deepEqual(s.events.kernel_lost, { ring_full: 0, backpressure: 0 });
    assert.equal(s.events.undecodable, 0);
    assert.deepEqual(s.sink_dropped, {});
    return { s, eve };
  }

  for (const [fam, c, sv] of [
    ['IPv4', C4, S4],
    ['IPv6', C6, S6],
  ] as const) {
    it(`${fam}: a deny rule's alert at the frame's capture time; a handshake's reply passes only because its SYN ran first`, async () => {
      const frames = [
        // 0: DNS query: denied by rule no-dns
        udpFrame({ src: c, dst: sv, sport: 40000, dport: 53, payload: 'q' }),
        // 1-3: a handshake to the web server; the SYN-ACK is "established" only if conntrack kept the SYN's flow
        tcpFrame({ src: c, dst: sv, sport: 40001, dport: 80, flags: ['syn'], seq: 100 }),
        tcpFrame({ src: sv, dst: c, sport: 80, dport: 40001, flags: ['syn', 'ack'], seq: 500, ack: 101 }),
        tcpFrame({ src: c, dst: sv, sport: 40001, dport: 80, flags: ['ack'], seq: 101, ack: 501 }),
        // 4: a SYN-ACK of a flow whose SYN the capture does not hold: new, dropped by the default
        tcpFrame({ src: sv, dst: c, sport: 80, dport: 40002, flags: ['syn', 'ack'], seq: 900, ack: 77 }),
        // 5: a second DNS query, a second later
        udpFrame({ src: c, dst: sv, sport: 40003, dport: 53, payload: 'q' }),
      ];
      // capture times 1 ms apart from 2021-03-04T05:06:07.000123, the last one a second later
      const bytes = encodePcap(frames, { startUs: 1_614_834_367_000_123n });
      const { s, eve } = await replay(`${fam}.pcap`, bytes);
      assert.equal(s.frames, 6);
      assert.equal(s.replayed, 6);
      assert.deepEqual(s.verdicts, { drop: 3, pass: 3 });
      assert.deepEqual(s.decided_by, { 'xdp-firewall': { drop: 3 } });
      assert.deepEqual(s.chain, { xdp: 'xdp-firewall', ingress: ['tc-conntrack'], egress: ['tc-conntrack'] });
      assert.equal(s.programs['tc-conntrack']!.seen, 3, 'conntrack saw the three frames XDP passed');
      const alerts = eve.filter((e) => e.event_type === 'alert');
      assert.deepEqual(
        alerts.map((a) => [a.timestamp, a.src_ip, a.dest_port, a.alert?.action, a.ebpfsentinel?.rule_id]),
        [
          ['2021-03-04T05:06:07.000123+0000', c, 53, 'blocked', 'no-dns'],
          ['2021-03-04T05:06:07.004123+0000', sv, 40002, 'blocked', 'default-policy'],
          ['2021-03-04T05:06:07.005123+0000', c, 53, 'blocked', 'no-dns'],
        ],
      );
      assert.equal(s.first, '2021-03-04T05:06:07.000123000Z');
      assert.equal(s.records.alert, 3);
    });
  }

  it('pcapng: frames marked outbound meet TC egress only; Linux cooked (SLL2) and raw IP replay as Ethernet does; nanosecond times', async () => {
    const q4 = udpFrame({ src: C4, dst: S4, sport: 41000, dport: 53, payload: 'q' });
    const q6 = udpFrame({ src: C6, dst: S6, sport: 41001, dport: 53, payload: 'q' });
    // pcapng: one Ethernet interface at nanosecond resolution; q4 inbound, q6 outbound
    const le32 = (...v: number[]): Buffer => Buffer.from(new Uint32Array(v).buffer);
    const block = (type: number, body: Buffer): Buffer => {
      const pad = Buffer.alloc((4 - (body.length % 4)) % 4);
      const len = 12 + body.length + pad.length;
      return Buffer.concat([le32(type, len), body, pad, le32(len)]);
    };
    const opt = (code: number, v: Buffer): Buffer => Buffer.concat([Buffer.from([code, 0, v.length, 0]), v, Buffer.alloc((4 - (v.length % 4)) % 4)]);
    const ts = 1_614_834_367_123_456_789n;
    const epb = (f: Buffer, flags: number, t: bigint): Buffer =>
      block(6, Buffer.concat([le32(0, Number(t >> 32n), Number(t & 0xffffffffn), f.length, f.length), f, Buffer.alloc((4 - (f.length % 4)) % 4), opt(2, le32(flags)), le32(0)]));
    const ng = Buffer.concat([
      block(0x0a0d0d0a, Buffer.concat([le32(0x1a2b3c4d), Buffer.from([1, 0, 0, 0]), Buffer.alloc(8, 0xff), le32(0)])),
      block(1, Buffer.concat([Buffer.from([1, 0, 0, 0]), le32(0), opt(9, Buffer.from([9])), le32(0)])),
      epb(q4, 1, ts),
      epb(q6, 2, ts + 1000n),
    ]);
    const a = await replay('dir.pcapng', ng, { interfaceName: 'cap0' });
    assert.deepEqual(a.s.directions, { inbound: 1, outbound: 1 });
    assert.deepEqual(a.s.verdicts, { drop: 1, pass: 1 });
    const al = a.eve.filter((e) => e.event_type === 'alert');
    assert.equal(al.length, 1);
    assert.equal(al[0]!.src_ip, C4);
    // EVE keeps microseconds: the nanoseconds are cut, not rounded
    assert.equal(al[0]!.timestamp, '2021-03-04T05:06:07.123456+0000');
    assert.equal((al[0] as unknown as { in_iface?: string }).in_iface, 'cap0');

    // the same two queries as Linux cooked v2 (both incoming) and as raw IP
    const sll2 = (f: Buffer): Buffer => {
      const h = Buffer.alloc(20);
      h.writeUInt16BE(f.readUInt16BE(12), 0);
      h.writeUInt16BE(1, 8);
      h[11] = 6;
      return Buffer.concat([h, f.subarray(14)]);
    };
    for (const [name, lt, conv] of [
      ['sll2', 276, sll2],
      ['raw', 101, (f: Buffer) => f.subarray(14)],
    ] as const) {
      const r = await replay(`${name}.pcap`, encodePcap([q4, q6].map(conv), { linktype: lt }));
      assert.deepEqual(r.s.verdicts, { drop: 2 }, name);
      assert.deepEqual(
        r.eve.filter((e) => e.event_type === 'alert').map((e) => [e.src_ip, e.dest_port, e.ebpfsentinel?.rule_id]),
        [
          [C4, 53, 'no-dns'],
          [C6, 53, 'no-dns'],
        ],
        name,
      );
    }
  });

  it("tcpdump's malformed captures replay to the end: every frame replayed or counted, the programs' malformed counters show the bad ones", async () => {
    let malformed = 0;
    for (const f of readdirSync(PCAP_MALFORMED).filter((x) => x.endsWith('.pcap'))) {
      const { s } = await replay(f, readFileSync(path.join(PCAP_MALFORMED, f)));
      const unusable = Object.values(s.unusable).reduce((a, b) => a + b, 0);
      assert.equal(s.replayed + unusable, s.frames, `${f}: ${JSON.stringify(s)}`);
      assert.equal(s.error, undefined, f);
      assert.equal(s.programs['xdp-firewall']!.seen, s.replayed, `${f}: the firewall saw every replayed frame`);
      malformed += s.programs['xdp-firewall']!.malformed;
    }
    assert.ok(malformed >= 10, `the firewall counted ${malformed} malformed frames across the files`);
  });
});
