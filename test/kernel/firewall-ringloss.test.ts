// Event loss is counted, never silent, and never changes a verdict: a tiny ring that nobody
// reads fills up, every further deny still drops, and every record not written is counted as
// backpressure or ring_full. Once the agent drains the ring, events flow again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfigText } from '../../src/catalog.js';
import { compileFirewall } from '../../src/engines/firewall/compile.js';
import { FirewallKernel } from '../../src/engines/firewall/kernel.js';
import { loadNative } from '../../src/kernel/native.js';
import { tcpFrame } from '../support/frames.js';
import { FIREWALL_OBJECT, firewallSkipReason, TEST_RUN_IFINDEX, XDP_DROP } from '../support/firewall-harness.js';

const skip = firewallSkipReason();
const RING = 4096; // the smallest ring: one page

describe('xdp-firewall event loss accounting (test-run)', { skip }, () => {
  let kernel: FirewallKernel;
  const native = skip ? null : loadNative();

  before(() => {
    kernel = FirewallKernel.load({ objectPath: FIREWALL_OBJECT, ringSize: RING });
    const cfg = parseConfigText(
      'agent: { interfaces: [lo] }\nfirewall:\n  default_policy: pass\n  rules:\n    - { id: deny-web, priority: 1, action: deny, protocol: tcp, dst_port: 80 }\n',
      'ringloss.yaml',
    );
    kernel.writer.apply(compileFirewall(cfg.firewall, cfg.resolved.firewall.aliases));
  });
  after(() => kernel?.close());

  for (const family of [4, 6] as const) {
    it(`IPv${family}: a full ring drops no verdict and loses no event silently`, () => {
      const frame =
        family === 4
          ? tcpFrame({ src: '198.18.0.66', dst: '198.18.1.1', sport: 40000, dport: 80 })
          : tcpFrame({ src: '2001:db8::66', dst: '2001:db8:0:1::1', sport: 40000, dport: 80 });
      const before = kernel.readCounters().get(TEST_RUN_IFINDEX);
      const N = 200;
      for (let i = 0; i < N; i++) {
        assert.equal(native!.testRun(kernel.progFd, { data: frame }).retval, XDP_DROP, `packet ${i} must still be dropped`);
      }
      const c = kernel.readCounters().get(TEST_RUN_IFINDEX)!;
      const d = (k: 'events' | 'events_lost_backpressure' | 'events_lost_ring_full' | 'dropped'): number =>
        Number(c[k] - (before?.[k] ?? 0n));
      assert.equal(d('dropped'), N);
      assert.equal(d('events') + d('events_lost_backpressure') + d('events_lost_ring_full'), N, 'every event written or counted as lost');
      assert.ok(d('events_lost_backpressure') + d('events_lost_ring_full') > 0, 'a one-page ring cannot hold 200 records');

      // The agent drains: every record the kernel reported as written arrives, then events flow again.
      let received = 0;
      const ring = native!.ringOpen([kernel.eventsFd], (_batch, count) => (received += count));
      try {
        native!.ringConsume(ring);
        assert.equal(received, d('events'), 'records written = records read');
        const c2 = kernel.readCounters().get(TEST_RUN_IFINDEX)!;
        native!.testRun(kernel.progFd, { data: frame });
        const c3 = kernel.readCounters().get(TEST_RUN_IFINDEX)!;
        assert.equal(Number(c3.events - c2.events), 1, 'after draining, the next drop emits again');
        native!.ringConsume(ring);
      } finally {
        native!.ringClose(ring);
      }
    });
  }
});
