// Talking to a running agent's HTTP API from outside its namespace (through the forwarder):
// readiness polling, status and metrics, with errors that say which URL failed and how.
import type { SynCookieStatus } from '../status/types.js';
import { MetricsSnapshot } from './prom.js';
import type { LabProcess } from '../lab/process.js';

export interface AttachmentView {
  interface: string;
  ifindex: number;
  hook: string;
  mode: string;
  attached: boolean;
  error?: string;
}

export interface MapView {
  name: string;
  type: string;
  max_entries: number;
  entries: number;
  fill_ratio?: number;
}

export interface StatusView {
  version?: string;
  state?: string;
  programs: Array<{
    name: string;
    loaded: boolean;
    attachments: AttachmentView[];
    maps: MapView[];
    counters: Record<string, number>;
    stats?: Record<string, number>;
    syn_cookies?: SynCookieStatus;
  }>;
  events: { received: number; lost: Record<string, number> };
  config: { path: string | null; loaded_at: string | null };
}

export class ApiClient {
  constructor(readonly baseUrl: string) {}

  async get(pathname: string, timeoutMs = 5000): Promise<{ status: number; body: string; contentType: string }> {
    const url = `${this.baseUrl}${pathname}`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`GET ${url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
    return { status: res.status, body: await res.text(), contentType: res.headers.get('content-type') ?? '' };
  }

  async json<T>(pathname: string): Promise<T> {
    const r = await this.get(pathname);
    if (r.status !== 200) throw new Error(`GET ${this.baseUrl}${pathname}: HTTP ${r.status}: ${r.body.slice(0, 500)}`);
    return JSON.parse(r.body) as T;
  }

  status(): Promise<StatusView> {
    return this.json<StatusView>('/api/v1/status');
  }

  async metrics(): Promise<MetricsSnapshot> {
    const r = await this.get('/metrics');
    if (r.status !== 200) throw new Error(`GET ${this.baseUrl}/metrics: HTTP ${r.status}: ${r.body.slice(0, 500)}`);
    return MetricsSnapshot.parse(r.body);
  }

  /**
   * Polls /readyz until it answers 200. Gives up early, with the agent's last output, when the
   * agent process exits first; on timeout says what the last attempt got.
   */
  async waitReady(timeoutMs: number, agent?: LabProcess): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (agent && !agent.running) {
        const info = await agent.exited;
        throw new Error(`the agent exited (${info.code ?? info.signal}) before it was ready:\n${tail(agent.stderr + agent.stdout)}`);
      }
      try {
        const r = await this.get('/readyz', 1000);
        if (r.status === 200) return;
        last = `HTTP ${r.status}: ${r.body.slice(0, 200)}`;
      } catch (e) {
        last = (e as Error).message;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the agent's API at ${this.baseUrl} was not ready within ${timeoutMs} ms (last: ${last})${agent ? `\n${tail(agent.stderr + agent.stdout)}` : ''}`);
  }
}

function tail(s: string, lines = 15): string {
  return s.trim().split('\n').slice(-lines).join('\n');
}
