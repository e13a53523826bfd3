// What the figures were measured on: without it a results file cannot be compared honestly.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { NativeBridge } from '../src/kernel/native.js';
import type { MachineInfo } from './results.js';

/** The first "model name" of /proc/cpuinfo (x86) or "Model"/"CPU part" elsewhere. */
export function cpuModelFrom(cpuinfo: string): string {
  for (const key of ['model name', 'Model', 'cpu model', 'CPU part']) {
    const m = new RegExp(`^${key}\\s*:\\s*(.+)$`, 'm').exec(cpuinfo);
    if (m) return m[1]!.trim().replace(/\s+/g, ' ');
  }
  return 'unknown';
}

export function machineInfo(native: NativeBridge): MachineInfo {
  let cpu = 'unknown';
  try {
    cpu = cpuModelFrom(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    // not Linux /proc: the model stays unknown, which the output shows
  }
  return {
    kernel: os.release(),
    cpu_model: cpu,
    ncpus: os.availableParallelism(),
    libbpf: native.libbpfVersion(),
    node: process.version,
    load_start: loadNow(),
  };
}

/** The 1-minute load average, two decimals. */
export function loadNow(): number {
  return Math.round(os.loadavg()[0]! * 100) / 100;
}
