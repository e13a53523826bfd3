// csum.h's incremental checksum updates (RFC 1624), as a NAT or scrub rewrite uses them: the test
// program reply_csum.bpf.c replaces the source address (IPv4 and IPv6) and the TTL / hop limit
// and patches the IPv4 header and TCP/UDP/ICMPv6 checksums without recomputing them. The result
// must equal, byte for byte, the frame the TS builder makes with the new values (its checksums
// computed from scratch by test/support/checksum.ts), and pass the independent verifiers.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BpfObject } from '../../src/kernel/object.js';
import { loadNative } from '../../src/kernel/native.js';
import { buildFrame, icmpEchoFrame, ipv4Options, parseFrame, tcpFrame, tcpOptions, udpFrame, verifyIpv4Checksum, verifyL4Checksum, type FlowOpts, type FrameSpec } from '../support/frames.js';
import { IN_CI } from '../support/env.js';
import { REPO_ROOT } from '../support/firewall-harness.js';

const OBJECT = path.join(REPO_ROOT, 'build', 'bpf-test', 'reply_csum.bpf.o');
const XDP_TX = 3;
const NEW_SRC = { 4: '198.18.99.99', 6: '2001:db8::9999' } as const;
const NEW_TTL = 33;

function skipReason(): string | false {
  if (IN_CI) return false;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'kernel tests need root (BPF_PROG_TEST_RUN)';
  if (!existsSync(OBJECT)) return `${OBJECT} is not built (make bpf)`;
  return false;
}

describe('csum.h incremental updates: address and TTL rewrite keeps every checksum right (test-run)', { skip: skipReason() }, () => {
  let obj: BpfObject;
  before(() => {
    obj = BpfObject.load(OBJECT);
  });
  after(() => obj?.close());

  function rewrite(frame: Buffer): Buffer {
    const r = loadNative().testRun(obj.progFd('xdp_reply_csum'), { data: frame });
    assert.equal(r.retval, XDP_TX, 'the program rewrote the frame');
    return r.dataOut;
  }

  function check(input: Buffer, expected: Buffer, what: string): void {
    const out = rewrite(input);
    const p = parseFrame(out);
    if (p.ip?.version === 4) assert.ok(verifyIpv4Checksum(out), `${what}: IPv4 header checksum`);
    if (p.l4) assert.ok(verifyL4Checksum(out), `${what}: L4 checksum`);
    assert.equal(out.toString('hex'), expected.toString('hex'), `${what}: byte-exact`);
  }

  for (const family of [4, 6] as const) {
    const src = family === 4 ? '198.18.0.10' : '2001:db8::10';
    const dst = family === 4 ? '198.18.1.1' : '2001:db8:0:1::1';
    const o: FlowOpts = { src, dst };
    const moved = (x: FlowOpts): FlowOpts => ({ ...x, src: NEW_SRC[family], ttl: NEW_TTL });

    describe(`IPv${family}`, () => {
      it('TCP with options and an odd-length payload', () => {
        const t = { sport: 40000, dport: 443, seq: 7, ack: 9, flags: ['psh' as const, 'ack' as const], options: tcpOptions.timestamps(1, 2), payload: 'odd-length!' };
        check(tcpFrame({ ...o, ...t }), tcpFrame({ ...moved(o), ...t }), 'TCP');
      });

      it('UDP', () => {
        const u = { sport: 5353, dport: 53, payload: Buffer.alloc(101, 0xa5) };
        check(udpFrame({ ...o, ...u }), udpFrame({ ...moved(o), ...u }), 'UDP');
      });

      it(family === 4 ? 'ICMP echo (its checksum covers no address: untouched)' : 'ICMPv6 echo (pseudo-header patched)', () => {
        check(icmpEchoFrame({ ...o, id: 3, seq: 4, payload: 'ping' }), icmpEchoFrame({ ...moved(o), id: 3, seq: 4, payload: 'ping' }), 'echo');
      });

      it('QinQ-tagged TCP', () => {
        const vlans = [{ vid: 100 }, { vid: 42 }];
        check(tcpFrame({ ...o, vlans, sport: 1, dport: 2, flags: ['syn'] }), tcpFrame({ ...moved({ ...o, vlans }), sport: 1, dport: 2, flags: ['syn'] }), 'QinQ');
      });

      if (family === 4) {
        it('IPv4 with options', () => {
          const x = { ...o, ipOptions: ipv4Options.routerAlert() };
          check(udpFrame({ ...x, sport: 1, dport: 2, payload: 'x' }), udpFrame({ ...moved(x), sport: 1, dport: 2, payload: 'x' }), 'options');
        });

        it('UDP without a checksum (0) keeps none', () => {
          const spec = (s: string, ttl: number): FrameSpec => ({ ip: { src: s, dst, ttl, id: 1 }, l4: { proto: 'udp', sport: 9, dport: 9, checksum: 0 }, payload: 'no-sum' });
          const out = rewrite(buildFrame(spec(src, 64)));
          assert.equal(out.toString('hex'), buildFrame(spec(NEW_SRC[4], NEW_TTL)).toString('hex'));
          assert.ok(verifyIpv4Checksum(out));
        });
      } else {
        it('IPv6 with extension headers before the upper layer', () => {
          const x = { ...o, ext: [{ kind: 'hop-by-hop' as const, options: Buffer.from([1, 2, 0, 0]) }, { kind: 'dest-opts' as const }] };
          check(tcpFrame({ ...x, sport: 1, dport: 2, flags: ['syn'] }), tcpFrame({ ...moved(x), sport: 1, dport: 2, flags: ['syn'] }), 'extension headers');
        });
      }
    });
  }
});
