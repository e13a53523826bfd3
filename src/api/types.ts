// The contract between the HTTP API and the composition root (src/agent.ts). The API never
// reaches into engines or the kernel: it asks an AgentStatusProvider and renders the answer.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ControlPlane } from '../control/types.js';
import type { AlertPage, AlertQuery, RecordPage, RecordQuery, StoredAlert } from '../store/types.js';
import type { EngineRoutes } from '../http/route-kit.js';
import type { AgentStatus, BlocklistStatus, MapStatus, ProgramStatus } from '../status/types.js';

/** Implemented by the composition root. Called once per request; keep it cheap (read cached
 * snapshots, not every map). A thrown error becomes a 500 (status) or a 503 (readyz). */
export interface AgentStatusProvider {
  status(): Promise<AgentStatus> | AgentStatus;
}

export interface ApiDeps extends AgentStatusProvider {
  /** Prometheus registry served on /metrics */
  registry: Registry;
  /** run before each /metrics scrape (e.g. AgentMetrics.refresh, which reads counter maps) */
  refreshMetrics?: () => Promise<void>;
  logger: Logger;
  /** agent version reported by /api/v1/status */
  version: string;
  /** when the agent started; default: when the server was built */
  startedAt?: Date;
  /** the live control plane (rules, programs, reload, running config); routes that need it
   * answer 503 SERVICE_UNAVAILABLE while it is absent */
  control?: ControlPlane;
  /** stored alerts: query and the SSE stream (the store's AlertRepo fits as is) */
  alerts?: AlertSource;
  /** stored DNS records, flows, anomalies and DLP findings (the store's RecordRepo) */
  records?: RecordSource;
  /** the audit trail (the store's AuditRepo) */
  audit?: AuditSource;
  /** firewall rule versions (the store's RuleRepo) */
  ruleHistory?: RuleHistorySource;
  /** installs authentication on the root instance before any route is registered
   * (src/api/auth installAuth); absent = no auth, every caller is "anonymous" */
  auth?: ApiAuth;
  /** the routes engines bring (src/engines/<domain>/routes.ts), each with a way to reach its
   * engine while it runs; registered under /api/v1 */
  engineRoutes?: readonly { program: string; routes: EngineRoutes; engine(): unknown }[];
}

/** Authentication as the server sees it: whether it is on (for the loopback interlock) and the
 * hook that installs it. */
export interface ApiAuth {
  enabled: boolean;
  install(app: FastifyInstance): Promise<void>;
}

/** The data shapes of stored alerts are the store's; the API only needs the AlertSource port. */
export type { AlertPage, AlertQuery } from '../store/types.js';
export type StoredAlertRow = StoredAlert;

export interface AlertSource {
  query(q: AlertQuery): AlertPage;
  /** rows with id > `id`, oldest first, at most `limit` */
  after(id: number, limit: number): StoredAlertRow[];
  /** called with each committed batch, in id order; returns the unsubscribe function */
  onStored(fn: (rows: StoredAlertRow[]) => void): () => void;
}

export type { RecordPage, RecordQuery } from '../store/types.js';

export interface RecordSource {
  query(q: RecordQuery): RecordPage;
}

export interface AuditRow {
  id: number;
  /** ISO 8601 */
  at: string;
  actor: string;
  action: string;
  target: string;
  outcome: 'ok' | 'rejected';
  before?: unknown;
  after?: unknown;
  detail?: string;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  target?: string;
  from?: Date;
  to?: Date;
  limit: number;
  offset?: number;
}

export interface AuditSource {
  query(q: AuditQuery): { entries: AuditRow[]; total: number };
}

export interface RuleVersionRow {
  ruleId: string;
  version: number;
  /** ISO 8601 */
  at: string;
  actor: string;
  action: string;
  before?: unknown;
  after?: unknown;
}

export interface RuleHistorySource {
  history(id: string): RuleVersionRow[];
}

/** How the server is exposed; all of it comes from the `agent` config section. */
export interface ApiOptions {
  /** the Unix socket (mode 0600, or 0660 with socketGroup): the default way in */
  socketPath?: string;
  /** group allowed to connect to the socket too: a name or a gid */
  socketGroup?: string | number;
  /** TCP address when `port` is given; default 127.0.0.1 */
  bindAddress?: string;
  /** TCP port; absent = no TCP listener; 0 picks a free port (tests) */
  port?: number;
  /** PEM files; present = HTTPS */
  tls?: { cert: string; key: string };
  /** per-client budgets; absent = the defaults of agent.api_rate_limit */
  rateLimit?: { enabled: boolean; window_seconds: number; reads_per_window: number; writes_per_window: number };
  /** serve Swagger UI at /docs (the OpenAPI document is always at /openapi.json) */
  swaggerUi?: boolean;
  /** agent.allow_unauthenticated_api: listen on TCP without auth */
  allowUnauthenticated?: boolean;
  /** concurrent alert streams in total / per client (an address, an IPv6 /64, or the socket);
   * beyond, 429. Defaults 64 / 8 */
  sseMaxStreams?: number;
  sseMaxStreamsPerClient?: number;
  /** SSE keepalive comment period; default 15 s */
  sseKeepaliveMs?: number;
  /** SSE: a client further behind than this many bytes of unsent output is cut off with a
   * `resume` event; default 1 MiB */
  sseMaxBufferedBytes?: number;
}

/** Every error response: `{"error":{"code":"…","message":"…"}}`. */
export interface ApiError {
  error: { code: string; message: string };
}

export interface StatusResponse {
  version: string;
  uptime_seconds: number;
  state: 'starting' | 'running' | 'stopping';
  programs: (Omit<ProgramStatus, 'maps'> & { maps: (MapStatus & { fill_ratio: number })[] })[];
  events: AgentStatus['events'];
  config: { path: string | null; loaded_at: string | null };
  blocklist?: BlocklistStatus;
}
