// The agent's Prometheus registry. The composition root pushes what it reads from the kernel
// (absolute counter snapshots, map fill levels, attachment state) and what userspace counts
// itself (events received, losses, alerts written); this module turns that into metrics with
// Prometheus semantics: counters only grow, gauges say the current state.
//
// Every metric is rebuilt from this module's own state in collect(), so a scrape always shows
// one coherent snapshot and nothing here depends on the order in which updates arrive.
import { Counter, Gauge, Registry, collectDefaultMetrics, type CounterConfiguration } from 'prom-client';
import { MonotonicSeries } from './monotonic.js';

export const METRIC_PREFIX = 'ebpfsentinel_';

const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total', 'nodejs_active_handles', 'nodejs_active_requests', 'nodejs_active_resources'];

/** Absolute per-CPU sums of one program's counter block on one interface (counters.h). */
export interface KernelCounters {
  seen: number | bigint;
  passed: number | bigint;
  dropped: number | bigint;
  malformed: number | bigint;
  nonIp: number | bigint;
  bytesSeen: number | bigint;
  /** ring-buffer records submitted */
  events: number | bigint;
  /** bpf_ringbuf_reserve failed */
  eventsLostFull: number | bigint;
  /** skipped because the ring was above its high-water mark */
  eventsLostBackpressure: number | bigint;
  /** program-specific slots by name, e.g. { rule_hit: 10, default_policy: 3 } */
  extra?: Record<string, number | bigint>;
}

/** Loss reasons counted in userspace (the kernel ones are ring_full and backpressure). */
const USERSPACE_LOSS_REASONS = ['decode_error', 'queue_full', 'sink_error'] as const;
export type UserspaceLossReason = (typeof USERSPACE_LOSS_REASONS)[number];
const KERNEL_LOSS_REASONS = ['ring_full', 'backpressure'] as const;
export type LossReason = UserspaceLossReason | (typeof KERNEL_LOSS_REASONS)[number];

export type HookKind = 'xdp' | 'tc-ingress' | 'tc-egress' | 'uprobe' | 'uretprobe';

/** What an alert sink reports; AgentMetrics implements it so sinks need not know Prometheus. */
export interface AlertSinkObserver {
  alertsWritten(sink: string, n: number): void;
  userspaceLoss(program: string, reason: UserspaceLossReason, n: number): void;
}

export interface AgentMetricsOptions {
  /** agent version, exported as ebpfsentinel_build_info{version} */
  version?: string;
  /** process_* and nodejs_* metrics from prom-client; default true */
  defaultMetrics?: boolean;
  /** told about a refresh hook that threw (the scrape still succeeds with the last values) */
  onRefreshError?: (err: unknown) => void;
}

type ProgIface = { program: string; interface: string };

/** Kernel series exported per program (summed over interfaces) rather than per interface. */
const PER_PROGRAM_SUMS = ['events', 'lostFull', 'lostBackpressure'] as const;

