// Network-namespace labs: hosts are namespaces, links are veth pairs created directly inside
// them (never in the root namespace, so the host's own interfaces are never touched), addresses
// v4/v6 (v6 without DAD so tests need not wait), routes, bridges and VLAN sub-interfaces.
// A lab is torn down by destroy(), and also on process exit, SIGINT, SIGTERM and SIGHUP; a lab
// whose owner died without either is removed by the next lab created (sweepStaleLabs).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { canonicalIp, familyOf, parseCidr } from './inet.js';
import { checkHostName, checkIfName, ifName, isRunPrefix, newRunPrefix, nsName, vlanIfName } from './names.js';
import { LabProcess } from './process.js';
import { run, runSync, type RunOptions, type RunResult } from './run.js';
import * as traffic from './traffic.js';

export interface HostSpec {
  name: string;
  /** IPv4 and IPv6 forwarding on (a router) */
  forwarding?: boolean;
  /** further sysctls set when the namespace is made, e.g. {"net.ipv4.conf.all.send_redirects": "0"} */
  sysctls?: Record<string, string>;
}

export interface BridgeSpec {
  host: string;
  /** role; the device is named <run prefix><role> */
  name: string;
}

export interface LinkEnd {
  host: string;
  /** role; the device is named <run prefix><role> (at most 8 chars) */
  ifname: string;
  /** CIDRs to assign, e.g. "198.18.0.10/24", "2001:db8::10/64" */
  addrs?: string[];
  mac?: string;
  /** enslave this end to the bridge with this role in the same host instead of addressing it */
  bridge?: string;
}

export interface LinkSpec {
  a: LinkEnd;
  b: LinkEnd;
  mtu?: number;
}

export interface RouteSpec {
  host: string;
  /** "default" or a CIDR */
  to: string;
  via: string;
}

export interface OffloadSettings {
  /** false: ethtool tx off rx off (checksums computed in software, visible in captures and XDP) */
  checksum?: boolean;
  /** false: rxvlan/txvlan (and 802.1ad) off, so tags stay in-band where XDP can see them */
  vlan?: boolean;
}

export interface LabSpec {
  name: string;
  hosts: HostSpec[];
  bridges?: BridgeSpec[];
  links: LinkSpec[];
  routes?: RouteSpec[];
  /** applied to every veth end when given */
  offloads?: OffloadSettings;
  /** default true: install exit/signal handlers that tear the lab down */
  cleanupOnExit?: boolean;
}

export interface DestroyReport {
  namespacesDeleted: string[];
  processesStopped: number;
  errors: string[];
}

export interface LabResources {
  namespaces: string[];
  links: string[];
}

const NETNS_DIR = '/run/netns';
const REGISTRY_DIR = '/run/ebpfsentinel-lab';

function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

/** Namespaces and root-namespace links carrying a run prefix (all runs' when prefix is "esn"). */
export async function listLabResources(prefix: string): Promise<LabResources> {
  const namespaces = listNetns().filter((n) => n.startsWith(prefix));
  const r = await run(['ip', '-o', 'link', 'show'], { timeoutMs: 5000 }, 'listLabResources');
  const links = r.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n.startsWith(prefix));
  return { namespaces, links };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes labs whose owning process is gone (killed with SIGKILL, crashed in native code): their
 * registry entry names the owner pid. Labs of live processes, parallel runs included, are left alone.
 */
export function sweepStaleLabs(): string[] {
  let entries: string[];
  try {
    entries = readdirSync(REGISTRY_DIR);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const file of entries) {
    const prefix = file.replace(/\.json$/, '');
    if (!isRunPrefix(prefix)) continue;
    let owner = 0;
    try {
      owner = (JSON.parse(readFileSync(path.join(REGISTRY_DIR, file), 'utf8')) as { pid: number }).pid;
    } catch {
      continue;
    }
    if (pidAlive(owner)) continue;
    for (const ns of listNetns().filter((n) => n.startsWith(`${prefix}-`))) {
      // Whatever still runs inside a dead run's namespace was started there by that run.
      for (const pid of pidsIn(ns)) killPid(pid);
      runSync(['ip', 'netns', 'del', ns], 5000);
      removed.push(ns);
    }
    rmSync(path.join(REGISTRY_DIR, file), { force: true });
  }
  return removed;
}

function pidsIn(ns: string): number[] {
  const r = runSync(['ip', 'netns', 'pids', ns], 5000);
  return r.stdout.split('\n').filter((l) => /^\d+$/.test(l.trim())).map(Number);
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

// ---- process-exit cleanup ----

const liveLabs = new Set<Lab>();
let hooksInstalled = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function onSignal(sig: NodeJS.Signals): void {
  for (const lab of [...liveLabs]) lab.destroySync();
  // Keep the signal's meaning: if nobody else handles it, die of it as we would have.
  process.removeListener(sig, onSignal);
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const lab of [...liveLabs]) lab.destroySync();
  });
  for (const s of SIGNALS) process.on(s, onSignal);
}

