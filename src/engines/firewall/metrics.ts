// xdp-firewall's own Prometheus series: packets and bytes matched per rule (fw_rule_hits, read
// for the rules of the live policy). Per-interface counters go through the program runtime like
// every program's.
import { Counter, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../../metrics/agent-metrics.js';
import { MonotonicSeries } from '../../metrics/monotonic.js';
import { perRegistry } from '../../metrics/per-registry.js';

export interface RuleHit {
  ruleId: string;
  /** absolute packets matched (per-CPU sum) */
  packets: number | bigint;
  /** absolute bytes matched (per-CPU sum) */
  bytes: number | bigint;
}

export class FirewallMetrics {
  private readonly packets = new MonotonicSeries<{ rule_id: string }>(['rule_id']);
  private readonly bytes = new MonotonicSeries<{ rule_id: string }>(['rule_id']);

  /** One per registry: a firewall restarted at runtime keeps counting into the same series
   * (MonotonicSeries absorbs the kernel counters starting again from zero). */
  static readonly for = perRegistry((registry) => new FirewallMetrics(registry));

  private constructor(registry: Registry) {
    const series = (name: string, help: string, s: MonotonicSeries<{ rule_id: string }>): void => {
      new Counter({
        name: `${METRIC_PREFIX}${name}`,
        help,
        labelNames: ['rule_id'],
        registers: [registry],
        collect() {
          this.reset();
          for (const [labels, v] of s.entries()) this.inc(labels, v);
        },
      });
    };
    series('firewall_rule_hits_total', 'Packets matched per firewall rule.', this.packets);
    series('firewall_rule_hit_bytes_total', 'Bytes matched per firewall rule.', this.bytes);
  }

  /** The per-rule hit counters (absolute). Replaces the whole set: a rule missing from `hits`
   * was removed from the policy and its series disappear. */
  setRuleHits(hits: Iterable<RuleHit>): void {
    const seen = new Set<string>();
    for (const h of hits) {
      seen.add(h.ruleId);
      this.packets.observe({ rule_id: h.ruleId }, h.packets);
      this.bytes.observe({ rule_id: h.ruleId }, h.bytes);
    }
    this.packets.remove((l) => !seen.has(l.rule_id));
    this.bytes.remove((l) => !seen.has(l.rule_id));
  }
}
