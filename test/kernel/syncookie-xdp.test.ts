// SYN cookies from XDP, byte for byte: a SYN to a local listener comes back as the SYN-ACK the
// kernel would send with a cookie (addresses, ports and MACs swapped, ack = seq + 1, MSS option
// from the helper, payload trimmed, VLAN tags kept, valid IP and TCP checksums), the ACK that
// returns the cookie passes, a forged one drops, and SYNs the program must not answer (no
// listener, under the threshold) go to the stack. IPv4 and IPv6. The listeners and the test runs
// share a network namespace created for the run (syncookie-nshelper.ts).
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Lab } from '../../src/lab/index.js';
import { labPrerequisites } from '../support/env.js';
import { parseFrame, tcpFrame, tcpOptions, truncate, verifyIpv4Checksum, verifyL4Checksum, DEFAULT_DST_MAC, DEFAULT_SRC_MAC, type VlanTag } from '../support/frames.js';
import { ratelimitSkipReason, XDP_DROP, XDP_PASS, XDP_TX } from './ratelimit-harness.js';
import type { SyncookieStepResult } from './syncookie-nshelper.js';

const skip = ratelimitSkipReason() || labPrerequisites(['ip']) || false;
const HELPER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'syncookie-nshelper.js');

const CLIENT = { 4: '198.18.0.10', 6: '2001:db8::10' } as const;
const SERVER = { 4: '198.18.1.1', 6: '2001:db8:1::1' } as const;
/** what a Linux client puts in its SYN: MSS, SACK permitted, timestamps, NOP, window scale */
const LINUX_OPTS = Buffer.concat([tcpOptions.mss(1460), tcpOptions.sackPermitted(), tcpOptions.timestamps(12345, 0), tcpOptions.nop(), tcpOptions.windowScale(7)]);

class NsHelper {
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly lines: string[] = [];
  constructor(readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    readline.createInterface({ input: child.stdout }).on('line', (l) => {
      const w = this.waiting.shift();
      if (w) w(l);
      else this.lines.push(l);
    });
  }
  next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('syncookie helper did not answer within 20 s')), 20_000);
      this.waiting.push((line) => {
        clearTimeout(t);
        resolve(line);
      });
    });
  }
  async send(msg: unknown): Promise<string> {
    this.child.stdin.write(`${JSON.stringify(msg)}\n`);
    return this.next();
  }
  async judge(label: string, frame: Buffer): Promise<SyncookieStepResult> {
    return JSON.parse(await this.send({ label, frame: frame.toString('hex') })) as SyncookieStepResult;
  }
}

