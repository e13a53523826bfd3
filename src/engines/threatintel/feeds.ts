// The feeds of the running config: each fetched on its own schedule, parsed, and kept as its last
// good content. A fetch or parse that fails leaves that content as it was (the error is logged,
// counted and shown in the feed's status); only a good change calls onChange, which asks the
// engine for a new generation. Feeds whose source and reading did not change across a reload
// keep their content and schedule.
import type { Logger } from 'pino';
import { FeedFormatError, type FeedContent } from '../../intel/indicator.js';
import { parseCsv, parseJson, parsePlain } from '../../intel/formats.js';
import { parseStix } from '../../intel/stix.js';
import { fetchSource, isHttps, type FetchLimits, type Validators } from '../../intel/fetch.js';
import { fetchTaxii, taxiiEnvelope, type TaxiiState } from '../../intel/taxii.js';
import type { FeedIndicators } from './compile.js';
import type { FeedConfig, ThreatintelConfig } from './schema.js';

export interface FeedStatus {
  id: string;
  name?: string;
  url: string;
  format: string;
  action: string;
  /** ok: last fetch good; stale: last fetch failed, the previous indicators apply; error: never loaded */
  state: 'ok' | 'stale' | 'error' | 'pending';
  indicators: number;
  /** by type: ip, domain, url, hash */
  by_type: Record<string, number>;
  skipped: Record<string, { count: number; examples: string[] }>;
  /** indicators past max_iocs, not loaded */
  truncated: number;
  fetches: number;
  unchanged: number;
  errors: number;
  last_error?: string;
  last_attempt?: string;
  last_success?: string;
  last_change?: string;
  next_refresh?: string;
}

interface State {
  config: FeedConfig;
  key: string;
  content: FeedContent | null;
  truncated: number;
  validators: Validators;
  taxii: TaxiiState;
  fetches: number;
  unchanged: number;
  errors: number;
  lastError?: string;
  lastAttempt?: Date;
  lastSuccess?: Date;
  lastChange?: Date;
  next?: Date;
  timer?: NodeJS.Timeout;
  running?: Promise<boolean>;
}

export interface FeedEvents {
  /** a feed's content changed (not called for the first load during sync) */
  onChange(feedId: string): void;
  /** every attempt, for metrics */
  onFetch(feedId: string, outcome: 'changed' | 'unchanged' | 'error'): void;
}

/** what makes a feed's content: the source and how it is read (not its action or thresholds) */
function contentKey(f: FeedConfig, ca: string | undefined): string {
  const { id, url, format, value_type, value_field, confidence_field, category_field, id_field, name_field, separator, comment_prefix, skip_header, items_path, added_after, default_confidence, max_iocs, auth_header } = f;
  return JSON.stringify([id, url, format, value_type, value_field, confidence_field, category_field, id_field, name_field, separator, comment_prefix, skip_header, items_path, added_after, default_confidence, max_iocs, auth_header, ca]);
}

export function parseFeedText(f: FeedConfig, text: string, now: number): FeedContent {
  const base = { valueType: f.value_type, defaultConfidence: f.default_confidence, feedId: f.id };
  switch (f.format) {
    case 'plaintext':
      return parsePlain(text, { ...base, commentPrefix: f.comment_prefix });
    case 'csv':
      return parseCsv(text, { ...base, separator: f.separator, skipHeader: f.skip_header, valueField: f.value_field ?? '0', ...opt('confidenceField', f.confidence_field), ...opt('categoryField', f.category_field), ...opt('idField', f.id_field) });
    case 'json':
      return parseJson(text, { ...base, itemsPath: f.items_path, valueField: f.value_field ?? '', ...opt('confidenceField', f.confidence_field), ...opt('categoryField', f.category_field), ...opt('idField', f.id_field), ...opt('nameField', f.name_field) });
    case 'stix':
    case 'taxii':
      return parseStix(text, { defaultConfidence: f.default_confidence, now });
  }
}

