// xdp-firewall as an engine: compile the policy, write it as one generation, attach to every
// configured interface, turn drop/log records into alerts, export counters and rule hits.
import path from 'node:path';
import type { MapStatus, ProgramStatus } from '../../status/types.js';
import { Attachments } from '../attachments.js';
import { kernelLosses, kernelSnapshot, mapStatuses, programCounters, type MapFill } from '../kernel-status.js';
import { CLASSIFIER, type ClassifierStats } from './classifier.js';
import type { AgentView } from '../engine.js';
import type { FirewallConfig } from './schema.js';
import type { FirewallResolved } from './section.js';
import type { Engine, EngineContext, KernelLosses, PreparedChange } from '../engine.js';
import { pinObjectMaps, removePins } from '../pins.js';
import { compileFirewall } from './compile.js';
import {
  decodeFirewallEvent,
  emptyFirewallEvent,
  firewallAlert,
  SN_PROG_XDP_FIREWALL,
  type AlertContext,
  type FirewallEventRecord,
} from './events.js';
import { ensureBpffsSync } from '../../kernel/bpffs.js';
import { FIREWALL_ENTRY, FIREWALL_OBJECT_FILE, FIREWALL_PROGRAM, FirewallKernel, rejectSupport, type CounterSnapshot } from './kernel.js';

/** What xdp-firewall reads of the config: its section and aliases, the conntrack table size it
 * shares with tc-conntrack. */
export interface FirewallView extends AgentView {
  readonly firewall: FirewallConfig;
  readonly conntrack: { readonly max_entries: number };
  readonly resolved: { readonly firewall: FirewallResolved };
}

export class FirewallEngine implements Engine<FirewallView> {
  readonly program = FIREWALL_PROGRAM;
  readonly programId = SN_PROG_XDP_FIREWALL;
  private kernel: FirewallKernel | null = null;
  private readonly attachments: Attachments;
  private counters = new Map<number, CounterSnapshot>();
  private readonly record: FirewallEventRecord = emptyFirewallEvent();
  private readonly alertCtx: AlertContext;
  private ruleNames = new Map<string, string>();
  /** the config whose policy is live (ctx.config until the first reload) */
  private config: FirewallView;
  /** map pins this engine created (not the shared ct_table), removed on stop */
  private pinned: string[] = [];

  constructor(private readonly ctx: EngineContext<FirewallView>) {
    this.config = ctx.config;
    this.attachments = new Attachments(FIREWALL_PROGRAM, ctx.pinRoot, ctx.log, ctx.metrics);
    this.alertCtx = {
      rule: (num) => {
        const id = this.kernel?.writer.numbers.idOf(num);
        return id === undefined ? undefined : { id, name: this.ruleNames.get(id) ?? id };
      },
      interfaceName: (ifindex) => this.attachments.ifname(ifindex),
      toWallNs: (boot) => ctx.clock.toWallNs(boot),
    };
  }

  async start(): Promise<void> {
    const { log } = this.ctx;
    const config = this.config;
    // ct_table is shared with tc-conntrack by its pin under <pin_root>/maps, and must have
    // the size tc-conntrack gives it. Without tc-conntrack the table stays empty and every
    // packet is `new` to the rules.
    const mapPinDir = path.join(this.ctx.pinRoot, 'maps');
    ensureBpffsSync(mapPinDir);
    const k = FirewallKernel.load({
      objectPath: path.join(this.ctx.objectDir, FIREWALL_OBJECT_FILE),
      ringSize: config.agent.ring_buffer_size,
      mapPinDir,
      ctMaxEntries: config.conntrack.max_entries,
    });
    this.kernel = k;
    this.pinned = pinObjectMaps(k.obj, this.ctx.pinRoot);
    await this.prepare(this.config).commit();
    const prog = k.obj.program(FIREWALL_ENTRY);
    const failures: string[] = [];
    for (const iface of this.ctx.interfaces) {
      const err = this.attachments.add(iface, 'xdp', () => prog.attachXdp(iface.ifindex, config.agent.xdp_mode), (l) => l.mode ?? 'none');
      if (err) failures.push(`${FIREWALL_PROGRAM}: cannot attach to ${iface.ifname}: ${err}`);
      else if (config.agent.xdp_mode === 'auto' && this.attachments.status().at(-1)?.mode === 'generic') {
        log.warn({ interface: iface.ifname }, 'native XDP refused by the driver; running in generic (skb) mode, which is slower');
      }
    }
    if (failures.length) throw new Error(failures.join('; '));
  }

