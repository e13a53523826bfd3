// What every engine is to the agent. The composition root starts engines, routes ring-buffer
// records to them by event type, asks them for counters and status, and stops them; it never
// reaches inside one. Each program of the kernel specification plugs in as one Engine.
import type { Logger } from 'pino';
import type { SentinelRecord } from '../alerts/records.js';
import type { BlocklistPort } from '../blocklist/types.js';
import type { ProgramStatus } from '../status/types.js';
import type { AnySection } from '../config/compose.js';
import type { AgentConfig } from '../config/sections/agent.js';
import type { EngineRoutes } from '../http/route-kit.js';
import type { EventClock } from '../kernel/boot-clock.js';
import type { AgentMetrics } from '../metrics/agent-metrics.js';
import type { PinRootState } from './runtime/adoption.js';
import type { ReplayHooks } from './runtime/replay-hooks.js';

export interface InterfaceRef {
  ifname: string;
  ifindex: number;
}

/** What every engine reads of the config: the agent section. Each engine declares the view it
 * needs on top (its own sections, what it must know of others); the whole config satisfies every
 * view, and no engine depends on the whole config's type. */
export interface AgentView {
  readonly agent: AgentConfig;
}

export interface EngineContext<V extends AgentView = AgentView> {
  config: V;
  log: Logger;
  metrics: AgentMetrics;
  /** the agent's pin root; an engine pins under <pinRoot>/maps and <pinRoot>/links */
  pinRoot: string;
  /** what a previous agent left under the pin root: an engine loads its objects with
   * adoption.loader(program) (pinned maps of the same layout kept) and hands it to its
   * Attachments (links taken over, programs replaced in place). Absent: everything fresh. */
  adoption?: PinRootState;
  /** directory of the built BPF objects */
  objectDir: string;
  /** max_entries of every map shared between objects, from the config (runtime/shared-maps.ts):
   * every object naming one is loaded with this size */
  sharedMapSizes: Readonly<Record<string, number>>;
  /** event time to wall time (a replay gives each event its frame's capture time) */
  clock: EventClock;
  /** configured interfaces, resolved in the agent's network namespace */
  interfaces: readonly InterfaceRef[];
  /** hands a record of any kind (alert, dns, flow, anomaly, dlp) to the pipeline, which offers
   * it to the sinks and the store; never blocks */
  emit(record: SentinelRecord): void;
  /** asks for this engine's policy to be prepared and committed again (data it reads changed:
   * a feed, an expiry), serialised with reloads and all-or-nothing like them; resolves when it
   * ran, with whether it was applied */
  requestRefresh(reason: string): Promise<{ ok: boolean; error?: string }>;
  /** the block list (src/blocklist), acting as this engine: what it adds is held in its name */
  blocklist: BlocklistPort;
  /** set for `ebpfsentinel replay`: the engine loads and fills its programs as for live
   * traffic, but each XDP or TC attachment is handed here instead of made (the replay test-runs
   * captured frames through them in pipeline order) */
  replay?: ReplayHooks;
}

/** How an engine stops: detach everything, or leave its programs enforcing. */
export type StopMode = 'detach' | 'keep';

export interface KernelLosses {
  ring_full: number;
  backpressure: number;
}

/** A change checked against the kernel's limits, not yet written. Reload is two-phase so a new
 * config is either applied by every engine or by none: all engines prepare, then all commit. */
export interface PreparedChange {
  /** what changes, for the log and the audit trail */
  readonly summary: Record<string, unknown>;
  /** writes the change; each kernel policy flips atomically (a packet sees old or new, never a mix) */
  commit(): Promise<void>;
}

export interface Engine<V extends AgentView = AgentView> {
  /** kernel program name as users see it, e.g. "xdp-firewall" */
  readonly program: string;
  /** enum sentinel_program_id of its records (event header `program`) */
  readonly programId: number;
  /** loads its objects, writes the policy, attaches; throws when it cannot enforce */
  start(): Promise<void>;
  /** compiles this engine's part of `next` without touching the kernel (it may wait, e.g. for a
   * feed download); throws an Error whose message names the offending key when `next` cannot be
   * enforced */
  prepare(next: V): PreparedChange | Promise<PreparedChange>;
  /** ring-buffer map fds the agent should read for this engine */
  ringFds(): number[];
  /** one record of this engine's program; false when it cannot be decoded */
  onRecord(buf: Buffer, offset: number, length: number): boolean;
  /** reads kernel counters into metrics (called on a timer and before each scrape) */
  refresh(): void;
  status(): ProgramStatus;
  losses(): KernelLosses;
  /** 'detach' (default): detaches, unpins and closes. 'keep' (the agent exits with
   * agent.on_exit: keep): closes but leaves links, filters, tail-call slots and pins in place
   * so the programs go on enforcing, for the next agent to take over. Must not throw; reports
   * problems in the returned list. */
  stop(how?: StopMode): Promise<string[]>;
}

/** An engine as the catalog (src/catalog.ts) lists it: one line there per engine. */
export interface EngineModule<V extends AgentView = AgentView> {
  /** kernel program name as users see it, e.g. "xdp-firewall" */
  readonly program: string;
  /** the config sections it owns (validated, resolved and documented by the config loader) */
  readonly sections: readonly AnySection[];
  /** whether the config file enables it */
  enabledIn(config: V): boolean;
  create(ctx: EngineContext<V>): Engine<V>;
  /** engines whose presence shapes how this one attaches: when one of them starts or stops at
   * runtime, this engine is restarted around the change */
  readonly dependsOn?: readonly string[];
  /** its API routes (registered under /api/v1 by the server, which knows no engine) */
  readonly routes?: EngineRoutes;
  /** its program drops what the dynamic block list holds (includes lib/blocklist.h): the list is
   * reported as enforced while one such engine runs */
  readonly enforcesBlocklist?: boolean;
}
