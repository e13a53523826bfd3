// xdp-ratelimit as an engine. Placement: when xdp-firewall runs, the program goes into the
// firewall's pinned PROG_ARRAY fw_chain at slot 0 (the firewall tail-calls it on pass); else it
// attaches its own XDP on the configured interfaces. start() and stop() are safe at runtime:
// inserting or clearing slot 0 is one atomic map write, so flows through the firewall never see
// a gap, and packets in flight finish in whichever program they entered.
//
// Reloads: prepare() compiles, commit() writes the inactive generation and flips rl_active
// (ratelimit.h), so a packet is judged by the whole old policy or the whole new one. Bucket
// state survives the flip (a reload never grants a fresh burst).
import path from 'node:path';
import type { MapStatus, ProgramStatus } from '../../api/types.js';
import type { Config } from '../../config/index.js';
import { BpfMap, u32Codec } from '../../kernel/map.js';
import { Attachments } from '../attachments.js';
import { kernelLosses, kernelSnapshot, mapStatuses, programCounters } from '../kernel-status.js';
import type { Engine, EngineContext, KernelLosses, PreparedChange } from '../engine.js';
import { pinObjectMaps, removePins } from '../pins.js';
import { compileRatelimit, type CompiledRatelimit } from './compile.js';
import { decodeRatelimitEvent, emptyRatelimitEvent, ratelimitAlert, type RatelimitAlertContext } from './events.js';
import { RATELIMIT_ENTRY, RATELIMIT_STAMP_ENTRY, RATELIMIT_OBJECT_FILE, RATELIMIT_PROGRAM, RatelimitKernel, SN_PROG_XDP_RATELIMIT, type RlCounters } from './kernel.js';
import { stampListeners, STAMP_INTERVAL_MS } from './listener-stamp.js';
import { RatelimitMetrics } from './metrics.js';
import { SyncookiesGuard, SYNCOOKIES_ALWAYS } from './syncookies.js';

/** fw_chain slot of xdp-ratelimit (firewall.h FW_TAIL_RATELIMIT) */
export const FW_TAIL_RATELIMIT = 0;

/** Where the program runs: chained behind the firewall, or attached by itself. */
export type Placement = { kind: 'chained'; pin: string } | { kind: 'attached' } | { kind: 'none' };

export function ratelimitEnabled(c: Config): boolean {
  return c.ratelimit.enabled || c.ddos.enabled;
}

export class RatelimitEngine implements Engine {
  readonly program = RATELIMIT_PROGRAM;
  readonly programId = SN_PROG_XDP_RATELIMIT;
  private kernel: RatelimitKernel | null = null;
  private readonly attachments: Attachments;
  private chain: BpfMap<number, number> | null = null;
  private placement: Placement = { kind: 'none' };
  private counters = new Map<number, RlCounters>();
  private readonly record = emptyRatelimitEvent();
  private readonly alertCtx: RatelimitAlertContext;
  private readonly syncookies = new SyncookiesGuard();
  private readonly rlMetrics: RatelimitMetrics;
  private stampTimer: NodeJS.Timeout | null = null;
  private config: Config;
  private pinned: string[] = [];

  constructor(private readonly ctx: EngineContext) {
    this.config = ctx.config;
    this.attachments = new Attachments(RATELIMIT_PROGRAM, ctx.pinRoot, ctx.log, ctx.metrics);
    this.rlMetrics = RatelimitMetrics.for(ctx.metrics.registry);
    this.alertCtx = {
      ruleId: (num) => this.kernel?.numbers.idOf(num),
      interfaceName: (ifindex) => this.attachments.ifname(ifindex) ?? ctx.interfaces.find((i) => i.ifindex === ifindex)?.ifname,
      toWallNs: (boot) => ctx.clock.toWallNs(boot),
    };
  }

  get where(): Placement {
    return this.placement;
  }

