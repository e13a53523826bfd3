// The contract between the HTTP API and the composition root (src/agent.ts). The API never
// reaches into engines or the kernel: it asks an AgentStatusProvider and renders the answer.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export const HOOKS = ['xdp', 'tc-ingress', 'tc-egress', 'uprobe', 'uretprobe'] as const;
export type Hook = (typeof HOOKS)[number];

/** How an attachment is made: XDP native/generic, TC via TCX or a clsact qdisc, uprobes;
 * "none" while not attached. */
export const ATTACH_MODES = ['native', 'generic', 'tcx', 'clsact', 'uprobe', 'none'] as const;
export type AttachMode = (typeof ATTACH_MODES)[number];

export interface AttachmentStatus {
  interface: string;
  ifindex: number;
  hook: Hook;
  mode: AttachMode;
  attached: boolean;
  /** why it is not attached (driver refused native XDP, interface vanished, ...) */
  error?: string;
}

export interface MapStatus {
  name: string;
  /** map type in lower case as libbpf spells it without prefix: "hash", "lpm_trie", "ringbuf" */
  type: string;
  max_entries: number;
  /** entries in use (arrays: max_entries; ring buffers: bytes unconsumed) */
  entries: number;
}

/** Absolute kernel counters of the program, summed over CPUs and interfaces. */
export interface ProgramCounters {
  seen: number;
  passed: number;
  dropped: number;
  malformed: number;
  events: number;
  events_lost: number;
}

export interface ProgramStatus {
  name: string;
  loaded: boolean;
  attachments: AttachmentStatus[];
  maps: MapStatus[];
  counters: ProgramCounters;
}

export interface AgentStatus {
  /** lifecycle; only "running" is ready. Omitted = running. */
  state?: 'starting' | 'running' | 'stopping';
  programs: ProgramStatus[];
  events: {
    /** ring-buffer records read by the agent */
    received: number;
    /** lost events by reason: ring_full, backpressure, decode_error, queue_full, sink_error */
    lost: Record<string, number>;
  };
  config: {
    /** absolute path of the loaded config file, null when started without one */
    path: string | null;
    /** when that config was (re)loaded */
    loaded_at: Date | null;
  };
}

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
}
