// Attaching a program to its targets — an interface at a hook (XDP, TC ingress or egress), or a
// function of a binary or shared library (uprobe, uretprobe), for every process or one pid —
// pinning each link under the agent's pin root, reporting every attachment (and every failure)
// to metrics and status, and undoing it. Shared by every engine so attach behaviour and pin
// layout are the same everywhere.
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AttachmentStatus, AttachMode, Hook } from '../../status/types.js';
import { programId, type Link, type TcDirection } from '../../kernel/link.js';
import type { Program } from '../../kernel/object.js';
import type { AgentMetrics } from '../../metrics/agent-metrics.js';
import type { InterfaceRef } from '../engine.js';
import { tcRank } from '../tc-pipeline.js';
import type { AdoptTarget, PinRootState } from './adoption.js';

/** bpffs refuses names with a dot (EPERM) and interface names may hold one (eth0.100); ':' is
 * never part of an interface name, so the mapping cannot collide. */
function linkPinName(program: string, hook: Hook, ifname: string): string {
  return `${program}@${hook}@${ifname.replaceAll('.', ':')}`;
}

/** A function of a binary or shared library to probe; pid limits the probe to one process. */
export interface ProbeTarget {
  binary: string;
  symbol: string;
  pid?: number;
}

/** A probe's pin: the file's name (readable) and a digest of its whole path (two libssl.so.3
 * in different mount namespaces are two pins), the symbol and the pid. */
export function probePinName(program: string, hook: 'uprobe' | 'uretprobe', p: ProbeTarget): string {
  const file = path.basename(p.binary).replace(/[^A-Za-z0-9_-]/g, ':');
  const digest = createHash('sha256').update(p.binary).digest('hex').slice(0, 12);
  return `${program}@${hook}@${file}-${digest}@${p.symbol.replace(/[^A-Za-z0-9_]/g, ':')}${p.pid !== undefined ? `@${p.pid}` : ''}`;
}

type Target = { kind: 'interface'; iface: InterfaceRef } | { kind: 'probe'; probe: ProbeTarget };

interface Attachment {
  target: Target;
  hook: Hook;
  link: Link | null;
  mode: AttachMode;
  /** TC: the program's rank in the pipeline */
  rank?: number;
  error?: string;
  /** taken over from a previous agent */
  adopted?: boolean;
  progId?: number;
  pinName: string;
}

export class Attachments {
  private list: Attachment[] = [];
  /** ifindex -> name of the interfaces in the list: read once per ring-buffer record */
  private names = new Map<number, string>();

  constructor(
    private readonly program: string,
    private readonly pinRoot: string,
    private readonly log: Logger,
    private readonly metrics: AgentMetrics,
    /** what a previous agent left (links taken over, the manifest kept); absent in tests that
     * attach from scratch */
    private readonly adoption?: PinRootState,
  ) {}

  /** Runs `prog` at a hook of an interface: takes over the link a previous agent left there
   * and replaces its program in place, or attaches with `attach`; pins the link. On any failure
   * nothing new stays attached and the failure is recorded (status, metrics, log) and returned. */
  add(iface: InterfaceRef, hook: Hook, prog: Program, attach: () => Link, modeOf: (l: Link) => AttachMode, rank?: number): string | null {
    return this.attachTo({ kind: 'interface', iface }, hook, prog, attach, modeOf, rank);
  }

  /** Attaches a uprobe (entry) or uretprobe (return) program to a function of a binary or
   * shared library. */
  addProbe(probe: ProbeTarget, hook: 'uprobe' | 'uretprobe', prog: Program): string | null {
    return this.attachTo({ kind: 'probe', probe }, hook, prog, () => prog.attachUprobe(probe.binary, probe.symbol, { retprobe: hook === 'uretprobe', ...(probe.pid !== undefined ? { pid: probe.pid } : {}) }), () => 'uprobe');
  }

