// One kernel program as every engine runs it: its object loaded under the agent's pin root (ring
// buffers and shared maps sized, every map pinned), its attachments (XDP, TC at its pipeline
// rank, probes), its per-interface counters read into metrics, its status block, its ring
// losses, and a stop that never throws and says what went wrong. An engine holds one runtime per
// program it owns and keeps only what is its own: policy, records, program-specific state.
import path from 'node:path';
import type { MapStatus, ProgramStatus } from '../../status/types.js';
import { ensureBpffsSync } from '../../kernel/bpffs.js';
import { BpfMapType } from '../../kernel/bpf-enums.js';
import type { TcDirection } from '../../kernel/link.js';
import type { BpfObject } from '../../kernel/object.js';
import type { AgentView, EngineContext, InterfaceRef, KernelLosses, StopMode } from '../engine.js';
import { Attachments, type ProbeTarget } from './attachments.js';
import { COMMON_SLOTS, kernelLosses, kernelSnapshot, mapStatuses, programCounters, type InterfaceCounters, type MapFill } from './counters.js';
import { loadObject, pinObjectMaps, removePins } from './object.js';
import { adoptionStatus } from './adoption.js';

/** What a program's kernel face (its kernel.ts class) gives the runtime. */
export interface ProgramKernel {
  readonly obj: BpfObject;
  /** per-interface counters (counters.h slots first, then the program's own), summed over CPUs */
  readCounters?(): ReadonlyMap<number, InterfaceCounters>;
  close(): void;
}

/** The counters a kernel face reads, as it types them. */
export type CountersOf<K extends ProgramKernel> = K extends { readCounters(): ReadonlyMap<number, infer C> } ? C : InterfaceCounters;

export interface ProgramSpec<K extends ProgramKernel> {
  /** the name users see, e.g. "xdp-firewall": status, metrics labels, pins, logs */
  readonly program: string;
  /** object file in the agent's object directory */
  readonly objectFile: string;
  /** the kernel face over the loaded object */
  readonly kernel: (obj: BpfObject) => K;
  /** own counter slots exported to program_reasons_total under another name */
  readonly metricNames?: Readonly<Record<string, string>>;
  /** fill of the maps worth watching, for status and map-usage metrics (a ring's fill shows
   * as events lost instead) */
  readonly maps?: (k: K) => Readonly<Record<string, () => MapFill>>;
  /** interfaces whose counters are exported; default: those it is attached to */
  readonly interfaces?: () => readonly InterfaceRef[];
}

export interface TcEntry {
  /** program (function) name in the object */
  readonly entry: string;
  readonly direction: TcDirection;
}

export class ProgramRuntime<K extends ProgramKernel> {
  private k: K | null = null;
  /** map pins this runtime made (not shared maps pinned by libbpf), removed on stop */
  private pins: string[] = [];
  private snapshot: ReadonlyMap<number, CountersOf<K>> = new Map();
  private readonly attachments: Attachments;

  constructor(
    private readonly ctx: EngineContext<AgentView>,
    private readonly spec: ProgramSpec<K>,
  ) {
    this.attachments = new Attachments(spec.program, ctx.pinRoot, ctx.log, ctx.metrics, ctx.adoption);
  }

  get program(): string {
    return this.spec.program;
  }

  /** the loaded kernel face, null when not loaded */
  get kernel(): K | null {
    return this.k;
  }

