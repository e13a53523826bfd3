// Attachments as objects: each attach returns a Link that knows what it is (XDP mode, TCX or
// clsact, uprobe), can be pinned so enforcement survives the agent, replaced atomically, and
// destroyed (idempotent). TC attachments with a rank keep our TC programs in rank order at
// their hook (tc-order.ts says how).
import { readFileSync } from 'node:fs';
import { loadNative, type XdpMode } from './native.js';
import { BpfError, nativeCall } from './errors.js';
import { checkTcRank, clsactPriority, describeAnchor, ownedTcLinks, planTcAnchor, type TcAnchor, type TcDirection, type TcHookEntry } from './tc-order.js';

export type { TcDirection } from './tc-order.js';

export type LinkKind = 'xdp' | 'tcx' | 'clsact' | 'uprobe' | 'uretprobe';

/** ifindex of an interface in the caller's network namespace. */
export function ifindexOf(ifname: string): number {
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(ifname)) throw new TypeError(`invalid interface name '${ifname}'`);
  let raw: string;
  try {
    raw = readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8');
  } catch {
    throw new Error(`interface '${ifname}' does not exist in this network namespace`);
  }
  const n = Number(raw.trim());
  if (!Number.isInteger(n) || n <= 0) throw new Error(`interface '${ifname}' has no valid ifindex ('${raw.trim()}')`);
  return n;
}

function resolveIf(iface: number | string): number {
  return typeof iface === 'number' ? iface : ifindexOf(iface);
}

/** Where a TC attachment sits in its hook's pipeline. */
export interface TcPlacement {
  ifindex: number;
  direction: TcDirection;
  /** its rank (lower runs first); undefined when attached without one (appended, unordered) */
  rank: number | undefined;
  /** TCX link id; 0 for clsact */
  linkId: number;
  /** clsact filter priority; 0 for TCX */
  priority: number;
  /** clsact filter handle; 0 for TCX */
  handle: number;
  /** clsact: whether we made the qdisc (it goes with our last filter) */
  createdQdisc?: boolean;
  /** TCX: where it was inserted when attached (the hook may have changed since) */
  anchor: TcAnchor | undefined;
  /** TCX: how many times the hook changed under us before the insertion held */
  staleRetries: number;
}

export class Link {
  private live = true;
  private pinPath: string | undefined;

  constructor(
    readonly handle: number,
    readonly kind: LinkKind,
    /** XDP only: the mode the kernel accepted */
    readonly mode: 'native' | 'generic' | undefined,
    /** what the link is attached to, for messages and status */
    readonly target: string,
    /** TC only: its place at the hook */
    readonly tc?: TcPlacement,
    /** already pinned there (a link adopted from its pin) */
    pinnedAt?: string,
  ) {
    this.pinPath = pinnedAt;
  }

  get attached(): boolean {
    return this.live;
  }

  get pinnedAt(): string | undefined {
    return this.pinPath;
  }

  /** Pins the link on bpffs: the attachment then outlives this process. */
  pin(path: string): void {
    this.assertLive('pin');
    nativeCall(() => loadNative().linkPin(this.handle, path), `pinning ${this.describe()}`);
    this.pinPath = path;
  }

  /** Atomically replaces the program behind the link (no packet sees no program). */
  update(progFd: number): void {
    this.assertLive('update');
    nativeCall(() => loadNative().linkUpdate(this.handle, progFd), `updating ${this.describe()}`);
  }

  /** Lets go of the link without detaching it: a pinned link goes on running from its pin, a
   * clsact filter stays on its qdisc (agent.on_exit: keep). Safe to call twice. */
  release(): void {
    if (!this.live) return;
    this.live = false;
    if (this.tc?.linkId) ownedTcLinks.remove(this.tc.linkId);
    nativeCall(() => loadNative().linkRelease(this.handle), `releasing ${this.describe()}`);
  }

