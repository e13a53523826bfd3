// A reader for the Prometheus text format the agent serves on /metrics: enough to pick samples
// by name and labels (the demo's summary and the e2e tests' deltas), nothing more.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL_RE = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

export class PromParseError extends Error {}

function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = LINE_RE.exec(line);
    if (!m) throw new PromParseError(`metrics line ${i + 1} is not a sample: ${line.slice(0, 200)}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    LABEL_RE.lastIndex = 0;
    let consumed = 0;
    for (let lm = LABEL_RE.exec(body); lm; lm = LABEL_RE.exec(body)) {
      labels[lm[1]!] = unescapeLabel(lm[2]!);
      consumed = LABEL_RE.lastIndex;
    }
    if (consumed !== body.length) throw new PromParseError(`metrics line ${i + 1} has malformed labels: ${line.slice(0, 200)}`);
    const v = m[3]!;
    // prom-client writes NaN as "Nan": the spellings are compared case-insensitively.
    const lower = v.toLowerCase();
    const value = lower === '+inf' || lower === 'inf' ? Infinity : lower === '-inf' ? -Infinity : lower === 'nan' ? NaN : Number(v);
    if (Number.isNaN(value) && lower !== 'nan') throw new PromParseError(`metrics line ${i + 1} has a bad value: ${line.slice(0, 200)}`);
    out.push({ name: m[1]!, labels, value });
  });
  return out;
}

/** The samples of one scrape, looked up by name and a subset of labels. */
export class MetricsSnapshot {
  constructor(readonly samples: readonly Sample[]) {}

  static parse(text: string): MetricsSnapshot {
    return new MetricsSnapshot(parsePrometheusText(text));
  }

  all(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }

  /** The one sample matching; undefined when none. Throws when several match (ambiguous lookup). */
  get(name: string, labels: Record<string, string> = {}): number | undefined {
    const found = this.all(name, labels);
    if (found.length > 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${found.length} samples`);
    return found[0]?.value;
  }

  /** Like get(), 0 when absent (a counter nobody has touched yet). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.get(name, labels) ?? 0;
  }

  /** Sum over every sample matching. */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.all(name, labels).reduce((a, s) => a + s.value, 0);
  }
}
