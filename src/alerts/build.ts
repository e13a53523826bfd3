// One call from config to a running pipeline, for the composition root:
//   const alerts = await createAlertPipeline(config.alerting, { registry, logger });
//   engine ctx.emit = (r) => alerts.push(r);  (every record kind)  SIGHUP -> alerts.reopen();  stop -> alerts.close()
//   reload: const r = await prepareAlertingReload(alerts, next.alerting, deps); then r.commit() or r.abort()
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AlertingConfig, DeliveryPolicy } from './section.js';
import { EveRenderer } from './eve-line.js';
import { AlertMetrics } from './metrics.js';
import { AlertPipeline, routeKinds, type RouteFilter } from './pipeline.js';
import type { RecordKind } from './records.js';
import { QueuedSink, type QueuedSinkOptions, type SinkTransport } from './queued-sink.js';
import { EveFileTransport } from './sinks/eve-file.js';
import { otlpLogsUrl, OtlpLogsTransport } from './sinks/otlp.js';
import { StreamTransport } from './sinks/stdout.js';
import { SyslogTransport } from './sinks/syslog.js';
import { WebhookTransport } from './sinks/webhook.js';
import type { SuppressOptions } from './suppress.js';

export interface AlertPipelineDeps {
  registry: Registry;
  logger?: Logger;
  /** where the stdout sink writes; default process.stdout */
  stdout?: Writable;
  /** agent version, sent as OTLP service.version */
  version?: string;
  /** wall clock for dedup/throttle windows (tests) */
  now?: () => number;
  sweepIntervalMs?: number;
}

/** The `sink` label of the EVE file sink (kept from the first release's metrics). */
const EVE_SINK = 'eve-file';

function suppressOptions(cfg: AlertingConfig): SuppressOptions {
  return {
    dedupWindowMs: cfg.dedup_window_secs * 1000,
    dedupKeys: cfg.dedup_keys,
    throttleMax: cfg.throttle_max,
    throttleWindowMs: cfg.throttle_window_secs * 1000,
    throttleKeys: cfg.throttle_keys,
  };
}

export async function createAlertPipeline(cfg: AlertingConfig, deps: AlertPipelineDeps): Promise<AlertPipeline> {
  const metrics = new AlertMetrics(deps.registry);
  const pipeline = new AlertPipeline({
    metrics,
    suppress: suppressOptions(cfg),
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.sweepIntervalMs !== undefined ? { sweepIntervalMs: deps.sweepIntervalMs } : {}),
  });
  for (const { sink, filter } of await buildSinks(cfg, deps, metrics)) pipeline.addSink(sink, filter);
  return pipeline;
}

/**
 * Reload, in two phases like the engines: prepare() opens the new sinks (a file that cannot be
 * opened fails here, and the running pipeline is untouched); commit() swaps them in and drains
 * the old ones; abort() closes what prepare opened.
 */
export async function prepareAlertingReload(
  pipeline: AlertPipeline,
  cfg: AlertingConfig,
  deps: Omit<AlertPipelineDeps, 'registry' | 'now' | 'sweepIntervalMs'>,
): Promise<{ commit(): Promise<void>; abort(): Promise<void> }> {
  const sinks = await buildSinks(cfg, deps, pipeline.metrics);
  return {
    commit: () => pipeline.reconfigure(suppressOptions(cfg), sinks),
    abort: async () => {
      await Promise.all(sinks.map(({ sink }) => sink.close(0)));
    },
  };
}

async function buildSinks(
  cfg: AlertingConfig,
  deps: Omit<AlertPipelineDeps, 'registry' | 'now' | 'sweepIntervalMs'>,
  metrics: AlertMetrics,
): Promise<{ sink: QueuedSink; filter: RouteFilter }[]> {
  const eveOpts = { communityIdSeed: cfg.community_id_seed };
  // the sinks that write EVE lines as text: they share one rendering of each record only if
  // there are two (the EVE file encodes its own, straight into the buffer it writes)
  const lineSinks = Number(cfg.stdout.enabled) + cfg.routes.filter((r) => r.destination === 'syslog' || r.destination === 'stdout').length;
  const eve = new EveRenderer(eveOpts, { shared: lineSinks > 1 });
  const out: { sink: QueuedSink; filter: RouteFilter }[] = [];
  const log = deps.logger ? { logger: deps.logger } : {};
  const sink = (name: string, kind: string, t: SinkTransport, capacity: number, o: Omit<QueuedSinkOptions, 'capacity' | 'metrics'>, f: RouteFilter): QueuedSink =>
    new QueuedSink(name, kind, t, { ...o, ...log, capacity, metrics: metrics.sink(name, capacity, routeKinds(f)) });
  const delivery = (d: DeliveryPolicy): Omit<QueuedSinkOptions, 'capacity' | 'metrics'> => ({
    batchMax: d.batchMax,
    retry: { maxRetries: d.maxRetries, initialMs: d.retryInitialMs, maxMs: d.retryMaxMs },
    breaker: { failureThreshold: d.breakerFailures, cooldownMs: d.breakerCooldownMs },
  });
  const filter = (kinds: RecordKind[], minSeverity: RouteFilter['minSeverity'], engines: string[] | undefined): RouteFilter => ({
    kinds,
    ...(minSeverity ? { minSeverity } : {}),
    ...(engines ? { engines } : {}),
  });

  if (cfg.eve.enabled) {
    const t = await EveFileTransport.open(cfg.eve.path, { maxBytes: cfg.eve.max_size, keep: cfg.eve.keep }, eveOpts);
    const f = filter(cfg.eve.record_kinds, cfg.eve.min_severity, cfg.eve.event_types);
    out.push({ sink: sink(EVE_SINK, 'eve-file', t, cfg.eve.queue_size, { batchMax: 4096 }, f), filter: f });
  }
  if (cfg.stdout.enabled) {
    const t = new StreamTransport(deps.stdout ?? process.stdout, eve);
    const f = filter(cfg.stdout.record_kinds, cfg.stdout.min_severity, cfg.stdout.event_types);
    out.push({ sink: sink('stdout', 'stdout', t, cfg.stdout.queue_size, { batchMax: 500 }, f), filter: f });
  }
  for (const r of cfg.routes) {
    let t: SinkTransport;
    let o: Omit<QueuedSinkOptions, 'capacity' | 'metrics'>;
    switch (r.destination) {
      case 'webhook':
        t = new WebhookTransport({ url: r.url, headers: r.headers, timeoutMs: r.delivery.timeoutMs }, eveOpts);
        o = delivery(r.delivery);
        break;
      case 'otlp':
        t = new OtlpLogsTransport({ url: otlpLogsUrl(r.url), headers: r.headers, timeoutMs: r.delivery.timeoutMs }, eveOpts, deps.version ? { serviceVersion: deps.version } : {});
        o = delivery(r.delivery);
        break;
      case 'syslog':
        t = new SyslogTransport({ host: r.host, port: r.port, transport: r.transport, connectTimeoutMs: r.delivery.timeoutMs }, { facility: r.facility, appName: r.appName }, eve);
        o = delivery(r.delivery);
        break;
      case 'stdout':
        t = new StreamTransport(deps.stdout ?? process.stdout, eve);
        o = { batchMax: r.batchMax };
        break;
    }
    const f = filter(r.recordKinds, r.minSeverity, r.eventTypes);
    out.push({ sink: sink(r.name, r.destination, t, r.queueSize, o, f), filter: f });
  }
  return out;
}
