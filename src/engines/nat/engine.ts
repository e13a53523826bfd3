// tc-nat-ingress and tc-nat-egress as one engine: load both objects (sharing the policy, the
// masquerade addresses and the translation table, which tc-conntrack reads too), write the
// compiled rules, attach at their pipeline ranks on every configured interface, keep the
// masquerade interfaces' addresses current (polled), sweep translations whose flow has ended,
// and list the live ones for the API. Translations live with conntrack state, so the engine
// refuses to run without conntrack.
import { networkInterfaces } from 'node:os';
import type { ProgramStatus } from '../../status/types.js';
import { parseAddress } from '../../net/ip.js';
import { sentinel_program_id } from '../../kernel/contract.gen.js';
import type { AgentView, Engine, EngineContext, KernelLosses, PreparedChange, StopMode } from '../engine.js';
import { ProgramRuntime } from '../runtime/program.js';
import { compileNat, type CompiledNat } from './compile.js';
import {
  NAT_EGRESS_OBJECT_FILE,
  NAT_EGRESS_PROGRAM,
  NAT_ENTRY_EGRESS,
  NAT_ENTRY_INGRESS,
  NAT_FLOWS,
  NAT_INGRESS_OBJECT_FILE,
  NAT_INGRESS_PROGRAM,
  NatKernel,
  NatSide,
  type NatBinding,
} from './kernel.js';
import { NatMetrics, NAT_REFUSALS, type NatRefusal } from './metrics.js';
import type { NatTranslation, NatLister } from './routes.js';
import type { NatConfig } from './schema.js';

/** What the NAT reads of the config. */
export interface NatView extends AgentView {
  readonly nat: NatConfig;
  readonly conntrack: { readonly enabled: boolean };
}

const NEEDS_CONNTRACK = 'nat: translations live with conntrack state: set conntrack.enabled: true (on the same interfaces)';

/** The first global address of each family an interface has (os.networkInterfaces, the agent's
 * own network namespace). */
export function interfaceAddresses(ifname: string): { v4?: Buffer; v6?: Buffer } {
  const out: { v4?: Buffer; v6?: Buffer } = {};
  for (const a of networkInterfaces()[ifname] ?? []) {
    if (a.family === 'IPv4' && !out.v4) out.v4 = parseAddress(a.address).addr;
    if (a.family === 'IPv6' && !out.v6 && a.scopeid === 0 && !a.address.toLowerCase().startsWith('fe80')) out.v6 = parseAddress(a.address).addr;
  }
  return out;
}

export class NatEngine implements Engine<NatView>, NatLister {
  readonly program = NAT_INGRESS_PROGRAM;
  readonly programId = sentinel_program_id.SN_PROG_TC_NAT_INGRESS;
  private readonly rtIn: ProgramRuntime<NatSide>;
  private readonly rtOut: ProgramRuntime<NatSide>;
  private readonly metrics: NatMetrics;
  private tables: NatKernel | null = null;
  private cfg: NatConfig;
  private compiled: CompiledNat | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** the masquerade addresses last written, per interface, to log changes */
  private addrs = new Map<string, string>();
  private swept = 0;
  private entries = 0;

  constructor(private readonly ctx: EngineContext<NatView>) {
    this.cfg = ctx.config.nat;
    const fill = (): { entries: number; capacity: number } => ({ entries: this.entries, capacity: this.tables?.maxFlows ?? 0 });
    this.rtIn = new ProgramRuntime(ctx, {
      program: NAT_INGRESS_PROGRAM,
      objectFile: NAT_INGRESS_OBJECT_FILE,
      kernel: (obj) => NatSide.over(obj, 'ingress'),
      maps: () => ({ [NAT_FLOWS]: fill }),
    });
    this.rtOut = new ProgramRuntime(ctx, { program: NAT_EGRESS_PROGRAM, objectFile: NAT_EGRESS_OBJECT_FILE, kernel: (obj) => NatSide.over(obj, 'egress') });
    this.metrics = NatMetrics.for(ctx.metrics.registry);
    this.metrics.sourcesRestarted();
  }

  async start(): Promise<void> {
    if (!this.ctx.config.conntrack.enabled) throw new Error(NEEDS_CONNTRACK);
    const compiled = compileNat(this.cfg, this.ctx.interfaces);
    const inK = this.rtIn.load();
    const outK = this.rtOut.load();
    const t = NatKernel.over(inK.obj, outK.obj);
    this.tables = t;
    this.pollAddresses(compiled);
    // Flows of rules no longer in the policy (a previous agent's) lose their translation.
    const dropped = t.deleteBindings((b) => !compiled.ruleNames.has(b.ruleId));
    const gen = t.writePolicy(compiled.rules);
    this.compiled = compiled;
    this.rtIn.attachTc([{ entry: NAT_ENTRY_INGRESS, direction: 'ingress' }]);
    this.rtOut.attachTc([{ entry: NAT_ENTRY_EGRESS, direction: 'egress' }]);
    this.ctx.log.info({ program: NAT_INGRESS_PROGRAM, rules: compiled.rules.length, generation: gen, masquerade: compiled.masquerade, dropped_bindings: dropped }, 'nat policy loaded');
    this.schedule();
  }

