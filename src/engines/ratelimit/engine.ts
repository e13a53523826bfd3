// xdp-ratelimit as an engine. Placement: when xdp-firewall runs, the program goes into the
// firewall's pinned PROG_ARRAY fw_chain at slot 0 (the firewall tail-calls it on pass); else it
// attaches its own XDP on the configured interfaces. start() and stop() are safe at runtime:
// inserting or clearing slot 0 is one atomic map write, so flows through the firewall never see
// a gap, and packets in flight finish in whichever program they entered.
//
// Reloads: prepare() compiles, commit() writes the inactive generation and flips rl_active
// (ratelimit.h), so a packet is judged by the whole old policy or the whole new one. Bucket
// state survives the flip (a reload never grants a fresh burst).
//
// SYN cookies: whatever a cookie path needs (tc_syncookie attached, or the sysctl held) is in
// place before the flip that turns cookies on, and goes only after the flip that turns them off
// (syncookie-path.ts).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { ProgramStatus, SynCookieStatus } from '../../status/types.js';
import type { AgentView } from '../engine.js';
import type { DdosConfig, RatelimitConfig } from './schema.js';
import { BpfMap, u32Codec } from '../../kernel/map.js';
import { ProgramRuntime } from '../runtime/program.js';
import type { Engine, EngineContext, KernelLosses, PreparedChange, StopMode } from '../engine.js';
import { compileRatelimit, type CompiledRatelimit } from './compile.js';
import { decodeRatelimitEvent, emptyRatelimitEvent, ratelimitAlert, type RatelimitAlertContext } from './events.js';
import { RATELIMIT_ENTRY, RATELIMIT_OBJECT_FILE, RATELIMIT_PROGRAM, RatelimitKernel } from './kernel.js';
import { RatelimitMetrics } from './metrics.js';
import { allowFlags, chooseCookiePath, kernelHasReqsk, readHostTcp, RL_PATH, type CookiePath, type PathChoice } from './syncookie-path.js';
import { SyncookieTcKernel, SYNCOOKIE_TC_ENTRY, SYNCOOKIE_TC_OBJECT_FILE, SYNCOOKIE_TC_PROGRAM } from './syncookie-tc.js';
import { SyncookiesGuard } from './syncookies.js';
import { fw_tail, sentinel_program_id } from '../../kernel/contract.gen.js';

/** fw_chain slot of xdp-ratelimit */
const FW_TAIL_RATELIMIT = fw_tail.FW_TAIL_RATELIMIT;

/** Where the program runs: chained behind the firewall, or attached by itself. */
export type Placement = { kind: 'chained'; pin: string } | { kind: 'attached' } | { kind: 'none' };

/** What xdp-ratelimit reads of the config: its two sections, and whether xdp-firewall runs (it
 * then joins the firewall's tail-call chain instead of attaching its own XDP). */
export interface RatelimitView extends AgentView {
  readonly ratelimit: RatelimitConfig;
  readonly ddos: DdosConfig;
  readonly firewall: { readonly enabled: boolean };
}

export function ratelimitEnabled(c: RatelimitView): boolean {
  return c.ratelimit.enabled || c.ddos.enabled;
}

export class RatelimitEngine implements Engine<RatelimitView> {
  readonly program = RATELIMIT_PROGRAM;
  readonly programId = sentinel_program_id.SN_PROG_XDP_RATELIMIT;
  private readonly rt: ProgramRuntime<RatelimitKernel>;
  /** tc_syncookie, loaded only while the agent cookie path is in force */
  private readonly tc: ProgramRuntime<SyncookieTcKernel>;
  private chain: BpfMap<number, number> | null = null;
  private placement: Placement = { kind: 'none' };
  /** rl_stats as of the last refresh (status) */
  private stats: Record<string, number> = {};
  private readonly record = emptyRatelimitEvent();
  private readonly alertCtx: RatelimitAlertContext;
  private readonly syncookies = new SyncookiesGuard();
  private readonly rlMetrics: RatelimitMetrics;
  /** the cookie path in force (null while cookies are off) and why it was chosen */
  private cookiePath: PathChoice | null = null;
  private hasReqsk: boolean | undefined;
  private cookieKey: Buffer = randomBytes(16);
  private config: RatelimitView;

