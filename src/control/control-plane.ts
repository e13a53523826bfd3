// The live control plane: reloads (file watch, SIGHUP, API), firewall rules from the API and
// program enable/disable, all through one serial queue and one two-phase path (every engine
// prepares, then all commit), so a change is applied whole or not at all and the running policy
// stays when it is refused. Every outcome is logged, counted and put in the audit trail.
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { AgentStatus } from '../status/types.js';
import { ConfigError, formatIssue } from '../config/index.js';
import { type Config } from '../catalog.js';
import { knownSecrets } from '../config/secrets.js';
import { apiRuleView, effectiveConfig, fileRuleView, parseApiRule, type ApiRuleStore, type StoredApiRule } from './api-rules.js';
import { EnginePrepareError, type EngineSet, type EngineSpec } from './engine-set.js';
import { Coalescer, SerialQueue } from './serial.js';
import {
  ApplyError,
  ConflictError,
  ControlError,
  NotFoundError,
  RELOAD_TRIGGERS,
  ValidationError,
  type ControlPlane,
  type EngineChange,
  type FirewallRulesControl,
  type FirewallRuleView,
  type ProgramsControl,
  type ProgramView,
  type ReloadOutcome,
  type ReloadTrigger,
} from './types.js';

/** The store's audit trail (src/store AuditRepo), structurally. */
export interface AuditTrail {
  record(e: { actor: string; action: string; target: string; before?: unknown; after?: unknown; outcome: 'ok' | 'rejected'; detail?: string }): unknown;
}

/** Something besides the engines that a new config file reconfigures (the alert pipeline): it
 * prepares with the engines and commits with them, or is aborted when anything refuses. */
export interface ReloadParticipant {
  readonly name: string;
  /** null: nothing of its part changed */
  prepare(next: Config, running: Config): Promise<{ commit(): Promise<void>; abort(): Promise<void> } | null>;
}

export interface ControlPlaneDeps {
  /** the config file the agent runs from */
  file: string;
  /** the file's config as loaded at start */
  initial: Config;
  /** reads and validates the file (loadConfigFile plus the run command's overrides) */
  load(file: string): Promise<Config>;
  engines: EngineSet;
  /** reconfigured by a new file after the engines accepted it (not by API rule changes) */
  participants?: readonly ReloadParticipant[];
  rules: ApiRuleStore;
  audit?: AuditTrail;
  log: Logger;
  registry: Registry;
  status(): AgentStatus;
  /** told after a change went live, with the file's config and the effective one */
  onApplied?(file: Config, effective: Config): void;
}

/** `agent` settings read once at start (by the attachments, the API server, the logger, the
 * counter poller): a reload keeps their running value and says so. Every other agent key is
 * judged again on reload (allow_unauthenticated_api: with the new auth section; on_exit: read when
 * the agent stops). */
export const RESTART_KEYS = ['interfaces', 'xdp_mode', 'api_socket', 'api_socket_group', 'http_port', 'bind_address', 'tls', 'api_rate_limit', 'api_sse', 'swagger_ui', 'pin_root', 'log_level', 'log_format', 'ring_buffer_size', 'metrics_interval_ms'] as const;
/** Sections opened once at start (the store): likewise kept and reported. */
const RESTART_SECTIONS = ['storage'] as const;

function describe(err: unknown): { error: string; issues?: ReloadOutcome['issues'] } {
  if (err instanceof ConfigError) return { error: err.issues.map(formatIssue).join('\n'), issues: err.issues.map((i) => ({ ...i })) };
  if (err instanceof ValidationError) return { error: err.message, issues: [...err.issues] };
  return { error: err instanceof Error ? err.message : String(err) };
}

/** A reload asked for: `ifChanged` (file events) only when the file differs from what the
 * last reload read; SIGHUP and the API always reload. */
interface ReloadRequest {
  trigger: ReloadTrigger;
  actor: string;
  ifChanged: boolean;
}

/** Why a file event did not reload. */
type SkipReason = 'unchanged' | 'empty' | 'absent';

export class LiveControlPlane implements ControlPlane {
  private readonly queue = new SerialQueue();
  private readonly reloads: Coalescer<ReloadRequest, ReloadOutcome | null>;
  /** SHA-256 of the config text the last reload read (applied or refused), or the start's */
  private lastRead: string;
  private readonly skipCounter: Counter<'reason'>;
  private fileConfig: Config;
  private effective: Config;
  private generation = 1;
  private closed = false;
  private last: ReloadOutcome | null = null;
  /** runtime enable/disable, with the file's value when it was set: a reload that changes the
   * file's value for that program ends the override (the file speaks again) */
  private readonly overrides = new Map<string, { enabled: boolean; fileValue: boolean }>();
  private readonly reloadCounter: Counter<'trigger' | 'outcome'>;
  readonly firewallRules: FirewallRulesControl;
  readonly programs: ProgramsControl;

