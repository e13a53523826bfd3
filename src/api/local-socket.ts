// The API's Unix socket: the default, and the only listener unless a TCP port is configured. The
// kernel checks the caller against the socket file's mode at connect(), so the file mode is the
// authentication: 0600 root (only root may connect) or 0660 root:<api_socket_group>. Whoever
// gets through is the host's administrator and is served as admin; a TCP listener needs keys or
// tokens instead (src/api/auth).
//
// The socket serves the same Fastify instance as the TCP listener: a second HTTP server hands
// its requests to the instance's router, and remembers which connections it accepted so the
// hooks can tell a socket caller from a TCP one.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, unlinkSync, type Stats } from 'node:fs';
import http from 'node:http';
import net, { type Socket } from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

const accepted = new WeakSet<Socket>();

/** Whether the request came in over the API socket (and so from root or the socket's group). */
export function viaLocalSocket(req: http.IncomingMessage): boolean {
  return accepted.has(req.socket);
}

export interface LocalSocketOptions {
  path: string;
  /** group allowed to connect too (mode 0660); a name is resolved with getent */
  group?: string | number;
}

export interface LocalSocketListener {
  readonly path: string;
  /** stops accepting new connections (the API keeps answering the open ones) */
  stopAccepting(): void;
  /** ends every connection and removes the socket file */
  close(): Promise<void>;
}

/** gid of a group name or number; throws naming the group when it does not exist. */
function resolveGroup(group: string | number): number {
  if (typeof group === 'number') return group;
  let line: string;
  try {
    line = execFileSync('getent', ['group', group], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    throw new Error(`agent.api_socket_group: no group "${group}" on this host (getent group ${group})`);
  }
  const gid = Number(line.split(':')[2]);
  if (!Number.isInteger(gid)) throw new Error(`agent.api_socket_group: cannot read the gid of "${group}" from "${line.trim()}"`);
  return gid;
}

function statOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Nobody but the agent's user may replace the socket: its directory must not be writable by
 * anyone else. Creates it (0700, or 0750 with the group) when missing. */
function ensureDirectory(dir: string, gid: number | undefined): void {
  const st = statOrNull(dir);
  if (!st) {
    mkdirSync(dir, { recursive: true, mode: gid === undefined ? 0o700 : 0o750 });
    if (gid !== undefined) chownSync(dir, -1, gid);
    return;
  }
  if (!st.isDirectory()) throw new Error(`API: ${dir} (the directory of agent.api_socket) is not a directory`);
  const uid = process.geteuid?.() ?? 0;
  if (st.uid !== uid && st.uid !== 0) throw new Error(`API: ${dir} (the directory of agent.api_socket) belongs to uid ${st.uid}; it must belong to root or the agent's user`);
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
    throw new Error(`API: ${dir} (the directory of agent.api_socket) is writable by group or others (mode ${(st.mode & 0o7777).toString(8)}), so anyone could replace the socket: chmod go-w ${dir}, or choose another agent.api_socket`);
  }
}

/** A socket file left by an agent that died is removed; one that answers is another agent's. */
async function clearStale(p: string): Promise<void> {
  const st = statOrNull(p);
  if (!st) return;
  if (!st.isSocket()) throw new Error(`API: ${p} exists and is not a socket; remove it or choose another agent.api_socket`);
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new Error(`API: another process serves ${p} (another agent?); give this instance its own agent.api_socket`);
  unlinkSync(p);
}

export async function listenLocalSocket(app: FastifyInstance, opts: LocalSocketOptions): Promise<LocalSocketListener> {
  const file = path.resolve(opts.path);
  const gid = opts.group === undefined ? undefined : resolveGroup(opts.group);
  const mode = gid === undefined ? 0o600 : 0o660;
  ensureDirectory(path.dirname(file), gid);
  await clearStale(file);

  const server = http.createServer((req, res) => app.routing(req, res));
  // the same patience with slow clients as the TCP listener (Fastify's defaults)
  server.keepAliveTimeout = app.server.keepAliveTimeout;
  server.requestTimeout = app.server.requestTimeout;
  server.on('connection', (s: Socket) => accepted.add(s));
  // bind() creates the file with the process umask: make it owner-only from the first instant,
  // so no connect() can slip in between bind and chmod. listen(path) binds synchronously.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(file, () => {
        server.off('error', reject);
        resolve();
      });
      process.umask(umask);
    });
  } catch (err) {
    process.umask(umask);
    throw new Error(`API: cannot listen on ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (gid !== undefined) chownSync(file, -1, gid);
  chmodSync(file, mode);

  let closed = false;
  const closing = new Promise<void>((resolve) => server.once('close', () => resolve()));
  return {
    path: file,
    stopAccepting: () => {
      if (!closed) server.close();
      closed = true;
    },
    close: async () => {
      if (!closed) server.close();
      closed = true;
      server.closeAllConnections();
      await closing;
      try {
        unlinkSync(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    },
  };
}
