// bpffs: pins need a mounted BPF filesystem. `ip netns exec` gives the command a fresh /sys
// without one, so the agent mounts it when it is missing rather than failing.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';

const BPF_FS = '/sys/fs/bpf';

export interface Mount {
  mountPoint: string;
  fsType: string;
}

/** /proc/<pid>/mountinfo: field 5 is the mount point (octal escapes), the fs type follows " - ". */
export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mp = left[4];
    const fsType = right[0];
    if (mp === undefined || fsType === undefined) continue;
    out.push({ mountPoint: mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), fsType });
  }
  return out;
}

/** The bpf mount point `p` lies on, or undefined. The mount that covers `p` is the one with the
 * longest matching mount point, and of several mounts on one point the last one is visible
 * (mountinfo lists mounts in order). */
export function bpfMountFor(mounts: Mount[], p: string): string | undefined {
  const abs = path.resolve(p);
  const visible = new Map<string, string>();
  for (const m of mounts) visible.set(m.mountPoint, m.fsType);
  let best: string | undefined;
  for (const mp of visible.keys()) {
    const covers = abs === mp || mp === '/' || abs.startsWith(`${mp}/`);
    if (covers && (best === undefined || mp.length > best.length)) best = mp;
  }
  return best !== undefined && visible.get(best) === 'bpf' ? best : undefined;
}

/** The bpffs mount that holds `p` in this process's mount namespace, if any. */
export function bpffsFor(p: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string | undefined {
  return bpfMountFor(parseMountinfo(mountinfo), p);
}

/** Makes sure `pinRoot` exists on a bpffs, mounting one at /sys/fs/bpf when pinRoot lies under
 * it and nothing is mounted there yet. Throws a message that says what to do otherwise. */
export async function ensureBpffs(pinRoot: string): Promise<void> {
  ensureBpffsSync(pinRoot);
}

/** Synchronous ensureBpffs, for scripts and tests. */
export function ensureBpffsSync(pinRoot: string): void {
  const abs = path.resolve(pinRoot);
  if (!bpffsFor(abs)) {
    if (abs !== BPF_FS && !abs.startsWith(`${BPF_FS}/`)) {
      throw new Error(`agent.pin_root ${abs} is not on a bpffs mount (mount one: mount -t bpf bpf <dir>)`);
    }
    mkdirSync(BPF_FS, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'bpf', 'bpf', BPF_FS], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
      throw new Error(`cannot mount bpffs at ${BPF_FS}: ${stderr || (err as Error).message}`);
    }
    if (!bpffsFor(abs)) throw new Error(`mounted bpffs at ${BPF_FS} but ${abs} is still not on it`);
  }
  mkdirSync(abs, { recursive: true, mode: 0o700 });
}

/** Removes a pin directory tree. Pins are unlinked one by one (bpffs has no recursive
 * remove); the object behind a pin dies with its last reference. Refuses paths that are not on
 * a bpffs or that are a bpffs mount point itself, so a typo cannot wipe anything else. */
export function removePinTree(dir: string): void {
  const abs = path.resolve(dir);
  const mount = bpffsFor(abs);
  if (!mount) throw new Error(`refusing to remove ${abs}: not on a bpffs mount`);
  if (abs === path.resolve(mount)) throw new Error(`refusing to remove ${abs}: it is the bpffs mount point itself`);
  let st;
  try {
    st = lstatSync(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isDirectory()) {
    unlinkSync(abs);
    return;
  }
  for (const name of readdirSync(abs)) {
    const p = path.join(abs, name);
    if (lstatSync(p).isDirectory()) removePinTree(p);
    else unlinkSync(p);
  }
  rmdirSync(abs);
}
