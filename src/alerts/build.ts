// One call from config to a running pipeline, for the composition root:
//   const alerts = await createAlertPipeline(config.alerting, { registry, logger });
//   engine ctx.emit = (a) => alerts.push(a);  SIGHUP -> alerts.reopen();  stop -> alerts.close()
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AlertingConfig, DeliveryPolicy } from '../config/sections/alerting.js';
import { EveRenderer } from './eve.js';
import { AlertMetrics } from './metrics.js';
import { AlertPipeline } from './pipeline.js';
import { QueuedSink, type QueuedSinkOptions, type SinkTransport } from './queued-sink.js';
import { EveFileTransport } from './sinks/eve-file.js';
import { otlpLogsUrl, OtlpLogsTransport } from './sinks/otlp.js';
import { StreamTransport } from './sinks/stdout.js';
import { SyslogTransport } from './sinks/syslog.js';
import { WebhookTransport } from './sinks/webhook.js';

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
export const EVE_SINK = 'eve-file';

export async function createAlertPipeline(cfg: AlertingConfig, deps: AlertPipelineDeps): Promise<AlertPipeline> {
  const metrics = new AlertMetrics(deps.registry);
  const eveOpts = { communityIdSeed: cfg.community_id_seed };
  const eve = new EveRenderer(eveOpts);
  const pipeline = new AlertPipeline({
    metrics,
    suppress: {
      dedupWindowMs: cfg.dedup_window_secs * 1000,
      dedupKeys: cfg.dedup_keys,
      throttleMax: cfg.throttle_max,
      throttleWindowMs: cfg.throttle_window_secs * 1000,
      throttleKeys: cfg.throttle_keys,
    },
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.sweepIntervalMs !== undefined ? { sweepIntervalMs: deps.sweepIntervalMs } : {}),
  });
  const log = deps.logger ? { logger: deps.logger } : {};
  const sink = (name: string, kind: string, t: SinkTransport, capacity: number, o: Omit<QueuedSinkOptions, 'capacity' | 'metrics'>): QueuedSink =>
    new QueuedSink(name, kind, t, { ...o, ...log, capacity, metrics: metrics.sink(name, capacity) });
  const delivery = (d: DeliveryPolicy): Omit<QueuedSinkOptions, 'capacity' | 'metrics'> => ({
    batchMax: d.batchMax,
    retry: { maxRetries: d.maxRetries, initialMs: d.retryInitialMs, maxMs: d.retryMaxMs },
    breaker: { failureThreshold: d.breakerFailures, cooldownMs: d.breakerCooldownMs },
  });

  if (cfg.eve.enabled) {
    const t = await EveFileTransport.open(cfg.eve.path, { maxBytes: cfg.eve.max_size, keep: cfg.eve.keep }, eve);
    pipeline.addSink(sink(EVE_SINK, 'eve-file', t, cfg.eve.queue_size, { batchMax: 4096 }), {
      minSeverity: cfg.eve.min_severity,
      ...(cfg.eve.event_types ? { engines: cfg.eve.event_types } : {}),
    });
  }
  if (cfg.stdout.enabled) {
    pipeline.addSink(sink('stdout', 'stdout', new StreamTransport(deps.stdout ?? process.stdout, eve), cfg.stdout.queue_size, { batchMax: 500 }), {
      minSeverity: cfg.stdout.min_severity,
      ...(cfg.stdout.event_types ? { engines: cfg.stdout.event_types } : {}),
    });
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
    pipeline.addSink(sink(r.name, r.destination, t, r.queueSize, o), { minSeverity: r.minSeverity, ...(r.eventTypes ? { engines: r.eventTypes } : {}) });
  }
  return pipeline;
}
