// HTTP API request metrics. Labelled by the route *template* ("/api/v1/firewall/rules/:id"),
// never the raw URL, so a scanner probing random paths cannot grow the series without bound:
// everything without a route is "unmatched".
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './agent-metrics.js';

export const UNMATCHED_ROUTE = 'unmatched';

export class ApiMetrics {
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly duration: Histogram<'route' | 'method'>;
  private readonly limited: Counter<'class'>;
  private readonly sseClients: Counter<'outcome'>;
  private readonly sseOpen: Gauge;
  private readonly sseRefused: Counter<'limit'>;

  /** One set per registry: a server rebuilt on the same registry (tests, in-process restarts)
   * keeps counting into the same series instead of failing on a duplicate name. */
  static for(registry: Registry): ApiMetrics {
    const known = instances.get(registry);
    if (known) return known;
    const m = new ApiMetrics(registry);
    instances.set(registry, m);
    return m;
  }

  private constructor(registry: Registry) {
    this.requests = new Counter({
      name: `${METRIC_PREFIX}api_requests_total`,
      help: 'HTTP API requests answered, by route template, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: `${METRIC_PREFIX}api_request_duration_seconds`,
      help: 'Time to answer an HTTP API request (SSE streams: until the stream ends).',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    });
    this.limited = new Counter({
      name: `${METRIC_PREFIX}api_rate_limited_total`,
      help: 'Requests refused with 429 by the per-client rate limit, by budget (read or write).',
      labelNames: ['class'],
      registers: [registry],
    });
    this.sseClients = new Counter({
      name: `${METRIC_PREFIX}api_sse_streams_total`,
      help: 'Alert streams ended, by how: client_closed, too_slow (cut off with a resume event), server_closing, error.',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.sseOpen = new Gauge({
      name: `${METRIC_PREFIX}api_sse_streams_open`,
      help: 'Alert streams open now.',
      registers: [registry],
    });
    this.sseRefused = new Counter({
      name: `${METRIC_PREFIX}api_sse_streams_refused_total`,
      help: 'Alert streams refused with 429, by the bound that refused them: total (agent.api_sse.max_streams) or per_client (agent.api_sse.max_streams_per_client).',
      labelNames: ['limit'],
      registers: [registry],
    });
    for (const limit of ['total', 'per_client']) this.sseRefused.inc({ limit }, 0);
  }

  request(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({ route, method, status: String(status) });
    this.duration.observe({ route, method }, seconds);
  }

  rateLimited(cls: 'read' | 'write'): void {
    this.limited.inc({ class: cls });
  }

  sseEnded(outcome: 'client_closed' | 'too_slow' | 'server_closing' | 'error'): void {
    this.sseClients.inc({ outcome });
  }

  sseOpenNow(n: number): void {
    this.sseOpen.set(n);
  }

  sseRefusedBy(limit: 'total' | 'per_client'): void {
    this.sseRefused.inc({ limit });
  }
}

const instances = new WeakMap<Registry, ApiMetrics>();
