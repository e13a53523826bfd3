// A process the lab started inside a namespace: its output is kept (bounded) so callers can wait
// for a readiness line, and it is stopped by process group so nothing it forked outlives it.
import type { ChildProcess } from 'node:child_process';
import { killGroup } from './run.js';

const MAX_KEPT = 4 * 1024 * 1024;

export class LabProcess {
  readonly pid: number;
  private out = '';
  private err = '';
  private waiters: Array<() => void> = [];
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly child: ChildProcess,
    readonly label: string,
    onExit: (p: LabProcess) => void,
  ) {
    if (child.pid === undefined) throw new Error(`${label}: process did not start`);
    this.pid = child.pid;
    const keep = (cur: string, d: string): string => {
      const next = cur + d;
      return next.length > MAX_KEPT ? next.slice(next.length - MAX_KEPT) : next;
    };
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.out = keep(this.out, d);
      this.wake();
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.err = keep(this.err, d);
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.exitInfo = { code, signal };
        onExit(this);
        this.wake();
        resolve(this.exitInfo);
      });
      child.on('error', () => {
        // 'close' still follows for spawn failures that got a pid; without one the constructor threw.
      });
    });
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when stdout or stderr matches; rejects on timeout or if the process exits first. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.err.match(pattern) ?? this.out.match(pattern);
      if (m) return m;
      if (!this.running) {
        throw new Error(`${this.label} exited (${this.exitInfo?.code ?? this.exitInfo?.signal}) before printing ${pattern}: ${this.err.trim().slice(-1000)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label} did not print ${pattern} within ${timeoutMs} ms: ${this.err.trim().slice(-1000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Writes to the process's stdin (spawned with `stdin: true`). */
  write(text: string): void {
    const w = this.child.stdin;
    if (!w) throw new Error(`${this.label}: spawned without a stdin pipe`);
    w.write(text);
  }

  /** Signals the group, waits up to graceMs, then SIGKILLs it. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 2000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return this.exited;
    killGroup(this.pid, signal);
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    if ((await Promise.race([this.exited, timer])) === 'timeout') killGroup(this.pid, 'SIGKILL');
    return this.exited;
  }

  /** Stops the whole group where it is (SIGSTOP) until resume(): a sender paused this way has
   * nothing in flight once the path drains, so counters read at different instants agree. */
  pause(): void {
    if (this.running) killGroup(this.pid, 'SIGSTOP');
  }

  resume(): void {
    if (this.running) killGroup(this.pid, 'SIGCONT');
  }

  /** For exit handlers: no waiting possible. */
  killNow(): void {
    if (this.running) killGroup(this.pid, 'SIGKILL');
  }
}