  constructor(private readonly deps: ControlPlaneDeps) {
    this.fileConfig = deps.initial;
    this.lastRead = deps.initial.source.sha256;
    this.effective = effectiveConfig(deps.initial, deps.rules.list());
    this.reloads = new Coalescer(this.queue, (joined) => this.runReload(joined));
    this.reloadCounter = new Counter({
      name: 'ebpfsentinel_config_reloads_total',
      help: 'Config reloads by trigger (file, signal, api, engine: a refresh an engine asked for) and outcome (success, failure)',
      labelNames: ['trigger', 'outcome'],
      registers: [deps.registry],
    });
    for (const t of RELOAD_TRIGGERS) if (t !== 'startup') for (const o of ['success', 'failure']) this.reloadCounter.inc({ trigger: t, outcome: o }, 0);
    this.skipCounter = new Counter({
      name: 'ebpfsentinel_config_watch_skipped_total',
      help: 'Config file changes the watcher saw that did not reload, by reason: unchanged (the content the last reload read: a touch, a rewrite, the event of a write SIGHUP or the API already reloaded), empty (truncated: a write in progress), absent (removed: a rename in progress)',
      labelNames: ['reason'],
      registers: [deps.registry],
    });
    for (const r of ['unchanged', 'empty', 'absent'] satisfies SkipReason[]) this.skipCounter.inc({ reason: r }, 0);
    this.firewallRules = this.rulesControl();
    this.programs = this.programsControl();
  }

  /** The config engines start with: the file's plus the API rules. */
  get effectiveConfig(): Config {
    return this.effective;
  }

  get policyGeneration(): number {
    return this.generation;
  }

  /** Whether `spec` should run: a runtime override, else the file. */
  readonly wanted = (spec: EngineSpec): boolean => this.overrides.get(spec.program)?.enabled ?? spec.enabledIn(this.fileConfig);

  status(): AgentStatus {
    return this.deps.status();
  }

  lastReload(): ReloadOutcome | null {
    return this.last;
  }

  runningConfig(): unknown {
    const { source, resolved: _resolved, warnings: _warnings, ...data } = this.fileConfig;
    // masked by value: every secret the loader read (marked fields, *_file, *_env), wherever
    // the parsed config carries it
    return knownSecrets.mask({ ...(JSON.parse(JSON.stringify(data)) as Record<string, unknown>), source: { file: source.file } });
  }

  async reload(trigger: ReloadTrigger, actor: string): Promise<ReloadOutcome> {
    const outcome = await this.reloads.call({ trigger, actor, ifChanged: false });
    // a run that serves an unconditional request always reloads
    if (!outcome) throw new Error('internal: a requested reload was skipped');
    return outcome;
  }

  /** The file watcher saw the config file change: reload when its content differs from what the
   * last reload read (by any trigger), so one change reloads once however many events it makes
   * and whichever trigger read it first. Null: skipped (counted, logged at debug). */
  fileChanged(actor = 'file-watch'): Promise<ReloadOutcome | null> {
    return this.reloads.call({ trigger: 'file', actor, ifChanged: true });
  }

  refresh(program: string, reason: string): Promise<ReloadOutcome> {
    return this.queue.run(() => this.runRefresh(program, reason));
  }

  /** The running file config, prepared and committed again: engines pick up what changed on
   * their side (a feed, an expiry). Participants (alerting, auth) see no new file: untouched. */
  private async runRefresh(program: string, reason: string): Promise<ReloadOutcome> {
    const trigger: ReloadTrigger = 'engine';
    const actor = `engine:${program}`;
    let outcome: ReloadOutcome;
    try {
      const applied = await this.apply(this.fileConfig, this.deps.rules.list(), new Map(this.overrides));
      outcome = { ok: true, trigger, actor, at: new Date().toISOString(), generation: this.generation, applied };
      this.deps.log.info({ program, reason, generation: this.generation }, 'policy refreshed on an engine\'s request');
    } catch (err) {
      outcome = { ok: false, trigger, actor, at: new Date().toISOString(), generation: this.generation, ...describe(err) };
      this.deps.log.error({ program, reason, error: outcome.error }, 'policy refresh refused: the running policy stays');
    }
    this.last = outcome;
    this.reloadCounter.inc({ trigger, outcome: outcome.ok ? 'success' : 'failure' });
    this.auditRecord({
      actor,
      action: 'engine.refresh',
      target: program,
      outcome: outcome.ok ? 'ok' : 'rejected',
      detail: outcome.ok ? `${reason}; generation=${outcome.generation}` : `${reason}: ${outcome.error ?? ''}`,
      ...(outcome.applied ? { after: outcome.applied } : {}),
    });
    return outcome;
  }

