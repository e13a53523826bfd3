// Builds of xdp-firewall side by side on the drop-throughput bench's traffic, by test run:
// `node dist/bench/compare-builds.js OLD.bpf.o [NEW.bpf.o ...]` (NEW defaults to build/bpf's).
// Each build is loaded three times: the throughput bench's 10,000-rule policy, the same plus a
// last state rule (a stateful policy, deciding none of the frames) and no rules
// (default deny), and every one of the 4,096 aimed flows per family (TCP SYN and UDP, each
// dropped by its deny rule) is timed frame by frame through the sweep rig (bench/sweep.ts),
// rotating over all flows (every frame once per pass: the caches hold what thousands of flows
// leave them) and warm (runs of one frame in a row). A frame's figure is its lowest over the
// sweeps minus the lowest of the same frame through a bare XDP_PASS: the program's own ns. The
// subjects take turns within every sweep, so a busy neighbour lands on both builds alike; what
// carries over to the throughput figure is the difference in ns per frame, which the receiver
// pays on top of its fixed receive cost. Events: a 1 MiB ring nobody reads, as in the
// throughput bench (after the first few thousand drops every event meets back-pressure).
// Every call is checked: each frame counted as dropped by a rule (the policy) or by the default
// (no rules), nothing else.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../src/catalog.js';
import { compileFirewall } from '../src/engines/firewall/compile.js';
import { FirewallKernel } from '../src/engines/firewall/kernel.js';
import { loadNative } from '../src/kernel/native.js';
import { sumCounters } from './firewall.js';
import { firewallYaml, mixedPolicy, throughputFlows } from './mixed-policy.js';
import { quantileSorted } from './stats.js';
import { SweepRig, type SweepTarget } from './sweep.js';
import { fmt, renderTable } from './table.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SEED = 0x5e17; // the bench's (bench/run.ts)
const RULES = 10_000;
const FLOWS = 4096;

