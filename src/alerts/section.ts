// `alerting`: what happens to alerts and the other records (dns, flow, anomaly, dlp) after an
// engine emits them — dedup and throttle (alerts), then one queue per sink: the EVE JSON file
// (always there unless disabled), stdout, and `routes` to webhooks, syslog collectors and OTLP
// log endpoints. `record_kinds` says which kinds a sink takes. Key names follow the public reference
// (dedup_window_secs, throttle_*, routes[] with destination/min_severity/event_types/webhook_*).
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { SEVERITIES, type Severity } from './model.js';
import { RECORD_KINDS, type RecordKind } from './records.js';
import { SYSLOG_FACILITIES, type SyslogFacility } from './sinks/syslog.js';
import { KEY_FIELDS, type KeyField } from './suppress.js';
import { show } from '../config/messages.js';
import { secretMapFrom } from '../config/secret-sources.js';
import { secret } from '../config/secrets.js';
import { defineSection } from '../config/section.js';
import { bool, custom, intIn, keyword, strictObject } from '../config/zod-helpers.js';

const filePath = custom((v, fail): string => {
  if (typeof v !== 'string' || v.trim() === '') fail(`expected a file path; got ${show(v)}`);
  return v as string;
}, { type: 'string', minLength: 1 });

const severity = keyword(Object.fromEntries(SEVERITIES.map((s) => [s, s])) as Record<Severity, Severity>);

const UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3 };

/** Bytes: an integer, or a number with a unit (KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024). */
const byteSize = custom((v, fail): number => {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v) : null;
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    fail(`expected a size in bytes (e.g. 104857600, "100MiB", "500MB"); got ${show(v)}`);
    return 0;
  }
  return Math.floor(Number(m[1]) * unit);
}, { oneOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^\\s*\\d+(\\.\\d+)?\\s*([kKmMgG]i?[bB]?|[bB])?\\s*$' }] });

function keyList(what: string) {
  return custom((v, fail): KeyField[] => {
    if (!Array.isArray(v) || v.length === 0) {
      fail(`expected a non-empty list of ${what} fields (${KEY_FIELDS.join(', ')}); got ${show(v)}`);
      return [];
    }
    const seen = new Set<string>();
    v.forEach((k, i) => {
      if (typeof k !== 'string' || !(KEY_FIELDS as readonly string[]).includes(k)) fail(`expected one of ${KEY_FIELDS.join(' | ')}; got ${show(k)}`, [i]);
      else if (seen.has(k)) fail(`"${k}" is listed twice`, [i]);
      seen.add(String(k));
    });
    return v as KeyField[];
  }, { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...KEY_FIELDS] } });
}

const engineList = custom((v, fail): string[] => {
  if (!Array.isArray(v) || v.length === 0) {
    fail(`expected a non-empty list of engine names (e.g. [firewall, ids]); got ${show(v)}`);
    return [];
  }
  v.forEach((e, i) => {
    if (typeof e !== 'string' || !/^[a-z][a-z0-9_-]*$/.test(e)) fail(`expected an engine name (lower-case word); got ${show(e)}`, [i]);
  });
  return v as string[];
}, { type: 'array', minItems: 1, items: { type: 'string' } });

/** The record kinds a sink takes (every sink can render every kind; this chooses). */
const recordKinds = custom((v, fail): RecordKind[] => {
  if (!Array.isArray(v) || v.length === 0) {
    fail(`expected a non-empty list of record kinds (${RECORD_KINDS.join(', ')}); got ${show(v)}`);
    return [];
  }
  const seen = new Set<string>();
  v.forEach((k, i) => {
    if (typeof k !== 'string' || !(RECORD_KINDS as readonly string[]).includes(k)) fail(`expected one of ${RECORD_KINDS.join(' | ')}; got ${show(k)}`, [i]);
    else if (seen.has(k)) fail(`"${k}" is listed twice`, [i]);
    seen.add(String(k));
  });
  return v as RecordKind[];
}, { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...RECORD_KINDS] } });

const httpUrl = custom((v, fail): string => {
  let u: URL | null = null;
  try {
    u = typeof v === 'string' ? new URL(v) : null;
  } catch {
    u = null;
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) fail(`expected an http:// or https:// URL; got ${show(v)}`);
  else if (u.username || u.password) fail('credentials in the URL would be logged; put them in a header instead');
  return v as string;
}, { type: 'string', format: 'uri' });

// RFC 7230 token characters for header names; values must not smuggle a second header line.
function headerNameProblem(k: string): string | null {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) return `"${k}" is not a valid HTTP header name`;
  if (k.toLowerCase() === 'content-type') return 'Content-Type is set by the sink (application/json) and cannot be overridden';
  return null;
}