function opt<K extends string>(k: K, v: string | undefined): Partial<Record<K, string>> {
  return v === undefined ? {} : ({ [k]: v } as Record<K, string>);
}

export class FeedManager {
  private feeds = new Map<string, State>();
  private limits: Omit<FetchLimits, 'ca' | 'authHeader'>;
  private ca: ReadonlyMap<string, string> = new Map();
  private stopped = false;

  constructor(
    private readonly log: Logger,
    private readonly events: FeedEvents,
    private readonly clock: () => number = Date.now,
  ) {
    this.limits = { maxBytes: 104_857_600, timeoutMs: 30_000 };
  }

  /** Takes the feeds of `ti`: new ones (and those whose source or reading changed) are fetched
   * now, removed ones dropped, kept ones keep their content and schedule. Never throws for a
   * feed: a feed that cannot be fetched is in status with its error and contributes nothing
   * (or, when it had content, its previous content). */
  async sync(ti: ThreatintelConfig, ca: ReadonlyMap<string, string>): Promise<void> {
    this.limits = { maxBytes: ti.max_feed_bytes, timeoutMs: ti.fetch_timeout_secs * 1000 };
    this.ca = ca;
    const want = new Map(ti.feeds.filter((f) => f.enabled).map((f) => [f.id, f]));
    for (const [id, st] of this.feeds) {
      if (!want.has(id)) {
        if (st.timer) clearTimeout(st.timer);
        this.feeds.delete(id);
      }
    }
    const fresh: State[] = [];
    for (const f of want.values()) {
      const key = contentKey(f, ca.get(f.id));
      const st = this.feeds.get(f.id);
      if (st && st.key === key) {
        const intervalChanged = st.config.refresh_interval_secs !== f.refresh_interval_secs;
        st.config = f;
        if (intervalChanged) this.schedule(st);
        continue;
      }
      if (st?.timer) clearTimeout(st.timer);
      const s: State = { config: f, key, content: null, truncated: 0, validators: {}, taxii: { objects: new Map(), ...(f.added_after !== undefined && { addedAfter: f.added_after }) }, fetches: 0, unchanged: 0, errors: 0 };
      this.feeds.set(f.id, s);
      fresh.push(s);
    }
    await Promise.all(fresh.map((s) => this.fetch(s, false)));
  }

  /** Fetches one feed (or all) now; resolves with whether any content changed. */
  async refresh(id?: string): Promise<boolean> {
    const targets = id === undefined ? [...this.feeds.values()] : [this.feeds.get(id)].filter((s): s is State => !!s);
    const changed = await Promise.all(targets.map((s) => this.fetch(s, true)));
    return changed.some(Boolean);
  }

  has(id: string): boolean {
    return this.feeds.has(id);
  }

  /** The last good content of every feed, in config order, with its policy. */
  indicators(mode: FeedConfig['default_action'] & string): FeedIndicators[] {
    return [...this.feeds.values()].map((s) => ({
      policy: { id: s.config.id, action: s.config.default_action ?? mode, minConfidence: s.config.min_confidence, actionMinConfidence: s.config.action_min_confidence },
      indicators: s.content?.indicators ?? [],
    }));
  }

