// The EVE line writer (src/alerts/eve-line.ts) writes each record's JSON text in one pass,
// without the object tree. Its output must be the very bytes of the object path it replaced,
// JSON.stringify(toEveRecord(r)) + "\n": checked here over seeded random records of every kind,
// with odd strings (quotes, backslashes, control characters, non-ASCII, surrogate pairs, lone
// surrogates), optional fields on and off, IPv4, IPv6 and ICMP flows, and a sample validated
// against Suricata's schema. The EVE file sink encodes the same lines into one buffer per batch
// (line-buffer.ts): the file's bytes are checked against them too.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { createAlertPipeline } from '../../src/alerts/build.js';
import { EveLineWriter, EveRenderer, jsonString, toEveLine } from '../../src/alerts/eve-line.js';
import { toEveRecord } from '../../src/alerts/eve.js';
import { LineBuffer } from '../../src/alerts/line-buffer.js';
import { SEVERITIES, type Alert, type FlowTuple, type ProcessRef, type RecordBase } from '../../src/alerts/model.js';
import {
  redactMatch,
  RECORD_KINDS,
  type AnomalyEvent,
  type AnomalyRecord,
  type DlpRecord,
  type DnsMessage,
  type DnsRecord,
  type DnsResourceRecord,
  type FlowRecord,
  type RecordKind,
  type SentinelRecord,
} from '../../src/alerts/records.js';
import { alertingSchema } from '../../src/alerts/section.js';
import { appendChildAlert } from '../support/eve-append-child.js';
import { suricataEveValidator } from '../support/eve-schema.js';
import { prng, Rand } from '../support/firewall-random.js';

const SEED = 0x5eed_e7e1;

/** Strings a policy, a packet or a process may put in a record, and the ones JSON must escape. */
const ODD = [
  '',
  'plain words',
  'quote " inside',
  'back\\slash',
  'tab\tnew\nline\rcr',
  '\u0000nul and \u001f unit separator',
  'DEL \u007f stays',
  'café, Grüße, 日本語',
  'emoji 🛡️ pair',
  'lone high \ud800 surrogate',
  'lone low \udc00 surrogate',
  'reversed \udc00\ud800 pair',
  'line sep \u2028 para sep \u2029',
  '</script><!--',
  '{"json":"inside"}',
] as const;

function oddString(r: Rand): string {
  if (r.chance(0.5)) return r.pick(ODD);
  // random code units, lone surrogates included
  let s = '';
  const n = r.int(0, 24);
  for (let i = 0; i < n; i++) s += String.fromCharCode(r.chance(0.7) ? r.int(0x20, 0x7e) : r.int(0, 0xffff));
  return s;
}

function word(r: Rand): string {
  return r.chance(0.8) ? r.pick(['firewall', 'xdp-firewall', 'rule', 'default', 'Firewall policy', 'medium']) : oddString(r);
}

function u16(r: Rand): number {
  return r.pick([0, 1, 53, 443, 65535, r.int(0, 65535)]);
}

/** Whether numbers stay what the engines put there (non-negative integers): Suricata's schema
 * takes only those, and the schema test draws records that way. */
let integersOnly = false;

/** Numbers of every spelling JSON has for them: small and large integers, negatives,
 * fractions, and the ones JSON writes as null. */
function anyNumber(r: Rand): number {
  if (integersOnly) return r.pick([0, 1, 42, 65535, 2 ** 31, 2 ** 53 - 1, r.int(0, 1e9)]);
  return r.pick([0, -0, 1, 42, 65535, 2 ** 31, 2 ** 53 - 1, 2 ** 53 + 2, 1e21, 1.5, -7, 0.1, 1e-7, Number.NaN, Number.POSITIVE_INFINITY, r.int(0, 1e9)]);
}

function count(r: Rand): number {
  return r.chance(0.8) ? r.int(0, 2 ** 40) : anyNumber(r);
}

function address(r: Rand, family: 4 | 6): string {
  if (family === 4) return `198.${r.int(18, 19)}.${r.int(0, 255)}.${r.int(0, 255)}`;
  return r.pick([`2001:db8::${r.int(0, 0xffff).toString(16)}`, `2001:db8:${r.int(0, 0xffff).toString(16)}::1:${r.int(1, 0xffff).toString(16)}`, '2001:db8::ffff:198.18.0.1']);
}

