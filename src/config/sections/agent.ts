// `agent`: where the programs attach and how the agent itself runs and is reached.
import path from 'node:path';
import { defineSection } from '../section.js';
import { z } from 'zod';
import { isLoopback, NetParseError, parseAddress } from '../../net/ip.js';
import { show } from '../messages.js';
import { bool, custom, intIn, keyword, strictObject } from '../zod-helpers.js';

/** Linux accepts 1..15 bytes (IFNAMSIZ 16 with the NUL), never "/", ":" or white space, and
 * never "." or "..". */
function interfaceNameProblem(name: string): string | null {
  if (name.length === 0) return 'an interface name must not be empty';
  if (Buffer.byteLength(name) > 15) return `"${name}" is longer than 15 bytes (IFNAMSIZ)`;
  if (name === '.' || name === '..') return `"${name}" is not a valid interface name`;
  if (/[/:\s]/.test(name)) return `"${name}" contains "/", ":" or white space`;
  return null;
}

const interfaces = custom((v, fail): string[] => {
  if (!Array.isArray(v)) {
    fail(`expected a non-empty list of interface names; got ${show(v)}`);
    return [];
  }
  if (v.length === 0) fail('expected at least one interface: the firewall must attach somewhere');
  const seen = new Set<string>();
  v.forEach((n, i) => {
    if (typeof n !== 'string') return fail(`expected an interface name; got ${show(n)}`, [i]);
    const p = interfaceNameProblem(n);
    if (p) return fail(p, [i]);
    if (seen.has(n)) return fail(`interface "${n}" is listed twice`, [i]);
    seen.add(n);
  });
  return v as string[];
});

const bindAddress = custom((v, fail): string => {
  if (typeof v !== 'string') {
    fail(`expected an IP address; got ${show(v)}`);
    return '';
  }
  if (v === 'localhost') return v;
  try {
    parseAddress(v);
  } catch (e) {
    if (!(e instanceof NetParseError)) throw e;
    fail(`expected an IPv4 or IPv6 address (or "localhost"); ${e.message}`);
  }
  return v;
});

/** Loopback test for a validated bind_address. */
export function isLoopbackBind(addr: string): boolean {
  return addr === 'localhost' || isLoopback(parseAddress(addr));
}

const absolutePath = (what: string) =>
  custom((v, fail): string => {
    if (typeof v !== 'string' || !path.isAbsolute(v)) fail(`expected an absolute path for ${what}; got ${show(v)}`);
    else if (v.split('/').includes('..')) fail(`${show(v)} must not contain ".."`);
    return typeof v === 'string' ? path.normalize(v) : '';
  }, { type: 'string', pattern: '^/' });

const ringBufferSize = custom((v, fail): number => {
  const n = v as number;
  if (typeof v !== 'number' || !Number.isInteger(v) || n < 4096 || n > 1 << 30 || (n & (n - 1)) !== 0) {
    fail(`expected a power of two between 4096 and 1073741824 bytes (ring buffers are page-sized powers of two); got ${show(v)}`);
  }
  return n;
});

/** A PEM file for the API's TLS: an absolute path that is checked to exist when the agent starts
 * (the loader stays pure; the server says which file it could not read). */
const tlsSchema = strictObject(
  {
    cert: absolutePath('the TLS certificate (PEM)'),
    key: absolutePath('the TLS private key (PEM)'),
  },
  {
    enabled: 'TLS is on when agent.tls is present; remove the section to serve plain HTTP',
    cert_path: 'use agent.tls.cert',
    key_path: 'use agent.tls.key',
    pq_mode: '',
    allow_tls12: '',
  },
);

/** Per-client budgets (by source IP) over a sliding window: reads (GET, HEAD) and writes (every
 * other method) are counted apart so a dashboard polling status cannot starve an operator's
 * rule change, and a runaway script writing rules cannot starve the dashboard. */
const rateLimitSchema = strictObject(
  {
    enabled: bool().default(true),
    window_seconds: intIn(1, 3600, 'seconds').default(60),
    reads_per_window: intIn(1, 1_000_000, 'requests').default(1200),
    writes_per_window: intIn(1, 1_000_000, 'requests').default(120),
  },
  {
    write_per_second: 'use agent.api_rate_limit.writes_per_window with window_seconds',
    write_burst: 'use agent.api_rate_limit.writes_per_window with window_seconds',
    exempt_loopback: 'every client is limited, loopback included',
  },
);

/** A group for the API socket: a name (resolved when the agent starts) or a numeric gid. */
const groupName = custom((v, fail): string | number => {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 32) return v;
  if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/.test(v)) fail(`expected a group name or a numeric gid; got ${show(v)}`);
  return v as string;
}, { anyOf: [{ type: 'string' }, { type: 'integer', minimum: 0 }] });

