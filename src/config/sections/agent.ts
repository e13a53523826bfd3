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
    swagger_ui: '',
    grpc_reflection: 'there is no gRPC server',
    ebpf_program_dir: '',
    event_workers: '',
    bpf_token: 'use agent.pin_root for the bpffs directory',
    api_rate_limit: '',
    tls: '',
  },
).superRefine((a, ctx) => {
  // The API has no authentication yet: exposing it beyond this host must be a deliberate choice.
  if (!a.allow_unauthenticated_api && !isLoopbackBind(a.bind_address)) {
    ctx.addIssue({
      code: 'custom',
      path: ['bind_address'],
      message: `"${a.bind_address}" is not a loopback address and the API has no authentication; set agent.allow_unauthenticated_api: true to expose it anyway`,
    });
  }
});

export type AgentConfig = z.output<typeof agentSchema>;
