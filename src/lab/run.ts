// Runs the lab's commands (ip, ethtool, ping, socat, tcpdump...) with a timeout on every one and
// errors that say which command failed where and what it printed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

export interface RunOptions {
  timeoutMs?: number;
  input?: string | Buffer;
  /** resolve with the result instead of throwing on a non-zero exit */
  allowFail?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const DEFAULT_TIMEOUT_MS = 10_000;

class LabCommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
    where: string,
  ) {
    const why = result.timedOut ? 'timed out' : result.signal ? `was killed by ${result.signal}` : `exited ${result.code}`;
    const err = result.stderr.trim() || result.stdout.trim();
    super(`${where}: \`${argv.join(' ')}\` ${why}${err ? `: ${err.slice(0, 2000)}` : ''}`);
    this.name = 'LabCommandError';
  }
}

/** Signals a whole process group (the child and anything it forked), ignoring "already gone". */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already exited
    }
  }
}

export function run(argv: readonly string[], opts: RunOptions = {}, where = 'lab'): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      // Own process group so a timeout kills the command and everything it started.
      child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    } catch (e) {
      reject(new Error(`${where}: cannot start \`${argv.join(' ')}\`: ${(e as Error).message}`));
      return;
    }
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin!.on('error', () => undefined); // the command may exit before reading its input
    child.stdin!.end(opts.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${where}: cannot start \`${argv.join(' ')}\`: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = { code, signal, stdout, stderr, timedOut };
      if ((code !== 0 || timedOut) && !opts.allowFail) reject(new LabCommandError(argv, result, where));
      else resolve(result);
    });
  });
}

/** Synchronous variant for process-exit cleanup, where no event loop turn is left. */
export function runSync(argv: readonly string[], timeoutMs = DEFAULT_TIMEOUT_MS): RunResult {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? r.error.message : ''), timedOut: r.error?.message.includes('ETIMEDOUT') ?? false };
}

/** Tools not found as executables on PATH (plus the sbin dirs, where ip/ethtool live). */
export function missingTools(tools: readonly string[]): string[] {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  const executable = (file: string): boolean => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  return tools.filter((t) => !dirs.some((d) => executable(`${d}/${t}`)));
}
