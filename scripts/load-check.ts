// Build step: loads every given BPF object into the kernel so a program the verifier rejects
// fails the build, with libbpf's message and the full verifier log on stderr.
// Usage: node dist/scripts/load-check.js build/bpf/*.bpf.o
import path from 'node:path';
import { BpfObject } from '../src/kernel/object.js';
import { BpfError } from '../src/kernel/errors.js';
import { ensureBpffsSync, removePinTree } from '../src/kernel/bpffs.js';
import { BpfProgType } from '../src/kernel/bpf-enums.js';

const progTypeNames = new Map<number, string>(Object.entries(BpfProgType).map(([k, v]) => [v, k]));

function main(objects: string[]): number {
  if (objects.length === 0) {
    process.stderr.write('load-check: no object given\n');
    return 2;
  }
  // Objects share one temporary pin root, as they share one in the agent: maps pinned by name
  // in one object must be compatible with the same map in the next.
  const pinRoot = `/sys/fs/bpf/ebpfsentinel-loadcheck-${process.pid}`;
  ensureBpffsSync(pinRoot);
  let failed = 0;
  const open: BpfObject[] = [];
  try {
    for (const file of objects) {
      const name = path.basename(file);
      let obj: BpfObject;
      try {
        obj = BpfObject.load(file, { pinRoot });
      } catch (e) {
        failed++;
        process.stderr.write(`load-check: FAIL ${name}\n`);
        if (e instanceof BpfError) {
          process.stderr.write(`  error: ${e.message}\n`);
          if (e.libbpfMessage) process.stderr.write(`--- libbpf ---\n${e.libbpfMessage}\n`);
          if (e.verifierLog) process.stderr.write(`--- verifier log (${name}) ---\n${e.verifierLog}\n--- end of verifier log ---\n`);
        } else {
          process.stderr.write(`  ${e instanceof Error ? e.stack : String(e)}\n`);
        }
        continue;
      }
      open.push(obj);
      for (const p of obj.programInfo()) {
        process.stdout.write(`load-check: ok ${name} ${p.name} (${p.section}, ${progTypeNames.get(p.type) ?? `type ${p.type}`})\n`);
      }
    }
  } finally {
    for (const o of open) o.close();
    removePinTree(pinRoot);
  }
  return failed ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