  private pinName(t: Target, hook: Hook): string {
    return t.kind === 'interface' ? linkPinName(this.program, hook, t.iface.ifname) : probePinName(this.program, hook as 'uprobe' | 'uretprobe', t.probe);
  }

  private report(t: Target, hook: Hook, attached: boolean): void {
    if (t.kind === 'interface') this.metrics.setAttached(this.program, t.iface.ifname, hook, attached);
    else this.metrics.setProbeAttached(this.program, t.probe, hook as 'uprobe' | 'uretprobe', attached);
  }

  private static where(t: Target): Record<string, unknown> {
    return t.kind === 'interface' ? { interface: t.iface.ifname, ifindex: t.iface.ifindex } : { binary: t.probe.binary, symbol: t.probe.symbol, ...(t.probe.pid !== undefined ? { pid: t.probe.pid } : {}) };
  }

  /** The link a previous agent left for this target, its program replaced by `prog` in place:
   * the hook never runs nothing. XDP and TCX links take bpf_link_update, clsact filters a
   * replace of the same handle and priority. A uprobe's perf link cannot be updated: the new
   * probe is attached first and the old one detached after (both run for that moment). */
  private takeOver(target: Target, hook: Hook, pinName: string, prog: Program, attach: () => Link, rank: number | undefined): Link | null {
    if (!this.adoption) return null;
    const tc = hook === 'tc-ingress' || hook === 'tc-egress' ? (target.kind === 'interface' ? { ifindex: target.iface.ifindex, direction: hook === 'tc-ingress' ? ('ingress' as const) : ('egress' as const), rank } : undefined) : undefined;
    const t: AdoptTarget = {
      kind: hook === 'xdp' ? 'xdp' : hook === 'uprobe' || hook === 'uretprobe' ? hook : 'tcx',
      target: target.kind === 'interface' ? target.iface.ifname : `${target.probe.binary}:${target.probe.symbol}`,
      label: this.program,
      ...(tc ? { tc } : {}),
    };
    const old = this.adoption.adoptLink(this.program, pinName, t);
    if (!old) return null;
    if (old.link.kind === 'uprobe' || old.link.kind === 'uretprobe') {
      const fresh = attach(); // before the old one goes: no call is missed
      old.link.destroy();
      return fresh;
    }
    try {
      old.link.update(prog.fd);
    } catch (err) {
      this.log.warn({ program: this.program, ...Attachments.where(target), hook, err: (err as Error).message }, 'cannot replace the program of what a previous agent attached: attaching anew');
      old.link.destroy();
      return null;
    }
    this.log.info({ program: this.program, ...Attachments.where(target), hook, previous_prog_id: old.progId, prog_id: programId(prog.fd) }, 'took over the attachment a previous agent left; program replaced in place');
    return old.link;
  }

  private attachTo(target: Target, hook: Hook, prog: Program, attach: () => Link, modeOf: (l: Link) => AttachMode, rank?: number): string | null {
    let link: Link | null = null;
    const pinName = this.pinName(target, hook);
    let adopted = false;
    try {
      link = this.takeOver(target, hook, pinName, prog, attach, rank);
      adopted = link !== null;
      link ??= attach();
      // clsact filters are no kernel link: nothing to pin (they stay on the qdisc by themselves)
      if (!link.pinnedAt && link.kind !== 'clsact') link.pin(path.join(this.pinRoot, 'links', pinName));
      const mode = modeOf(link);
      const progId = programId(prog.fd);
      this.push({ target, hook, link, mode, pinName, progId, ...(adopted ? { adopted } : {}), ...(rank !== undefined ? { rank } : {}) });
      const tcp = link.tc;
      this.adoption?.recordLink(this.program, pinName, {
        kind: link.kind,
        ...(link.mode ? { mode: link.mode } : {}),
        ...(rank !== undefined ? { rank } : {}),
        ...(link.kind === 'clsact' && tcp ? { clsact: { ifindex: tcp.ifindex, direction: tcp.direction, handle: tcp.handle, priority: tcp.priority, createdQdisc: tcp.createdQdisc ?? false } } : {}),
      });
      this.report(target, hook, true);
      const tc = link.tc;
      const place = tc?.rank !== undefined ? { rank: tc.rank, ...(tc.anchor ? { anchor: tc.anchor } : { priority: tc.priority }), stale_retries: tc.staleRetries } : {};
      if (!adopted) this.log.info({ program: this.program, ...Attachments.where(target), hook, mode, ...place }, 'attached');
      return null;
    } catch (err) {
      link?.destroy(); // never leave an attachment nobody owns
      const msg = (err as Error).message;
      this.push({ target, hook, link: null, mode: 'none', pinName, ...(rank !== undefined ? { rank } : {}), error: msg });
      this.report(target, hook, false);
      const e = err as { errno?: number; libbpfMessage?: string };
      this.log.error({ program: this.program, ...Attachments.where(target), hook, errno: e.errno, libbpf: e.libbpfMessage }, `attach failed: ${msg}`);
      return msg;
    }
  }

