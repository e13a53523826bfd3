// The HTTP client every CLI subcommand that talks to a running agent uses (status, rules,
// alerts, audit, reload, programs, conntrack). It owns what they share: where the agent is (by
// default its root-only Unix socket, /run/ebpfsentinel/api.sock; --socket / EBPFSENTINEL_SOCKET
// for another one; --api / EBPFSENTINEL_API for a TCP URL), the credential for TCP (--token /
// EBPFSENTINEL_TOKEN, sent as Bearer: API keys and JWTs alike), TLS trust (--cacert /
// EBPFSENTINEL_CACERT), the agent's error shape, and exit codes scripts can rely on:
//   0 success · 1 the API answered with an error (4xx/5xx; its message on stderr)
//   2 usage (bad flags or input, before anything is sent) · 3 cannot connect to the agent
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Command } from 'commander';

const EXIT_OK = 0;
const EXIT_API_ERROR = 1;
const EXIT_USAGE = 2;
const EXIT_CONNECT = 3;

const DEFAULT_SOCKET = '/run/ebpfsentinel/api.sock';
/** an example TCP URL for messages (TCP is off unless the agent sets agent.http_port) */
const EXAMPLE_API = 'https://127.0.0.1:8443';
const OUTPUT_FORMATS = ['table', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The API answered with an error; `status` is the HTTP status, `code` the API's error code. */
class ApiResponseError extends Error {
  override name = 'ApiResponseError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** No answer at all: refused, unreachable, TLS failure, timeout. */
export class ConnectError extends Error {
  override name = 'ConnectError';
}

/** Bad flags or input, found before anything was sent. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ClientOptions {
  /** a TCP base URL (http or https); without it, `socket` */
  api?: string;
  /** the agent's Unix socket; used when `api` is absent */
  socket?: string;
  token?: string;
  /** PEM file of the CA (or self-signed cert) that signed the agent's certificate */
  cacert?: string;
  timeoutMs?: number;
}

/** The flags every client subcommand takes, as commander parses them. */
export interface CommonFlags {
  api?: string;
  socket?: string;
  token?: string;
  cacert?: string;
  output?: string;
}

/** Adds --socket, --api, --token, --cacert and --output to a client subcommand. */
export function clientFlags(cmd: Command): Command {
  return cmd
    .option('--socket <path>', `the agent's API socket (env EBPFSENTINEL_SOCKET; default ${DEFAULT_SOCKET}); root-only unless agent.api_socket_group`)
    .option('--api <url>', `the agent's TCP API instead of the socket, e.g. ${EXAMPLE_API} (env EBPFSENTINEL_API)`)
    .option('--token <token>', 'API key or JWT, sent as "Authorization: Bearer" (env EBPFSENTINEL_TOKEN)')
    .option('--cacert <file>', 'PEM certificate to trust for an https API (env EBPFSENTINEL_CACERT)')
    .option('-o, --output <format>', 'table or json', 'table');
}

export function outputFormat(flags: CommonFlags): OutputFormat {
  const f = flags.output ?? 'table';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(f)) throw new UsageError(`--output must be table or json; got "${f}"`);
  return f as OutputFormat;
}

