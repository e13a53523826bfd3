// /api/v1/conntrack: the flows tc-conntrack is tracking, filtered by family, protocol, state,
// address and port (either endpoint), each with both endpoints as initiator/responder, its state
// name, packets and bytes per direction, age and time left. Expired entries are never listed.
import { commonErrors, HttpError, notWired, type EngineRoutes } from '../../http/route-kit.js';
import { canonicalIp, type FlowFilter, type FlowPage } from './flows.js';
import { CT_STATE_NAMES } from './states.js';

/** What the route needs from the running conntrack engine. */
export interface FlowLister {
  listFlows(filter: FlowFilter, limit: number): FlowPage | null;
}

const isLister = (e: unknown): e is FlowLister => typeof (e as FlowLister | undefined)?.listFlows === 'function';

const CT_API_MAX_LIMIT = 10_000;

const endpoint = {
  type: 'object',
  required: ['addr', 'port'],
  properties: { addr: { type: 'string' }, port: { type: 'integer', description: 'TCP/UDP port; for ICMP echo the echo identifier' } },
} as const;
const perDirection = {
  type: 'object',
  required: ['from_initiator', 'from_responder'],
  properties: { from_initiator: { type: 'integer' }, from_responder: { type: 'integer' } },
} as const;

const flowSchema = {
  type: 'object',
  required: ['family', 'proto', 'state', 'initiator', 'responder', 'packets', 'bytes', 'seen_reply', 'assured', 'age_secs', 'idle_secs', 'expires_in_secs'],
  properties: {
    family: { type: 'string', enum: ['ipv4', 'ipv6'] },
    proto: { type: 'string' },
    state: { type: 'string' },
    initiator: endpoint,
    responder: endpoint,
    packets: perDirection,
    bytes: perDirection,
    seen_reply: { type: 'boolean' },
    assured: { type: 'boolean' },
    age_secs: { type: 'number' },
    idle_secs: { type: 'number' },
    expires_in_secs: { type: 'number' },
  },
} as const;

export const conntrackRoutes: EngineRoutes = async (app, { engine }) => {
  app.get(
    '/conntrack',
    {
      schema: {
        summary: 'Tracked flows (tc-conntrack), most recently active first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            family: { type: 'string', enum: ['ipv4', 'ipv6'] },
            proto: { type: 'string', enum: ['tcp', 'udp', 'icmp', 'icmpv6'] },
            state: { type: 'string', enum: [...CT_STATE_NAMES] },
            ip: { type: 'string', minLength: 2, maxLength: 64, description: 'either endpoint' },
            port: { type: 'integer', minimum: 0, maximum: 65535, description: 'either endpoint (echo identifier for ICMP)' },
            limit: { type: 'integer', minimum: 1, maximum: CT_API_MAX_LIMIT, default: 1000 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['flows', 'matched', 'total', 'limit'],
            properties: {
              flows: { type: 'array', items: flowSchema },
              matched: { type: 'integer', description: 'live flows matching the filter, before the limit' },
              total: { type: 'integer', description: 'live flows in the table' },
              limit: { type: 'integer' },
            },
          },
          ...commonErrors,
        },
      },
      config: { minRole: 'viewer' },
    },
    async (req) => {
      const src = engine();
      if (!isLister(src)) throw notWired('connection tracking (conntrack.enabled)');
      const q = req.query as { family?: 'ipv4' | 'ipv6'; proto?: string; state?: string; ip?: string; port?: number; limit: number };
      const filter: FlowFilter = {};
      if (q.family) filter.family = q.family;
      if (q.proto) filter.proto = q.proto;
      if (q.state) filter.state = q.state;
      if (q.port !== undefined) filter.port = q.port;
      if (q.ip !== undefined) {
        try {
          filter.ip = canonicalIp(q.ip);
        } catch (err) {
          throw new HttpError(400, 'VALIDATION_ERROR', `querystring/ip: ${(err as Error).message}`);
        }
      }
      const page = src.listFlows(filter, q.limit);
      if (!page) throw notWired('connection tracking (conntrack.enabled)');
      return { ...page, limit: q.limit };
    },
  );
};
