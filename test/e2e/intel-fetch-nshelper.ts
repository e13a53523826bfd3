// Runs inside the namespace of intel-fetch.test.ts (`ip netns exec`): a real HTTPS server on that
// namespace's loopback (node:https, the test's self-signed certificate) serving what each request
// line sets up, and the agent's own fetchers (fetchSource, fetchTaxii) as the client. Each stdin
// line is one case; the answer line says what the fetcher returned and what the server saw.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import readline from 'node:readline';
import { fetchSource, type Validators } from '../../src/intel/fetch.js';
import { fetchTaxii, taxiiEnvelope, type TaxiiState } from '../../src/intel/taxii.js';

const [keyFile, certFile] = process.argv.slice(2);
if (!keyFile || !certFile) throw new Error('usage: intel-fetch-nshelper KEY CERT');
const cert = readFileSync(certFile, 'utf8');

interface Route {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** answer 304 when If-None-Match equals this */
  etag?: string;
  /** never answer (for timeouts) */
  hang?: boolean;
  /** TAXII: pages by the `next` parameter ("" = first) */
  pages?: Record<string, { body: string; dateAddedLast?: string }>;
}
let routes: Record<string, Route> = {};
const seen: { path: string; headers: Record<string, string | string[] | undefined> }[] = [];

const server = https.createServer({ key: readFileSync(keyFile), cert }, (req, res) => {
  const u = new URL(req.url ?? '/', 'https://127.0.0.1');
  seen.push({ path: `${u.pathname}${u.search}`, headers: req.headers });
  const r = routes[u.pathname];
  if (!r) {
    res.writeHead(404).end();
    return;
  }
  if (r.hang) return;
  if (r.pages) {
    const p = r.pages[u.searchParams.get('next') ?? ''];
    if (!p) return void res.writeHead(400).end('unknown next');
    res.writeHead(200, { 'content-type': 'application/taxii+json;version=2.1', ...(p.dateAddedLast && { 'X-TAXII-Date-Added-Last': p.dateAddedLast }) }).end(p.body);
    return;
  }
  if (r.etag !== undefined && req.headers['if-none-match'] === r.etag) return void res.writeHead(304).end();
  res.writeHead(r.status, { ...(r.etag !== undefined && { etag: r.etag }), ...r.headers }).end(r.body ?? '');
});
server.listen(0, '127.0.0.1', () => {
  const port = (server.address() as AddressInfo).port;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});

type Case =
  | { kind: 'source'; routes: Record<string, Route>; url: string; maxBytes?: number; timeoutMs?: number; trust?: boolean; prev?: Validators; auth?: string }
  | { kind: 'taxii'; routes: Record<string, Route>; url: string; state?: { addedAfter?: string } };

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  void (async () => {
    const c = JSON.parse(line) as Case;
    routes = c.routes;
    seen.length = 0;
    try {
      if (c.kind === 'source') {
        const limits = { maxBytes: c.maxBytes ?? 1 << 20, timeoutMs: c.timeoutMs ?? 5000, ...(c.trust !== false && { ca: cert }), ...(c.auth !== undefined && { authHeader: c.auth }) };
        const r = await fetchSource(c.url, '/', limits, c.prev ?? {});
        process.stdout.write(`${JSON.stringify({ ok: r, seen })}\n`);
      } else {
        const state: TaxiiState = { objects: new Map(), ...(c.state?.addedAfter !== undefined && { addedAfter: c.state.addedAfter }) };
        const added = await fetchTaxii(c.url, { maxBytes: 1 << 20, timeoutMs: 5000, ca: cert }, state);
        process.stdout.write(`${JSON.stringify({ ok: { added, addedAfter: state.addedAfter, envelope: JSON.parse(taxiiEnvelope(state)) as unknown }, seen })}\n`);
      }
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ error: (e as Error).message, seen })}\n`);
    }
  })();
}).on('close', () => server.close());