  /** Detaches, removes the pin if this Link made one, frees. Safe to call twice. */
  destroy(): void {
    if (!this.live) return;
    this.live = false;
    if (this.tc?.linkId) ownedTcLinks.remove(this.tc.linkId);
    nativeCall(() => loadNative().linkDestroy(this.handle), `destroying ${this.describe()}`);
    this.pinPath = undefined;
  }

  describe(): string {
    const rank = this.tc?.rank !== undefined ? `, rank ${this.tc.rank}` : '';
    return `${this.kind}${this.mode ? `/${this.mode}` : ''} link on ${this.target}${rank}`;
  }

  private assertLive(op: string): void {
    if (!this.live) throw new Error(`cannot ${op} ${this.describe()}: it was destroyed`);
  }
}

export function attachXdp(progFd: number, iface: number | string, mode: XdpMode = 'auto'): Link {
  const ifindex = resolveIf(iface);
  const r = nativeCall(() => loadNative().xdpAttach(progFd, ifindex, mode), `attaching XDP to ${iface}`);
  return new Link(r.link, 'xdp', r.mode, `${iface} (ifindex ${ifindex})`);
}

export interface TcAttachOptions {
  /** The program's place in the hook's pipeline, 1..999, lower runs first. With a rank the
   * attachment keeps our ranked programs at the hook in rank order (TCX: relative anchors;
   * clsact: priority 20000 + rank). Without one it is appended and orders nothing. */
  rank?: number;
  /** 'auto' (default): TCX, or clsact when the kernel has no TCX (or SENTINEL_FORCE_CLSACT is
   * set); 'tcx' or 'clsact' force one. */
  via?: 'auto' | 'tcx' | 'clsact';
  /** what the program is, for messages (default: the target) */
  label?: string;
}

/** How many times a ranked TCX attach re-plans after the hook changed under it (ESTALE). */
const TC_STALE_RETRIES = 16;

/** A program at a TCX hook, in kernel order, with its rank when it is one of our ranked links. */
export interface TcHookProgram extends TcHookEntry {
  rank: number | undefined;
}

export interface TcHookState {
  /** bumped by the kernel on every change at the hook (0 or 1 while nothing is attached) */
  revision: bigint;
  programs: TcHookProgram[];
}

/** The programs attached at a TCX hook in the order the kernel runs them (BPF_PROG_QUERY), or
 * null when the kernel has no TCX. Foreign programs are listed too, with rank undefined. */
export function queryTcHook(iface: number | string, direction: TcDirection): TcHookState | null {
  const ifindex = resolveIf(iface);
  let q;
  try {
    q = nativeCall(() => loadNative().tcxQuery(ifindex, direction), `querying TCX ${direction} of ${iface}`);
  } catch (e) {
    if (e instanceof BpfError && e.code === 'EINVAL') return null; // no TCX in this kernel
    throw e;
  }
  return {
    revision: q.revision,
    programs: q.progIds.map((progId, i) => {
      const linkId = q.linkIds[i] ?? 0;
      return { progId, linkId, rank: linkId ? ownedTcLinks.rankOf(linkId) : undefined };
    }),
  };
}