function flowTuple(r: Rand): FlowTuple {
  const family = r.chance(0.5) ? 4 : 6;
  const proto = r.pick(family === 4 ? [6, 17, 1, 132, 47] : [6, 17, 58, 132]);
  const f: FlowTuple = { srcIp: address(r, family), dstIp: address(r, family), proto };
  if (proto === 1 || proto === 58) {
    if (r.chance(0.9)) f.icmpType = r.int(0, 255);
    if (r.chance(0.9)) f.icmpCode = r.int(0, 255);
  } else if (r.chance(0.95)) {
    f.srcPort = u16(r);
    f.dstPort = u16(r);
  }
  return f;
}

function base(r: Rand): Omit<RecordBase, 'communityId'> & { communityId?: string } {
  const b: RecordBase = {
    // within the same second as the last record, or anywhere from 1970 to 2100
    timestampNs: r.chance(0.5) ? 1_764_000_000_000_000_000n + BigInt(r.int(0, 999_999_999)) : BigInt(r.int(0, 4_102_444_800)) * 1_000_000_000n + BigInt(r.int(0, 999_999_999)),
    engine: word(r),
    program: word(r),
  };
  if (r.chance(0.5)) b.interface = r.chance(0.7) ? `sn-veth${r.int(0, 9)}` : oddString(r);
  if (r.chance(0.2)) b.vlan = r.chance(0.5) ? [r.int(1, 4094)] : [r.int(1, 4094), r.int(1, 4094)];
  if (r.chance(0.1)) b.communityId = r.chance(0.5) ? '1:LQU9qZlK+B5F3KDmev6m5PMibrg=' : oddString(r);
  return b;
}

function processRef(r: Rand): ProcessRef {
  const p: ProcessRef = { pid: r.int(1, 4_194_304), tid: r.int(1, 4_194_304), comm: oddString(r).slice(0, 15), cgroupId: r.chance(0.5) ? BigInt(r.int(1, 1e6)) : 2n ** 60n + BigInt(r.int(0, 1e6)) };
  if (r.chance(0.5)) p.exe = r.chance(0.5) ? '/usr/bin/curl' : oddString(r);
  return p;
}

function alert(r: Rand): Alert {
  const a: Alert = {
    kind: 'alert',
    ...base(r),
    severity: r.pick(SEVERITIES),
    ruleId: word(r),
    ruleName: r.chance(0.5) ? `ebpfsentinel firewall deny: ${oddString(r)}` : oddString(r),
    signatureId: r.chance(0.9) ? r.int(0, 100_000) : anyNumber(r),
    action: r.pick(['allowed', 'blocked'] as const),
    reason: word(r),
  };
  if (r.chance(0.8)) a.category = word(r);
  if (r.chance(0.8)) a.flow = flowTuple(r);
  if (r.chance(0.2)) a.process = processRef(r);
  if (r.chance(0.3)) {
    a.mitre = { techniqueId: r.pick(['T1190', 'T1110.001', oddString(r)]) };
    if (r.chance(0.5)) a.mitre.techniqueName = r.chance(0.2) ? '' : oddString(r);
    if (r.chance(0.5)) a.mitre.tactic = r.chance(0.2) ? '' : 'initial-access';
    if (r.chance(0.5)) a.mitre.tacticId = r.chance(0.2) ? '' : 'TA0001';
  }
  if (r.chance(0.7)) a.packetLength = r.chance(0.9) ? r.int(0, 9000) : anyNumber(r);
  if (r.chance(0.2)) {
    a.indicator = { id: oddString(r), value: r.pick(['198.18.0.66', '2001:db8::/48']), feed: word(r), confidence: r.int(0, 100), side: r.pick(['src', 'dst'] as const), match: r.pick(['exact', 'cidr'] as const) };
    if (r.chance(0.5)) a.indicator.name = oddString(r);
    if (r.chance(0.5)) a.indicator.killChainPhases = [{ killChainName: oddString(r), phaseName: word(r) }];
    if (r.chance(0.5)) a.indicator.category = word(r);
  }
  if (r.chance(0.2)) a.suppressed = r.pick([0, 1, r.int(2, 1e6)]);
  if (r.chance(0.1)) a.summary = r.chance(0.5);
  return a;
}