function headerValueProblem(val: string): string | null {
  return /[\r\n\0]/.test(val) ? 'header values must not contain CR, LF or NUL' : null;
}

// Every header value is treated as a credential (Authorization, X-Api-Key, a tenant token...):
// the whole map is marked secret, and a value is never echoed in a message.
const headers = secret(
  custom((v, fail): Record<string, string> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      fail(`expected a map of header name to value; got ${show(v)}`);
      return {};
    }
    for (const [k, val] of Object.entries(v)) {
      const p = headerNameProblem(k);
      if (p) fail(p, [k]);
      else if (typeof val !== 'string') fail(`expected a string value; got ${typeof val === 'object' && val !== null ? 'a map or list' : `a ${typeof val}`}`, [k]);
      else if (headerValueProblem(val)) fail(headerValueProblem(val)!, [k]);
    }
    return v as Record<string, string>;
  }, { type: 'object', additionalProperties: { type: 'string' } }),
  'map',
);

/** `<x>_headers_file` / `<x>_headers_env`: header name -> file / variable holding its value. */
const headersFrom = (kind: 'file' | 'env') => secretMapFrom(kind, headerNameProblem);

/** One header map from its three sources; a name given twice (in any letter case) is an error. */
function mergeHeaders(sources: [string, Record<string, string> | undefined][], issue: (path: (string | number)[], message: string) => void): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Map<string, string>();
  for (const [from, map] of sources) {
    for (const [name, value] of Object.entries(map ?? {})) {
      const first = seen.get(name.toLowerCase());
      if (first !== undefined) {
        issue([from, name], `header "${name}" is also given in ${first}; give each header once`);
        continue;
      }
      const p = headerValueProblem(value);
      if (p) {
        issue([from, name], p);
        continue;
      }
      seen.set(name.toLowerCase(), from);
      out[name] = value;
    }
  }
  return out;
}

/** "host:port", "[v6]:port" or "v6-without-port" is refused (ambiguous). */
export function parseHostPort(v: string): { host: string; port: number } | string {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:\s]+):(\d+)$/.exec(v);
  if (!m) return `expected host:port or [IPv6]:port; got ${show(v)}`;
  const host = m[1]!;
  const port = Number(m[2]);
  if (!(port >= 1 && port <= 65535)) return `port must be 1-65535; got ${m[2]}`;
  if (v.startsWith('[') && isIP(host) !== 6) return `"${host}" in brackets is not an IPv6 address`;
  return { host, port };
}

const hostPort = custom((v, fail): { host: string; port: number } => {
  const r = typeof v === 'string' ? parseHostPort(v.trim()) : `expected host:port; got ${show(v)}`;
  if (typeof r === 'string') {
    fail(r);
    return { host: '', port: 0 };
  }
  return r;
}, { type: 'string' });

const DESTINATIONS = { webhook: 'webhook', syslog: 'syslog', otlp: 'otlp', stdout: 'stdout' } as const;
type Destination = (typeof DESTINATIONS)[keyof typeof DESTINATIONS];

const queueSize = intIn(1, 10_000_000, 'a queue size');

const routeShape = strictObject(
  {
    name: custom((v, fail): string => {
      if (typeof v !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(v)) fail(`expected a route name (letters, digits, "_", "-", ".", at most 63); got ${show(v)}`);
      return v as string;
    }, { type: 'string' }),
    destination: keyword(DESTINATIONS, {
      log: 'is not a destination here: alerts always go to the EVE file (alerting.eve); use stdout to print them',
      email: 'is not supported by this version',
    }),
    min_severity: severity.default('low'),
    event_types: engineList.optional(),
    /** a route carries alerts only unless it says more: a pager webhook must not start getting
     * every DNS message the day a DNS engine is enabled */
    record_kinds: recordKinds.default(['alert']),
    queue_size: queueSize.optional(),
    batch_max: intIn(1, 10_000, 'a batch size').optional(),
    timeout_ms: intIn(1, 600_000, 'milliseconds').optional(),
    max_retries: intIn(0, 100, 'a retry count').optional(),
    retry_initial_ms: intIn(1, 3_600_000, 'milliseconds').optional(),
    retry_max_ms: intIn(1, 3_600_000, 'milliseconds').optional(),
    breaker_failures: intIn(1, 1000, 'a failure count').optional(),
    breaker_cooldown_secs: intIn(0, 86_400, 'seconds').optional(),
    webhook_url: httpUrl.optional(),
    webhook_headers: headers.optional(),
    webhook_headers_file: headersFrom('file').optional(),
    webhook_headers_env: headersFrom('env').optional(),
    syslog_address: hostPort.optional(),
    syslog_transport: keyword({ udp: 'udp', tcp: 'tcp' } as const).optional(),
    syslog_facility: keyword(Object.fromEntries(Object.keys(SYSLOG_FACILITIES).map((f) => [f, f])) as Record<SyslogFacility, SyslogFacility>).optional(),
    syslog_app_name: custom((v, fail): string => {
      if (typeof v !== 'string' || !/^[\x21-\x7e]{1,48}$/.test(v)) fail(`expected 1-48 printable ASCII characters without spaces (RFC 5424 APP-NAME); got ${show(v)}`);
      return v as string;
    }, { type: 'string' }).optional(),
    otlp_endpoint: httpUrl.optional(),
    otlp_headers: headers.optional(),
    otlp_headers_file: headersFrom('file').optional(),
    otlp_headers_env: headersFrom('env').optional(),
    otlp_protocol: keyword({ http: 'http', 'http/json': 'http' } as const, { grpc: 'is not supported by this version: use http (OTLP/HTTP JSON, port 4318)' }).optional(),
  },
  { webhook_method: 'webhooks are always POST', email_to: 'email is not supported by this version' },
);

