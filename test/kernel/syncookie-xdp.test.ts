// SYN cookies from XDP, byte for byte, on both paths (bpf/include/sentinel/lib/synproxy.h):
// - agent path: a SYN to a local listener comes back as a SYN-ACK whose sequence number is the
//   cookie an independent SipHash (test/support/siphash.ts) computes from the documented layout,
//   offering exactly the options the client offered and the host allows (MSS for this device,
//   SACK, timestamps with the cookie's check byte, window scale, ECN); the ACK that returns it
//   passes, a forged one (wrong cookie, wrong timestamp echo) drops;
// - kernel path: the first SYN to a listener goes to the stack (the listener's own cookie keeps
//   it taking cookie ACKs), the next ones get the kernel's cookie in a SYN-ACK of the SYN's length.
// Addresses, ports and MACs swapped, VLAN tags kept, payload trimmed, checksums valid; SYNs the
// program must not answer (no listener, truncated, under the threshold) go to the stack. IPv4
// and IPv6. Listeners and test runs share a namespace created for the run (syncookie-nshelper.ts).
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Lab } from '../../src/lab/index.js';
import { labPrerequisites } from '../support/env.js';
import { NsHelper } from '../support/ns-helper.js';
import { parseFrame, tcpFrame, tcpOptions, truncate, verifyIpv4Checksum, verifyL4Checksum, DEFAULT_DST_MAC, DEFAULT_SRC_MAC, type VlanTag } from '../support/frames.js';
import { cookieSlotNow, expectedCookie } from '../support/syncookie.js';
import { HARNESS_COOKIE_CONFIG, ratelimitSkipReason, XDP_DROP, XDP_PASS, XDP_TX } from './ratelimit-harness.js';
import type { SyncookieStepResult } from './syncookie-nshelper.js';

const skip = ratelimitSkipReason() || labPrerequisites(['ip']) || false;
const HELPER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'syncookie-nshelper.js');

const CLIENT = { 4: '198.18.0.10', 6: '2001:db8::10' } as const;
const SERVER = { 4: '198.18.1.1', 6: '2001:db8:1::1' } as const;
const CLIENT_TSVAL = 12345;
/** what a Linux client puts in its SYN: MSS, SACK permitted, timestamps, NOP, window scale */
const LINUX_OPTS = Buffer.concat([tcpOptions.mss(1460), tcpOptions.sackPermitted(), tcpOptions.timestamps(CLIENT_TSVAL, 0), tcpOptions.nop(), tcpOptions.windowScale(7)]);
/** test runs happen on the namespace's loopback (MTU 65536): the MSS we announce follows it */
const OUR_MSS = { 4: 65536 - 40, 6: 65536 - 60 } as const;

async function judge(h: NsHelper, label: string, frame: Buffer): Promise<SyncookieStepResult> {
  return h.request<SyncookieStepResult>({ label, frame: frame.toString('hex') });
}

/** Options of a TCP header as [kind, value bytes] in order (NOPs included as kind 1). */
function optionList(opts: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  for (let i = 0; i < opts.length; ) {
    const kind = opts[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      out.push([1, Buffer.alloc(0)]);
      i++;
      continue;
    }
    const len = opts[i + 1]!;
    out.push([kind, opts.subarray(i + 2, i + len)]);
    i += len;
  }
  return out;
}