  async start(): Promise<void> {
    const { log } = this.ctx;
    const config = this.config;
    const k = RatelimitKernel.load({ objectPath: path.join(this.ctx.objectDir, RATELIMIT_OBJECT_FILE), ringSize: config.agent.ring_buffer_size });
    this.kernel = k;
    this.pinned = pinObjectMaps(k.obj, this.ctx.pinRoot);
    await this.prepare(config).commit();

    const fd = k.progFd;
    if (config.firewall.enabled) {
      // The firewall starts first and pins fw_chain; its tail call reaches us from now on.
      const pin = path.join(this.ctx.pinRoot, 'maps', 'fw_chain');
      try {
        this.chain = BpfMap.fromPin(pin, u32Codec, u32Codec);
        this.chain.update(FW_TAIL_RATELIMIT, fd);
      } catch (err) {
        throw new Error(`${RATELIMIT_PROGRAM}: cannot join the xdp-firewall chain at ${pin}: ${(err as Error).message}`);
      }
      this.placement = { kind: 'chained', pin };
      log.info({ program: RATELIMIT_PROGRAM, chain: pin, slot: FW_TAIL_RATELIMIT }, 'chained behind xdp-firewall');
      return;
    }
    const prog = k.obj.program(RATELIMIT_ENTRY);
    const failures: string[] = [];
    for (const iface of this.ctx.interfaces) {
      const err = this.attachments.add(iface, 'xdp', () => prog.attachXdp(iface.ifindex, config.agent.xdp_mode), (l) => l.mode ?? 'none');
      if (err) failures.push(`${RATELIMIT_PROGRAM}: cannot attach to ${iface.ifname}: ${err}`);
    }
    this.placement = { kind: 'attached' };
    if (failures.length) throw new Error(failures.join('; '));
  }

  prepare(next: Config): PreparedChange {
    const compiled = compileRatelimit(next.ratelimit, next.ddos);
    return {
      summary: {
        program: RATELIMIT_PROGRAM,
        rules: next.ratelimit.enabled ? next.ratelimit.rules.filter((r) => r.enabled).length : 0,
        kernel_rows: compiled.rows.length,
        default_rate: next.ratelimit.enabled ? next.ratelimit.default_rate : 0,
        syn_cookies: compiled.synCookies ? (next.ddos.syn_protection.threshold_mode ? `above ${next.ddos.syn_protection.threshold_pps} SYN/s` : 'always') : 'off',
      },
      commit: async () => {
        const k = this.kernel;
        if (!k) throw new Error(`${RATELIMIT_PROGRAM} is not loaded`);
        // Cookie ACKs must be accepted before the first cookie goes out; and the sysctl goes
        // back only after the kernel stopped sending cookies.
        if (compiled.synCookies) {
          this.enableSyncookies();
          this.startStamping();
        }
        const gen = k.apply(compiled);
        if (!compiled.synCookies) {
          this.stopStamping();
          this.restoreSyncookies();
        }
        this.config = next;
        this.logPolicy(compiled, gen);
      },
    };
  }

  private logPolicy(c: CompiledRatelimit, generation: number): void {
    this.ctx.log.info(
      { program: RATELIMIT_PROGRAM, generation, kernel_rows: c.rows.length, cookie_mode: c.header.cookieMode, default_interval_ns: String(c.header.dflt.intervalNs) },
      'rate-limit policy loaded',
    );
  }

  /** While SYN cookies are on, every local listener is stamped now and every
   * STAMP_INTERVAL_MS (listener-stamp.ts says why): before the first cookie goes out. */
  private startStamping(): void {
    if (this.stampTimer) return;
    const stamp = (): void => {
      const k = this.kernel;
      if (!k) return;
      // the clock read before the SYNs: the kernel's stamp is at least this fresh
      const at = process.hrtime.bigint();
      const r = stampListeners(k.obj.progFd(RATELIMIT_STAMP_ENTRY));
      k.markStamped(r.ports, at);
      if (r.via === 'proc' && !this.procFallbackLogged) {
        this.procFallbackLogged = true;
        this.ctx.log.warn({ program: RATELIMIT_PROGRAM }, 'no sock_diag for TCP in this kernel: listeners for SYN cookies are read from /proc/net/tcp, which is slow on hosts with many connections');
      }
      this.rlMetrics.stamped(r.stamped, r.errors.length);
      if (r.errors.length) this.ctx.log.warn({ program: RATELIMIT_PROGRAM, errors: r.errors }, 'could not stamp some TCP listeners for SYN cookies: their clients may be reset during a flood');
      else this.ctx.log.debug({ program: RATELIMIT_PROGRAM, listeners: r.listeners }, 'TCP listeners stamped for SYN cookies');
    };
    stamp();
    this.stampTimer = setInterval(stamp, STAMP_INTERVAL_MS);
    this.stampTimer.unref();
  }

  private procFallbackLogged = false;

  private stopStamping(): void {
    if (this.stampTimer) clearInterval(this.stampTimer);
    this.stampTimer = null;
  }

