// tc-threatintel's own series beside the runtime's per-interface counters (which carry bloom
// hits, false positives, matches, quarantines as program_reasons_total): feed fetches by outcome,
// indicators loaded per feed and type, what feeds held that was not loaded, generation swaps and
// how long the last one took, and alerts whose generation was no longer known.
import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../../metrics/agent-metrics.js';
import { perRegistry } from '../../metrics/per-registry.js';

export class ThreatIntelMetrics {
  readonly fetches: Counter<'feed' | 'outcome'>;
  readonly indicators: Gauge<'feed' | 'type'>;
  readonly skipped: Gauge<'feed' | 'reason'>;
  readonly feedUp: Gauge<'feed'>;
  readonly swaps: Counter<'result'>;
  readonly swapSeconds: Gauge;
  readonly kernelEntries: Gauge<'kind'>;
  readonly unknownGeneration: Counter;

  /** One per registry: an engine stopped and started by reloads keeps its series. */
  static readonly for = perRegistry((registry) => new ThreatIntelMetrics(registry));

  private constructor(registry: Registry) {
    const p = `${METRIC_PREFIX}threatintel_`;
    const registers = [registry];
    this.fetches = new Counter({ name: `${p}feed_fetches_total`, help: 'Feed fetches by outcome: changed, unchanged, error (an error keeps the previous indicators).', labelNames: ['feed', 'outcome'], registers });
    this.indicators = new Gauge({ name: `${p}feed_indicators`, help: 'Indicators of the last good content of each feed, by type (ip, domain, url, hash).', labelNames: ['feed', 'type'], registers });
    this.skipped = new Gauge({ name: `${p}feed_skipped`, help: 'Entries of the last good content of each feed that are not indicators, by reason.', labelNames: ['feed', 'reason'], registers });
    this.feedUp = new Gauge({ name: `${p}feed_up`, help: '1 when the last fetch of the feed succeeded, 0 when it failed (its previous indicators apply).', labelNames: ['feed'], registers });
    this.swaps = new Counter({ name: `${p}generation_swaps_total`, help: 'Indicator-set generations built and flipped to (ok) or refused (error, the previous one stays).', labelNames: ['result'], registers });
    this.swapSeconds = new Gauge({ name: `${p}generation_swap_seconds`, help: 'Time the last generation took to build and flip in the kernel.', registers });
    this.kernelEntries = new Gauge({ name: `${p}kernel_entries`, help: 'Entries of the active generation: exact addresses (v4, v6) and networks (net4, net6).', labelNames: ['kind'], registers });
    this.unknownGeneration = new Counter({ name: `${p}events_unknown_generation_total`, help: 'Matches whose generation was replaced twice before their event was read: counted, no alert.', registers });
  }
}
