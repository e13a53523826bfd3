// What `ebpfsentinel doctor` checks. Each check reads the system (procfs, sysfs) or asks the
// kernel through libbpf's probes, and says plainly what it found. Every path and the kernel
// release are parameters, so a test can point a check at a missing file and see it fail.
import { execFile } from 'node:child_process';
import { constants as fsc, existsSync } from 'node:fs';
import { access, readFile, readlink, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { NativeBridge } from '../kernel/native.js';
import { bpfMountFor, parseMountinfo } from '../kernel/bpffs.js';

export { bpfMountFor, parseMountinfo, type Mount } from '../kernel/bpffs.js';
import { BpfHelper, BpfMapType, BpfProgType, type BpfHelperName, type BpfMapTypeName, type BpfProgTypeName } from '../kernel/bpf-enums.js';
import { chooseCookiePath, REQSK_KFUNC } from '../engines/ratelimit/syncookie-path.js';
import { describePinRoot } from '../engines/runtime/adoption.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** what was found, and when not ok, what to do */
  detail: string;
  /** a failed required check means the agent cannot run (non-zero exit) */
  required: boolean;
}

/** The slice of the native bridge doctor uses. */
export type DoctorNative = Pick<NativeBridge, 'libbpfVersion' | 'probeProgType' | 'probeMapType' | 'probeHelper' | 'btfHasFunc'>;

export interface DoctorOptions {
  /** default os.release() */
  kernelRelease?: string;
  btfPath?: string;
  mountinfoPath?: string;
  filesystemsPath?: string;
  statusPath?: string;
  /** where bpffs is (or would be) mounted; default /sys/fs/bpf */
  bpffsPath?: string;
  /** the configured pin root; must lie on a bpffs mount (or under bpffsPath when it will be mounted) */
  pinRoot?: string;
  /** interfaces the config attaches to; each is checked */
  interfaces?: string[];
  sysClassNet?: string;
  /** why the native addon could not be loaded, when native is null */
  nativeError?: string;
  /** default /proc/sys/net/ipv4/tcp_syncookies */
  syncookiesPath?: string;
}

/** Oldest kernel the agent supports, and why. */
const MIN_KERNEL: readonly [number, number] = [5, 17];
const MIN_KERNEL_WHY = 'bpf_loop, BPF ring buffers, bpf_ktime_get_boot_ns';
/** TCX links (BPF_TCX_INGRESS/EGRESS) arrived in 6.6. */
const TCX_KERNEL: readonly [number, number] = [6, 6];

const REQUIRED_PROG_TYPES: readonly BpfProgTypeName[] = ['XDP', 'SCHED_CLS'];
const REQUIRED_MAP_TYPES: readonly BpfMapTypeName[] = [
  'HASH', 'ARRAY', 'PERCPU_HASH', 'PERCPU_ARRAY', 'LPM_TRIE', 'RINGBUF', 'PROG_ARRAY', 'LRU_HASH',
];
/** Helpers the programs call, probed in the program type that calls them. */
const REQUIRED_HELPERS: readonly [BpfHelperName, BpfProgTypeName][] = [
  ['ringbuf_reserve', 'XDP'],
  ['ringbuf_query', 'XDP'],
  ['loop', 'XDP'],
  ['ktime_get_boot_ns', 'XDP'],
  ['tail_call', 'XDP'],
  ['xdp_adjust_tail', 'XDP'],
  ['check_mtu', 'XDP'],
  ['redirect', 'XDP'],
  ['redirect', 'SCHED_CLS'],
];

// Drivers with native (driver-mode) XDP in mainline kernels. Anything else runs XDP in generic
// mode, which works everywhere but after the skb is built.
const NATIVE_XDP_DRIVERS = new Set([
  'veth', 'virtio_net', 'tun', 'netdevsim', 'bonding', 'ixgbe', 'ixgbevf', 'i40e', 'ice', 'igb', 'igc',
  'mlx4_en', 'mlx4_core', 'mlx5_core', 'bnxt_en', 'nfp', 'qede', 'ena', 'sfc', 'thunder-nicvf',
  'hv_netvsc', 'xen-netfront', 'dpaa2-eth', 'mvneta', 'mvpp2', 'stmmac', 'fec', 'enetc', 'atlantic',
  'ionic', 'gve', 'tsnep', 'lan966x-switch', 'cpsw', 'octeontx2-nicpf', 'octeontx2-nicvf',
]);

