// NAT's own Prometheus series: live translations by rule, the translation table's fill, and new
// flows refused by reason (no free port, table full, no address to masquerade to), summed over
// both programs and every interface. The per-interface counters of each program are exported by
// the runtime (ebpfsentinel_program_reasons_total) as for every program.
import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../../metrics/agent-metrics.js';
import { perRegistry } from '../../metrics/per-registry.js';

export type NatRefusal = 'port_exhausted' | 'table_full' | 'no_address' | 'untranslatable';
export const NAT_REFUSALS: readonly NatRefusal[] = ['port_exhausted', 'table_full', 'no_address', 'untranslatable'];

export class NatMetrics {
  private readonly translations: Gauge<'rule'>;
  private readonly entries: Gauge;
  private readonly maxEntries: Gauge;
  private readonly fill: Gauge;
  private readonly refused: Counter<'reason'>;
  private readonly last = new Map<NatRefusal, number>();
  private ruleLabels = new Set<string>();

  /** One per registry: an engine stopped and started again keeps counting into the same series. */
  static readonly for = perRegistry((registry) => new NatMetrics(registry));

  private constructor(registry: Registry) {
    const p = `${METRIC_PREFIX}nat_`;
    const registers = [registry];
    this.translations = new Gauge({ name: `${p}translations`, help: 'Live translated flows by the NAT rule that made them.', labelNames: ['rule'], registers });
    this.entries = new Gauge({ name: `${p}table_entries`, help: 'Entries in the NAT translation table (two per translated flow).', registers });
    this.maxEntries = new Gauge({ name: `${p}table_max_entries`, help: 'Size of the NAT translation table.', registers });
    this.fill = new Gauge({ name: `${p}table_fill_ratio`, help: 'Translation table entries / size (0..1); at 1 new flows are refused (reason table_full).', registers });
    this.refused = new Counter({
      name: `${p}refused_total`,
      help: 'New flows a NAT rule matched but that could not be translated and were dropped, by reason: port_exhausted (no free port in the range: port allocation failures), table_full, no_address (masquerade interface without an address of the family), untranslatable (a rewrite failed).',
      labelNames: ['reason'],
      registers,
    });
  }

  setTable(entries: number, max: number, byRule: ReadonlyMap<string, number>): void {
    this.entries.set(entries);
    this.maxEntries.set(max);
    this.fill.set(max > 0 ? entries / max : 0);
    for (const r of this.ruleLabels) if (!byRule.has(r)) this.translations.set({ rule: r }, 0);
    for (const [r, n] of byRule) this.translations.set({ rule: r }, n);
    this.ruleLabels = new Set([...this.ruleLabels, ...byRule.keys()]);
  }

  /** Absolute readings of the kernel counters; the series only grows (a reset counts anew). */
  setRefused(totals: Readonly<Record<NatRefusal, number>>): void {
    for (const r of NAT_REFUSALS) {
      const v = totals[r];
      const prev = this.last.get(r) ?? 0;
      const delta = v >= prev ? v - prev : v;
      this.last.set(r, v);
      if (delta > 0) this.refused.inc({ reason: r }, delta);
    }
  }

  /** A new engine's counters start from zero. */
  sourcesRestarted(): void {
    this.last.clear();
  }
}
