// Plain lists, CSV and JSON feeds into indicators. Each value's type is what the feed declares
// (`value_type`) or, by default, what the value looks like: an address or network, a URL (it has
// "://"), else a domain name. Whatever cannot be read is skipped with its line or item and the
// reason; a feed broken as a whole (not JSON, a named column missing) is a FeedFormatError.
import { Cidr } from '../net/ip.js';
import { FeedFormatError, normaliseDomain, parseJsonFeed, normaliseUrl, parseIpIndicator, SkipLog, type FeedContent, type Indicator, type IndicatorValue } from './indicator.js';

export type ValueType = 'auto' | 'ip' | 'domain' | 'url';

export interface ListOptions {
  /** what the values are; `auto`: read each by its form */
  valueType: ValueType;
  /** confidence of an indicator the feed gives none for */
  defaultConfidence: number;
  /** where ids of indicators without one come from: `<feed>:<line>` */
  feedId: string;
}

export interface PlainOptions extends ListOptions {
  /** lines starting with it are comments (after leading blanks) */
  commentPrefix: string;
}

export interface CsvOptions extends ListOptions {
  separator: string;
  /** the first line names the columns (then fields may be named by column name) */
  skipHeader: boolean;
  /** column name (with a header) or 0-based index of the value */
  valueField: string;
  confidenceField?: string;
  categoryField?: string;
  idField?: string;
}

export interface JsonOptions extends ListOptions {
  /** dotted path to the list of items ("" = the document is the list) */
  itemsPath: string;
  /** dotted paths inside each item (`a.b`, `a.0.b`; "" = the item itself is the value) */
  valueField: string;
  confidenceField?: string;
  categoryField?: string;
  idField?: string;
  nameField?: string;
}

/** One value read by its declared or apparent type. */
export function readValue(text: string, type: ValueType): IndicatorValue | { error: string } {
  const t = type === 'auto' ? guessType(text) : type;
  if (t === 'ip') {
    const c = parseIpIndicator(text);
    return c instanceof Cidr ? { type: 'ip', cidr: c } : c;
  }
  if (t === 'url') {
    const u = normaliseUrl(text);
    return typeof u === 'string' ? { type: 'url', url: u } : u;
  }
  const d = normaliseDomain(text);
  return typeof d === 'string' ? { type: 'domain', name: d } : d;
}

function guessType(text: string): 'ip' | 'domain' | 'url' {
  if (text.includes('://')) return 'url';
  if (text.includes(':') || /^[0-9./]+$/.test(text)) return 'ip';
  return 'domain';
}

function confidenceOf(raw: unknown, fallback: number): number | { error: string } {
  if (raw === undefined || raw === null || raw === '') return fallback;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*[0-9]+(\.[0-9]+)?\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > 100) return { error: `confidence ${JSON.stringify(raw)} is not a number 0-100` };
  return Math.round(n);
}

/** One value per line; the first blank-separated word of a line is the value (the rest, such as
 * "; SBL123" in Spamhaus lists, is commentary). */
export function parsePlain(text: string, o: PlainOptions): FeedContent {
  const indicators: Indicator[] = [];
  const skipped = new SkipLog();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || (o.commentPrefix !== '' && line.startsWith(o.commentPrefix))) continue;
    const ws = line.search(/\s/);
    const word = ws < 0 ? line : line.slice(0, ws);
    const v = readValue(word, o.valueType);
    if ('error' in v) {
      skipped.add('invalid value', `line ${i + 1}: ${v.error}`);
      continue;
    }
    indicators.push({ value: v, id: `${o.feedId}:${i + 1}`, confidence: o.defaultConfidence });
  }
  return { indicators, skipped };
}

/** RFC 4180 records: quoted fields may hold separators, doubled quotes and line breaks. */
export function csvRecords(text: string, sep: string): { fields: string[]; line: number }[] {
  if (sep.length !== 1 || sep === '"' || sep === '\n' || sep === '\r') throw new FeedFormatError(`CSV separator ${JSON.stringify(sep)} must be one character other than a quote or a line break`);
  const out: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  let i = 0;
  const n = text.length;
  const endRecord = (): void => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0]!.trim() === '')) out.push({ fields, line: recordLine });
    fields = [];
    field = '';
  };
  while (i < n) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      if (c === '\n') line++;
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (c === sep) {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else field += c;
    i++;
  }
  if (quoted) throw new FeedFormatError(`CSV line ${recordLine}: a quoted field is not closed`);
  if (field !== '' || fields.length) endRecord();
  return out;
}