const execFileP = promisify(execFile);

const CAP_NET_ADMIN = 12n;
const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

function parseKernelRelease(release: string): [number, number, number] | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  if (!m) return null;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

function atLeast(v: readonly number[], min: readonly [number, number]): boolean {
  const [a = 0, b = 0] = v;
  return a > min[0] || (a === min[0] && b >= min[1]);
}

export interface ProcStatus {
  euid: number;
  capEff: bigint;
}

export function parseProcStatus(text: string): ProcStatus {
  const uid = /^Uid:\s+(\d+)\s+(\d+)/m.exec(text);
  const cap = /^CapEff:\s+([0-9a-fA-F]+)/m.exec(text);
  if (!uid || !cap) throw new Error('no Uid/CapEff lines');
  return { euid: Number(uid[2]), capEff: BigInt(`0x${cap[1]}`) };
}

function hasCap(caps: bigint, bit: bigint): boolean {
  return ((caps >> bit) & 1n) === 1n;
}

function probeText(r: number): string {
  if (r === 1) return 'supported';
  if (r === 0) return 'not supported by this kernel';
  const errno = -r;
  const name = Object.entries(os.constants.errno).find(([, v]) => v === errno)?.[0] ?? `errno ${errno}`;
  return `probe failed: ${name}${name === 'EPERM' ? ' (run as root or with CAP_BPF)' : ''}`;
}

async function readText(p: string): Promise<string> {
  return readFile(p, 'utf8');
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code === 'ENOENT' ? 'not found' : e.code ?? e.message;
}


