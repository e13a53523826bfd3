// JSON Schemas of every route's input and output. Fastify validates input against them and
// serializes output through them (fields not in a schema never leak out); docs/api.md
// describes the same shapes.
import { RELOAD_TRIGGERS } from '../control/types.js';
import { commonErrors } from '../http/route-kit.js';
import { ATTACH_MODES, HOOKS } from '../status/types.js';

export { commonErrors, writeErrors } from '../http/route-kit.js';

const errorSchema = {
  $id: 'ApiError',
  type: 'object',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;


const emptyQuery = { type: 'object', additionalProperties: false, properties: {} } as const;

export const healthzSchema = {
  querystring: emptyQuery,
  response: {
    200: {
      type: 'object',
      required: ['status'],
      properties: { status: { type: 'string', enum: ['ok'] } },
    },
    ...commonErrors,
  },
} as const;

export const readyzSchema = {
  querystring: emptyQuery,
  response: {
    200: {
      type: 'object',
      required: ['status'],
      properties: { status: { type: 'string', enum: ['ready'] } },
    },
    ...commonErrors,
    503: {
      type: 'object',
      required: ['status', 'reasons'],
      properties: {
        status: { type: 'string', enum: ['not_ready'] },
        reasons: { type: 'array', items: { type: 'string' } },
      },
    },
  },
} as const;

export const metricsSchema = {
  querystring: emptyQuery,
  response: { 200: { type: 'string' }, ...commonErrors },
} as const;

const count = { type: 'integer', minimum: 0 } as const;

const attachmentSchema = {
  type: 'object',
  description: 'an interface target (interface, ifindex) or a probe target (binary, symbol, pid)',
  required: ['hook', 'mode', 'attached'],
  properties: {
    interface: { type: 'string' },
    ifindex: count,
    binary: { type: 'string' },
    symbol: { type: 'string' },
    pid: { type: 'integer', minimum: 1 },
    hook: { type: 'string', enum: [...HOOKS] },
    mode: { type: 'string', enum: [...ATTACH_MODES] },
    attached: { type: 'boolean' },
    rank: { type: 'integer', minimum: 1 },
    error: { type: 'string' },
    adopted: { type: 'boolean', description: 'taken over from a previous agent, its program replaced in place' },
    prog_id: { type: 'integer', minimum: 1, description: 'kernel id of the program the hook runs' },
  },
} as const;

const mapSchema = {
  type: 'object',
  required: ['name', 'type', 'max_entries', 'entries', 'fill_ratio'],
  properties: {
    name: { type: 'string' },
    type: { type: 'string' },
    max_entries: count,
    entries: count,
    fill_ratio: { type: 'number', minimum: 0 },
  },
} as const;

const programSchema = {
  type: 'object',
  required: ['name', 'loaded', 'attachments', 'maps', 'counters'],
  properties: {
    name: { type: 'string' },
    loaded: { type: 'boolean' },
    attachments: { type: 'array', items: attachmentSchema },
    maps: { type: 'array', items: mapSchema },
    counters: {
      type: 'object',
      required: ['seen', 'passed', 'dropped', 'malformed', 'events', 'events_lost'],
      properties: {
        seen: count,
        passed: count,
        dropped: count,
        malformed: count,
        events: count,
        events_lost: count,
      },
    },
    stats: { type: 'object', additionalProperties: count },
    syn_cookies: {
      type: 'object',
      required: ['enabled', 'path', 'reason', 'sysctl_changes', 'request_sockets_created', 'request_sockets_refused'],
      properties: {
        enabled: { type: 'boolean' },
        path: { type: ['string', 'null'], enum: ['agent', 'kernel', null] },
        reason: { type: 'string' },
        sysctl_changes: {
          type: 'array',
          items: {
            type: 'object',
            required: ['sysctl', 'from', 'to'],
            properties: { sysctl: { type: 'string' }, from: { type: 'integer' }, to: { type: 'integer' } },
          },
        },
        request_sockets_created: count,
        request_sockets_refused: count,
      },
    },
    adoption: {
      type: 'object',
      description: 'what this program took over from the agent that ran before on the same pin root',
      required: ['adopted', 'object_changed', 'links_adopted', 'maps_kept', 'maps_fresh'],
      properties: {
        adopted: { type: 'boolean' },
        object_changed: { type: 'boolean' },
        links_adopted: count,
        maps_kept: { type: 'array', items: { type: 'string' } },
        maps_fresh: {
          type: 'array',
          items: { type: 'object', required: ['name', 'reason'], properties: { name: { type: 'string' }, reason: { type: 'string' } } },
        },
      },
    },
  },
} as const;

const countMap = { type: 'object', additionalProperties: count } as const;

/** AgentStatus.blocklist (src/status/types.ts BlocklistStatus) */
const blocklistStatusSchema = {
  type: 'object',
  required: ['enforced', 'entries', 'max_entries', 'addresses', 'by_owner', 'expired', 'refused', 'event_sample_every'],
  properties: {
    enforced: { type: 'boolean' },
    note: { type: 'string' },
    entries: count,
    max_entries: count,
    addresses: { type: 'object', required: ['ipv4', 'ipv6'], properties: { ipv4: count, ipv6: count } },
    by_owner: countMap,
    expired: count,
    refused: countMap,
    event_sample_every: count,
  },
} as const;

export const statusSchema = {
  querystring: emptyQuery,
  response: {
    200: {
      type: 'object',
      required: ['version', 'uptime_seconds', 'state', 'programs', 'events', 'config'],
      properties: {
        version: { type: 'string' },
        uptime_seconds: { type: 'number', minimum: 0 },
        state: { type: 'string', enum: ['starting', 'running', 'stopping'] },
        programs: { type: 'array', items: programSchema },
        events: {
          type: 'object',
          required: ['received', 'lost'],
          properties: {
            received: count,
            lost: { type: 'object', additionalProperties: count },
          },
        },
        config: {
          type: 'object',
          required: ['path', 'loaded_at'],
          properties: {
            path: { type: ['string', 'null'] },
            loaded_at: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        last_reload: { anyOf: [{ $ref: 'ReloadOutcome#' }, { type: 'null' }] },
        blocklist: blocklistStatusSchema,
      },
    },
    ...commonErrors,
  },
} as const;


const anyObject = { type: 'object', additionalProperties: true } as const;
const isoTime = { type: 'string', format: 'date-time' } as const;

const reloadOutcomeSchema = {
  $id: 'ReloadOutcome',
  type: 'object',
  required: ['ok', 'trigger', 'actor', 'at', 'generation'],
  properties: {
    ok: { type: 'boolean' },
    trigger: { type: 'string', enum: [...RELOAD_TRIGGERS] },
    actor: { type: 'string' },
    at: isoTime,
    generation: count,
    error: { type: 'string' },
    issues: {
      type: 'array',
      items: {
        type: 'object',
        required: ['file', 'path', 'line', 'column', 'message'],
        properties: { file: { type: 'string' }, path: { type: 'string' }, line: count, column: count, message: { type: 'string' } },
      },
    },
    applied: {
      type: 'array',
      items: {
        type: 'object',
        required: ['program', 'action'],
        properties: {
          program: { type: 'string' },
          action: { type: 'string', enum: ['started', 'stopped', 'updated', 'unchanged'] },
          summary: anyObject,
        },
      },
    },
    coalesced: count,
  },
} as const;

export const programNameSchema = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,63}$' } as const;

const programViewSchema = {
  $id: 'ProgramView',
  type: 'object',
  required: ['name', 'enabled', 'status'],
  properties: {
    name: { type: 'string' },
    enabled: { type: 'boolean' },
    override: { type: 'string', enum: ['enabled', 'disabled'] },
    status: { anyOf: [programSchema, { type: 'null' }] },
  },
} as const;

export const ruleIdSchema = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' } as const;

const ruleViewSchema = {
  $id: 'FirewallRuleView',
  type: 'object',
  required: ['id', 'source', 'rule'],
  properties: {
    id: { type: 'string' },
    source: { type: 'string', enum: ['file', 'api'] },
    rule: { ...anyObject, description: 'the rule in its config-file shape (docs/configuration.md, firewall.rules[])' },
    created_at: isoTime,
    updated_at: isoTime,
    actor: { type: 'string' },
  },
} as const;

/** A rule in the config file's shape. Checked in full by the same validator as the file (the
 * control plane), so the message names the key exactly as a config error would. */
export const ruleInputSchema = {
  type: 'object',
  additionalProperties: true,
  description: 'a firewall rule exactly as under firewall.rules[] in the config file (id, priority, action, protocol, src_ip, dst_ip, src_port, dst_port, ...)',
} as const;

/** The query keys every stored list takes (alerts and each record kind): a time range, the
 * engine, an address, and pages (keyset cursor or offset). */
const MAX_LIST_PAGE = 1000;
export const listQueryProperties = {
  from: { ...isoTime, description: 'inclusive lower bound (ISO 8601)' },
  to: { ...isoTime, description: 'exclusive upper bound (ISO 8601)' },
  engine: { type: 'string', minLength: 1, maxLength: 64 },
  ip: { type: 'string', minLength: 2, maxLength: 45, description: 'source or destination, IPv4 or IPv6' },
  limit: { type: 'integer', minimum: 1, maximum: MAX_LIST_PAGE, default: 100 },
  cursor: { type: 'string', minLength: 1, maxLength: 256, description: '`next` of the previous page of this list' },
  offset: { type: 'integer', minimum: 0, description: 'ignored when cursor is given' },
} as const;

export interface ListQueryString {
  from?: string;
  to?: string;
  engine?: string;
  ip?: string;
  limit: number;
  cursor?: string;
  offset?: number;
}

/** The store's side of those keys (only the ones given). */
export function listQuery(q: ListQueryString): { from?: Date; to?: Date; engine?: string; ip?: string; limit: number; cursor?: string; offset?: number } {
  return {
    limit: q.limit,
    ...(q.from ? { from: new Date(q.from) } : {}),
    ...(q.to ? { to: new Date(q.to) } : {}),
    ...(q.engine ? { engine: q.engine } : {}),
    ...(q.ip ? { ip: q.ip } : {}),
    ...(q.cursor ? { cursor: q.cursor } : {}),
    ...(q.offset !== undefined ? { offset: q.offset } : {}),
  };
}

/** What every EVE record starts with (the 5-tuple ones only when the record has a flow). */
const eveHeader = {
  id: { type: 'integer', minimum: 1, description: 'the store id' },
  timestamp: { type: 'string', description: 'Suricata\'s spelling: 2026-11-26T14:00:00.123456+0000' },
  flow_id: { type: 'integer' },
  in_iface: { type: 'string' },
  vlan: { type: 'array', items: { type: 'integer' } },
  src_ip: { type: 'string' },
  src_port: { type: 'integer' },
  dest_ip: { type: 'string' },
  dest_port: { type: 'integer' },
  ip_v: { type: 'integer', enum: [4, 6] },
  proto: { type: 'string' },
  icmp_type: { type: 'integer' },
  icmp_code: { type: 'integer' },
  community_id: { type: 'string' },
  ebpfsentinel: { ...anyObject, description: 'what is ours: engine, program, and per kind the fields Suricata has no place for' },
} as const;

const alertRecordSchema = {
  $id: 'AlertRecord',
  type: 'object',
  description: 'a Suricata EVE alert record plus the store id; the 5-tuple fields are absent for an alert about a process (ebpfsentinel.process), not a packet',
  required: ['id', 'timestamp', 'event_type', 'alert'],
  additionalProperties: true,
  properties: {
    ...eveHeader,
    event_type: { type: 'string', enum: ['alert'] },
    alert: anyObject,
  },
} as const;

const dnsRecordSchema = {
  $id: 'DnsRecord',
  type: 'object',
  description: 'a Suricata EVE dns record (version 3) plus the store id',
  required: ['id', 'timestamp', 'event_type', 'src_ip', 'dest_ip', 'proto', 'dns'],
  additionalProperties: true,
  properties: { ...eveHeader, event_type: { type: 'string', enum: ['dns'] }, dns: anyObject },
} as const;

const flowRecordSchema = {
  $id: 'FlowRecord',
  type: 'object',
  description: 'a Suricata EVE flow record plus the store id',
  required: ['id', 'timestamp', 'event_type', 'src_ip', 'dest_ip', 'proto', 'flow'],
  additionalProperties: true,
  properties: { ...eveHeader, event_type: { type: 'string', enum: ['flow'] }, app_proto: { type: 'string' }, flow: anyObject, tcp: anyObject },
} as const;

const anomalyRecordSchema = {
  $id: 'AnomalyRecord',
  type: 'object',
  description: 'a Suricata EVE anomaly record plus the store id; the 5-tuple fields are absent when the packet was too broken to have one',
  required: ['id', 'timestamp', 'event_type', 'anomaly'],
  additionalProperties: true,
  properties: { ...eveHeader, event_type: { type: 'string', enum: ['anomaly'] }, anomaly: anyObject },
} as const;

const dlpRecordSchema = {
  $id: 'DlpRecord',
  type: 'object',
  description: 'a DLP finding as an EVE record (event_type dlp; Suricata has none, so the body is ebpfsentinel.dlp, beside ebpfsentinel.process) plus the store id; the 5-tuple fields only when the call was tied to a connection',
  required: ['id', 'timestamp', 'event_type', 'ebpfsentinel'],
  additionalProperties: true,
  properties: { ...eveHeader, event_type: { type: 'string', enum: ['dlp'] } },
} as const;

const RECORD_SCHEMA_IDS = { dns: 'DnsRecord', flow: 'FlowRecord', anomaly: 'AnomalyRecord', dlp: 'DlpRecord' } as const;

/** The shared schema of one stored kind's items. */
export function recordSchemaRef(kind: keyof typeof RECORD_SCHEMA_IDS): { $ref: string } {
  return { $ref: `${RECORD_SCHEMA_IDS[kind]}#` };
}

export const SHARED_SCHEMAS = [errorSchema, reloadOutcomeSchema, programViewSchema, ruleViewSchema, alertRecordSchema, dnsRecordSchema, flowRecordSchema, anomalyRecordSchema, dlpRecordSchema] as const;