  /** Refuses new changes and waits for the one in progress, so the agent can stop engines
   * without a commit racing the teardown. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue.run(async () => undefined);
  }

  /** What the config file holds now, judged in the queue (after every reload before it read). */
  private async readNow(): Promise<{ sha256: string | null } | { skip: 'empty' | 'absent' }> {
    let text: string;
    try {
      text = await readFile(this.deps.file, 'utf8');
    } catch (err) {
      // any other read error is the load's to report, as a refused reload
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { skip: 'absent' };
      return { sha256: null };
    }
    // utf8 text, as the loader hashes it (src/config/compose.ts source.sha256)
    return text.length ? { sha256: createHash('sha256').update(text).digest('hex') } : { skip: 'empty' };
  }

  private async runReload(joined: ReloadRequest[]): Promise<ReloadOutcome | null> {
    const { log } = this.deps;
    const now = await this.readNow();
    if (joined.every((j) => j.ifChanged)) {
      const skip: SkipReason | null = 'skip' in now ? now.skip : now.sha256 === this.lastRead ? 'unchanged' : null;
      if (skip) {
        this.skipCounter.inc({ reason: skip });
        if (skip === 'unchanged') log.debug({ file: this.deps.file }, 'config file event: content as last read, nothing to reload');
        // a half-written file (truncated, not yet written) or one between unlink and rename: its
        // next event reloads it; the running policy stays meanwhile
        else log.warn({ file: this.deps.file, reason: skip }, `config file is ${skip}: not reloaded (a write in progress?); the running policy stays`);
        return null;
      }
    }
    // the caller that asked (an API answer names its own trigger), not a file event that joined it
    const { trigger, actor } = joined.filter((j) => !j.ifChanged).at(-1) ?? joined.at(-1)!;
    const base = { trigger, actor, ...(joined.length > 1 ? { coalesced: joined.length } : {}) };
    let outcome: ReloadOutcome;
    // a refused file is as read as an applied one: its own file event must not refuse it again
    if ('sha256' in now && now.sha256 !== null) this.lastRead = now.sha256;
    try {
      const next = await this.deps.load(this.deps.file);
      this.lastRead = next.source.sha256; // exactly the text applied, should it differ from `now`
      // Settings bound at start keep their running value; the rest of the file applies.
      const restart: string[] = [];
      for (const k of RESTART_KEYS) {
        if (JSON.stringify(next.agent[k]) === JSON.stringify(this.fileConfig.agent[k])) continue;
        (next.agent as Record<string, unknown>)[k] = this.fileConfig.agent[k];
        restart.push(`agent.${k}`);
      }
      for (const k of RESTART_SECTIONS) {
        if (JSON.stringify(next[k]) === JSON.stringify(this.fileConfig[k])) continue;
        (next as unknown as Record<string, unknown>)[k] = this.fileConfig[k];
        restart.push(k);
      }
      const overrides = new Map(this.overrides);
      for (const [program, o] of overrides) {
        const spec = this.deps.engines.spec(program);
        if (spec && spec.enabledIn(next) !== o.fileValue) overrides.delete(program);
      }
      const applied = await this.apply(next, this.deps.rules.list(), overrides);
      if (restart.length) applied.push({ program: 'agent', action: 'unchanged', summary: { restart_required: restart } });
      outcome = { ok: true, ...base, at: new Date().toISOString(), generation: this.generation, applied };
      if (restart.length) log.warn({ keys: restart }, 'config reloaded, but these settings take effect only after a restart');
      log.info({ trigger, actor, generation: this.generation, applied }, 'config reloaded');
    } catch (err) {
      outcome = { ok: false, ...base, at: new Date().toISOString(), generation: this.generation, ...describe(err) };
      log.error({ trigger, actor, error: outcome.error }, 'config reload rejected: the running policy stays');
    }
    this.last = outcome;
    this.reloadCounter.inc({ trigger: trigger === 'startup' ? 'file' : trigger, outcome: outcome.ok ? 'success' : 'failure' });
    this.auditRecord({
      actor,
      action: 'config.reload',
      target: this.deps.file,
      outcome: outcome.ok ? 'ok' : 'rejected',
      detail: outcome.ok ? `trigger=${trigger} generation=${outcome.generation}` : `trigger=${trigger}: ${outcome.error ?? ''}`,
      ...(outcome.applied ? { after: outcome.applied } : {}),
    });
    return outcome;
  }