  constructor(private readonly ctx: EngineContext<RatelimitView>) {
    this.config = ctx.config;
    this.rt = new ProgramRuntime(ctx, {
      program: RATELIMIT_PROGRAM,
      objectFile: RATELIMIT_OBJECT_FILE,
      kernel: (obj) => RatelimitKernel.over(obj),
      maps: (k) => ({ rl_rules: () => k.compiled?.rows.length ?? 0, rl_buckets: () => k.bucketCount(), rl_counters: () => this.rt.counters.size }),
      // chained, it sees what the firewall sees: the configured interfaces
      interfaces: () => (this.placement.kind === 'chained' ? this.ctx.interfaces : this.rt.attached()),
    });
    this.tc = new ProgramRuntime(ctx, { program: SYNCOOKIE_TC_PROGRAM, objectFile: SYNCOOKIE_TC_OBJECT_FILE, kernel: (obj) => SyncookieTcKernel.over(obj) });
    this.rlMetrics = RatelimitMetrics.for(ctx.metrics.registry);
    this.alertCtx = {
      ruleId: (num) => this.rt.kernel?.numbers.idOf(num),
      interfaceName: (ifindex) => this.rt.ifname(ifindex),
      toWallNs: (boot) => ctx.clock.toWallNs(boot),
    };
  }

  get where(): Placement {
    return this.placement;
  }

  async start(): Promise<void> {
    const { log } = this.ctx;
    const config = this.config;
    const k = this.rt.load();
    // A kept rl_cookie_cfg holds the previous agent's key: cookies it sent stay valid.
    this.cookieKey = k.readCookieKey() ?? this.cookieKey;
    this.writeCookieConfig(k);
    await this.prepare(config).commit();

    const fd = k.progFd;
    if (config.firewall.enabled) {
      // The firewall starts first and pins fw_chain; its tail call reaches us from now on.
      const pin = path.join(this.ctx.pinRoot, 'maps', 'fw_chain');
      try {
        this.chain = BpfMap.fromPin(pin, u32Codec, u32Codec);
        // one write: the slot held the previous agent's program (if any) until now
        this.chain.update(fw_tail.FW_TAIL_RATELIMIT, fd);
        this.ctx.adoption?.recordSlot(RATELIMIT_PROGRAM, 'fw_chain', fw_tail.FW_TAIL_RATELIMIT);
      } catch (err) {
        throw new Error(`${RATELIMIT_PROGRAM}: cannot join the xdp-firewall chain at ${pin}: ${(err as Error).message}`);
      }
      this.placement = { kind: 'chained', pin };
      log.info({ program: RATELIMIT_PROGRAM, chain: pin, slot: FW_TAIL_RATELIMIT }, 'chained behind xdp-firewall');
      return;
    }
    this.placement = { kind: 'attached' };
    this.rt.attachXdp(RATELIMIT_ENTRY);
  }

  /** The key is fresh per engine start (a restart only invalidates handshakes in flight); the
   * options this namespace's TCP takes are read again on every start and reload, so a cookie
   * never promises what the kernel would refuse. */
  private writeCookieConfig(k: RatelimitKernel): void {
    const host = readHostTcp();
    k.writeCookieConfig({ key: this.cookieKey, allow: allowFlags(host), rcvWscale: host.rcvWscale });
    this.ctx.log.debug({ program: RATELIMIT_PROGRAM, host_tcp: host }, 'SYN cookie key and host TCP options written');
  }

  /** Which cookie path `next` gets; throws (naming the key) when it asks for one this kernel lacks. */
  private choosePath(next: RatelimitView): PathChoice | null {
    const syn = next.ddos.syn_protection;
    if (!next.ddos.enabled || !syn.enabled) return null;
    this.hasReqsk ??= kernelHasReqsk();
    return chooseCookiePath(syn.cookies, this.hasReqsk);
  }

