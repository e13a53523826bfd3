// /api/v1/nat: the live translations (the forward direction of each translated flow): the rule
// that made it, the tuple the flow's first packet carried and what it became, at which hook and
// interface, and its age. Ended flows are never listed.
import { notWired, commonErrors, type EngineRoutes } from '../../http/route-kit.js';

export interface NatTranslation {
  rule: string;
  kind: string;
  family: 'ipv4' | 'ipv6';
  proto: string;
  original: { src: string; sport: number; dst: string; dport: number };
  translated: { src: string; sport: number; dst: string; dport: number };
  hook: 'ingress' | 'egress';
  /** null: any interface of the hook */
  interface: string | null;
  age_secs: number;
}

/** What the route needs from the running NAT engine. */
export interface NatLister {
  listTranslations(limit: number): { translations: NatTranslation[]; total: number } | null;
}

const isLister = (e: unknown): e is NatLister => typeof (e as NatLister | undefined)?.listTranslations === 'function';

const NAT_API_MAX_LIMIT = 10_000;

const tupleSchema = {
  type: 'object',
  required: ['src', 'sport', 'dst', 'dport'],
  properties: { src: { type: 'string' }, sport: { type: 'integer' }, dst: { type: 'string' }, dport: { type: 'integer' } },
  description: 'ports; for ICMP echo the echo identifier in both',
} as const;

const translationSchema = {
  type: 'object',
  required: ['rule', 'kind', 'family', 'proto', 'original', 'translated', 'hook', 'interface', 'age_secs'],
  properties: {
    rule: { type: 'string' },
    kind: { type: 'string', enum: ['snat', 'masquerade', 'dnat', 'nptv6'] },
    family: { type: 'string', enum: ['ipv4', 'ipv6'] },
    proto: { type: 'string' },
    original: tupleSchema,
    translated: tupleSchema,
    hook: { type: 'string', enum: ['ingress', 'egress'] },
    interface: { type: ['string', 'null'] },
    age_secs: { type: 'number' },
  },
} as const;

export const natRoutes: EngineRoutes = async (app, { engine }) => {
  app.get(
    '/nat',
    {
      schema: {
        summary: 'Live NAT translations (tc-nat-ingress, tc-nat-egress)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: NAT_API_MAX_LIMIT, default: 1000 } },
        },
        response: {
          200: {
            type: 'object',
            required: ['translations', 'total', 'limit'],
            properties: {
              translations: { type: 'array', items: translationSchema },
              total: { type: 'integer', description: 'live translated flows' },
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
      if (!isLister(src)) throw notWired('NAT (nat.enabled)');
      const q = req.query as { limit: number };
      const page = src.listTranslations(q.limit);
      if (!page) throw notWired('NAT (nat.enabled)');
      return { ...page, limit: q.limit };
    },
  );
};
