// tc-nat-ingress and tc-nat-egress through BPF_PROG_TEST_RUN, beside tc-conntrack as the agent
// runs them (conntrack first at each hook, sharing ct_table and nat_flows through one pin
// directory): masquerade and SNAT with the source port kept when free and moved when taken,
// DNAT port forwarding, ICMP echo identifiers, ICMP errors whose quote is translated back, a
// port range exhausted (refused and counted, never passed untranslated), replies filed under
// their flow's conntrack entry. IPv4 and IPv6; every rewritten frame's IP, L4 and quoted
// checksums are checked by an independent decoder (test/support/frame-parse).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBpffsSync, removePinTree } from '../../src/kernel/bpffs.js';
import { parseAddress, parseCidr, prefixMask } from '../../src/net/ip.js';
import { ConntrackKernel, CONNTRACK_OBJECT_FILE, CT_ENTRY_EGRESS, CT_ENTRY_INGRESS } from '../../src/engines/conntrack/kernel.js';
import { listFlows } from '../../src/engines/conntrack/flows.js';
import { BootClock } from '../../src/kernel/boot-clock.js';
import { icmpEchoFrame, icmpFrame, tcpFrame, udpFrame } from '../support/frames.js';
import { ipPacketOf, parseFrame, verifyIpv4Checksum, verifyL4Checksum } from '../support/frame-parse.js';
import { IN_CI } from '../support/env.js';
import { NAT_ENTRY_EGRESS, NAT_ENTRY_INGRESS, NAT_EGRESS_OBJECT_FILE, NAT_INGRESS_OBJECT_FILE, NatKernel, type KernelNatRule, type NatCounters } from '../../src/engines/nat/kernel.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const OBJ = (f: string): string => path.join(ROOT, 'build', 'bpf', f);
/** test-run without a ctx runs on the loopback device: ifindex 1 */
const LO = 1;
const TCX_NEXT = 0xffffffff;
const TCX_DROP = 2;
const CT_MAX = 4096;

function skipReason(): string | false {
  if (IN_CI) return false;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'kernel tests need root (BPF_PROG_TEST_RUN)';
  for (const f of [CONNTRACK_OBJECT_FILE, NAT_INGRESS_OBJECT_FILE, NAT_EGRESS_OBJECT_FILE]) if (!existsSync(OBJ(f))) return `${f} is not built (make bpf)`;
  return false;
}

interface Fam {
  v: 4 | 6;
  client: string;
  client2: string;
  server: string;
  ext: string;
  wan: string;
  lansrv: string;
  remote: string;
  router: string;
  lan: string;
}

const FAMS: Fam[] = [
  { v: 4, client: '198.18.2.10', client2: '198.18.2.11', server: '198.18.4.1', ext: '198.18.3.1', wan: '198.18.3.1', lansrv: '198.18.2.20', remote: '198.18.3.30', router: '198.18.3.254', lan: '198.18.2.0/24' },
  { v: 6, client: '2001:db8:0:2::10', client2: '2001:db8:0:2::11', server: '2001:db8:0:4::1', ext: '2001:db8:0:3::1', wan: '2001:db8:0:3::1', lansrv: '2001:db8:0:2::20', remote: '2001:db8:0:3::30', router: '2001:db8:0:3::254', lan: '2001:db8:0:2::/64' },
];

const ZERO16 = Buffer.alloc(16);
const addr = (a: string): Buffer => parseAddress(a).addr;

function rule(f: Fam, r: Partial<KernelNatRule> & Pick<KernelNatRule, 'kind' | 'hook'>): KernelNatRule {
  return {
    ruleId: 1,
    family: f.v,
    proto: 0,
    ifindex: 0,
    src: ZERO16,
    srcMask: ZERO16,
    dst: ZERO16,
    dstMask: ZERO16,
    dports: [0, 0],
    toAddr: ZERO16,
    poolSize: 0,
    toPorts: [0, 0],
    hairpinOnly: false,
    randomPorts: false,
    prefixLen: 0,
    ...r,
  };
}

function cidrRule(c: string): { net: Buffer; mask: Buffer } {
  const p = parseCidr(c);
  return { net: p.addr, mask: prefixMask(p.prefix) };
}