  prepare(next: RatelimitView): PreparedChange {
    const choice = this.choosePath(next);
    const compiled = compileRatelimit(next.ratelimit, next.ddos, choice?.path ?? 'agent');
    return {
      summary: {
        program: RATELIMIT_PROGRAM,
        rules: next.ratelimit.enabled ? next.ratelimit.rules.filter((r) => r.enabled).length : 0,
        kernel_rows: compiled.rows.length,
        default_rate: next.ratelimit.enabled ? next.ratelimit.default_rate : 0,
        syn_cookies: compiled.synCookies ? (next.ddos.syn_protection.threshold_mode ? `above ${next.ddos.syn_protection.threshold_pps} SYN/s` : 'always') : 'off',
        ...(choice ? { syn_cookie_path: choice.path } : {}),
      },
      commit: async () => {
        const k = this.rt.loadedKernel();
        let want = choice;
        if (want) {
          this.writeCookieConfig(k);
          want = await this.enterCookiePath(want, next.ddos.syn_protection.cookies === 'auto');
          compiled.header.cookiePath = RL_PATH[want.path];
        }
        const gen = k.apply(compiled);
        // The generation just switched out is rewritten by the next reload only once no packet
        // can still read it: wait for that now, off the JS thread (else the next apply blocks).
        await k.settle().catch((err: Error) => this.ctx.log.warn({ program: RATELIMIT_PROGRAM, err: err.message }, 'could not wait for packets in flight after the flip; the next policy change waits instead'));
        await this.leaveCookiePath(want?.path ?? null);
        this.cookiePath = want;
        this.config = next;
        this.logPolicy(compiled, gen);
      },
    };
  }

  private logPolicy(c: CompiledRatelimit, generation: number): void {
    this.ctx.log.info(
      { program: RATELIMIT_PROGRAM, generation, kernel_rows: c.rows.length, cookie_mode: c.header.cookieMode, cookie_path: this.cookiePath?.path ?? null, default_interval_ns: String(c.header.dflt.intervalNs) },
      'rate-limit policy loaded',
    );
  }

  /** Before the flip: puts in place what `want` needs. On the agent path a tc_syncookie that
   * cannot load or attach falls back to the kernel path when the setting is auto (said in the
   * log and status), and fails the change otherwise. Returns the path actually taken. */
  private async enterCookiePath(want: PathChoice, auto: boolean): Promise<PathChoice> {
    if (want.path === 'agent') {
      try {
        this.attachSyncookieTc();
        this.holdSyncookies('nonzero');
        return want;
      } catch (err) {
        const msg = (err as Error).message;
        if (!auto) throw new Error(`${RATELIMIT_PROGRAM}: agent SYN cookies need tc_syncookie at TC ingress: ${msg}`);
        this.ctx.log.warn({ program: RATELIMIT_PROGRAM, err: msg }, 'tc_syncookie cannot run: SYN cookies fall back to the kernel path');
        await this.detachSyncookieTc();
        want = { path: 'kernel', reason: `tc_syncookie could not run (${msg}): kernel cookies with net.ipv4.tcp_syncookies=2` };
      }
    }
    this.holdSyncookies('always');
    return want;
  }

  /** After the flip: lets go of what the path in force no longer needs. */
  private async leaveCookiePath(now: CookiePath | null): Promise<void> {
    if (now !== 'agent') {
      const problems = await this.detachSyncookieTc();
      if (problems.length) this.ctx.log.warn({ program: SYNCOOKIE_TC_PROGRAM, problems }, 'detached with problems');
    }
    if (now === null) this.restoreSyncookies();
    else if (now === 'agent') this.holdSyncookies('nonzero'); // back from 2 to the host's value
  }

  /** tc_syncookie, sharing xdp_ratelimit's rl_cookie_cfg (key and host options), at TC
   * ingress of every interface. */
  private attachSyncookieTc(): void {
    const k = this.rt.kernel;
    if (!k || this.tc.kernel) return;
    this.tc.load({ reuseMaps: { rl_cookie_cfg: k.cookieConfigFd } });
    this.tc.attachTc([{ entry: SYNCOOKIE_TC_ENTRY, direction: 'ingress' }]);
  }

  private detachSyncookieTc(): Promise<string[]> {
    return this.tc.stop();
  }

