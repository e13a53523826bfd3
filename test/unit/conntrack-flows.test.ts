// Flow decoding and listing from raw ct_table dumps (layout from the BTF of the built object),
// the GET /api/v1/conntrack route over such a dump, and the CLI's flag checks and table.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApiServer } from '../../src/api/server.js';
import { conntrackQuery, renderFlows } from '../../src/cli/conntrack.js';
import { UsageError } from '../../src/cli/client.js';
import { CT_ENTRY_SIZE, CT_KEY_SIZE, canonicalIp, countByState, decodeFlow, evictedCount, expiredIndexes, listFlows, type FlowFilter } from '../../src/engines/conntrack/flows.js';
import { conntrackRoutes } from '../../src/engines/conntrack/routes.js';
import { CT_STATES, type CtStateName } from '../../src/engines/conntrack/states.js';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { createLogger } from '../../src/log.js';
import { AgentMetrics } from '../../src/metrics/agent-metrics.js';
import { parseAddress } from '../../src/net/ip.js';
import { ct_flag } from '../../src/kernel/contract.gen.js';

const K = layouts.ct_key.fields;
const E = layouts.ct_entry.fields;
const S = 1_000_000_000n;
const NOW = 1000n * S;

interface Spec {
  a: string;
  pa: number;
  b: string;
  pb: number;
  proto: number;
  state: CtStateName;
  initIsA: boolean;
  flags?: number;
  created?: bigint;
  last?: bigint;
  expires?: bigint;
  packets?: [number, number];
  bytes?: [number, number];
}

function encode(specs: Spec[]): { keys: Buffer; values: Buffer; count: number } {
  const keys = Buffer.alloc(specs.length * CT_KEY_SIZE);
  const values = Buffer.alloc(specs.length * CT_ENTRY_SIZE);
  specs.forEach((s, i) => {
    const ko = i * CT_KEY_SIZE;
    const vo = i * CT_ENTRY_SIZE;
    const a = parseAddress(s.a);
    Buffer.from(a.addr).copy(keys, ko + K.addr_a.offset);
    Buffer.from(parseAddress(s.b).addr).copy(keys, ko + K.addr_b.offset);
    keys.writeUInt16LE(s.pa, ko + K.port_a.offset);
    keys.writeUInt16LE(s.pb, ko + K.port_b.offset);
    keys[ko + K.family.offset] = a.family;
    keys[ko + K.proto.offset] = s.proto;
    values.writeBigUInt64LE(s.created ?? NOW - 10n * S, vo + E.created_ns.offset);
    values.writeBigUInt64LE(s.last ?? NOW - 2n * S, vo + E.last_seen_ns.offset);
    values.writeBigUInt64LE(s.expires ?? NOW + 60n * S, vo + E.expires_ns.offset);
    values.writeBigUInt64LE(BigInt(s.packets?.[0] ?? 0), vo + E.packets.offset);
    values.writeBigUInt64LE(BigInt(s.packets?.[1] ?? 0), vo + E.packets.offset + 8);
    values.writeBigUInt64LE(BigInt(s.bytes?.[0] ?? 0), vo + E.bytes.offset);
    values.writeBigUInt64LE(BigInt(s.bytes?.[1] ?? 0), vo + E.bytes.offset + 8);
    values[vo + E.state.offset] = CT_STATES[s.state];
    values[vo + E.flags.offset] = (s.initIsA ? ct_flag.CT_F_INIT_IS_A : 0) | (s.flags ?? 0);
  });
  return { keys, values, count: specs.length };
}

const TABLE: Spec[] = [
  // IPv4 TCP: the initiator is endpoint b (the higher address)
  { a: '198.18.0.1', pa: 443, b: '198.18.0.9', pb: 40000, proto: 6, state: 'established', initIsA: false, flags: ct_flag.CT_F_SEEN_REPLY | ct_flag.CT_F_ASSURED, packets: [5, 4], bytes: [500, 4000], last: NOW - 1n * S },
  // IPv6 UDP, initiator a
  { a: '2001:db8::1', pa: 5353, b: '2001:db8::2', pb: 53, proto: 17, state: 'udp_unreplied', initIsA: true, packets: [1, 0], last: NOW - 5n * S },
  // ICMP echo, id 7 in both ports
  { a: '198.18.0.1', pa: 7, b: '198.18.0.2', pb: 7, proto: 1, state: 'icmp_replied', initIsA: true, last: NOW - 3n * S },
  // dead: expired a second ago
  { a: '198.18.0.1', pa: 1, b: '198.18.0.3', pb: 2, proto: 6, state: 'time_wait', initIsA: true, expires: NOW - 1n * S },
  // deadline exactly now: dead too
  { a: '2001:db8::5', pa: 1, b: '2001:db8::6', pb: 2, proto: 6, state: 'syn_sent', initIsA: true, expires: NOW },
];

