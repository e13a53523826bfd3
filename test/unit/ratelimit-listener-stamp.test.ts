import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProcNetTcp, stampAddress, stampSyn } from '../../src/engines/ratelimit/listener-stamp.js';
import { parseFrame, verifyIpv4Checksum, verifyL4Checksum } from '../support/frame-parse.js';

// Lines as the kernel prints them (addresses are 32-bit words in host order, ports hex).
const TCP4 = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0100007F:9C40 0100007F:0050 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F41 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
   1: B80D0120000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 100 0 0 10 0
`;

describe('listener stamping for SYN cookies', () => {
  it('reads listening sockets (and only those) from /proc/net/tcp and tcp6', () => {
    const v4 = parseProcNetTcp(TCP4, 4);
    assert.deepEqual(v4.map((l) => [l.addr.join('.'), l.port]), [['0.0.0.0', 8000], ['127.0.0.1', 80]]);
    const v6 = parseProcNetTcp(TCP6, 6);
    assert.deepEqual(v6.map((l) => [l.addr.toString('hex'), l.port]), [['0'.repeat(32), 8001], ['20010db8000000000000000000000001', 443]]);
  });

  it('an any-address listener is stamped on loopback, a bound one on its own address', () => {
    assert.deepEqual([...stampAddress({ family: 4, addr: Buffer.alloc(4), port: 1 })], [127, 0, 0, 1]);
    assert.equal(stampAddress({ family: 6, addr: Buffer.alloc(16), port: 1 }).toString('hex'), '0'.repeat(31) + '1');
    const bound = Buffer.from('20010db8000000000000000000000001', 'hex');
    assert.equal(stampAddress({ family: 6, addr: bound, port: 1 }), bound);
  });

  for (const family of [4, 6] as const) {
    it(`IPv${family}: the stamping SYN is a bare SYN from the address to itself with valid checksums`, () => {
      const addr = family === 4 ? Buffer.from([198, 18, 0, 1]) : Buffer.from('20010db8000000000000000000000001', 'hex');
      const f = stampSyn(family, addr, 8443, 12345);
      const p = parseFrame(f);
      assert.equal(p.ip?.version, family);
      assert.equal(p.l4?.proto, 'tcp');
      if (p.l4?.proto !== 'tcp') return;
      assert.equal(p.l4.dport, 8443);
      assert.deepEqual(p.l4.flags, ['syn'], 'SYN only');
      assert.equal(p.l4.sport, 9);
      if (family === 4) assert.ok(verifyIpv4Checksum(f));
      assert.ok(verifyL4Checksum(f));
    });
  }
});
