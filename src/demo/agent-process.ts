// The real agent (`bin/ebpfsentinel run`) started inside a network namespace, the way an
// operator would run it there: `ip netns exec <ns> node bin/ebpfsentinel run --config FILE`.
// `ip netns exec` execs the command, so the pid we hold is the agent's own.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../version.js';
import type { LabProcess } from '../lab/process.js';
import { spawnTracked } from './child.js';

export const AGENT_BIN = path.join(REPO_ROOT, 'bin', 'ebpfsentinel');

export interface AgentProcessOptions {
  /** network namespace holding the interfaces the agent attaches to */
  ns: string;
  configPath: string;
  /** copy of everything the agent prints */
  logFile?: string;
  /** extra arguments after `run --config FILE` (e.g. --pin-root) */
  extraArgs?: readonly string[];
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class AgentProcess {
  private constructor(
    readonly process: LabProcess,
    private readonly logClosed: Promise<void>,
  ) {}

  static start(opts: AgentProcessOptions): AgentProcess {
    const argv = ['ip', 'netns', 'exec', opts.ns, process.execPath, AGENT_BIN, 'run', '--config', opts.configPath, ...(opts.extraArgs ?? [])];
    const t = spawnTracked(argv, `agent in ${opts.ns}`, opts.logFile ? { logFile: opts.logFile } : {});
    return new AgentProcess(t.process, t.logClosed);
  }

  get pid(): number {
    return this.process.pid;
  }

  get running(): boolean {
    return this.process.running;
  }

  /** everything the agent printed so far (logs go to stderr) */
  get output(): string {
    return this.process.stderr + this.process.stdout;
  }

  /**
   * SIGTERM, then wait for the agent to detach and exit. A clean stop is exit code 0; past
   * graceMs it is SIGKILLed and the result says so (signal SIGKILL), which callers treat as a
   * failure.
   */
  async stop(graceMs = 10_000): Promise<ExitInfo> {
    const r = await this.process.stop('SIGTERM', graceMs);
    await this.logClosed;
    return r;
  }

  /**
   * For signal handlers that must finish before other handlers run (the lab's own deletes the
   * namespaces): SIGTERM and block until the agent has exited (or graceMs passed). The exit
   * code is collected later from `exited`.
   */
  stopSync(graceMs = 10_000): boolean {
    if (!this.running) return true;
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      return true;
    }
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      if (!pidAlive(this.pid)) return true;
      Atomics.wait(sleeper, 0, 0, 50);
    }
    return false;
  }

  /** resolves when the agent exits on its own */
  get exited(): Promise<ExitInfo> {
    return this.process.exited;
  }
}

/** Alive and not a zombie (an exited child stays a zombie until the event loop reaps it). */
function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