  /** Loads the object: ring buffers get agent.ring_buffer_size, shared maps the size of the
   * shared-map table (a pinned one of another size is refused, saying so), every map is pinned
   * under <pin root>/maps. `reuseMaps` takes maps of another loaded object by fd. */
  load(opts: { reuseMaps?: Readonly<Record<string, number>> } = {}): K {
    if (this.k) throw new Error(`${this.spec.program} is already loaded`);
    const mapPinDir = path.join(this.ctx.pinRoot, 'maps');
    ensureBpffsSync(mapPinDir);
    const obj = loadObject({
      file: path.join(this.ctx.objectDir, this.spec.objectFile),
      mapPinDir,
      sharedMapSizes: this.ctx.sharedMapSizes,
      ringSize: this.ctx.config.agent.ring_buffer_size,
      ...(opts.reuseMaps ? { reuseMaps: opts.reuseMaps } : {}),
      // what a previous agent pinned: kept when its layout matches, else started fresh
      ...(this.ctx.adoption ? { loader: this.ctx.adoption.loader(this.spec.program), inherited: (name: string) => this.ctx.adoption!.inherited(name) } : {}),
    });
    let k: K;
    try {
      k = this.spec.kernel(obj);
    } catch (e) {
      obj.close();
      throw e;
    }
    try {
      this.pins = pinObjectMaps(obj, mapPinDir, opts.reuseMaps);
    } catch (e) {
      k.close();
      throw e;
    }
    this.k = k;
    return k;
  }

  /** the loaded kernel face; throws "<program> is not loaded" when it is not */
  loadedKernel(): K {
    if (!this.k) throw new Error(`${this.spec.program} is not loaded`);
    return this.k;
  }

  private static throwIfAny(failures: readonly string[]): void {
    if (failures.length) throw new Error(failures.join('; '));
  }

  /** Attaches `entry` at XDP on every configured interface (agent.xdp_mode); throws naming each
   * interface it could not attach to (what did attach stays, and is in status). In a replay it
   * is handed to the replay's hooks instead (as for attachTc). */
  attachXdp(entry: string): void {
    const prog = this.loadedKernel().obj.program(entry);
    if (this.ctx.replay) {
      this.ctx.replay.addXdp(this.spec.program, prog);
      return;
    }
    const mode = this.ctx.config.agent.xdp_mode;
    const failures: string[] = [];
    for (const iface of this.ctx.interfaces) {
      const err = this.attachments.add(iface, 'xdp', prog, () => prog.attachXdp(iface.ifindex, mode), (l) => l.mode ?? 'none');
      if (err) failures.push(`${this.spec.program}: cannot attach to ${iface.ifname}: ${err}`);
      else if (mode === 'auto' && this.attachments.status().at(-1)?.mode === 'generic') {
        this.ctx.log.warn({ program: this.spec.program, interface: iface.ifname }, 'native XDP refused by the driver; running in generic (skb) mode, which is slower');
      }
    }
    ProgramRuntime.throwIfAny(failures);
  }

  /** Attaches each entry at its TC hook, at the program's rank in the TC pipeline
   * (tc-pipeline.ts), on every configured interface; throws naming what failed, after trying
   * all of them. */
  attachTc(entries: readonly TcEntry[]): void {
    const obj = this.loadedKernel().obj;
    const progs = entries.map((e) => ({ ...e, prog: obj.program(e.entry) }));
    const replay = this.ctx.replay;
    if (replay) {
      for (const e of progs) replay.addTc(this.spec.program, e.direction, e.prog);
      return;
    }
    const failures: string[] = [];
    for (const iface of this.ctx.interfaces) {
      for (const e of progs) {
        const err = this.attachments.addTc(iface, e.direction, e.prog);
        if (err) failures.push(`${this.spec.program}: cannot attach ${e.direction} on ${iface.ifname}: ${err}`);
      }
    }
    ProgramRuntime.throwIfAny(failures);
  }

  /** Attaches `entry` as a uprobe or uretprobe on a function of a binary or shared library. */
  attachProbe(entry: string, target: ProbeTarget, hook: 'uprobe' | 'uretprobe'): void {
    const err = this.attachments.addProbe(target, hook, this.loadedKernel().obj.program(entry));
    if (err) throw new Error(`${this.spec.program}: cannot attach ${hook} to ${target.binary}:${target.symbol}: ${err}`);
  }

  /** Interfaces something is attached to. */
  attached(): InterfaceRef[] {
    return this.attachments.attached();
  }

