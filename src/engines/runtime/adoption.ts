// Fail-static restarts: what a previous agent left under the pin root keeps enforcing while no
// agent runs, and the next agent takes it over without a moment in which a hook runs nothing or
// a policy is empty.
//
// On start the agent reads the pin root's manifest (src/kernel/pin-manifest.ts). Each object it
// loads keeps the maps the previous agent pinned when their layouts are the same — the BTF of
// each map's key and value type (member names, offsets, types) and its type, sizes and entries —
// so conntrack flows, rate-limit buckets and the policy generations carry on; a map whose layout
// changed is started fresh, and the log and status say which and why. Policy maps kept means the
// old programs go on judging by the old generation until the new agent's first apply flips it.
// Each attachment a previous agent left is taken over and its program replaced in place: XDP
// and TCX links by bpf_link_update, clsact filters by a netlink replace of the same handle and
// priority; a uprobe (whose perf link has no update) is attached anew before the old one goes.
// What the previous agent ran that this one does not start is detached at the end of start.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { mapTypeName } from '../../kernel/bpf-enums.js';
import { BpfError, nativeCall } from '../../kernel/errors.js';
import { adoptClsactFilter, openPinnedLink, type AdoptedLink, type TcDirection } from '../../kernel/link.js';
import { loadNative, type NativeMapLayout } from '../../kernel/native.js';
import { BpfObject, type OpenOptions } from '../../kernel/object.js';
import { MANIFEST_VERSION, manifestPath, readManifest, writeManifest, type LinkRecord, type MapRecord, type PinManifest, type ProgramRecord } from '../../kernel/pin-manifest.js';
import type { AdoptionStatus } from '../../status/types.js';

/** Loads an object file the way the agent wants it (the adoption's loader keeps pinned maps). */
type ObjectLoader = (objectPath: string, opts: OpenOptions) => BpfObject;

/** Digest of what a map's entries mean: its key and value types as the BTF lays them out. */
function layoutDigest(m: Pick<NativeMapLayout, 'key' | 'value' | 'flags'>): string {
  return createHash('sha256').update(`${m.flags}\n${m.key}\n${m.value}`).digest('hex').slice(0, 24);
}

function mapShape(m: { type: number; keySize: number; valueSize: number; maxEntries: number }): string {
  return `${mapTypeName(m.type)} ${m.keySize}+${m.valueSize} x${m.maxEntries}`;
}

function fileDigest(p: string): string {
  return createHash('sha256').update(readFileSync(p)).digest('hex');
}

/** /proc/<pid>/stat field 22: when the process started, in clock ticks since boot. */
export function processStartTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count from the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the agent a manifest names is still running (same pid, same start time). */
function manifestAgentAlive(m: PinManifest): boolean {
  return m.agent.state === 'running' && m.agent.pid !== process.pid && processStartTicks(m.agent.pid) === m.agent.startTicks;
}

/** An attachment as Attachments names it, to be taken over. */
export interface AdoptTarget {
  kind: LinkRecord['kind'];
  /** for messages and status */
  target: string;
  label: string;
  tc?: { ifindex: number; direction: TcDirection; rank: number | undefined };
}

interface ProgramState {
  kept: Set<string>;
  fresh: Map<string, string>;
  linksAdopted: number;
  objectChanged: boolean;
  /** a previous agent's record existed for this program */
  previous: boolean;
}

/** The pin root as this agent run holds it: the previous agent's manifest, and the one this run
 * writes as engines load, attach and stop. */
export class PinRootState {
  /** what the previous agent left (consumed as it is taken over) */
  private readonly previous: PinManifest | null;
  private readonly manifest: PinManifest;
  /** map pins made or kept in this run: another object sharing one (ct_table) reuses it as is */
  private readonly decided = new Set<string>();
  private readonly programs = new Map<string, ProgramState>();
  /** until the leftovers are removed, what the previous agent left and was not taken over yet
   * stays in every manifest written (a crash meanwhile must not orphan a clsact filter) */
  private carryOver = true;

