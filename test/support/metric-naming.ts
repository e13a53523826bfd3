// The naming rules every metric the agent exports follows, as a checker the tests run over a
// real scrape (promtool checks the exposition format and its own lints; these are ours):
//  - our metrics start with ebpfsentinel_ (process_* and nodejs_* come from prom-client)
//  - counters end in _total, and nothing else does
//  - base units only: seconds and bytes, spelled out as the last word before _total / _bucket
//  - label names are snake_case and never repeat the metric's own subject
import { METRIC_PREFIX } from '../../src/metrics/agent-metrics.js';

const FOREIGN_PREFIXES = ['process_', 'nodejs_'];
/** Non-base units that must not appear as a name's unit word. */
const BAD_UNITS = /_(ms|millis|milliseconds|us|micros|microseconds|ns|nanoseconds|minutes|hours|days|kb|kib|mb|mib|gb|gib|bits|percent)(_|$)/;

export interface MetricFamily {
  name: string;
  type: string;
  help: string;
  labels: Set<string>;
}

/** Families from a Prometheus text exposition (TYPE/HELP lines and sample label names). */
export function metricFamilies(text: string): MetricFamily[] {
  const fams = new Map<string, MetricFamily>();
  const fam = (name: string): MetricFamily => {
    let f = fams.get(name);
    if (!f) fams.set(name, (f = { name, type: 'untyped', help: '', labels: new Set() }));
    return f;
  };
  for (const line of text.split('\n')) {
    let m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) {
      fam(m[1]!).type = m[2]!;
      continue;
    }
    m = /^# HELP (\S+) (.*)$/.exec(line);
    if (m) {
      fam(m[1]!).help = m[2]!;
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? /.exec(line);
    if (!m) continue;
    let name = m[1]!;
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = name.slice(0, -suffix.length);
      if (name.endsWith(suffix) && fams.get(base)?.type.match(/histogram|summary/)) name = base;
    }
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) if (l[1] !== 'le' && l[1] !== 'quantile') fam(name).labels.add(l[1]!);
  }
  return [...fams.values()];
}

/** Every way `text` breaks the conventions, one line each; empty when it follows them. */
export function namingProblems(text: string): string[] {
  const out: string[] = [];
  for (const f of metricFamilies(text)) {
    if (FOREIGN_PREFIXES.some((p) => f.name.startsWith(p))) continue;
    if (!f.name.startsWith(METRIC_PREFIX)) out.push(`${f.name}: does not start with ${METRIC_PREFIX}`);
    if (f.type === 'counter' && !f.name.endsWith('_total')) out.push(`${f.name}: a counter must end in _total`);
    if (f.type !== 'counter' && f.name.endsWith('_total')) out.push(`${f.name}: only counters end in _total (this is a ${f.type})`);
    if (BAD_UNITS.test(f.name)) out.push(`${f.name}: use base units (seconds, bytes)`);
    if (f.type === 'histogram' && !/_(seconds|bytes|packets|entries|ratio)$/.test(f.name)) out.push(`${f.name}: a histogram names its unit last`);
    if (!f.help) out.push(`${f.name}: no HELP text`);
    for (const l of f.labels) {
      if (!/^[a-z][a-z0-9_]*$/.test(l)) out.push(`${f.name}: label "${l}" is not snake_case`);
      if (l.startsWith('__')) out.push(`${f.name}: label "${l}" is reserved`);
    }
  }
  return out;
}