  /**
   * The one path to the kernel: merge API rules, let every engine prepare, commit all. On any
   * failure before the commit nothing changed and the error propagates. The state kept here
   * (file config, overrides) changes only after the commit.
   */
  private async apply(file: Config, apiRules: StoredApiRule[], overrides: Map<string, { enabled: boolean; fileValue: boolean }>, beforeCommit?: () => void): Promise<EngineChange[]> {
    if (this.closed) throw new ApplyError('the agent is stopping; nothing was changed');
    const effective = effectiveConfig(file, apiRules);
    const wanted = (s: EngineSpec): boolean => overrides.get(s.program)?.enabled ?? s.enabledIn(file);
    let tx;
    try {
      tx = await this.deps.engines.prepare(effective, wanted);
    } catch (err) {
      if (err instanceof EnginePrepareError) throw new ValidationError(`the new policy cannot be enforced: ${err.message}`);
      throw err;
    }
    const parts: { name: string; change: { commit(): Promise<void>; abort(): Promise<void> } }[] = [];
    const abortParts = async (): Promise<void> => {
      for (const p of parts) await p.change.abort().catch((err: unknown) => this.deps.log.warn({ err, part: p.name }, 'abort after a refused reload failed'));
    };
    if (file !== this.fileConfig) {
      for (const p of this.deps.participants ?? []) {
        try {
          const change = await p.prepare(file, this.fileConfig);
          if (change) parts.push({ name: p.name, change });
        } catch (err) {
          await abortParts();
          throw new ValidationError(`the new config cannot be applied: ${p.name}: ${(err as Error).message}`);
        }
      }
    }
    beforeCommit?.();
    try {
      await tx.commit();
    } catch (err) {
      await abortParts();
      throw new ApplyError(`applying the change failed: ${(err as Error).message}`);
    }
    // The kernel side is live from here: record it, then report a part that did not follow.
    this.fileConfig = file;
    this.effective = effective;
    this.overrides.clear();
    for (const [k, v] of overrides) this.overrides.set(k, v);
    this.generation++;
    this.deps.onApplied?.(file, effective);
    for (const p of parts) {
      try {
        await p.change.commit();
      } catch (err) {
        this.deps.log.error({ err, part: p.name }, 'reconfiguring after a reload failed');
        throw new ApplyError(`the policy was applied (generation ${this.generation}), but ${p.name} could not be reconfigured: ${(err as Error).message}`);
      }
    }
    return [...tx.changes, ...parts.map((p) => ({ program: p.name, action: 'updated' as const }))];
  }

  private auditRecord(e: Parameters<AuditTrail['record']>[0]): void {
    try {
      // an entry outlives the config it describes: no secret may be stored in one
      this.deps.audit?.record(knownSecrets.mask(e));
    } catch (err) {
      this.deps.log.error({ err, action: e.action, target: e.target }, 'audit trail write failed');
    }
  }

