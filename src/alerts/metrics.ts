// Prometheus series of the alert pipeline, registered on the registry the agent passes in.
// The event path only bumps plain numbers in objects resolved once per engine or sink; the
// series are built from them in collect() at scrape time, so a push costs no label hashing.
// The alert_* series count alerts, as they always have; the record_* series count every kind
// (alerts included) with a `kind` label, so a DNS flood shows as DNS, not as alerts.
import { Counter, Gauge, type Registry } from 'prom-client';
import { SEVERITIES, type Severity } from './model.js';
import { RECORD_KINDS, type RecordKind } from './records.js';

const P = 'ebpfsentinel_';

export type SuppressReason = 'dedup' | 'throttle';
export type CircuitState = 'closed' | 'open' | 'half_open';
const CIRCUIT_STATES: readonly CircuitState[] = ['closed', 'open', 'half_open'];

/** What one sink reports; a sink never needs to know about Prometheus. */
export interface SinkMetrics {
  delivered(kind: RecordKind, n: number): void;
  failed(reason: string): void;
  dropped(reason: string, kind: RecordKind, n: number): void;
  /** a record its route did not offer to it (kind, severity or engine filter) */
  skipped(kind: RecordKind, reason: string): void;
  queueLength(n: number): void;
  circuit(state: CircuitState): void;
}

interface KindState {
  delivered: number;
  dropped: Map<string, number>;
  skipped: Map<string, number>;
}

interface SinkState {
  capacity: number;
  queue: number;
  /** per kind; the kinds the sink's route takes exist (at 0) from the start */
  kinds: Map<RecordKind, KindState>;
  failures: Map<string, number>;
  circuit: CircuitState;
}

const newKindState = (): KindState => ({ delivered: 0, dropped: new Map([['queue_full', 0]]), skipped: new Map() });

export class AlertMetrics {
  /** per engine: counts indexed like SEVERITIES */
  private readonly raisedBy = new Map<string, number[]>();
  /** per engine: records handed to the pipeline, indexed like RECORD_KINDS */
  private readonly recordsBy = new Map<string, number[]>();
  private readonly suppressed: Record<SuppressReason, number> = { dedup: 0, throttle: 0 };
  private readonly sinks = new Map<string, SinkState>();
  private errors = 0;