  private holdSyncookies(need: 'nonzero' | 'always'): void {
    let change;
    try {
      change = this.syncookies.hold(need);
    } catch (err) {
      throw new Error(`${RATELIMIT_PROGRAM}: SYN cookies need net.ipv4.tcp_syncookies ${need === 'always' ? '= 2' : '!= 0'} and it cannot be set: ${(err as Error).message}`);
    }
    if (change) {
      this.ctx.log.warn(
        { program: RATELIMIT_PROGRAM, ...change },
        `SYN protection: ${change.sysctl} set from ${change.from} to ${change.to} in this network namespace (restored when cookies go off or the agent stops)`,
      );
    }
  }

  private restoreSyncookies(): string | null {
    try {
      const prev = this.syncookies.restore();
      if (prev !== null) this.ctx.log.info({ program: RATELIMIT_PROGRAM, sysctl: 'net.ipv4.tcp_syncookies', to: prev }, 'SYN protection: tcp_syncookies restored');
      return null;
    } catch (err) {
      const msg = `restoring net.ipv4.tcp_syncookies: ${(err as Error).message}`;
      this.ctx.log.error({ program: RATELIMIT_PROGRAM }, msg);
      return msg;
    }
  }

  ringFds(): number[] {
    return this.rt.ringFds();
  }

  onRecord(buf: Buffer, offset: number, length: number): boolean {
    if (!decodeRatelimitEvent(buf, offset, length, this.record)) return false;
    this.ctx.emit(ratelimitAlert(this.record, this.alertCtx));
    return true;
  }

  /** Counters and map fill of both programs (the runtimes), and rl_stats. */
  refresh(): void {
    this.rt.refresh();
    this.tc.refresh();
    const k = this.rt.kernel;
    if (!k) return;
    const stats = k.readStats();
    this.rlMetrics.observe(stats);
    this.stats = Object.fromEntries(Object.entries(stats).map(([name, v]) => [name, Number(v)]));
  }

  private synCookieStatus(): SynCookieStatus {
    const p = this.cookiePath;
    let created = 0n;
    let refused = 0n;
    for (const c of this.tc.counters.values()) {
      created += c.reqsk_created;
      refused += c.reqsk_refused;
    }
    return {
      enabled: p !== null,
      path: p?.path ?? null,
      reason: p?.reason ?? 'SYN protection is off',
      sysctl_changes: this.syncookies.change ? [this.syncookies.change] : [],
      request_sockets_created: Number(created),
      request_sockets_refused: Number(refused),
    };
  }

  status(): ProgramStatus {
    const st = this.rt.status();
    return {
      ...st,
      attachments: [...st.attachments, ...this.tc.status().attachments],
      stats: this.stats,
      syn_cookies: this.synCookieStatus(),
    };
  }

  losses(): KernelLosses {
    return this.rt.losses();
  }

  /** Leaves the chain (slot 0 cleared: the firewall passes straight to the stack again, and
   * counts tailcall_miss) or detaches; restores the sysctl; closes. With 'keep' (the agent exits
   * leaving its programs enforcing) the slot, the links and the sysctl stay as they are. Never
   * throws. */
  async stop(how: StopMode = 'detach'): Promise<string[]> {
    const errors: string[] = [];
    const keep = how === 'keep';
    if (this.chain) {
      try {
        // with keep the slot stays: the firewall left running goes on calling this program
        if (!keep) this.chain.delete(fw_tail.FW_TAIL_RATELIMIT);
      } catch (err) {
        errors.push(`leaving fw_chain: ${(err as Error).message}`);
      }
      this.chain.close();
      this.chain = null;
    }
    errors.push(...(await this.rt.stop(how)));
    errors.push(...(await this.tc.stop(how)));
    this.cookiePath = null;
    if (keep) {
      // the programs left running need the sysctl as it is
      if (this.syncookies.change) this.ctx.log.info({ program: RATELIMIT_PROGRAM, ...this.syncookies.change }, 'SYN protection: left as set for the programs that keep running');
    } else {
      const e = this.restoreSyncookies();
      if (e) errors.push(e);
    }
    this.placement = { kind: 'none' };
    return errors;
  }
}
