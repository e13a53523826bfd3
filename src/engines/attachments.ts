// Attaching a program to the configured interfaces, pinning each link under the agent's pin
// root, reporting every attachment (and every failure) to metrics and status, and undoing it.
// Shared by every engine so attach behaviour and pin layout are the same everywhere.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AttachmentStatus, AttachMode, Hook } from '../status/types.js';
import type { Link, TcDirection } from '../kernel/link.js';
import type { Program } from '../kernel/object.js';
import type { AgentMetrics } from '../metrics/agent-metrics.js';
import type { InterfaceRef } from './engine.js';
import { tcRank } from './tc-pipeline.js';

/** bpffs refuses names with a dot (EPERM) and interface names may hold one (eth0.100); ':' is
 * never part of an interface name, so the mapping cannot collide. */
export function linkPinName(program: string, hook: Hook, ifname: string): string {
  return `${program}@${hook}@${ifname.replaceAll('.', ':')}`;
}

interface Attachment {
  iface: InterfaceRef;
  hook: Hook;
  link: Link | null;
  mode: AttachMode;
  /** TC: the program's rank in the pipeline */
  rank?: number;
  error?: string;
}

export class Attachments {
  private list: Attachment[] = [];

  constructor(
    private readonly program: string,
    private readonly pinRoot: string,
    private readonly log: Logger,
    private readonly metrics: AgentMetrics,
  ) {}

  /** Attaches with `attach`, pins the link; on any failure nothing stays attached and the
   * failure is recorded (status, metrics, log) and returned. */
  add(iface: InterfaceRef, hook: Hook, attach: () => Link, modeOf: (l: Link) => AttachMode, rank?: number): string | null {
    let link: Link | null = null;
    try {
      link = attach();
      link.pin(path.join(this.pinRoot, 'links', linkPinName(this.program, hook, iface.ifname)));
      const mode = modeOf(link);
      this.list.push({ iface, hook, link, mode, ...(rank !== undefined ? { rank } : {}) });
      this.metrics.setAttached(this.program, iface.ifname, hook, true);
      const tc = link.tc;
      const place = tc?.rank !== undefined ? { rank: tc.rank, ...(tc.anchor ? { anchor: tc.anchor } : { priority: tc.priority }), stale_retries: tc.staleRetries } : {};
      this.log.info({ program: this.program, interface: iface.ifname, ifindex: iface.ifindex, hook, mode, ...place }, 'attached');
      return null;
    } catch (err) {
      link?.destroy(); // never leave an attachment nobody owns
      const msg = (err as Error).message;
      this.list.push({ iface, hook, link: null, mode: 'none', ...(rank !== undefined ? { rank } : {}), error: msg });
      this.metrics.setAttached(this.program, iface.ifname, hook, false);
      const e = err as { errno?: number; libbpfMessage?: string };
      this.log.error({ program: this.program, interface: iface.ifname, hook, errno: e.errno, libbpf: e.libbpfMessage }, `attach failed: ${msg}`);
      return msg;
    }
  }

  /** Attaches a TC program at this program's place in the TC pipeline (tc-pipeline.ts). */
  addTc(iface: InterfaceRef, direction: TcDirection, prog: Program): string | null {
    const rank = tcRank(this.program, direction);
    return this.add(iface, `tc-${direction}`, () => prog.attachTc(iface.ifindex, direction, { rank, label: this.program }), (l) => (l.kind === 'clsact' ? 'clsact' : 'tcx'), rank);
  }

  ifname(ifindex: number): string | undefined {
    return this.list.find((a) => a.iface.ifindex === ifindex)?.iface.ifname;
  }

  attached(): InterfaceRef[] {
    return this.list.filter((a) => a.link).map((a) => a.iface);
  }

  status(): AttachmentStatus[] {
    return this.list.map((a) => ({
      interface: a.iface.ifname,
      ifindex: a.iface.ifindex,
      hook: a.hook,
      mode: a.mode,
      attached: a.link !== null,
      ...(a.rank !== undefined ? { rank: a.rank } : {}),
      ...(a.error ? { error: a.error } : {}),
    }));
  }

  /** Detaches everything and removes the pins; returns the problems met. */
  async removeAll(): Promise<string[]> {
    const errors: string[] = [];
    for (const a of this.list) {
      if (!a.link) continue;
      const pin = a.link.pinnedAt;
      try {
        a.link.destroy();
      } catch (err) {
        errors.push(`detach ${a.iface.ifname}: ${(err as Error).message}`);
      }
      if (pin) await rm(pin, { force: true }).catch((err: Error) => errors.push(`unpin ${pin}: ${err.message}`));
      this.metrics.setAttached(this.program, a.iface.ifname, a.hook, false);
    }
    this.list = [];
    return errors;
  }
}