  /** The configured interface with this ifindex, for records. */
  ifname(ifindex: number): string | undefined {
    return this.attachments.ifname(ifindex) ?? this.ctx.interfaces.find((i) => i.ifindex === ifindex)?.ifname;
  }

  /** Ring buffers of the object, for the agent's reader. */
  ringFds(): number[] {
    const k = this.k;
    return k ? k.obj.mapInfo().filter((m) => m.type === BpfMapType.RINGBUF).map((m) => m.fd) : [];
  }

  /** Counters as of the last read. */
  get counters(): ReadonlyMap<number, CountersOf<K>> {
    return this.snapshot;
  }

  /** Reads the counters again (without exporting them). */
  readCounters(): ReadonlyMap<number, CountersOf<K>> {
    const k = this.k;
    if (k?.readCounters) this.snapshot = k.readCounters() as ReadonlyMap<number, CountersOf<K>>;
    return this.snapshot;
  }

  /** Reads the counters and exports them with the map fill (exportMetrics). */
  refresh(): void {
    if (!this.k) return;
    this.readCounters();
    this.exportMetrics();
  }

  /** The counters as last read, and map fill, into metrics: one snapshot per interface (common
   * slots, and the program's own as program_reasons_total), map usage. */
  exportMetrics(): void {
    if (!this.k) return;
    const { metrics } = this.ctx;
    const counters: ReadonlyMap<number, InterfaceCounters> = this.snapshot;
    const rename = this.spec.metricNames ?? {};
    for (const iface of this.spec.interfaces?.() ?? this.attachments.attached()) {
      const c = counters.get(iface.ifindex);
      if (!c) continue;
      const own: Record<string, bigint> = {};
      for (const [slot, v] of Object.entries(c)) if (!COMMON_SLOTS.has(slot)) own[rename[slot] ?? slot] = v;
      metrics.setKernelSnapshot(this.spec.program, iface.ifname, kernelSnapshot(c, own));
    }
    for (const m of this.maps()) metrics.setMapUsage(this.spec.program, m.name, m.entries, m.max_entries);
  }

  maps(): MapStatus[] {
    const k = this.k;
    return k && this.spec.maps ? mapStatuses(k.obj, this.spec.maps(k)) : [];
  }

  private commonCounters(): Iterable<InterfaceCounters> {
    return (this.snapshot as ReadonlyMap<number, InterfaceCounters>).values();
  }

  /** The standard status block; an engine adds what is its own. */
  status(): ProgramStatus {
    return {
      name: this.spec.program,
      loaded: this.k !== null,
      attachments: this.attachments.status(),
      maps: this.maps(),
      counters: programCounters(this.commonCounters()),
      ...adoptionStatus(this.ctx.adoption, this.spec.program),
    };
  }

  /** Events the kernel could not hand over (ring full, back-pressure), from the counters. */
  losses(): KernelLosses {
    return kernelLosses(this.commonCounters());
  }

  /** 'detach' (default): detaches and unpins every link, closes the object, removes its map
   * pins (shared maps stay for the others) and its manifest records. 'keep' (the agent exits with
   * agent.on_exit: keep): lets go of its links without detaching them and closes the object;
   * links, pins and records stay for the next agent. Never throws: returns the problems met. May
   * be loaded again afterwards. */
  async stop(how: StopMode = 'detach'): Promise<string[]> {
    const keep = how === 'keep';
    const errors = keep ? this.attachments.releaseAll() : await this.attachments.removeAll().catch((err: Error) => [`detach: ${err.message}`]);
    try {
      this.k?.close();
    } catch (err) {
      errors.push(`close: ${(err as Error).message}`);
    }
    this.k = null;
    if (!keep) {
      errors.push(...(await removePins(this.pins)));
      this.ctx.adoption?.forgetProgram(this.spec.program, this.pins);
    }
    this.pins = [];
    this.snapshot = new Map();
    return errors;
  }
}