  private constructor(
    readonly pinRoot: string,
    private readonly log: Logger,
    previous: PinManifest | null,
    version: string,
  ) {
    this.previous = previous;
    this.manifest = {
      version: MANIFEST_VERSION,
      agent: { pid: process.pid, startTicks: processStartTicks(process.pid) ?? '0', version, state: 'running' },
      updatedAt: new Date().toISOString(),
      maps: {},
      programs: {},
    };
  }

  /** Reads what a previous agent left. Throws when that agent is still running: two agents on
   * one pin root would fight over the same hooks and maps. An unreadable manifest is said in the
   * log; everything is then started fresh (links are still taken over by their pins). */
  static open(pinRoot: string, log: Logger, version: string): PinRootState {
    let prev: PinManifest | null = null;
    try {
      prev = readManifest(pinRoot);
    } catch (err) {
      log.warn({ pin_root: pinRoot, err: (err as Error).message }, 'the manifest a previous agent left cannot be read: its maps start fresh');
    }
    if (prev && manifestAgentAlive(prev)) {
      throw new Error(`pin root ${pinRoot} belongs to a running agent (pid ${prev.agent.pid}): give this one another agent.pin_root, or stop that one`);
    }
    const s = new PinRootState(pinRoot, log, prev, version);
    if (prev) log.info({ pin_root: pinRoot, previous_pid: prev.agent.pid, previous_version: prev.agent.version, previous_state: prev.agent.state, programs: Object.keys(prev.programs) }, 'taking over what a previous agent left');
    return s;
  }

  /** Whether the pin of `mapName` is one a previous agent left that this run has not judged
   * yet (the loader keeps it or starts it fresh). */
  inherited(mapName: string): boolean {
    return !this.decided.has(mapName) && existsSync(path.join(this.mapDir, mapName));
  }

  get mapDir(): string {
    return path.join(this.pinRoot, 'maps');
  }

  get linkDir(): string {
    return path.join(this.pinRoot, 'links');
  }

  private state(program: string): ProgramState {
    let s = this.programs.get(program);
    if (!s) {
      s = { kept: new Set(), fresh: new Map(), linksAdopted: 0, objectChanged: false, previous: this.previous?.programs[program] !== undefined };
      this.programs.set(program, s);
    }
    return s;
  }

  private record(program: string): ProgramRecord {
    return (this.manifest.programs[program] ??= { objects: {}, links: {} });
  }

  /** The loader `program` loads its objects with: pinned maps of the same layout are kept
   * (passed to the object before load), others are unpinned so the object makes new ones. */
  loader(program: string): ObjectLoader {
    return (objectPath, opts) => this.load(program, objectPath, opts);
  }

  private load(program: string, objectPath: string, opts: OpenOptions): BpfObject {
    const st = this.state(program);
    const file = path.basename(objectPath);
    const digest = fileDigest(objectPath);
    const prevDigest = this.previous?.programs[program]?.objects[file];
    if (prevDigest !== undefined && prevDigest !== digest) st.objectChanged = true;
    const obj = BpfObject.open(objectPath, opts);
    const records: [string, MapRecord][] = [];
    try {
      for (const m of obj.mapLayouts()) {
        if (m.name.includes('.')) continue; // .rodata, .bss: private to the object
        if (opts.reuseMaps?.[m.name] !== undefined) continue; // handed over by the caller
        records.push([m.name, { layout: layoutDigest(m), shape: mapShape(m), program }]);
        const pin = path.join(this.mapDir, m.name);
        if (this.decided.has(m.name) || !existsSync(pin)) continue;
        const why = this.incompatible(m, pin);
        if (why) {
          rmSync(pin, { force: true }); // the old map lives on while old programs use it
          st.fresh.set(m.name, why);
          this.log.warn({ program, map: m.name, reason: why }, `map ${m.name} starts fresh: ${why}`);
          continue;
        }
        // Pinned-by-name maps (ct_table) are reused by libbpf itself from the object's pin root.
        if (!m.pinByName) {
          const fd = nativeCall(() => loadNative().objGet(pin), `opening pinned map ${pin}`);
          try {
            obj.reuseMap(m.name, fd);
          } finally {
            loadNative().closeFd(fd);
          }
        }
        st.kept.add(m.name);
      }
      obj.load();
    } catch (e) {
      obj.close();
      throw e;
    }
    this.record(program).objects[file] = digest;
    for (const [name, r] of records) {
      this.manifest.maps[name] = r;
      this.decided.add(name);
    }
    // Every pin of this object's maps is now either kept (same layout) or gone (the object's
    // new map takes it): the records may say so before the pins are made.
    this.save();
    if (st.kept.size) this.log.info({ program, object: file, object_changed: st.objectChanged, maps_kept: [...st.kept] }, 'kept the maps a previous agent pinned');
    return obj;
  }