/** Every checksum of a frame is right: IPv4 header, L4; for an ICMP error, the quote's too. */
function assertChecksums(frame: Buffer, what: string): void {
  const p = parseFrame(frame);
  if (p.ip?.version === 4) assert.ok(verifyIpv4Checksum(frame), `${what}: IPv4 header checksum`);
  assert.ok(verifyL4Checksum(frame), `${what}: L4 checksum`);
  const l4 = p.l4;
  const isError = l4 && ((l4.proto === 'icmp' && [3, 11].includes(l4.type)) || (l4.proto === 'icmpv6' && [1, 2, 3].includes(l4.type)));
  if (isError && p.l4Offset !== undefined) {
    const quote = frame.subarray(p.l4Offset + 8);
    const eth = Buffer.alloc(14);
    eth.writeUInt16BE(p.ip?.version === 4 ? 0x0800 : 0x86dd, 12);
    const inner = Buffer.concat([eth, quote]);
    if (p.ip?.version === 4) assert.ok(verifyIpv4Checksum(inner), `${what}: quoted IPv4 header checksum`);
    assert.ok(verifyL4Checksum(inner), `${what}: quoted L4 checksum`);
  }
}

function tuple(frame: Buffer): { src: string; dst: string; sport: number; dport: number } {
  const p = parseFrame(frame);
  assert.ok(p.ip && p.l4);
  const l4 = p.l4;
  const ports = l4.proto === 'tcp' || l4.proto === 'udp' ? { sport: l4.sport, dport: l4.dport } : { sport: l4.id, dport: l4.id };
  return { src: p.ip.src, dst: p.ip.dst, ...ports };
}

