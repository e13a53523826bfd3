// bpffs: pins need a mounted BPF filesystem. `ip netns exec` gives the command a fresh /sys
// without one, so the agent mounts it when it is missing rather than failing.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';

const BPF_FS = '/sys/fs/bpf';

/** Mount points of type bpf, from /proc/self/mountinfo. */
export function bpffsMounts(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const fstype = line.slice(sep + 3).split(' ')[0];
    const mnt = fields[4];
    if (fstype === 'bpf' && mnt) out.push(mnt.replace(/\\040/g, ' '));
  }
  return out;
}

/** The bpffs mount that holds `p`, if any (longest matching mount point). */
export function bpffsFor(p: string, mounts = bpffsMounts()): string | undefined {
  const abs = path.resolve(p);
  return mounts
    .filter((m) => abs === m || abs.startsWith(m.endsWith('/') ? m : `${m}/`))
    .sort((a, b) => b.length - a.length)[0];
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