  /** Why the map pinned at `pin` cannot serve as `m`, or null when it can. */
  private incompatible(m: NativeMapLayout, pin: string): string | null {
    const prev = this.previous?.maps[m.name];
    if (!prev) return 'no record of its layout (no manifest, or a manifest without it)';
    if (prev.layout !== layoutDigest(m)) return 'the layout of its key or value changed';
    let info;
    const native = loadNative();
    const fd = nativeCall(() => native.objGet(pin), `opening pinned map ${pin}`);
    try {
      info = native.mapInfo(fd);
    } finally {
      native.closeFd(fd);
    }
    const shape = mapShape(info);
    const want = mapShape(m);
    if (shape !== want) return `its shape changed from ${shape} to ${want}`;
    return null;
  }

  /** Takes over the attachment a previous agent left under `pinName`, or null when there is
   * none (or it no longer holds its hook). */
  adoptLink(program: string, pinName: string, t: AdoptTarget): AdoptedLink | null {
    const prev = this.previous?.programs[program]?.links[pinName];
    if (prev) delete this.previous!.programs[program]!.links[pinName];
    const pin = path.join(this.linkDir, pinName);
    let adopted: AdoptedLink | null = null;
    try {
      if (prev?.kind === 'clsact' && prev.clsact) {
        const c = prev.clsact;
        if (!t.tc || c.ifindex !== t.tc.ifindex || c.direction !== t.tc.direction) return null;
        adopted = adoptClsactFilter(c.ifindex, c.direction, c.handle, c.priority, c.createdQdisc, t.target, t.tc.rank);
      } else if (existsSync(pin)) {
        const kind = prev?.kind ?? t.kind;
        adopted = openPinnedLink(pin, kind, t.target, {
          ...(prev?.mode ? { mode: prev.mode } : {}),
          ...(t.tc ? { tc: { ifindex: t.tc.ifindex, direction: t.tc.direction, rank: t.tc.rank, priority: 0, handle: 0, anchor: undefined, staleRetries: 0 } } : {}),
          label: t.label,
        });
      }
    } catch (err) {
      this.log.warn({ program, link: pinName, err: (err as Error).message }, 'cannot take over what a previous agent attached: attaching anew');
      if (existsSync(pin)) rmSync(pin, { force: true });
      return null;
    }
    if (adopted) this.state(program).linksAdopted++;
    return adopted;
  }

  recordLink(program: string, pinName: string, rec: LinkRecord): void {
    this.record(program).links[pinName] = rec;
  }

  forgetLink(program: string, pinName: string): void {
    delete this.manifest.programs[program]?.links[pinName];
  }

  /** `program` holds entry `key` of `map` (another program's): cleared if it is not started again. */
  recordSlot(program: string, map: string, key: number): void {
    const r = this.record(program);
    r.slots = [...(r.slots ?? []).filter((s) => s.map !== map || s.key !== key), { map, key }];
  }

  /** A program stopped at runtime (detached, unpinned): nothing of it is left to take over. */
  forgetProgram(program: string, mapPins: readonly string[]): void {
    delete this.manifest.programs[program];
    for (const p of mapPins) {
      const name = path.basename(p);
      delete this.manifest.maps[name];
      this.decided.delete(name);
    }
    this.programs.delete(program);
  }

