// Metrics of xdp-ratelimit that are not per interface (rl_stats): cookies validated, buckets
// expired by housekeeping, packets passed unmetered... Per-interface drop reasons go through the
// agent's program_reasons_total like every program's own counter slots.
import { Counter, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../../metrics/agent-metrics.js';
import { MonotonicSeries } from '../../metrics/monotonic.js';
import type { RlStats } from './kernel.js';

const instances = new WeakMap<Registry, RatelimitMetrics>();

export class RatelimitMetrics {
  private readonly stats = new MonotonicSeries<{ stat: string }>(['stat']);
  private readonly stamps: Counter<'outcome'>;

  /** One per registry: an engine restarted by a reload keeps counting into the same series
   * (MonotonicSeries absorbs the kernel counters starting again from zero). */
  static for(registry: Registry): RatelimitMetrics {
    let m = instances.get(registry);
    if (!m) {
      m = new RatelimitMetrics(registry);
      instances.set(registry, m);
    }
    return m;
  }

  private constructor(registry: Registry) {
    const stats = this.stats;
    new Counter({
      name: `${METRIC_PREFIX}ratelimit_stats_total`,
      help: 'xdp-ratelimit events that are not per interface: syncookie_valid, over_limit_passed, syn_not_answered, buckets_expired, bucket_create_failed, cas_exhausted, housekeeping_runs, syn_under_threshold, syn_unstamped.',
      labelNames: ['stat'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, v] of stats.entries()) this.inc(labels, v);
      },
    });
    this.stamps = new Counter({
      name: `${METRIC_PREFIX}ratelimit_listener_stamps_total`,
      help: 'SYNs handed to local TCP listeners on loopback so they keep accepting XDP SYN cookies, by outcome (sent, failed).',
      labelNames: ['outcome'],
      registers: [registry],
    });
  }

  stamped(sent: number, failed: number): void {
    this.stamps.inc({ outcome: 'sent' }, sent);
    this.stamps.inc({ outcome: 'failed' }, failed);
  }

  observe(s: RlStats): void {
    for (const [stat, v] of Object.entries(s)) this.stats.observe({ stat }, v);
  }
}
