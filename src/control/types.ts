// The contract between the live control plane (src/control, wired in src/agent.ts) and whoever
// drives it at runtime: the HTTP API, the CLI over the API, signals and the file watcher. The API
// never touches engines or the kernel: it calls a ControlPlane and maps its typed errors to HTTP.
import type { AgentStatus, ProgramStatus } from '../status/types.js';

/** What started a reload. */
/** `engine`: an engine asked for its policy to be applied again (a feed it reads changed, a TTL
 * expired), through the same queue and two-phase path as a reload of the file. */
export const RELOAD_TRIGGERS = ['file', 'signal', 'api', 'startup', 'engine'] as const;
export type ReloadTrigger = (typeof RELOAD_TRIGGERS)[number];

/** One config problem, as the loader reports it (file:line:col, key path). */
export interface ControlIssue {
  file: string;
  /** key path, e.g. "firewall.rules[2].dst_port" ("" for the whole file) */
  path: string;
  line: number;
  column: number;
  message: string;
}

/** What a reload did to one engine (program). */
export interface EngineChange {
  program: string;
  /** started: newly enabled; stopped: disabled; updated: policy re-applied; unchanged */
  action: 'started' | 'stopped' | 'updated' | 'unchanged';
  /** the engine's own summary of the change (rule counts, default policy, ...) */
  summary?: Record<string, unknown>;
}

export interface ReloadOutcome {
  ok: boolean;
  trigger: ReloadTrigger;
  /** who asked: "signal:SIGHUP", "file-watch", an API key name / JWT subject, ... */
  actor: string;
  /** when the reload finished (ISO 8601) */
  at: string;
  /** the policy generation live after this reload (unchanged on failure) */
  generation: number;
  /** on failure: one line per problem, each naming file:line:col and key */
  error?: string;
  /** on failure with config problems: the problems, structured */
  issues?: ControlIssue[];
  /** on success: per engine */
  applied?: EngineChange[];
  /** several triggers that arrived while a reload ran were served by this one */
  coalesced?: number;
}

/** A firewall rule as the API shows it: the rule in its config-file shape plus where it comes
 * from. File rules are read-only through the API. */
export interface FirewallRuleView {
  id: string;
  source: 'file' | 'api';
  /** the rule as written (config-file shape: id, priority, action, protocol, src_ip, ...) */
  rule: Record<string, unknown>;
  /** API rules: when created / last replaced (ISO 8601) and by whom */
  created_at?: string;
  updated_at?: string;
  actor?: string;
}

export interface ProgramView {
  /** kernel program name, e.g. "xdp-firewall" */
  name: string;
  /** enabled by the running config + runtime overrides */
  enabled: boolean;
  /** set when enabled differs from the config file because of a runtime (API) override */
  override?: 'enabled' | 'disabled';
  /** the running engine's status; null when the engine is not running */
  status: ProgramStatus | null;
}

/** Base of the control plane's errors; `code` is the API error code. */
export class ControlError extends Error {
  readonly code: string = 'control_error';
}

/** The input is not acceptable (HTTP 400). `issues` name the key of each problem. */
export class ValidationError extends ControlError {
  override name = 'ValidationError';
  override readonly code = 'validation_error';
  constructor(
    message: string,
    readonly issues: readonly ControlIssue[] = [],
  ) {
    super(issues.length ? `${message}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}` : message);
  }
}

/** No such rule / program (HTTP 404). */
export class NotFoundError extends ControlError {
  override name = 'NotFoundError';
  override readonly code = 'not_found';
}

/** Conflicts with what exists: duplicate id or priority, a file rule, ... (HTTP 409). */
export class ConflictError extends ControlError {
  override name = 'ConflictError';
  override readonly code = 'conflict';
}

/** The change was valid but could not be applied to the kernel; nothing changed (HTTP 500/503). */
export class ApplyError extends ControlError {
  override name = 'ApplyError';
  override readonly code = 'apply_failed';
}

export interface FirewallRulesControl {
  /** file rules then API rules, in evaluation order (priority ascending) */
  list(): FirewallRuleView[];
  get(id: string): FirewallRuleView | null;
  /** validates `input` with the config file's rule schema; applied atomically before it resolves */
  create(input: unknown, actor: string): Promise<FirewallRuleView>;
  /** `input.id`, when given, must equal `id` */
  replace(id: string, input: unknown, actor: string): Promise<FirewallRuleView>;
  remove(id: string, actor: string): Promise<void>;
}

export interface ProgramsControl {
  list(): ProgramView[];
  /** starts/stops the program's engine at runtime; the override lasts until the next reload
   * whose config changes that program's `enabled` (see docs/configuration.md) */
  setEnabled(name: string, enabled: boolean, actor: string): Promise<ProgramView>;
}

export interface ControlPlane {
  status(): AgentStatus;
  /** Serialised; triggers arriving while one runs are coalesced into the next. Never throws for
   * a bad config: the outcome says why. */
  reload(trigger: ReloadTrigger, actor: string): Promise<ReloadOutcome>;
  lastReload(): ReloadOutcome | null;
  /** Applies the running config again on behalf of an engine (trigger "engine", actor
   * "engine:<program>"): serialised with reloads, all-or-nothing, audited and counted. */
  refresh(program: string, reason: string): Promise<ReloadOutcome>;
  /** the running config as data, secrets (API keys, tokens, passwords) masked */
  runningConfig(): unknown;
  readonly firewallRules: FirewallRulesControl;
  readonly programs: ProgramsControl;
}
