// xdp-firewall as an engine: compile the policy, write it as one generation, attach to every
// configured interface, turn drop/log records into alerts, export counters and rule hits.
import type { ProgramStatus } from '../../status/types.js';
import type { MapFill } from '../runtime/counters.js';
import { ProgramRuntime } from '../runtime/program.js';
import { FirewallMetrics } from './metrics.js';
import { type ClassifierStats } from './classifier.js';
import type { AgentView } from '../engine.js';
import type { FirewallConfig } from './schema.js';
import type { FirewallResolved } from './section.js';
import type { Engine, EngineContext, KernelLosses, PreparedChange, StopMode } from '../engine.js';
import { compileFirewall } from './compile.js';
import {
  decodeFirewallEvent,
  emptyFirewallEvent,
  firewallAlert,
  type AlertContext,
  type FirewallEventRecord,
  type RuleInfo,
} from './events.js';
import { FIREWALL_ENTRY, FIREWALL_OBJECT_FILE, FIREWALL_PROGRAM, FirewallKernel } from './kernel.js';
import { fw_limits, sentinel_program_id } from '../../kernel/contract.gen.js';

/** What xdp-firewall reads of the config: its section and aliases (the size of ct_table, which
 * it shares with tc-conntrack, comes with the shared-map sizes). */
export interface FirewallView extends AgentView {
  readonly firewall: FirewallConfig;
  readonly resolved: { readonly firewall: FirewallResolved };
}

/** Fill of the maps worth watching (a ring's fill shows as events lost instead). */
function firewallMapFill(k: FirewallKernel, counters: () => number): Record<string, () => MapFill> {
  const st = (): ClassifierStats | undefined => k.writer.compiled?.classifier.stats;
  return {
    fw_rules: () => k.writer.compiled?.rules.length ?? 0,
    // Classifier arrays: slots of the live generation out of both generations' (one value each).
    fw_tree: () => ({ entries: (st()?.nodes ?? 0) * 256, capacity: 2 * fw_limits.FW_TREE_NODES * 256 }),
    fw_wide: () => ({ entries: (st()?.wideRoots ?? 0) * fw_limits.FW_WIDE_SLOTS, capacity: 2 * fw_limits.FW_WIDE_TABLES * fw_limits.FW_WIDE_SLOTS }),
    fw_leaf: () => ({ entries: st()?.leafSlots ?? 0, capacity: 2 * fw_limits.FW_LEAF_SLOTS }),
    fw_lpm_v4: () => k.writer.setEntries(4),
    fw_lpm_v6: () => k.writer.setEntries(6),
    fw_rule_hits: () => k.writer.numbers.inUse,
    fw_counters: counters,
  };
}

export class FirewallEngine implements Engine<FirewallView> {
  readonly program = FIREWALL_PROGRAM;
  readonly programId = sentinel_program_id.SN_PROG_XDP_FIREWALL;
  private readonly rt: ProgramRuntime<FirewallKernel>;
  private readonly record: FirewallEventRecord = emptyFirewallEvent();
  private readonly alertCtx: AlertContext;
  private ruleNames = new Map<string, string>();
  /** rule number -> id and name under the live policy (cleared when it changes) */
  private ruleInfo = new Map<number, RuleInfo>();
  /** the config whose policy is live (ctx.config until the first reload) */
  private config: FirewallView;
  private readonly fwMetrics: FirewallMetrics;

  constructor(private readonly ctx: EngineContext<FirewallView>) {
    this.config = ctx.config;
    this.fwMetrics = FirewallMetrics.for(ctx.metrics.registry);
    this.rt = new ProgramRuntime(ctx, {
      program: FIREWALL_PROGRAM,
      objectFile: FIREWALL_OBJECT_FILE,
      kernel: (obj) => FirewallKernel.over(obj),
      metricNames: { tree_broken: 'classifier_broken' },
      maps: (k) => firewallMapFill(k, () => this.rt.counters.size),
    });
    this.alertCtx = {
      // once per alert: the answer is kept per rule number until the policy changes
      rule: (num) => {
        let info = this.ruleInfo.get(num);
        if (info === undefined) {
          const id = this.rt.kernel?.writer.numbers.idOf(num);
          if (id === undefined) return undefined;
          info = { id, name: this.ruleNames.get(id) ?? id };
          this.ruleInfo.set(num, info);
        }
        return info;
      },
      blockEntry: (id) => ctx.blocklist.describe(id),
      interfaceName: (ifindex) => this.rt.ifname(ifindex),
      toWallNs: (boot) => ctx.clock.toWallNs(boot),
    };
  }

  /** Loads the object (ct_table, shared with tc-conntrack by its pin, sized like tc-conntrack
   * sizes it: without tc-conntrack the table stays empty and every packet is `new` to the
   * rules), writes the policy, attaches at XDP. */
  async start(): Promise<void> {
    this.rt.load();
    await this.prepare(this.config).commit();
    this.rt.attachXdp(FIREWALL_ENTRY);
  }

  /** Compiles the policy of `next`; commit() makes it live in one generation flip. */
  prepare(next: FirewallView): PreparedChange {
    const compiled = compileFirewall(next.firewall, next.resolved.firewall.aliases);
    return {
      summary: { program: FIREWALL_PROGRAM, rules: compiled.rules.length, default_policy: compiled.defaultAction },
      commit: async () => {
        const k = this.rt.loadedKernel();
        const res = k.writer.apply(compiled);
        this.config = next;
        this.ruleNames = new Map(next.firewall.rules.map((r) => [r.id, r.description ?? r.id]));
        this.ruleInfo = new Map();
        // The old generation's set entries go once no packet can still be reading them; should
        // the wait fail, the next apply removes them (it waits first, or refuses to write).
        const retired = await k.writer.settle().catch((err: Error) => {
          this.ctx.log.warn({ program: FIREWALL_PROGRAM, err: err.message }, 'the previous generation stays in the kernel until the next policy change');
          return 0;
        });
        this.ctx.log.info(
          {
            program: FIREWALL_PROGRAM,
            rules: res.rules,
            set_entries: res.setEntries,
            retired_set_entries: retired,
            generation: res.generation,
            default_policy: compiled.defaultAction,
            policy_id: k.writer.policyId,
            classifier: compiled.classifier.stats,
          },
          'firewall policy loaded',
        );
      },
    };
  }

  ringFds(): number[] {
    return this.rt.ringFds();
  }

  onRecord(buf: Buffer, offset: number, length: number): boolean {
    if (!decodeFirewallEvent(buf, offset, length, this.record)) return false;
    this.ctx.emit(firewallAlert(this.record, this.alertCtx));
    return true;
  }

  /** Counters and map fill (the runtime), and the hits of every rule of the live policy. */
  refresh(): void {
    this.rt.refresh();
    const k = this.rt.kernel;
    const compiled = k?.writer.compiled;
    if (!k || !compiled) return;
    const byNum = new Map<number, string>();
    for (const r of compiled.rules) {
      const n = k.writer.numbers.numOf(r.ruleId);
      if (n !== undefined) byNum.set(n, r.ruleId);
    }
    this.fwMetrics.setRuleHits(k.readRuleHits(byNum.keys()).map((h) => ({ ruleId: byNum.get(h.ruleNum)!, packets: h.packets, bytes: h.bytes })));
  }

  status(): ProgramStatus {
    return this.rt.status();
  }

  losses(): KernelLosses {
    return this.rt.losses();
  }

  stop(how: StopMode = 'detach'): Promise<string[]> {
    return this.rt.stop(how);
  }
}
