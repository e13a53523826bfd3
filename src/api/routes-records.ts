// /api/v1/records/{dns,flow,anomaly,dlp}: the stored records of each kind other than alerts,
// newest first, by time range, engine, IP and the kind's own key (a DNS query name, a flow's
// application protocol, an anomaly's event, a DLP detector and process), with the same keyset
// pages as /alerts. Each record is its EVE JSON line plus the store id.
import type { FastifyPluginAsync } from 'fastify';
import { toEveRecord } from '../alerts/eve.js';
import { STORED_RECORD_KINDS, type StoredRecordKind } from '../alerts/records.js';
import { notWired } from './errors.js';
import { commonErrors, listQuery, listQueryProperties, recordSchemaRef, type ListQueryString } from './schemas.js';
import type { ApiDeps, RecordQuery } from './types.js';

const key = (description: string) => ({ type: 'string', minLength: 1, maxLength: 255, description }) as const;

/** Each kind's own filter: its query-string name and what it matches. */
const KIND_FILTERS: Readonly<Record<StoredRecordKind, { summary: string; filters: Record<string, object> }>> = {
  dns: {
    summary: 'Stored DNS messages (EVE dns v3: one record per request and per response), newest first',
    filters: { rrname: key('the first query name, case-insensitive, trailing dot ignored; "*.example.com" = any name below example.com') },
  },
  flow: {
    summary: 'Stored flow records (EVE flow: a flow that ended or was reported, with its counters), newest first',
    filters: { app_proto: key('application protocol, e.g. dns') },
  },
  anomaly: {
    summary: 'Stored anomalies (EVE anomaly: a packet or message a decoder could not take as valid), newest first',
    filters: { event: key('the anomaly event, e.g. ipv4.trunc_pkt (unnamed codes: "<type>:<code>")') },
  },
  dlp: {
    summary: 'Stored DLP findings (event_type dlp: sensitive data in a process\'s plaintext, redacted), newest first',
    filters: { detector: key('the detector that matched, e.g. credit_card'), pid: { type: 'integer', minimum: 0, description: 'the process id' } },
  },
};

interface ListQuery extends ListQueryString {
  rrname?: string;
  app_proto?: string;
  event?: string;
  detector?: string;
  pid?: number;
}

export const recordRoutes: FastifyPluginAsync<{ deps: ApiDeps }> = async (app, { deps }) => {
  for (const kind of STORED_RECORD_KINDS) {
    const { summary, filters } = KIND_FILTERS[kind];
    app.get(
      `/records/${kind}`,
      {
        schema: {
          summary: `${summary}; follow \`next\` for the next page`,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { ...listQueryProperties, ...filters },
          },
          response: {
            200: {
              type: 'object',
              required: ['records', 'total'],
              properties: { records: { type: 'array', items: recordSchemaRef(kind) }, total: { type: 'integer', minimum: 0 }, next: { type: 'string' } },
            },
            ...commonErrors,
          },
        },
        config: { minRole: 'viewer' },
      },
      async (req) => {
        if (!deps.records) throw notWired('the record store');
        const q = req.query as ListQuery;
        const query: RecordQuery = { kind, ...listQuery(q) };
        const name = q.rrname ?? q.app_proto ?? q.event ?? q.detector;
        if (name !== undefined) query.name = name;
        if (q.pid !== undefined) query.pid = q.pid;
        const page = deps.records.query(query);
        return {
          records: page.records.map((r) => ({ id: r.id, ...toEveRecord(r.record) })),
          total: page.total,
          ...(page.next ? { next: page.next } : {}),
        };
      },
    );
  }
};
