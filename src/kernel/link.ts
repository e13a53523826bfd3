// Attachments as objects: each attach returns a Link that knows what it is (XDP mode, TCX or
// clsact, uprobe), can be pinned so enforcement survives the agent, replaced atomically, and
// destroyed (idempotent).
import { readFileSync } from 'node:fs';
import { loadNative, type XdpMode } from './native.js';
import { nativeCall } from './errors.js';

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
  ) {}

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

  /** Detaches, removes the pin if this Link made one, frees. Safe to call twice. */
  destroy(): void {
    if (!this.live) return;
    this.live = false;
    nativeCall(() => loadNative().linkDestroy(this.handle), `destroying ${this.describe()}`);
    this.pinPath = undefined;
  }

  describe(): string {
    return `${this.kind}${this.mode ? `/${this.mode}` : ''} link on ${this.target}`;
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

export function attachTc(progFd: number, iface: number | string, direction: 'ingress' | 'egress'): Link {
  const ifindex = resolveIf(iface);
  const r = nativeCall(() => loadNative().tcAttach(progFd, ifindex, direction), `attaching TC ${direction} to ${iface}`);
  return new Link(r.link, r.kind, undefined, `${iface} (ifindex ${ifindex}) ${direction}`);
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
