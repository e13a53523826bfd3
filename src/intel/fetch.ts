// Getting a feed's bytes: from a file, or over HTTPS with a size cap, a timeout, an optional
// extra CA, and conditional requests (ETag / Last-Modified) so an unchanged feed costs a 304.
// TAXII 2.1 collections (taxii.ts) use the same requester. Nothing is followed silently: a
// redirect, a non-2xx answer, a body over the cap and a timeout are errors that say which.
import { readFile, stat } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';

export interface FetchLimits {
  maxBytes: number;
  timeoutMs: number;
  /** PEM text of extra CAs to trust (a feed's own, or a test's self-signed certificate) */
  ca?: string;
  /** "Name: value" sent with every request */
  authHeader?: string;
}

/** What a previous fetch said about the content, to ask only for a change. */
export interface Validators {
  etag?: string;
  lastModified?: string;
}

export type FetchResult = { changed: false } | { changed: true; text: string; validators: Validators };

export class FeedFetchError extends Error {
  override name = 'FeedFetchError';
}

export const isHttps = (source: string): boolean => /^https:\/\//i.test(source);

/** A file (relative to `baseDir`) or an https:// URL. Plain http is refused: a feed decides what
 * the kernel drops, and must not be alterable on the way. */
export async function fetchSource(source: string, baseDir: string, limits: FetchLimits, prev: Validators = {}): Promise<FetchResult> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !isHttps(source)) throw new FeedFetchError(`${source}: only https:// URLs and file paths are feeds`);
  if (!isHttps(source)) return readSource(path.resolve(baseDir, source), limits, prev);
  const r = await httpsGet(new URL(source), limits, { ...(prev.etag && { 'If-None-Match': prev.etag }), ...(prev.lastModified && { 'If-Modified-Since': prev.lastModified }) });
  if (r.status === 304) return { changed: false };
  return { changed: true, text: r.body, validators: validatorsOf(r.headers) };
}

async function readSource(file: string, limits: FetchLimits, prev: Validators): Promise<FetchResult> {
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    throw new FeedFetchError(`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isFile()) throw new FeedFetchError(`${file}: not a regular file`);
  if (st.size > limits.maxBytes) throw new FeedFetchError(`${file}: ${st.size} bytes, more than max_feed_bytes (${limits.maxBytes})`);
  // a file's validator is its modification time and size
  const lastModified = `${st.mtimeMs}:${st.size}`;
  if (prev.lastModified === lastModified) return { changed: false };
  const text = await readFile(file, 'utf8');
  return { changed: true, text, validators: { lastModified } };
}

function validatorsOf(h: Record<string, string | string[] | undefined>): Validators {
  const v: Validators = {};
  if (typeof h.etag === 'string') v.etag = h.etag;
  if (typeof h['last-modified'] === 'string') v.lastModified = h['last-modified'];
  return v;
}

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One GET: 200 or 304 answered, anything else thrown with the status; the body capped. */
export function httpsGet(url: URL, limits: FetchLimits, headers: Record<string, string> = {}): Promise<HttpsAnswer> {
  const h: Record<string, string> = { 'User-Agent': 'ebpfsentinel', ...headers };
  if (limits.authHeader) {
    const i = limits.authHeader.indexOf(':');
    h[limits.authHeader.slice(0, i).trim()] = limits.authHeader.slice(i + 1).trim();
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    // every way out ends here once: the request is torn down without an error of its own, so no
    // stream is left to emit one nobody listens to
    const fail = (e: FeedFetchError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      reject(e);
    };
    const req = https.get(url, { headers: h, timeout: limits.timeoutMs, ...(limits.ca !== undefined && { ca: limits.ca }) }, (res) => {
      res.on('error', () => fail(new FeedFetchError(`${url.href}: the answer broke off`)));
      const status = res.statusCode ?? 0;
      if (status === 304) {
        res.resume();
        settled = true;
        clearTimeout(deadline);
        resolve({ status, headers: res.headers, body: '' });
        return;
      }
      if (status < 200 || status > 299) {
        const where = status >= 300 && status < 400 && res.headers.location ? ` (redirect to ${res.headers.location} not followed)` : '';
        fail(new FeedFetchError(`${url.href}: HTTP ${status}${where}`));
        return;
      }
      const declared = Number(res.headers['content-length'] ?? NaN);
      if (declared > limits.maxBytes) {
        fail(new FeedFetchError(`${url.href}: ${declared} bytes, more than max_feed_bytes (${limits.maxBytes})`));
        return;
      }
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n > limits.maxBytes) fail(new FeedFetchError(`${url.href}: more than max_feed_bytes (${limits.maxBytes}) received`));
        else chunks.push(c);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve({ status, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    // the whole exchange, not only idle time, is bounded
    const deadline = setTimeout(() => fail(new FeedFetchError(`${url.href}: no complete answer within ${limits.timeoutMs} ms`)), limits.timeoutMs);
    req.on('timeout', () => fail(new FeedFetchError(`${url.href}: no answer within ${limits.timeoutMs} ms`)));
    req.on('error', (e) => fail(new FeedFetchError(`${url.href}: ${e.message}`)));
  });
}
