// Makes an API that listens on 127.0.0.1 inside a namespace reachable on 127.0.0.1 of the
// host: socat listens in the root namespace and, per connection, runs a second socat inside the
// namespace that connects to the agent. The agent keeps its loopback-only default bind; nothing
// is exposed beyond this host.
import type { LabProcess } from '../lab/process.js';
import { spawnTracked } from './child.js';

export interface ApiForwarder {
  port: number;
  url: string;
  process: LabProcess;
  stop(): Promise<void>;
}

export interface ForwarderOptions {
  ns: string;
  /** the agent's port inside the namespace */
  targetPort: number;
  /** preferred host port; when taken (or 0) any free port is used */
  preferredPort?: number;
}

async function listen(ns: string, targetPort: number, port: number): Promise<ApiForwarder> {
  // socat splits an EXEC command line on spaces and its address syntax on ':', hence the escapes.
  const inner = `EXEC:ip netns exec ${ns} socat STDIO TCP\\:127.0.0.1\\:${targetPort}`;
  const { process: proc } = spawnTracked(['socat', '-d', '-d', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, inner], `API forwarder to ${ns}:${targetPort}`);
  const m = await proc.waitFor(/listening on AF=2 127\.0\.0\.1:(\d+)/, 5000);
  const actual = Number(m[1]);
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    process: proc,
    stop: async () => {
      await proc.stop('SIGTERM', 2000);
    },
  };
}

export async function startApiForwarder(opts: ForwarderOptions): Promise<ApiForwarder> {
  const preferred = opts.preferredPort ?? 0;
  try {
    return await listen(opts.ns, opts.targetPort, preferred);
  } catch (e) {
    if (preferred === 0 || !/Address already in use/.test((e as Error).message)) throw e;
    return listen(opts.ns, opts.targetPort, 0);
  }
}
