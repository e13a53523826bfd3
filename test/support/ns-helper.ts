// A helper process inside a lab namespace (BPF attachment by ifindex, test runs and sockets all
// act in the caller's own namespace), driven line by line: one JSON request on its stdin, one
// JSON line back on its stdout. Its stderr goes to the test's.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Lab } from '../../src/lab/index.js';

export class NsHelper {
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly lines: string[] = [];

  private constructor(
    readonly child: ChildProcessByStdio<Writable, Readable, null>,
    private readonly what: string,
    private readonly timeoutMs: number,
  ) {
    readline.createInterface({ input: child.stdout }).on('line', (l) => {
      const w = this.waiting.shift();
      if (w) w(l);
      else this.lines.push(l);
    });
  }

  /** Runs `node script ...args` in the host's namespace. */
  static start(lab: Lab, host: string, script: string, args: readonly string[] = [], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): NsHelper {
    const child = spawn('ip', ['netns', 'exec', lab.ns(host), process.execPath, script, ...args], { stdio: ['pipe', 'pipe', 'inherit'], env: opts.env ?? process.env });
    return new NsHelper(child, script, opts.timeoutMs ?? 20_000);
  }

  /** The next line the helper prints. */
  next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.what} did not answer within ${this.timeoutMs / 1000} s`)), this.timeoutMs);
      this.waiting.push((line) => {
        clearTimeout(t);
        resolve(line);
      });
    });
  }

  async send(msg: unknown): Promise<string> {
    this.child.stdin.write(`${JSON.stringify(msg)}\n`);
    return this.next();
  }

  async request<T>(msg: unknown): Promise<T> {
    return JSON.parse(await this.send(msg)) as T;
  }

  /** Ends its input and waits for it to exit. */
  async close(): Promise<void> {
    this.child.stdin.end();
    if (this.child.exitCode === null && this.child.signalCode === null) await new Promise((r) => this.child.once('exit', r));
  }
}