function bump(map: Map<string, number>, key: string, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

function checkCount(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${what}: count must be an integer >= 0, got ${n}`);
}

export class AgentMetrics implements AlertSinkObserver {
  readonly registry = new Registry();
  readonly contentType: string = this.registry.contentType;

  private readonly kernel = {
    seen: new MonotonicSeries<ProgIface>(['program', 'interface']),
    passed: new MonotonicSeries<ProgIface>(['program', 'interface']),
    dropped: new MonotonicSeries<ProgIface>(['program', 'interface']),
    malformed: new MonotonicSeries<ProgIface>(['program', 'interface']),
    nonIp: new MonotonicSeries<ProgIface>(['program', 'interface']),
    bytesSeen: new MonotonicSeries<ProgIface>(['program', 'interface']),
    events: new MonotonicSeries<ProgIface>(['program', 'interface']),
    lostFull: new MonotonicSeries<ProgIface>(['program', 'interface']),
    lostBackpressure: new MonotonicSeries<ProgIface>(['program', 'interface']),
  };
  private readonly extra = new MonotonicSeries<ProgIface & { counter: string }>(['program', 'interface', 'counter']);
  /** key: JSON [program, reason] */
  private readonly userLoss = new Map<string, number>();
  private readonly received = new Map<string, number>();
  private readonly written = new Map<string, number>();
  /** key: JSON [program, map] */
  private readonly maps = new Map<string, { entries: number; capacity: number }>();
  /** key: JSON [program, interface, hook] */
  private readonly attached = new Map<string, boolean>();
  private readonly probes = new Map<string, boolean>();
  /** per program: pinned maps kept / started fresh and attachments taken over at its start */
  private readonly adoption = new Map<string, { kept: number; fresh: number; links: number }>();
  /** per-program totals of interfaces that were forgotten, so per-program sums never shrink;
   * key: JSON [series name, program] */
  private readonly retired = new Map<string, number>();
  private refreshErrors = 0;
  private readonly hooks: (() => void | Promise<void>)[] = [];

  constructor(private readonly opts: AgentMetricsOptions = {}) {
    const r = this.registry;
    const perIface = (name: string, help: string, s: MonotonicSeries<ProgIface>): void => {
      this.counter(name, help, ['program', 'interface'], () => s.entries());
    };
    perIface('packets_seen_total', 'Packets a program ran on (kernel counter, summed over CPUs).', this.kernel.seen);
    perIface('packets_passed_total', 'Packets a program passed, including log verdicts.', this.kernel.passed);
    perIface('packets_dropped_total', 'Packets a program dropped.', this.kernel.dropped);
    perIface('packets_malformed_total', 'Truncated or invalid packets (verdict documented per program).', this.kernel.malformed);
    perIface('packets_non_ip_total', 'Packets that were neither IPv4 nor IPv6, passed untouched.', this.kernel.nonIp);
    perIface('bytes_seen_total', 'Bytes of every packet a program ran on.', this.kernel.bytesSeen);
    this.counter('program_reasons_total', 'Packets per program-specific reason slot (e.g. rule_hit, default_policy), from the kernel counters.', ['program', 'interface', 'counter'], () =>
      this.extra.entries(),
    );
    this.counter('events_total', 'Ring-buffer records submitted by the kernel program.', ['program'], () =>
      this.sumByProgram('events'),
    );
    this.counter('events_received_total', 'Ring-buffer records the agent read from the kernel.', ['program'], () =>
      [...this.received].map(([program, v]) => [{ program }, v] as [{ program: string }, number]),
    );
    this.counter('events_lost_total', 'Events lost, by where: ring_full and backpressure in the kernel; decode_error, queue_full, sink_error in the agent.', ['program', 'reason'], () =>
      this.lossEntries(),
    );
    this.counter('alerts_written_total', 'Alerts written by a sink.', ['sink'], () =>
      [...this.written].map(([sink, v]) => [{ sink }, v] as [{ sink: string }, number]),
    );
    this.counter('metrics_refresh_errors_total', 'Scrape-time refreshes of kernel readings that failed.', [], () => [[{}, this.refreshErrors]]);

    const maps = this.maps;
    const mapGauge = (name: string, help: string, pick: (v: { entries: number; capacity: number }) => number): void => {
      new Gauge({
        name: `${METRIC_PREFIX}${name}`,
        help,
        labelNames: ['program', 'map'],
        registers: [r],
        collect() {
          this.reset();
          for (const [k, v] of maps) {
            const [program, map] = JSON.parse(k) as [string, string];
            this.set({ program, map }, pick(v));
          }
        },
      });
    };
    mapGauge('map_entries', 'Entries currently in a BPF map (hash-like maps; arrays report their size).', (v) => v.entries);
    mapGauge('map_capacity', 'max_entries of a BPF map.', (v) => v.capacity);
    const attached = this.attached;
    new Gauge({
      name: `${METRIC_PREFIX}program_attached`,
      help: '1 when the program is attached to the interface at this hook, 0 when it should be and is not.',
      labelNames: ['program', 'interface', 'hook'],
      registers: [r],
      collect() {
        this.reset();
        for (const [k, v] of attached) {
          const [program, iface, hook] = JSON.parse(k) as [string, string, string];
          this.set({ program, interface: iface, hook }, v ? 1 : 0);
        }
      },
    });
    const probes = this.probes;
    new Gauge({
      name: `${METRIC_PREFIX}probe_attached`,
      help: '1 when the program is attached to the function (symbol) of the binary or library at this hook (uprobe, uretprobe), 0 when it should be and is not; pid is "" for every process.',
      labelNames: ['program', 'binary', 'symbol', 'pid', 'hook'],
      registers: [r],
      collect() {
        this.reset();
        for (const [k, v] of probes) {
          const [program, binary, symbol, pid, hook] = JSON.parse(k) as [string, string, string, string, string];
          this.set({ program, binary, symbol, pid, hook }, v ? 1 : 0);
        }
      },
    });
    const adoption = this.adoption;
    new Gauge({
      name: `${METRIC_PREFIX}adopted_maps`,
      help: 'Pinned maps a previous agent left, at this program\'s start: kept with their contents (same layout), or started fresh (layout or size changed).',
      labelNames: ['program', 'outcome'],
      registers: [r],
      collect() {
        this.reset();
        for (const [program, a] of adoption) {
          this.set({ program, outcome: 'kept' }, a.kept);
          this.set({ program, outcome: 'fresh' }, a.fresh);
        }
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}adopted_attachments`,
      help: 'Attachments a previous agent left that this program took over at its start (program replaced in place).',
      labelNames: ['program'],
      registers: [r],
      collect() {
        this.reset();
        for (const [program, a] of adoption) this.set({ program }, a.links);
      },
    });
    const info = new Gauge({
      name: `${METRIC_PREFIX}build_info`,
      help: 'Always 1; the agent version as a label.',
      labelNames: ['version'],
      registers: [r],
    });
    info.set({ version: opts.version ?? 'unknown' }, 1);

    if (opts.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: r });
      // prom-client exports these gauges with a _total suffix, which promtool (rightly) flags:
      // replaced by one correctly named gauge
      for (const n of MISNAMED_DEFAULTS) r.removeSingleMetric(n);
      new Gauge({
        name: 'nodejs_active_resources',
        help: 'Resources (handles, requests, timers) keeping the Node.js event loop alive.',
        registers: [r],
        collect() {
          this.set(process.getActiveResourcesInfo().length);
        },
      });
    }
  }

  private counter<L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    source: () => Iterable<[Partial<Record<L, string>>, number]>,
  ): void {
    const cfg: CounterConfiguration<L> = {
      name: METRIC_PREFIX + name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, v] of source()) this.inc(labels, v);
      },
    };
    new Counter(cfg);
  }

  private *lossEntries(): IterableIterator<[{ program: string; reason: string }, number]> {
    for (const [labels, v] of this.sumByProgram('lostFull')) yield [{ program: labels.program, reason: 'ring_full' }, v];
    for (const [labels, v] of this.sumByProgram('lostBackpressure')) yield [{ program: labels.program, reason: 'backpressure' }, v];
    for (const [k, v] of this.userLoss) {
      const [program, reason] = JSON.parse(k) as [string, string];
      yield [{ program, reason }, v];
    }
  }

  /** Per-program total of a per-interface series, including interfaces since forgotten. */
  private sumByProgram(name: (typeof PER_PROGRAM_SUMS)[number]): [{ program: string }, number][] {
    const totals = new Map<string, number>();
    for (const [k, v] of this.retired) {
      const [n, program] = JSON.parse(k) as [string, string];
      if (n === name) bump(totals, program, v);
    }
    for (const [l, v] of this.kernel[name].entries()) bump(totals, l.program, v);
    return [...totals].map(([program, v]) => [{ program }, v]);
  }

  // --- what the composition root calls ---------------------------------------------------

  /** One program's absolute counters on one interface, as just read from its per-CPU map. */
  setKernelSnapshot(program: string, iface: string, c: KernelCounters): void {
    const l = { program, interface: iface };
    this.kernel.seen.observe(l, c.seen);
    this.kernel.passed.observe(l, c.passed);
    this.kernel.dropped.observe(l, c.dropped);
    this.kernel.malformed.observe(l, c.malformed);
    this.kernel.nonIp.observe(l, c.nonIp);
    this.kernel.bytesSeen.observe(l, c.bytesSeen);
    this.kernel.events.observe(l, c.events);
    this.kernel.lostFull.observe(l, c.eventsLostFull);
    this.kernel.lostBackpressure.observe(l, c.eventsLostBackpressure);
    for (const [counter, v] of Object.entries(c.extra ?? {})) this.extra.observe({ ...l, counter }, v);
  }

  /** Forget a program's per-interface series (it was detached from that interface for good). */
  forgetInterface(program: string, iface: string): void {
    const match = (l: ProgIface): boolean => l.program === program && l.interface === iface;
    for (const name of PER_PROGRAM_SUMS) {
      const last = this.kernel[name].value({ program, interface: iface });
      if (last !== undefined) bump(this.retired, JSON.stringify([name, program]), last);
    }
    for (const s of Object.values(this.kernel)) s.remove(match);
    this.extra.remove(match);
    for (const k of [...this.attached.keys()]) {
      const [p, i] = JSON.parse(k) as [string, string, string];
      if (p === program && i === iface) this.attached.delete(k);
    }
  }

  setMapUsage(program: string, map: string, entries: number, capacity: number): void {
    this.maps.set(JSON.stringify([program, map]), { entries, capacity });
  }

  setAttached(program: string, iface: string, hook: HookKind, attached: boolean): void {
    this.attached.set(JSON.stringify([program, iface, hook]), attached);
  }

  /** A uprobe/uretprobe attachment (a function of a binary or shared library, all processes or
   * one pid). */
  setProbeAttached(program: string, probe: { binary: string; symbol: string; pid?: number }, hook: 'uprobe' | 'uretprobe', attached: boolean): void {
    this.probes.set(JSON.stringify([program, probe.binary, probe.symbol, probe.pid === undefined ? '' : String(probe.pid), hook]), attached);
  }

  /** What `program` took over from a previous agent at its (last) start; null: nothing. */
  setAdoption(program: string, a: { kept: number; fresh: number; links: number } | null): void {
    if (a) this.adoption.set(program, a);
    else this.adoption.delete(program);
  }

  eventsReceived(program: string, n: number): void {
    checkCount('eventsReceived', n);
    bump(this.received, program, n);
  }

  userspaceLoss(program: string, reason: UserspaceLossReason, n: number): void {
    checkCount('userspaceLoss', n);
    if (!(USERSPACE_LOSS_REASONS as readonly string[]).includes(reason)) {
      throw new RangeError(`userspaceLoss: unknown reason "${reason}" (expected ${USERSPACE_LOSS_REASONS.join(', ')})`);
    }
    bump(this.userLoss, JSON.stringify([program, reason]), n);
  }

  alertsWritten(sink: string, n: number): void {
    checkCount('alertsWritten', n);
    bump(this.written, sink, n);
  }

  /** Registers work to run before every scrape (e.g. read counter maps), so values are fresh
   * without a polling timer. Hooks run in order; one that throws is counted and skipped. */
  onRefresh(hook: () => void | Promise<void>): void {
    this.hooks.push(hook);
  }

  async refresh(): Promise<void> {
    for (const h of this.hooks) {
      try {
        await h();
      } catch (err) {
        this.refreshErrors++;
        this.opts.onRefreshError?.(err);
      }
    }
  }

  /** Refresh, then the Prometheus text exposition. */
  async render(): Promise<string> {
    await this.refresh();
    return this.registry.metrics();
  }
}

