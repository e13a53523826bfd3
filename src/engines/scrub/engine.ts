// tc-scrub as an engine: load the object, write the profiles compiled from the `scrub` section,
// attach at TC ingress (after tc-conntrack, before NAT) on every configured interface; a reload
// rewrites the profiles in place. Exports the per-interface action counters.
import type { ProgramStatus } from '../../status/types.js';
import type { AgentView, Engine, EngineContext, KernelLosses, PreparedChange, StopMode } from '../engine.js';
import { ProgramRuntime } from '../runtime/program.js';
import { sentinel_program_id } from '../../kernel/contract.gen.js';
import { compileScrub, type ScrubPolicy } from './compile.js';
import { SCRUB_ACTIONS, SCRUB_ENTRY, SCRUB_MAPS, SCRUB_OBJECT_FILE, SCRUB_PROGRAM, ScrubKernel } from './kernel.js';
import { ScrubMetrics } from './metrics.js';
import type { ScrubConfig } from './schema.js';

/** What tc-scrub reads of the config. */
export interface ScrubView extends AgentView {
  readonly scrub: ScrubConfig;
}

export class ScrubEngine implements Engine<ScrubView> {
  readonly program = SCRUB_PROGRAM;
  readonly programId = sentinel_program_id.SN_PROG_TC_SCRUB;
  private readonly rt: ProgramRuntime<ScrubKernel>;
  private readonly metrics: ScrubMetrics;
  private cfg: ScrubConfig;
  private entries = { ifaces: 0, nets4: 0, nets6: 0 };

  constructor(private readonly ctx: EngineContext<ScrubView>) {
    this.cfg = ctx.config.scrub;
    this.rt = new ProgramRuntime(ctx, {
      program: SCRUB_PROGRAM,
      objectFile: SCRUB_OBJECT_FILE,
      kernel: (obj) => ScrubKernel.over(obj),
      maps: () => ({
        [SCRUB_MAPS.ifaces]: () => this.entries.ifaces,
        [SCRUB_MAPS.nets4]: () => this.entries.nets4,
        [SCRUB_MAPS.nets6]: () => this.entries.nets6,
      }),
    });
    this.metrics = ScrubMetrics.for(ctx.metrics.registry);
  }

  private compile(c: ScrubConfig): ScrubPolicy {
    return compileScrub(c, this.ctx.interfaces);
  }

  private write(k: ScrubKernel, p: ScrubPolicy): void {
    const r = k.writePolicy(p);
    this.entries = { ifaces: p.ifaces.size, nets4: p.nets4.length, nets6: p.nets6.length };
    this.ctx.log.info({ program: SCRUB_PROGRAM, ...this.entries, removed: r.removed }, 'scrub profiles loaded');
  }

  /** Compiles the section (refusing interfaces the agent does not run on), loads the object,
   * writes the profiles before attaching so the first packet is scrubbed. */
  async start(): Promise<void> {
    const policy = this.compile(this.cfg);
    const k = this.rt.load();
    this.write(k, policy);
    this.rt.attachTc([{ entry: SCRUB_ENTRY, direction: 'ingress' }]);
  }

  prepare(next: ScrubView): PreparedChange {
    const c = next.scrub;
    const policy = this.compile(c);
    return {
      summary: { program: SCRUB_PROGRAM, interfaces: policy.ifaces.size, networks_v4: policy.nets4.length, networks_v6: policy.nets6.length },
      commit: async () => {
        this.write(this.rt.loadedKernel(), policy);
        this.cfg = c;
      },
    };
  }

  ringFds(): number[] {
    return [];
  }

  onRecord(): boolean {
    return false; // tc-scrub emits no records: what it does is counted
  }

  refresh(): void {
    const k = this.rt.kernel;
    if (!k) return;
    this.rt.refresh();
    for (const [ifindex, counts] of k.readActions()) {
      const name = this.rt.ifname(ifindex);
      if (name) this.metrics.observe(name, counts);
    }
  }

  /** The runtime's block, and the actions summed over interfaces. */
  status(): ProgramStatus {
    const s = this.rt.status();
    const k = this.rt.kernel;
    if (!k) return s;
    const stats: Record<string, number> = Object.fromEntries(SCRUB_ACTIONS.map((a) => [a, 0]));
    for (const counts of k.readActions().values()) for (const a of SCRUB_ACTIONS) stats[a]! += Number(counts[a]);
    return { ...s, stats };
  }

  losses(): KernelLosses {
    return this.rt.losses();
  }

  async stop(how: StopMode = 'detach'): Promise<string[]> {
    return this.rt.stop(how);
  }
}