  private rulesControl(): FirewallRulesControl {
    const store = this.deps.rules;
    const findApi = (id: string): StoredApiRule | undefined => store.list().find((r) => r.id === id);
    const fileRule = (id: string) => this.fileConfig.firewall.rules.find((r) => r.id === id);
    /** applies `rules` (the whole API rule list after the change); `persist` runs between
     * prepare and commit; on a failed commit `undo` restores the store */
    const change = async (action: string, id: string, actor: string, rules: StoredApiRule[], persist: () => void, undo: () => void, before: unknown, after: unknown): Promise<void> => {
      let persisted = false;
      try {
        await this.apply(this.fileConfig, rules, new Map(this.overrides), () => {
          persist();
          persisted = true;
        });
      } catch (err) {
        if (persisted) undo();
        this.auditRecord({ actor, action, target: id, before, after, outcome: 'rejected', detail: (err as Error).message });
        throw err;
      }
      this.auditRecord({ actor, action, target: id, before, after, outcome: 'ok', detail: `generation=${this.generation}` });
      this.deps.log.info({ actor, action, rule: id, generation: this.generation }, 'firewall rules changed through the API');
    };
    const stamp = (rule: unknown, actor: string, prev?: StoredApiRule): StoredApiRule => {
      const now = new Date().toISOString();
      return { id: (rule as { id: string }).id, rule, createdAt: prev?.createdAt ?? now, updatedAt: now, actor };
    };
    return {
      list: (): FirewallRuleView[] => {
        const views = [...this.fileConfig.firewall.rules.map(fileRuleView), ...store.list().map(apiRuleView)];
        const prio = (v: FirewallRuleView): number => Number(v.rule.priority);
        return views.sort((a, b) => prio(a) - prio(b));
      },
      get: (id: string): FirewallRuleView | null => {
        const f = fileRule(id);
        if (f) return fileRuleView(f);
        const a = findApi(id);
        return a ? apiRuleView(a) : null;
      },
      create: (input: unknown, actor: string) =>
        this.queue.run(async () => {
          parseApiRule(input);
          const rule = structuredClone(input) as { id: string };
          if (fileRule(rule.id)) throw new ConflictError(`firewall rule "${rule.id}" exists in the config file; file rules change by editing the file`);
          if (findApi(rule.id)) throw new ConflictError(`firewall rule "${rule.id}" exists; replace it with PUT`);
          const stored = stamp(rule, actor);
          await change('firewall.rule.create', rule.id, actor, [...store.list(), stored], () => store.put(rule, actor), () => store.delete(rule.id, actor), undefined, rule);
          return apiRuleView(findApi(rule.id) ?? stored);
        }),
      replace: (id: string, input: unknown, actor: string) =>
        this.queue.run(async () => {
          const withId = typeof input === 'object' && input !== null && !Array.isArray(input) && !('id' in input) ? { ...input, id } : input;
          parseApiRule(withId);
          const rule = structuredClone(withId) as { id: string };
          if (rule.id !== id) throw new ValidationError('the rule id in the body differs from the one in the path', [{ file: 'api', path: 'id', line: 0, column: 0, message: `expected "${id}", got "${rule.id}"` }]);
          if (fileRule(id)) throw new ConflictError(`firewall rule "${id}" comes from the config file and cannot be changed through the API`);
          const prev = findApi(id);
          if (!prev) throw new NotFoundError(`no API firewall rule "${id}"`);
          const list = store.list().map((r) => (r.id === id ? stamp(rule, actor, prev) : r));
          await change('firewall.rule.replace', id, actor, list, () => store.put(rule, actor), () => store.put(prev.rule, prev.actor), prev.rule, rule);
          return apiRuleView(findApi(id)!);
        }),
      remove: (id: string, actor: string) =>
        this.queue.run(async () => {
          if (fileRule(id)) throw new ConflictError(`firewall rule "${id}" comes from the config file and cannot be removed through the API`);
          const prev = findApi(id);
          if (!prev) throw new NotFoundError(`no API firewall rule "${id}"`);
          const list = store.list().filter((r) => r.id !== id);
          await change('firewall.rule.delete', id, actor, list, () => store.delete(id, actor), () => store.put(prev.rule, prev.actor), prev.rule, undefined);
        }),
    };
  }

  private programsControl(): ProgramsControl {
    const view = (spec: EngineSpec): ProgramView => {
      const o = this.overrides.get(spec.program);
      const engine = this.deps.engines.get(spec.program);
      return {
        name: spec.program,
        enabled: this.wanted(spec),
        ...(o && o.enabled !== o.fileValue ? { override: o.enabled ? ('enabled' as const) : ('disabled' as const) } : {}),
        status: engine ? engine.status() : null,
      };
    };
    return {
      list: () => this.deps.engines.specs.map(view),
      setEnabled: (name: string, enabled: boolean, actor: string) =>
        this.queue.run(async () => {
          const spec = this.deps.engines.spec(name);
          if (!spec) throw new NotFoundError(`no program "${name}" (known: ${this.deps.engines.specs.map((s) => s.program).join(', ')})`);
          const before = this.wanted(spec);
          const overrides = new Map(this.overrides);
          const fileValue = spec.enabledIn(this.fileConfig);
          if (enabled === fileValue) overrides.delete(name);
          else overrides.set(name, { enabled, fileValue });
          const action = enabled ? 'program.enable' : 'program.disable';
          try {
            await this.apply(this.fileConfig, this.deps.rules.list(), overrides);
          } catch (err) {
            this.auditRecord({ actor, action, target: name, before: { enabled: before }, after: { enabled }, outcome: 'rejected', detail: (err as Error).message });
            throw err instanceof ControlError ? err : new ApplyError((err as Error).message);
          }
          this.auditRecord({ actor, action, target: name, before: { enabled: before }, after: { enabled }, outcome: 'ok' });
          this.deps.log.info({ actor, program: name, enabled }, `program ${enabled ? 'enabled' : 'disabled'} at runtime`);
          return view(spec);
        }),
    };
  }
}