/** Which keys each destination takes besides the common ones. */
const OWN_KEYS: Readonly<Record<Destination, readonly string[]>> = {
  webhook: ['webhook_url', 'webhook_headers', 'webhook_headers_file', 'webhook_headers_env', 'timeout_ms', 'max_retries', 'retry_initial_ms', 'retry_max_ms', 'breaker_failures', 'breaker_cooldown_secs', 'batch_max'],
  otlp: ['otlp_endpoint', 'otlp_headers', 'otlp_headers_file', 'otlp_headers_env', 'otlp_protocol', 'timeout_ms', 'max_retries', 'retry_initial_ms', 'retry_max_ms', 'breaker_failures', 'breaker_cooldown_secs', 'batch_max'],
  syslog: ['syslog_address', 'syslog_transport', 'syslog_facility', 'syslog_app_name', 'timeout_ms', 'max_retries', 'retry_initial_ms', 'retry_max_ms', 'breaker_failures', 'breaker_cooldown_secs', 'batch_max'],
  stdout: ['batch_max'],
};
const REQUIRED: Readonly<Record<Destination, readonly string[]>> = {
  webhook: ['webhook_url'],
  otlp: ['otlp_endpoint'],
  syslog: ['syslog_address'],
  stdout: [],
};
const COMMON = new Set(['name', 'destination', 'min_severity', 'event_types', 'record_kinds', 'queue_size']);

export interface DeliveryPolicy {
  timeoutMs: number;
  maxRetries: number;
  retryInitialMs: number;
  retryMaxMs: number;
  breakerFailures: number;
  breakerCooldownMs: number;
  batchMax: number;
}

interface RouteCommon {
  name: string;
  minSeverity: Severity;
  eventTypes?: string[];
  recordKinds: RecordKind[];
  queueSize: number;
}
export type RouteConfig =
  | (RouteCommon & { destination: 'webhook'; url: string; headers: Record<string, string>; delivery: DeliveryPolicy })
  | (RouteCommon & { destination: 'otlp'; url: string; headers: Record<string, string>; delivery: DeliveryPolicy })
  | (RouteCommon & { destination: 'syslog'; host: string; port: number; transport: 'udp' | 'tcp'; facility: SyslogFacility; appName: string; delivery: DeliveryPolicy })
  | (RouteCommon & { destination: 'stdout'; batchMax: number });

