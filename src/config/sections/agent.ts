// `agent`: where the programs attach and how the agent itself runs and is reached.
import path from 'node:path';
import { z } from 'zod';
import { isLoopback, NetParseError, parseAddress } from '../../net/ip.js';
import { show } from '../messages.js';
import { bool, custom, intIn, keyword, strictObject } from '../zod-helpers.js';

/** Linux accepts 1..15 bytes (IFNAMSIZ 16 with the NUL), never "/", ":" or white space, and
 * never "." or "..". */
export function interfaceNameProblem(name: string): string | null {
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
  });

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

export const agentSchema = strictObject(
  {
    interfaces,
    xdp_mode: keyword({ auto: 'auto', native: 'native', generic: 'generic' }, {
      offloaded: 'is not supported by this version (use auto, native or generic)',
      offload: 'is not supported by this version (use auto, native or generic)',
    }).default('auto'),
    bind_address: bindAddress.default('127.0.0.1'),
    http_port: intIn(0, 65535, 'a TCP port (0 = any free port)').default(8080),
    allow_unauthenticated_api: bool().default(false),
    tls: tlsSchema.optional(),
    api_rate_limit: rateLimitSchema.prefault({}),
    swagger_ui: bool().default(true),
    pin_root: absolutePath('the bpffs pin root').default('/sys/fs/bpf/ebpfsentinel'),
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

/**
 * The loopback interlock: the API is reachable from other hosts only when it authenticates its
 * clients, or when the operator says in so many words that it need not. Needs the auth section,
 * so the root schema calls it; the server checks the same rule again before it listens.
 * Returns the problem, or null.
 */
export function apiExposureProblem(agent: Pick<AgentConfig, 'bind_address' | 'allow_unauthenticated_api'>, authEnabled: boolean): string | null {
  if (authEnabled || agent.allow_unauthenticated_api || isLoopbackBind(agent.bind_address)) return null;
  return `"${agent.bind_address}" is not a loopback address and auth.enabled is not true; enable auth (auth.enabled: true with api_keys or jwt) or set agent.allow_unauthenticated_api: true to expose the API without authentication`;
}