  /** Rules reload atomically (the idle generation written whole, then flipped); translations
   * of rules still in the policy stay, those of removed rules are deleted, as netfilter's
   * conntrack keeps a flow's NAT while its rule lives. */
  prepare(next: NatView): PreparedChange {
    if (next.nat.enabled && !next.conntrack.enabled) throw new Error(NEEDS_CONNTRACK);
    const compiled = compileNat(next.nat, this.ctx.interfaces);
    return {
      summary: { program: NAT_INGRESS_PROGRAM, rules: compiled.rules.length, names: [...compiled.ruleNames.values()] },
      commit: async () => {
        const t = this.tables;
        if (!t) throw new Error('nat: not loaded');
        this.pollAddresses(compiled);
        const gen = t.writePolicy(compiled.rules);
        const dropped = t.deleteBindings((b) => !compiled.ruleNames.has(b.ruleId));
        this.compiled = compiled;
        const pollChanged = next.nat.address_poll_secs !== this.cfg.address_poll_secs;
        this.cfg = next.nat;
        if (pollChanged) this.schedule();
        this.ctx.log.info({ program: NAT_INGRESS_PROGRAM, rules: compiled.rules.length, generation: gen, dropped_bindings: dropped }, 'nat policy reloaded');
      },
    };
  }

  private schedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), this.cfg.address_poll_secs * 1000);
    this.timer.unref();
  }

  private tick(): void {
    try {
      if (this.compiled) this.pollAddresses(this.compiled);
      this.sweep();
    } catch (err) {
      this.ctx.log.error({ program: NAT_INGRESS_PROGRAM, err: (err as Error).message }, 'nat upkeep failed');
    }
  }

  /** Writes each masquerade interface's current addresses (following changes); an interface
   * without an address of a family gets none, and masquerade refuses its flows visibly. */
  pollAddresses(c: CompiledNat): void {
    const t = this.tables;
    if (!t) return;
    for (const name of c.masquerade) {
      const ifindex = this.ctx.interfaces.find((i) => i.ifname === name)?.ifindex;
      if (ifindex === undefined) continue;
      const a = interfaceAddresses(name);
      const text = `${a.v4?.subarray(0, 4).join('.') ?? '-'} ${a.v6?.toString('hex') ?? '-'}`;
      if (this.addrs.get(name) === text) continue;
      t.setInterfaceAddresses(ifindex, a.v4, a.v6);
      if (this.addrs.has(name)) this.ctx.log.info({ program: NAT_INGRESS_PROGRAM, interface: name }, 'masquerade address changed');
      this.addrs.set(name, text);
    }
  }

  /** Deletes translations whose flow has ended (conntrack entry gone or dead). */
  sweep(): number {
    const t = this.tables;
    if (!t) return 0;
    const n = t.sweep(this.ctx.clock.bootNowNs());
    this.swept += n;
    return n;
  }

  /** Live translations, the forward direction of each flow. */
  listTranslations(limit: number): { translations: NatTranslation[]; total: number } | null {
    const t = this.tables;
    if (!t) return null;
    const now = this.ctx.clock.bootNowNs();
    const live = t.liveBindings(now).filter((b) => !b.reply);
    const names = this.compiled?.ruleNames ?? new Map<number, string>();
    const ifname = (i: number): string | null => (i === 0 ? null : (this.ctx.interfaces.find((x) => x.ifindex === i)?.ifname ?? String(i)));
    const rows = live.slice(0, limit).map((b: NatBinding) => ({
      rule: names.get(b.ruleId) ?? `#${b.ruleId}`,
      kind: b.kind,
      family: b.family === 4 ? ('ipv4' as const) : ('ipv6' as const),
      proto: protoName(b.proto),
      original: b.from,
      translated: b.to,
      hook: b.hook,
      interface: ifname(b.ifindex),
      age_secs: Number(now - b.createdNs) / 1e9,
    }));
    return { translations: rows, total: live.length };
  }

  ringFds(): number[] {
    return [];
  }

  onRecord(): boolean {
    return false; // refusals are counted (metrics, status), not emitted as records
  }

  private refusals(): Record<NatRefusal, number> {
    const sum = Object.fromEntries(NAT_REFUSALS.map((r) => [r, 0])) as Record<NatRefusal, number>;
    for (const rt of [this.rtIn, this.rtOut]) for (const c of rt.counters.values()) for (const r of NAT_REFUSALS) sum[r] += Number(c[r]);
    return sum;
  }

  refresh(): void {
    const t = this.tables;
    if (!t) return;
    this.rtIn.readCounters();
    this.rtOut.readCounters();
    const now = this.ctx.clock.bootNowNs();
    const all = t.bindings();
    this.entries = all.length;
    const byRule = new Map<string, number>();
    const names = this.compiled?.ruleNames ?? new Map<number, string>();
    for (const b of t.liveBindings(now, all)) {
      if (b.reply) continue;
      const name = names.get(b.ruleId) ?? `#${b.ruleId}`;
      byRule.set(name, (byRule.get(name) ?? 0) + 1);
    }
    this.metrics.setTable(all.length, t.maxFlows, byRule);
    this.metrics.setRefused(this.refusals());
    this.rtIn.exportMetrics();
    this.rtOut.exportMetrics();
  }

  status(): ProgramStatus {
    const a = this.rtIn.status();
    const b = this.rtOut.status();
    const r = this.refusals();
    return {
      ...a,
      attachments: [...a.attachments, ...b.attachments],
      maps: [...a.maps, ...b.maps],
      stats: {
        rules: this.compiled?.rules.length ?? 0,
        table_entries: this.entries,
        table_max_entries: this.tables?.maxFlows ?? 0,
        swept: this.swept,
        ...r,
      },
    };
  }

  losses(): KernelLosses {
    return this.rtIn.losses();
  }

  async stop(how: StopMode = 'detach'): Promise<string[]> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.tables = null;
    const errors = await this.rtOut.stop(how);
    errors.push(...(await this.rtIn.stop(how)));
    return errors;
  }
}

function protoName(p: number): string {
  return p === 6 ? 'tcp' : p === 17 ? 'udp' : p === 1 ? 'icmp' : p === 58 ? 'icmpv6' : String(p);
}