export function parseCsv(text: string, o: CsvOptions): FeedContent {
  const records = csvRecords(text, o.separator);
  const indicators: Indicator[] = [];
  const skipped = new SkipLog();
  let header: string[] | null = null;
  if (o.skipHeader) {
    const first = records.shift();
    header = first ? first.fields.map((f) => f.trim()) : [];
  }
  const column = (name: string | undefined, key: string): number | undefined => {
    if (name === undefined) return undefined;
    if (/^[0-9]+$/.test(name)) return Number(name);
    if (!header) throw new FeedFormatError(`${key} "${name}" names a column, but the feed has no header line (set skip_header, or give a 0-based column number)`);
    const at = header.indexOf(name);
    if (at < 0) throw new FeedFormatError(`${key} "${name}" is not a column of the header (columns: ${header.join(', ')})`);
    return at;
  };
  const vi = column(o.valueField, 'value_field')!;
  const ci = column(o.confidenceField, 'confidence_field');
  const gi = column(o.categoryField, 'category_field');
  const ii = column(o.idField, 'id_field');
  for (const r of records) {
    const raw = r.fields[vi];
    if (raw === undefined) {
      skipped.add('missing value column', `line ${r.line}: ${r.fields.length} fields, value is column ${vi}`);
      continue;
    }
    const v = readValue(raw.trim(), o.valueType);
    if ('error' in v) {
      skipped.add('invalid value', `line ${r.line}: ${v.error}`);
      continue;
    }
    const conf = confidenceOf(ci === undefined ? undefined : r.fields[ci]?.trim(), o.defaultConfidence);
    if (typeof conf !== 'number') {
      skipped.add('invalid confidence', `line ${r.line}: ${conf.error}`);
      continue;
    }
    const category = gi === undefined ? undefined : r.fields[gi]?.trim() || undefined;
    const id = (ii === undefined ? undefined : r.fields[ii]?.trim()) || `${o.feedId}:${r.line}`;
    indicators.push({ value: v, id, confidence: conf, ...(category !== undefined && { category }) });
  }
  return { indicators, skipped };
}

/** The value at a dotted path (`a.b`, `a.0.b`); "" is the value itself. */
export function atPath(v: unknown, path: string): unknown {
  if (path === '') return v;
  let cur: unknown = v;
  for (const step of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = Array.isArray(cur) ? (/^[0-9]+$/.test(step) ? cur[Number(step)] : undefined) : (cur as Record<string, unknown>)[step];
  }
  return cur;
}

export function parseJson(text: string, o: JsonOptions): FeedContent {
  const doc = parseJsonFeed(text);
  const items = atPath(doc, o.itemsPath);
  if (!Array.isArray(items)) throw new FeedFormatError(o.itemsPath === '' ? 'the document is not a list (set items_path to where the list is)' : `items_path "${o.itemsPath}" is not a list in the document`);
  const indicators: Indicator[] = [];
  const skipped = new SkipLog();
  items.forEach((item, i) => {
    const where = `item ${i}`;
    const raw = atPath(item, o.valueField);
    if (typeof raw !== 'string') {
      skipped.add('missing value', `${where}: value_field "${o.valueField}" is ${raw === undefined ? 'absent' : `a ${typeof raw}, not a string`}`);
      return;
    }
    const v = readValue(raw.trim(), o.valueType);
    if ('error' in v) {
      skipped.add('invalid value', `${where}: ${v.error}`);
      return;
    }
    const conf = confidenceOf(o.confidenceField === undefined ? undefined : atPath(item, o.confidenceField), o.defaultConfidence);
    if (typeof conf !== 'number') {
      skipped.add('invalid confidence', `${where}: ${conf.error}`);
      return;
    }
    const str = (p: string | undefined): string | undefined => {
      const x = p === undefined ? undefined : atPath(item, p);
      return typeof x === 'string' && x !== '' ? x : typeof x === 'number' ? String(x) : undefined;
    };
    const category = str(o.categoryField);
    const name = str(o.nameField);
    indicators.push({ value: v, id: str(o.idField) ?? `${o.feedId}:${i}`, confidence: conf, ...(category !== undefined && { category }), ...(name !== undefined && { name }) });
  });
  return { indicators, skipped };
}
