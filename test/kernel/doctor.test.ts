// doctor, for real, on this machine: every required check must pass here (the agent's tests run
// on a kernel that supports it), and each kind of failure, injected through doctor's own
// parameters (paths, kernel release), must turn into a failed check and a non-zero exit.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { bpfMountFor, parseMountinfo, parseProcStatus } from '../../src/doctor/checks.js';
import { formatDoctorTable, runDoctor, type DoctorNative, type DoctorOptions, type DoctorReport } from '../../src/doctor/doctor.js';
import { loadNative } from '../../src/kernel/native.js';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

let native: DoctorNative | null = null;
let loadError = '';
try {
  native = loadNative();
} catch (err) {
  loadError = (err as Error).message;
}
const skip = native === null && process.env.CI !== 'true' ? `native addon not built: ${loadError}` : false;

function check(r: DoctorReport, name: string): { ok: boolean; detail: string; required: boolean } {
  const c = r.checks.find((x) => x.name === name);
  assert.ok(c, `check "${name}" is reported; got ${r.checks.map((x) => x.name).join(', ')}`);
  return c;
}

function requireNative(): DoctorNative {
  assert.ok(native, `native addon must load for kernel tests: ${loadError}`);
  return native;
}

describe('doctor on this machine', { skip }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sn-doctor-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes every required check and exits 0', async () => {
    const r = await runDoctor(requireNative(), { interfaces: ['lo'] });
    const failed = r.checks.filter((c) => c.required && !c.ok);
    assert.deepEqual(failed, [], formatDoctorTable(r));
    assert.equal(r.ok, true);
    assert.equal(r.exitCode, 0);
    // the things the issue names are all there
    for (const name of [
      'kernel version', 'kernel BTF', 'bpffs', 'privileges', 'TCX', 'XDP modes', 'program type xdp',
      'map type lpm_trie', 'map type ringbuf', 'map type prog_array', 'helper bpf_ringbuf_query (xdp)',
      'helper bpf_loop (xdp)', 'helper bpf_tail_call (xdp)', 'helper bpf_check_mtu (xdp)', 'SYN cookies', 'interface lo',
    ]) {
      check(r, name);
    }
    // this VM runs 6.18: TCX is there
    assert.equal(check(r, 'TCX').ok, true);
    assert.match(formatDoctorTable(r), /ebpfsentinel can run on this system\.\n$/);
  });

  it('fails and exits non-zero when kernel BTF is missing', async () => {
    const missing = path.join(dir, 'no-such-btf');
    const r = await runDoctor(requireNative(), { btfPath: missing });
    const c = check(r, 'kernel BTF');
    assert.equal(c.ok, false);
    assert.equal(c.required, true);
    assert.match(c.detail, new RegExp(`${missing}: not found`));
    assert.equal(r.exitCode, 1);
    assert.match(formatDoctorTable(r), /^FAIL\s+kernel BTF\s+/m);
    assert.match(formatDoctorTable(r), /cannot run on this system: 1 required check failed\.\n$/);
  });

  it('fails on a kernel older than 5.17 and reports the clsact fallback below 6.6', async () => {
    const old = await runDoctor(requireNative(), { kernelRelease: '5.10.0-28-amd64' });
    assert.equal(check(old, 'kernel version').ok, false);
    assert.equal(check(old, 'TCX').ok, false);
    assert.match(check(old, 'TCX').detail, /clsact/);
    assert.equal(old.exitCode, 1);
    // 6.1 runs the agent, but without TCX: a warning, not a failure
    const deb12 = await runDoctor(requireNative(), { kernelRelease: '6.1.0-18-amd64' });
    assert.equal(check(deb12, 'kernel version').ok, true);
    assert.equal(check(deb12, 'TCX').ok, false);
    assert.equal(check(deb12, 'TCX').required, false);
    assert.equal(deb12.exitCode, 0, formatDoctorTable(deb12));
    assert.match(formatDoctorTable(deb12), /^warn\s+TCX\s+/m);
  });

  it('fails without privileges (an unprivileged /proc/<pid>/status)', async () => {
    const real = await readFile('/proc/self/status', 'utf8');
    const unprivileged = real
      .replace(/^Uid:.*$/m, 'Uid:\t1000\t1000\t1000\t1000')
      .replace(/^CapEff:.*$/m, 'CapEff:\t0000000000000000');
    const p = path.join(dir, 'status');
    await writeFile(p, unprivileged);
    const r = await runDoctor(requireNative(), { statusPath: p });
    const c = check(r, 'privileges');
    assert.equal(c.ok, false);
    assert.match(c.detail, /euid 1000; effective capabilities: none .* run as root/);
    assert.equal(r.exitCode, 1);
  });

  it('fails when bpffs is neither mounted nor mountable', async () => {
    const mi = path.join(dir, 'mountinfo');
    await writeFile(mi, '22 1 0:21 / / rw,relatime - ext4 /dev/vda1 rw\n');
    const noDir = path.join(dir, 'no-bpffs-here');
    const r = await runDoctor(requireNative(), { mountinfoPath: mi, bpffsPath: noDir });
    const c = check(r, 'bpffs');
    assert.equal(c.ok, false);
    assert.match(c.detail, new RegExp(`${noDir} does not exist`));
    assert.equal(r.exitCode, 1);
  });

  it('fails for a configured interface that does not exist', async () => {
    const name = `sn-no-${randomBytes(3).toString('hex')}`;
    const r = await runDoctor(requireNative(), { interfaces: [name] });
    const c = check(r, `interface ${name}`);
    assert.equal(c.ok, false);
    assert.match(c.detail, /no such interface in this network namespace/);
    assert.equal(r.exitCode, 1);
  });

  it('says which SYN cookie path this kernel gets, and the sysctl it depends on', async () => {
    const sysctl = path.join(dir, 'tcp_syncookies');
    await writeFile(sysctl, '1\n');
    // this VM runs 6.18: bpf_sk_assign_tcp_reqsk is in its BTF
    const here = check(await runDoctor(requireNative(), { syncookiesPath: sysctl }), 'SYN cookies');
    assert.equal(here.ok, true);
    assert.equal(here.required, false);
    assert.match(here.detail, /^agent path: the kernel has bpf_sk_assign_tcp_reqsk.*now net\.ipv4\.tcp_syncookies=1$/);
    // a kernel without the kfunc (before 6.9) gets the fallback, and is told what it changes
    const older = { ...requireNative(), btfHasFunc: () => false };
    const old = check(await runDoctor(older, { syncookiesPath: sysctl }), 'SYN cookies');
    assert.equal(old.ok, true);
    assert.match(old.detail, /^kernel path: the kernel has no bpf_sk_assign_tcp_reqsk .*holds net\.ipv4\.tcp_syncookies at 2 .*now net\.ipv4\.tcp_syncookies=1$/);
  });

  it('fails when the native addon cannot be loaded, saying why', async () => {
    const r = await runDoctor(null, { nativeError: 'cannot open shared object file' });
    const c = check(r, 'native bridge');
    assert.equal(c.ok, false);
    assert.match(c.detail, /cannot open shared object file \(run make build\)/);
    assert.equal(r.exitCode, 1);
  });

  it('inside a fresh network namespace: reports a veth as native-XDP capable and bpffs as mountable', async () => {
    const tag = randomBytes(3).toString('hex');
    const ns = `sn-doc-${tag}`;
    const a = `snd${tag}a`;
    const b = `snd${tag}b`;
    await execFileP('ip', ['netns', 'add', ns]);
    try {
      await execFileP('ip', ['-n', ns, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
      const doctorUrl = pathToFileURL(path.resolve(here, '..', '..', 'src', 'doctor', 'doctor.js')).href;
      const nativeUrl = pathToFileURL(path.resolve(here, '..', '..', 'src', 'kernel', 'native.js')).href;
      const script =
        `const { runDoctor } = await import(${JSON.stringify(doctorUrl)});` +
        `const { loadNative } = await import(${JSON.stringify(nativeUrl)});` +
        `const r = await runDoctor(loadNative(), ${JSON.stringify({ interfaces: [a] } satisfies DoctorOptions)});` +
        'process.stdout.write(JSON.stringify(r));';
      // `ip netns exec` remounts /sys for the namespace, without bpffs on it
      const { stdout } = await execFileP('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script]);
      const r = JSON.parse(stdout) as DoctorReport;
      const iface = check(r, `interface ${a}`);
      assert.equal(iface.ok, true);
      assert.match(iface.detail, /driver veth: XDP native expected/);
      const bpffs = check(r, 'bpffs');
      assert.equal(bpffs.ok, true, bpffs.detail);
      assert.match(bpffs.detail, /not mounted at \/sys\/fs\/bpf; mountable/);
      assert.equal(r.exitCode, 0, JSON.stringify(r.checks.filter((c) => !c.ok)));
    } finally {
      await execFileP('ip', ['netns', 'del', ns]);
    }
  });
});

describe('doctor parsers', () => {
  it('finds the visible bpf mount covering a pin root', () => {
    const mounts = parseMountinfo(
      [
        '42 23 0:22 /fs/bpf /sys/fs/bpf rw,relatime - sysfs sysfs rw',
        '43 42 0:39 / /sys/fs/bpf rw,relatime - bpf bpf rw,mode=700',
        '50 23 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw',
      ].join('\n'),
    );
    assert.deepEqual(mounts[2], { mountPoint: '/mnt/with space', fsType: 'tmpfs' });
    assert.equal(bpfMountFor(mounts, '/sys/fs/bpf/ebpfsentinel/run-1'), '/sys/fs/bpf');
    assert.equal(bpfMountFor(mounts, '/sys/fs/bpfx'), undefined);
    // the sysfs directory alone, without bpf mounted over it, is not bpffs
    assert.equal(bpfMountFor(mounts.slice(0, 1), '/sys/fs/bpf'), undefined);
  });

  it('reads the effective uid and capabilities', () => {
    const s = parseProcStatus('Name:\tnode\nUid:\t0\t1000\t0\t0\nCapEff:\t000001ffffffffff\n');
    assert.equal(s.euid, 1000);
    assert.equal(s.capEff, 0x1ffffffffffn);
    assert.throws(() => parseProcStatus('Name:\tnode\n'), /no Uid\/CapEff lines/);
  });
});