  /** Attaches a TC program at this program's place in the TC pipeline (tc-pipeline.ts). */
  addTc(iface: InterfaceRef, direction: TcDirection, prog: Program): string | null {
    const rank = tcRank(this.program, direction);
    return this.add(iface, `tc-${direction}`, prog, () => prog.attachTc(iface.ifindex, direction, { rank, label: this.program }), (l) => (l.kind === 'clsact' ? 'clsact' : 'tcx'), rank);
  }

  private interfaces(): { a: Attachment; iface: InterfaceRef }[] {
    return this.list.flatMap((a) => (a.target.kind === 'interface' ? [{ a, iface: a.target.iface }] : []));
  }

  ifname(ifindex: number): string | undefined {
    return this.names.get(ifindex);
  }

  private push(a: Attachment): void {
    this.list.push(a);
    if (a.target.kind === 'interface' && !this.names.has(a.target.iface.ifindex)) this.names.set(a.target.iface.ifindex, a.target.iface.ifname);
  }

  /** Interfaces something is attached to (probe targets have none). */
  attached(): InterfaceRef[] {
    return this.interfaces().filter(({ a }) => a.link).map(({ iface }) => iface);
  }

  status(): AttachmentStatus[] {
    return this.list.map((a) => ({
      ...(Attachments.where(a.target) as Pick<AttachmentStatus, 'interface' | 'ifindex' | 'binary' | 'symbol' | 'pid'>),
      hook: a.hook,
      mode: a.mode,
      attached: a.link !== null,
      ...(a.rank !== undefined ? { rank: a.rank } : {}),
      ...(a.error ? { error: a.error } : {}),
      ...(a.adopted ? { adopted: true } : {}),
      ...(a.link && a.progId !== undefined ? { prog_id: a.progId } : {}),
    }));
  }

  /** Lets go of every attachment without detaching: pinned links and clsact filters go on
   * enforcing after the agent exits (agent.on_exit: keep); the manifest keeps their records. */
  releaseAll(): string[] {
    const errors: string[] = [];
    for (const a of this.list) {
      if (!a.link) continue;
      try {
        a.link.release();
      } catch (err) {
        errors.push(`release ${a.pinName}: ${(err as Error).message}`);
      }
    }
    this.list = [];
    this.names = new Map();
    return errors;
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
        errors.push(`detach ${a.target.kind === 'interface' ? a.target.iface.ifname : `${a.target.probe.binary}:${a.target.probe.symbol}`}: ${(err as Error).message}`);
      }
      if (pin) await rm(pin, { force: true }).catch((err: Error) => errors.push(`unpin ${pin}: ${err.message}`));
      this.adoption?.forgetLink(this.program, a.pinName);
      this.report(a.target, a.hook, false);
    }
    this.list = [];
    this.names = new Map();
    return errors;
  }
}
