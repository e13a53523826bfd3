// Metrics of xdp-ratelimit that are not per interface (rl_stats): cookies validated, buckets
// expired by housekeeping, packets passed unmetered... Per-interface drop reasons go through the
// agent's program_reasons_total like every program's own counter slots.
import { Counter, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../../metrics/agent-metrics.js';
import { MonotonicSeries } from '../../metrics/monotonic.js';
import { perRegistry } from '../../metrics/per-registry.js';
import type { RlStats } from './kernel.js';

export class RatelimitMetrics {
  private readonly stats = new MonotonicSeries<{ stat: string }>(['stat']);

  /** One per registry: an engine restarted by a reload keeps counting into the same series
   * (MonotonicSeries absorbs the kernel counters starting again from zero). */
  static readonly for = perRegistry((registry) => new RatelimitMetrics(registry));

  private constructor(registry: Registry) {
    const stats = this.stats;
    new Counter({
      name: `${METRIC_PREFIX}ratelimit_stats_total`,
      help: 'xdp-ratelimit events that are not per interface: syncookie_valid, syncookie_valid_kernel, over_limit_passed, syn_not_answered, buckets_expired, bucket_create_failed, cas_exhausted, housekeeping_runs, syn_under_threshold, syn_refresh.',
      labelNames: ['stat'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, v] of stats.entries()) this.inc(labels, v);
      },
    });
  }

  observe(s: RlStats): void {
    for (const [stat, v] of Object.entries(s)) this.stats.observe({ stat }, v);
  }
}
