// tc-threatintel as an engine. The feeds (feeds.ts) keep each feed's last good indicators and
// fetch on their own schedules; a change asks the control plane for a refresh, which, like a
// reload, prepares (compiles every feed's indicators into one generation) and commits (builds
// the generation in the kernel's inactive slot and flips to it). A packet is judged by one
// generation whole; a feed that fails keeps its previous indicators in every later generation.
import type { ProgramStatus } from '../../status/types.js';
import type { AgentView, Engine, EngineContext, KernelLosses, PreparedChange, StopMode } from '../engine.js';
import { ProgramRuntime } from '../runtime/program.js';
import { sentinel_program_id } from '../../kernel/contract.gen.js';
import { domainIndicators, type Indicator } from '../../intel/indicator.js';
import { compileIntel, type CompiledIntel } from './compile.js';
import { decodeThreatIntelEvent, emptyThreatIntelEvent, threatIntelAlert, type ThreatIntelAlertContext } from './events.js';
import { FeedManager, type FeedStatus } from './feeds.js';
import { THREATINTEL_OBJECT_FILE, THREATINTEL_PROGRAM, ThreatIntelKernel, TI_ENTRY } from './kernel.js';
import { ThreatIntelMetrics } from './metrics.js';
import type { ThreatintelConfig } from './schema.js';
import type { ThreatintelResolved } from './section.js';

/** What tc-threatintel reads of the config. */
export interface ThreatintelView extends AgentView {
  readonly threatintel: ThreatintelConfig;
  readonly resolved: { readonly threatintel: ThreatintelResolved };
}

/** What the routes need of the running engine. */
export interface ThreatIntelControl {
  feedStatus(): FeedStatus[];
  refreshFeeds(id?: string): Promise<{ known: boolean; changed: boolean; applied: boolean; error?: string }>;
  /** the domain-name indicators of every feed's last good content (what DNS blocking takes) */
  domains(): { name: string; indicator: Indicator; feed: string }[];
}

export class ThreatIntelEngine implements Engine<ThreatintelView>, ThreatIntelControl {
  readonly program = THREATINTEL_PROGRAM;
  readonly programId = sentinel_program_id.SN_PROG_TC_THREATINTEL;
  private readonly rt: ProgramRuntime<ThreatIntelKernel>;
  private readonly feeds: FeedManager;
  private readonly metrics: ThreatIntelMetrics;
  private cfg: ThreatintelConfig;
  /** the generation packets read, and the one before it (events in flight may name it) */
  private current: { id: number; compiled: CompiledIntel } | null = null;
  private previous: { id: number; compiled: CompiledIntel } | null = null;
  private nextId = 1;
  private lastSwap: Record<string, number> = {};
  private readonly record = emptyThreatIntelEvent();
  private readonly alertCtx: ThreatIntelAlertContext;

  constructor(private readonly ctx: EngineContext<ThreatintelView>) {
    this.cfg = ctx.config.threatintel;
    this.metrics = ThreatIntelMetrics.for(ctx.metrics.registry);
    this.rt = new ProgramRuntime(ctx, {
      program: THREATINTEL_PROGRAM,
      objectFile: THREATINTEL_OBJECT_FILE,
      kernel: (obj) => ThreatIntelKernel.over(obj),
      maps: () => ({ ti_indicators: () => this.kernelEntries() }),
    });
    this.feeds = new FeedManager(ctx.log, {
      onChange: (feed) => {
        void ctx.requestRefresh(`threat-intel feed ${feed} changed`).then((r) => {
          if (!r.ok) ctx.log.error({ program: THREATINTEL_PROGRAM, feed, err: r.error }, 'threat-intel refresh refused; the previous indicators stay');
        });
      },
      onFetch: (feed, outcome) => {
        this.metrics.fetches.inc({ feed, outcome });
        this.metrics.feedUp.set({ feed }, outcome === 'error' ? 0 : 1);
      },
    });
    this.alertCtx = {
      generation: (id) => (this.current?.id === id ? this.current.compiled : this.previous?.id === id ? this.previous.compiled : undefined),
      interfaceName: (ifindex) => this.rt.ifname(ifindex),
      toWallNs: (boot) => ctx.clock.toWallNs(boot),
    };
  }

  async start(): Promise<void> {
    this.rt.load();
    await (await this.prepare(this.ctx.config)).commit();
    this.rt.attachTc([{ entry: TI_ENTRY, direction: 'ingress' }]);
  }

