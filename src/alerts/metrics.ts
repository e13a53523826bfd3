// Prometheus series of the alert pipeline, registered on the registry the agent passes in.
// Children are cached per label set so the event path bumps a counter without building label
// objects each time.
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

export class AlertMetrics {
  private readonly alerts: Counter<'engine' | 'severity'>;
  private readonly suppressed: Counter<'reason'>;
  private readonly deliveries: Counter<'sink'>;
  private readonly failures: Counter<'sink' | 'reason'>;
  private readonly drops: Counter<'sink' | 'reason'>;
  private readonly queue: Gauge<'sink'>;
  private readonly capacity: Gauge<'sink'>;
  private readonly circuitState: Gauge<'sink' | 'state'>;
  private readonly errors: Counter;
  private readonly perEngine = new Map<string, Counter.Internal[]>();
  private readonly suppressedBy: Record<SuppressReason, Counter.Internal>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.alerts = new Counter({
      name: `${P}alerts_total`,
      help: 'Alerts raised by the engines, before dedup and throttle.',
      labelNames: ['engine', 'severity'],
      registers,
    });
    this.suppressed = new Counter({
      name: `${P}alerts_suppressed_total`,
      help: 'Alerts not emitted: dedup (identical key within the dedup window) or throttle (over throttle_max per key per window).',
      labelNames: ['reason'],
      registers,
    });
    this.deliveries = new Counter({ name: `${P}alert_sink_deliveries_total`, help: 'Alerts a sink delivered.', labelNames: ['sink'], registers });
    this.failures = new Counter({
      name: `${P}alert_sink_failures_total`,
      help: 'Failed delivery attempts of a sink (an attempt may be retried).',
      labelNames: ['sink', 'reason'],
      registers,
    });
    this.drops = new Counter({
      name: `${P}alert_sink_dropped_total`,
      help: 'Alerts a sink gave up on: queue_full, retries_exhausted, rejected, write_error, closed.',
      labelNames: ['sink', 'reason'],
      registers,
    });
    this.queue = new Gauge({ name: `${P}alert_sink_queue_length`, help: 'Alerts waiting in a sink queue.', labelNames: ['sink'], registers });
    this.capacity = new Gauge({ name: `${P}alert_sink_queue_capacity`, help: 'Bound of a sink queue.', labelNames: ['sink'], registers });
    this.circuitState = new Gauge({
      name: `${P}alert_sink_circuit_state`,
      help: 'Circuit breaker state of a sink: 1 for the current state, 0 for the others.',
      labelNames: ['sink', 'state'],
      registers,
    });
    this.errors = new Counter({
      name: `${P}alert_pipeline_errors_total`,
      help: 'Alerts the pipeline failed to process because of an internal error (the alert is lost).',
      registers,
    });
    this.errors.inc(0);
    this.suppressedBy = { dedup: this.suppressed.labels('dedup'), throttle: this.suppressed.labels('throttle') };
    this.suppressedBy.dedup.inc(0);
    this.suppressedBy.throttle.inc(0);
  }

  raised(engine: string, severity: Severity): void {
    let row = this.perEngine.get(engine);
    if (!row) {
      row = SEVERITIES.map((s) => this.alerts.labels(engine, s));
      this.perEngine.set(engine, row);
    }
    row[SEVERITIES.indexOf(severity)]?.inc();
  }

  suppress(reason: SuppressReason): void {
    this.suppressedBy[reason].inc();
  }

  internalError(): void {
    this.errors.inc();
  }

  /** The handle a sink reports through; series start at 0 so dashboards see every sink. */
  sink(name: string, capacity: number): SinkMetrics {
    const delivered = this.deliveries.labels(name);
    delivered.inc(0);
    const queue = this.queue.labels(name);
    queue.set(0);
    this.capacity.labels(name).set(capacity);
    const states = CIRCUIT_STATES.map((s) => this.circuitState.labels(name, s));
    const failures = new Map<string, Counter.Internal>();
    const drops = new Map<string, Counter.Internal>();
    const child = (m: Map<string, Counter.Internal>, c: Counter<'sink' | 'reason'>, reason: string): Counter.Internal => {
      let x = m.get(reason);
      if (!x) {
        x = c.labels(name, reason);
        m.set(reason, x);
      }
      return x;
    };
    child(drops, this.drops, 'queue_full').inc(0);
    const sm: SinkMetrics = {
      delivered: (n) => delivered.inc(n),
      failed: (reason) => child(failures, this.failures, reason).inc(),
      dropped: (reason, n) => child(drops, this.drops, reason).inc(n),
      queueLength: (n) => queue.set(n),
      circuit: (state) => CIRCUIT_STATES.forEach((s, i) => states[i]!.set(s === state ? 1 : 0)),
    };
    sm.circuit('closed');
    return sm;
  }
}
