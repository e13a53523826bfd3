// `ebpfsentinel doctor`: run the checks, print them as a table, exit non-zero when the agent
// cannot run here. The CLI calls doctorMain(); tests call runDoctor() and read the result.
import { loadNative } from '../kernel/native.js';
import { runChecks, type DoctorCheck, type DoctorNative, type DoctorOptions } from './checks.js';

export type { DoctorCheck, DoctorNative, DoctorOptions } from './checks.js';

export interface DoctorReport {
  checks: DoctorCheck[];
  /** false when a required check failed */
  ok: boolean;
  /** 0 when ok, 1 otherwise */
  exitCode: number;
}

export async function runDoctor(native: DoctorNative | null, opts: DoctorOptions = {}): Promise<DoctorReport> {
  const checks = await runChecks(native, opts);
  const ok = checks.every((c) => c.ok || !c.required);
  return { checks, ok, exitCode: ok ? 0 : 1 };
}

/** `ok` / `FAIL` (required) / `warn` (optional), the check, what was found. */
export function formatDoctorTable(report: DoctorReport): string {
  const status = (c: DoctorCheck): string => (c.ok ? 'ok' : c.required ? 'FAIL' : 'warn');
  const w = Math.max(5, ...report.checks.map((c) => c.name.length));
  const lines = [`${'STATUS'.padEnd(6)}  ${'CHECK'.padEnd(w)}  DETAIL`];
  for (const c of report.checks) lines.push(`${status(c).padEnd(6)}  ${c.name.padEnd(w)}  ${c.detail}`);
  const failed = report.checks.filter((c) => !c.ok && c.required).length;
  lines.push('');
  lines.push(
    report.ok
      ? 'ebpfsentinel can run on this system.'
      : `ebpfsentinel cannot run on this system: ${failed} required check${failed === 1 ? '' : 's'} failed.`,
  );
  return `${lines.join('\n')}\n`;
}

/** Loads the native bridge (a failure to load is itself reported as a failed check), runs
 * every check, writes the table (or JSON) to `out`, and returns the process exit code. */
export async function doctorMain(
  opts: DoctorOptions & { output?: 'table' | 'json'; out?: { write(s: string): unknown } } = {},
): Promise<number> {
  let native: DoctorNative | null = null;
  let nativeError: string | undefined;
  try {
    native = loadNative();
  } catch (err) {
    nativeError = (err as Error).message.split('\n')[0];
  }
  const report = await runDoctor(native, { ...opts, ...(nativeError !== undefined ? { nativeError } : {}) });
  const out = opts.out ?? process.stdout;
  out.write(opts.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorTable(report));
  return report.exitCode;
}