  constructor(registry: Registry) {
    const registers = [registry];
    const self = this;
    new Counter({
      name: `${P}alerts_total`,
      help: 'Alerts raised by the engines, before dedup and throttle.',
      labelNames: ['engine', 'severity'],
      registers,
      collect() {
        this.reset();
        for (const [engine, row] of self.raisedBy) SEVERITIES.forEach((severity, i) => this.inc({ engine, severity }, row[i]!));
      },
    });
    new Counter({
      name: `${P}alerts_suppressed_total`,
      help: 'Alerts not emitted: dedup (same key within the dedup window) or throttle (over throttle_max per key per window).',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const reason of ['dedup', 'throttle'] as const) this.inc({ reason }, self.suppressed[reason]);
      },
    });
    new Counter({
      name: `${P}records_total`,
      help: 'Records the engines handed to the pipeline, by kind (alert, dns, flow, anomaly, dlp); alerts before dedup and throttle.',
      labelNames: ['kind', 'engine'],
      registers,
      collect() {
        this.reset();
        for (const [engine, row] of self.recordsBy) RECORD_KINDS.forEach((kind, i) => row[i] && this.inc({ kind, engine }, row[i]));
      },
    });
    // alerts only: these series meant alerts before the pipeline carried other kinds
    new Counter({
      name: `${P}alert_sink_deliveries_total`,
      help: 'Alerts a sink delivered.',
      labelNames: ['sink'],
      registers,
      collect() {
        this.reset();
        for (const [sink, s] of self.sinks) this.inc({ sink }, s.kinds.get('alert')?.delivered ?? 0);
      },
    });
    new Counter({
      name: `${P}alert_sink_failures_total`,
      help: 'Failed delivery attempts of a sink (an attempt may be retried).',
      labelNames: ['sink', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const [sink, s] of self.sinks) for (const [reason, v] of s.failures) this.inc({ sink, reason }, v);
      },
    });
    new Counter({
      name: `${P}alert_sink_dropped_total`,
      help: 'Alerts a sink gave up on: queue_full, retries_exhausted, rejected, write_error, closed.',
      labelNames: ['sink', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const [sink, s] of self.sinks) for (const [reason, v] of s.kinds.get('alert')?.dropped ?? []) this.inc({ sink, reason }, v);
      },
    });
    new Counter({
      name: `${P}record_sink_written_total`,
      help: 'Records of each kind a sink delivered (alerts included).',
      labelNames: ['sink', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const [sink, s] of self.sinks) for (const [kind, k] of s.kinds) this.inc({ sink, kind }, k.delivered);
      },
    });
    new Counter({
      name: `${P}record_sink_dropped_total`,
      help: 'Records of each kind a sink gave up on, by reason (as alert_sink_dropped_total).',
      labelNames: ['sink', 'kind', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const [sink, s] of self.sinks) for (const [kind, k] of s.kinds) for (const [reason, v] of k.dropped) this.inc({ sink, kind, reason }, v);
      },
    });
    new Counter({
      name: `${P}record_sink_skipped_total`,
      help: 'Records a sink\'s route did not offer to it, by kind and reason: kind (the sink does not take that kind), severity (an alert below its min_severity), engine (not in its event_types). Not a loss: the filter the config asked for.',
      labelNames: ['sink', 'kind', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const [sink, s] of self.sinks) for (const [kind, k] of s.kinds) for (const [reason, v] of k.skipped) this.inc({ sink, kind, reason }, v);
      },
    });
    const gauge = (name: string, help: string, pick: (s: SinkState) => number): void => {
      new Gauge({
        name: `${P}${name}`,
        help,
        labelNames: ['sink'],
        registers,
        collect() {
          this.reset();
          for (const [sink, s] of self.sinks) this.set({ sink }, pick(s));
        },
      });
    };
    gauge('alert_sink_queue_length', 'Records (every kind) waiting in a sink queue.', (s) => s.queue);
    gauge('alert_sink_queue_capacity', 'Bound of a sink queue.', (s) => s.capacity);
    new Gauge({
      name: `${P}alert_sink_circuit_state`,
      help: 'Circuit breaker state of a sink: 1 for the current state, 0 for the others.',
      labelNames: ['sink', 'state'],
      registers,
      collect() {
        this.reset();
        for (const [sink, s] of self.sinks) for (const state of CIRCUIT_STATES) this.set({ sink, state }, s.circuit === state ? 1 : 0);
      },
    });
    new Counter({
      name: `${P}alert_pipeline_errors_total`,
      help: 'Records the pipeline failed to process because of an internal error (the record is lost).',
      registers,
      collect() {
        this.reset();
        this.inc(self.errors);
      },
    });
  }

  raised(engine: string, severity: Severity): void {
    let row = this.raisedBy.get(engine);
    if (!row) {
      row = SEVERITIES.map(() => 0);
      this.raisedBy.set(engine, row);
    }
    // SEVERITIES is tiny; indexOf beats building a lookup key
    row[SEVERITIES.indexOf(severity)]!++;
  }

  /** One record of any kind handed to the pipeline (alerts are also counted by raised()). */
  record(engine: string, kind: RecordKind): void {
    let row = this.recordsBy.get(engine);
    if (!row) {
      row = RECORD_KINDS.map(() => 0);
      this.recordsBy.set(engine, row);
    }
    row[RECORD_KINDS.indexOf(kind)]!++;
  }

  suppress(reason: SuppressReason): void {
    this.suppressed[reason]++;
  }

  internalError(): void {
    this.errors++;
  }

  /** The handle a sink reports through; its series exist (at 0) from now on, for `kinds` (the
   * kinds its route takes). A sink re-made under the same name (config reload) continues its
   * counters: they never go backwards. */
  sink(name: string, capacity: number, kinds: readonly RecordKind[] = RECORD_KINDS): SinkMetrics {
    let s = this.sinks.get(name);
    if (s) {
      s.capacity = capacity;
      s.queue = 0;
      s.circuit = 'closed';
    } else {
      s = { capacity, queue: 0, kinds: new Map(), failures: new Map(), circuit: 'closed' };
      this.sinks.set(name, s);
    }
    const st = s;
    for (const k of kinds) if (!st.kinds.has(k)) st.kinds.set(k, newKindState());
    const kind = (k: RecordKind): KindState => {
      let ks = st.kinds.get(k);
      if (!ks) {
        ks = newKindState();
        st.kinds.set(k, ks);
      }
      return ks;
    };
    return {
      delivered: (k, n) => {
        kind(k).delivered += n;
      },
      failed: (reason) => {
        st.failures.set(reason, (st.failures.get(reason) ?? 0) + 1);
      },
      dropped: (reason, k, n) => {
        const d = kind(k).dropped;
        d.set(reason, (d.get(reason) ?? 0) + n);
      },
      skipped: (k, reason) => {
        const d = kind(k).skipped;
        d.set(reason, (d.get(reason) ?? 0) + 1);
      },
      queueLength: (n) => {
        st.queue = n;
      },
      circuit: (state) => {
        st.circuit = state;
      },
    };
  }
}
