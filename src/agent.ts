// The composition root: the only file that knows every engine. It loads nothing itself; it
// resolves interfaces, prepares the pin root, starts the engines, routes their ring-buffer
// records to them, serves the API, and takes it all down again. Data flows one way: policy down
// into maps, events up into records (alerts, DNS, flows, anomalies, DLP findings).
import { mkdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { createAlertPipeline, prepareAlertingReload } from './alerts/build.js';
import type { SentinelRecord } from './alerts/records.js';
import type { AlertPipeline } from './alerts/pipeline.js';
import { apiAuth } from './api/auth/index.js';
import { apiOptionsFromAgentConfig, startApiServer, type RunningApi } from './api/server.js';
import { BlocklistKernel } from './blocklist/kernel.js';
import { MemoryBlocklistRepo } from './blocklist/memory-repo.js';
import { registerBlocklistMetrics } from './blocklist/metrics.js';
import { blocklistRoutes } from './blocklist/routes.js';
import { BlocklistService } from './blocklist/service.js';
import type { AgentStatus } from './status/types.js';
import { ENGINES, loadConfigFile, type Config } from './catalog.js';
import { apiExposureProblem } from './config/sections/agent.js';
import { MemoryApiRuleStore, type ApiRuleStore } from './control/api-rules.js';
import { ConfigFileWatcher } from './control/config-watch.js';
import { LiveControlPlane, type AuditTrail } from './control/control-plane.js';
import { EngineSet } from './control/engine-set.js';
import type { ControlPlane } from './control/types.js';
import type { Engine as AnyEngine, EngineContext, InterfaceRef, StopMode } from './engines/engine.js';
import { PinRootState } from './engines/runtime/adoption.js';
import { sharedMapSizes } from './engines/runtime/shared-maps.js';

type Engine = AnyEngine<Config>;
import { BootClock } from './kernel/boot-clock.js';
import { ensureBpffs } from './kernel/bpffs.js';
import { ifindexOf } from './kernel/link.js';
import { RingReader } from './kernel/ring.js';
import { RecordRouter } from './engines/record-router.js';
import { createLogger } from './log.js';
import { AgentMetrics } from './metrics/agent-metrics.js';
import { registerStoreMetrics, Store, storeOptions } from './store/index.js';
import { REPO_ROOT, VERSION } from './version.js';

export interface AgentOptions {
  config: Config;
  logger?: Logger;
  /** directory holding the built BPF objects; default <repo>/build/bpf */
  objectDir?: string;
  /** reads the config file again on reload (default loadConfigFile; the run command adds its
   * command-line overrides) */
  loadConfig?: (file: string) => Promise<Config>;
  /** watch the config file and reload when it changes (default true) */
  watchConfig?: boolean;
  watchDebounceMs?: number;
  /** where API firewall rules are kept (default: the store's, kept across restarts) */
  rules?: ApiRuleStore;
  audit?: AuditTrail;
  /** false: no SQLite store (API rules in memory, no stored alerts or audit trail) */
  store?: boolean;
}

class AgentStartError extends Error {}

export class Agent {
  readonly metrics = new AgentMetrics({ version: VERSION });
  readonly log: Logger;
  private engineSet: EngineSet | null = null;
  private controlPlane: LiveControlPlane | null = null;
  private watcher: ConfigFileWatcher | null = null;
  private ring: RingReader | null = null;
  private router: RecordRouter | null = null;
  /** records/failures counted by ring readers replaced since start (engines came and went) */
  private ringBase = { records: 0 };
  private alerts: AlertPipeline | null = null;
  private store: Store | null = null;
  private blocklist: BlocklistService | null = null;
  /** deliveries per sink already folded into alerts_written_total */
  private readonly delivered = new Map<string, number>();
  private api: RunningApi | null = null;
  private poller: NodeJS.Timeout | null = null;
  private state: 'starting' | 'running' | 'stopping' = 'starting';
  private readonly clock = new BootClock();
  private loadedAt = new Date();
  /** the file's config now live (the one given at start until a reload) */
  private current: Config;
  private decodeErrors = 0;
  private headerFailures = 0;
  private readonly pinRoot: string;
  /** what a previous agent left under the pin root, and the manifest this run writes */
  private pins: PinRootState | null = null;
  /** set when start failed: what a previous agent left (and this one took over) stays */
  private stopMode: StopMode | null = null;
  private stopped: Promise<void> | null = null;

  private constructor(
    readonly config: Config,
    private readonly opts: AgentOptions,
  ) {
    this.log = opts.logger ?? createLogger({ level: config.agent.log_level, format: config.agent.log_format });
    this.pinRoot = config.agent.pin_root;
    this.current = config;
  }

  /** Starts everything or nothing: a failure half-way tears down what was started. */
  static async start(opts: AgentOptions): Promise<Agent> {
    const agent = new Agent(opts.config, opts);
    try {
      await agent.bringUp();
    } catch (err) {
      // Whatever enforced before this agent came keeps enforcing: hooks taken over keep the
      // programs they now run. A start from nothing is undone whole.
      agent.stopMode = agent.pins?.previousManifest ? 'keep' : 'detach';
      await agent.stop();
      throw err;
    }
    return agent;
  }

  get apiUrl(): string | null {
    return this.api?.url ?? null;
  }

  /** Reloads, API rules and runtime enable/disable; null before start completed. */
  get control(): ControlPlane | null {
    return this.controlPlane;
  }

  /** Running engines, in start order. */
  private get engines(): Engine[] {
    return this.engineSet?.engines() ?? [];
  }

  /** SIGHUP: logrotate moved the EVE file, and/or the config changed. */
  async onSighup(): Promise<void> {
    await this.alerts?.reopen();
    await this.controlPlane?.reload('signal', 'signal:SIGHUP');
  }

  private async bringUp(): Promise<void> {
    const { agent, alerting, storage } = this.config;

    // Interfaces first: a policy that cannot attach where it was asked to is not enforced.
    const interfaces: InterfaceRef[] = agent.interfaces.map((ifname) => {
      try {
        return { ifname, ifindex: ifindexOf(ifname) };
      } catch (err) {
        throw new AgentStartError(`agent.interfaces: ${(err as Error).message}`);
      }
    });

    await ensureBpffs(this.pinRoot);
    // A previous agent's links keep enforcing until each engine replaces their programs in
    // place; its maps are kept where their layouts match (src/engines/runtime/adoption.ts).
    try {
      this.pins = PinRootState.open(this.pinRoot, this.log, VERSION);
    } catch (err) {
      throw new AgentStartError(`agent.pin_root: ${(err as Error).message}`);
    }
    await mkdir(path.join(this.pinRoot, 'maps'), { recursive: true });
    await mkdir(path.join(this.pinRoot, 'links'), { recursive: true });

    this.alerts = await createAlertPipeline(alerting, { registry: this.metrics.registry, logger: this.log, version: VERSION });
    if (this.opts.store !== false) {
      this.store = Store.open(storeOptions(storage, this.log));
      registerStoreMetrics(this.metrics.registry, this.store);
      const store = this.store;
      // every kind: alerts to their table, the others to the records table
      this.alerts.subscribe((r) => void store.enqueue(r), { name: 'store' });
    }

    const objectDir = this.opts.objectDir ?? path.join(REPO_ROOT, 'build', 'bpf');
    // The block list before any engine: its maps exist, filled from the store, when xdp-firewall
    // loads and reuses them, so the firewall enforces it from its first packet.
    const blocklist = (this.blocklist = new BlocklistService({
      target: BlocklistKernel.create(objectDir, path.join(this.pinRoot, 'maps'), this.pins.loader('blocklist')),
      repo: this.store?.blocklist ?? new MemoryBlocklistRepo(),
      maxEntries: this.config.blocklist.max_entries,
      sampleEvery: this.config.blocklist.event_sample_every,
      log: this.log.child({ component: 'blocklist' }),
      ...(this.opts.audit ?? this.store?.audit ? { audit: (this.opts.audit ?? this.store?.audit)! } : {}),
      enforcement: () => {
        const enforcers = ENGINES.filter((m) => m.enforcesBlocklist);
        return enforcers.some((m) => this.engineSet?.get(m.program))
          ? { enforced: true }
          : { enforced: false, note: `${enforcers.map((m) => m.program).join(', ')} not running: entries are kept and enforced as soon as it starts` };
      },
    }));
    const restored = blocklist.start();
    registerBlocklistMetrics(this.metrics.registry, blocklist);
    if (restored.restored || restored.expired) this.log.info({ ...restored }, 'block list restored from the store');

    const baseCtx: Omit<EngineContext<Config>, 'requestRefresh' | 'sharedMapSizes' | 'blocklist'> = {
      config: this.config,
      log: this.log,
      metrics: this.metrics,
      pinRoot: this.pinRoot,
      adoption: this.pins,
      objectDir,
      clock: this.clock,
      interfaces,
      emit: (record: SentinelRecord) => {
        this.alerts?.push(record);
      },
    };
    const auth = apiAuth(this.config.auth, { log: this.log, registry: this.metrics.registry });
    // Refreshes go through the control plane, which exists once the engines are built.
    let control: LiveControlPlane | null = null;
    const contextFor = (program: string) => (config: Config): EngineContext<Config> => ({
      ...baseCtx,
      config,
      sharedMapSizes: sharedMapSizes(config),
      blocklist: blocklist.forOwner(program),
      requestRefresh: async (reason) => {
        if (!control) return { ok: false, error: 'the agent is starting' };
        const o = await control.refresh(program, reason);
        return o.ok ? { ok: true } : { ok: false, error: o.error ?? 'refused' };
      },
    });
    this.engineSet = new EngineSet(ENGINES, contextFor, this.log, () => this.openRing());
    control = new LiveControlPlane({
      file: this.config.source.file,
      initial: this.config,
      load: (file) => (this.opts.loadConfig ?? loadConfigFile)(file),
      engines: this.engineSet,
      participants: [
        {
          name: 'auth',
          // keys and JWT settings swap in one step; a bad key file refuses the reload
          prepare: async (next, running) => {
            if (JSON.stringify(next.auth) === JSON.stringify(running.auth)) return null;
            // the listener keeps its running address until a restart: judge exposure by it
            const exposure = apiExposureProblem({ ...running.agent, allow_unauthenticated_api: next.agent.allow_unauthenticated_api }, next.auth.enabled);
            if (exposure) throw new Error(exposure.message);
            const commit = await auth.prepare(next.auth);
            return { commit: async () => commit(), abort: async () => undefined };
          },
        },
        {
          name: 'blocklist',
          // bounds only: the entries themselves are not in the file and outlive every reload
          prepare: async (next) => {
            const change = blocklist.prepareLimits({ maxEntries: next.blocklist.max_entries, sampleEvery: next.blocklist.event_sample_every });
            return change ? { commit: async () => change.commit(), abort: async () => undefined } : null;
          },
        },
        {
          name: 'alerting',
          // sinks are reopened only when the alerting section changed
          prepare: async (next, running) =>
            this.alerts && JSON.stringify(next.alerting) !== JSON.stringify(running.alerting)
              ? prepareAlertingReload(this.alerts, next.alerting, { logger: this.log, version: VERSION })
              : null,
        },
      ],
      rules: this.opts.rules ?? this.store?.rules ?? new MemoryApiRuleStore(),
      ...(this.opts.audit ?? this.store?.audit ? { audit: (this.opts.audit ?? this.store?.audit)! } : {}),
      log: this.log,
      registry: this.metrics.registry,
      status: () => this.status(),
      onApplied: (file) => {
        this.current = file;
        this.loadedAt = new Date();
        this.saveManifest(); // engines may have started or stopped
        this.reportAdoption();
      },
    });
    await this.engineSet.startAll(control.effectiveConfig, control.wanted);
    this.controlPlane = control;
    const leftovers = this.pins.removeLeftovers();
    if (leftovers.length) this.log.warn({ problems: leftovers }, 'could not remove everything a previous agent left');
    this.pins.save();
    this.reportAdoption();

    this.refresh();
    this.poller = setInterval(() => this.refresh(), agent.metrics_interval_ms);
    this.poller.unref();

    this.api = await startApiServer(
      {
        status: () => this.status(),
        registry: this.metrics.registry,
        refreshMetrics: async () => this.refresh(),
        logger: this.log,
        version: VERSION,
        startedAt: this.loadedAt,
        engineRoutes: [
          ...ENGINES.flatMap((m) => (m.routes ? [{ program: m.program, routes: m.routes, engine: () => this.engineSet?.get(m.program) }] : [])),
          // the block list is a service, not an engine, but its routes plug in the same way
          { program: 'blocklist', routes: blocklistRoutes, engine: () => this.blocklist },
        ],
        control,
        ...(this.store ? { alerts: this.store.alerts, records: this.store.records, audit: this.store.audit, ruleHistory: this.store.rules } : {}),
        auth,
      },
      apiOptionsFromAgentConfig(agent),
    );
    if (this.opts.watchConfig !== false) {
      this.watcher = new ConfigFileWatcher(this.config.source.file, () => void control.fileChanged(), {
        log: this.log,
        ...(this.opts.watchDebounceMs !== undefined ? { debounceMs: this.opts.watchDebounceMs } : {}),
      });
      this.watcher.start();
    }
    this.state = 'running';
    this.log.info({ api: this.api.url, api_socket: this.api.socketPath, pin_root: this.pinRoot, interfaces: agent.interfaces, programs: this.engines.map((e) => e.program) }, 'ebpfsentinel running');
  }

  /** What each running program took over, into metrics (it changes only when engines start). */
  private reportAdoption(): void {
    for (const e of this.engines) {
      const a = e.status().adoption;
      this.metrics.setAdoption(e.program, a ? { kept: a.maps_kept.length, fresh: a.maps_fresh.length, links: a.links_adopted } : null);
    }
  }

  private saveManifest(): void {
    try {
      this.pins?.save();
    } catch (err) {
      this.log.error({ err: (err as Error).message, pin_root: this.pinRoot }, 'cannot write the pin root manifest: a restarted agent will start every map fresh');
    }
  }

  /** One reader over every running engine's ring; records go to the engine named in their
   * header. Called again whenever engines start or stop: the old reader is drained first so
   * no record of a leaving engine is lost, and its counts carry over. */
  private openRing(): void {
    if (this.ring) {
      try {
        this.ring.consume();
      } catch (err) {
        this.log.error({ err }, 'draining the ring reader before replacing it failed');
      }
      this.foldRingStats();
      this.ringBase.records += this.ring.stats.records;
      this.headerFailures = 0;
      this.ring.close();
      this.ring = null;
      this.router = null;
    }
    const fds = this.engines.flatMap((e) => e.ringFds());
    if (!fds.length) return;
    this.router = new RecordRouter(this.engines);
    this.ring = new RingReader(fds, this.router.handle, { onHandlerError: (err) => this.log.error({ err }, 'ring record handler failed') });
  }

  /** Moves what the reader counted since the last call into metrics. Records the reader itself
   * refused (shorter than the event header) name no program. */
  private foldRingStats(): void {
    if (!this.ring) return;
    const f = this.ring.stats.decodeFailures;
    if (f > this.headerFailures) this.undecodable('unknown', f - this.headerFailures);
    this.headerFailures = f;
    const counts = this.router?.take();
    if (!counts) return;
    for (const [program, n] of counts.received) this.metrics.eventsReceived(program, n);
    for (const [program, n] of counts.undecodable) this.undecodable(program, n);
  }

  private undecodable(program: string, n = 1): void {
    this.decodeErrors += n;
    this.metrics.userspaceLoss(program, 'decode_error', n);
  }

  /** Sink deliveries into alerts_written_total{sink} (the EVE file keeps its "eve-file" label). */
  private foldAlertStats(): void {
    if (!this.alerts) return;
    for (const sink of this.alerts.stats().sinks) {
      // alerts only: the other kinds have their own series (record_sink_written_total)
      const now = sink.records.alert?.delivered ?? 0;
      const prev = this.delivered.get(sink.name) ?? 0;
      if (now > prev) this.metrics.alertsWritten(sink.name, now - prev);
      this.delivered.set(sink.name, now);
    }
  }

  private refresh(): void {
    this.foldRingStats();
    this.foldAlertStats();
    for (const e of this.engines) {
      try {
        e.refresh();
      } catch (err) {
        this.log.error({ err, program: e.program }, 'reading kernel counters failed');
      }
    }
  }

  status(): AgentStatus {
    this.foldRingStats();
    const lost: Record<string, number> = { ring_full: 0, backpressure: 0, decode_error: this.decodeErrors, queue_full: 0, sink_error: 0 };
    for (const e of this.engines) {
      const l = e.losses();
      lost.ring_full! += l.ring_full;
      lost.backpressure! += l.backpressure;
    }
    if (this.alerts) {
      for (const sink of this.alerts.stats().sinks) {
        for (const [reason, n] of Object.entries(sink.dropped)) {
          if (reason === 'queue_full') lost.queue_full! += n;
          else lost.sink_error! += n;
        }
      }
    }
    if (this.store) {
      const st = this.store.stats();
      lost.queue_full! += st.alertsDropped;
      lost.sink_error! += st.alertsFailed;
      for (const c of Object.values(st.records)) {
        lost.queue_full! += c.dropped;
        lost.sink_error! += c.failed;
      }
    }
    return {
      state: this.state,
      programs: this.engines.map((e) => e.status()),
      events: { received: this.ringBase.records + (this.ring?.stats.records ?? 0), lost },
      config: { path: path.resolve(this.current.source.file), loaded_at: this.loadedAt },
      ...(this.blocklist ? { blocklist: this.blocklist.status() } : {}),
    };
  }

  /** Detaches every link, removes the pins, flushes alerts. Safe to call more than once. */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    this.state = 'stopping';
    if (this.poller) clearInterval(this.poller);
    this.watcher?.close();
    // a reload or API change in flight finishes before engines go away; later ones are refused
    if (this.controlPlane) await this.controlPlane.close().catch(() => undefined);
    const errors: string[] = [];
    const attempt = async (what: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        errors.push(`${what}: ${(err as Error).message}`);
      }
    };
    if (this.api) await attempt('api', () => this.api!.close());
    // Last records still in the rings become alerts before the engines and the writer close.
    if (this.ring) {
      await attempt('ring drain', () => this.ring!.consume());
      this.foldRingStats();
      this.ring.close();
      this.ring = null;
    }
    // on_exit applies as last reloaded
    const how: StopMode = this.stopMode ?? this.controlPlane?.effectiveConfig.agent.on_exit ?? this.config.agent.on_exit;
    if (this.engineSet) errors.push(...(await this.engineSet.stopAll(how)));
    if (this.blocklist) await attempt('blocklist close', () => this.blocklist!.close());
    if (this.alerts) await attempt('alerts close', () => this.alerts!.close());
    if (this.store) await attempt('store close', () => this.store!.close());
    if (how === 'keep') {
      // The programs go on enforcing from their pins; the manifest tells the next agent (and
      // `ebpfsentinel detach`) what they are.
      if (this.pins) await attempt('manifest', () => this.pins!.save('kept'));
      if (errors.length) this.log.warn({ errors }, 'stopped with errors');
      else this.log.info({ pin_root: this.pinRoot }, 'stopped: programs left attached and enforcing (agent.on_exit: keep); `ebpfsentinel detach` removes them');
      return;
    }
    // Only what this agent created: pin_root may be shared with other tools.
    await attempt('pins', async () => {
      await rm(path.join(this.pinRoot, 'links'), { recursive: true, force: true });
      await rm(path.join(this.pinRoot, 'maps'), { recursive: true, force: true });
      await rm(path.join(this.pinRoot, 'manifest'), { force: true });
      await rmdir(this.pinRoot).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT' && e.code !== 'ENOTEMPTY') throw e;
      });
    });
    if (errors.length) this.log.warn({ errors }, 'stopped with errors');
    else this.log.info('stopped: programs detached, pins removed');
  }
}