export async function runChecks(native: DoctorNative | null, opts: DoctorOptions = {}): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const add = (name: string, ok: boolean, detail: string, required: boolean): void => {
    checks.push({ name, ok, detail, required });
  };

  // --- kernel ---------------------------------------------------------------------------
  const release = opts.kernelRelease ?? os.release();
  const version = parseKernelRelease(release);
  if (!version) {
    add('kernel version', false, `cannot parse kernel release "${release}"`, true);
  } else {
    const ok = atLeast(version, MIN_KERNEL);
    add('kernel version', ok, `${release} (needs >= ${MIN_KERNEL.join('.')} for ${MIN_KERNEL_WHY})`, true);
  }

  const btfPath = opts.btfPath ?? '/sys/kernel/btf/vmlinux';
  try {
    const st = await stat(btfPath);
    add('kernel BTF', st.isFile() && st.size > 0, `${btfPath} (${st.size} bytes)`, true);
  } catch (err) {
    add('kernel BTF', false, `${btfPath}: ${errText(err)} (kernel built without CONFIG_DEBUG_INFO_BTF)`, true);
  }

  // --- privileges -----------------------------------------------------------------------
  const statusPath = opts.statusPath ?? '/proc/self/status';
  let caps = 0n;
  try {
    const st = parseProcStatus(await readText(statusPath));
    caps = st.capEff;
    const bpf = hasCap(caps, CAP_BPF) || hasCap(caps, CAP_SYS_ADMIN);
    const net = hasCap(caps, CAP_NET_ADMIN);
    const have = [
      [CAP_BPF, 'CAP_BPF'],
      [CAP_NET_ADMIN, 'CAP_NET_ADMIN'],
      [CAP_PERFMON, 'CAP_PERFMON'],
      [CAP_SYS_ADMIN, 'CAP_SYS_ADMIN'],
    ]
      .filter(([bit]) => hasCap(caps, bit as bigint))
      .map(([, n]) => n);
    const who = st.euid === 0 ? 'root (euid 0)' : `euid ${st.euid}`;
    const ok = bpf && net;
    add(
      'privileges',
      ok,
      `${who}; effective capabilities: ${have.length ? have.join(', ') : 'none of CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON, CAP_SYS_ADMIN'}` +
        (ok ? '' : ' — needs CAP_BPF (or CAP_SYS_ADMIN) and CAP_NET_ADMIN: run as root'),
      true,
    );
  } catch (err) {
    add('privileges', false, `${statusPath}: ${errText(err)}`, true);
  }

  // --- bpffs ----------------------------------------------------------------------------
  const bpffsPath = opts.bpffsPath ?? '/sys/fs/bpf';
  const target = opts.pinRoot ?? bpffsPath;
  const mountinfoPath = opts.mountinfoPath ?? '/proc/self/mountinfo';
  try {
    const mounts = parseMountinfo(await readText(mountinfoPath));
    const mp = bpfMountFor(mounts, target);
    if (mp) {
      add('bpffs', true, `${target} is on the bpf filesystem mounted at ${mp}`, true);
    } else {
      // not mounted (e.g. inside `ip netns exec`): fine if the kernel has bpffs and we may mount it
      const fsPath = opts.filesystemsPath ?? '/proc/filesystems';
      let known = false;
      try {
        known = /\tbpf$/m.test(await readText(fsPath));
      } catch {
        known = false;
      }
      let dirOk = true;
      try {
        await access(bpffsPath, fsc.F_OK);
      } catch {
        dirOk = false;
      }
      const canMount = known && dirOk && hasCap(caps, CAP_SYS_ADMIN);
      add(
        'bpffs',
        canMount,
        canMount
          ? `not mounted at ${bpffsPath}; mountable (the agent mounts it at start)`
          : `not mounted at ${bpffsPath} and cannot be mounted: ${!known ? `kernel has no bpf filesystem (${fsPath})` : !dirOk ? `${bpffsPath} does not exist` : 'needs CAP_SYS_ADMIN'}`,
        true,
      );
    }
  } catch (err) {
    add('bpffs', false, `${mountinfoPath}: ${errText(err)}`, true);
  }

  // --- native bridge and kernel probes --------------------------------------------------
  if (!native) {
    add('native bridge', false, `native addon not loaded: ${opts.nativeError ?? 'unknown error'} (run make build)`, true);
    return checks;
  }
  add('native bridge', true, `libbpf ${native.libbpfVersion()}`, true);

  const progResult = new Map<BpfProgTypeName, number>();
  for (const t of ['XDP', 'SCHED_CLS', 'KPROBE'] as const) {
    const r = native.probeProgType(BpfProgType[t]);
    progResult.set(t, r);
    const required = REQUIRED_PROG_TYPES.includes(t);
    const why = t === 'KPROBE' ? ' (uprobe-dlp)' : t === 'XDP' ? ' (xdp-firewall, xdp-ratelimit)' : ' (tc-* programs)';
    add(`program type ${t.toLowerCase()}`, r === 1, probeText(r) + why, required);
  }

  // XDP: generic mode works wherever the program type loads; native depends on the driver
  const xdpOk = progResult.get('XDP') === 1;
  add(
    'XDP modes',
    xdpOk,
    xdpOk ? 'generic: available; native: depends on the driver (see each interface)' : 'XDP programs cannot load',
    true,
  );

  // TCX: links of attach type BPF_TCX_INGRESS/EGRESS exist from 6.6. The bridge falls back to
  // a clsact qdisc before that, so this is information, not a requirement. Judged from the
  // kernel version and a SCHED_CLS load probe; no link is created here.
  const schedOk = progResult.get('SCHED_CLS') === 1;
  const tcxByVersion = version !== null && atLeast(version, TCX_KERNEL);
  add(
    'TCX',
    tcxByVersion && schedOk,
    tcxByVersion && schedOk
      ? `available (kernel >= ${TCX_KERNEL.join('.')} and SCHED_CLS programs load): TC programs attach as TCX links`
      : `not available (${!schedOk ? 'SCHED_CLS programs do not load' : `kernel < ${TCX_KERNEL.join('.')}`}): TC programs attach through a clsact qdisc`,
    false,
  );

  for (const t of REQUIRED_MAP_TYPES) {
    const r = native.probeMapType(BpfMapType[t]);
    add(`map type ${t.toLowerCase()}`, r === 1, probeText(r), true);
  }

  for (const [h, t] of REQUIRED_HELPERS) {
    const r = native.probeHelper(BpfProgType[t], BpfHelper[h]);
    add(`helper bpf_${h} (${t.toLowerCase()})`, r === 1, probeText(r), true);
  }

  // --- SYN cookies (xdp-ratelimit) ---------------------------------------------------------
  // Which path ddos.syn_protection takes on this kernel (cookies: auto), and the host setting
  // each path depends on. Information: both paths work; only the fallback changes a sysctl.
  let reqsk = false;
  try {
    reqsk = native.btfHasFunc(REQSK_KFUNC);
  } catch {
    reqsk = false;
  }
  const syncookiesPath = opts.syncookiesPath ?? '/proc/sys/net/ipv4/tcp_syncookies';
  let sysctl: string;
  try {
    sysctl = `net.ipv4.tcp_syncookies=${(await readText(syncookiesPath)).trim()}`;
  } catch (err) {
    sysctl = `${syncookiesPath}: ${errText(err)}`;
  }
  const choice = chooseCookiePath('auto', reqsk);
  add(
    'SYN cookies',
    true,
    `${choice.path} path: ${choice.reason}; ` +
      (choice.path === 'agent'
        ? `no host setting changes unless net.ipv4.tcp_syncookies is 0 (then 1 while cookies are on); now ${sysctl}`
        : `the agent holds net.ipv4.tcp_syncookies at 2 while cookies are on and restores it; now ${sysctl}`),
    false,
  );

  // --- interfaces -----------------------------------------------------------------------
  const sysNet = opts.sysClassNet ?? '/sys/class/net';
  for (const ifname of opts.interfaces ?? []) {
    const dir = path.join(sysNet, ifname);
    let ifindex: number;
    try {
      ifindex = Number((await readText(path.join(dir, 'ifindex'))).trim());
    } catch (err) {
      add(`interface ${ifname}`, false, `${dir}: ${errText(err)} (no such interface in this network namespace)`, true);
      continue;
    }
    const driver = await interfaceDriver(ifname, dir);
    const nativeXdp = driver !== null && NATIVE_XDP_DRIVERS.has(driver);
    add(
      `interface ${ifname}`,
      true,
      `ifindex ${ifindex}, driver ${driver ?? 'unknown'}: XDP ${nativeXdp ? 'native expected (generic fallback)' : 'generic (driver has no native XDP)'}`,
      true,
    );
  }

  // --- what a previous agent left under the pin root (information, never a failure) ---------
  if (opts.pinRoot && native && existsSync(opts.pinRoot)) {
    add('pinned programs', true, describeLeftPrograms(opts.pinRoot), false);
  }

  return checks;
}