describe('conntrack flows from a table dump', () => {
  const d = encode(TABLE);

  it('decodes endpoints as initiator/responder from the INIT_IS_A flag', () => {
    const f = decodeFlow(d.keys, 0, d.values, 0, NOW);
    assert.deepEqual(f, {
      family: 'ipv4',
      proto: 'tcp',
      state: 'established',
      initiator: { addr: '198.18.0.9', port: 40000 },
      responder: { addr: '198.18.0.1', port: 443 },
      packets: { from_initiator: 5, from_responder: 4 },
      bytes: { from_initiator: 500, from_responder: 4000 },
      seen_reply: true,
      assured: true,
      age_secs: 10,
      idle_secs: 1,
      expires_in_secs: 60,
    });
    const u = decodeFlow(d.keys, CT_KEY_SIZE, d.values, CT_ENTRY_SIZE, NOW);
    assert.deepEqual([u.family, u.proto, u.initiator, u.responder, u.seen_reply], ['ipv6', 'udp', { addr: '2001:db8::1', port: 5353 }, { addr: '2001:db8::2', port: 53 }, false]);
  });

  it('lists live flows only, most recently active first', () => {
    const page = listFlows(d.keys, d.values, d.count, NOW, {}, 100);
    assert.equal(page.total, 3);
    assert.equal(page.matched, 3);
    assert.deepEqual(page.flows.map((f) => f.state), ['established', 'icmp_replied', 'udp_unreplied']);
  });

  it('filters by family, proto, state, ip (either side) and port (either side), then limits', () => {
    const l = (filter: Parameters<typeof listFlows>[4], limit = 100) => listFlows(d.keys, d.values, d.count, NOW, filter, limit);
    assert.deepEqual(l({ family: 'ipv6' }).flows.map((f) => f.proto), ['udp']);
    assert.deepEqual(l({ proto: 'icmp' }).flows.map((f) => f.initiator.port), [7]);
    assert.deepEqual(l({ state: 'established' }).flows.length, 1);
    assert.deepEqual(l({ state: 'time_wait' }).flows.length, 0, 'the dead time_wait entry is absent');
    assert.deepEqual(l({ ip: '198.18.0.9' }).flows.map((f) => f.state), ['established'], 'initiator side');
    assert.deepEqual(l({ ip: '198.18.0.1' }).flows.map((f) => f.state), ['established', 'icmp_replied'], 'responder side');
    assert.deepEqual(l({ ip: canonicalIp('2001:DB8:0::2') }).flows.length, 1);
    assert.deepEqual(l({ port: 443 }).flows.length, 1);
    assert.deepEqual(l({ port: 53, family: 'ipv4' }).flows.length, 0);
    const limited = l({}, 1);
    assert.deepEqual([limited.flows.length, limited.matched, limited.total], [1, 3, 3]);
  });

  it('finds dead entries for the sweep and counts live ones by state', () => {
    assert.deepEqual(expiredIndexes(d.values, d.count, NOW), [3, 4]);
    assert.deepEqual([...countByState(d.values, d.count, NOW)].sort(), [['established', 1], ['icmp_replied', 1], ['udp_unreplied', 1]]);
  });

  it('evictions are what creation, removal and presence do not account for', () => {
    assert.equal(evictedCount(1600, 0, 0, 0, 1024), 576);
    assert.equal(evictedCount(100, 10, 20, 30, 60), 0);
    assert.equal(evictedCount(100, 10, 5, 5, 60), 40);
    assert.equal(evictedCount(0, 10, 0, 0, 12), 0, 'never negative (counters and dump are not one snapshot)');
  });
});