describe('xdp-ratelimit SYN cookies (test-run in a lab namespace)', { skip }, () => {
  let lab: Lab;
  let h: NsHelper;
  let ports: { 4: number; 6: number };

  before(async () => {
    lab = await Lab.create({ name: 'syncookie', hosts: [{ name: 'srv' }], links: [] });
    h = NsHelper.start(lab, 'srv', HELPER);
    const p = JSON.parse(await h.next()) as { port4: number; port6: number };
    ports = { 4: p.port4, 6: p.port6 };
  });

  after(async () => {
    await h?.close();
    await lab?.destroy();
  });

  const policy = (cookies: 'agent' | 'kernel', extra: Record<string, unknown> = {}) => ({
    policy: { ddos: { enabled: true, syn_protection: { enabled: true, threshold_mode: false, cookies, ...extra } } },
  });

  function syn(fam: 4 | 6, o: { dport?: number; payload?: string; vlans?: VlanTag[]; options?: Buffer | null; ecn?: boolean; seq?: number } = {}): Buffer {
    return tcpFrame({
      src: CLIENT[fam], dst: SERVER[fam], sport: 40000, dport: o.dport ?? ports[fam], seq: o.seq ?? 1000,
      flags: o.ecn ? ['syn', 'ece', 'cwr'] : ['syn'],
      ...(o.options === null ? {} : { options: o.options ?? LINUX_OPTS }),
      ...(o.payload ? { payload: o.payload } : {}),
      ...(o.vlans ? { vlans: o.vlans } : {}),
    });
  }

  function ack(fam: 4 | 6, ackNum: number, o: { ts?: [number, number]; seq?: number } = {}): Buffer {
    return tcpFrame({
      src: CLIENT[fam], dst: SERVER[fam], sport: 40000, dport: ports[fam], seq: o.seq ?? 1001, ack: ackNum >>> 0, flags: ['ack'],
      ...(o.ts ? { options: Buffer.concat([tcpOptions.nop(), tcpOptions.nop(), tcpOptions.timestamps(o.ts[0], o.ts[1])]) } : {}),
    });
  }

  /** Checks what every SYN-ACK must be; returns the parsed TCP header. */
  function checkSynAck(fam: 4 | 6, r: SyncookieStepResult, o: { headerLen: number; vlans?: VlanTag[]; seq?: number }) {
    assert.equal(r.retval, XDP_TX, `${r.label}: answered with XDP_TX`);
    assert.equal(r.delta.syncookie_sent, 1);
    const out = Buffer.from(r.out, 'hex');
    const p = parseFrame(out);
    assert.equal(p.eth.src, DEFAULT_DST_MAC);
    assert.equal(p.eth.dst, DEFAULT_SRC_MAC);
    assert.deepEqual(p.vlans.map((v) => v.vid), (o.vlans ?? []).map((v) => v.vid), 'VLAN tags kept');
    assert.ok(p.ip && p.l4 && p.l4.proto === 'tcp');
    assert.equal(p.ip.src, SERVER[fam]);
    assert.equal(p.ip.dst, CLIENT[fam]);
    assert.equal(p.ip.version === 4 ? p.ip.ttl : p.ip.hopLimit, 64);
    assert.equal(p.l4.sport, ports[fam]);
    assert.equal(p.l4.dport, 40000);
    assert.equal(p.l4.ack, (o.seq ?? 1000) + 1);
    assert.equal(p.l4.dataOffset * 4, o.headerLen, 'TCP header length');
    assert.equal(out.length, p.l3Offset + (fam === 4 ? 20 : 40) + o.headerLen, 'nothing after the TCP header');
    if (fam === 4) assert.ok(verifyIpv4Checksum(out), 'IPv4 header checksum');
    assert.ok(verifyL4Checksum(out), 'TCP checksum');
    return p.l4;
  }

  /** The cookie must be the documented SipHash of this SYN in this or the previous slot. */
  function checkAgentCookie(fam: 4 | 6, isn: number, tsval: number | null, data: number, clientIsn = 1000): void {
    const slot = cookieSlotNow();
    const hits = [slot, slot - 1n].map((s) => expectedCookie({ key: HARNESS_COOKIE_CONFIG.key, client: CLIENT[fam], server: SERVER[fam], sport: 40000, dport: ports[fam], isn: clientIsn, slot: s, data }));
    const hit = hits.find((e) => e.isn === isn);
    assert.ok(hit, `cookie ${isn.toString(16)} is SipHash(key, SYN) in slot ${slot} or ${slot - 1n} with option byte ${data.toString(16)} (expected ${hits.map((e) => e.isn.toString(16)).join(' or ')})`);
    if (tsval !== null) assert.equal(tsval & 0xff, hit.tsLow, 'TSval carries the cookie check byte');
  }

  for (const fam of [4, 6] as const) {
    describe(`IPv${fam}, agent cookies`, () => {
      it('SYN with Linux options -> SYN-ACK offering MSS, SACK, timestamps and window scale; the cookie is the documented SipHash', async () => {
        await h.send(policy('agent'));
        const tcp = checkSynAck(fam, await judge(h, 'syn', syn(fam)), { headerLen: 40 });
        assert.deepEqual([...tcp.flags].sort(), ['ack', 'syn']);
        const opts = optionList(tcp.options);
        assert.deepEqual(opts.map(([k]) => k), [2, 4, 8, 1, 3], 'MSS, SACK-permitted, timestamps, NOP, window scale (Linux order)');
        assert.equal(opts[0]![1].readUInt16BE(0), OUR_MSS[fam], 'MSS from the device MTU');
        assert.equal(opts[2]![1].readUInt32BE(4), CLIENT_TSVAL, 'TSecr echoes the client');
        assert.equal(opts[4]![1][0], HARNESS_COOKIE_CONFIG.rcvWscale, 'our window scale');
        // option byte: MSS 1460 is index 3 (v4 table) or index 2 (v6: 1440 <= 1460 < 8940); SACK; wscale 7
        const data = ((fam === 4 ? 3 : 2) << 6) | 0x10 | 7;
        checkAgentCookie(fam, tcp.seq, opts[2]![1].readUInt32BE(0), data);
      });

      it('its ACK passes (timestamp echo checked); forged cookies and echoes drop', async () => {
        await h.send(policy('agent'));
        const tcp = checkSynAck(fam, await judge(h, 'syn', syn(fam)), { headerLen: 40 });
        const tsval = optionList(tcp.options)[2]![1].readUInt32BE(0);
        const good = await judge(h, 'ack', ack(fam, tcp.seq + 1, { ts: [CLIENT_TSVAL + 1, tsval] }));
        assert.equal(good.retval, XDP_PASS);
        assert.equal(good.stats.syncookie_valid, '1');
        const badEcho = await judge(h, 'bad echo', ack(fam, tcp.seq + 1, { ts: [CLIENT_TSVAL + 1, tsval ^ 0x01] }));
        assert.equal(badEcho.retval, XDP_DROP, 'a wrong check byte in the timestamp echo');
        const forged = await judge(h, 'forged', ack(fam, tcp.seq + 1 + 0x100, { ts: [CLIENT_TSVAL + 1, tsval] }));
        assert.equal(forged.retval, XDP_DROP);
        assert.equal(forged.delta.syncookie_invalid, 1);
        assert.equal(forged.delta.dropped, 1);
        const otherOpts = await judge(h, 'option byte changed', ack(fam, ((tcp.seq & ~0xff) | ((tcp.seq + 1) & 0xff)) + 1, { ts: [CLIENT_TSVAL + 1, tsval] }));
        assert.equal(otherOpts.retval, XDP_DROP, 'the option byte is covered by the hash');
        const random = await judge(h, 'random', ack(fam, 0x12345678));
        assert.equal(random.retval, XDP_DROP);
      });

      it('offers only what the client offered and the host allows; ECN when asked', async () => {
        await h.send(policy('agent'));
        // bare SYN: MSS only, the frame grows by the option
        const bare = checkSynAck(fam, await judge(h, 'bare', syn(fam, { options: null })), { headerLen: 24 });
        assert.deepEqual(optionList(bare.options).map(([k]) => k), [2]);
        checkAgentCookie(fam, bare.seq, null, (0 << 6) | 0xf, 1000);
        // SACK and window scale, no timestamps
        const sw = checkSynAck(fam, await judge(h, 'sack+ws', syn(fam, { options: Buffer.concat([tcpOptions.mss(1300), tcpOptions.nop(), tcpOptions.windowScale(9), tcpOptions.sackPermitted()]) })), { headerLen: 32 });
        assert.deepEqual(optionList(sw.options).map(([k]) => k), [2, 1, 1, 4, 1, 3]);
        checkAgentCookie(fam, sw.seq, null, ((fam === 4 ? 1 : 0) << 6) | 0x10 | 9);
        // ECN asked (ECE+CWR) is granted with ECE
        const ecn = checkSynAck(fam, await judge(h, 'ecn', syn(fam, { ecn: true })), { headerLen: 40 });
        assert.deepEqual([...ecn.flags].sort(), ['ack', 'ece', 'syn']);
        // a host without SACK, timestamps, window scaling and ECN: MSS only, whatever was offered
        await h.send({ ...policy('agent'), allow: 0 });
        const plain = checkSynAck(fam, await judge(h, 'host allows nothing', syn(fam, { ecn: true })), { headerLen: 24 });
        assert.deepEqual([...plain.flags].sort(), ['ack', 'syn']);
        assert.deepEqual(optionList(plain.options).map(([k]) => k), [2]);
      });

      it('VLAN-tagged (QinQ) SYN and SYN with payload', async () => {
        await h.send(policy('agent'));
        const vlans = [{ vid: 100 }, { vid: 42 }];
        checkSynAck(fam, await judge(h, 'vlan', syn(fam, { vlans })), { headerLen: 40, vlans });
        checkSynAck(fam, await judge(h, 'payload', syn(fam, { payload: 'early data' })), { headerLen: 40 });
      });

      it('SYNs left to the stack: no listener, truncated options, under the threshold', async () => {
        await h.send(policy('agent'));
        const closed = await judge(h, 'closed', syn(fam, { dport: 9 }));
        assert.equal(closed.retval, XDP_PASS);
        assert.equal(closed.stats.syn_not_answered, '1');
        const cut = await judge(h, 'truncated', truncate(syn(fam), (fam === 4 ? 34 : 54) + 24));
        assert.equal(cut.retval, XDP_PASS);
        assert.equal(cut.delta.syncookie_sent, undefined);
        await h.send(policy('agent', { threshold_mode: true, threshold_pps: 10 }));
        const first = await judge(h, 'under', syn(fam));
        assert.equal(first.retval, XDP_PASS, 'first SYN within the threshold burst goes to the stack');
        assert.equal(first.stats.syn_under_threshold, '1');
        checkSynAck(fam, await judge(h, 'over', syn(fam)), { headerLen: 40 });
      });
    });

    describe(`IPv${fam}, kernel cookies`, () => {
      it('the first SYN to a listener refreshes it through the stack; later ones get the kernel cookie; its ACK passes, a forged one drops', async () => {
        await h.send(policy('kernel'));
        const first = await judge(h, 'refresh', syn(fam));
        assert.equal(first.retval, XDP_PASS);
        assert.equal(first.stats.syn_refresh, '1');
        const tcp = checkSynAck(fam, await judge(h, 'syn', syn(fam)), { headerLen: LINUX_OPTS.length + 20 });
        const opts = optionList(tcp.options);
        assert.equal(opts[0]![0], 2, 'MSS first');
        const mss = opts[0]![1].readUInt16BE(0);
        assert.ok(mss >= 536 && mss <= 1460, `MSS ${mss} from the kernel's table, never above the client's`);
        assert.ok(opts.slice(1).every(([k]) => k === 1), 'NOP padding');
        const good = await judge(h, 'ack', ack(fam, tcp.seq + 1));
        assert.equal(good.retval, XDP_PASS);
        assert.equal(good.stats.syncookie_valid_kernel, '1');
        const forged = await judge(h, 'forged', ack(fam, tcp.seq + 1 + 0x10000));
        assert.equal(forged.retval, XDP_DROP);
        assert.equal(forged.delta.syncookie_invalid, 1);
      });

      it('bare SYN: the header keeps its length (no room for an MSS option)', async () => {
        await h.send(policy('kernel'));
        await judge(h, 'refresh', syn(fam, { options: null }));
        checkSynAck(fam, await judge(h, 'bare', syn(fam, { options: null })), { headerLen: 20 });
      });
    });
  }
});