export function clientOptions(flags: CommonFlags, env: NodeJS.ProcessEnv = process.env): ClientOptions {
  if (flags.socket !== undefined && flags.api !== undefined) throw new UsageError('--socket and --api name two ways to the agent: give one');
  // a flag wins over both variables; --socket over EBPFSENTINEL_API too
  const api = flags.socket !== undefined ? undefined : (flags.api ?? (env.EBPFSENTINEL_SOCKET ? undefined : env.EBPFSENTINEL_API));
  const opts: ClientOptions = {};
  if (api !== undefined && api !== '') {
    let url: URL;
    try {
      url = new URL(api);
    } catch {
      throw new UsageError(`--api: "${api}" is not a URL (expected e.g. ${EXAMPLE_API})`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--api: "${api}" must be an http:// or https:// URL`);
    opts.api = api.replace(/\/+$/, '');
  } else {
    opts.socket = flags.socket ?? (env.EBPFSENTINEL_SOCKET || DEFAULT_SOCKET);
  }
  const token = flags.token ?? env.EBPFSENTINEL_TOKEN;
  if (token) opts.token = token;
  const cacert = flags.cacert ?? env.EBPFSENTINEL_CACERT;
  if (cacert) opts.cacert = cacert;
  return opts;
}

export type Query = Record<string, string | number | boolean | undefined>;

function withQuery(path: string, query: Query = {}): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export class SentinelClient {
  private readonly base: URL;
  private readonly ca: Buffer | undefined;
  /** where the agent is, for messages: the URL or "unix:<path>" */
  readonly where: string;

  constructor(readonly opts: ClientOptions) {
    // over the socket, URLs are built on a placeholder host: only the path is sent
    this.base = new URL(opts.api ?? 'http://localhost');
    this.where = opts.api ?? `unix:${opts.socket ?? DEFAULT_SOCKET}`;
    if (opts.cacert) {
      try {
        this.ca = readFileSync(opts.cacert);
      } catch (err) {
        throw new UsageError(`--cacert: cannot read ${opts.cacert}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
  }

  private url(path: string): URL {
    return new URL(this.base.pathname.replace(/\/$/, '') + path, this.base);
  }

  /** Opens a request; the caller reads the response. Connection failures become ConnectError. */
  open(method: string, path: string, opts: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<http.IncomingMessage> {
    const url = this.url(path);
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const lib = url.protocol === 'https:' ? https : http;
    const socketPath = this.opts.api === undefined ? (this.opts.socket ?? DEFAULT_SOCKET) : undefined;
    return new Promise((resolve, reject) => {
      const req = socketPath
        ? http.request({ socketPath, path: `${url.pathname}${url.search}`, method, headers }, resolve)
        : lib.request(url, { method, headers, ...(this.ca ? { ca: this.ca } : {}) }, resolve);
      const timeout = opts.timeoutMs ?? this.opts.timeoutMs ?? 30_000;
      if (timeout > 0) {
        req.setTimeout(timeout, () => req.destroy(Object.assign(new Error(`no answer within ${timeout} ms`), { code: 'ETIMEDOUT' })));
      }
      req.on('error', (err: NodeJS.ErrnoException) => {
        const hint = socketPath && err.code === 'EACCES' ? ` (the API socket admits root only, or members of agent.api_socket_group; run as root, or use --api with a token if the agent listens on TCP)` : socketPath && err.code === 'ENOENT' ? ' (is the agent running? its socket is agent.api_socket)' : '';
        reject(new ConnectError(`cannot reach the agent at ${this.where} (${method} ${url.pathname}): ${err.code ?? ''}${err.code ? ' ' : ''}${err.message}${hint}`));
      });
      req.end(payload);
    });
  }

  private async raw(method: string, path: string, body?: unknown): Promise<RawResponse> {
    const res = await this.open(method, path, { body });
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
  }

  /** JSON in, JSON out; any non-2xx is an ApiResponseError carrying the API's code and message. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.raw(method, path, body);
    if (r.status < 200 || r.status >= 300) throw apiErrorOf(r);
    if (r.status === 204 || r.body === '') return undefined as T;
    try {
      return JSON.parse(r.body) as T;
    } catch {
      throw new ApiResponseError(r.status, 'BAD_RESPONSE', `the agent answered ${method} ${path} with something that is not JSON`);
    }
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', withQuery(path, query));
  }
}

export function apiErrorOf(r: { status: number; body: string }): ApiResponseError {
  try {
    const e = (JSON.parse(r.body) as { error?: { code?: unknown; message?: unknown } }).error;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') return new ApiResponseError(r.status, e.code, e.message);
  } catch {
    // not our error shape (a proxy in between?): say what arrived
  }
  return new ApiResponseError(r.status, `HTTP_${r.status}`, `HTTP ${r.status}: ${r.body.slice(0, 200) || '(empty body)'}`);
}

/** Runs a client subcommand and turns its outcome into an exit code and a stderr line. */
export async function runClient(name: string, fn: () => Promise<void>): Promise<number> {
  try {
    await fn();
    return EXIT_OK;
  } catch (err) {
    if (err instanceof ApiResponseError) {
      process.stderr.write(`ebpfsentinel ${name}: ${err.code} (HTTP ${err.status}): ${err.message}\n`);
      return EXIT_API_ERROR;
    }
    if (err instanceof ConnectError) {
      process.stderr.write(`ebpfsentinel ${name}: ${err.message}\n`);
      return EXIT_CONNECT;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`ebpfsentinel ${name}: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

/** A plain text table: header, dashes, rows; numbers right-aligned where asked. */
export function renderTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>, right: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}
