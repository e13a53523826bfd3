// xdp-ratelimit as the firewall's tail-call target (fw_chain slot 0, as the engine installs it):
// the object loads as a tail-call target of the same program type, packets the firewall passes
// are metered by it and dropped over the limit, packets the firewall drops never reach it, and
// clearing the slot (rate limiting switched off) passes everything again. IPv4 and IPv6.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { u32Codec } from '../../src/kernel/map.js';
import { tcpFrame, udpFrame } from '../support/frames.js';
import { firewallSkipReason, useFirewall, XDP_DROP, XDP_PASS } from '../support/firewall-harness.js';
import { RatelimitHarness, ratelimitSkipReason } from './ratelimit-harness.js';
import { fw_tail } from '../../src/kernel/contract.gen.js';

const skip = firewallSkipReason() || ratelimitSkipReason();

describe('xdp-firewall -> xdp-ratelimit tail call (test-run)', { skip }, () => {
  const fw = useFirewall();
  let rl: RatelimitHarness;
  before(() => {
    rl = new RatelimitHarness();
  });
  after(() => rl?.close());

  for (const fam of [4, 6] as const) {
    const src = fam === 4 ? '198.18.0.10' : '2001:db8::10';
    const dst = fam === 4 ? '198.18.1.1' : '2001:db8:0:1::1';
    it(`IPv${fam}: passed traffic is metered, denied traffic never reaches the limiter, an empty slot passes`, () => {
      const h = fw();
      h.install({ default_policy: 'pass', rules: [{ id: 'no-telnet', priority: 1, action: 'deny', protocol: 'tcp', dst_port: 23 }] });
      rl.install({ ratelimit: { rules: [{ id: 'cap', src_ip: src, rate: 1, burst: 3 }] } });
      const chain = h.kernel.obj.map('fw_chain', u32Codec, u32Codec);
      chain.update(fw_tail.FW_TAIL_RATELIMIT, rl.kernel.progFd);
      try {
        const ok = udpFrame({ src, dst, sport: 1000, dport: 53 });
        const verdicts = Array.from({ length: 6 }, () => h.verdict(ok));
        assert.deepEqual(verdicts, [XDP_PASS, XDP_PASS, XDP_PASS, XDP_DROP, XDP_DROP, XDP_DROP], 'burst of 3, then over the limit');
        const c0 = rl.counters();
        assert.equal(h.verdict(tcpFrame({ src, dst, sport: 1000, dport: 23 })), XDP_DROP);
        assert.equal(rl.counters().seen - c0.seen, 0n, 'a firewall drop never reaches xdp-ratelimit');
      } finally {
        chain.delete(fw_tail.FW_TAIL_RATELIMIT);
      }
      assert.equal(h.verdict(udpFrame({ src, dst, sport: 1000, dport: 53 })), XDP_PASS, 'slot cleared: no limit');
    });
  }
});
