// The composition root: the only file that knows every engine. It loads the config, brings up
// the kernel programs, wires their events into alerts and metrics, serves the API, and takes it
// all down again. Data flows one way: policy down into maps, events up into alerts.
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { EveFileWriter } from './alerts/eve-file.js';
import { startApiServer, type RunningApi } from './api/server.js';
import type { AgentStatus, AttachmentStatus, MapStatus, ProgramStatus } from './api/types.js';
import type { Config } from './config/index.js';
import { compileFirewall } from './engines/firewall/compile.js';
import {
  decodeFirewallEvent,
  emptyFirewallEvent,
  firewallAlert,
  SN_EV_FIREWALL,
  type AlertContext,
} from './engines/firewall/events.js';
import { FIREWALL_PROGRAM, FirewallKernel, type CounterSnapshot } from './engines/firewall/kernel.js';
import { ensureBpffs } from './kernel/bpffs.js';
import { loadNative, type NativeBridge, type XdpMode } from './kernel/native.js';
import { BootClock } from './kernel/boot-clock.js';
import { createLogger } from './log.js';
import { AgentMetrics } from './metrics/agent-metrics.js';
import { REPO_ROOT, VERSION } from './version.js';

export interface AgentOptions {
  config: Config;
  logger?: Logger;
  /** directory holding the built BPF objects; default <repo>/build/bpf */
  objectDir?: string;
}

interface Attachment {
  ifname: string;
  ifindex: number;
  link: number | null;
  mode: 'native' | 'generic' | 'none';
  pin: string | null;
  error?: string;
}

const EVENT_TYPE_OFFSET = 8; // sentinel_event_hdr.type