  /** What status reports of `program`'s start: whether it took over a previous agent's. */
  status(program: string): AdoptionStatus | undefined {
    const s = this.programs.get(program);
    if (!s || (!s.previous && !s.kept.size && !s.fresh.size && !s.linksAdopted)) return undefined;
    return {
      adopted: s.linksAdopted > 0 || s.kept.size > 0,
      object_changed: s.objectChanged,
      links_adopted: s.linksAdopted,
      maps_kept: [...s.kept].sort(),
      maps_fresh: [...s.fresh].map(([name, reason]) => ({ name, reason })).sort((a, b) => a.name.localeCompare(b.name)),
    };
  }

  /** Writes the manifest as it stands (after every start and stop of an engine). */
  save(state: PinManifest['agent']['state'] = 'running'): void {
    this.manifest.agent.state = state;
    this.manifest.updatedAt = new Date().toISOString();
    let m = this.manifest;
    if (this.carryOver && this.previous) {
      const programs: Record<string, ProgramRecord> = structuredClone(this.manifest.programs);
      for (const [name, rec] of Object.entries(this.previous.programs)) {
        const into = (programs[name] ??= { objects: {}, links: {} });
        for (const [pin, l] of Object.entries(rec.links)) into.links[pin] ??= l;
        if (rec.slots && !into.slots) into.slots = rec.slots;
      }
      m = { ...this.manifest, programs };
    }
    writeManifest(this.pinRoot, m);
  }

  /** After start: detaches what the previous agent ran and this one did not start (links,
   * clsact filters, tail-call slots) and removes pins no program of this run uses. Returns
   * what could not be removed. */
  removeLeftovers(): string[] {
    this.carryOver = false;
    const problems: string[] = [];
    const prev = this.previous;
    for (const [program, rec] of Object.entries(prev?.programs ?? {})) {
      for (const [pinName, l] of Object.entries(rec.links)) {
        if (this.manifest.programs[program]?.links[pinName]) continue;
        try {
          if (l.kind === 'clsact' && l.clsact) {
            const c = l.clsact;
            adoptClsactFilter(c.ifindex, c.direction, c.handle, c.priority, c.createdQdisc, pinName, undefined).link.destroy();
          }
        } catch (err) {
          if (!(err instanceof BpfError && err.code === 'ENOENT')) problems.push(`${pinName}: ${(err as Error).message}`);
        }
      }
      if (this.manifest.programs[program]) continue;
      for (const s of rec.slots ?? []) {
        const pin = path.join(this.mapDir, s.map);
        if (!existsSync(pin)) continue;
        try {
          const fd = nativeCall(() => loadNative().objGet(pin));
          try {
            const k = Buffer.alloc(4);
            k.writeUInt32LE(s.key);
            loadNative().mapDelete(fd, k);
          } finally {
            loadNative().closeFd(fd);
          }
          this.log.info({ program, map: s.map, key: s.key }, 'cleared the slot a program not started again held');
        } catch (err) {
          problems.push(`${s.map}[${s.key}]: ${(err as Error).message}`);
        }
      }
    }
    const live = new Set(Object.values(this.manifest.programs).flatMap((r) => Object.keys(r.links)));
    for (const name of safeReaddir(this.linkDir)) {
      if (live.has(name)) continue;
      try {
        // Detach even if someone else holds the link open, then unpin.
        const r = nativeCall(() => loadNative().linkOpen(path.join(this.linkDir, name)));
        loadNative().linkDestroy(r.link);
        this.log.info({ link: name }, 'detached what a previous agent attached and this one does not run');
      } catch (err) {
        rmSync(path.join(this.linkDir, name), { force: true });
        if (!(err instanceof BpfError && err.code === 'ENOENT')) problems.push(`links/${name}: ${(err as Error).message}`);
      }
    }
    for (const name of safeReaddir(this.mapDir)) {
      if (this.decided.has(name)) continue;
      rmSync(path.join(this.mapDir, name), { force: true });
    }
    return problems;
  }

