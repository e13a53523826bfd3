// Kernel counters are absolute per-CPU sums read from maps. Prometheus counters must never go
// backwards, yet a map that is recreated (program reloaded without its pin, agent restarted
// with a fresh object) starts again from zero. This keeps, per label set, the last absolute
// reading and an offset that absorbs every such reset, so the exported value only grows.

export type LabelValues = Record<string, string>;

interface Series<L extends LabelValues> {
  labels: L;
  last: number;
  offset: number;
}

export class MonotonicSeries<L extends LabelValues> {
  private readonly series = new Map<string, Series<L>>();

  constructor(private readonly labelNames: readonly (keyof L & string)[]) {}

  private key(labels: L): string {
    // label order fixed by labelNames so {a,b} and {b,a} are the same series
    return JSON.stringify(this.labelNames.map((n) => labels[n]));
  }

  /** Records an absolute reading. A reading below the previous one means the source was reset:
   * what was counted before the reset is kept in the offset. */
  observe(labels: L, raw: number | bigint): void {
    const value = typeof raw === 'bigint' ? Number(raw) : raw;
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`counter reading for ${this.key(labels)} must be a finite number >= 0, got ${String(raw)}`);
    }
    const k = this.key(labels);
    const s = this.series.get(k);
    if (!s) {
      this.series.set(k, { labels: { ...labels }, last: value, offset: 0 });
      return;
    }
    if (value < s.last) s.offset += s.last;
    s.last = value;
  }

  /** Exported (monotonic) value of one series, undefined when never observed. */
  value(labels: L): number | undefined {
    const s = this.series.get(this.key(labels));
    return s ? s.offset + s.last : undefined;
  }

  /** Drops series, e.g. when a program is detached from an interface or a rule is deleted. */
  remove(match: (labels: L) => boolean): number {
    let n = 0;
    for (const [k, s] of this.series) {
      if (match(s.labels)) {
        this.series.delete(k);
        n++;
      }
    }
    return n;
  }

  *entries(): IterableIterator<[L, number]> {
    for (const s of this.series.values()) yield [s.labels, s.offset + s.last];
  }

  get size(): number {
    return this.series.size;
  }
}
