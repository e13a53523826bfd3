// The running engines, and how a new config reaches them: all engines that keep running prepare
// their part first (nothing is written), and only when every one of them accepted it are newly
// enabled engines started, the others committed and disabled ones stopped. A failure before the
// commit leaves everything as it was.
import type { Logger } from 'pino';
import type { Config } from '../catalog.js';
import type { Engine as AnyEngine, EngineContext as AnyEngineContext, EngineModule, PreparedChange, StopMode } from '../engines/engine.js';
import type { EngineChange } from './types.js';

/** An engine as the catalog lists it (src/catalog.ts), over the whole config. */
export type EngineSpec = Pick<EngineModule<Config>, 'program' | 'enabledIn' | 'create' | 'dependsOn'>;
type Engine = AnyEngine<Config>;
type EngineContext = AnyEngineContext<Config>;

/** A change checked by every engine; commit() makes it live. */
export interface EngineTransaction {
  readonly changes: EngineChange[];
  commit(): Promise<void>;
}

/** The reason a config cannot be enforced, naming the engine that refused it. */
export class EnginePrepareError extends Error {
  override name = 'EnginePrepareError';
  constructor(
    readonly program: string,
    cause: unknown,
  ) {
    super(`${program}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export class EngineSet {
  private readonly running = new Map<string, Engine>();
  /** the config the running engines were last started or committed with */
  private current: Config | null = null;

  constructor(
    readonly specs: readonly EngineSpec[],
    /** context for an engine started with `config` as its first policy */
    /** the context an engine (by program) is built with, `config` being its first policy */
    private readonly contextFor: (program: string) => (config: Config) => EngineContext,
    private readonly log: Logger,
    /** told when the set of running engines changed, before a removed engine is stopped (the
     * agent re-reads ring fds; it must let go of a ring before its engine closes it) */
    private readonly onMembershipChange: () => void = () => {},
  ) {
    const seen = new Set<string>();
    for (const s of specs) {
      if (seen.has(s.program)) throw new Error(`engine ${s.program} is listed twice`);
      seen.add(s.program);
    }
  }

  spec(program: string): EngineSpec | undefined {
    return this.specs.find((s) => s.program === program);
  }

  /** Running engines in start order. */
  engines(): Engine[] {
    return this.specs.flatMap((s) => this.running.get(s.program) ?? []);
  }

  get(program: string): Engine | undefined {
    return this.running.get(program);
  }

  /** Starts the wanted engines in order; a failure propagates (the caller stops what started). */
  async startAll(config: Config, wanted: (spec: EngineSpec) => boolean): Promise<void> {
    for (const s of this.specs) {
      if (!wanted(s)) continue;
      const e = s.create(this.contextFor(s.program)(config));
      this.running.set(s.program, e);
      await e.start();
    }
    this.current = config;
    this.onMembershipChange();
  }

  /** Phase one: every engine that keeps running compiles its part of `next`. Throws
   * EnginePrepareError, with nothing changed, when one refuses. */
  async prepare(next: Config, wanted: (spec: EngineSpec) => boolean): Promise<EngineTransaction> {
    const changes: EngineChange[] = [];
    const prepared: PreparedChange[] = [];
    const toStart: EngineSpec[] = [];
    const toStop: Engine[] = [];
    // Dependents of an engine that comes or goes are restarted: stopped before, started after.
    const flips = new Set(this.specs.filter((s) => this.running.has(s.program) !== wanted(s)).map((s) => s.program));
    const restart = this.specs.filter((s) => this.running.has(s.program) && wanted(s) && (s.dependsOn ?? []).some((d) => flips.has(d)));
    for (const s of this.specs) {
      if (restart.includes(s)) {
        toStart.push(s);
        changes.push({ program: s.program, action: 'started', summary: { restarted: true, because: (s.dependsOn ?? []).filter((d) => flips.has(d)) } });
        continue;
      }
      const cur = this.running.get(s.program);
      const want = wanted(s);
      if (cur && want) {
        let change: PreparedChange;
        try {
          change = await cur.prepare(next);
        } catch (err) {
          throw new EnginePrepareError(s.program, err);
        }
        prepared.push(change);
        changes.push({ program: s.program, action: 'updated', summary: change.summary });
      } else if (!cur && want) {
        toStart.push(s);
        changes.push({ program: s.program, action: 'started' });
      } else if (cur && !want) {
        toStop.push(cur);
        changes.push({ program: s.program, action: 'stopped' });
      }
    }
    return {
      changes,
      commit: async () => {
        const restarting = restart.map((s) => this.running.get(s.program)!);
        if (restarting.length) {
          // Dependents let go of hooks and chains first; a dependency that leaves goes before
          // they come back, so they can take its place.
          for (const e of restarting) this.running.delete(e.program);
          for (const e of toStop) this.running.delete(e.program);
          this.onMembershipChange();
          for (const e of [...restarting, ...toStop]) {
            const problems = await e.stop();
            if (problems.length) this.log.warn({ program: e.program, problems }, 'stopped with problems');
          }
          toStop.length = 0;
        }
        // Starting can fail (load, attach): do it before anything running changes, and undo
        // only what this commit started.
        const started: Engine[] = [];
        try {
          for (const s of toStart) {
            const e = s.create(this.contextFor(s.program)(next));
            started.push(e);
            await e.start();
          }
        } catch (err) {
          for (const e of started.reverse()) {
            const problems = await e.stop();
            if (problems.length) this.log.warn({ program: e.program, problems }, 'undoing a failed start left problems');
          }
          // Restarted dependents come back as they were (best effort; said loudly otherwise).
          for (const s of restart) {
            try {
              const e = s.create(this.contextFor(s.program)(this.current ?? next));
              await e.start();
              this.running.set(s.program, e);
            } catch (again) {
              this.log.error({ err: again, program: s.program }, 'could not restart after a failed change: the program is not running');
            }
          }
          if (restart.length) this.onMembershipChange();
          throw err;
        }
        for (const e of started) this.running.set(e.program, e);
        for (const change of prepared) await change.commit();
        for (const e of toStop) this.running.delete(e.program);
        // The ring reader lets go of a stopping engine's ring before the engine closes it.
        if (started.length || toStop.length) this.onMembershipChange();
        for (const e of toStop) {
          const problems = await e.stop();
          if (problems.length) this.log.warn({ program: e.program, problems }, 'stopped with problems');
        }
        this.current = next;
      },
    };
  }

  /** Stops every engine in reverse start order (detaching, or leaving the programs enforcing);
   * returns the problems met. */
  async stopAll(how: StopMode = 'detach'): Promise<string[]> {
    const errors: string[] = [];
    const all = this.engines().reverse();
    this.running.clear();
    for (const e of all) errors.push(...(await e.stop(how)).map((m) => `${e.program}: ${m}`));
    return errors;
  }
}