function main(argv: string[]): void {
  const objs = argv.filter((a) => !a.startsWith('--'));
  if (objs.length === 1) objs.push(path.join(ROOT, 'build', 'bpf', 'xdp_firewall.bpf.o'));
  const opt = (name: string, dflt: number): number => {
    const a = argv.find((x) => x.startsWith(`--${name}=`));
    return a ? Number(a.slice(name.length + 3)) : dflt;
  };
  const sweeps = opt('sweeps', 7);
  const warmRuns = opt('warm-runs', 20);
  if (!objs.length || !(sweeps >= 1) || !(warmRuns >= 1)) throw new Error('usage: compare-builds.js BASE.bpf.o [OTHER.bpf.o ...] [--sweeps=N] [--warm-runs=N]');
  const native = loadNative();
  const dir = mkdtempSync(path.join(tmpdir(), 'sentinel-ab-'));
  const kernels: FirewallKernel[] = [];
  const rig = new SweepRig(native, path.join(ROOT, 'build', 'bpf-bench', 'xdp_sweep.bpf.o'));
  const floorObj = native.objOpen(path.join(ROOT, 'build', 'bpf-bench', 'xdp_floor.bpf.o'), {});
  try {
    native.objLoad(floorObj);
    const compile = (text: string, name: string): ReturnType<typeof compileFirewall> => {
      const file = path.join(dir, name);
      writeFileSync(file, text);
      const cfg = parseConfigText(text, file);
      return compileFirewall(cfg.firewall, cfg.resolved.firewall.aliases);
    };
    const policy = compile(firewallYaml(mixedPolicy(RULES, SEED), 'bench0'), 'policy.yaml');
    // the same rules and, last, a state rule (deciding none of these frames): a stateful policy,
    // under which the firewall looks every non-SYN frame up in ct_table before its rules
    const stateful = compile(
      firewallYaml(mixedPolicy(RULES, SEED), 'bench0') + '    - { id: allow-established, priority: 100000, action: allow, state: [established, related] }\n',
      'stateful.yaml',
    );
    const empty = compile('agent:\n  interfaces: [bench0]\nfirewall:\n  default_policy: deny\n  rules: []\n', 'empty.yaml');
    const frames = { 4: throughputFlows(policy, 4, FLOWS, SEED).flows.map((f) => f.frame), 6: throughputFlows(policy, 6, FLOWS, SEED).flows.map((f) => f.frame) };

    interface Sub {
      id: string;
      family: 4 | 6;
      target: SweepTarget;
    }
    const subs: Sub[] = [];
    const builds = objs.map((obj, i) => [`b${i}`, obj] as const);
    for (const [name, obj] of builds) {
      for (const [pname, compiled, byRule] of [
        ['10k', policy, true],
        ['10k+state', stateful, true],
        ['none', empty, false],
      ] as const) {
        const k = FirewallKernel.load({ objectPath: obj, ringSize: 1 << 20 });
        kernels.push(k);
        k.writer.apply(compiled);
        for (const family of [4, 6] as const) {
          const id = `${name}.${pname}.v${family}`;
          subs.push({
            id,
            family,
            target: {
              id,
              progFd: k.progFd,
              fitsOneCall: () => true,
              begin() {
                const c0 = sumCounters(k);
                return (idx, per) => {
                  const c1 = sumCounters(k);
                  const runs = BigInt(idx.length * per);
                  const decided = byRule ? c1.rule_hit - c0.rule_hit : c1.default_policy - c0.default_policy;
                  if (c1.dropped - c0.dropped !== runs || decided !== runs || c1.passed !== c0.passed) {
                    throw new Error(`${id}: ${runs} runs, dropped ${c1.dropped - c0.dropped}, decided as aimed ${decided}, passed ${c1.passed - c0.passed}`);
                  }
                };
              },
            },
          });
        }
      }
    }
    for (const family of [4, 6] as const) {
      subs.push({ id: `floor.v${family}`, family, target: { id: `floor.v${family}`, progFd: native.progFd(floorObj, 'xdp_floor_pass'), fitsOneCall: () => true } });
    }
    const modes = [
      ['rotating', 1],
      ['warm', warmRuns],
    ] as const;
    const best = new Map<string, number[]>(); // id|mode -> per frame, lowest so far
    for (let s = 0; s < sweeps; s++) {
      for (let i = 0; i < subs.length; i++) {
        const sub = subs[(i + s) % subs.length]!;
        for (const [mode, per] of modes) {
          const ns = rig.sweep(sub.target, frames[sub.family], per);
          const key = `${sub.id}|${mode}`;
          const prev = best.get(key);
          best.set(key, prev ? prev.map((v, j) => Math.min(v, ns[j]!)) : ns);
        }
      }
      process.stderr.write(`sweep ${s + 1}/${sweeps}\n`);
    }
    const own = (id: string, family: 4 | 6, mode: string): number[] => {
      const floor = best.get(`floor.v${family}|${mode}`)!;
      return best.get(`${id}|${mode}`)!.map((v, j) => v - floor[j]!);
    };
    const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    const p99 = (v: number[]): number => quantileSorted([...v].sort((x, y) => x - y), 0.99);
    const rows: string[][] = [];
    for (const [mode] of modes) {
      for (const family of [4, 6] as const) {
        for (const pname of ['10k', '10k+state', 'none']) {
          const base = own(`b0.${pname}.v${family}`, family, mode);
          const cells = builds.map(([name], i) => {
            const v = own(`${name}.${pname}.v${family}`, family, mode);
            return i === 0 ? `${fmt(mean(v), 1)} (p99 ${fmt(p99(v), 0)})` : `${fmt(mean(v) - mean(base), 1, true)} (p99 ${fmt(p99(v), 0)})`;
          });
          rows.push([mode, `IPv${family}`, pname, ...cells]);
        }
      }
    }
    builds.forEach(([name, obj]) => process.stdout.write(`${name} ${obj}\n`));
    process.stdout.write(
      renderTable(
        [{ title: 'mode' }, { title: 'family' }, { title: 'rules' }, ...builds.map(([name], i) => ({ title: i === 0 ? `${name} mean ns` : `${name} - b0`, align: 'right' as const }))],
        rows,
      ) + '\n',
    );
  } finally {
    for (const k of kernels) k.close();
    rig.close();
    native.objClose(floorObj);
    rmSync(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2));
