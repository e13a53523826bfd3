// The DNS message decoder against tshark, which nobody here wrote: every DNS message over UDP in
// Suricata's DNS verification captures and in tcpdump's malformed captures is decoded by both,
// and where both read it whole, the id, direction, rcode, every question's name and type, every
// record's name and type (answers, authorities, additionals in order) and the A, AAAA and CNAME
// data agree. Hand-made messages cover compression loops and limits; random mutations never
// throw or hang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { decodeDnsMessage, DNS_MAX_NAME } from '../../src/alerts/dns-wire.js';
import type { DnsResourceRecord } from '../../src/alerts/records.js';
import { openCapture } from '../../src/capture/reader.js';
import { toEthernet } from '../../src/capture/link.js';
import { parseAddress } from '../../src/net/ip.js';
import { parseFrame } from '../support/frames.js';
import { PCAP_MALFORMED, SURICATA_VERIFY_DNS } from '../support/testdata.js';

function captures(): string[] {
  const out: string[] = [];
  for (const d of readdirSync(SURICATA_VERIFY_DNS)) {
    const dir = path.join(SURICATA_VERIFY_DNS, d);
    if (!statSync(dir).isDirectory()) continue;
    for (const f of readdirSync(dir)) if (/\.pcap(ng)?$/.test(f)) out.push(path.join(dir, f));
  }
  for (const f of readdirSync(PCAP_MALFORMED)) if (f.endsWith('.pcap')) out.push(path.join(PCAP_MALFORMED, f));
  return out;
}

/** UDP port 53 payloads by frame number (1-based, as tshark numbers them). */
function dnsPayloads(file: string): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  const r = openCapture(file);
  let n = 0;
  for (let f = r.next(); f; f = r.next()) {
    n++;
    const buf = Buffer.alloc(f.data.length + 14);
    const len = toEthernet(f.linktype, f.data, buf, 0);
    if (len < 14) continue;
    try {
      const p = parseFrame(buf.subarray(0, len));
      if (p.l4?.proto === 'udp' && (p.l4.sport === 53 || p.l4.dport === 53)) out.set(n, p.payload);
    } catch {
      // a frame too broken for the test's parser: tshark's verdict on it is not compared
    }
  }
  r.close();
  return out;
}

const FIELDS = ['frame.number', 'dns.id', 'dns.flags.response', 'dns.flags.rcode', 'dns.qry.name', 'dns.qry.type', 'dns.resp.name', 'dns.resp.type', 'dns.a', 'dns.aaaa', 'dns.cname', '_ws.malformed', '_ws.expert.severity'];

interface Shark {
  id: number;
  response: boolean;
  rcode: number | null;
  qnames: string[];
  qtypes: number[];
  rnames: string[];
  rtypes: number[];
  a: string[];
  aaaa: string[];
  cname: string[];
  broken: boolean;
}

