// The SYN cookie path and what it asks of the host: the path for each setting and kernel, the
// window scale the kernel itself would announce, the host options read from sysctls, and the
// tcp_syncookies guard that changes the host only when a path needs it and always puts it back.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { allowFlags, chooseCookiePath, rcvWscaleFor, readHostTcp } from '../../src/engines/ratelimit/syncookie-path.js';
import { SyncookiesGuard } from '../../src/engines/ratelimit/syncookies.js';
import { sc_allow } from '../../src/kernel/contract.gen.js';

const dir = mkdtempSync(path.join(tmpdir(), 'esn-syncookie-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('cookie path', () => {
  it('auto takes the agent path where the kernel has bpf_sk_assign_tcp_reqsk, else the kernel path', () => {
    assert.equal(chooseCookiePath('auto', true).path, 'agent');
    const old = chooseCookiePath('auto', false);
    assert.equal(old.path, 'kernel');
    assert.match(old.reason, /no bpf_sk_assign_tcp_reqsk \(Linux < 6\.9\)/);
  });

  it('kernel is honoured everywhere; agent on a kernel without the kfunc is an error naming the key', () => {
    assert.equal(chooseCookiePath('kernel', true).path, 'kernel');
    assert.equal(chooseCookiePath('agent', true).path, 'agent');
    assert.throws(() => chooseCookiePath('agent', false), /ddos\.syn_protection\.cookies is agent but this kernel has no bpf_sk_assign_tcp_reqsk/);
  });
});

describe('host TCP options', () => {
  it('window scale: the smallest that announces the largest receive buffer, at most 14', () => {
    assert.equal(rcvWscaleFor(65535), 0);
    assert.equal(rcvWscaleFor(65536), 1);
    assert.equal(rcvWscaleFor(6291456), 7); // Debian's tcp_rmem[2]
    assert.equal(rcvWscaleFor(2 ** 40), 14);
  });

  it('reads the namespace sysctls; any tcp_ecn but 0 accepts ECN', () => {
    const sys = path.join(dir, 'sys');
    const put = (rel: string, v: string): void => {
      mkdirSync(path.dirname(path.join(sys, rel)), { recursive: true });
      writeFileSync(path.join(sys, rel), `${v}\n`);
    };
    put('net/ipv4/tcp_timestamps', '1');
    put('net/ipv4/tcp_sack', '0');
    put('net/ipv4/tcp_window_scaling', '1');
    put('net/ipv4/tcp_ecn', '2');
    put('net/ipv4/tcp_rmem', '4096\t131072\t6291456');
    put('net/core/rmem_max', '212992');
    const h = readHostTcp(sys);
    assert.deepEqual(h, { timestamps: true, sack: false, windowScaling: true, ecn: true, rcvWscale: 7 });
    assert.equal(allowFlags(h), sc_allow.SC_ALLOW_TS | sc_allow.SC_ALLOW_WSCALE | sc_allow.SC_ALLOW_ECN);
    put('net/core/rmem_max', '33554432'); // a larger rmem_max wins, as in the kernel
    assert.equal(readHostTcp(sys).rcvWscale, 10); // 2^25 > 65535 << 9
    put('net/ipv4/tcp_ecn', '0');
    put('net/ipv4/tcp_sack', 'x');
    assert.throws(() => readHostTcp(sys), /tcp_sack: not a number/);
  });
});

describe('net.ipv4.tcp_syncookies guard', () => {
  const file = path.join(dir, 'tcp_syncookies');
  const value = (): string => readFileSync(file, 'utf8').trim();

  it('agent path: leaves 1 and 2 alone; raises 0 to 1; restore puts 0 back', () => {
    for (const own of ['1', '2']) {
      writeFileSync(file, `${own}\n`);
      const g = new SyncookiesGuard(file);
      assert.equal(g.hold('nonzero'), null);
      assert.equal(g.change, null);
      assert.equal(g.restore(), null);
      assert.equal(value(), own);
    }
    writeFileSync(file, '0\n');
    const g = new SyncookiesGuard(file);
    assert.deepEqual(g.hold('nonzero'), { sysctl: 'net.ipv4.tcp_syncookies', from: 0, to: 1 });
    assert.equal(value(), '1');
    assert.deepEqual(g.change, { sysctl: 'net.ipv4.tcp_syncookies', from: 0, to: 1 });
    assert.equal(g.restore(), 0);
    assert.equal(value(), '0');
    assert.equal(g.change, null);
  });

  it('kernel path holds 2; moving back to the agent path returns to the host value; restore after both', () => {
    writeFileSync(file, '1\n');
    const g = new SyncookiesGuard(file);
    assert.deepEqual(g.hold('always'), { sysctl: 'net.ipv4.tcp_syncookies', from: 1, to: 2 });
    assert.equal(value(), '2');
    assert.equal(g.hold('always'), null, 'holding again changes nothing');
    assert.deepEqual(g.hold('nonzero'), { sysctl: 'net.ipv4.tcp_syncookies', from: 2, to: 1 });
    assert.equal(g.change, null, 'the host value stands again');
    assert.equal(value(), '1');
    g.hold('always');
    assert.equal(g.restore(), 1);
    assert.equal(value(), '1');
  });
});