  /** Fetches the feeds that are new or changed (kept ones keep their content), then compiles
   * every feed's last good indicators; nothing is written to the kernel. */
  async prepare(next: ThreatintelView): Promise<PreparedChange> {
    const ti = next.threatintel;
    const quarantineIfindex = this.quarantineIfindex(ti);
    await this.feeds.sync(ti, next.resolved.threatintel.ca);
    const compiled = compileIntel(this.feeds.indicators(ti.mode), Date.now());
    const s = compiled.set;
    return {
      summary: { program: THREATINTEL_PROGRAM, feeds: compiled.feeds.length, addresses_v4: s.v4.count, addresses_v6: s.v6.count, networks_v4: s.lpm4.count, networks_v6: s.lpm6.count },
      commit: async () => {
        const k = this.rt.loadedKernel();
        const id = this.nextId++;
        const t0 = performance.now();
        try {
          const t = await k.swap(id, compiled.set);
          this.lastSwap = { ...t, totalMs: performance.now() - t0 };
        } catch (e) {
          this.metrics.swaps.inc({ result: 'error' });
          throw e;
        }
        k.writeConfig({ enabled: true, quarantineIfindex, quarantineVlan: ti.quarantine?.vlan_id ?? 0 });
        this.metrics.swaps.inc({ result: 'ok' });
        this.metrics.swapSeconds.set((performance.now() - t0) / 1000);
        this.previous = this.current;
        this.current = { id, compiled };
        this.cfg = ti;
        this.exportFeedMetrics();
        this.ctx.log.info({ program: THREATINTEL_PROGRAM, generation: id, v4: s.v4.count, v6: s.v6.count, net4: s.lpm4.count, net6: s.lpm6.count, ms: Math.round(performance.now() - t0) }, 'threat-intel generation active');
        // the generation before the previous one is no longer needed by anyone
        void k.releaseInactive().catch((err: unknown) => this.ctx.log.warn({ program: THREATINTEL_PROGRAM, err: (err as Error).message }, 'releasing the old threat-intel generation failed'));
      },
    };
  }

  private quarantineIfindex(ti: ThreatintelConfig): number {
    if (!ti.quarantine) return 0;
    const i = this.ctx.interfaces.find((x) => x.ifname === ti.quarantine!.interface);
    if (i) return i.ifindex;
    throw new Error(`threatintel.quarantine.interface: "${ti.quarantine.interface}" is not one of agent.interfaces (${this.ctx.interfaces.map((x) => x.ifname).join(', ')})`);
  }

  private exportFeedMetrics(): void {
    this.metrics.indicators.reset();
    this.metrics.skipped.reset();
    for (const f of this.feeds.status(this.cfg.mode)) {
      for (const [type, n] of Object.entries(f.by_type)) this.metrics.indicators.set({ feed: f.id, type }, n);
      for (const [reason, r] of Object.entries(f.skipped)) this.metrics.skipped.set({ feed: f.id, reason }, r.count);
    }
    const s = this.current?.compiled.set;
    if (s) for (const [kind, n] of [['v4', s.v4.count], ['v6', s.v6.count], ['net4', s.lpm4.count], ['net6', s.lpm6.count]] as const) this.metrics.kernelEntries.set({ kind }, n);
  }

  private kernelEntries(): number {
    const s = this.current?.compiled.set;
    return s ? s.v4.count + s.v6.count + s.lpm4.count + s.lpm6.count : 0;
  }

  feedStatus(): FeedStatus[] {
    return this.feeds.status(this.cfg.mode);
  }

  async refreshFeeds(id?: string): Promise<{ known: boolean; changed: boolean; applied: boolean; error?: string }> {
    if (id !== undefined && !this.feeds.has(id)) return { known: false, changed: false, applied: false };
    const changed = await this.feeds.refresh(id);
    if (!changed) return { known: true, changed: false, applied: false };
    const r = await this.ctx.requestRefresh(`threat-intel feed${id ? ` ${id}` : 's'} refreshed through the API`);
    return { known: true, changed: true, applied: r.ok, ...(r.error !== undefined && { error: r.error }) };
  }

  domains(): { name: string; indicator: Indicator; feed: string }[] {
    return this.feeds.indicators(this.cfg.mode).flatMap((f) => domainIndicators(f.indicators).map((d) => ({ ...d, feed: f.policy.id })));
  }

  ringFds(): number[] {
    return this.rt.ringFds();
  }

  onRecord(buf: Buffer, offset: number, length: number): boolean {
    if (!decodeThreatIntelEvent(buf, offset, length, this.record)) return false;
    const alert = threatIntelAlert(this.record, this.alertCtx);
    if (!alert) {
      this.metrics.unknownGeneration.inc();
      return true;
    }
    this.ctx.emit(alert);
    return true;
  }

  refresh(): void {
    this.rt.refresh();
  }

  status(): ProgramStatus {
    return { ...this.rt.status(), stats: { generation: this.current?.id ?? 0, ...this.lastSwap }, feeds: this.feedStatus() };
  }

  losses(): KernelLosses {
    return this.rt.losses();
  }

  async stop(how: StopMode = 'detach'): Promise<string[]> {
    this.feeds.stop();
    return this.rt.stop(how);
  }
}