  private enableSyncookies(): void {
    if (this.syncookies.active) return;
    try {
      const prev = this.syncookies.enable();
      this.ctx.log.warn(
        { program: RATELIMIT_PROGRAM, sysctl: 'net.ipv4.tcp_syncookies', from: prev, to: SYNCOOKIES_ALWAYS },
        'SYN protection on: net.ipv4.tcp_syncookies set to 2 in this network namespace so listeners accept cookie ACKs (restored on stop)',
      );
    } catch (err) {
      throw new Error(`${RATELIMIT_PROGRAM}: ddos.syn_protection needs net.ipv4.tcp_syncookies=2 and it cannot be set: ${(err as Error).message}`);
    }
  }

  private restoreSyncookies(): string | null {
    try {
      const prev = this.syncookies.restore();
      if (prev !== null) this.ctx.log.info({ program: RATELIMIT_PROGRAM, sysctl: 'net.ipv4.tcp_syncookies', to: prev }, 'SYN protection off: tcp_syncookies restored');
      return null;
    } catch (err) {
      const msg = `restoring net.ipv4.tcp_syncookies: ${(err as Error).message}`;
      this.ctx.log.error({ program: RATELIMIT_PROGRAM }, msg);
      return msg;
    }
  }

  ringFds(): number[] {
    return this.kernel ? [this.kernel.eventsFd] : [];
  }

  onRecord(buf: Buffer, offset: number, length: number): boolean {
    if (!decodeRatelimitEvent(buf, offset, length, this.record)) return false;
    this.ctx.emit(ratelimitAlert(this.record, this.alertCtx));
    return true;
  }

  /** Interfaces whose counters are exported: where we are attached, or (chained) the
   * firewall's interfaces, which are the configured ones. */
  private interfaces(): { ifname: string; ifindex: number }[] {
    return this.placement.kind === 'chained' ? [...this.ctx.interfaces] : this.attachments.attached();
  }

  refresh(): void {
    const k = this.kernel;
    if (!k) return;
    const { metrics } = this.ctx;
    this.counters = k.readCounters();
    for (const iface of this.interfaces()) {
      const c = this.counters.get(iface.ifindex);
      if (!c) continue;
      metrics.setKernelSnapshot(RATELIMIT_PROGRAM, iface.ifname, kernelSnapshot(c, {
          drop_rule: c.drop_rule,
          drop_default: c.drop_default,
          drop_syn_flood: c.drop_syn_flood,
          drop_udp_flood: c.drop_udp_flood,
          drop_icmp_flood: c.drop_icmp_flood,
          syncookie_sent: c.syncookie_sent,
          syncookie_invalid: c.syncookie_invalid,
        }));
    }
    this.rlMetrics.observe(k.readStats());
    for (const m of this.maps()) metrics.setMapUsage(RATELIMIT_PROGRAM, m.name, m.entries, m.max_entries);
  }

  private maps(): MapStatus[] {
    const k = this.kernel;
    if (!k) return [];
    const entries: Record<string, () => number> = {
      rl_rules: () => k.compiled?.rows.length ?? 0,
      rl_buckets: () => k.bucketCount(),
      rl_counters: () => this.counters.size,
    };
    return mapStatuses(k.obj, entries);
  }

  status(): ProgramStatus {
    return {
      name: RATELIMIT_PROGRAM,
      loaded: this.kernel !== null,
      attachments: this.attachments.status(),
      maps: this.maps(),
      counters: programCounters(this.counters.values()),
    };
  }

  losses(): KernelLosses {
    return kernelLosses(this.counters.values());
  }

  /** Leaves the chain (slot 0 cleared: the firewall passes straight to the stack again, and
   * counts tailcall_miss) or detaches; restores the sysctl; closes. Never throws. */
  async stop(): Promise<string[]> {
    const errors: string[] = [];
    this.stopStamping();
    if (this.chain) {
      try {
        this.chain.delete(FW_TAIL_RATELIMIT);
      } catch (err) {
        errors.push(`leaving fw_chain: ${(err as Error).message}`);
      }
      this.chain.close();
      this.chain = null;
    }
    errors.push(...(await this.attachments.removeAll()));
    const e = this.restoreSyncookies();
    if (e) errors.push(e);
    try {
      this.kernel?.close();
    } catch (err) {
      errors.push(`close: ${(err as Error).message}`);
    }
    this.kernel = null;
    // Our map pins go too, so a runtime restart (reload off, then on) can pin again.
    errors.push(...(await removePins(this.pinned)));
    this.pinned = [];
    this.placement = { kind: 'none' };
    return errors;
  }
}