const route = routeShape.transform((r, ctx): RouteConfig => {
  const d = r.destination;
  for (const k of Object.keys(r)) {
    if (!COMMON.has(k) && !OWN_KEYS[d].includes(k) && r[k as keyof typeof r] !== undefined) {
      ctx.addIssue({ code: 'custom', path: [k], message: `"${k}" does not apply to destination ${d} (it takes: ${OWN_KEYS[d].join(', ') || 'nothing else'})` });
    }
  }
  for (const k of REQUIRED[d]) {
    if (r[k as keyof typeof r] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: `destination ${d} needs ${k}` });
  }
  if (r.retry_initial_ms !== undefined && r.retry_max_ms !== undefined && r.retry_initial_ms > r.retry_max_ms) {
    ctx.addIssue({ code: 'custom', path: ['retry_max_ms'], message: `must be >= retry_initial_ms (${r.retry_initial_ms})` });
  }
  const common: RouteCommon = {
    name: r.name,
    minSeverity: r.min_severity,
    ...(r.event_types ? { eventTypes: r.event_types } : {}),
    recordKinds: r.record_kinds,
    queueSize: r.queue_size ?? 10_000,
  };
  const delivery: DeliveryPolicy = {
    timeoutMs: r.timeout_ms ?? 5000,
    maxRetries: r.max_retries ?? 5,
    retryInitialMs: r.retry_initial_ms ?? 500,
    retryMaxMs: r.retry_max_ms ?? 30_000,
    breakerFailures: r.breaker_failures ?? 5,
    breakerCooldownMs: (r.breaker_cooldown_secs ?? 30) * 1000,
    batchMax: r.batch_max ?? (d === 'syslog' ? 100 : 500),
  };
  const issue = (path: (string | number)[], message: string): void => ctx.addIssue({ code: 'custom', path, message });
  switch (d) {
    case 'webhook': {
      const h = mergeHeaders([['webhook_headers', r.webhook_headers], ['webhook_headers_file', r.webhook_headers_file], ['webhook_headers_env', r.webhook_headers_env]], issue);
      return { ...common, destination: d, url: r.webhook_url ?? '', headers: h, delivery };
    }
    case 'otlp': {
      const h = mergeHeaders([['otlp_headers', r.otlp_headers], ['otlp_headers_file', r.otlp_headers_file], ['otlp_headers_env', r.otlp_headers_env]], issue);
      return { ...common, destination: d, url: r.otlp_endpoint ?? '', headers: h, delivery };
    }
    case 'syslog':
      return {
        ...common,
        destination: d,
        host: r.syslog_address?.host ?? '',
        port: r.syslog_address?.port ?? 0,
        transport: r.syslog_transport ?? 'udp',
        facility: r.syslog_facility ?? 'local0',
        appName: r.syslog_app_name ?? 'ebpfsentinel',
        delivery,
      };
    case 'stdout':
      return { ...common, destination: d, batchMax: r.batch_max ?? 500 };
  }
});

// Names are checked even when some route has other problems (`when`), so one run reports all.
const routes = z.array(route).check(
  z.superRefine(
    (list: unknown[], ctx) => {
      if (!Array.isArray(list)) return;
      const seen = new Map<string, number>();
      list.forEach((r, i) => {
        const name = typeof r === 'object' && r !== null ? (r as { name?: unknown }).name : undefined;
        if (typeof name !== 'string') return;
        if (name === 'eve-file' || name === 'stdout') {
          ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `route name "${name}" is reserved for alerting.${name === 'stdout' ? 'stdout' : 'eve'}` });
          return;
        }
        const first = seen.get(name);
        if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `route name "${name}" is already used by routes[${first}]` });
        else seen.set(name, i);
      });
    },
    { when: () => true },
  ),
);

const eveSchema = strictObject({
  enabled: bool().default(true),
  /** relative paths are resolved against the config file's directory by the loader */
  path: filePath.default('/var/log/ebpfsentinel/eve.json'),
  /** rotate when the file would grow past this; 0 = never (leave it to logrotate + SIGHUP) */
  max_size: byteSize.default(100 * 1024 * 1024),
  keep: intIn(0, 1000, 'a count of rotated files').default(5),
  min_severity: severity.default('low'),
  event_types: engineList.optional(),
  /** the EVE log carries every kind, as Suricata's eve.json does */
  record_kinds: recordKinds.default([...RECORD_KINDS]),
  queue_size: queueSize.default(65_536),
});

const stdoutSchema = strictObject({
  enabled: bool().default(false),
  min_severity: severity.default('low'),
  event_types: engineList.optional(),
  record_kinds: recordKinds.default([...RECORD_KINDS]),
  queue_size: queueSize.default(10_000),
});

const secs = (what: string) => intIn(0, 86_400, what);

export const alertingSchema = strictObject(
  {
    /** Community ID v1 seed; must match the seed of the tools you correlate with */
    community_id_seed: intIn(0, 65_535, 'a seed').default(0),
    dedup_window_secs: secs('seconds').default(0),
    dedup_keys: keyList('dedup key').default(['engine', 'rule_id', 'src_ip', 'dst_ip', 'dst_port', 'proto']),
    throttle_window_secs: intIn(1, 86_400, 'seconds').default(300),
    throttle_max: intIn(0, 10_000_000, 'a count').default(0),
    throttle_keys: keyList('throttle key').default(['engine', 'rule_id']),
    eve: eveSchema.prefault({}),
    stdout: stdoutSchema.prefault({}),
    routes: routes.default([]),
  },
  {
    enabled: 'alerting is configured per sink: use alerting.eve.enabled, alerting.stdout.enabled and alerting.routes',
    smtp: 'email is not supported by this version',
    otlp: 'use a route with destination: otlp and otlp_endpoint',
  },
);

export type AlertingConfig = z.output<typeof alertingSchema>;

export const alertingSection = defineSection({
  key: 'alerting',
  schema: alertingSchema,
  reload: 'live',
  description: 'dedup and throttling, the EVE file and other sinks; a reload reopens the sinks that changed',
  resolve(alerting, ctx) {
    alerting.eve.path = path.resolve(ctx.baseDir, alerting.eve.path);
  },
});