  status(mode: string): FeedStatus[] {
    return [...this.feeds.values()].map((s) => {
      const byType: Record<string, number> = {};
      for (const i of s.content?.indicators ?? []) byType[i.value.type] = (byType[i.value.type] ?? 0) + 1;
      const st: FeedStatus = {
        id: s.config.id,
        url: s.config.url,
        format: s.config.format,
        action: s.config.default_action ?? mode,
        state: s.lastAttempt === undefined ? 'pending' : s.lastError === undefined ? 'ok' : s.content ? 'stale' : 'error',
        indicators: s.content?.indicators.length ?? 0,
        by_type: byType,
        skipped: s.content?.skipped.toJSON() ?? {},
        truncated: s.truncated,
        fetches: s.fetches,
        unchanged: s.unchanged,
        errors: s.errors,
      };
      if (s.config.name !== undefined) st.name = s.config.name;
      if (s.lastError !== undefined) st.last_error = s.lastError;
      if (s.lastAttempt) st.last_attempt = s.lastAttempt.toISOString();
      if (s.lastSuccess) st.last_success = s.lastSuccess.toISOString();
      if (s.lastChange) st.last_change = s.lastChange.toISOString();
      if (s.next) st.next_refresh = s.next.toISOString();
      return st;
    });
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.feeds.values()) if (s.timer) clearTimeout(s.timer);
  }

  private schedule(s: State): void {
    if (s.timer) clearTimeout(s.timer);
    if (this.stopped) return;
    const ms = s.config.refresh_interval_secs * 1000;
    s.next = new Date(this.clock() + ms);
    s.timer = setTimeout(() => void this.fetch(s, true), ms);
    s.timer.unref();
  }

  /** One attempt; a concurrent one for the same feed joins the one running. */
  private fetch(s: State, notify: boolean): Promise<boolean> {
    s.running ??= this.attempt(s, notify).finally(() => {
      s.running = undefined;
    });
    return s.running;
  }

  private async attempt(s: State, notify: boolean): Promise<boolean> {
    const f = s.config;
    const ca = this.ca.get(f.id);
    const limits: FetchLimits = { ...this.limits, ...(ca !== undefined && { ca }), ...(f.auth_header !== undefined && { authHeader: f.auth_header }) };
    s.lastAttempt = new Date(this.clock());
    s.fetches++;
    let outcome: 'changed' | 'unchanged' | 'error' = 'error';
    try {
      let text: string | null;
      if (f.format === 'taxii') {
        // a failed TAXII fetch must not leave half a page merged: work on a copy
        const next: TaxiiState = { objects: new Map(s.taxii.objects), ...(s.taxii.addedAfter !== undefined && { addedAfter: s.taxii.addedAfter }) };
        const added = await fetchTaxii(f.url, limits, next);
        text = added || !s.content ? taxiiEnvelope(next) : null;
        if (text !== null) {
          const content = this.parse(f, text);
          s.taxii = next;
          this.take(s, content);
        }
      } else {
        const r = await fetchSource(f.url, '/', limits, isHttps(f.url) || s.content ? s.validators : {});
        text = r.changed ? r.text : null;
        if (r.changed) {
          this.take(s, this.parse(f, r.text));
          s.validators = r.validators;
        }
      }
      if (text === null) {
        s.unchanged++;
        outcome = 'unchanged';
      } else {
        s.lastChange = new Date(this.clock());
        outcome = 'changed';
      }
      s.lastError = undefined;
      s.lastSuccess = new Date(this.clock());
      this.log.info({ program: 'tc-threatintel', feed: f.id, outcome, indicators: s.content?.indicators.length ?? 0, skipped: s.content?.skipped.total ?? 0 }, 'threat-intel feed fetched');
    } catch (e) {
      s.errors++;
      s.lastError = e instanceof FeedFormatError ? `${f.url}: ${e.message}` : (e as Error).message;
      this.log.error({ program: 'tc-threatintel', feed: f.id, err: s.lastError, keeping: s.content?.indicators.length ?? 0 }, 'threat-intel feed refused; its previous indicators stay');
    }
    this.events.onFetch(f.id, outcome);
    this.schedule(s);
    if (outcome === 'changed' && notify && !this.stopped && this.feeds.get(f.id) === s) this.events.onChange(f.id);
    return outcome === 'changed';
  }

  private parse(f: FeedConfig, text: string): FeedContent {
    return parseFeedText(f, text, this.clock());
  }

  private take(s: State, content: FeedContent): void {
    const max = s.config.max_iocs;
    s.truncated = Math.max(0, content.indicators.length - max);
    s.content = s.truncated ? { indicators: content.indicators.slice(0, max), skipped: content.skipped } : content;
  }
}

