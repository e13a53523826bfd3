// What the agent reports about itself: the programs it runs, where they are attached, their maps
// and counters, its event accounting. Domain types, below every transport: engines fill them,
// the control plane and the API (src/api), the CLI and the demo read them.
export const HOOKS = ['xdp', 'tc-ingress', 'tc-egress', 'uprobe', 'uretprobe'] as const;
export type Hook = (typeof HOOKS)[number];

/** How an attachment is made: XDP native/generic, TC via TCX or a clsact qdisc, uprobes;
 * "none" while not attached. */
export const ATTACH_MODES = ['native', 'generic', 'tcx', 'clsact', 'uprobe', 'none'] as const;
export type AttachMode = (typeof ATTACH_MODES)[number];

/** One attachment: to an interface at a hook (XDP, TC ingress/egress), or to a function of a
 * binary or shared library (uprobe, uretprobe), for every process or one pid. */
export interface AttachmentStatus {
  /** interface targets */
  interface?: string;
  ifindex?: number;
  /** probe targets: the file (as opened, e.g. /proc/PID/root/... for another mount namespace) */
  binary?: string;
  symbol?: string;
  /** probe limited to one process */
  pid?: number;
  hook: Hook;
  mode: AttachMode;
  attached: boolean;
  /** TC hooks: the program's place in the TC pipeline (src/engines/tc-pipeline.ts), lower runs
   * first; the kernel keeps our programs at the hook in this order */
  rank?: number;
  /** why it is not attached (driver refused native XDP, interface vanished, ...) */
  error?: string;
  /** taken over from a previous agent (its link or filter kept the hook; the program in it was
   * replaced in place) */
  adopted?: boolean;
  /** kernel id of the program the hook runs */
  prog_id?: number;
}

/** What a program took over from the agent that ran before this one on the same pin root. */
export interface AdoptionStatus {
  /** links or maps of a previous agent were taken over */
  adopted: boolean;
  /** the object file differs from the one the previous agent loaded (an upgrade) */
  object_changed: boolean;
  /** attachments taken over (their program replaced in place) */
  links_adopted: number;
  /** pinned maps kept with their contents (same layout) */
  maps_kept: string[];
  /** pinned maps started empty, and why (their layout or shape changed) */
  maps_fresh: { name: string; reason: string }[];
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

/** xdp-ratelimit's SYN cookies: which path is in force and what it changed on the host. */
export interface SynCookieStatus {
  enabled: boolean;
  /** agent: the agent's cookies, request sockets made by tc_syncookie (bpf_sk_assign_tcp_reqsk);
   * kernel: the kernel's cookies with net.ipv4.tcp_syncookies=2 */
  path: 'agent' | 'kernel' | null;
  reason: string;
  /** host settings the agent changed and holds (restored when cookies go off or it stops) */
  sysctl_changes: { sysctl: string; from: number; to: number }[];
  /** agent path: handshakes completed from a cookie by tc_syncookie, and those the kernel refused */
  request_sockets_created: number;
  request_sockets_refused: number;
}

export interface ProgramStatus {
  name: string;
  loaded: boolean;
  attachments: AttachmentStatus[];
  maps: MapStatus[];
  counters: ProgramCounters;
  /** Program-wide kernel statistics not tied to an interface, summed over CPUs (xdp-ratelimit:
   * every rl_stats slot, e.g. cas_exhausted: packets let through after a meter lost every
   * compare-and-swap retry). */
  stats?: Record<string, number>;
  /** xdp-ratelimit only */
  syn_cookies?: SynCookieStatus;
  /** tc-threatintel only: each feed's state, indicators, what was skipped and why, its errors */
  feeds?: readonly object[];
  /** present when a previous agent had left something of this program under the pin root */
  adoption?: AdoptionStatus;
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
  /** the dynamic block list (src/blocklist) */
  blocklist?: BlocklistStatus;
}

/** The dynamic block list (src/blocklist): its fill, its bound and what it refused. */
export interface BlocklistStatus {
  /** whether xdp-firewall enforces the list right now */
  enforced: boolean;
  /** why not, when it does not */
  note?: string;
  /** holds (one per owner and address), against max_entries */
  entries: number;
  max_entries: number;
  /** distinct addresses/networks in the kernel, per family */
  addresses: { ipv4: number; ipv6: number };
  by_owner: Record<string, number>;
  /** holds removed because they expired, since the agent started */
  expired: number;
  /** requests refused since the agent started, by reason (full, invalid, kernel) */
  refused: Record<string, number>;
  event_sample_every: number;
}
