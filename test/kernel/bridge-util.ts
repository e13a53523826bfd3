// Shared by the bridge tests: repo paths, the CI rule (missing tool or kernel feature fails
// under CI=true, skips elsewhere), unique names, and throwaway network namespaces.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const testObj = (name: string): string => path.join(repoRoot, 'build', 'bpf-test', `${name}.bpf.o`);

/** Under CI a missing prerequisite is a failure; locally the test is skipped with the reason. */
export function requireOrSkip(t: TestContext, ok: boolean, what: string): boolean {
  if (ok) return true;
  if (process.env.CI !== 'true') return t.skip(what), false; // process.env.CI: never skips in CI
  throw new Error(`prerequisite missing under CI: ${what}`);
}

export function haveTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function objectsBuilt(...names: string[]): boolean {
  return names.every((n) => existsSync(testObj(n)));
}

let counter = 0;
/** Short unique name (interface names are limited to 15 bytes). */
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}${(process.pid % 100000).toString(36)}${counter.toString(36)}`.slice(0, 15);
}

/** A distinct /24 of 198.18.0.0/15 and /64 of 2001:db8::/32 per test run and pair. */
function subnetIds(): { v4: string; v6: string } {
  const n = ((process.pid * 7 + counter * 13) % 250) + 1;
  const m = (process.pid + counter) % 250;
  return { v4: `198.18.${n}.`, v6: `2001:db8:${n.toString(16)}:${m.toString(16)}::` };
}

function sh(cmd: string, args: string[], opts: { allowFail?: boolean; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: opts.env ?? process.env });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
  }
  return r.stdout;
}

export interface VethPair {
  nsA: string;
  nsB: string;
  ifA: string;
  ifB: string;
  a4: string;
  b4: string;
  a6: string;
  b6: string;
  destroy(): void;
}

/** Two namespaces joined by a veth pair, IPv4 and IPv6 addressed (no DAD), both ends up. */
export function makeVethPair(): VethPair {
  const nsA = uniqueName('sbA');
  const nsB = uniqueName('sbB');
  const ifA = uniqueName('sva');
  const ifB = uniqueName('svb');
  const { v4, v6 } = subnetIds();
  const pair: VethPair = {
    nsA, nsB, ifA, ifB,
    a4: `${v4}1`, b4: `${v4}2`, a6: `${v6}1`, b6: `${v6}2`,
    destroy() {
      sh('ip', ['netns', 'del', nsA], { allowFail: true });
      sh('ip', ['netns', 'del', nsB], { allowFail: true });
    },
  };
  try {
    sh('ip', ['netns', 'add', nsA]);
    sh('ip', ['netns', 'add', nsB]);
    // created inside nsA so the host namespace never sees either end
    sh('ip', ['-n', nsA, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    for (const [ns, ifn, a4, a6] of [[nsA, ifA, pair.a4, pair.a6], [nsB, ifB, pair.b4, pair.b6]] as const) {
      sh('ip', ['-n', ns, 'addr', 'add', `${a4}/24`, 'dev', ifn]);
      sh('ip', ['-n', ns, 'addr', 'add', `${a6}/64`, 'dev', ifn, 'nodad']);
      sh('ip', ['-n', ns, 'link', 'set', ifn, 'up']);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  } catch (e) {
    pair.destroy();
    throw e;
  }
  return pair;
}

export function runInNs(ns: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', env: env ?? process.env, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function compileC(src: string, out: string, extra: string[] = []): void {
  execFileSync('gcc', ['-O0', '-g', '-o', out, src, ...extra], { stdio: 'pipe' });
}

/** A program the verifier must refuse (reads packet data without a bounds check), compiled
 * into `dir`; returns the object path. */
export function compileRejectedProgram(dir: string): string {
  const src = path.join(dir, 'bad.bpf.c');
  const out = path.join(dir, 'bad.bpf.o');
  writeFileSync(
    src,
    `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int xdp_reads_past_end(struct xdp_md *ctx)
{
  unsigned char *data = (unsigned char *)(long)ctx->data;
  return data[100]; /* no bounds check: the verifier must refuse */
}
char LICENSE[] SEC("license") = "GPL";
`,
  );
  const multiarch = execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-I', `/usr/include/${multiarch}`, '-c', src, '-o', out]);
  return out;
}

/** A program calling sentinel_probe_target(i) for i = 1..argv[1] and printing the sum of its
 * results; with a second argument it waits for a byte on stdin first (so a probe can be limited to
 * its pid before it runs). The uprobe tests compile it with compileC. */
export const PROBE_TARGET_C = `#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((noinline)) int sentinel_probe_target(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 2 + 1;
}
int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0;
	if (argc > 2) { /* wait for the parent to attach to our pid */
		char c;
		if (read(0, &c, 1) != 1) return 1;
	}
	long s = 0;
	for (int i = 1; i <= n; i++)
		s += sentinel_probe_target(i);
	printf("%ld\\n", s);
	return 0;
}
`;
