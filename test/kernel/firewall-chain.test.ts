// The XDP chain: a pass verdict tail-calls the program in fw_chain[0] (where xdp-ratelimit plugs
// in), a drop never reaches it, and with the slot empty the packet passes and the miss is counted.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BpfObject } from '../../src/kernel/object.js';
import { u32Codec, u64Codec } from '../../src/kernel/map.js';
import { tcpFrame } from '../support/frames.js';
import { REPO_ROOT, firewallSkipReason, useFirewall, XDP_DROP, XDP_PASS } from '../support/firewall-harness.js';

const skip = firewallSkipReason();
const XDP_TX = 3;

describe('xdp-firewall tail call into the next program (test-run)', { skip }, () => {
  const fw = useFirewall();
  let target: BpfObject;

  before(() => {
    target = BpfObject.load(path.join(REPO_ROOT, 'build', 'bpf-test', 'chain_target.bpf.o'));
  });
  after(() => target?.close());

  const frames = {
    4: { allowed: tcpFrame({ src: '198.18.0.10', dst: '198.18.1.1', sport: 40000, dport: 80 }), denied: tcpFrame({ src: '198.18.0.10', dst: '198.18.1.1', sport: 40000, dport: 23 }) },
    6: { allowed: tcpFrame({ src: '2001:db8::10', dst: '2001:db8:0:1::1', sport: 40000, dport: 80 }), denied: tcpFrame({ src: '2001:db8::10', dst: '2001:db8:0:1::1', sport: 40000, dport: 23 }) },
  };

  for (const family of [4, 6] as const) {
    it(`IPv${family}: pass goes down the chain, drop does not, an empty slot passes and is counted`, () => {
      const h = fw();
      h.install({ default_policy: 'pass', rules: [{ id: 'no-telnet', priority: 1, action: 'deny', protocol: 'tcp', dst_port: 23 }] });
      const chain = h.kernel.obj.map('fw_chain', u32Codec, u32Codec);
      const hits = target.map('chain_hits', u32Codec, u64Codec);
      const f = frames[family];

      // Empty slot: the firewall's own verdict stands, and the miss is visible.
      const c0 = h.counters();
      assert.equal(h.verdict(f.allowed), XDP_PASS);
      assert.equal(h.counters().tailcall_miss - c0.tailcall_miss, 1n);

      chain.update(0, target.progFd('xdp_chain_target'));
      try {
        const before = hits.lookup(0)!;
        const c1 = h.counters();
        assert.equal(h.verdict(f.allowed), XDP_TX, 'the chained program decided');
        assert.equal(h.verdict(f.denied), XDP_DROP, 'a drop never reaches the chain');
        assert.equal(hits.lookup(0)! - before, 1n);
        assert.equal(h.counters().tailcall_miss - c1.tailcall_miss, 0n);
      } finally {
        chain.delete(0);
      }
      assert.equal(h.verdict(f.allowed), XDP_PASS, 'slot emptied: back to passing');
    });
  }
});
