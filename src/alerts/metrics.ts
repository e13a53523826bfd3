// Prometheus series of the alert pipeline, registered on the registry the agent passes in.
// The event path only bumps plain numbers in objects resolved once per engine or sink; the
// series are built from them in collect() at scrape time, so a push costs no label hashing.
import { Counter, Gauge, type Registry } from 'prom-client';
import { SEVERITIES, type Severity } from './model.js';

const P = 'ebpfsentinel_';

export type SuppressReason = 'dedup' | 'throttle';
export type CircuitState = 'closed' | 'open' | 'half_open';
export const CIRCUIT_STATES: readonly CircuitState[] = ['closed', 'open', 'half_open'];

/** What one sink reports; a sink never needs to know about Prometheus. */
export interface SinkMetrics {
  delivered(n: number): void;
  failed(reason: string): void;
  dropped(reason: string, n: number): void;
  queueLength(n: number): void;
  circuit(state: CircuitState): void;
}

interface SinkState {
  capacity: number;
  queue: number;
  delivered: number;
  failures: Map<string, number>;
  dropped: Map<string, number>;
  circuit: CircuitState;
}

export class AlertMetrics {
  /** per engine: counts indexed like SEVERITIES */
  private readonly raisedBy = new Map<string, number[]>();
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
    const perSink = (name: string, help: string, pick: (s: SinkState) => number): void => {
      new Counter({
        name: `${P}${name}`,
        help,
        labelNames: ['sink'],
        registers,
        collect() {
          this.reset();
          for (const [sink, s] of self.sinks) this.inc({ sink }, pick(s));
        },
      });
    };
    perSink('alert_sink_deliveries_total', 'Alerts a sink delivered.', (s) => s.delivered);
    const perReason = (name: string, help: string, pick: (s: SinkState) => Map<string, number>): void => {
      new Counter({
        name: `${P}${name}`,
        help,
        labelNames: ['sink', 'reason'],
        registers,
        collect() {
          this.reset();
          for (const [sink, s] of self.sinks) for (const [reason, v] of pick(s)) this.inc({ sink, reason }, v);
        },
      });
    };
    perReason('alert_sink_failures_total', 'Failed delivery attempts of a sink (an attempt may be retried).', (s) => s.failures);
    perReason('alert_sink_dropped_total', 'Alerts a sink gave up on: queue_full, retries_exhausted, rejected, write_error, closed.', (s) => s.dropped);
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
    gauge('alert_sink_queue_length', 'Alerts waiting in a sink queue.', (s) => s.queue);
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
      help: 'Alerts the pipeline failed to process because of an internal error (the alert is lost).',
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

  suppress(reason: SuppressReason): void {
    this.suppressed[reason]++;
  }

  internalError(): void {
    this.errors++;
  }

  /** The handle a sink reports through; its series exist (at 0) from now on. A sink re-made
   * under the same name (config reload) continues its counters: they never go backwards. */
  sink(name: string, capacity: number): SinkMetrics {
    let s = this.sinks.get(name);
    if (s) {
      s.capacity = capacity;
      s.queue = 0;
      s.circuit = 'closed';
    } else {
      s = { capacity, queue: 0, delivered: 0, failures: new Map(), dropped: new Map([['queue_full', 0]]), circuit: 'closed' };
      this.sinks.set(name, s);
    }
    const st = s;
    return {
      delivered: (n) => {
        st.delivered += n;
      },
      failed: (reason) => {
        st.failures.set(reason, (st.failures.get(reason) ?? 0) + 1);
      },
      dropped: (reason, n) => {
        st.dropped.set(reason, (st.dropped.get(reason) ?? 0) + n);
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