function tshark(file: string): Map<number, Shark> {
  const r = spawnSync('tshark', ['-r', file, '-d', 'udp.port==53,dns', '-Y', 'dns && udp', '-T', 'fields', '-E', 'separator=|', '-E', 'aggregator=;', ...FIELDS.flatMap((f) => ['-e', f])], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`tshark could not run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`tshark exited ${r.status}: ${r.stderr}`);
  const out = new Map<number, Shark>();
  const list = (s: string | undefined): string[] => (s ? s.split(';') : []);
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    const c = line.split('|');
    out.set(Number(c[0]), {
      id: Number.parseInt(c[1]!, 16),
      response: c[2] === '1' || c[2] === 'True',
      rcode: c[3] ? Number(c[3]) : null,
      qnames: list(c[4]),
      qtypes: list(c[5]).map(Number),
      rnames: list(c[6]),
      rtypes: list(c[7]).map(Number),
      a: list(c[8]),
      aaaa: list(c[9]),
      cname: list(c[10]),
      // malformed, or an expert note of error severity (a field cut short)
      broken: Boolean(c[11]) || /error|8388608/i.test(c[12] ?? ''),
    });
  }
  return out;
}

const sharkName = (n: string): string => (n === '' ? '<Root>' : n);
const v6 = (t: string): string => parseAddress(t).addr.toString('hex');

test('every DNS message both decoders read whole: ids, directions, rcodes, names, types and A/AAAA/CNAME data agree with tshark', () => {
  let compared = 0;
  let ours = 0;
  const disagreements: string[] = [];
  for (const file of captures()) {
    const payloads = dnsPayloads(file);
    if (payloads.size === 0) continue;
    const shark = tshark(file);
    for (const [frame, payload] of payloads) {
      const d = decodeDnsMessage(payload);
      if (d.message) ours++;
      const s = shark.get(frame);
      if (!d.message || !s || s.broken) continue;
      const m = d.message;
      const rrs: DnsResourceRecord[] = [...(m.answers ?? []), ...(m.authorities ?? []), ...(m.additionals ?? [])];
      const got = {
        id: m.id,
        response: m.type === 'response',
        rcode: m.type === 'response' ? m.flags & 0xf : s.rcode,
        qnames: m.queries.map((q) => sharkName(q.rrname)),
        qtypes: m.queries.map((q) => q.rrtype),
        // tshark files an SRV record's owner name under dns.srv.* rather than dns.resp.name
        rnames: rrs.filter((r) => r.rrtype !== 33).map((r) => sharkName(r.rrname)),
        rtypes: rrs.map((r) => r.rrtype),
        a: rrs.filter((r) => r.rrtype === 1 && r.rdata).map((r) => r.rdata!),
        aaaa: rrs.filter((r) => r.rrtype === 28 && r.rdata).map((r) => v6(r.rdata!)),
        cname: rrs.filter((r) => r.rrtype === 5).map((r) => r.rdata ?? ''),
      };
      const want = { id: s.id, response: s.response, rcode: s.rcode, qnames: s.qnames, qtypes: s.qtypes, rnames: s.rnames, rtypes: s.rtypes, a: s.a, aaaa: s.aaaa.map(v6), cname: s.cname };
      compared++;
      try {
        assert.deepEqual(got, want);
      } catch {
        disagreements.push(`${path.basename(path.dirname(file))}/${path.basename(file)} frame ${frame}: ours ${JSON.stringify(got)} tshark ${JSON.stringify(want)}`);
      }
    }
  }
  assert.deepEqual(disagreements, []);
  assert.ok(compared >= 100, `compared ${compared} messages (decoded ${ours})`);
});

function msg(parts: (number[] | Buffer)[]): Buffer {
  return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
}

const header = (qd: number, an = 0, flags = 0x0100): number[] => [0x12, 0x34, flags >> 8, flags & 0xff, 0, qd, 0, an, 0, 0, 0, 0];

test('names: compression followed, loops and limits end in an anomaly or a flagged name, never a hang', () => {
  // example.com, then a question pointing at it
  const ok = decodeDnsMessage(msg([header(2), [7], Buffer.from('example'), [3], Buffer.from('com'), [0, 0, 1, 0, 1], [3], Buffer.from('www'), [0xc0, 12, 0, 28, 0, 1]]));
  assert.deepEqual(ok.message?.queries, [
    { rrname: 'example.com', rrtype: 1 },
    { rrname: 'www.example.com', rrtype: 28 },
  ]);
  assert.equal(ok.anomaly, undefined);
  // a pointer to itself
  assert.deepEqual(decodeDnsMessage(msg([header(1), [0xc0, 12, 0, 1, 0, 1]])), { message: null, anomaly: 'infinite_loop' });
  // two pointers at each other: cut at the segment limit after following one
  const pair = decodeDnsMessage(msg([header(1), [1], Buffer.from('a'), [0xc0, 12, 0, 1, 0, 1]]));
  assert.equal(pair.message?.queries[0]?.rrnameTruncated, true);
  assert.equal(pair.anomaly, 'name_too_long');
  // 300 one-byte labels without a pointer: too many
  const labels: number[] = [];
  for (let i = 0; i < 300; i++) labels.push(1, 0x61);
  assert.deepEqual(decodeDnsMessage(msg([header(1), labels, [0, 0, 1, 0, 1]])), { message: null, anomaly: 'too_many_labels' });
  // a long name (20 labels of 63) is cut at the limit and flagged
  const long: number[] = [];
  for (let i = 0; i < 20; i++) long.push(63, ...Buffer.alloc(63, 0x62));
  const ln = decodeDnsMessage(msg([header(1), long, [0, 0, 1, 0, 1]]));
  assert.equal(ln.message?.queries[0]?.rrname.length, DNS_MAX_NAME);
  assert.equal(ln.message?.queries[0]?.rrnameTruncated, true);
  // pointer past the end, reserved label type, short header, counts beyond the data
  assert.equal(decodeDnsMessage(msg([header(1), [0xc1, 0xff, 0, 1, 0, 1]])).anomaly, 'malformed_data');
  assert.equal(decodeDnsMessage(msg([header(1), [0x40, 0, 0, 1, 0, 1]])).anomaly, 'malformed_data');
  assert.equal(decodeDnsMessage(Buffer.alloc(11)).anomaly, 'malformed_data');
  assert.equal(decodeDnsMessage(msg([header(65535)])).anomaly, 'malformed_data');
});

test('record data: SOA, SRV, MX, TXT, SSHFP, OPT and HTTPS as the record model holds them', () => {
  const q = [[0], [0, 1, 0, 1]] as const;
  const rr = (type: number, rdata: number[]): number[] => [0xc0, 12, type >> 8, type & 0xff, 0, 1, 0, 0, 0x0e, 0x10, rdata.length >> 8, rdata.length & 0xff, ...rdata];
  const name = (s: string): number[] => [...s.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]), 0];
  const m = msg([
    header(1, 7, 0x8183),
    ...q.map((x) => [...x]),
    rr(6, [...name('ns.example'), ...name('admin.example'), 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5]),
    rr(33, [0, 10, 0, 20, 0x13, 0xc4, ...name('sip.example')]),
    rr(15, [0, 5, ...name('mx.example')]),
    rr(16, [3, ...Buffer.from('a=b'), 2, ...Buffer.from('cd')]),
    rr(44, [1, 2, 0xab, 0xcd]),
    rr(41, [0, 10, 0, 2, 0xde, 0xad]),
    rr(65, [0, 1, 0]),
  ]);
  const d = decodeDnsMessage(m);
  assert.equal(d.anomaly, undefined);
  const a = d.message!.answers!;
  assert.equal(d.message!.type, 'response');
  assert.equal(d.message!.flags & 0xf, 3); // NXDOMAIN
  assert.deepEqual(a[0]!.soa, { mname: 'ns.example', rname: 'admin.example', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 });
  assert.deepEqual(a[1]!.srv, { priority: 10, weight: 20, port: 5060, name: 'sip.example' });
  assert.equal(a[2]!.rdata, 'mx.example');
  assert.deepEqual(a[3]!.txt, ['a=b', 'cd']);
  assert.deepEqual(a[4]!.sshfp, { algo: 1, type: 2, fingerprint: 'ab:cd' });
  assert.deepEqual(a[5]!.opt, [{ code: 10, data: 'dead' }]);
  assert.deepEqual(a[6], { rrname: '', rrtype: 65, ttl: 3600 });
});

test('mutated messages never throw or hang: each decodes or names its anomaly', () => {
  const seedMsg = msg([header(1, 1, 0x8180), [3], Buffer.from('www'), [7], Buffer.from('example'), [3], Buffer.from('com'), [0, 0, 1, 0, 1], [0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 16]]);
  let x = 0x2545f491;
  const rnd = (n: number): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const anomalies = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const m = Buffer.from(seedMsg.subarray(0, rnd(3) === 0 ? rnd(seedMsg.length) : seedMsg.length));
    for (let k = 1 + rnd(4); k > 0 && m.length; k--) m[rnd(m.length)] = rnd(256);
    const d = decodeDnsMessage(m);
    assert.ok(d.message !== null || d.anomaly !== undefined);
    if (d.anomaly) anomalies.add(d.anomaly);
  }
  assert.ok(anomalies.has('malformed_data'));
});