  /** Compiles the policy of `next`; commit() makes it live in one generation flip. */
  prepare(next: FirewallView): PreparedChange {
    const compiled = compileFirewall(next.firewall, next.resolved.firewall.aliases);
    const rejecting = compiled.rules.filter((r) => r.action === 'reject');
    if (rejecting.length && !rejectSupport(path.join(this.ctx.objectDir, FIREWALL_OBJECT_FILE))) {
      throw new Error(`firewall: reject is not available in this build (rules ${[...new Set(rejecting.map((r) => r.ruleId))].join(', ')}); use deny`);
    }
    return {
      summary: { program: FIREWALL_PROGRAM, rules: compiled.rules.length, default_policy: compiled.defaultAction },
      commit: async () => {
        const k = this.kernel;
        if (!k) throw new Error(`${FIREWALL_PROGRAM} is not loaded`);
        const res = k.writer.apply(compiled);
        this.config = next;
        this.ruleNames = new Map(next.firewall.rules.map((r) => [r.id, r.description ?? r.id]));
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
    return this.kernel ? [this.kernel.eventsFd] : [];
  }

  onRecord(buf: Buffer, offset: number, length: number): boolean {
    if (!decodeFirewallEvent(buf, offset, length, this.record)) return false;
    this.ctx.emit(firewallAlert(this.record, this.alertCtx));
    return true;
  }

  refresh(): void {
    const k = this.kernel;
    if (!k) return;
    const { metrics } = this.ctx;
    this.counters = k.readCounters();
    for (const iface of this.attachments.attached()) {
      const c = this.counters.get(iface.ifindex);
      if (!c) continue;
      metrics.setKernelSnapshot(FIREWALL_PROGRAM, iface.ifname, kernelSnapshot(c, {
          rule_hit: c.rule_hit,
          default_policy: c.default_policy,
          tailcall_miss: c.tailcall_miss,
          fragment: c.fragment,
          ct_fastpath: c.ct_fastpath,
          classifier_broken: c.tree_broken,
          reject_sent: c.reject_sent,
          reject_suppressed: c.reject_suppressed,
          reject_ratelimited: c.reject_ratelimited,
          reject_failed: c.reject_failed,
        }));
    }
    const compiled = k.writer.compiled;
    if (compiled) {
      const byNum = new Map<number, string>();
      for (const r of compiled.rules) {
        const n = k.writer.numbers.numOf(r.ruleId);
        if (n !== undefined) byNum.set(n, r.ruleId);
      }
      metrics.setFirewallRuleHits(k.readRuleHits(byNum.keys()).map((h) => ({ ruleId: byNum.get(h.ruleNum)!, packets: h.packets, bytes: h.bytes })));
    }
    for (const m of this.maps()) metrics.setMapUsage(FIREWALL_PROGRAM, m.name, m.entries, m.max_entries);
  }

  /** Fill levels of the maps worth watching (a ring's fill shows as events lost instead). */
  private maps(): MapStatus[] {
    const k = this.kernel;
    if (!k) return [];
    const st = (): ClassifierStats | undefined => k.writer.compiled?.classifier.stats;
    const entries: Record<string, () => MapFill> = {
      fw_rules: () => k.writer.compiled?.rules.length ?? 0,
      // Classifier arrays: slots of the live generation out of both generations' (one value each).
      fw_tree: () => ({ entries: (st()?.nodes ?? 0) * 256, capacity: 2 * CLASSIFIER.TREE_NODES * 256 }),
      fw_wide: () => ({ entries: (st()?.wideRoots ?? 0) * CLASSIFIER.WIDE_SLOTS, capacity: 2 * CLASSIFIER.WIDE_TABLES * CLASSIFIER.WIDE_SLOTS }),
      fw_leaf: () => ({ entries: st()?.leafSlots ?? 0, capacity: 2 * CLASSIFIER.LEAF_SLOTS }),
      fw_lpm_v4: () => k.writer.setEntries(4),
      fw_lpm_v6: () => k.writer.setEntries(6),
      fw_rule_hits: () => k.writer.numbers.inUse,
      fw_counters: () => this.counters.size,
    };
    return mapStatuses(k.obj, entries);
  }

  status(): ProgramStatus {
    return {
      name: FIREWALL_PROGRAM,
      loaded: this.kernel !== null,
      attachments: this.attachments.status(),
      maps: this.maps(),
      counters: programCounters(this.counters.values()),
    };
  }

  losses(): KernelLosses {
    return kernelLosses(this.counters.values());
  }

  async stop(): Promise<string[]> {
    const errors = await this.attachments.removeAll();
    try {
      this.kernel?.close();
    } catch (err) {
      errors.push(`close: ${(err as Error).message}`);
    }
    this.kernel = null;
    errors.push(...(await removePins(this.pinned)));
    this.pinned = [];
    return errors;
  }
}
