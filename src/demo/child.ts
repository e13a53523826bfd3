// Long-running helper processes the demo and the e2e tests start themselves (the agent inside a
// namespace, the API forwarder on the host). Each gets its own process group so a terminal's
// Ctrl-C reaches only us and we decide the order of teardown; whatever is still running when
// this process exits is killed by pid, so nothing outlives its owner.
import { spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { LabProcess } from '../lab/process.js';

const live = new Set<LabProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) p.killNow();
  });
}

export interface TrackedChildOptions {
  /** copy stdout and stderr (as they arrive) to this file as well */
  logFile?: string;
  env?: Record<string, string>;
}

export interface TrackedChild {
  process: LabProcess;
  /** resolves once the log file has everything the child wrote (after it exited) */
  logClosed: Promise<void>;
}

export function spawnTracked(argv: readonly string[], label: string, opts: TrackedChildOptions = {}): TrackedChild {
  installExitHook();
  const child = spawn(argv[0]!, argv.slice(1), {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(opts.env ?? {}) },
  });
  const proc = new LabProcess(child, label, (done) => live.delete(done));
  live.add(proc);
  let log: WriteStream | null = null;
  let logClosed: Promise<void> = Promise.resolve();
  if (opts.logFile) {
    const stream = createWriteStream(opts.logFile, { flags: 'a' });
    log = stream;
    logClosed = new Promise((resolve) => {
      stream.on('close', () => resolve());
      // A log we cannot write must not take the child (or us) down; the caller still has the
      // output in memory.
      stream.on('error', () => resolve());
    });
    child.stdout?.on('data', (d: string | Buffer) => stream.write(d));
    child.stderr?.on('data', (d: string | Buffer) => stream.write(d));
    void proc.exited.then(() => log?.end());
  }
  return { process: proc, logClosed };
}