/** ifindex of a network interface in the agent's network namespace, or null when absent. */
export function ifindexOf(ifname: string): number | null {
  try {
    return Number.parseInt(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8').trim(), 10);
  } catch {
    return null;
  }
}

export class AgentStartError extends Error {}

/** bpffs refuses names with a dot (EPERM) and interface names may hold one (eth0.100); ':' is
 * never part of an interface name, so the mapping cannot collide. */
export function linkPinName(program: string, hook: string, ifname: string): string {
  return `${program}@${hook}@${ifname.replaceAll('.', ':')}`;
}

export class Agent {
  readonly metrics = new AgentMetrics({ version: VERSION });
  readonly log: Logger;
  private native!: NativeBridge;
  private firewall: FirewallKernel | null = null;
  private attachments: Attachment[] = [];
  private ring: number | null = null;
  private eve: EveFileWriter | null = null;
  private api: RunningApi | null = null;
  private poller: NodeJS.Timeout | null = null;
  private state: 'starting' | 'running' | 'stopping' = 'starting';
  private readonly clock = new BootClock();
  private readonly loadedAt = new Date();
  private received = 0;
  private decodeErrors = 0;
  private lastCounters = new Map<number, CounterSnapshot>();
  private pinDir: string;
  private stopped: Promise<void> | null = null;

  private constructor(
    readonly config: Config,
    private readonly opts: AgentOptions,
  ) {
    this.log = opts.logger ?? createLogger({ level: config.agent.log_level, format: config.agent.log_format });
    this.pinDir = config.agent.pin_root;
  }

  /** Starts everything or nothing: a failure half-way tears down what was started. */
  static async start(opts: AgentOptions): Promise<Agent> {
    const agent = new Agent(opts.config, opts);
    try {
      await agent.bringUp();
    } catch (err) {
      await agent.stop();
      throw err;
    }
    return agent;
  }

  get apiUrl(): string | null {
    return this.api?.url ?? null;
  }

  private async bringUp(): Promise<void> {
    const { agent, firewall, alerting } = this.config;
    this.native = loadNative();

    // Interfaces first: a policy that cannot attach where it was asked to is not enforced.
    const ifaces = agent.interfaces.map((ifname) => {
      const ifindex = ifindexOf(ifname);
      if (ifindex === null) throw new AgentStartError(`agent.interfaces: interface "${ifname}" does not exist in this network namespace`);
      return { ifname, ifindex };
    });

    await ensureBpffs(this.pinDir);
    await this.clearStalePins();
    await mkdir(path.join(this.pinDir, 'maps'), { recursive: true });
    await mkdir(path.join(this.pinDir, 'links'), { recursive: true });

    if (alerting.eve.enabled) {
      this.eve = await EveFileWriter.open({ path: alerting.eve.path, observer: this.metrics, logger: this.log });
    }

    if (firewall.enabled) {
      const objectDir = this.opts.objectDir ?? path.join(REPO_ROOT, 'build', 'bpf');
      this.firewall = FirewallKernel.load({
        native: this.native,
        objectPath: path.join(objectDir, 'xdp_firewall.bpf.o'),
        ringSize: agent.ring_buffer_size,
      });
      this.pinMaps(this.firewall);
      const compiled = compileFirewall(firewall, this.config.resolved.firewallAliases);
      const res = this.firewall.writer.apply(compiled);
      this.log.info(
        { program: FIREWALL_PROGRAM, rules: res.rules, set_entries: res.setEntries, generation: res.generation, default_policy: compiled.defaultAction },
        'firewall policy loaded',
      );
      this.openRing([this.firewall.eventsFd]);
      for (const { ifname, ifindex } of ifaces) this.attachments.push(this.attachXdp(this.firewall.progFd, ifname, ifindex, agent.xdp_mode));
      const failed = this.attachments.filter((a) => a.link === null);
      if (failed.length) {
        throw new AgentStartError(failed.map((a) => `xdp-firewall: cannot attach to ${a.ifname}: ${a.error}`).join('; '));
      }
    }

    this.refreshKernelMetrics();
    this.poller = setInterval(() => this.refreshKernelMetrics(), agent.metrics_interval_ms);
    this.poller.unref();

    this.api = await startApiServer(
      {
        status: () => this.status(),
        registry: this.metrics.registry,
        refreshMetrics: async () => this.refreshKernelMetrics(),
        logger: this.log,
        version: VERSION,
        startedAt: this.loadedAt,
      },
      { bindAddress: agent.bind_address, port: agent.http_port },
    );
    this.state = 'running';
    this.log.info({ api: this.api.url, pin_root: this.pinDir, interfaces: agent.interfaces }, 'ebpfsentinel running');
  }

  /** A previous instance that died without cleaning up leaves pins (its links keep enforcing,
   * fail-static). This version re-attaches from scratch, so it removes them first. */
  private async clearStalePins(): Promise<void> {
    const links = path.join(this.pinDir, 'links');
    const maps = path.join(this.pinDir, 'maps');
    let stale = false;
    for (const dir of [links, maps]) {
      try {
        if ((await readdir(dir)).length) stale = true;
      } catch {
        /* absent: nothing to clear */
      }
    }
    if (stale) {
      this.log.warn({ pin_root: this.pinDir }, 'removing pins left by a previous instance (its programs stay attached until now)');
      await rm(links, { recursive: true, force: true });
      await rm(maps, { recursive: true, force: true });
    }
  }

  private pinMaps(k: FirewallKernel): void {
    const dir = path.join(this.pinDir, 'maps');
    for (const m of Object.values(k.maps)) {
      if (m.name.includes('.')) continue; // .rodata/.bss are private to the object
      this.native.objPin(m.fd, path.join(dir, m.name));
    }
  }

  private attachXdp(progFd: number, ifname: string, ifindex: number, mode: XdpMode): Attachment {
    try {
      const { link, mode: used } = this.native.xdpAttach(progFd, ifindex, mode);
      const pin = path.join(this.pinDir, 'links', linkPinName(FIREWALL_PROGRAM, 'xdp', ifname));
      try {
        this.native.linkPin(link, pin);
      } catch (err) {
        this.native.linkDestroy(link); // never leave an attachment nobody owns
        throw err;
      }
      this.metrics.setAttached(FIREWALL_PROGRAM, ifname, 'xdp', true);
      this.log.info({ program: FIREWALL_PROGRAM, interface: ifname, ifindex, mode: used, requested: mode }, 'attached');
      if (mode === 'auto' && used === 'generic') {
        this.log.warn({ interface: ifname }, 'native XDP refused by the driver; running in generic (skb) mode, which is slower');
      }
      return { ifname, ifindex, link, mode: used, pin };
    } catch (err) {
      const e = err as Error & { errno?: number; libbpfMessage?: string };
      this.metrics.setAttached(FIREWALL_PROGRAM, ifname, 'xdp', false);
      this.log.error({ program: FIREWALL_PROGRAM, interface: ifname, errno: e.errno, libbpf: e.libbpfMessage }, `attach failed: ${e.message}`);
      return { ifname, ifindex, link: null, mode: 'none', pin: null, error: e.message };
    }
  }

  private openRing(fds: number[]): void {
    const rec = emptyFirewallEvent();
    const ctx: AlertContext = {
      rule: (num) => {
        const id = this.firewall?.writer.numbers.idOf(num);
        if (id === undefined) return undefined;
        const r = this.config.firewall.rules.find((x) => x.id === id);
        return { id, name: r?.description ?? id };
      },
      interfaceName: (ifindex) => this.attachments.find((a) => a.ifindex === ifindex)?.ifname,
      toWallNs: (boot) => this.clock.toWallNs(boot),
    };
    this.ring = this.native.ringOpen(fds, (batch, count) => {
      let off = 0;
      let fw = 0;
      for (let i = 0; i < count; i++) {
        const len = batch.readUInt32LE(off);
        const start = off + 4;
        off = start + len;
        if (len >= EVENT_TYPE_OFFSET + 2 && batch.readUInt16LE(start + EVENT_TYPE_OFFSET) === SN_EV_FIREWALL && decodeFirewallEvent(batch, start, len, rec)) {
          fw++;
          this.eve?.write(firewallAlert(rec, ctx));
        } else {
          this.decodeErrors++;
          this.metrics.userspaceLoss(FIREWALL_PROGRAM, 'decode_error', 1);
        }
      }
      this.received += count;
      if (fw) this.metrics.eventsReceived(FIREWALL_PROGRAM, fw);
    });
  }

  private refreshKernelMetrics(): void {
    const fw = this.firewall;
    if (!fw) return;
    try {
      const counters = fw.readCounters();
      this.lastCounters = counters;
      for (const a of this.attachments) {
        const c = counters.get(a.ifindex);
        if (!c) continue;
        this.metrics.setKernelSnapshot(FIREWALL_PROGRAM, a.ifname, {
          seen: c.seen,
          passed: c.passed,
          dropped: c.dropped,
          malformed: c.malformed,
          nonIp: c.non_ip,
          bytesSeen: c.bytes_seen,
          events: c.events,
          eventsLostFull: c.events_lost_ring_full,
          eventsLostBackpressure: c.events_lost_backpressure,
          extra: { rule_hit: c.rule_hit, default_policy: c.default_policy, tailcall_miss: c.tailcall_miss, fragment: c.fragment },
        });
      }
      const compiled = fw.writer.compiled;
      if (compiled) {
        const ids = [...new Set(compiled.rules.map((r) => r.ruleId))];
        const nums = new Map<number, string>();
        for (const id of ids) {
          const n = fw.writer.numbers.numOf(id);
          if (n !== undefined) nums.set(n, id);
        }
        const hits = fw.readRuleHits(nums.keys());
        this.metrics.setFirewallRuleHits(hits.map((h) => ({ ruleId: nums.get(h.ruleNum)!, packets: h.packets, bytes: h.bytes })));
      }
      for (const m of this.mapStatus(fw)) this.metrics.setMapUsage(FIREWALL_PROGRAM, m.name, m.entries, m.max_entries);
    } catch (err) {
      this.log.error({ err }, 'reading kernel counters failed');
    }
  }

  private mapStatus(fw: FirewallKernel): MapStatus[] {
    const out: MapStatus[] = [];
    const compiled = fw.writer.compiled;
    for (const info of this.native.objMaps(fw.obj)) {
      // Internal maps (.rodata/.bss) are private; a ring's fill shows as events lost instead.
      if (info.name.includes('.') || info.name === 'fw_events') continue;
      let entries: number;
      switch (info.name) {
        case 'fw_rule_hits':
          entries = fw.writer.numbers.inUse;
          break;
        case 'fw_chain':
          entries = fw.countEntries(info.name);
          break;
        case 'fw_rules':
          entries = (compiled?.rules.length ?? 0);
          break;
        case 'fw_lpm_v4':
        case 'fw_lpm_v6':
          entries = fw.writer.setEntries(info.name === 'fw_lpm_v4' ? 4 : 6);
          break;
        case 'fw_counters':
          entries = this.lastCounters.size;
          break;
        default:
          entries = info.maxEntries;
      }
      out.push({ name: info.name, type: MAP_TYPE_NAMES[info.type] ?? `type_${info.type}`, max_entries: info.maxEntries, entries });
    }
    return out;
  }

  status(): AgentStatus {
    const programs: ProgramStatus[] = [];
    if (this.firewall) {
      const fw = this.firewall;
      let seen = 0n, passed = 0n, dropped = 0n, malformed = 0n, events = 0n, lost = 0n;
      for (const c of this.lastCounters.values()) {
        seen += c.seen; passed += c.passed; dropped += c.dropped; malformed += c.malformed; events += c.events;
        lost += c.events_lost_ring_full + c.events_lost_backpressure;
      }
      const attachments: AttachmentStatus[] = this.attachments.map((a) => ({
        interface: a.ifname,
        ifindex: a.ifindex,
        hook: 'xdp',
        mode: a.mode,
        attached: a.link !== null,
        ...(a.error ? { error: a.error } : {}),
      }));
      programs.push({
        name: FIREWALL_PROGRAM,
        loaded: true,
        attachments,
        maps: this.mapStatus(fw),
        counters: { seen: Number(seen), passed: Number(passed), dropped: Number(dropped), malformed: Number(malformed), events: Number(events), events_lost: Number(lost) },
      });
    }
    const lost: Record<string, number> = {};
    let ringFull = 0, backpressure = 0;
    for (const c of this.lastCounters.values()) {
      ringFull += Number(c.events_lost_ring_full);
      backpressure += Number(c.events_lost_backpressure);
    }
    lost.ring_full = ringFull;
    lost.backpressure = backpressure;
    lost.decode_error = this.decodeErrors;
    if (this.eve) {
      const s = this.eve.stats();
      lost.queue_full = s.lost.queue_full;
      lost.sink_error = s.lost.sink_error;
    }
    return {
      state: this.state,
      programs,
      events: { received: this.received, lost },
      config: { path: path.resolve(this.config.source.file), loaded_at: this.loadedAt },
    };
  }

  /** Detaches every link, removes the pins, flushes alerts. Safe to call more than once. */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    this.state = 'stopping';
    if (this.poller) clearInterval(this.poller);
    const errors: string[] = [];
    const attempt = async (what: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        errors.push(`${what}: ${(err as Error).message}`);
      }
    };
    if (this.api) await attempt('api', () => this.api!.close());
    for (const a of this.attachments) {
      if (a.link !== null) {
        const link = a.link;
        await attempt(`detach ${a.ifname}`, () => this.native.linkDestroy(link));
        this.metrics.setAttached(FIREWALL_PROGRAM, a.ifname, 'xdp', false);
      }
      if (a.pin) await attempt(`unpin ${a.pin}`, () => rm(a.pin!, { force: true }));
    }
    this.attachments = [];
    if (this.ring !== null) {
      const ring = this.ring;
      // Last records still in the ring become alerts before the writer closes.
      await attempt('ring drain', () => this.native.ringConsume(ring));
      await attempt('ring close', () => this.native.ringClose(ring));
      this.ring = null;
    }
    if (this.firewall) await attempt('firewall close', () => this.firewall!.close());
    this.firewall = null;
    if (this.eve) await attempt('eve close', () => this.eve!.close());
    // Only what this agent created: pin_root may be shared with other tools.
    await attempt('pins', async () => {
      await rm(path.join(this.pinDir, 'links'), { recursive: true, force: true });
      await rm(path.join(this.pinDir, 'maps'), { recursive: true, force: true });
      await rmdir(this.pinDir).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT' && e.code !== 'ENOTEMPTY') throw e;
      });
    });
    if (errors.length) this.log.warn({ errors }, 'stopped with errors');
    else this.log.info('stopped: programs detached, pins removed');
  }
}

/** bpf_map_type names as the status API reports them. */
const MAP_TYPE_NAMES: Record<number, string> = {
  1: 'hash', 2: 'array', 3: 'prog_array', 5: 'percpu_hash', 6: 'percpu_array', 9: 'lru_hash',
  10: 'lru_percpu_hash', 11: 'lpm_trie', 12: 'array_of_maps', 13: 'hash_of_maps', 27: 'ringbuf', 30: 'bloom_filter',
};