function rr(r: Rand): DnsResourceRecord {
  const type = r.pick([1, 28, 5, 16, 6, 33, 44, 41, 15, 99]);
  const x: DnsResourceRecord = { rrname: r.chance(0.7) ? 'www.example.com' : oddString(r), rrtype: type, ttl: r.int(0, 86400) };
  if (r.chance(0.1)) x.rrnameTruncated = true;
  if (type === 1) x.rdata = `198.18.${r.int(0, 255)}.${r.int(0, 255)}`;
  else if (type === 28) x.rdata = '2001:db8::1';
  else if (type === 16) x.txt = [oddString(r), oddString(r)];
  else if (type === 6) x.soa = { mname: 'ns.example.com', rname: oddString(r), serial: r.int(0, 2 ** 32 - 1), refresh: 3600, retry: 600, expire: 86400, minimum: 60 };
  else if (type === 33) x.srv = { priority: r.int(0, 65535), weight: 1, port: u16(r), name: oddString(r) };
  else if (type === 44) x.sshfp = { algo: 4, type: 2, fingerprint: 'ab:cd:ef' };
  else if (type === 41) x.opt = r.chance(0.5) ? [] : [{ code: r.int(0, 65535), data: 'beef' }];
  else x.rdata = oddString(r);
  if (r.chance(0.1)) x.rdataTruncated = true;
  return x;
}

function dns(r: Rand): DnsRecord {
  const m: DnsMessage = { type: r.pick(['request', 'response'] as const), id: r.int(0, 65535), flags: r.int(0, 65535), queries: [] };
  const nq = r.int(0, 2);
  for (let i = 0; i < nq; i++) m.queries.push({ rrname: oddString(r), rrtype: r.pick([1, 28, 255, 12345]), ...(r.chance(0.1) ? { rrnameTruncated: true } : {}) });
  if (r.chance(0.3)) m.txId = r.int(0, 1000);
  if (r.chance(0.6)) m.answers = Array.from({ length: r.int(0, 4) }, () => rr(r));
  if (r.chance(0.3)) m.authorities = Array.from({ length: r.int(0, 2) }, () => rr(r));
  if (r.chance(0.3)) m.additionals = Array.from({ length: r.int(0, 2) }, () => rr(r));
  return { kind: 'dns', ...base(r), flow: flowTuple(r), dns: m };
}

function flow(r: Rand): FlowRecord {
  const start = 1_764_000_000_000_000_000n + BigInt(r.int(0, 1e9)) * 1000n;
  const f: FlowRecord = {
    kind: 'flow',
    ...base(r),
    flow: flowTuple(r),
    stats: { pktsToServer: count(r), pktsToClient: count(r), bytesToServer: count(r), bytesToClient: count(r) },
    startNs: start,
    endNs: start + BigInt(r.int(0, 1e6)) * 1_000_000n,
    state: r.pick(['new', 'established', 'closed', 'bypassed'] as const),
    reason: r.pick(['timeout', 'forced', 'shutdown', 'tcp_reuse', 'unknown'] as const),
    alerted: r.chance(0.5),
  };
  if (r.chance(0.5)) f.appProto = r.chance(0.5) ? 'dns' : oddString(r);
  if (r.chance(0.6)) f.tcp = { flags: r.int(0, 255), flagsToServer: r.int(0, 255), flagsToClient: r.int(0, 255), ...(r.chance(0.5) ? { state: r.chance(0.5) ? 'established' : oddString(r) } : {}) };
  return f;
}

function anomaly(r: Rand): AnomalyRecord {
  const events: AnomalyEvent[] = [
    { type: 'decode', event: r.chance(0.5) ? 'ipv4.trunc_pkt' : oddString(r) },
    { type: 'stream', event: oddString(r) },
    { type: 'applayer', event: oddString(r), layer: r.pick(['proto_detect', 'parser', oddString(r)]), appProto: r.pick(['dns', oddString(r)]) },
    { type: 'unknown', code: anyNumber(r), ...(r.chance(0.5) ? { layer: oddString(r) } : {}), ...(r.chance(0.5) ? { appProto: oddString(r) } : {}) },
  ];
  const a: AnomalyRecord = { kind: 'anomaly', ...base(r), anomaly: r.pick(events) };
  if (r.chance(0.7)) a.flow = flowTuple(r);
  if (r.chance(0.5)) a.packetLength = r.int(0, 9000);
  return a;
}

