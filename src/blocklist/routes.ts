// /api/v1/blocklist: the dynamic block list (src/blocklist). Operators add and remove addresses
// under their own name (owner api:<actor>); engines' holds are listed beside theirs and can be
// removed by naming the owner. Every change is in the kernel and the store before the answer,
// and in the audit trail whatever its outcome.
import { actorOf, commonErrors, HttpError, notWired, writeErrors, type EngineRoutes } from '../http/route-kit.js';
import type { BlocklistService } from './service.js';
import { BlocklistError, MAX_REASON_LENGTH, MAX_TTL_SECS, type BlockFilter, type BlockScope } from './types.js';

/** What the routes use of the service. */
export type BlocklistApiSource = Pick<BlocklistService, 'list' | 'apiAdd' | 'apiRemove' | 'status'>;

const isSource = (s: unknown): s is BlocklistApiSource => typeof (s as BlocklistApiSource | undefined)?.apiAdd === 'function';

const isoTime = { type: 'string', format: 'date-time' } as const;

/** One owner's hold (BlockOwnerView). */
const ownerView = {
  type: 'object',
  required: ['owner', 'reason', 'created_at', 'updated_at', 'expires_at'],
  additionalProperties: false,
  properties: { owner: { type: 'string' }, reason: { type: 'string' }, created_at: isoTime, updated_at: isoTime, expires_at: { anyOf: [isoTime, { type: 'null' }] } },
} as const;

/** One blocked address or network (BlockView). */
const entryView = {
  type: 'object',
  required: ['cidr', 'family', 'direction', 'id', 'owners', 'expires_at', 'hits'],
  additionalProperties: false,
  properties: {
    cidr: { type: 'string' },
    family: { type: 'integer', enum: [4, 6] },
    direction: { type: 'string', enum: ['src', 'dst'] },
    id: { type: 'integer', minimum: 1, description: 'the id drop alerts carry (signature_id)' },
    owners: { type: 'array', items: ownerView },
    expires_at: { anyOf: [isoTime, { type: 'null' }], description: 'when the last hold expires; null while one is permanent' },
    hits: { type: 'integer', minimum: 0, description: 'packets dropped by this entry since it was inserted' },
  },
} as const;

const cidrText = { type: 'string', minLength: 1, maxLength: 64, description: 'an address (198.18.0.7, 2001:db8::7) or a network (198.18.0.0/24, 2001:db8:1::/64)' } as const;
const direction = { type: 'string', enum: ['src', 'dst'], description: 'which address of a packet is blocked (default src)' } as const;
const owner = { type: 'string', minLength: 1, maxLength: 140, description: 'an engine (e.g. tc-threatintel) or api:<actor>' } as const;

const entryRef = entryView;

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    owner,
    direction,
    family: { type: 'integer', enum: [4, 6] },
    match: { ...cidrText, description: 'entries containing this address, or overlapping this network' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    offset: { type: 'integer', minimum: 0, default: 0 },
  },
} as const;

const addBody = {
  type: 'object',
  required: ['cidr', 'reason'],
  additionalProperties: false,
  properties: {
    cidr: cidrText,
    direction,
    reason: { type: 'string', minLength: 1, maxLength: MAX_REASON_LENGTH },
    // one schema with both types, not anyOf: Ajv's coercion would take 0 for null (permanent)
    ttl_secs: { type: ['integer', 'null'], minimum: 1, maximum: MAX_TTL_SECS, description: 'seconds until it expires; absent or null: until removed' },
  },
} as const;

const deleteQuery = {
  type: 'object',
  required: ['cidr'],
  additionalProperties: false,
  properties: { cidr: cidrText, direction, owner: { ...owner, description: "whose hold to remove; default: every hold of the API's (api:*) on the address" } },
} as const;

const enforcement = {
  enforced: { type: 'boolean', description: 'whether xdp-firewall enforces the list right now' },
  note: { type: 'string' },
} as const;

function asHttp(e: unknown): unknown {
  if (!(e instanceof BlocklistError)) return e;
  switch (e.code) {
    case 'invalid':
      return new HttpError(400, 'VALIDATION_ERROR', e.message);
    case 'full':
      return new HttpError(409, 'BLOCKLIST_FULL', e.message);
    case 'not_found':
      return new HttpError(404, 'NOT_FOUND', e.message);
    default:
      return new HttpError(500, 'APPLY_FAILED', e.message);
  }
}

/** Registered by the composition root with engine() returning the running service. */
export const blocklistRoutes: EngineRoutes = async (app, { engine }) => {
  const service = (): BlocklistApiSource => {
    const s = engine();
    if (!isSource(s)) throw notWired('the block list');
    return s;
  };

  app.get(
    '/blocklist',
    {
      schema: {
        summary: 'Blocked addresses and networks, each with every owner holding it (filters combine)',
        querystring: listQuery,
        response: {
          200: {
            type: 'object',
            required: ['entries', 'total', 'enforced'],
            properties: { entries: { type: 'array', items: entryRef }, total: { type: 'integer', minimum: 0 }, ...enforcement },
          },
          ...commonErrors,
        },
      },
      config: { minRole: 'viewer' },
    },
    async (req) => {
      const q = req.query as BlockFilter;
      const s = service();
      try {
        const page = s.list(q);
        const st = s.status();
        return { ...page, enforced: st.enforced, ...(st.note !== undefined ? { note: st.note } : {}) };
      } catch (e) {
        throw asHttp(e);
      }
    },
  );

  app.post(
    '/blocklist',
    {
      schema: {
        summary: 'Block an address or network in your name (api:<you>); adding it again renews your reason and ttl',
        body: addBody,
        response: {
          200: { type: 'object', required: ['entry', 'created', 'enforced'], properties: { entry: entryRef, created: { type: 'boolean' }, ...enforcement } },
          201: { type: 'object', required: ['entry', 'created', 'enforced'], properties: { entry: entryRef, created: { type: 'boolean' }, ...enforcement } },
          ...writeErrors,
        },
      },
      config: { minRole: 'operator' },
    },
    async (req, reply) => {
      const b = req.body as { cidr: string; direction?: BlockScope; reason: string; ttl_secs?: number | null };
      const s = service();
      try {
        const out = s.apiAdd(actorOf(req), { cidr: b.cidr, reason: b.reason, ...(b.direction ? { direction: b.direction } : {}), ttlSecs: b.ttl_secs ?? null });
        const note = out.enforced ? undefined : s.status().note;
        return reply.code(out.created ? 201 : 200).send({ ...out, ...(note !== undefined ? { note } : {}) });
      } catch (e) {
        throw asHttp(e);
      }
    },
  );

  app.delete(
    '/blocklist',
    {
      schema: {
        summary: "Unblock: remove the API's holds on an address (or one owner's, with owner=); the kernel entry goes with the last hold",
        querystring: deleteQuery,
        response: {
          200: {
            type: 'object',
            required: ['removed', 'remaining'],
            properties: { removed: { type: 'array', items: ownerView }, remaining: { anyOf: [entryRef, { type: 'null' }], description: 'the entry still held by other owners, or null' } },
          },
          ...writeErrors,
        },
      },
      config: { minRole: 'operator' },
    },
    async (req) => {
      const q = req.query as { cidr: string; direction?: BlockScope; owner?: string };
      try {
        return service().apiRemove(actorOf(req), q);
      } catch (e) {
        throw asHttp(e);
      }
    },
  );
};
