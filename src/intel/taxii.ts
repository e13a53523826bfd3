// TAXII 2.1 collections: GET <collection>/objects/ page by page (`more` and `next`), asking only
// for objects added after the last fetch (`added_after`, from the X-TAXII-Date-Added-Last
// header), and handing the objects of every page to the STIX loader as one envelope. The first
// fetch starts at the feed's `added_after` (or the beginning); later fetches add to what earlier
// ones returned, newer versions replacing older ones (the loader keeps the latest `modified`).
import { FeedFetchError, httpsGet, type FetchLimits } from './fetch.js';

const ACCEPT = 'application/taxii+json;version=2.1';
/** a collection answering forever with `more: true` is cut off here */
const MAX_PAGES = 10_000;

export interface TaxiiState {
  /** objects of every fetch so far, by id and modified (a new version replaces an old one) */
  objects: Map<string, unknown>;
  /** X-TAXII-Date-Added-Last of the last page: where the next fetch resumes */
  addedAfter?: string;
}

/** The collection's objects URL: the feed's url is the collection (…/collections/<id>/). */
export function objectsUrl(collection: string): URL {
  const u = new URL(collection);
  if (!/\/objects\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/?$/, '/')}objects/`;
  return u;
}

/** Fetches what was added since `state` and merges it in; returns whether anything was new. */
export async function fetchTaxii(collection: string, limits: FetchLimits, state: TaxiiState): Promise<boolean> {
  let next: string | undefined;
  let added = 0;
  let lastAdded = state.addedAfter;
  for (let page = 0; ; page++) {
    if (page >= MAX_PAGES) throw new FeedFetchError(`${collection}: more than ${MAX_PAGES} pages`);
    const u = objectsUrl(collection);
    if (state.addedAfter) u.searchParams.set('added_after', state.addedAfter);
    if (next !== undefined) u.searchParams.set('next', next);
    const r = await httpsGet(u, limits, { Accept: ACCEPT });
    let env: { more?: unknown; next?: unknown; objects?: unknown };
    try {
      env = r.body === '' ? {} : (JSON.parse(r.body) as typeof env);
    } catch (e) {
      throw new FeedFetchError(`${u.href}: the envelope is not JSON: ${(e as Error).message}`);
    }
    if (env.objects !== undefined && !Array.isArray(env.objects)) throw new FeedFetchError(`${u.href}: "objects" of the envelope is not a list`);
    for (const o of (env.objects as unknown[] | undefined) ?? []) {
      const rec = o as { id?: unknown; modified?: unknown };
      const key = `${String(rec.id)}|${String(rec.modified ?? '')}`;
      if (!state.objects.has(key)) added++;
      state.objects.set(key, o);
    }
    const last = r.headers['x-taxii-date-added-last'];
    if (typeof last === 'string') lastAdded = last;
    if (env.more !== true) break;
    if (typeof env.next !== 'string' || env.next === '') throw new FeedFetchError(`${u.href}: "more" is true but there is no "next"`);
    next = env.next;
  }
  if (lastAdded !== undefined) state.addedAfter = lastAdded;
  return added > 0;
}

/** The state's objects as one TAXII envelope (what the STIX loader reads). */
export function taxiiEnvelope(state: TaxiiState): string {
  return JSON.stringify({ objects: [...state.objects.values()] });
}