function dlp(r: Rand): DlpRecord {
  const d: DlpRecord = {
    kind: 'dlp',
    ...base(r),
    process: processRef(r),
    dlp: {
      detector: word(r),
      direction: r.pick(['outbound', 'inbound'] as const),
      truncation: { length: r.int(0, 1 << 20), captured: r.int(0, 4096), truncated: r.chance(0.5) },
      match: { offset: r.int(0, 4096), length: r.int(1, 64), redacted: redactMatch(oddString(r)) },
    },
  };
  if (r.chance(0.5)) d.dlp.symbol = r.chance(0.5) ? 'SSL_write' : oddString(r);
  if (r.chance(0.5)) d.dlp.binary = oddString(r);
  if (r.chance(0.5)) d.flow = flowTuple(r);
  return d;
}

const MAKE: Readonly<Record<RecordKind, (r: Rand) => SentinelRecord>> = { alert, dns, flow, anomaly, dlp };

/** The serialisation the writer replaced. */
const reference = (rec: SentinelRecord, seed?: number): string => `${JSON.stringify(toEveRecord(rec, seed === undefined ? {} : { communityIdSeed: seed }))}\n`;

describe('EVE line writer', () => {
  it('writes the same bytes as JSON.stringify of the EVE record, for every kind, over 10,000 random records', () => {
    const r = new Rand(prng(SEED));
    const writer = new EveLineWriter();
    for (const kind of RECORD_KINDS) {
      for (let i = 0; i < 2000; i++) {
        const rec = MAKE[kind](r);
        const want = reference(rec);
        assert.equal(writer.line(rec), want, `seed ${SEED}, ${kind} #${i}`);
        // the module's own writer, and the UTF-8 bytes the file gets
        assert.equal(toEveLine(rec), want);
        assert.ok(Buffer.from(writer.line(rec)).equals(Buffer.from(want)));
      }
    }
  });

  it('honours the community id seed exactly as the object path does', () => {
    const r = new Rand(prng(SEED + 1));
    for (const seed of [1, 0x7fff, 65535]) {
      const writer = new EveLineWriter({ communityIdSeed: seed });
      for (let i = 0; i < 300; i++) {
        const rec = alert(r);
        assert.equal(writer.line(rec), reference(rec, seed));
        assert.equal(toEveLine(rec, { communityIdSeed: seed }), reference(rec, seed));
      }
    }
    // and a seed changes the flow's id
    const a = alert(new Rand(prng(SEED + 2)));
    a.flow = { srcIp: '198.18.0.1', dstIp: '198.18.0.2', proto: 6, srcPort: 1, dstPort: 2 };
    delete a.communityId;
    assert.notEqual(toEveLine(a, { communityIdSeed: 1 }), toEveLine(a));
  });

  it('lines of every kind, odd strings included, validate against Suricata\'s schema', () => {
    const check = suricataEveValidator();
    const r = new Rand(prng(SEED + 3));
    integersOnly = true;
    try {
      for (const kind of RECORD_KINDS) {
        for (let i = 0; i < 200; i++) {
          const line = toEveLine(MAKE[kind](r));
          assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line');
          assert.deepEqual(check(JSON.parse(line)), [], `${kind} #${i}: ${line}`);
        }
      }
    } finally {
      integersOnly = false;
    }
  });

  it('escapes a string exactly as JSON.stringify does', () => {
    const all = [...ODD, '"', '\\', '\u0000', '\u001f', ' ', '~', '\u0080', '\uffff', '\ud83d\udee1', '\ud83d', '\ude00x', 'x\ud800'];
    for (let c = 0; c < 0x10000; c += 7) all.push(String.fromCharCode(c));
    for (const s of all) assert.equal(jsonString(s), JSON.stringify(s), JSON.stringify(s));
  });

  it('refuses what the object path refuses, and a writer goes on after it', () => {
    const writer = new EveLineWriter();
    const a = alert(new Rand(prng(SEED + 4)));
    assert.throws(() => writer.line({ ...a, timestampNs: -1n }), /EVE timestamp must be >= 0 ns/);
    assert.throws(() => writer.line({ ...a, kind: 'bogus' } as unknown as SentinelRecord), /no EVE rendering for record kind "bogus"/);
    assert.equal(writer.line(a), reference(a));
  });

  it('a renderer shared by several sinks renders a record once, and the same text as one of its own', () => {
    const r = new Rand(prng(SEED + 5));
    const shared = new EveRenderer({}, { shared: true });
    const own = new EveRenderer({}, { shared: false });
    const rec = dns(r);
    const l1 = shared.line(rec);
    assert.equal(shared.line(rec), l1);
    assert.equal(own.line(rec), l1);
    assert.equal(l1, reference(rec));
  });
});

