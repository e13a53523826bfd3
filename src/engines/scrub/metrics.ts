// tc-scrub's own series: what it did, per interface and action, from the per-CPU scrub_actions
// counters (absolute readings; MonotonicSeries keeps the exported value growing across a map
// that starts again from zero).
import { Counter, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../../metrics/agent-metrics.js';
import { MonotonicSeries } from '../../metrics/monotonic.js';
import { perRegistry } from '../../metrics/per-registry.js';

type Labels = { interface: string; action: string };

export class ScrubMetrics {
  private readonly actions = new MonotonicSeries<Labels>(['interface', 'action']);

  /** One per registry: an engine stopped and started again by reloads keeps the same series. */
  static readonly for = perRegistry((registry) => new ScrubMetrics(registry));

  private constructor(registry: Registry) {
    const actions = this.actions;
    new Counter({
      name: `${METRIC_PREFIX}scrub_actions_total`,
      help: 'Packets tc-scrub acted on, per interface and action (ttl_raised, hop_limit_raised, mss_clamped, df_cleared, ip_id_randomized, tos_rewritten; the TCP flag classes syn_fin, syn_rst, fin_no_ack, null_flags, xmas, reserved_bits; flags_repaired, flags_dropped).',
      labelNames: ['interface', 'action'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, v] of actions.entries()) this.inc(labels, v);
      },
    });
  }

  observe(iface: string, counts: Readonly<Record<string, bigint>>): void {
    for (const [action, v] of Object.entries(counts)) this.actions.observe({ interface: iface, action }, v);
  }
}