describe('GET /api/v1/conntrack', () => {
  const d = encode(TABLE);
  let running = true;
  let app: FastifyInstance;
  const ready = (async () => {
    const metrics = new AgentMetrics({ version: 't', defaultMetrics: false });
    app = await buildApiServer({
      status: () => ({ programs: [], events: { received: 0, lost: {} } }) as never,
      registry: metrics.registry,
      logger: createLogger({ level: 'silent' }),
      version: 't',
      // the engine's own routes, as the catalog registers them; the engine stands for a running
      // tc-conntrack over this table, and for none once `running` is false
      engineRoutes: [
        {
          program: 'tc-conntrack',
          routes: conntrackRoutes,
          engine: () => (running ? { listFlows: (filter: FlowFilter, limit: number) => listFlows(d.keys, d.values, d.count, NOW, filter, limit) } : undefined),
        },
      ],
    });
  })();
  after(async () => app.close());

  const get = async (qs: string) => {
    await ready;
    const r = await app.inject({ method: 'GET', url: `/api/v1/conntrack${qs}` });
    return { status: r.statusCode, body: JSON.parse(r.body) as Record<string, unknown> & { flows: { state: string }[]; error: { code: string; message: string } } };
  };

  it('returns flows with the filter applied and the counts', async () => {
    const r = await get('?ip=198.18.0.1&limit=1');
    assert.equal(r.status, 200);
    assert.deepEqual([r.body.flows.length, r.body.matched, r.body.total, r.body.limit], [1, 2, 3, 1]);
    assert.equal(r.body.flows[0]!.state, 'established');
    const v6 = await get('?family=ipv6&proto=udp&state=udp_unreplied&port=53');
    assert.deepEqual(v6.body.flows.length, 1);
  });

  it('rejects bad filters with a message naming them', async () => {
    const bad = await get('?ip=198.18.0.300');
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /querystring\/ip: "198\.18\.0\.300" is not a valid IPv4 address/);
    assert.equal((await get('?state=open')).status, 400);
    assert.equal((await get('?limit=10001')).status, 400);
    assert.equal((await get('?port=70000')).status, 400);
    const unknown = await get('?src=1.2.3.4');
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error.message, /unknown key "src"/);
  });

  it('answers 503 while tc-conntrack is not running', async () => {
    running = false;
    try {
      const r = await get('');
      assert.equal(r.status, 503);
      assert.match(r.body.error.message, /connection tracking/);
    } finally {
      running = true;
    }
  });
});

describe('ebpfsentinel conntrack (flags and table)', () => {
  it('turns flags into the query, canonicalising the address', () => {
    assert.deepEqual(conntrackQuery({ state: 'ESTABLISHED', ip: '2001:DB8::0:1', port: '443', limit: '50' }), {
      state: 'established',
      proto: undefined,
      family: undefined,
      ip: '2001:db8::1',
      port: 443,
      limit: 50,
    });
  });

  it('refuses bad flags before sending anything, naming the flag', () => {
    assert.throws(() => conntrackQuery({ state: 'open' }), (e: Error) => e instanceof UsageError && /--state must be one of new, syn_sent/.test(e.message));
    assert.throws(() => conntrackQuery({ ip: 'nope' }), (e: Error) => e instanceof UsageError && /^--ip:/.test(e.message));
    assert.throws(() => conntrackQuery({ port: '65536' }), /--port must be an integer 0-65535/);
    assert.throws(() => conntrackQuery({ limit: '0' }), /--limit must be an integer 1-10000/);
  });

  it('renders one line per flow, initiator first, IPv6 bracketed, ICMP by identifier', () => {
    const page = listFlows(encode(TABLE).keys, encode(TABLE).values, TABLE.length, NOW, {}, 100);
    const out = renderFlows({ ...page, limit: 100 });
    const lines = out.trimEnd().split('\n');
    assert.match(lines[0]!, /^proto\s+state\s+initiator\s+responder/);
    assert.match(out, /tcp\s+established\s+198\.18\.0\.9:40000\s+198\.18\.0\.1:443\s+5\/4\s+500\/4000/);
    assert.match(out, /udp\s+udp_unreplied\s+\[2001:db8::1\]:5353\s+\[2001:db8::2\]:53/);
    assert.match(out, /icmp\s+icmp_replied\s+198\.18\.0\.1 id 7\s+198\.18\.0\.2 id 7/);
    assert.equal(lines.at(-1), '3 shown, 3 matching, 3 tracked');
  });
});