describe('line buffer', () => {
  it('holds the UTF-8 bytes of each line and where each ends, growing as needed', () => {
    const b = new LineBuffer(8);
    const lines = ['{"a":"x"}\n', '{"é":"日本"}\n', `${'z'.repeat(1000)}\n`, 'no newline', '🛡️\n'];
    for (const l of lines) b.push(l);
    const want = Buffer.from(lines.map((l) => (l.endsWith('\n') ? l : `${l}\n`)).join(''));
    assert.ok(b.buf.subarray(0, b.len).equals(want));
    let at = 0;
    assert.deepEqual(
      b.ends,
      lines.map((l) => (at += Buffer.byteLength(l.endsWith('\n') ? l : `${l}\n`))),
    );
    b.reset();
    assert.equal(b.len, 0);
    assert.equal(b.count, 0);
  });
});

describe('EVE file sink bytes', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sn-eve-line-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the file holds exactly the lines of every record pushed, in order, odd strings and every kind included', async () => {
    const file = path.join(dir, 'eve.json');
    const cfg = alertingSchema.parse({ eve: { path: file, max_size: 0 }, dedup_window_secs: 0, throttle_max: 0 });
    const p = await createAlertPipeline(cfg, { registry: new Registry() });
    const r = new Rand(prng(SEED + 6));
    const recs: SentinelRecord[] = [];
    // more than one batch of the sink (4,096), pushed in bursts as the ring reader does
    for (let burst = 0; burst < 12; burst++) {
      for (let i = 0; i < 500; i++) {
        const rec = MAKE[r.pick(RECORD_KINDS)](r);
        recs.push(rec);
        p.push(rec);
      }
      await new Promise((res) => setImmediate(res));
    }
    await p.close();
    const st = p.stats().sinks.find((s) => s.name === 'eve-file')!;
    assert.deepEqual(st.dropped, {});
    assert.equal(st.delivered, recs.length);
    const got = await readFile(file);
    assert.ok(got.equals(Buffer.from(recs.map((x) => reference(x)).join(''))), 'byte-exact');
  });

  it('a write the file takes only part of (a short write, then EFBIG): the lines in the file count as delivered, the cut line is taken back, the rest counted as lost', async () => {
    const file = path.join(dir, 'short.json');
    const count = 200;
    const lines = Array.from({ length: count }, (_, i) => Buffer.from(toEveLine(appendChildAlert(i))));
    // the limit falls in the middle of line 120: 120 whole lines fit
    const limit = lines.slice(0, 120).reduce((n, l) => n + l.length, 0) + Math.floor(lines[120]!.length / 2);
    const child = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'support', 'eve-append-child.js');
    const out = execFileSync('prlimit', [`--fsize=${limit}`, process.execPath, child, file, String(count)], { encoding: 'utf8', timeout: 60_000 });
    const st = JSON.parse(out.trim()) as { delivered: number; dropped: Record<string, number>; failures: Record<string, number>; queued: number };
    const got = await readFile(file);
    assert.equal(st.delivered, 120, 'whole lines in the file are delivered');
    assert.deepEqual(st.dropped, { write_error: count - 120 }, 'the rest are counted as lost, by reason');
    assert.deepEqual(st.failures, { write_error: 1 });
    assert.equal(st.delivered + (st.dropped.write_error ?? 0), count, 'every record accounted for');
    assert.ok(got.equals(Buffer.concat(lines.slice(0, 120))), 'the file holds exactly the first 120 lines, no cut line');
  });
});