export class Lab {
  readonly prefix: string;
  readonly name: string;
  readonly tmpDir: string;
  private readonly hostNs = new Map<string, string>();
  private readonly procs = new Set<LabProcess>();
  private destroying: Promise<DestroyReport> | null = null;
  private destroyed = false;

  private constructor(name: string, prefix: string, hosts: readonly string[]) {
    this.name = name;
    this.prefix = prefix;
    for (const h of hosts) this.hostNs.set(h, nsName(prefix, h));
    this.tmpDir = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
  }

  static async create(spec: LabSpec): Promise<Lab> {
    validateSpec(spec);
    sweepStaleLabs();
    let prefix = newRunPrefix();
    for (let i = 0; listNetns().some((n) => n.startsWith(`${prefix}-`)); i++) {
      if (i > 20) throw new Error('could not find an unused lab prefix');
      prefix = newRunPrefix();
    }
    const lab = new Lab(spec.name, prefix, spec.hosts.map((h) => h.name));
    // Registered before anything exists, so a failure half-way is still cleaned up.
    liveLabs.add(lab);
    if (spec.cleanupOnExit !== false) installHooks();
    mkdirSync(REGISTRY_DIR, { recursive: true });
    writeFileSync(path.join(REGISTRY_DIR, `${prefix}.json`), JSON.stringify({ pid: process.pid, name: spec.name, namespaces: [...lab.hostNs.values()] }));
    try {
      await lab.build(spec);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  private async build(spec: LabSpec): Promise<void> {
    for (const h of spec.hosts) {
      const ns = this.ns(h.name);
      await this.cmd(['ip', 'netns', 'add', ns]);
      await this.ip(h.name, 'link', 'set', 'lo', 'up');
      // Before any interface exists, so link-local addresses skip DAD too.
      await this.sysctl(h.name, 'net.ipv6.conf.all.accept_dad', '0');
      await this.sysctl(h.name, 'net.ipv6.conf.default.accept_dad', '0');
      if (h.forwarding) {
        await this.sysctl(h.name, 'net.ipv4.ip_forward', '1');
        await this.sysctl(h.name, 'net.ipv6.conf.all.forwarding', '1');
      }
      for (const [key, value] of Object.entries(h.sysctls ?? {})) await this.sysctl(h.name, key, value);
    }
    for (const b of spec.bridges ?? []) {
      const br = this.ifname(b.name);
      await this.ip(b.host, 'link', 'add', br, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0');
      await this.ip(b.host, 'link', 'set', br, 'up');
    }
    for (const l of spec.links) {
      const a = this.ifname(l.a.ifname);
      const b = this.ifname(l.b.ifname);
      const argv = ['ip', 'link', 'add', a, 'netns', this.ns(l.a.host)];
      if (l.a.mac) argv.push('address', l.a.mac);
      if (l.mtu) argv.push('mtu', String(l.mtu));
      argv.push('type', 'veth', 'peer', 'name', b, 'netns', this.ns(l.b.host));
      if (l.b.mac) argv.push('address', l.b.mac);
      if (l.mtu) argv.push('mtu', String(l.mtu));
      await this.cmd(argv);
      for (const end of [l.a, l.b]) {
        const dev = this.ifname(end.ifname);
        if (spec.offloads) await this.setOffloads(end.host, dev, spec.offloads);
        if (end.bridge) await this.ip(end.host, 'link', 'set', dev, 'master', this.ifname(end.bridge));
        for (const cidr of end.addrs ?? []) await this.addAddress(end.host, dev, cidr);
        await this.ip(end.host, 'link', 'set', dev, 'up');
      }
    }
    for (const r of spec.routes ?? []) await this.addRoute(r.host, r.to, r.via);
  }

  /** The namespace of a host role. */
  ns(host: string): string {
    const ns = this.hostNs.get(host);
    if (!ns) throw new Error(`lab ${this.prefix} has no host "${host}" (hosts: ${[...this.hostNs.keys()].join(', ')})`);
    return ns;
  }

  get hosts(): string[] {
    return [...this.hostNs.keys()];
  }

  get namespaces(): string[] {
    return [...this.hostNs.values()];
  }

  /** Real device name for an interface role of this run. */
  ifname(role: string): string {
    return ifName(this.prefix, role);
  }

  private where(host?: string): string {
    return host ? `lab ${this.prefix} (${this.name}) host ${host}` : `lab ${this.prefix} (${this.name})`;
  }

  private cmd(argv: string[], opts?: RunOptions): Promise<RunResult> {
    return run(argv, opts, this.where());
  }

  /** `ip -n <ns> ...` */
  ip(host: string, ...args: string[]): Promise<RunResult> {
    return run(['ip', '-n', this.ns(host), ...args], {}, this.where(host));
  }

  /** Runs a command inside the host's namespace and waits for it (10 s timeout unless given). */
  exec(host: string, cmd: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<RunResult> {
    this.assertAlive();
    return run(['ip', 'netns', 'exec', this.ns(host), cmd, ...args], opts, this.where(host));
  }

  /**
   * Starts a long-running command inside the host's namespace. The lab tracks its pid and stops
   * it (and whatever it forked) on destroy. `env` adds to the inherited environment; `stdin`
   * keeps a pipe to the process open for LabProcess.write().
   */
  spawn(host: string, cmd: string, args: readonly string[] = [], opts: { env?: Record<string, string>; cwd?: string; stdin?: boolean } = {}): LabProcess {
    this.assertAlive();
    const child = spawn('ip', ['netns', 'exec', this.ns(host), cmd, ...args], {
      detached: true,
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(opts.env ?? {}) },
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    const p = new LabProcess(child, `${this.where(host)}: ${cmd}`, (done) => this.procs.delete(done));
    this.procs.add(p);
    return p;
  }

  /** Processes started by spawn() that are still running. */
  get processes(): LabProcess[] {
    return [...this.procs];
  }

  sysctl(host: string, key: string, value: string): Promise<RunResult> {
    return this.exec(host, 'sysctl', ['-qw', `${key}=${value}`]);
  }

  async addAddress(host: string, dev: string, cidr: string): Promise<void> {
    const c = parseCidr(cidr);
    const argv = ['addr', 'add', `${c.addr}/${c.prefix}`, 'dev', dev];
    if (c.family === 6) argv.push('nodad');
    await this.ip(host, ...argv);
  }

  async addRoute(host: string, to: string, via: string): Promise<void> {
    const fam = familyOf(via);
    if (to !== 'default' && parseCidr(to).family !== fam) throw new Error(`route ${to} via ${via} on ${host} mixes address families`);
    await this.ip(host, `-${fam}`, 'route', 'add', to, 'via', canonicalIp(via));
  }

  /** Turns checksum and/or VLAN offloads off (false) or on (true) on one device. */
  async setOffloads(host: string, dev: string, s: OffloadSettings): Promise<void> {
    const args = ['-K', dev];
    if (s.checksum !== undefined) {
      const v = s.checksum ? 'on' : 'off';
      args.push('tx', v, 'rx', v);
    }
    if (s.vlan !== undefined) {
      const v = s.vlan ? 'on' : 'off';
      args.push('rxvlan', v, 'txvlan', v, 'tx-vlan-stag-hw-insert', v, 'rx-vlan-stag-hw-parse', v);
    }
    if (args.length > 2) await this.exec(host, 'ethtool', args);
  }

  /** Creates <parent>.<vid> (802.1Q, or 802.1ad for an outer S-tag), addresses it and brings it up. */
  async addVlan(host: string, parent: string, vid: number, opts: { addrs?: string[]; protocol?: '802.1Q' | '802.1ad'; name?: string } = {}): Promise<string> {
    const name = opts.name ?? vlanIfName(parent, vid);
    checkIfName(name);
    const r = await run(['ip', '-n', this.ns(host), 'link', 'add', 'link', parent, 'name', name, 'type', 'vlan', 'protocol', opts.protocol ?? '802.1Q', 'id', String(vid)], { allowFail: true }, this.where(host));
    if (r.code !== 0) {
      const why = /Unknown device type/.test(r.stderr) ? 'this kernel has no 802.1Q support (CONFIG_VLAN_8021Q); inject tagged frames with inject() instead' : r.stderr.trim();
      throw new Error(`${this.where(host)}: cannot create VLAN ${vid} on ${parent}: ${why}`);
    }
    for (const cidr of opts.addrs ?? []) await this.addAddress(host, name, cidr);
    await this.ip(host, 'link', 'set', name, 'up');
    return name;
  }

  // ---- traffic (see traffic.ts) ----

  ping(host: string, addr: string, opts?: traffic.PingOptions): Promise<traffic.PingResult> {
    return traffic.ping(this, host, addr, opts);
  }

  tcpConnect(host: string, addr: string, port: number, opts?: traffic.TcpConnectOptions): Promise<traffic.TcpConnectResult> {
    return traffic.tcpConnect(this, host, addr, port, opts);
  }

  udpSend(host: string, addr: string, port: number, payload: string, opts?: traffic.UdpSendOptions): Promise<traffic.UdpSendResult> {
    return traffic.udpSend(this, host, addr, port, payload, opts);
  }

  startTcpServer(host: string, port: number, family: 4 | 6): Promise<traffic.EchoServer> {
    return traffic.startServer(this, host, 'tcp', port, family);
  }

  startUdpServer(host: string, port: number, family: 4 | 6): Promise<traffic.EchoServer> {
    return traffic.startServer(this, host, 'udp', port, family);
  }

  /** Sends raw Ethernet frames out of a device (AF_PACKET), byte for byte. */
  inject(host: string, iface: string, frames: readonly Buffer[]): Promise<number> {
    return traffic.inject(this, host, iface, frames);
  }

  capture(host: string, iface: string, filter = ''): Promise<traffic.Capture> {
    return traffic.capture(this, host, iface, filter);
  }

  private assertAlive(): void {
    if (this.destroyed || this.destroying) throw new Error(`${this.where()} is destroyed`);
  }

  /** Stops every spawned process, deletes every namespace (with its links). Idempotent. */
  destroy(): Promise<DestroyReport> {
    if (!this.destroying) this.destroying = this.doDestroy();
    return this.destroying;
  }

  private async doDestroy(): Promise<DestroyReport> {
    const report: DestroyReport = { namespacesDeleted: [], processesStopped: 0, errors: [] };
    const procs = [...this.procs];
    await Promise.all(procs.map((p) => p.stop('SIGTERM', 2000)));
    report.processesStopped = procs.length;
    const existing = new Set(listNetns());
    for (const ns of this.hostNs.values()) {
      if (!existing.has(ns)) continue;
      // Not ours to kill (started outside spawn()), but they keep the namespace's devices
      // alive after deletion, so the caller must hear about them.
      const strays = pidsIn(ns);
      if (strays.length > 0) report.errors.push(`processes not started by this lab still run in ${ns}: ${strays.join(', ')}`);
      const r = await run(['ip', 'netns', 'del', ns], { allowFail: true, timeoutMs: 10_000 }, this.where());
      if (r.code === 0) report.namespacesDeleted.push(ns);
      else report.errors.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
    }
    this.finish();
    return report;
  }

  /** Exit-handler variant: no awaiting, SIGKILL instead of a grace period. */
  destroySync(): void {
    if (this.destroyed) return;
    for (const p of this.procs) p.killNow();
    const existing = new Set(listNetns());
    for (const ns of this.hostNs.values()) if (existing.has(ns)) runSync(['ip', 'netns', 'del', ns], 5000);
    this.finish();
  }

  private finish(): void {
    this.destroyed = true;
    rmSync(this.tmpDir, { recursive: true, force: true });
    rmSync(path.join(REGISTRY_DIR, `${this.prefix}.json`), { force: true });
    liveLabs.delete(this);
  }

  /** What of this run still exists (after destroy: should be nothing). */
  leftovers(): Promise<LabResources> {
    return listLabResources(this.prefix);
  }
}

/** Catches spec mistakes before anything is created, naming the offending entry. */
export function validateSpec(spec: LabSpec): void {
  const hosts = new Set<string>();
  for (const h of spec.hosts) {
    checkHostName(h.name);
    if (hosts.has(h.name)) throw new Error(`lab "${spec.name}": host "${h.name}" is declared twice`);
    hosts.add(h.name);
  }
  const needHost = (h: string, what: string): void => {
    if (!hosts.has(h)) throw new Error(`lab "${spec.name}": ${what} names unknown host "${h}"`);
  };
  const probe = 'esn0000';
  const devs = new Set<string>();
  const bridges = new Set<string>();
  for (const b of spec.bridges ?? []) {
    needHost(b.host, `bridge ${b.name}`);
    ifName(probe, b.name);
    if (devs.has(`${b.host}/${b.name}`)) throw new Error(`lab "${spec.name}": device "${b.name}" declared twice on ${b.host}`);
    devs.add(`${b.host}/${b.name}`);
    bridges.add(`${b.host}/${b.name}`);
  }
  spec.links.forEach((l, i) => {
    for (const end of [l.a, l.b]) {
      needHost(end.host, `link ${i} (${end.ifname})`);
      ifName(probe, end.ifname);
      // Each device name is unique per lab, not just per namespace: leak checks match by name.
      if ([...devs].some((d) => d.endsWith(`/${end.ifname}`))) throw new Error(`lab "${spec.name}": interface "${end.ifname}" declared twice`);
      devs.add(`${end.host}/${end.ifname}`);
      if (end.bridge && !bridges.has(`${end.host}/${end.bridge}`)) throw new Error(`lab "${spec.name}": link ${i} end ${end.ifname} joins unknown bridge "${end.bridge}" on ${end.host}`);
      for (const cidr of end.addrs ?? []) parseCidr(cidr);
    }
  });
  for (const r of spec.routes ?? []) {
    needHost(r.host, `route to ${r.to}`);
    familyOf(r.via);
    if (r.to !== 'default') parseCidr(r.to);
  }
}