describe('xdp-ratelimit SYN cookies (test-run in a lab namespace)', { skip }, () => {
  let lab: Lab;
  let h: NsHelper;
  let ports: { 4: number; 6: number };

  before(async () => {
    lab = await Lab.create({ name: 'syncookie', hosts: [{ name: 'srv' }], links: [] });
    const child = spawn('ip', ['netns', 'exec', lab.ns('srv'), process.execPath, HELPER], { stdio: ['pipe', 'pipe', 'inherit'] });
    h = new NsHelper(child);
    const p = JSON.parse(await h.next()) as { port4: number; port6: number };
    ports = { 4: p.port4, 6: p.port6 };
  });

  after(async () => {
    if (h) {
      h.child.stdin.end();
      if (h.child.exitCode === null) await new Promise((r) => h.child.once('exit', r));
    }
    await lab?.destroy();
  });

  const always = { policy: { ddos: { enabled: true, syn_protection: { enabled: true, threshold_mode: false } } } };

  function syn(fam: 4 | 6, o: { dport?: number; payload?: string; vlans?: VlanTag[]; options?: Buffer | null } = {}): Buffer {
    return tcpFrame({
      src: CLIENT[fam], dst: SERVER[fam], sport: 40000, dport: o.dport ?? ports[fam], seq: 1000, flags: ['syn'],
      ...(o.options === null ? {} : { options: o.options ?? LINUX_OPTS }),
      ...(o.payload ? { payload: o.payload } : {}),
      ...(o.vlans ? { vlans: o.vlans } : {}),
    });
  }

  function ack(fam: 4 | 6, ackNum: number): Buffer {
    return tcpFrame({ src: CLIENT[fam], dst: SERVER[fam], sport: 40000, dport: ports[fam], seq: 1001, ack: ackNum >>> 0, flags: ['ack'] });
  }

  /** Checks everything a SYN-ACK must be; returns the cookie. */
  function checkSynAck(fam: 4 | 6, r: SyncookieStepResult, optionBytes: number, vlans: VlanTag[] = []): number {
    assert.equal(r.retval, XDP_TX, `${r.label}: answered with XDP_TX`);
    assert.equal(r.delta.syncookie_sent, 1);
    const out = Buffer.from(r.out, 'hex');
    const p = parseFrame(out);
    assert.equal(p.eth.src, DEFAULT_DST_MAC);
    assert.equal(p.eth.dst, DEFAULT_SRC_MAC);
    assert.deepEqual(p.vlans.map((v) => v.vid), vlans.map((v) => v.vid), 'VLAN tags kept');
    assert.ok(p.ip && p.l4 && p.l4.proto === 'tcp');
    assert.equal(p.ip.src, SERVER[fam]);
    assert.equal(p.ip.dst, CLIENT[fam]);
    assert.equal(p.ip.version === 4 ? p.ip.ttl : p.ip.hopLimit, 64);
    assert.equal(p.l4.sport, ports[fam]);
    assert.equal(p.l4.dport, 40000);
    assert.deepEqual([...p.l4.flags].sort(), ['ack', 'syn']);
    assert.equal(p.l4.ack, 1001);
    assert.equal(p.l4.dataOffset * 4, 20 + optionBytes, 'the TCP header keeps its length');
    assert.equal(out.length, p.l3Offset + (fam === 4 ? 20 : 40) + 20 + optionBytes, 'nothing after the TCP header');
    if (optionBytes >= 4) {
      assert.equal(p.l4.options[0], 2);
      assert.equal(p.l4.options[1], 4);
      const mss = p.l4.options.readUInt16BE(2);
      assert.ok(mss >= 536 && mss <= 1460, `MSS ${mss} from the helper's table, never above the client's`);
      assert.ok(p.l4.options.subarray(4, optionBytes).every((b) => b === 1), 'NOP padding');
    }
    if (fam === 4) assert.ok(verifyIpv4Checksum(out), 'IPv4 header checksum');
    assert.ok(verifyL4Checksum(out), 'TCP checksum');
    return p.l4.seq;
  }

  for (const fam of [4, 6] as const) {
    it(`IPv${fam}: SYN -> SYN-ACK cookie; its ACK passes, a forged one drops`, async () => {
      await h.send(always);
      const cookie = checkSynAck(fam, await h.judge('syn', syn(fam)), LINUX_OPTS.length);
      const good = await h.judge('ack', ack(fam, cookie + 1));
      assert.equal(good.retval, XDP_PASS);
      assert.equal(good.stats.syncookie_valid, '1');
      const forged = await h.judge('forged', ack(fam, cookie + 1 + 0x10000));
      assert.equal(forged.retval, XDP_DROP);
      assert.equal(forged.delta.syncookie_invalid, 1);
      assert.equal(forged.delta.dropped, 1);
      const random = await h.judge('random', ack(fam, 0x12345678));
      assert.equal(random.retval, XDP_DROP);
    });

    it(`IPv${fam}: VLAN-tagged (QinQ) SYN, SYN with payload, SYN without options`, async () => {
      await h.send(always);
      const vlans = [{ vid: 100 }, { vid: 42 }];
      checkSynAck(fam, await h.judge('vlan', syn(fam, { vlans })), LINUX_OPTS.length, vlans);
      checkSynAck(fam, await h.judge('payload', syn(fam, { payload: 'early data' })), LINUX_OPTS.length);
      checkSynAck(fam, await h.judge('bare', syn(fam, { options: null })), 0);
    });

    it(`IPv${fam}: SYNs left to the stack — no listener, truncated options, under the threshold`, async () => {
      await h.send(always);
      const closed = await h.judge('closed', syn(fam, { dport: 9 }));
      assert.equal(closed.retval, XDP_PASS);
      assert.equal(closed.stats.syn_not_answered, '1');
      const cut = await h.judge('truncated', truncate(syn(fam), (fam === 4 ? 34 : 54) + 24));
      assert.equal(cut.retval, XDP_PASS);
      assert.equal(cut.delta.syncookie_sent, undefined);
      await h.send({ policy: { ddos: { enabled: true, syn_protection: { enabled: true, threshold_mode: true, threshold_pps: 10 } } } });
      const first = await h.judge('under', syn(fam));
      assert.equal(first.retval, XDP_PASS, 'first SYN within the threshold burst goes to the stack');
      assert.equal(first.stats.syn_under_threshold, '1');
      checkSynAck(fam, await h.judge('over', syn(fam)), LINUX_OPTS.length);
    });
  }
});