/** One line on what is pinned under a pin root: the agent that left it, and each program's
 * attachments with the program id each hook runs now. */
function describeLeftPrograms(pinRoot: string): string {
  const d = describePinRoot(pinRoot);
  if (!d.manifest && !d.links.length) return `nothing pinned under ${pinRoot}${d.error ? ` (${d.error})` : ''}`;
  const who = d.manifest
    ? d.agentRunning
      ? `the running agent (pid ${d.manifest.agent.pid})`
      : `agent pid ${d.manifest.agent.pid} (${d.manifest.agent.state === 'kept' ? 'exited leaving its programs enforcing' : 'no longer running'}; the next agent on this pin root takes them over)`
    : 'an agent without a manifest';
  const progs = Object.entries(d.manifest?.programs ?? {}).map(([name, r]) => {
    const links = Object.keys(r.links).map((l) => {
      const k = d.links.find((x) => x.name === l);
      return k ? `${l.split('@').slice(1).join('@')} prog ${k.progId}` : `${l.split('@').slice(1).join('@')} (${r.links[l]!.kind})`;
    });
    return `${name}: ${links.length ? links.join(', ') : 'no attachment'}`;
  });
  const loose = d.links.filter((l) => !Object.values(d.manifest?.programs ?? {}).some((r) => r.links[l.name])).map((l) => `${l.name} prog ${l.progId}`);
  return `${d.links.length} pinned link(s) under ${pinRoot}, left by ${who}${progs.length ? `: ${progs.join('; ')}` : ''}${loose.length ? `; not in the manifest: ${loose.join(', ')}` : ''}${d.error ? ` (${d.error})` : ''}`;
}

/** The driver name as `ethtool -i` reports it (works for virtual devices such as veth),
 * else the device/driver link in sysfs; null when neither says. */
async function interfaceDriver(ifname: string, dir: string): Promise<string | null> {
  try {
    const { stdout } = await execFileP('ethtool', ['-i', ifname], { timeout: 3000 });
    const m = /^driver:\s*(\S+)/m.exec(stdout);
    if (m && m[1]) return m[1];
  } catch {
    // no ethtool, or the device has no driver info (lo): try sysfs
  }
  try {
    return path.basename(await readlink(path.join(dir, 'device', 'driver')));
  } catch {
    return null;
  }
}
