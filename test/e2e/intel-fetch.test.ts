// Feed fetching against a real HTTPS server: node:https with a self-signed certificate made by
// openssl for the test, on the loopback of a network namespace the test creates (server and the
// agent's fetchers both run there, in a helper process). Conditional requests (ETag), the size
// cap, the timeout, no redirects, an untrusted certificate, the auth header, and a TAXII 2.1
// collection read page by page with more/next and resumed with added_after.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Lab } from '../../src/lab/index.js';
import { labPrerequisites } from '../support/env.js';
import { NsHelper } from '../support/ns-helper.js';

const skip = labPrerequisites(['ip', 'openssl']);
const HELPER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'intel-fetch-nshelper.js');

interface Answer {
  ok?: { changed?: boolean; text?: string; validators?: Record<string, string>; added?: boolean; addedAfter?: string; envelope?: { objects: { id: string }[] } };
  error?: string;
  seen: { path: string; headers: Record<string, string> }[];
}

const indicator = (n: number) => ({ type: 'indicator', spec_version: '2.1', id: `indicator--00000000-0000-4000-8000-00000000000${n}`, created: '2024-01-01T00:00:00Z', modified: '2024-01-01T00:00:00Z', pattern_type: 'stix', pattern: `[ipv4-addr:value = '198.18.9.${n}']`, valid_from: '2024-01-01T00:00:00Z' });

describe('feed fetching over HTTPS and TAXII 2.1 (real server in a test namespace)', { skip: skip ?? false }, () => {
  let lab: Lab;
  let helper: NsHelper;
  let dir: string;
  let base: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'esn-intel-fetch-'));
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    lab = await Lab.create({ name: 'intel-fetch', hosts: [{ name: 'feeds' }], links: [] });
    helper = NsHelper.start(lab, 'feeds', HELPER, [key, cert]);
    const { port } = JSON.parse(await helper.next()) as { port: number };
    base = `https://127.0.0.1:${port}`;
  });
  after(async () => {
    await helper?.close();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const ask = (c: unknown): Promise<Answer> => helper.request<Answer>(c);

  it('fetches, then asks with If-None-Match and takes a 304 as unchanged; sends the auth header', async () => {
    const routes = { '/list.txt': { status: 200, etag: '"v1"', body: '198.18.0.1\n' } };
    const first = await ask({ kind: 'source', routes, url: `${base}/list.txt`, auth: 'X-Feed-Token: t0k3n' });
    assert.deepEqual(first.ok, { changed: true, text: '198.18.0.1\n', validators: { etag: '"v1"' } });
    assert.equal(first.seen[0]!.headers['x-feed-token'], 't0k3n');
    const second = await ask({ kind: 'source', routes, url: `${base}/list.txt`, prev: { etag: '"v1"' } });
    assert.deepEqual(second.ok, { changed: false });
    assert.equal(second.seen[0]!.headers['if-none-match'], '"v1"');
  });

  it('refuses: a body over the cap, no answer in time, a redirect, an error status, an untrusted certificate, plain http', async () => {
    // declared up front, and streamed without a length: refused either way
    const big = await ask({ kind: 'source', routes: { '/big': { status: 200, body: 'x'.repeat(5000), headers: { 'content-length': '5000' } } }, url: `${base}/big`, maxBytes: 1000 });
    assert.match(big.error!, /\/big: 5000 bytes, more than max_feed_bytes \(1000\)$/);
    const streamed = await ask({ kind: 'source', routes: { '/big': { status: 200, body: 'x'.repeat(5000) } }, url: `${base}/big`, maxBytes: 1000 });
    assert.match(streamed.error!, /\/big: more than max_feed_bytes \(1000\) received$/);
    const slow = await ask({ kind: 'source', routes: { '/slow': { status: 200, hang: true } }, url: `${base}/slow`, timeoutMs: 300 });
    assert.match(slow.error!, /no (complete )?answer within 300 ms/);
    const moved = await ask({ kind: 'source', routes: { '/old': { status: 301, headers: { location: 'https://elsewhere.example/' } } }, url: `${base}/old` });
    assert.match(moved.error!, /HTTP 301 \(redirect to https:\/\/elsewhere\.example\/ not followed\)/);
    const down = await ask({ kind: 'source', routes: {}, url: `${base}/missing` });
    assert.match(down.error!, /\/missing: HTTP 404$/);
    const untrusted = await ask({ kind: 'source', routes: { '/list.txt': { status: 200, body: 'x' } }, url: `${base}/list.txt`, trust: false });
    assert.match(untrusted.error!, /self-signed certificate/);
    const plain = await ask({ kind: 'source', routes: {}, url: `http://127.0.0.1:1/x` });
    assert.match(plain.error!, /only https:\/\/ URLs and file paths are feeds/);
  });

  it('TAXII 2.1: pages by more/next into one envelope, then resumes after X-TAXII-Date-Added-Last', async () => {
    const pages = {
      '': { body: JSON.stringify({ more: true, next: 'p2', objects: [indicator(1), indicator(2)] }), dateAddedLast: '2024-01-01T00:00:01Z' },
      p2: { body: JSON.stringify({ more: false, objects: [indicator(3)] }), dateAddedLast: '2024-01-01T00:00:03Z' },
    };
    const r = await ask({ kind: 'taxii', routes: { '/api/collections/c1/objects/': { status: 200, pages } }, url: `${base}/api/collections/c1/`, state: { addedAfter: '2023-12-31T00:00:00Z' } });
    assert.equal(r.ok?.added, true);
    assert.deepEqual(r.ok?.envelope?.objects.map((o) => o.id), [1, 2, 3].map((n) => `indicator--00000000-0000-4000-8000-00000000000${n}`));
    assert.equal(r.ok?.addedAfter, '2024-01-01T00:00:03Z');
    assert.deepEqual(r.seen.map((s) => s.path), ['/api/collections/c1/objects/?added_after=2023-12-31T00%3A00%3A00Z', '/api/collections/c1/objects/?added_after=2023-12-31T00%3A00%3A00Z&next=p2']);
    assert.match(r.seen[0]!.headers.accept!, /^application\/taxii\+json;version=2\.1$/);
    const broken = await ask({ kind: 'taxii', routes: { '/api/collections/c2/objects/': { status: 200, pages: { '': { body: JSON.stringify({ more: true, objects: [] }) } } } }, url: `${base}/api/collections/c2/` });
    assert.match(broken.error!, /"more" is true but there is no "next"/);
  });
});