const DEFAULT_API_SOCKET = '/run/ebpfsentinel/api.sock';
const DEFAULT_TCP_BIND = '127.0.0.1';

/** Bounds on concurrent alert streams (SSE): each holds a store subscription, a timer and up to
 * 1 MiB of unsent output. */
const sseSchema = strictObject({
  max_streams: intIn(1, 100_000, 'streams').default(64),
  max_streams_per_client: intIn(1, 100_000, 'streams').default(8),
});

export const agentSchema = strictObject(
  {
    interfaces,
    xdp_mode: keyword({ auto: 'auto', native: 'native', generic: 'generic' }, {
      offloaded: 'is not supported by this version (use auto, native or generic)',
      offload: 'is not supported by this version (use auto, native or generic)',
    }).default('auto'),
    /** the API's Unix socket (always served; root-only unless api_socket_group) */
    api_socket: absolutePath('the API socket').default(DEFAULT_API_SOCKET),
    api_socket_group: groupName.optional(),
    /** TCP is off unless a port is set */
    http_port: intIn(0, 65535, 'a TCP port (0 = any free port)').optional(),
    bind_address: bindAddress.optional(),
    allow_unauthenticated_api: bool().default(false),
    tls: tlsSchema.optional(),
    api_rate_limit: rateLimitSchema.prefault({}),
    api_sse: sseSchema.prefault({}),
    swagger_ui: bool().default(true),
    pin_root: absolutePath('the bpffs pin root').default('/sys/fs/bpf/ebpfsentinel'),
    /** what SIGTERM/SIGINT do to the programs: keep them enforcing (pinned, for the next agent
     * to take over) or detach everything and remove the pins */
    on_exit: keyword({ keep: 'keep', detach: 'detach' }).default('keep'),
    log_level: keyword({ error: 'error', warn: 'warn', info: 'info', debug: 'debug', trace: 'trace' }).default('info'),
    log_format: keyword({ json: 'json', text: 'text' }).default('json'),
    ring_buffer_size: ringBufferSize.default(1 << 20),
    metrics_interval_ms: intIn(100, 3_600_000, 'milliseconds').default(1000),
  },
  {
    grpc_port: 'there is no gRPC server',
    metrics_port: 'metrics are served on http_port at /metrics',
    attach_mode: '',
    grpc_reflection: 'there is no gRPC server',
    ebpf_program_dir: '',
    event_workers: '',
    bpf_token: 'use agent.pin_root for the bpffs directory',
  },
);

export type AgentConfig = z.output<typeof agentSchema>;
export type ApiRateLimitConfig = AgentConfig['api_rate_limit'];
export type ApiTlsConfig = NonNullable<AgentConfig['tls']>;

/** Where the API listens on TCP, or null when it does not (no http_port). */
export function tcpListen(agent: Pick<AgentConfig, 'http_port' | 'bind_address'>): { host: string; port: number } | null {
  return agent.http_port === undefined ? null : { host: agent.bind_address ?? DEFAULT_TCP_BIND, port: agent.http_port };
}

/**
 * The TCP interlock. The Unix socket is guarded by its file mode; a TCP port is open to every
 * local user (and, beyond loopback, to other hosts), so the API listens on one only when it
 * authenticates its clients, or when the operator says in so many words that it need not.
 * Needs the auth section, so the root schema calls it; the server checks the same rule again
 * before it listens, and a reload may not switch auth off under a listening port. Returns the
 * problem (and the key it belongs to), or null.
 */
export function apiExposureProblem(agent: Pick<AgentConfig, 'http_port' | 'bind_address' | 'allow_unauthenticated_api' | 'tls'>, authEnabled: boolean): { key: string; message: string } | null {
  const tcp = tcpListen(agent);
  if (!tcp) {
    for (const k of ['bind_address', 'tls'] as const) {
      if (agent[k] !== undefined) return { key: k, message: `applies to the TCP listener, which is off: set agent.http_port too (the API is otherwise served only on agent.api_socket)` };
    }
    return null;
  }
  if (authEnabled || agent.allow_unauthenticated_api) return null;
  const who = isLoopbackBind(tcp.host) ? 'every local user' : 'every host that reaches it';
  return {
    key: 'http_port',
    message: `the API listens on TCP (${tcp.host}:${tcp.port}) only with authentication: set auth.enabled: true with api_keys or jwt, or agent.allow_unauthenticated_api: true to let ${who} call it as admin; without http_port the API is served on the root-only Unix socket agent.api_socket`,
  };
}

export const agentSection = defineSection({
  key: 'agent',
  schema: agentSchema,
  required: true,
  reload: 'restart',
  description: 'interfaces, pin root, API socket and listener, logging: read at start (a reload keeps the running values)',
});