describe('tc-nat through test-run', { skip: skipReason() }, () => {
  let pinDir = '';
  let ct: ConntrackKernel;
  let nat: NatKernel;
  const clock = new BootClock();

  before(() => {
    pinDir = `/sys/fs/bpf/sn-nat-test-${process.pid}`;
    ensureBpffsSync(pinDir);
    ct = ConntrackKernel.load({ objectPath: OBJ(CONNTRACK_OBJECT_FILE), mapPinDir: pinDir, maxEntries: CT_MAX });
    nat = NatKernel.load({ ingressPath: OBJ(NAT_INGRESS_OBJECT_FILE), egressPath: OBJ(NAT_EGRESS_OBJECT_FILE), mapPinDir: pinDir, ctMaxEntries: CT_MAX });
  });

  after(() => {
    nat?.close();
    ct?.close();
    if (pinDir) removePinTree(pinDir);
  });

  /** One hook as the agent orders it: tc-conntrack, then the NAT program. */
  function hook(dir: 'ingress' | 'egress', frame: Buffer): { ret: number; out: Buffer } {
    const c = ct.obj.program(dir === 'ingress' ? CT_ENTRY_INGRESS : CT_ENTRY_EGRESS).testRun({ data: frame });
    assert.equal(c.retval >>> 0, TCX_NEXT, 'tc-conntrack passes');
    const n = (dir === 'ingress' ? nat.ingress : nat.egress).program(dir === 'ingress' ? NAT_ENTRY_INGRESS : NAT_ENTRY_EGRESS).testRun({ data: frame });
    return { ret: n.retval >>> 0, out: n.dataOut };
  }

  function counters(dir: 'ingress' | 'egress'): NatCounters {
    const m = nat.readCounters(dir).get(LO);
    assert.ok(m, `${dir} counters for lo`);
    return m;
  }

  function reset(): void {
    for (const k of [...nat.flows.keys()]) nat.flows.delete(k);
    for (const k of [...ct.table.keys()]) ct.table.delete(k);
  }

  for (const f of FAMS) {
    test(`IPv${f.v} masquerade: TCP keeps its port, a second client's same port moves, replies come back to each; checksums right`, () => {
      reset();
      nat.setInterfaceAddresses(LO, f.v === 4 ? addr(f.ext) : undefined, f.v === 6 ? addr(f.ext) : undefined);
      const lan = cidrRule(f.lan);
      nat.writePolicy([rule(f, { kind: 'masquerade', hook: 'egress', src: lan.net, srcMask: lan.mask, ruleId: 7 })]);

      const syn1 = tcpFrame({ src: f.client, dst: f.server, sport: 40000, dport: 443, flags: ['syn'] });
      const a = hook('egress', syn1);
      assert.equal(a.ret, TCX_NEXT);
      assert.deepEqual(tuple(a.out), { src: f.ext, dst: f.server, sport: 40000, dport: 443 }, 'source translated, port kept');
      assertChecksums(a.out, 'masqueraded SYN');

      const syn2 = tcpFrame({ src: f.client2, dst: f.server, sport: 40000, dport: 443, flags: ['syn'] });
      const b = hook('egress', syn2);
      const t2 = tuple(b.out);
      assert.equal(t2.src, f.ext);
      assert.notEqual(t2.sport, 40000, 'the taken port moves');
      assert.ok(t2.sport >= 1024 && t2.sport <= 65535);
      assertChecksums(b.out, 'second SYN');

      // The replies, as they arrive on the WAN side, go back to their own client.
      const r1 = hook('ingress', tcpFrame({ src: f.server, dst: f.ext, sport: 443, dport: 40000, flags: ['syn', 'ack'] }));
      assert.deepEqual(tuple(r1.out), { src: f.server, dst: f.client, sport: 443, dport: 40000 });
      assertChecksums(r1.out, 'reply 1');
      const r2 = hook('ingress', tcpFrame({ src: f.server, dst: f.ext, sport: 443, dport: t2.sport, flags: ['syn', 'ack'] }));
      assert.deepEqual(tuple(r2.out), { src: f.server, dst: f.client2, sport: 443, dport: 40000 });
      assertChecksums(r2.out, 'reply 2');

      // conntrack filed each reply under its flow (initiated by the client): two flows, both answered.
      const d = ct.dump();
      const flows = listFlows(d.keys, d.values, d.count, clock.bootNowNs(), {}, 100).flows;
      assert.equal(flows.length, 2, JSON.stringify(flows));
      for (const fl of flows) {
        assert.ok([f.client, f.client2].includes(fl.initiator.addr), `initiator ${fl.initiator.addr}`);
        assert.equal(fl.state, 'syn_recv');
      }
      // The table holds both directions of both flows, made by rule 7.
      const bs = nat.bindings();
      assert.equal(bs.length, 4);
      assert.ok(bs.every((x) => x.ruleId === 7 && x.kind === 'masquerade'));
      assert.equal(bs.filter((x) => x.reply).length, 2);
      const c = counters('egress');
      assert.ok(c.new_bindings >= 2n && c.translated >= 2n);
    });

    test(`IPv${f.v} SNAT UDP to a pool address; the reply to an untranslated port passes untouched`, () => {
      reset();
      nat.writePolicy([rule(f, { kind: 'snat', hook: 'egress', proto: 17, toAddr: addr(f.ext), poolSize: 1, toPorts: [20000, 20099] })]);
      const out = hook('egress', udpFrame({ src: f.client, dst: f.server, sport: 5353, dport: 53, payload: 'q' }));
      const t = tuple(out.out);
      assert.equal(t.src, f.ext);
      assert.ok(t.sport >= 20000 && t.sport <= 20099, `port ${t.sport} from the range (5353 is outside it)`);
      assertChecksums(out.out, 'SNAT UDP');
      const back = hook('ingress', udpFrame({ src: f.server, dst: f.ext, sport: 53, dport: t.sport, payload: 'a' }));
      assert.deepEqual(tuple(back.out), { src: f.server, dst: f.client, sport: 53, dport: 5353 });
      assertChecksums(back.out, 'SNAT UDP reply');
      const stray = udpFrame({ src: f.server, dst: f.ext, sport: 53, dport: 9, payload: 'x' });
      const s = hook('ingress', stray);
      assert.equal(s.ret, TCX_NEXT);
      assert.deepEqual(s.out, stray, 'no binding: not rewritten');
    });

    test(`IPv${f.v} DNAT port forward: WAN port 8080 to lansrv:80 and the reply back from 8080`, () => {
      reset();
      nat.writePolicy([rule(f, { kind: 'dnat', hook: 'ingress', proto: 6, dst: addr(f.wan), dstMask: prefixMask(f.v === 4 ? 32 : 128), dports: [8080, 8080], toAddr: addr(f.lansrv), poolSize: 1, toPorts: [80, 80] })]);
      const inb = hook('ingress', tcpFrame({ src: f.remote, dst: f.wan, sport: 51000, dport: 8080, flags: ['syn'] }));
      assert.deepEqual(tuple(inb.out), { src: f.remote, dst: f.lansrv, sport: 51000, dport: 80 });
      assertChecksums(inb.out, 'DNAT SYN');
      // The reply arrives on the LAN side (conntrack at its ingress), leaves by the WAN egress.
      const c = ct.obj.program(CT_ENTRY_INGRESS).testRun({ data: tcpFrame({ src: f.lansrv, dst: f.remote, sport: 80, dport: 51000, flags: ['syn', 'ack'] }) });
      assert.equal(c.retval >>> 0, TCX_NEXT);
      const outb = nat.egress.program(NAT_ENTRY_EGRESS).testRun({ data: tcpFrame({ src: f.lansrv, dst: f.remote, sport: 80, dport: 51000, flags: ['syn', 'ack'] }) });
      assert.deepEqual(tuple(outb.dataOut), { src: f.wan, dst: f.remote, sport: 8080, dport: 51000 });
      assertChecksums(outb.dataOut, 'DNAT reply');
      // Another port is not forwarded.
      const other = tcpFrame({ src: f.remote, dst: f.wan, sport: 51001, dport: 8081, flags: ['syn'] });
      assert.deepEqual(hook('ingress', other).out, other);
    });

    test(`IPv${f.v} ICMP echo: the identifier is the port — kept when free, moved when taken, the reply restored`, () => {
      reset();
      nat.setInterfaceAddresses(LO, f.v === 4 ? addr(f.ext) : undefined, f.v === 6 ? addr(f.ext) : undefined);
      nat.writePolicy([rule(f, { kind: 'masquerade', hook: 'egress' })]);
      const e1 = hook('egress', icmpEchoFrame({ src: f.client, dst: f.server, id: 77, seq: 1 }));
      assert.deepEqual(tuple(e1.out), { src: f.ext, dst: f.server, sport: 77, dport: 77 });
      assertChecksums(e1.out, 'echo 1');
      const e2 = hook('egress', icmpEchoFrame({ src: f.client2, dst: f.server, id: 77, seq: 1 }));
      const id2 = tuple(e2.out).sport;
      assert.notEqual(id2, 77);
      assertChecksums(e2.out, 'echo 2');
      const r2 = hook('ingress', icmpEchoFrame({ src: f.server, dst: f.ext, id: id2, seq: 1, reply: true }));
      assert.deepEqual(tuple(r2.out), { src: f.server, dst: f.client2, sport: 77, dport: 77 });
      assertChecksums(r2.out, 'echo reply 2');
    });

    test(`IPv${f.v} an ICMP error about a masqueraded flow goes back to the client with its quote translated`, () => {
      reset();
      nat.setInterfaceAddresses(LO, f.v === 4 ? addr(f.ext) : undefined, f.v === 6 ? addr(f.ext) : undefined);
      nat.writePolicy([rule(f, { kind: 'masquerade', hook: 'egress' })]);
      // Take 33434 with another client first, so the quoted port must be translated too.
      hook('egress', udpFrame({ src: f.client2, dst: f.server, sport: 33434, dport: 33434, payload: 'probe' }));
      const sent = hook('egress', udpFrame({ src: f.client, dst: f.server, sport: 33434, dport: 33434, payload: 'probe' }));
      const st = tuple(sent.out);
      assert.notEqual(st.sport, 33434);
      // A router on the way answers "time exceeded" (11 / ICMPv6 3), quoting what it received.
      const err = icmpFrame({ src: f.router, dst: f.ext, type: f.v === 4 ? 11 : 3, code: 0, payload: ipPacketOf(sent.out) });
      const back = hook('ingress', err);
      assert.equal(back.ret, TCX_NEXT);
      const p = parseFrame(back.out);
      assert.equal(p.ip?.src, f.router, 'the router keeps its own address');
      assert.equal(p.ip?.dst, f.client, 'the error goes to the client');
      const eth = Buffer.alloc(14);
      eth.writeUInt16BE(f.v === 4 ? 0x0800 : 0x86dd, 12);
      const quote = parseFrame(Buffer.concat([eth, back.out.subarray(p.l4Offset! + 8)]));
      assert.equal(quote.ip?.src, f.client, 'the quote names the client');
      assert.equal(quote.ip?.dst, f.server);
      assert.ok(quote.l4?.proto === 'udp' && quote.l4.sport === 33434, 'with its own port');
      assertChecksums(back.out, 'time exceeded');
      assert.ok(counters('ingress').icmp_errors >= 1n);
    });

    test(`IPv${f.v} a port range used up refuses the next new flow: dropped and counted, never passed untranslated`, () => {
      reset();
      nat.writePolicy([rule(f, { kind: 'snat', hook: 'egress', proto: 6, toAddr: addr(f.ext), poolSize: 1, toPorts: [40000, 40001] })]);
      const before = counters('egress').port_exhausted;
      const ports = new Set<number>();
      for (const c of [f.client, f.client2]) {
        const r = hook('egress', tcpFrame({ src: c, dst: f.server, sport: 40000, dport: 22, flags: ['syn'] }));
        assert.equal(r.ret, TCX_NEXT);
        ports.add(tuple(r.out).sport);
      }
      assert.deepEqual([...ports].sort(), [40000, 40001], 'the two ports, each once');
      // A third flow to the same server port needs a third port: the range has two.
      const third = hook('egress', tcpFrame({ src: f.client, dst: f.server, sport: 40002, dport: 22, flags: ['syn'] }));
      const fourth = hook('egress', tcpFrame({ src: f.client, dst: f.server, sport: 40003, dport: 22, flags: ['syn'] }));
      assert.equal(third.ret, TCX_DROP);
      assert.equal(fourth.ret, TCX_DROP);
      assert.equal(counters('egress').port_exhausted - before, 2n);
      assert.equal(nat.bindings().length, 4, 'nothing half-made is left of the refused flows');
    });
  }
});