  /** The previous agent's records, for doctor: which programs and links it left. */
  get previousManifest(): PinManifest | null {
    return this.previous;
  }
}

function safeReaddir(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

/** Removes everything an agent leaves under a pin root: detaches every pinned link (even one
 * another process holds) and every clsact filter the manifest names, then removes the pins and
 * the manifest. Refuses while the agent that wrote the manifest still runs. Returns what it did. */
export function detachPinRoot(pinRoot: string, log?: Logger): { links: string[]; filters: string[]; maps: number; problems: string[] } {
  const out = { links: [] as string[], filters: [] as string[], maps: 0, problems: [] as string[] };
  let m: PinManifest | null = null;
  try {
    m = readManifest(pinRoot);
  } catch (err) {
    out.problems.push(`manifest: ${(err as Error).message}`);
  }
  if (m && manifestAgentAlive(m)) throw new Error(`an agent (pid ${m.agent.pid}) is running on ${pinRoot}: stop it first (with agent.on_exit: detach, or send SIGTERM and run detach again)`);
  for (const [program, rec] of Object.entries(m?.programs ?? {})) {
    for (const [name, l] of Object.entries(rec.links)) {
      if (l.kind !== 'clsact' || !l.clsact) continue;
      const c = l.clsact;
      try {
        adoptClsactFilter(c.ifindex, c.direction, c.handle, c.priority, c.createdQdisc, name, undefined).link.destroy();
        out.filters.push(`${program}: ${name}`);
      } catch (err) {
        if (!(err instanceof BpfError && err.code === 'ENOENT')) out.problems.push(`${name}: ${(err as Error).message}`);
      }
    }
  }
  const linkDir = path.join(pinRoot, 'links');
  for (const name of safeReaddir(linkDir)) {
    const p = path.join(linkDir, name);
    try {
      const r = nativeCall(() => loadNative().linkOpen(p));
      loadNative().linkDestroy(r.link);
      out.links.push(name);
    } catch (err) {
      out.problems.push(`links/${name}: ${(err as Error).message}`);
      rmSync(p, { force: true });
    }
  }
  const mapDir = path.join(pinRoot, 'maps');
  for (const name of safeReaddir(mapDir)) {
    rmSync(path.join(mapDir, name), { force: true });
    out.maps++;
  }
  for (const d of [linkDir, mapDir]) rmSync(d, { recursive: true, force: true });
  rmSync(manifestPath(pinRoot), { force: true });
  log?.info({ pin_root: pinRoot, ...out }, 'detached');
  return out;
}

/** For doctor and status: the programs an agent left under a pin root and what runs them now. */
export function describePinRoot(pinRoot: string): { manifest: PinManifest | null; agentRunning: boolean; links: { name: string; progId: number; linkId: number }[]; error?: string } {
  let manifest: PinManifest | null = null;
  let error: string | undefined;
  try {
    manifest = readManifest(pinRoot);
  } catch (err) {
    error = (err as Error).message;
  }
  const links: { name: string; progId: number; linkId: number }[] = [];
  for (const name of safeReaddir(path.join(pinRoot, 'links'))) {
    try {
      const r = nativeCall(() => loadNative().linkOpen(path.join(pinRoot, 'links', name)));
      links.push({ name, progId: r.progId, linkId: r.id });
      loadNative().linkRelease(r.link);
    } catch (err) {
      error ??= `links/${name}: ${(err as Error).message}`;
    }
  }
  return { manifest, agentRunning: manifest ? manifestAgentAlive(manifest) : false, links, ...(error ? { error } : {}) };
}

/** The `adoption` field of a program's status, when a previous agent had left some of it. */
export function adoptionStatus(adoption: PinRootState | undefined, program: string): { adoption?: AdoptionStatus } {
  const a = adoption?.status(program);
  return a ? { adoption: a } : {};
}