export function attachTc(progFd: number, iface: number | string, direction: TcDirection, opts: TcAttachOptions = {}): Link {
  const ifindex = resolveIf(iface);
  const target = `${iface} (ifindex ${ifindex}) ${direction}`;
  const { rank, via = 'auto' } = opts;
  const what = `attaching TC ${direction} to ${iface}`;
  if (rank === undefined) {
    const r = nativeCall(() => loadNative().tcAttach(progFd, ifindex, direction, { via }), what);
    return new Link(r.link, r.kind, undefined, target, { ifindex, direction, rank, linkId: r.id, priority: r.priority, handle: r.handle, createdQdisc: r.createdQdisc, anchor: undefined, staleRetries: 0 });
  }
  checkTcRank(rank);
  const priority = clsactPriority(rank);
  for (let stale = 0; ; stale++) {
    const hook = via === 'clsact' ? null : queryTcHook(ifindex, direction);
    const anchor = hook ? planTcAnchor(hook.programs, (id) => ownedTcLinks.rankOf(id), rank) : undefined;
    try {
      const r = nativeCall(
        () =>
          loadNative().tcAttach(progFd, ifindex, direction, {
            via,
            priority,
            expectedRevision: hook?.revision ?? 0n,
            ...(anchor?.where === 'before' ? { before: anchor.linkId } : anchor?.where === 'after' ? { after: anchor.linkId } : {}),
          }),
        `${what} at rank ${rank}${anchor ? `, ${describeAnchor(anchor)}` : ''}`,
      );
      const tcAnchor = r.kind === 'tcx' ? anchor : undefined;
      if (r.id) ownedTcLinks.add(r.id, { rank, label: opts.label ?? target });
      return new Link(r.link, r.kind, undefined, target, { ifindex, direction, rank, linkId: r.id, priority: r.priority, handle: r.handle, createdQdisc: r.createdQdisc, anchor: tcAnchor, staleRetries: stale });
    } catch (e) {
      if (e instanceof BpfError && e.code === 'ESTALE' && stale < TC_STALE_RETRIES) continue;
      throw e;
    }
  }
}

export function attachUprobe(
  objHandle: number,
  progName: string,
  binaryPath: string,
  symbol: string,
  opts: { retprobe?: boolean; pid?: number } = {},
): Link {
  const retprobe = opts.retprobe ?? false;
  const h = nativeCall(
    () => loadNative().uprobeAttach(objHandle, progName, binaryPath, symbol, { retprobe, pid: opts.pid ?? -1 }),
    `attaching ${progName} to ${binaryPath}:${symbol}`,
  );
  return new Link(h, retprobe ? 'uretprobe' : 'uprobe', undefined, `${binaryPath}:${symbol}`);
}

/** What a previous agent left at a hook, as this agent takes it over. */
export interface AdoptedLink {
  link: Link;
  /** the program it ran when taken over */
  progId: number;
}

/** BPF_LINK_TYPE_XDP: its ifindex is 0 once the device went away (a defunct link). */
const BPF_LINK_TYPE_XDP = 6;

/** Opens a link pinned at `pinPath` by a previous agent. `kind`, `mode` and `tc` are what that
 * agent recorded (the kernel does not say the XDP mode of a link). A TCX link with a rank
 * becomes one of our ranked links again, so programs attached later anchor to it. Null when the
 * link no longer holds its hook (the device went away). */
export function openPinnedLink(pinPath: string, kind: LinkKind, target: string, opts: { mode?: 'native' | 'generic'; tc?: Omit<TcPlacement, 'linkId'>; label?: string } = {}): AdoptedLink | null {
  const r = nativeCall(() => loadNative().linkOpen(pinPath), `opening the pinned link ${pinPath}`);
  const tc = opts.tc ? { ...opts.tc, linkId: r.id } : undefined;
  const link = new Link(r.link, kind, opts.mode, target, tc, pinPath);
  if (r.type === BPF_LINK_TYPE_XDP && r.ifindex === 0) {
    link.destroy();
    return null;
  }
  if (tc?.rank !== undefined && kind === 'tcx') ownedTcLinks.add(r.id, { rank: tc.rank, label: opts.label ?? target });
  return { link, progId: r.progId };
}

/** Takes over a clsact filter a previous agent left (found by its handle and priority). */
export function adoptClsactFilter(ifindex: number, direction: TcDirection, handle: number, priority: number, createdQdisc: boolean, target: string, rank: number | undefined): AdoptedLink {
  const r = nativeCall(() => loadNative().tcClsactAdopt(ifindex, direction, handle, priority, createdQdisc), `taking over the clsact ${direction} filter on ${target}`);
  return { link: new Link(r.link, 'clsact', undefined, target, { ifindex, direction, rank, linkId: 0, priority, handle, createdQdisc, anchor: undefined, staleRetries: 0 }), progId: r.progId };
}

/** The kernel id of the program behind `progFd`. */
export function programId(progFd: number): number {
  return nativeCall(() => loadNative().progId(progFd), 'reading a program id');
}
